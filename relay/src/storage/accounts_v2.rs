//! Finding a v2 account (`docs/protocol-v2.md` §3): by id, or by exact handle. No substring
//! search: a handle names one account or none.

use super::StoreFuture;
use crate::store::users::User;

/// Looking up accounts for the v2 directory routes.
pub trait AccountsV2 {
    /// The account `id`, if it exists.
    fn account(&self, id: String) -> StoreFuture<'_, Option<User>>;

    /// The account whose handle is `handle`, compared case-insensitively, if any.
    fn account_by_handle(&self, handle: String) -> StoreFuture<'_, Option<User>>;
}
