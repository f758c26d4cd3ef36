//! Protocol v2 volumes: the exact signed header bytes and signature of each version, stored
//! verbatim and never re-serialised (P4), with the version/epoch and quota checks of a put. The
//! relay cannot forge a header.

use rusqlite::{Connection, OptionalExtension as _, Row, params};

use crate::store::{StoreError, fixed};

/// A stored v2 volume version.
#[derive(Debug, Clone)]
pub struct VolumeV2 {
    /// Owner (UUID text).
    pub user_id: String,
    /// Volume name.
    pub volume_name: String,
    /// Key epoch.
    pub epoch: u32,
    /// Version.
    pub version: u64,
    /// The exact signed header bytes.
    pub header: Vec<u8>,
    /// The owner's header signature.
    pub signature: [u8; 64],
    /// Blob file (relative to the blob directory).
    pub blob_file: String,
    /// Payload length.
    pub size_bytes: u64,
    /// Upload hour.
    pub updated_at: i64,
}

const VOLUME_COLUMNS: &str =
    "user_id, volume_name, epoch, version, header, signature, blob_file, size_bytes, updated_at";

fn volume_from_row(r: &Row<'_>) -> rusqlite::Result<Result<VolumeV2, StoreError>> {
    let signature: Vec<u8> = r.get(5)?;
    let (user_id, volume_name, epoch, version, header, blob_file, size, updated_at): (
        String,
        String,
        i64,
        i64,
        Vec<u8>,
        String,
        i64,
        i64,
    ) = (
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    );
    Ok(fixed(signature).map(|signature| VolumeV2 {
        user_id,
        volume_name,
        epoch: epoch as u32,
        version: version as u64,
        header,
        signature,
        blob_file,
        size_bytes: size as u64,
        updated_at,
    }))
}

/// One v2 volume.
pub fn volume(conn: &Connection, user: &str, name: &str) -> Result<Option<VolumeV2>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {VOLUME_COLUMNS} FROM volumes_v2 WHERE user_id = ?1 AND volume_name = ?2"
    ))?
    .query_row([user, name], volume_from_row)
    .optional()?
    .transpose()
}

/// All v2 volumes of a user, by name.
pub fn volumes_of(conn: &Connection, user: &str) -> Result<Vec<VolumeV2>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {VOLUME_COLUMNS} FROM volumes_v2 WHERE user_id = ?1 ORDER BY volume_name"
    ))?;
    let rows = stmt.query_map([user], volume_from_row)?;
    rows.map(|r| r?).collect()
}

/// The stored (epoch, version, size) of a v2 volume.
pub fn volume_state(
    conn: &Connection,
    user: &str,
    name: &str,
) -> Result<Option<(u32, u64, u64)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT epoch, version, size_bytes FROM volumes_v2 WHERE user_id = ?1 AND volume_name = ?2")?
        .query_row([user, name], |r| {
            Ok((r.get::<_, i64>(0)? as u32, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64))
        })
        .optional()?)
}

/// What [`put_volume`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored; the replaced blob can go after the commit.
    Stored {
        /// Blob of the replaced version.
        replaced_blob: Option<String>,
    },
    /// Version not newer, or epoch older, than what is stored.
    Stale {
        /// Stored version.
        current_version: u64,
        /// Stored epoch.
        current_epoch: u32,
    },
    /// Quota exceeded.
    OverQuota,
}

/// Stores a new v2 version atomically with the version/epoch and quota checks.
pub fn put_volume(
    conn: &Connection,
    v: &VolumeV2,
    max_user_storage: u64,
) -> Result<PutOutcome, StoreError> {
    let previous = volume(conn, &v.user_id, &v.volume_name)?;
    if let Some(p) = &previous
        && (p.version >= v.version || p.epoch > v.epoch)
    {
        return Ok(PutOutcome::Stale {
            current_version: p.version,
            current_epoch: p.epoch,
        });
    }
    if let Some((current_version, current_epoch)) =
        crate::store::tombstones::blocks(conn, &v.user_id, &v.volume_name, v.epoch, v.version)?
    {
        return Ok(PutOutcome::Stale {
            current_version,
            current_epoch,
        });
    }
    let old_size = previous.as_ref().map_or(0, |p| p.size_bytes);
    let used: i64 = conn
        .prepare_cached("SELECT storage_used_bytes FROM users WHERE id = ?1")?
        .query_row([&v.user_id], |r| r.get(0))?;
    let new_used = (used as u64)
        .saturating_sub(old_size)
        .saturating_add(v.size_bytes);
    if new_used > max_user_storage {
        return Ok(PutOutcome::OverQuota);
    }
    conn.prepare_cached(&format!(
        "INSERT INTO volumes_v2 ({VOLUME_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (user_id, volume_name) DO UPDATE SET epoch = excluded.epoch, version = excluded.version, \
         header = excluded.header, signature = excluded.signature, blob_file = excluded.blob_file, \
         size_bytes = excluded.size_bytes, updated_at = excluded.updated_at"
    ))?
    .execute(params![
            v.user_id,
            v.volume_name,
            i64::from(v.epoch),
            v.version as i64,
            v.header,
            &v.signature[..],
            v.blob_file,
            v.size_bytes as i64,
            v.updated_at
    ])?;
    conn.prepare_cached("UPDATE users SET storage_used_bytes = ?2 WHERE id = ?1")?
        .execute(params![v.user_id, new_used as i64])?;
    crate::store::tombstones::clear(conn, &v.user_id, &v.volume_name)?;
    Ok(PutOutcome::Stored {
        replaced_blob: previous.map(|p| p.blob_file),
    })
}
