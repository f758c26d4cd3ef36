//! A user's own sessions (`docs/protocol-v2.md` §11): listed to the user, revoked one by one
//! or all but the current one. A revocation is visible to every session check from the next
//! request on (it moves the auth generation, [`super::watch::Watch`]).

use super::StoreFuture;
use crate::store::own_sessions::OwnSession;

/// The sessions a user sees and ends for itself.
pub trait OwnSessions {
    /// `user`'s live sessions at `now` (those with a public id), oldest first, at most
    /// `limit`.
    fn own_sessions(
        &self,
        user: String,
        now: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<OwnSession>>;

    /// Ends `user`'s session `session_id`; `false` when `user` has no such session (another
    /// user's session is not touched).
    fn revoke_own_session(&self, user: String, session_id: String) -> StoreFuture<'_, bool>;

    /// Ends every session of `user` but `keep`; answers how many.
    fn revoke_other_sessions(&self, user: String, keep: String) -> StoreFuture<'_, u64>;
}
