//! [`OwnSessions`] on PostgreSQL. A revocation marks the row (as SQLite's does); the schema's
//! trigger on `auth_sessions.revoked` notifies every instance, which moves the auth generation.

use super::PgStore;
use crate::storage::own_sessions::OwnSessions;
use crate::storage::{StoreError, StoreFuture};
use crate::store::own_sessions::OwnSession;
use crate::store::sessions::Protocol;

impl OwnSessions for PgStore {
    fn own_sessions(
        &self,
        user: String,
        now: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<OwnSession>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            // `COLLATE "C"`: ties on the hour go by the id's bytes, as SQLite's BINARY.
            let rows = conn
                .query(
                    "SELECT session_id, device_label, protocol::BIGINT, created_at, last_used_at \
                     FROM auth_sessions \
                     WHERE user_id = $1 AND expires_at > $2 AND NOT revoked \
                     AND session_id IS NOT NULL \
                     ORDER BY created_at, session_id COLLATE \"C\" LIMIT $3",
                    &[&user, &now, &limit],
                )
                .await?;
            rows.iter()
                .map(|r| -> Result<OwnSession, StoreError> {
                    let protocol = match r.try_get::<_, i64>(2)? {
                        1 => Protocol::V1,
                        2 => Protocol::V2,
                        _ => return Err(StoreError::Corrupt("unknown session protocol")),
                    };
                    Ok(OwnSession {
                        session_id: r.try_get(0)?,
                        device_label: r.try_get(1)?,
                        protocol,
                        created_at: r.try_get(3)?,
                        last_used_at: r.try_get(4)?,
                    })
                })
                .collect()
        })
    }

    fn revoke_own_session(&self, user: String, session_id: String) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let conn = self.conn().await?;
            Ok(conn
                .execute(
                    "UPDATE auth_sessions SET revoked = true \
                     WHERE user_id = $1 AND session_id = $2 AND NOT revoked",
                    &[&user, &session_id],
                )
                .await?
                > 0)
        })
    }

    fn revoke_other_sessions(&self, user: String, keep: String) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let conn = self.conn().await?;
            Ok(conn
                .execute(
                    "UPDATE auth_sessions SET revoked = true \
                     WHERE user_id = $1 AND session_id IS DISTINCT FROM $2 AND NOT revoked",
                    &[&user, &keep],
                )
                .await?)
        })
    }
}
