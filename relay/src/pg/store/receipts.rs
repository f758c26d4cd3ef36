//! [`Receipts`] on PostgreSQL.

use super::PgStore;
use super::grants::user;
use super::pairings::pairing_between;
use super::users::fixed;
use crate::service::Refusal;
use crate::storage::devices::UserCheck;
use crate::storage::receipts::Receipts;
use crate::storage::{DecisionFuture, StoreError, StoreFuture};
use crate::store::receipts::{MAX_LISTED, MAX_PER_PAIRING, StoredReceipt};

impl Receipts for PgStore {
    fn put_receipt(
        &self,
        owner: String,
        friend: String,
        receipt: StoredReceipt,
        check: UserCheck,
    ) -> DecisionFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // The pairing's row lock: one receipt of a pairing at a time, so that its cap
            // counts every committed one.
            let Some(pairing) = pairing_between(&tx, &owner, &friend, "FOR NO KEY UPDATE").await?
            else {
                return Ok(Err(Refusal::NotFound("Pairing not found")));
            };
            let Some(friend_user) = user(&tx, &friend, "").await? else {
                return Ok(Err(Refusal::Unauthorized("User not found")));
            };
            if let Err(refused) = check(&friend_user) {
                return Ok(Err(refused));
            }
            // As SQLite's `INSERT OR IGNORE`: a receipt for a version on record is kept once
            // (the first stays), and one the schema's checks refuse is skipped, not an error.
            tx.execute(
                "INSERT INTO receipts \
                 (pairing_id, volume_name, epoch, version, hour, receipt, signature) \
                 SELECT $1, $2, $3::BIGINT, $4::BIGINT, $5::BIGINT, $6, $7 \
                 WHERE $3::BIGINT >= 1 AND $4::BIGINT >= 1 AND $5::BIGINT % 3600 = 0 \
                 ON CONFLICT DO NOTHING",
                &[
                    &pairing.id,
                    &receipt.volume_name,
                    &i64::from(receipt.epoch),
                    &(receipt.version as i64),
                    &(receipt.hour as i64),
                    &receipt.receipt,
                    &&receipt.signature[..],
                ],
            )
            .await?;
            tx.execute(
                "DELETE FROM receipts WHERE pairing_id = $1 AND id <= \
                 (SELECT id FROM receipts WHERE pairing_id = $1 ORDER BY id DESC \
                 LIMIT 1 OFFSET $2)",
                &[&pairing.id, &(MAX_PER_PAIRING as i64)],
            )
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    fn receipts_of_owner(&self, owner: String, since: u64) -> StoreFuture<'_, Vec<StoredReceipt>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let rows = conn
                .query(
                    "SELECT r.volume_name, r.epoch, r.version, r.hour, r.receipt, r.signature \
                     FROM receipts r JOIN pairings p ON p.id = r.pairing_id \
                     WHERE p.system_user_id = $1 AND r.hour >= $2 ORDER BY r.id DESC LIMIT $3",
                    &[
                        &owner,
                        &i64::try_from(since).unwrap_or(i64::MAX),
                        &(MAX_LISTED as i64),
                    ],
                )
                .await?;
            let mut out = rows
                .iter()
                .map(|r| -> Result<StoredReceipt, StoreError> {
                    Ok(StoredReceipt {
                        volume_name: r.try_get(0)?,
                        epoch: u32::try_from(r.try_get::<_, i64>(1)?)
                            .map_err(|_| StoreError::Corrupt("receipt epoch"))?,
                        version: r.try_get::<_, i64>(2)? as u64,
                        hour: r.try_get::<_, i64>(3)? as u64,
                        receipt: r.try_get(4)?,
                        signature: fixed(r.try_get(5)?)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            // The newest, oldest first.
            out.reverse();
            Ok(out)
        })
    }
}
