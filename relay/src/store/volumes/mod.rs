//! Volume rows: the latest version of each (user, volume name), pointing at its blob file;
//! protocol v1 here, v2 (signed header bytes, epochs) in [`v2`].

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::{StoreError, fixed};

pub mod v2;

/// One stored volume version.
#[derive(Debug, Clone)]
pub struct VolumeRow {
    /// Owner (UUID text).
    pub user_id: String,
    /// Volume name.
    pub volume_name: String,
    /// Version (strictly increasing).
    pub version: u64,
    /// The uploaded control header object, as JSON text (sorted keys).
    pub control_header: String,
    /// Blob file name relative to the blob directory.
    pub blob_file: String,
    /// The owner's upload signature.
    pub signature: [u8; 64],
    /// Payload length in bytes.
    pub size_bytes: u64,
    /// Upload time, floored to the hour.
    pub updated_at: i64,
}

const COLUMNS: &str =
    "user_id, volume_name, version, control_header, blob_file, signature, size_bytes, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Result<VolumeRow, StoreError>> {
    from_row_at(row, 0)
}

/// A row whose volume columns ([`COLUMNS`], in order) start at column `at`.
fn from_row_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Result<VolumeRow, StoreError>> {
    let signature: Vec<u8> = row.get(at + 5)?;
    let version: i64 = row.get(at + 2)?;
    let size: i64 = row.get(at + 6)?;
    let (user_id, volume_name, control_header, blob_file, updated_at) = (
        row.get(at)?,
        row.get(at + 1)?,
        row.get(at + 3)?,
        row.get(at + 4)?,
        row.get(at + 7)?,
    );
    Ok(fixed(signature).map(|signature| VolumeRow {
        user_id,
        volume_name,
        version: version as u64,
        control_header,
        blob_file,
        signature,
        size_bytes: size as u64,
        updated_at,
    }))
}

/// What a friend's download of one volume needs: the active relationship's permissions and
/// wrapped VEK, and the volume's row if it exists.
#[derive(Debug)]
pub struct FriendDownload {
    /// The relationship's permissions JSON.
    pub permissions: String,
    /// The VEK wrapped for this friend.
    pub encrypted_vek_blob: Option<Vec<u8>>,
    /// The volume, if the system has published it.
    pub volume: Option<VolumeRow>,
}

/// [`FriendDownload`] in one statement (one read lock, one snapshot); `None` without an active
/// relationship. Runs on every v1 friend download (`CAST`: see `sessions::LOOKUP_SQL`).
pub fn friend_download(
    conn: &Connection,
    system: &str,
    friend: &str,
    name: &str,
) -> Result<Option<FriendDownload>, StoreError> {
    let v = COLUMNS.replace(", ", ", v.");
    conn.prepare_cached(&format!(
        "SELECT s.permissions, s.encrypted_vek_blob, v.{v} FROM sharing s \
         LEFT JOIN volumes v ON v.user_id = s.system_user_id AND v.volume_name = CAST(?3 AS TEXT) \
         WHERE s.system_user_id = CAST(?1 AS TEXT) AND s.friend_user_id = CAST(?2 AS TEXT) \
         AND s.status = 'active'"
    ))?
    .query_row([system, friend, name], |r| {
        let has_volume = r.get::<_, Option<String>>(2)?.is_some();
        Ok((
            r.get(0)?,
            r.get(1)?,
            if has_volume {
                Some(from_row_at(r, 2)?)
            } else {
                None
            },
        ))
    })
    .optional()?
    .map(|(permissions, encrypted_vek_blob, volume)| {
        Ok(FriendDownload {
            permissions,
            encrypted_vek_blob,
            volume: volume.transpose()?,
        })
    })
    .transpose()
}

/// One volume of a user.
pub fn get(conn: &Connection, user_id: &str, name: &str) -> Result<Option<VolumeRow>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM volumes WHERE user_id = ?1 AND volume_name = ?2"
    ))?
    .query_row([user_id, name], from_row)
    .optional()?
    .transpose()
}

/// All volumes of a user, by name.
pub fn list_for_user(conn: &Connection, user_id: &str) -> Result<Vec<VolumeRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM volumes WHERE user_id = ?1 ORDER BY volume_name"
    ))?;
    let rows = stmt.query_map([user_id], from_row)?;
    rows.map(|r| r?).collect()
}

/// Every volume (admin view), by owner then name.
pub fn list_all(conn: &Connection) -> Result<Vec<VolumeRow>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM volumes ORDER BY user_id, volume_name"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    rows.map(|r| r?).collect()
}

/// The stored version and size of a volume, if any.
pub fn version_and_size(
    conn: &Connection,
    user_id: &str,
    name: &str,
) -> Result<Option<(u64, u64)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT version, size_bytes FROM volumes WHERE user_id = ?1 AND volume_name = ?2",
        )?
        .query_row([user_id, name], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
        })
        .optional()?)
}

/// What [`put`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored; the previous blob (if any) can be removed once this transaction commits.
    Stored {
        /// The replaced version's blob file.
        replaced_blob: Option<String>,
    },
    /// The stored version is not lower than the new one.
    Stale {
        /// The stored version.
        current: u64,
    },
    /// The user's quota would be exceeded.
    OverQuota,
}

/// Stores a new version if it is newer and fits the quota; keeps `storage_used_bytes` exact.
/// Run inside the write transaction, so the check and the write are atomic.
pub fn put(
    conn: &Connection,
    row: &VolumeRow,
    max_user_storage: u64,
) -> Result<PutOutcome, StoreError> {
    let previous: Option<(i64, i64, String)> = conn
        .prepare_cached(
            "SELECT version, size_bytes, blob_file FROM volumes WHERE user_id = ?1 AND volume_name = ?2",
        )?
        .query_row([&row.user_id, &row.volume_name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let old_size = match &previous {
        Some((version, _, _)) if *version as u64 >= row.version => {
            return Ok(PutOutcome::Stale {
                current: *version as u64,
            });
        }
        Some((_, size, _)) => *size as u64,
        None => 0,
    };
    let used: i64 = conn
        .prepare_cached("SELECT storage_used_bytes FROM users WHERE id = ?1")?
        .query_row([&row.user_id], |r| r.get(0))?;
    let new_used = (used as u64)
        .saturating_sub(old_size)
        .saturating_add(row.size_bytes);
    if new_used > max_user_storage {
        return Ok(PutOutcome::OverQuota);
    }
    conn.prepare_cached(&format!(
        "INSERT INTO volumes ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (user_id, volume_name) DO UPDATE SET version = excluded.version, \
         control_header = excluded.control_header, blob_file = excluded.blob_file, \
         signature = excluded.signature, size_bytes = excluded.size_bytes, updated_at = excluded.updated_at"
    ))?
    .execute(params![
            row.user_id,
            row.volume_name,
            row.version as i64,
            row.control_header,
            row.blob_file,
            &row.signature[..],
            row.size_bytes as i64,
            row.updated_at,
    ])?;
    conn.prepare_cached("UPDATE users SET storage_used_bytes = ?2 WHERE id = ?1")?
        .execute(params![row.user_id, new_used as i64])?;
    Ok(PutOutcome::Stored {
        replaced_blob: previous.map(|(_, _, file)| file),
    })
}

/// The blob files `user`'s rows point at (for a page of the orphan sweep).
pub fn blob_files_of(conn: &Connection, user: &str) -> Result<HashSet<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT blob_file FROM volumes WHERE user_id = ?1 \
         UNION ALL SELECT blob_file FROM volumes_v2 WHERE user_id = ?1",
    )?;
    let rows = stmt.query_map([user], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
