//! v2 grants: the owner-signed grant of a pairing with one wrapped key per granted volume,
//! stored verbatim; the live one decides what a friend is served.

use coffer_wire::v2::Grant;

use super::{DecisionFuture, Refusal};
use crate::store::grants::StoredGrant;
use crate::store::users::User;

/// The wrapped keys of a grant: (volume, epoch, wrapped key), by volume.
pub type WrappedKeys = Vec<(String, u32, [u8; 60])>;

/// A grant upload and its parties, for the caller's checks (signature, fingerprint).
#[derive(Debug)]
pub struct GrantParties<'a> {
    /// The grant being stored.
    pub grant: &'a StoredGrant,
    /// The owner (the uploader).
    pub owner: &'a User,
    /// How the pairing came about.
    pub pairing: PairingKind<'a>,
}

/// How a pairing came about.
#[derive(Debug)]
pub enum PairingKind<'a> {
    /// Through an invite code.
    Invited,
    /// A replica request: the friend asked without an invite (docs/protocol-v2.md §6); the
    /// friend's account, if still registered.
    ReplicaRequest(Option<&'a User>),
}

/// The check a grant upload runs on its parties, inside the write.
pub type GrantCheck = Box<dyn FnOnce(&GrantParties<'_>) -> Result<(), Refusal> + Send>;

/// A friend's live grant: as stored, parsed, and its wrapped keys.
#[derive(Debug)]
pub struct LiveGrant {
    /// The stored grant.
    pub stored: StoredGrant,
    /// Its parsed content.
    pub grant: Grant,
    /// Its wrapped keys.
    pub keys: WrappedKeys,
}

/// Grants.
pub trait Grants {
    /// Stores `grant` (with `keys`) for the pairing of `owner` and `friend` and activates the
    /// pairing, if `check` accepts the parties and the grant's sequence is above the stored
    /// one. Refusals, in this order: 404 "Pairing not found"; 401 "User not found" (the owner
    /// is gone); what `check` refuses; stale (409 with the stored sequence).
    fn put_v2_grant(
        &self,
        owner: String,
        friend: String,
        grant: StoredGrant,
        keys: WrappedKeys,
        hour: i64,
        check: GrantCheck,
    ) -> DecisionFuture<'_, ()>;

    /// The live (stored, not yet expired) grant from `owner` to `friend`. Refusals: 403 "No
    /// live grant from this system" (no pairing or no grant), 403 "The grant from this system
    /// has expired". A stored grant that does not parse is a storage failure.
    fn live_v2_grant(&self, owner: String, friend: String) -> DecisionFuture<'_, LiveGrant>;
}
