//! [`Pairings`] on PostgreSQL.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::users::{USER_COLUMNS, fixed, user_from_row};
use super::{PgStore, lock_user, unsigned};
use crate::service::{self, Refusal};
use crate::storage::invites::Invite;
use crate::storage::pairings::{MAX_PENDING_REPLICA_REQUESTS, Pairings, Redemption};
use crate::storage::{DecisionFuture, StoreError, StoreFuture};
use crate::store::hour;
use crate::store::pairings::Pairing;
use crate::store::users::User;

/// The columns [`pairing_from_row`] reads, in its order.
pub(crate) const PAIRING_COLUMNS: &str =
    "id, system_user_id, friend_user_id, status, code, proof, created_at";

/// A pairing from `row`'s columns `at..at + 7` ([`PAIRING_COLUMNS`]).
pub(crate) fn pairing_from_row(row: &Row, at: usize) -> Result<Pairing, StoreError> {
    let proof: Option<Vec<u8>> = row.try_get(at + 5)?;
    Ok(Pairing {
        id: row.try_get(at)?,
        system_user_id: row.try_get(at + 1)?,
        friend_user_id: row.try_get(at + 2)?,
        status: row.try_get(at + 3)?,
        code: row.try_get(at + 4)?,
        proof: proof.map(fixed).transpose()?,
        created_at: row.try_get(at + 6)?,
    })
}

/// The pairing of `system` and `friend`; `lock` is appended to the query (a row lock, or
/// nothing).
pub(crate) async fn pairing_between(
    client: &impl GenericClient,
    system: &str,
    friend: &str,
    lock: &str,
) -> Result<Option<Pairing>, StoreError> {
    client
        .query_opt(
            &format!(
                "SELECT {PAIRING_COLUMNS} FROM pairings \
                 WHERE system_user_id = $1 AND friend_user_id = $2 {lock}"
            ),
            &[&system, &friend],
        )
        .await?
        .map(|r| pairing_from_row(&r, 0))
        .transpose()
}

/// Inserts a pending pairing unless the two are paired already (`false`).
async fn insert_pairing(client: &impl GenericClient, p: &Pairing) -> Result<bool, StoreError> {
    Ok(client
        .execute(
            &format!(
                "INSERT INTO pairings ({PAIRING_COLUMNS}, updated_at) \
                 VALUES ($1, $2, $3, 'pending', $4, $5, $6, $6) \
                 ON CONFLICT (system_user_id, friend_user_id) DO NOTHING"
            ),
            &[
                &p.id,
                &p.system_user_id,
                &p.friend_user_id,
                &p.code,
                &p.proof.as_ref().map(|x| &x[..]),
                &p.created_at,
            ],
        )
        .await?
        == 1)
}

/// `USER_COLUMNS` qualified by the table alias `u`.
fn peer_columns() -> String {
    USER_COLUMNS
        .split(',')
        .map(|c| format!("u.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Pairings for PgStore {
    fn redeem_invite(&self, r: Redemption) -> DecisionFuture<'_, String> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // Locks in one order: the friend's row (its pairings are created one at a time,
            // as by a replica request), the system's (registered until the pairing is
            // inserted), then the invite (as an account's deletion reaches its invites).
            lock_user(&tx, &r.friend).await?;
            if let Some(row) = tx
                .query_opt(
                    "SELECT system_user_id FROM invite_codes WHERE code = $1",
                    &[&r.code],
                )
                .await?
            {
                let system: String = row.try_get(0)?;
                tx.execute(
                    "SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE",
                    &[&system],
                )
                .await?;
            }
            // The invite's row lock makes redemption single use: a second redeemer waits, then
            // reads it redeemed.
            let invite = tx
                .query_opt(
                    "SELECT code, system_user_id, expires_at, redeemed_at IS NOT NULL, \
                     protocol::BIGINT FROM invite_codes WHERE code = $1 FOR UPDATE",
                    &[&r.code],
                )
                .await?
                .map(|row| -> Result<Invite, StoreError> {
                    Ok(Invite {
                        code: row.try_get(0)?,
                        system_user_id: row.try_get(1)?,
                        expires_at: row.try_get(2)?,
                        redeemed: row.try_get(3)?,
                        protocol: row.try_get(4)?,
                    })
                })
                .transpose()?;
            let invite = match service::invites::check_open(invite, 2, r.friend_type, r.now) {
                Ok(invite) => invite,
                Err(refused) => return Ok(Err(refused)),
            };
            let pairing = Pairing {
                id: r.pairing_id,
                system_user_id: invite.system_user_id.clone(),
                friend_user_id: r.friend.clone(),
                status: "pending".into(),
                code: Some(invite.code.clone()),
                proof: Some(r.proof),
                created_at: hour(r.now),
            };
            if !insert_pairing(&tx, &pairing).await? {
                return Ok(Err(Refusal::Conflict(
                    "You are already paired with this system".into(),
                )));
            }
            tx.execute(
                "UPDATE invite_codes SET redeemed_by = $2, redeemed_at = $3 WHERE code = $1",
                &[&invite.code, &r.friend, &hour(r.now)],
            )
            .await?;
            tx.commit().await?;
            Ok(Ok(invite.system_user_id))
        })
    }

    fn request_replica_pairing(
        &self,
        id: String,
        system: String,
        friend: String,
        now: i64,
    ) -> DecisionFuture<'_, (String, bool)> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // One friend's replica requests are counted and created one at a time.
            lock_user(&tx, &friend).await?;
            // Answers as GET /users/{id} would: no more than that a v2 system exists. The key
            // share lock keeps the system registered until this transaction ends.
            let is_system = tx
                .query_opt(
                    "SELECT client_type = 'system' AND key_binding_signature IS NOT NULL \
                     FROM users WHERE id = $1 FOR KEY SHARE",
                    &[&system],
                )
                .await?
                .map(|r| r.try_get::<_, bool>(0))
                .transpose()?
                .unwrap_or(false);
            if !is_system {
                return Ok(Err(Refusal::NotFound("User not found")));
            }
            if let Some(p) = pairing_between(&tx, &system, &friend, "").await? {
                return Ok(Ok((p.id, false)));
            }
            let pending: i64 = tx
                .query_one(
                    "SELECT count(*) FROM pairings \
                     WHERE friend_user_id = $1 AND status = 'pending' AND code IS NULL",
                    &[&friend],
                )
                .await?
                .try_get(0)?;
            if unsigned(pending) >= MAX_PENDING_REPLICA_REQUESTS {
                return Ok(Err(Refusal::Forbidden(
                    "Too many pending replica pairing requests (64): wait for the systems' \
                     grants, or unpair some",
                )));
            }
            let pairing = Pairing {
                id: id.clone(),
                system_user_id: system.clone(),
                friend_user_id: friend.clone(),
                status: "pending".into(),
                code: None,
                proof: None,
                created_at: hour(now),
            };
            if !insert_pairing(&tx, &pairing).await? {
                // Redeemed an invite of this system meanwhile (that takes no lock of the
                // friend's): the pairing that exists is the answer, as it would have been.
                return match pairing_between(&tx, &system, &friend, "").await? {
                    Some(p) => Ok(Ok((p.id, false))),
                    None => Err(StoreError::Corrupt("a pairing appeared inside a write")),
                };
            }
            tx.commit().await?;
            Ok(Ok((id, true)))
        })
    }

    fn pairings_with_peers(&self, user: String) -> StoreFuture<'_, Vec<(Option<User>, Pairing)>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            // One statement: one snapshot of the pairings and their peers. Ids in byte order,
            // as SQLite's (whatever the database's collation).
            let rows = conn
                .query(
                    &format!(
                        "SELECT {}, {} FROM pairings p LEFT JOIN users u ON u.id = \
                         CASE WHEN p.system_user_id = $1 THEN p.friend_user_id \
                         ELSE p.system_user_id END \
                         WHERE p.system_user_id = $1 OR p.friend_user_id = $1 \
                         ORDER BY p.created_at DESC, p.id COLLATE \"C\"",
                        peer_columns(),
                        PAIRING_COLUMNS
                            .split(',')
                            .map(|c| format!("p.{}", c.trim()))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    &[&user],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    let peer = match r.try_get::<_, Option<String>>(0)? {
                        Some(_) => Some(user_from_row(r)?),
                        None => None,
                    };
                    Ok((peer, pairing_from_row(r, 10)?))
                })
                .collect()
        })
    }

    fn unpair(&self, id: String, caller: String) -> DecisionFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            let Some(row) = tx
                .query_opt(
                    "SELECT system_user_id, friend_user_id FROM pairings WHERE id = $1 FOR UPDATE",
                    &[&id],
                )
                .await?
            else {
                return Ok(Err(Refusal::NotFound("Pairing not found")));
            };
            let (system, friend): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            if system != caller && friend != caller {
                return Ok(Err(Refusal::Forbidden(
                    "You are not a party to this pairing",
                )));
            }
            // The grant, its wrapped keys and the receipts go with it (foreign keys).
            tx.execute("DELETE FROM pairings WHERE id = $1", &[&id])
                .await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }
}
