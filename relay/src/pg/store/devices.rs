//! [`Devices`] on PostgreSQL.
//!
//! Every decision locks what it depends on first: the owner's `users` row for the owner state
//! (the check runs on the locked account) and for the open-link count, the link's row for a
//! join or a package. A package is taken by one conditional `DELETE … RETURNING`, so of two
//! concurrent takes exactly one gets it.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::users::{USER_COLUMNS, fixed, user_from_row};
use super::{PgStore, lock_user, signed, unsigned};
use crate::service::Refusal;
use crate::storage::devices::{Devices, UserCheck};
use crate::storage::{DecisionFuture, StoreError, StoreFuture};
use crate::store::devices::{DeviceLink, OwnerState};

/// The columns [`link_from_row`] reads, in its order.
const LINK_COLUMNS: &str = "code, user_id, expires_at, device_key, label, proof, package";

fn link_from_row(row: &Row) -> Result<DeviceLink, StoreError> {
    let key: Option<Vec<u8>> = row.try_get(3)?;
    let label: Option<String> = row.try_get(4)?;
    let proof: Option<Vec<u8>> = row.try_get(5)?;
    let join = match (key, label, proof) {
        (Some(key), Some(label), Some(proof)) => Some((fixed(key)?, label, fixed(proof)?)),
        _ => None,
    };
    Ok(DeviceLink {
        code: row.try_get(0)?,
        user_id: row.try_get(1)?,
        expires_at: row.try_get(2)?,
        join,
        package: row.try_get(6)?,
    })
}

/// The link `code` if it is live at `now`, locked until the transaction ends when `lock`.
async fn live_link(
    client: &impl GenericClient,
    code: &str,
    now: i64,
    lock: bool,
) -> Result<Option<DeviceLink>, StoreError> {
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM device_links WHERE code = $1 AND expires_at > $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    client
        .query_opt(&sql, &[&code, &now])
        .await?
        .map(|r| link_from_row(&r))
        .transpose()
}

impl Devices for PgStore {
    fn put_owner_state(
        &self,
        owner: String,
        state: OwnerState,
        hour: i64,
        check: UserCheck,
    ) -> DecisionFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // The account, locked: the check and the version decision see it until commit.
            let Some(row) = tx
                .query_opt(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE"),
                    &[&owner],
                )
                .await?
            else {
                return Ok(Err(Refusal::Unauthorized("User not found")));
            };
            let user = user_from_row(&row)?;
            if let Err(refused) = check(&user) {
                return Ok(Err(refused));
            }
            // One conditional statement: written only over a lower stored version.
            let written = tx
                .execute(
                    "INSERT INTO owner_states \
                     (user_id, version, header, signature, payload, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO UPDATE SET \
                     version = excluded.version, header = excluded.header, \
                     signature = excluded.signature, payload = excluded.payload, \
                     updated_at = excluded.updated_at \
                     WHERE owner_states.version < excluded.version",
                    &[
                        &owner,
                        &signed(state.version),
                        &state.header,
                        &&state.signature[..],
                        &state.payload,
                        &hour,
                    ],
                )
                .await?;
            if written == 0 {
                // No stored version in the answer: the client fetches the signed state.
                return Ok(Err(Refusal::Conflict(
                    "The relay holds a newer owner state; fetch it and retry on top".into(),
                )));
            }
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    fn owner_state(&self, owner: String) -> StoreFuture<'_, Option<OwnerState>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            conn.query_opt(
                "SELECT version, header, signature, payload FROM owner_states \
                 WHERE user_id = $1",
                &[&owner],
            )
            .await?
            .map(|r| -> Result<OwnerState, StoreError> {
                Ok(OwnerState {
                    version: unsigned(r.try_get(0)?),
                    header: r.try_get(1)?,
                    signature: fixed(r.try_get(2)?)?,
                    payload: r.try_get(3)?,
                })
            })
            .transpose()
        })
    }

    fn create_device_link(
        &self,
        code: String,
        owner: String,
        now: i64,
        expires_at: i64,
        max_open: u64,
    ) -> DecisionFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // The owner's links are counted under the owner's lock: one creation at a time.
            // No account: nothing to lock, and the insert below fails on its foreign key (as
            // SQLite's does).
            lock_user(&tx, &owner).await?;
            tx.execute("DELETE FROM device_links WHERE expires_at <= $1", &[&now])
                .await?;
            let open: i64 = tx
                .query_one(
                    "SELECT count(*) FROM device_links WHERE user_id = $1",
                    &[&owner],
                )
                .await?
                .try_get(0)?;
            if unsigned(open) >= max_open {
                // The expired links stay forgotten.
                tx.commit().await?;
                return Ok(Err(Refusal::Conflict(format!(
                    "Too many open device links (at most {max_open}); wait for some to expire"
                ))));
            }
            tx.execute(
                "INSERT INTO device_links (code, user_id, expires_at) VALUES ($1, $2, $3)",
                &[&code, &owner, &expires_at],
            )
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    fn device_link(&self, code: String, now: i64) -> StoreFuture<'_, Option<DeviceLink>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            live_link(&conn, &code, now, false).await
        })
    }

    fn join_device_link(
        &self,
        code: String,
        now: i64,
        key: [u8; 32],
        label: String,
        proof: [u8; 32],
    ) -> DecisionFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            let Some(link) = live_link(&tx, &code, now, true).await? else {
                return Ok(Err(Refusal::NotFound("No such device link")));
            };
            if link.join.is_some() {
                return Ok(Err(Refusal::Conflict(
                    "A device already joined this link".into(),
                )));
            }
            tx.execute(
                "UPDATE device_links SET device_key = $2, label = $3, proof = $4 \
                 WHERE code = $1",
                &[&code, &&key[..], &label, &&proof[..]],
            )
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    fn put_device_package(
        &self,
        code: String,
        owner: String,
        now: i64,
        package: Vec<u8>,
    ) -> DecisionFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            let Some(link) = live_link(&tx, &code, now, true)
                .await?
                .filter(|l| l.user_id == owner)
            else {
                return Ok(Err(Refusal::NotFound("No such device link")));
            };
            if link.join.is_none() {
                return Ok(Err(Refusal::Conflict(
                    "No device joined this link yet".into(),
                )));
            }
            if link.package.is_some() {
                return Ok(Err(Refusal::Conflict(
                    "This link already holds a package".into(),
                )));
            }
            tx.execute(
                "UPDATE device_links SET package = $2 WHERE code = $1",
                &[&code, &package],
            )
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    fn take_device_package(&self, code: String, now: i64) -> DecisionFuture<'_, Vec<u8>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            // Served once: the one statement that finds the package deletes the link.
            let taken = conn
                .query_opt(
                    "DELETE FROM device_links \
                     WHERE code = $1 AND expires_at > $2 AND package IS NOT NULL \
                     RETURNING package",
                    &[&code, &now],
                )
                .await?;
            match taken {
                Some(row) => Ok(Ok(row.try_get(0)?)),
                None => Ok(Err(Refusal::NotFound(
                    "No package for this device link yet",
                ))),
            }
        })
    }
}
