//! [`Sessions`] on PostgreSQL. Login challenges live in the table `auth_challenges`, shared by
//! every relay instance (a challenge issued by one is answered at another), with the rules the
//! embedded store keeps in memory (`store/challenges.rs`): at most `max_per_user` outstanding
//! per user (at least one; the first issued go first), taken once whatever happens next; an
//! expired one is handed to the login rule with its expiry, which refuses it.

use super::{PgStore, lock_user, signed};
use crate::service::Refusal;
use crate::storage::StoreFuture;
use crate::storage::sessions::{Challenge, LoginCheck, Lookup, NewSession, SessionUser, Sessions};
use crate::store::{ClientType, StoreError, hour};

use super::users::{USER_COLUMNS, user_from_row};

/// The session lookup: the session's columns and the user columns it carries
/// (`store/sessions.rs`, `LOOKUP_SQL`).
const LOOKUP_SQL: &str = "SELECT s.user_id, s.expires_at, u.client_type, u.feature_set, \
    u.key_binding_signature IS NOT NULL, s.session_id, s.last_used_at, s.revoked \
    FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1";

impl Sessions for PgStore {
    fn issue_challenge(
        &self,
        user_id: String,
        nonce: String,
        expires_at: i64,
        max_per_user: u64,
        _now: i64,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // The account's row, locked: its challenges are issued (and trimmed) one at a
            // time, so the bound holds across instances, and a deletion waits.
            if !lock_user(&tx, &user_id).await? {
                return Ok(false);
            }
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO auth_challenges (nonce, user_id, expires_at) VALUES ($1, $2, $3)",
                )
                .await?,
                &[&nonce, &user_id, &expires_at],
            )
            .await?;
            tx.execute(
                &tx.prepare_cached(
                    "DELETE FROM auth_challenges WHERE user_id = $1 AND rowid NOT IN \
                 (SELECT rowid FROM auth_challenges WHERE user_id = $1 \
                  ORDER BY rowid DESC LIMIT $2)",
                )
                .await?,
                &[&user_id, &signed(max_per_user.max(1))],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn check_login(
        &self,
        user_id: String,
        nonce: String,
        check: LoginCheck,
    ) -> StoreFuture<'_, Option<Result<(), Refusal>>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            // Consumed first, in a statement of its own (committed at once), whatever happens
            // next.
            let challenge = conn
                .query_opt(
                    &conn.prepare_cached("DELETE FROM auth_challenges WHERE nonce = $1 RETURNING user_id, expires_at").await?,
                    &[&nonce],
                )
                .await?
                .map(|r| -> Result<Challenge, StoreError> {
                    Ok(Challenge {
                        user_id: r.try_get(0)?,
                        expires_at: r.try_get(1)?,
                    })
                })
                .transpose()?;
            let user = conn
                .query_opt(
                    &conn
                        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                        .await?,
                    &[&user_id],
                )
                .await?
                .map(|r| user_from_row(&r))
                .transpose()?;
            Ok(user.map(|user| check(&user.login_account(), challenge)))
        })
    }

    fn open_session(
        &self,
        token_hash: [u8; 32],
        user_id: String,
        expires_at: i64,
        session: NewSession,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // Deleted since the login's read: no session. The key-share lock keeps a deletion
            // from overtaking the insert (it waits for this commit, then cascades).
            if tx
                .query_opt(
                    &tx.prepare_cached("SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE")
                        .await?,
                    &[&user_id],
                )
                .await?
                .is_none()
            {
                return Ok(false);
            }
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO auth_sessions (token_hash, user_id, expires_at, session_id, \
                 device_label, protocol, created_at, last_used_at) \
                 VALUES ($1, $2, $3, $4, $5, $6::BIGINT::SMALLINT, $7, $7)",
                )
                .await?,
                &[
                    &&token_hash[..],
                    &user_id,
                    &expires_at,
                    &session.session_id,
                    &session.device_label,
                    &(session.protocol as i64),
                    &hour(session.now),
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn session(&self, token_hash: [u8; 32], now: i64) -> StoreFuture<'_, Lookup> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let Some(row) = conn
                .query_opt(&conn.prepare_cached(LOOKUP_SQL).await?, &[&&token_hash[..]])
                .await?
            else {
                return Ok(Lookup::Unknown);
            };
            let expires_at: i64 = row.try_get(1)?;
            if expires_at <= now {
                return Ok(Lookup::Expired);
            }
            if row.try_get::<_, bool>(7)? {
                return Ok(Lookup::Revoked);
            }
            let client_type: String = row.try_get(2)?;
            Ok(Lookup::Valid(SessionUser {
                user_id: row.try_get(0)?,
                client_type: ClientType::parse(&client_type)
                    .ok_or(StoreError::Corrupt("unknown client type"))?,
                feature_set: row.try_get(3)?,
                is_v2: row.try_get(4)?,
                expires_at,
                session_id: row.try_get(5)?,
                last_used_at: row.try_get(6)?,
            }))
        })
    }

    fn drop_session(&self, token_hash: [u8; 32]) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let conn = self.conn().await?;
            conn.execute(
                &conn
                    .prepare_cached("DELETE FROM auth_sessions WHERE token_hash = $1")
                    .await?,
                &[&&token_hash[..]],
            )
            .await?;
            Ok(())
        })
    }

    fn touch_session(&self, token_hash: [u8; 32], hour_used: i64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let conn = self.conn().await?;
            conn.execute(
                &conn
                    .prepare_cached(
                        "UPDATE auth_sessions SET last_used_at = $2 \
                 WHERE token_hash = $1 AND last_used_at < $2",
                    )
                    .await?,
                &[&&token_hash[..], &hour(hour_used)],
            )
            .await?;
            Ok(())
        })
    }
}
