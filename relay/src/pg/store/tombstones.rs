//! [`Tombstones`] on PostgreSQL.
//!
//! A deletion locks the owner's `users` row first (the check runs on the locked account, and
//! the storage accounting and the volume's version decision are the owner's, serialised with
//! uploads that lock it too), then the volume's row.

use tokio_postgres::Row;

use super::users::{USER_COLUMNS, fixed, user_from_row};
use super::{PgStore, signed, unsigned};
use crate::service::{Refusal, Stale};
use crate::storage::devices::UserCheck;
use crate::storage::tombstones::{DeletedVolume, Tombstones};
use crate::storage::{DecisionFuture, StoreError, StoreFuture};
use crate::store::tombstones::TombstoneRow;

/// The columns [`tombstone_from_row`] reads, in its order.
const COLUMNS: &str = "user_id, volume_name, epoch, version, hour, tombstone, signature";

fn tombstone_from_row(row: &Row) -> Result<TombstoneRow, StoreError> {
    Ok(TombstoneRow {
        user_id: row.try_get(0)?,
        volume_name: row.try_get(1)?,
        epoch: epoch(row.try_get(2)?)?,
        version: unsigned(row.try_get(3)?),
        hour: unsigned(row.try_get(4)?),
        tombstone: row.try_get(5)?,
        signature: fixed(row.try_get(6)?)?,
    })
}

/// An epoch column (at least 1 by the schema's check) as `u32`.
fn epoch(value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt("an epoch column is out of range"))
}

impl Tombstones for PgStore {
    fn delete_volume_signed(
        &self,
        row: TombstoneRow,
        check: UserCheck,
    ) -> DecisionFuture<'_, DeletedVolume> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            let Some(user) = tx
                .query_opt(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE"),
                    &[&row.user_id],
                )
                .await?
            else {
                return Ok(Err(Refusal::Unauthorized("User not found")));
            };
            if let Err(refused) = check(&user_from_row(&user)?) {
                return Ok(Err(refused));
            }
            let Some(live) = tx
                .query_opt(
                    "SELECT epoch, version, size_bytes, blob_file FROM volumes_v2 \
                     WHERE user_id = $1 AND volume_name = $2 FOR UPDATE",
                    &[&row.user_id, &row.volume_name],
                )
                .await?
            else {
                return Ok(Err(Refusal::NotFound("Volume not found")));
            };
            let current_epoch = epoch(live.try_get(0)?)?;
            let current_version = unsigned(live.try_get(1)?);
            let size: i64 = live.try_get(2)?;
            let blob: String = live.try_get(3)?;
            if current_version >= row.version || current_epoch > row.epoch {
                return Ok(Err(Refusal::Stale(Stale::V2 {
                    current_version,
                    current_epoch,
                    got: row.version,
                })));
            }
            tx.execute(
                "DELETE FROM volumes_v2 WHERE user_id = $1 AND volume_name = $2",
                &[&row.user_id, &row.volume_name],
            )
            .await?;
            tx.execute(
                "UPDATE users SET storage_used_bytes = GREATEST(0, storage_used_bytes - $2) \
                 WHERE id = $1",
                &[&row.user_id, &size],
            )
            .await?;
            tx.execute(
                &format!(
                    "INSERT INTO tombstones ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (user_id, volume_name) DO UPDATE SET epoch = excluded.epoch, \
                     version = excluded.version, hour = excluded.hour, \
                     tombstone = excluded.tombstone, signature = excluded.signature"
                ),
                &[
                    &row.user_id,
                    &row.volume_name,
                    &i64::from(row.epoch),
                    &signed(row.version),
                    &signed(row.hour),
                    &row.tombstone,
                    &&row.signature[..],
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(Ok(DeletedVolume {
                blob,
                size: unsigned(size),
            }))
        })
    }

    fn tombstone(&self, owner: String, volume: String) -> StoreFuture<'_, Option<TombstoneRow>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            conn.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM tombstones WHERE user_id = $1 AND volume_name = $2"
                ),
                &[&owner, &volume],
            )
            .await?
            .map(|r| tombstone_from_row(&r))
            .transpose()
        })
    }
}
