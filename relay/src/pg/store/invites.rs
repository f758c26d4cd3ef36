//! [`Invites`] on PostgreSQL.

use super::{PgStore, lock_user, signed, unsigned};
use crate::storage::StoreFuture;
use crate::storage::invites::{Invites, RegistrationCounts};
use crate::store::hour;

impl Invites for PgStore {
    fn create_invite(
        &self,
        code: String,
        system: String,
        now: i64,
        expires_at: i64,
        max_open: u64,
        protocol: i64,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // The system's row, locked: its open invites are counted and added one at a time.
            // (An unknown system: the insert fails on its foreign key, as on SQLite.)
            lock_user(&tx, &system).await?;
            let open: i64 = tx
                .query_one(
                    "SELECT count(*) FROM invite_codes WHERE system_user_id = $1 \
                     AND redeemed_at IS NULL AND expires_at > $2",
                    &[&system, &now],
                )
                .await?
                .get(0);
            if open >= signed(max_open) {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO invite_codes (code, system_user_id, created_at, expires_at, protocol) \
                 VALUES ($1, $2, $3, $4, $5::BIGINT::SMALLINT)",
                &[&code, &system, &hour(now), &expires_at, &protocol],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn create_registration_code(
        &self,
        hash: [u8; 32],
        now: i64,
        expires_at: i64,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let n = conn
                .execute(
                    "INSERT INTO registration_codes (code_hash, kind, created_at, expires_at) \
                     VALUES ($1, 'operator', $2, $3) ON CONFLICT (code_hash) DO NOTHING",
                    &[&&hash[..], &hour(now), &expires_at],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn registration_counts(&self, now: i64) -> StoreFuture<'_, RegistrationCounts> {
        Box::pin(async move {
            let conn = self.conn().await?;
            // One statement: one snapshot for both numbers.
            let row = conn
                .query_one(
                    "SELECT (SELECT count(*) FROM users), \
                     (SELECT count(*) FROM registration_codes WHERE kind = 'operator' \
                      AND used_at IS NULL AND expires_at > $1)",
                    &[&now],
                )
                .await?;
            Ok(RegistrationCounts {
                users: unsigned(row.try_get(0)?),
                open_codes: unsigned(row.try_get(1)?),
            })
        })
    }
}
