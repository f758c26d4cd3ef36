//! [`Grants`] on PostgreSQL.

use coffer_wire::v2::Grant;
use deadpool_postgres::GenericClient;
use tokio_postgres::IsolationLevel;

use super::PgStore;
use super::pairings::pairing_between;
use super::users::{USER_COLUMNS, fixed, user_from_row};
use crate::service::{Refusal, Stale};
use crate::storage::grants::{
    GrantCheck, GrantParties, Grants, LiveGrant, PairingKind, WrappedKeys,
};
use crate::storage::{DecisionFuture, StoreError};
use crate::store::grants::StoredGrant;
use crate::store::now;
use crate::store::users::User;

/// The account `id`; `lock` is appended to the query.
pub(super) async fn user(
    client: &impl GenericClient,
    id: &str,
    lock: &str,
) -> Result<Option<User>, StoreError> {
    client
        .query_opt(
            &client
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE id = $1 {lock}"
                ))
                .await?,
            &[&id],
        )
        .await?
        .map(|r| user_from_row(&r))
        .transpose()
}

/// The grant of pairing `pairing_id`; `lock` is appended to the query.
async fn grant(
    client: &impl GenericClient,
    pairing_id: &str,
    lock: &str,
) -> Result<Option<StoredGrant>, StoreError> {
    client
        .query_opt(
            &client
                .prepare_cached(&format!(
                    "SELECT sequence, expires_at, grant_bytes, signature FROM grants \
                 WHERE pairing_id = $1 {lock}"
                ))
                .await?,
            &[&pairing_id],
        )
        .await?
        .map(|r| -> Result<StoredGrant, StoreError> {
            Ok(StoredGrant {
                // As SQLite's adapter: the bits stored, read back.
                sequence: r.try_get::<_, i64>(0)? as u64,
                expires_at: r.try_get::<_, i64>(1)? as u64,
                grant_bytes: r.try_get(2)?,
                signature: fixed(r.try_get(3)?)?,
            })
        })
        .transpose()
}

impl Grants for PgStore {
    fn put_v2_grant(
        &self,
        owner: String,
        friend: String,
        grant: StoredGrant,
        keys: WrappedKeys,
        hour: i64,
        check: GrantCheck,
    ) -> DecisionFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // The owner's row lock serialises its grant decisions; the pairing's keeps it (and
            // its grant) from changing or going until the decision is committed.
            let owner_user = user(&tx, &owner, "FOR UPDATE").await?;
            let Some(pairing) = pairing_between(&tx, &owner, &friend, "FOR NO KEY UPDATE").await?
            else {
                return Ok(Err(Refusal::NotFound("Pairing not found")));
            };
            let Some(owner_user) = owner_user else {
                return Ok(Err(Refusal::Unauthorized("User not found")));
            };
            // A replica request (no invite code): the friend that asked, for the check.
            let asked = match pairing.code {
                Some(_) => None,
                None => Some(user(&tx, &friend, "").await?),
            };
            let parties = GrantParties {
                grant: &grant,
                owner: &owner_user,
                pairing: match &asked {
                    None => PairingKind::Invited,
                    Some(friend) => PairingKind::ReplicaRequest(friend.as_ref()),
                },
            };
            if let Err(refused) = check(&parties) {
                return Ok(Err(refused));
            }
            if let Some(current) = self::grant(&tx, &pairing.id, "FOR UPDATE").await?
                && current.sequence >= grant.sequence
            {
                return Ok(Err(Refusal::Stale(Stale::Grant {
                    current: current.sequence,
                })));
            }
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO grants \
                 (pairing_id, sequence, expires_at, grant_bytes, signature, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (pairing_id) DO UPDATE SET sequence = excluded.sequence, \
                 expires_at = excluded.expires_at, grant_bytes = excluded.grant_bytes, \
                 signature = excluded.signature, updated_at = excluded.updated_at",
                )
                .await?,
                &[
                    &pairing.id,
                    &(grant.sequence as i64),
                    &(grant.expires_at as i64),
                    &grant.grant_bytes,
                    &&grant.signature[..],
                    &hour,
                ],
            )
            .await?;
            tx.execute(
                &tx.prepare_cached("DELETE FROM grant_keys WHERE pairing_id = $1")
                    .await?,
                &[&pairing.id],
            )
            .await?;
            for (volume, epoch, wrapped) in &keys {
                tx.execute(
                    &tx.prepare_cached(
                        "INSERT INTO grant_keys (pairing_id, volume_name, epoch, wrapped_key) \
                     VALUES ($1, $2, $3, $4)",
                    )
                    .await?,
                    &[&pairing.id, volume, &i64::from(*epoch), &&wrapped[..]],
                )
                .await?;
            }
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE pairings SET status = 'active', updated_at = $2 WHERE id = $1",
                )
                .await?,
                &[&pairing.id, &hour],
            )
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    fn live_v2_grant(&self, owner: String, friend: String) -> DecisionFuture<'_, LiveGrant> {
        const NONE: &str = "No live grant from this system";
        Box::pin(async move {
            let mut conn = self.conn().await?;
            // The grant and its keys from one snapshot.
            let tx = conn
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let Some(p) = pairing_between(&tx, &owner, &friend, "").await? else {
                return Ok(Err(Refusal::Forbidden(NONE)));
            };
            let Some(stored) = grant(&tx, &p.id, "").await? else {
                return Ok(Err(Refusal::Forbidden(NONE)));
            };
            if stored.expires_at != 0 && stored.expires_at <= now() as u64 {
                return Ok(Err(Refusal::Forbidden(
                    "The grant from this system has expired",
                )));
            }
            let keys = tx
                .query(
                    &tx.prepare_cached(
                        "SELECT volume_name, epoch, wrapped_key FROM grant_keys \
                     WHERE pairing_id = $1 ORDER BY volume_name COLLATE \"C\"",
                    )
                    .await?,
                    &[&p.id],
                )
                .await?
                .iter()
                .map(|r| -> Result<(String, u32, [u8; 60]), StoreError> {
                    Ok((
                        r.try_get(0)?,
                        r.try_get::<_, i64>(1)? as u32,
                        fixed(r.try_get(2)?)?,
                    ))
                })
                .collect::<Result<WrappedKeys, StoreError>>()?;
            tx.commit().await?;
            let Ok(grant) = Grant::parse(&stored.grant_bytes) else {
                return Err(StoreError::Corrupt("a stored grant does not parse"));
            };
            Ok(Ok(LiveGrant {
                stored,
                grant,
                keys,
            }))
        })
    }
}
