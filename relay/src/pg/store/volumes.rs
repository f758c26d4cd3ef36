//! [`Volumes`] on PostgreSQL: v1 and v2 rows, small payloads in `inline_payloads` (durable
//! with their row), tombstones, and the lookups a download authorises with.
//!
//! An upload locks its owner's `users` row first ([`lock_user`]): the version, epoch,
//! tombstone and quota checks and the write are then one decision per account across every
//! relay instance, as SQLite's single writer makes them.

use coffer_wire::v1::{Permissions, VolumeName};
use coffer_wire::v2::Grant;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::users::{USER_COLUMNS, fixed, user_from_row};
use super::{PgStore, lock_user, signed, unsigned};
use crate::service::volumes::over_quota;
use crate::service::{Decision, Refusal, Stale};
use crate::storage::grants::LiveGrant;
use crate::storage::volumes::{
    NO_RELATIONSHIP, NOT_FOUND, NOT_SHARED, NewPayload, Payload, PayloadReader, PayloadRow, Served,
    SharedV2, Stored, UploadBase, Volumes, granted_key, name_payload, permissions_of,
};
use crate::storage::{DecisionFuture, StoreError, StoreFuture};
use crate::store::grants::StoredGrant;
use crate::store::inline;
use crate::store::tombstones::TombstoneRow;
use crate::store::volumes::VolumeRow;
use crate::store::volumes::v2::VolumeV2;

const V1_COLUMNS: &str =
    "user_id, volume_name, version, control_header, blob_file, signature, size_bytes, updated_at";
const V2_COLUMNS: &str =
    "user_id, volume_name, epoch, version, header, signature, blob_file, size_bytes, updated_at";
pub(crate) const TOMBSTONE_COLUMNS: &str =
    "user_id, volume_name, epoch, version, hour, tombstone, signature";

/// A v1 row whose columns ([`V1_COLUMNS`]) start at column `at`.
fn v1_from_row(r: &Row, at: usize) -> Result<VolumeRow, StoreError> {
    Ok(VolumeRow {
        user_id: r.try_get(at)?,
        volume_name: r.try_get(at + 1)?,
        version: unsigned(r.try_get(at + 2)?),
        control_header: r.try_get(at + 3)?,
        blob_file: r.try_get(at + 4)?,
        signature: fixed(r.try_get(at + 5)?)?,
        size_bytes: unsigned(r.try_get(at + 6)?),
        updated_at: r.try_get(at + 7)?,
    })
}

fn v2_from_row(r: &Row) -> Result<VolumeV2, StoreError> {
    Ok(VolumeV2 {
        user_id: r.try_get(0)?,
        volume_name: r.try_get(1)?,
        epoch: epoch(r.try_get(2)?)?,
        version: unsigned(r.try_get(3)?),
        header: r.try_get(4)?,
        signature: fixed(r.try_get(5)?)?,
        blob_file: r.try_get(6)?,
        size_bytes: unsigned(r.try_get(7)?),
        updated_at: r.try_get(8)?,
    })
}

/// A tombstone from the columns of [`TOMBSTONE_COLUMNS`].
pub(crate) fn tombstone_from_row(r: &Row) -> Result<TombstoneRow, StoreError> {
    Ok(TombstoneRow {
        user_id: r.try_get(0)?,
        volume_name: r.try_get(1)?,
        epoch: epoch(r.try_get(2)?)?,
        version: unsigned(r.try_get(3)?),
        hour: unsigned(r.try_get(4)?),
        tombstone: r.try_get(5)?,
        signature: fixed(r.try_get(6)?)?,
    })
}

fn epoch(value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt("an epoch column is out of range"))
}

async fn v2_volume(
    c: &impl GenericClient,
    owner: &str,
    name: &str,
) -> Result<Option<VolumeV2>, StoreError> {
    c.query_opt(
        &c.prepare_cached(&format!(
            "SELECT {V2_COLUMNS} FROM volumes_v2 WHERE user_id = $1 AND volume_name = $2"
        ))
        .await?,
        &[&owner, &name],
    )
    .await?
    .map(|r| v2_from_row(&r))
    .transpose()
}

async fn tombstone(
    c: &impl GenericClient,
    owner: &str,
    name: &str,
) -> Result<Option<TombstoneRow>, StoreError> {
    c.query_opt(
        &c.prepare_cached(&format!(
            "SELECT {TOMBSTONE_COLUMNS} FROM tombstones WHERE user_id = $1 AND volume_name = $2"
        ))
        .await?,
        &[&owner, &name],
    )
    .await?
    .map(|r| tombstone_from_row(&r))
    .transpose()
}

/// The live (stored, unexpired) grant from `owner` to `friend`, parsed, with its wrapped keys
/// (the rule of the SQLite adapter's `live_grant_in`).
pub(crate) async fn live_grant(
    c: &impl GenericClient,
    owner: &str,
    friend: &str,
) -> Decision<LiveGrant> {
    const NONE: &str = "No live grant from this system";
    let Some(row) = c
        .query_opt(
            &c.prepare_cached(
                "SELECT g.pairing_id, g.sequence, g.expires_at, g.grant_bytes, g.signature \
             FROM pairings p JOIN grants g ON g.pairing_id = p.id \
             WHERE p.system_user_id = $1 AND p.friend_user_id = $2",
            )
            .await?,
            &[&owner, &friend],
        )
        .await?
    else {
        return Ok(Err(Refusal::Forbidden(NONE)));
    };
    let pairing: String = row.try_get(0)?;
    let stored = StoredGrant {
        sequence: unsigned(row.try_get(1)?),
        expires_at: unsigned(row.try_get(2)?),
        grant_bytes: row.try_get(3)?,
        signature: fixed(row.try_get(4)?)?,
    };
    if stored.expires_at != 0 && stored.expires_at <= unsigned(crate::store::now()) {
        return Ok(Err(Refusal::Forbidden(
            "The grant from this system has expired",
        )));
    }
    let keys = c
        .query(
            &c.prepare_cached(
                "SELECT volume_name, epoch, wrapped_key FROM grant_keys WHERE pairing_id = $1 \
             ORDER BY volume_name COLLATE \"C\"",
            )
            .await?,
            &[&pairing],
        )
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, epoch(r.try_get(1)?)?, fixed(r.try_get(2)?)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let Ok(grant) = Grant::parse(&stored.grant_bytes) else {
        return Err(StoreError::Corrupt("a stored grant does not parse"));
    };
    Ok(Ok(LiveGrant {
        stored,
        grant,
        keys,
    }))
}

/// The payload `row` names: an inline one from the database, a blob through the reader (on
/// the blocking pool: the files' reader opens a file). `None`: the payload is gone.
async fn payload_of(
    c: &impl GenericClient,
    blob_file: &str,
    read: PayloadReader,
) -> Result<(Option<Payload>, PayloadReader), StoreError> {
    if inline::is_inline(blob_file) {
        let found: Option<Vec<u8>> = c
            .query_opt(
                &c.prepare_cached("SELECT bytes FROM inline_payloads WHERE blob_file = $1")
                    .await?,
                &[&blob_file],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        if found.as_ref().is_some_and(|b| b.len() as u64 > read.max) {
            return Err(StoreError::Corrupt(
                "stored payload is larger than the volume limit",
            ));
        }
        return Ok((found.map(Payload::Bytes), read));
    }
    let name = blob_file.to_owned();
    tokio::task::spawn_blocking(move || {
        let payload = (read.blob)(&name);
        payload.map(|p| (p, read))
    })
    .await
    .map_err(|_| StoreError::Backend("a blob read task failed".into()))?
}

/// Runs `lookup` (authorises and finds the row, with anything to send along) and reads the
/// payload the row names, unless `read.since` is current. If the payload vanished between
/// the row and its read (an upload replaced it), the lookup runs once more (READ COMMITTED:
/// it sees the upload's row); a row still naming a missing payload is a storage failure.
async fn with_payload<R, E, F, Fut>(
    c: &impl GenericClient,
    mut read: PayloadReader,
    lookup: F,
) -> Decision<(Served<R>, E)>
where
    R: PayloadRow,
    F: Fn() -> Fut,
    Fut: Future<Output = Decision<(R, E)>>,
{
    for _ in 0..2 {
        let (row, extra) = match lookup().await? {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        if read.since.is_some_and(|seen| seen >= row.version()) {
            let payload = Payload::NotModified;
            return Ok(Ok((Served { row, payload }, extra)));
        }
        let (payload, back) = payload_of(c, row.blob_file(), read).await?;
        read = back;
        if let Some(payload) = payload {
            return Ok(Ok((Served { row, payload }, extra)));
        }
    }
    tracing::error!("a volume row points at a missing payload");
    Err(StoreError::Corrupt(
        "a volume row points at a missing blob file",
    ))
}

/// Runs `body`'s statements on `c` in one read-only repeatable-read snapshot, ended before
/// this returns (rolled back if `body` failed, so the pooled connection is clean).
async fn snapshot<T>(
    c: &impl GenericClient,
    body: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    match body.await {
        Ok(done) => {
            c.batch_execute("COMMIT").await?;
            Ok(done)
        }
        Err(e) => {
            // A failed rollback leaves a broken connection, which the pool drops.
            let _ = c.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// The owner's stored bytes, its row locked for the rest of the transaction.
async fn locked_usage(
    tx: &deadpool_postgres::Transaction<'_>,
    owner: &str,
) -> Result<u64, StoreError> {
    if !lock_user(tx, owner).await? {
        // As SQLite's put: an upload for an account deleted under it is a storage failure.
        return Err(StoreError::Backend("the uploader's account is gone".into()));
    }
    let used: i64 = tx
        .query_one(
            &tx.prepare_cached("SELECT storage_used_bytes FROM users WHERE id = $1")
                .await?,
            &[&owner],
        )
        .await?
        .try_get(0)?;
    Ok(unsigned(used))
}

/// After the decision: the row and usage are written, an inline payload with them.
async fn finish_put(
    tx: deadpool_postgres::Transaction<'_>,
    owner: &str,
    new_used: u64,
    blob_file: &str,
    inline_bytes: Option<Vec<u8>>,
    replaced: Option<String>,
) -> Decision<Stored> {
    tx.execute(
        &tx.prepare_cached("UPDATE users SET storage_used_bytes = $2 WHERE id = $1")
            .await?,
        &[&owner, &signed(new_used)],
    )
    .await?;
    if let Some(bytes) = inline_bytes {
        tx.execute(
            &tx.prepare_cached("INSERT INTO inline_payloads (blob_file, bytes) VALUES ($1, $2)")
                .await?,
            &[&blob_file, &bytes],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Ok(Stored {
        replaced_blob: replaced.filter(|old| !inline::is_inline(old)),
    }))
}

impl Volumes for PgStore {
    fn v1_upload_base(
        &self,
        owner: String,
        name: String,
    ) -> StoreFuture<'_, UploadBase<(u64, u64)>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let row = conn
                .query_opt(
                    &conn
                        .prepare_cached(&format!(
                            "SELECT {USER_COLUMNS}, v.version, v.size_bytes FROM users \
                         LEFT JOIN volumes v ON v.user_id = users.id AND v.volume_name = $2 \
                         WHERE users.id = $1"
                        ))
                        .await?,
                    &[&owner, &name],
                )
                .await?;
            let Some(row) = row else {
                // No account: nothing of it is stored either.
                return Ok(UploadBase {
                    user: None,
                    stored: None,
                });
            };
            let version: Option<i64> = row.try_get(10)?;
            let size: Option<i64> = row.try_get(11)?;
            Ok(UploadBase {
                user: Some(user_from_row(&row)?),
                stored: version.zip(size).map(|(v, s)| (unsigned(v), unsigned(s))),
            })
        })
    }

    fn v2_upload_base(
        &self,
        owner: String,
        name: String,
    ) -> StoreFuture<'_, UploadBase<(u32, u64, u64)>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let row = conn
                .query_opt(
                    &conn
                        .prepare_cached(&format!(
                            "SELECT {USER_COLUMNS}, v.epoch, v.version, v.size_bytes FROM users \
                         LEFT JOIN volumes_v2 v ON v.user_id = users.id AND v.volume_name = $2 \
                         WHERE users.id = $1"
                        ))
                        .await?,
                    &[&owner, &name],
                )
                .await?;
            let Some(row) = row else {
                return Ok(UploadBase {
                    user: None,
                    stored: None,
                });
            };
            let e: Option<i64> = row.try_get(10)?;
            let v: Option<i64> = row.try_get(11)?;
            let s: Option<i64> = row.try_get(12)?;
            let stored = match (e, v, s) {
                (Some(e), Some(v), Some(s)) => Some((epoch(e)?, unsigned(v), unsigned(s))),
                _ => None,
            };
            Ok(UploadBase {
                user: Some(user_from_row(&row)?),
                stored,
            })
        })
    }

    fn put_v1_volume(
        &self,
        mut row: VolumeRow,
        payload: NewPayload,
        max_user_storage: u64,
    ) -> DecisionFuture<'_, Stored> {
        Box::pin(async move {
            let (owner, volume) = (row.user_id.clone(), row.volume_name.clone());
            let bytes = name_payload(payload, &mut row.blob_file, &owner, &volume, row.version);
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            let used = locked_usage(&tx, &owner).await?;
            let previous = tx
                .query_opt(
                    &tx.prepare_cached(
                        "SELECT version, size_bytes, blob_file FROM volumes \
                     WHERE user_id = $1 AND volume_name = $2",
                    )
                    .await?,
                    &[&owner, &volume],
                )
                .await?;
            let (old_size, replaced) = match previous {
                Some(p) => {
                    let current = unsigned(p.try_get(0)?);
                    if current >= row.version {
                        return Ok(Err(Refusal::Stale(Stale::Version {
                            current,
                            got: row.version,
                        })));
                    }
                    (unsigned(p.try_get(1)?), Some(p.try_get::<_, String>(2)?))
                }
                None => (0, None),
            };
            let new_used = used.saturating_sub(old_size).saturating_add(row.size_bytes);
            if new_used > max_user_storage {
                return Ok(Err(over_quota()));
            }
            tx.execute(
                &tx.prepare_cached(&format!(
                    "INSERT INTO volumes ({V1_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (user_id, volume_name) DO UPDATE SET version = excluded.version, \
                     control_header = excluded.control_header, blob_file = excluded.blob_file, \
                     signature = excluded.signature, size_bytes = excluded.size_bytes, \
                     updated_at = excluded.updated_at"
                ))
                .await?,
                &[
                    &row.user_id,
                    &row.volume_name,
                    &signed(row.version),
                    &row.control_header,
                    &row.blob_file,
                    &&row.signature[..],
                    &signed(row.size_bytes),
                    &row.updated_at,
                ],
            )
            .await?;
            finish_put(tx, &owner, new_used, &row.blob_file, bytes, replaced).await
        })
    }

    fn put_v2_volume(
        &self,
        mut row: VolumeV2,
        payload: NewPayload,
        max_user_storage: u64,
    ) -> DecisionFuture<'_, Stored> {
        Box::pin(async move {
            let (owner, volume) = (row.user_id.clone(), row.volume_name.clone());
            let bytes = name_payload(payload, &mut row.blob_file, &owner, &volume, row.version);
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            let used = locked_usage(&tx, &owner).await?;
            let previous = v2_volume(&tx, &owner, &volume).await?;
            if let Some(p) = &previous
                && (p.version >= row.version || p.epoch > row.epoch)
            {
                return Ok(Err(Refusal::Stale(Stale::V2 {
                    current_version: p.version,
                    current_epoch: p.epoch,
                    got: row.version,
                })));
            }
            if let Some(t) = tombstone(&tx, &owner, &volume)
                .await?
                .filter(|t| t.version >= row.version || t.epoch > row.epoch)
            {
                return Ok(Err(Refusal::Stale(Stale::V2 {
                    current_version: t.version,
                    current_epoch: t.epoch,
                    got: row.version,
                })));
            }
            let old_size = previous.as_ref().map_or(0, |p| p.size_bytes);
            let new_used = used.saturating_sub(old_size).saturating_add(row.size_bytes);
            if new_used > max_user_storage {
                return Ok(Err(over_quota()));
            }
            tx.execute(
                &tx.prepare_cached(&format!(
                    "INSERT INTO volumes_v2 ({V2_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (user_id, volume_name) DO UPDATE SET epoch = excluded.epoch, \
                     version = excluded.version, header = excluded.header, \
                     signature = excluded.signature, blob_file = excluded.blob_file, \
                     size_bytes = excluded.size_bytes, updated_at = excluded.updated_at"
                ))
                .await?,
                &[
                    &row.user_id,
                    &row.volume_name,
                    &i64::from(row.epoch),
                    &signed(row.version),
                    &row.header,
                    &&row.signature[..],
                    &row.blob_file,
                    &signed(row.size_bytes),
                    &row.updated_at,
                ],
            )
            .await?;
            tx.execute(
                &tx.prepare_cached(
                    "DELETE FROM tombstones WHERE user_id = $1 AND volume_name = $2",
                )
                .await?,
                &[&owner, &volume],
            )
            .await?;
            let replaced = previous.map(|p| p.blob_file);
            finish_put(tx, &owner, new_used, &row.blob_file, bytes, replaced).await
        })
    }

    fn v1_volumes(&self, owner: String) -> StoreFuture<'_, Vec<VolumeRow>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            conn.query(
                &conn.prepare_cached(&format!("SELECT {V1_COLUMNS} FROM volumes WHERE user_id = $1 ORDER BY volume_name COLLATE \"C\"")).await?,
                &[&owner],
            )
            .await?
            .iter()
            .map(|r| v1_from_row(r, 0))
            .collect()
        })
    }

    fn v1_volumes_for_friend(
        &self,
        system: String,
        friend: String,
    ) -> DecisionFuture<'_, (Permissions, Vec<VolumeRow>)> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            // One snapshot for the relationship and the list.
            let tx = conn
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let Some(rel) = tx
                .query_opt(
                    &tx.prepare_cached(
                        "SELECT permissions FROM sharing WHERE system_user_id = $1 \
                     AND friend_user_id = $2 AND status = 'active'",
                    )
                    .await?,
                    &[&system, &friend],
                )
                .await?
            else {
                return Ok(Err(Refusal::Forbidden(NO_RELATIONSHIP)));
            };
            let rows = tx
                .query(
                    &tx.prepare_cached(&format!("SELECT {V1_COLUMNS} FROM volumes WHERE user_id = $1 ORDER BY volume_name COLLATE \"C\"")).await?,
                    &[&system],
                )
                .await?
                .iter()
                .map(|r| v1_from_row(r, 0))
                .collect::<Result<Vec<_>, _>>()?;
            tx.commit().await?;
            Ok(Ok((permissions_of(&rel.try_get::<_, String>(0)?), rows)))
        })
    }

    fn v2_volumes(&self, owner: String) -> StoreFuture<'_, (Vec<VolumeV2>, Vec<TombstoneRow>)> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let volumes = tx
                .query(
                    &tx.prepare_cached(&format!("SELECT {V2_COLUMNS} FROM volumes_v2 WHERE user_id = $1 ORDER BY volume_name COLLATE \"C\"")).await?,
                    &[&owner],
                )
                .await?
                .iter()
                .map(v2_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let tombstones = tx
                .query(
                    &tx.prepare_cached(&format!("SELECT {TOMBSTONE_COLUMNS} FROM tombstones WHERE user_id = $1 ORDER BY volume_name COLLATE \"C\"")).await?,
                    &[&owner],
                )
                .await?
                .iter()
                .map(tombstone_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            tx.commit().await?;
            Ok((volumes, tombstones))
        })
    }

    fn v1_volume_for_owner(
        &self,
        owner: String,
        name: String,
        read: PayloadReader,
    ) -> DecisionFuture<'_, Served<VolumeRow>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let (c, owner, name) = (&conn, &owner, &name);
            let found = with_payload(c, read, move || async move {
                Ok(c.query_opt(
                    &c.prepare_cached(&format!(
                        "SELECT {V1_COLUMNS} FROM volumes WHERE user_id = $1 AND volume_name = $2"
                    ))
                    .await?,
                    &[owner, name],
                )
                .await?
                .map(|r| v1_from_row(&r, 0))
                .transpose()?
                .map(|row| (row, ()))
                .ok_or(Refusal::NotFound(NOT_FOUND)))
            })
            .await?;
            Ok(found.map(|(served, ())| served))
        })
    }

    fn v1_volume_for_friend(
        &self,
        system: String,
        friend: String,
        name: VolumeName,
        read: PayloadReader,
    ) -> DecisionFuture<'_, (Served<VolumeRow>, Option<Vec<u8>>)> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let (c, system, friend, name) = (&conn, &system, &friend, &name);
            let sql = format!(
                "SELECT s.permissions, s.encrypted_vek_blob, v.{} FROM sharing s \
                 LEFT JOIN volumes v ON v.user_id = s.system_user_id AND v.volume_name = $3 \
                 WHERE s.system_user_id = $1 AND s.friend_user_id = $2 AND s.status = 'active'",
                V1_COLUMNS.replace(", ", ", v.")
            );
            let sql = &sql;
            with_payload(c, read, move || async move {
                let Some(r) = c
                    .query_opt(
                        &c.prepare_cached(sql).await?,
                        &[system, friend, &name.as_str()],
                    )
                    .await?
                else {
                    return Ok(Err(Refusal::Forbidden(NO_RELATIONSHIP)));
                };
                let permissions: String = r.try_get(0)?;
                if !permissions_of(&permissions).allows(*name) {
                    return Ok(Err(Refusal::Forbidden(NOT_SHARED)));
                }
                if r.try_get::<_, Option<String>>(2)?.is_none() {
                    return Ok(Err(Refusal::NotFound(NOT_FOUND)));
                }
                let vek: Option<Vec<u8>> = r.try_get(1)?;
                Ok(Ok((v1_from_row(&r, 2)?, vek)))
            })
            .await
        })
    }

    fn v2_volume_for_owner(
        &self,
        owner: String,
        name: String,
        read: PayloadReader,
    ) -> DecisionFuture<'_, Served<VolumeV2>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let (c, owner, name) = (&conn, &owner, &name);
            let found = with_payload(c, read, move || async move {
                Ok(v2_volume(c, owner, name)
                    .await?
                    .map(|v| (v, ()))
                    .ok_or(Refusal::NotFound(NOT_FOUND)))
            })
            .await?;
            Ok(found.map(|(served, ())| served))
        })
    }

    fn v2_volume_for_friend(
        &self,
        owner: String,
        friend: String,
        name: String,
        read: PayloadReader,
    ) -> DecisionFuture<'_, SharedV2> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let (c, owner, friend, name) = (&conn, &owner, &friend, &name);
            // The grant and the volume from one snapshot (a fresh one for the second look).
            let found = with_payload(c, read, move || {
                snapshot(c, async move {
                    let live = match live_grant(c, owner, friend).await? {
                        Ok(live) => live,
                        Err(refused) => return Ok(Err(refused)),
                    };
                    // Decided from the grant before the volume is looked up (no existence
                    // oracle).
                    if live.grant.epoch_of(name).is_none() {
                        return Ok(Err(Refusal::Forbidden(NOT_SHARED)));
                    }
                    let Some(v) = v2_volume(c, owner, name).await? else {
                        return Ok(Err(Refusal::NotFound(NOT_FOUND)));
                    };
                    Ok(granted_key(&live, &v).map(|key| (v, key)))
                })
            })
            .await?;
            Ok(found.map(|(served, (wrapped_key, expires_at))| SharedV2 {
                served,
                wrapped_key,
                expires_at,
            }))
        })
    }

    fn v2_tombstone_for_owner(
        &self,
        owner: String,
        name: String,
    ) -> StoreFuture<'_, Option<TombstoneRow>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            tombstone(&conn, &owner, &name).await
        })
    }

    fn v2_tombstone_for_friend(
        &self,
        owner: String,
        friend: String,
        name: String,
    ) -> StoreFuture<'_, Option<TombstoneRow>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let named = matches!(
                live_grant(&tx, &owner, &friend).await?,
                Ok(live) if live.grant.epoch_of(&name).is_some()
            );
            let found = if named {
                tombstone(&tx, &owner, &name).await?
            } else {
                None
            };
            tx.commit().await?;
            Ok(found)
        })
    }
}
