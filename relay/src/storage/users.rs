//! Accounts: looking them up, creating one behind the registration gate, changing the profile,
//! deleting one.

use super::{DecisionFuture, StoreFuture};
pub use crate::service::registration::Gate;
pub use crate::store::ClientType;
pub use crate::store::users::{ProfileUpdate, User};

/// What [`Users::create_user`] found when the gate let the account in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewUser {
    /// Stored, and the gate's code (if any) spent, in one transaction.
    Created,
    /// An account with this id exists already (checked before the gate: nothing is spent).
    IdTaken,
    /// Another account holds the handle (nothing is stored, no code is spent).
    HandleTaken,
}

/// Users: the accounts of this relay.
pub trait Users {
    /// The account `id`, if it exists.
    fn user(&self, id: String) -> StoreFuture<'_, Option<User>>;

    /// The account with exactly this handle (ignoring ASCII case), if any.
    fn user_by_handle(&self, handle: String) -> StoreFuture<'_, Option<User>>;

    /// Stores `user` if no account has its id ([`NewUser::IdTaken`], answered before the gate)
    /// and `gate` lets it in, checked in the same transaction as the insert so that the user
    /// cap and a single-use code cannot be overtaken by a concurrent registration; the gate's
    /// refusal is the inner `Err`. A handle another account holds is [`NewUser::HandleTaken`].
    /// The code the gate accepted is spent in the same transaction as the insert.
    fn create_user(&self, user: User, gate: Gate, now: i64) -> DecisionFuture<'_, NewUser>;

    /// Applies `update` to the account `id`; `false` when the new handle is taken (nothing
    /// changes then).
    fn update_profile(&self, id: String, update: ProfileUpdate) -> StoreFuture<'_, bool>;

    /// Deletes the account `id` and everything stored for it: sessions, login challenges,
    /// volume rows, sharing relationships on both sides, invites (others' invites it redeemed
    /// forget it). Answers whether it existed. Blob files are the caller's: the user's blobs
    /// are no longer named by any row once this returns.
    fn delete_user(&self, id: String) -> StoreFuture<'_, bool>;

    /// Up to `limit` accounts of type `of_type` whose handle contains `query` (a literal
    /// substring, any case), for discovery.
    fn discover(
        &self,
        query: String,
        of_type: ClientType,
        limit: u64,
    ) -> StoreFuture<'_, Vec<User>>;
}
