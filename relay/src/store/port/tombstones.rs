//! [`Tombstones`] on SQLite.

use super::SqliteStore;
use crate::service::{Decision, Refusal, Stale};
use crate::storage::devices::UserCheck;
use crate::storage::tombstones::{DeletedVolume, Tombstones};
use crate::storage::{DecisionFuture, StoreFuture};
use crate::store::tombstones::{self as store, DeleteOutcome, TombstoneRow};
use crate::store::users;

impl Tombstones for SqliteStore {
    fn delete_volume_signed(
        &self,
        row: TombstoneRow,
        check: UserCheck,
    ) -> DecisionFuture<'_, DeletedVolume> {
        Box::pin(self.db.write(move |tx| -> Decision<DeletedVolume> {
            let Some(user) = users::get(tx, &row.user_id)? else {
                return Ok(Err(Refusal::Unauthorized("User not found")));
            };
            if let Err(refused) = check(&user) {
                return Ok(Err(refused));
            }
            match store::delete_volume(tx, &row)? {
                DeleteOutcome::NotFound => Ok(Err(Refusal::NotFound("Volume not found"))),
                DeleteOutcome::Stale {
                    current_version,
                    current_epoch,
                } => Ok(Err(Refusal::Stale(Stale::V2 {
                    current_version,
                    current_epoch,
                    got: row.version,
                }))),
                DeleteOutcome::Deleted { blob, size } => Ok(Ok(DeletedVolume { blob, size })),
            }
        }))
    }

    fn tombstone(&self, owner: String, volume: String) -> StoreFuture<'_, Option<TombstoneRow>> {
        Box::pin(self.db.read(move |c| store::tombstone(c, &owner, &volume)))
    }
}
