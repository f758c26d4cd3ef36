//! Deleting a v2 volume with the owner's signed tombstone (`docs/protocol-v2.md` §12), and the
//! tombstone served in place of a deleted volume.

use super::devices::UserCheck;
use super::{DecisionFuture, StoreFuture};
use crate::store::tombstones::TombstoneRow;

/// What a volume deletion freed: the caller removes the blob (blobs are not metadata's).
#[derive(Debug, PartialEq, Eq)]
pub struct DeletedVolume {
    /// The deleted version's blob name, no longer named by any row.
    pub blob: String,
    /// Its size, freed from the owner's storage.
    pub size: u64,
}

/// Volume tombstones.
pub trait Tombstones {
    /// Deletes the live v2 volume `row.volume_name` of `row.user_id` in favour of the
    /// tombstone `row`, in one transaction with the version/epoch check and the owner's storage
    /// accounting. Refused `Unauthorized("User not found")` if the account is gone, with
    /// `check`'s refusal if `check` refuses the stored account, `NotFound("Volume not found")`
    /// for no live volume, and `Stale` when the tombstone's version is not above the stored one
    /// or its epoch is older. Answers the blob the volume named, for the caller to remove.
    fn delete_volume_signed(
        &self,
        row: TombstoneRow,
        check: UserCheck,
    ) -> DecisionFuture<'_, DeletedVolume>;

    /// The tombstone of `owner`'s volume `volume`, if it was deleted.
    fn tombstone(&self, owner: String, volume: String) -> StoreFuture<'_, Option<TombstoneRow>>;
}
