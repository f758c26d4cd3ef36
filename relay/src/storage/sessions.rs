//! Login challenges and sessions: issuing and consuming a challenge, opening a session,
//! looking one up by its token hash, recording its use.
//!
//! Challenges are single-use and short-lived. Relay processes that share one store must share
//! them too (a challenge issued by one instance is taken by another): an adapter keeps them
//! where every instance sees them, or, for a store only one process opens, in memory
//! (docs/adr/0027).

use super::{Refusal, StoreFuture};
pub use crate::store::sessions::{Lookup, NewSession, Protocol, SessionUser};
pub use crate::store::users::LoginAccount;

/// An outstanding login challenge, as it was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The account it was issued for.
    pub user_id: String,
    /// When it stops being valid (Unix seconds).
    pub expires_at: i64,
}

/// The login rule, run on what of the account a login may use and on the challenge the request
/// named (`None`: not outstanding, or already taken).
pub type LoginCheck =
    Box<dyn FnOnce(&LoginAccount, Option<Challenge>) -> Result<(), Refusal> + Send>;

/// Sessions and the challenges that open them.
pub trait Sessions {
    /// Issues the challenge `nonce` for `user_id` until `expires_at`, if the account exists
    /// (`false`: unknown, nothing issued). At most `max_per_user` stay outstanding per user:
    /// the oldest go first.
    fn issue_challenge(
        &self,
        user_id: String,
        nonce: String,
        expires_at: i64,
        max_per_user: u64,
        now: i64,
    ) -> StoreFuture<'_, bool>;

    /// Consumes the challenge `nonce` whatever happens next (even if this call then fails), and
    /// runs `check` on the account `user_id` with it. `None`: no such account (`check` not run);
    /// otherwise `check`'s answer. Writes nothing else.
    fn check_login(
        &self,
        user_id: String,
        nonce: String,
        check: LoginCheck,
    ) -> StoreFuture<'_, Option<Result<(), Refusal>>>;

    /// Opens a session of `user_id` for the token whose SHA-256 is `token_hash`, valid until
    /// `expires_at`. `false` when the account is gone (nothing stored).
    fn open_session(
        &self,
        token_hash: [u8; 32],
        user_id: String,
        expires_at: i64,
        session: NewSession,
    ) -> StoreFuture<'_, bool>;

    /// The session of the token whose SHA-256 is `token_hash`, at `now`, with the user columns
    /// it carries.
    fn session(&self, token_hash: [u8; 32], now: i64) -> StoreFuture<'_, Lookup>;

    /// Forgets the session of `token_hash` (an expired one); nothing if there is none.
    fn drop_session(&self, token_hash: [u8; 32]) -> StoreFuture<'_, ()>;

    /// Records that the session of `token_hash` was used in `hour` (Unix seconds, a whole
    /// hour). Does not change what [`Sessions::session`] answers for authentication, so it
    /// does not move the auth generation ([`super::watch::Watch::auth_generation`]).
    fn touch_session(&self, token_hash: [u8; 32], hour: i64) -> StoreFuture<'_, ()>;
}
