//! v2 volume tombstones (`docs/protocol-v2.md` §12): the owner-signed statement that one volume
//! is deleted, kept (exact bytes) in place of the volume's row so its versions never go back.
//! A later upload must be newer than the tombstone and clears it.

use rusqlite::{Connection, OptionalExtension as _, Row, params};

use crate::store::{StoreError, fixed};

/// A stored tombstone.
#[derive(Debug, Clone)]
pub struct TombstoneRow {
    /// Owner (UUID text).
    pub user_id: String,
    /// The deleted volume's name.
    pub volume_name: String,
    /// The tombstone's key epoch.
    pub epoch: u32,
    /// The tombstone's version (above the last published one).
    pub version: u64,
    /// The tombstone's signed hour.
    pub hour: u64,
    /// The exact signed tombstone bytes.
    pub tombstone: Vec<u8>,
    /// The owner's signature.
    pub signature: [u8; 64],
}

const COLUMNS: &str = "user_id, volume_name, epoch, version, hour, tombstone, signature";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<TombstoneRow, StoreError>> {
    let signature: Vec<u8> = r.get(6)?;
    let (user_id, volume_name, epoch, version, hour, tombstone): (
        String,
        String,
        i64,
        i64,
        i64,
        Vec<u8>,
    ) = (
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    );
    Ok(fixed(signature).map(|signature| TombstoneRow {
        user_id,
        volume_name,
        epoch: epoch as u32,
        version: version as u64,
        hour: hour as u64,
        tombstone,
        signature,
    }))
}

/// The tombstone of one volume, if it is deleted.
pub fn tombstone(
    conn: &Connection,
    user: &str,
    name: &str,
) -> Result<Option<TombstoneRow>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM tombstones WHERE user_id = ?1 AND volume_name = ?2"
    ))?
    .query_row([user, name], from_row)
    .optional()?
    .transpose()
}

/// All tombstones of a user, by volume name.
pub fn tombstones_of(conn: &Connection, user: &str) -> Result<Vec<TombstoneRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM tombstones WHERE user_id = ?1 ORDER BY volume_name"
    ))?;
    let rows = stmt.query_map([user], from_row)?;
    rows.map(|r| r?).collect()
}

/// For an upload of `(epoch, version)`: `Some((version, epoch))` of a tombstone it does not
/// supersede (version not above it, or an older epoch).
pub fn blocks(
    conn: &Connection,
    user: &str,
    name: &str,
    epoch: u32,
    version: u64,
) -> Result<Option<(u64, u32)>, StoreError> {
    Ok(tombstone(conn, user, name)?
        .filter(|t| t.version >= version || t.epoch > epoch)
        .map(|t| (t.version, t.epoch)))
}

/// Removes a volume's tombstone (an upload above it revived the volume), in the upload's
/// transaction.
pub fn clear(conn: &Connection, user: &str, name: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM tombstones WHERE user_id = ?1 AND volume_name = ?2")?
        .execute([user, name])?;
    Ok(())
}

/// What [`delete_volume`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The volume's row is gone and the tombstone stored; its blob can go after the commit.
    Deleted {
        /// The deleted version's blob file.
        blob: String,
        /// Its size, freed from the owner's storage.
        size: u64,
    },
    /// No live volume of that name.
    NotFound,
    /// The tombstone's version is not above the stored one, or its epoch is older.
    Stale {
        /// Stored version.
        current_version: u64,
        /// Stored epoch.
        current_epoch: u32,
    },
}

/// Deletes a live v2 volume in favour of `t`, atomically with the version/epoch check and the
/// owner's storage accounting.
pub fn delete_volume(conn: &Connection, t: &TombstoneRow) -> Result<DeleteOutcome, StoreError> {
    let live: Option<(i64, i64, i64, String)> = conn
        .prepare_cached(
            "SELECT epoch, version, size_bytes, blob_file FROM volumes_v2 \
             WHERE user_id = ?1 AND volume_name = ?2",
        )?
        .query_row([&t.user_id, &t.volume_name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((epoch, version, size, blob)) = live else {
        return Ok(DeleteOutcome::NotFound);
    };
    let (epoch, version, size) = (epoch as u32, version as u64, size as u64);
    if version >= t.version || epoch > t.epoch {
        return Ok(DeleteOutcome::Stale {
            current_version: version,
            current_epoch: epoch,
        });
    }
    conn.execute(
        "DELETE FROM volumes_v2 WHERE user_id = ?1 AND volume_name = ?2",
        [&t.user_id, &t.volume_name],
    )?;
    conn.execute(
        "UPDATE users SET storage_used_bytes = max(0, storage_used_bytes - ?2) WHERE id = ?1",
        params![t.user_id, size as i64],
    )?;
    conn.execute(
        &format!(
            "INSERT INTO tombstones ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (user_id, volume_name) DO UPDATE SET epoch = excluded.epoch, \
             version = excluded.version, hour = excluded.hour, tombstone = excluded.tombstone, \
             signature = excluded.signature"
        ),
        params![
            t.user_id,
            t.volume_name,
            i64::from(t.epoch),
            t.version as i64,
            t.hour as i64,
            t.tombstone,
            &t.signature[..]
        ],
    )?;
    Ok(DeleteOutcome::Deleted { blob, size })
}
