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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use crate::service::{Refusal, Stale};
    use crate::storage::Storage;
    use crate::storage::tombstones::DeletedVolume;
    use crate::store::port::SqliteStore;
    use crate::store::tests::user;
    use crate::store::tombstones::TombstoneRow;
    use crate::store::{ClientType, Db, users};

    fn row(version: u64) -> TombstoneRow {
        TombstoneRow {
            user_id: "sys".into(),
            volume_name: "notes".into(),
            epoch: 1,
            version,
            hour: 0,
            tombstone: vec![7; 8],
            signature: [8; 64],
        }
    }

    /// Through the port object: a refused signature and a stale tombstone leave the volume;
    /// a deletion answers the blob it freed (the caller removes it) and stores the tombstone.
    #[actix_web::test]
    async fn a_signed_deletion_answers_the_freed_blob_and_keeps_the_tombstone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        db.write(|tx| {
            users::insert(tx, &user("sys", "sys", ClientType::System))?;
            tx.execute(
                "INSERT INTO volumes_v2 (user_id, volume_name, epoch, version, header, \
                 signature, blob_file, size_bytes, updated_at) \
                 VALUES ('sys', 'notes', 1, 3, x'00', zeroblob(64), 'sys/notes.bin', 10, 0)",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
        let store: Arc<dyn Storage> = Arc::new(SqliteStore::new(db));

        let refused = store
            .delete_volume_signed(row(4), Box::new(|_| Err(Refusal::Forbidden("bad"))))
            .await
            .unwrap();
        assert!(matches!(refused, Err(Refusal::Forbidden("bad"))));
        let stale = store
            .delete_volume_signed(row(3), Box::new(|_| Ok(())))
            .await
            .unwrap();
        assert!(matches!(
            stale,
            Err(Refusal::Stale(Stale::V2 {
                current_version: 3,
                current_epoch: 1,
                got: 3
            }))
        ));
        let tombstone = || store.tombstone("sys".into(), "notes".into());
        assert!(tombstone().await.unwrap().is_none());

        let freed = store
            .delete_volume_signed(row(4), Box::new(|_| Ok(())))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            freed,
            DeletedVolume {
                blob: "sys/notes.bin".into(),
                size: 10
            }
        );
        assert_eq!(tombstone().await.unwrap().unwrap().version, 4);
        let gone = store
            .delete_volume_signed(row(5), Box::new(|_| Ok(())))
            .await
            .unwrap();
        assert!(matches!(gone, Err(Refusal::NotFound("Volume not found"))));
    }
}
