//! v1 sharing relationships (v1.md §1.3 #13–19): a friend's request or a redeemed invite makes
//! a pending relationship; its system accepts (storing the wrapped VEK, opaque here) or
//! rejects, sets permissions; either party ends it.

use super::{DecisionFuture, Refusal, StoreFuture};
use crate::store::ClientType;
use crate::store::invites::Invite;
pub use crate::store::sharing::{Relationship, Status};
use crate::store::users::User;

/// A relationship between the two users exists already (409).
pub const EXISTS: &str = "A sharing relationship already exists";

/// The rule a request's target must meet, run on the target account.
pub type TargetCheck = Box<dyn FnOnce(&User) -> Result<(), Refusal> + Send>;

/// The rule an invite must meet to be redeemed, run on the stored invite (`None`: unknown);
/// answers the invite to redeem.
pub type InviteCheck = Box<dyn FnOnce(Option<Invite>) -> Result<Invite, Refusal> + Send>;

/// What the system answers to a pending relationship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Accepted: the wrapped VEK (opaque) and the permissions (JSON text).
    Accept {
        /// The VEK wrapped for the friend.
        wrapped_vek: Vec<u8>,
        /// The permissions, as stored JSON text.
        permissions: String,
    },
    /// Rejected: the relationship is deleted.
    Reject,
}

/// Sharing relationships.
pub trait Sharing {
    /// Creates the pending relationship `id` between the system `system` and the friend
    /// `friend` at `hour`, and answers it. Refused: an unknown `system` (404 "User not found"),
    /// what `check` refuses on the `system` account, an existing relationship between the two
    /// (409 [`EXISTS`]).
    fn request_sharing(
        &self,
        id: String,
        system: String,
        friend: String,
        hour: i64,
        check: TargetCheck,
    ) -> DecisionFuture<'_, Relationship>;

    /// Redeems the invite `code` for `friend` at `now`: `check` decides on the stored invite;
    /// refused too when a relationship between its system and `friend` exists (409
    /// [`EXISTS`]). Marks the invite redeemed and creates the pending relationship `id`, in one
    /// transaction, and answers it.
    fn redeem_sharing_invite(
        &self,
        code: String,
        friend: String,
        id: String,
        now: i64,
        check: InviteCheck,
    ) -> DecisionFuture<'_, Relationship>;

    /// The relationships `user` is a party to on `side`, in one of `statuses`.
    fn sharing_relationships(
        &self,
        user: String,
        side: ClientType,
        statuses: &'static [Status],
    ) -> StoreFuture<'_, Vec<Relationship>>;

    /// The system `system` answers its pending relationship `id` at `hour`. Refused: unknown
    /// (404), not this system's (403), not pending (400).
    fn respond_sharing(
        &self,
        id: String,
        system: String,
        response: Response,
        hour: i64,
    ) -> DecisionFuture<'_, ()>;

    /// The system `system` sets the permissions (JSON text) of its active relationship `id`
    /// at `hour`. Refused: unknown (404), not this system's (403), not active (400).
    fn set_sharing_permissions(
        &self,
        id: String,
        system: String,
        permissions: String,
        hour: i64,
    ) -> DecisionFuture<'_, ()>;

    /// Deletes the relationship `id` for `party`, its system or its friend. Refused: unknown
    /// (404), `party` not a party (403).
    fn delete_sharing(&self, id: String, party: String) -> DecisionFuture<'_, ()>;

    /// The active relationship in which `system` shares with `friend`, if there is one.
    fn active_relationship(
        &self,
        system: String,
        friend: String,
    ) -> StoreFuture<'_, Option<Relationship>>;
}

/// The rule both adapters apply to a relationship the calling `system` acts on (answers,
/// permission changes): it exists (404), `system` is its system (403), it is in `want`
/// status (400). `found` is the relationship as the adapter locked and read it.
pub fn owned_by(
    found: Option<Relationship>,
    system: &str,
    want: Status,
) -> Result<Relationship, Refusal> {
    let Some(rel) = found else {
        return Err(Refusal::NotFound("Sharing relationship not found"));
    };
    if rel.system_user_id != system {
        return Err(Refusal::Forbidden(
            "You are not the system of this relationship",
        ));
    }
    if rel.status != want.as_str() {
        return Err(Refusal::bad(format!(
            "Relationship is not {}",
            want.as_str()
        )));
    }
    Ok(rel)
}
