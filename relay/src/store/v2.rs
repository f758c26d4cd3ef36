//! Protocol v2 storage: exact header bytes and signatures, pairings with their proofs, owner-signed
//! grants and the wrapped keys they cover. The relay stores what clients signed verbatim and
//! never re-serialises it (P4); it cannot forge a header, a grant or a proof.

use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::{StoreError, fixed};

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
    let old_size = previous.as_ref().map_or(0, |p| p.size_bytes);
    let used: i64 = conn.query_row(
        "SELECT storage_used_bytes FROM users WHERE id = ?1",
        [&v.user_id],
        |r| r.get(0),
    )?;
    let new_used = (used as u64)
        .saturating_sub(old_size)
        .saturating_add(v.size_bytes);
    if new_used > max_user_storage {
        return Ok(PutOutcome::OverQuota);
    }
    conn.execute(
        &format!(
            "INSERT INTO volumes_v2 ({VOLUME_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (user_id, volume_name) DO UPDATE SET epoch = excluded.epoch, version = excluded.version, \
             header = excluded.header, signature = excluded.signature, blob_file = excluded.blob_file, \
             size_bytes = excluded.size_bytes, updated_at = excluded.updated_at"
        ),
        params![
            v.user_id,
            v.volume_name,
            i64::from(v.epoch),
            v.version as i64,
            v.header,
            &v.signature[..],
            v.blob_file,
            v.size_bytes as i64,
            v.updated_at
        ],
    )?;
    conn.execute(
        "UPDATE users SET storage_used_bytes = ?2 WHERE id = ?1",
        params![v.user_id, new_used as i64],
    )?;
    Ok(PutOutcome::Stored {
        replaced_blob: previous.map(|p| p.blob_file),
    })
}

/// A pairing between a system and a friend.
#[derive(Debug, Clone)]
pub struct Pairing {
    /// UUID text.
    pub id: String,
    /// The system.
    pub system_user_id: String,
    /// The friend.
    pub friend_user_id: String,
    /// `pending` until the first grant, then `active`.
    pub status: String,
    /// The invite code redeemed.
    pub code: String,
    /// The friend's proof over its keys, keyed by the invite secret (opaque to the relay).
    pub proof: [u8; 32],
    /// Creation hour.
    pub created_at: i64,
}

const PAIRING_COLUMNS: &str = "id, system_user_id, friend_user_id, status, code, proof, created_at";

fn pairing_from_row(r: &Row<'_>) -> rusqlite::Result<Result<Pairing, StoreError>> {
    let proof: Vec<u8> = r.get(5)?;
    let (id, system_user_id, friend_user_id, status, code, created_at) = (
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(6)?,
    );
    Ok(fixed(proof).map(|proof| Pairing {
        id,
        system_user_id,
        friend_user_id,
        status,
        code,
        proof,
        created_at,
    }))
}

/// Creates a pending pairing; `false` if the pair is already paired.
pub fn create_pairing(conn: &Connection, p: &Pairing) -> Result<bool, StoreError> {
    let exists: i64 = conn.query_row(
        "SELECT count(*) FROM pairings WHERE system_user_id = ?1 AND friend_user_id = ?2",
        [&p.system_user_id, &p.friend_user_id],
        |r| r.get(0),
    )?;
    if exists > 0 {
        return Ok(false);
    }
    conn.execute(
        &format!("INSERT INTO pairings ({PAIRING_COLUMNS}, updated_at) VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?6)"),
        params![p.id, p.system_user_id, p.friend_user_id, p.code, &p.proof[..], p.created_at],
    )?;
    Ok(true)
}

/// One pairing by id.
pub fn pairing(conn: &Connection, id: &str) -> Result<Option<Pairing>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {PAIRING_COLUMNS} FROM pairings WHERE id = ?1"
    ))?
    .query_row([id], pairing_from_row)
    .optional()?
    .transpose()
}

/// The pairing between a system and a friend.
pub fn pairing_between(
    conn: &Connection,
    system: &str,
    friend: &str,
) -> Result<Option<Pairing>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {PAIRING_COLUMNS} FROM pairings WHERE system_user_id = ?1 AND friend_user_id = ?2"
    ))?
    .query_row([system, friend], pairing_from_row)
    .optional()?
    .transpose()
}

/// Pairings a user is part of, newest first.
pub fn pairings_of(conn: &Connection, user: &str) -> Result<Vec<Pairing>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PAIRING_COLUMNS} FROM pairings WHERE system_user_id = ?1 OR friend_user_id = ?1 ORDER BY created_at DESC, id"
    ))?;
    let rows = stmt.query_map([user], pairing_from_row)?;
    rows.map(|r| r?).collect()
}

/// Deletes a pairing; its grant and wrapped keys go with it (foreign keys).
pub fn delete_pairing(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM pairings WHERE id = ?1", [id])? == 1)
}

/// A stored grant.
#[derive(Debug, Clone)]
pub struct StoredGrant {
    /// Sequence number.
    pub sequence: u64,
    /// Expiry (Unix seconds, 0 = never).
    pub expires_at: u64,
    /// Exact signed bytes.
    pub grant_bytes: Vec<u8>,
    /// Owner's signature.
    pub signature: [u8; 64],
}

/// The grant of a pairing.
pub fn grant(conn: &Connection, pairing_id: &str) -> Result<Option<StoredGrant>, StoreError> {
    let row: Option<(i64, i64, Vec<u8>, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT sequence, expires_at, grant_bytes, signature FROM grants WHERE pairing_id = ?1",
        )?
        .query_row([pairing_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    row.map(|(sequence, expires_at, grant_bytes, signature)| {
        Ok(StoredGrant {
            sequence: sequence as u64,
            expires_at: expires_at as u64,
            grant_bytes,
            signature: fixed(signature)?,
        })
    })
    .transpose()
}

/// Replaces a pairing's grant and wrapped keys if `sequence` is newer; activates the pairing.
/// Returns the stored sequence instead when it is not.
pub fn put_grant(
    conn: &Connection,
    pairing_id: &str,
    grant: &StoredGrant,
    keys: &[(String, u32, [u8; 60])],
    now_hour: i64,
) -> Result<Result<(), u64>, StoreError> {
    if let Some(current) = self::grant(conn, pairing_id)?
        && current.sequence >= grant.sequence
    {
        return Ok(Err(current.sequence));
    }
    conn.execute(
        "INSERT INTO grants (pairing_id, sequence, expires_at, grant_bytes, signature, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (pairing_id) DO UPDATE SET sequence = excluded.sequence, expires_at = excluded.expires_at, \
         grant_bytes = excluded.grant_bytes, signature = excluded.signature, updated_at = excluded.updated_at",
        params![pairing_id, grant.sequence as i64, grant.expires_at as i64, grant.grant_bytes, &grant.signature[..], now_hour],
    )?;
    conn.execute("DELETE FROM grant_keys WHERE pairing_id = ?1", [pairing_id])?;
    for (volume, epoch, wrapped) in keys {
        conn.execute(
            "INSERT INTO grant_keys (pairing_id, volume_name, epoch, wrapped_key) VALUES (?1, ?2, ?3, ?4)",
            params![pairing_id, volume, i64::from(*epoch), &wrapped[..]],
        )?;
    }
    conn.execute(
        "UPDATE pairings SET status = 'active', updated_at = ?2 WHERE id = ?1",
        params![pairing_id, now_hour],
    )?;
    Ok(Ok(()))
}

/// The wrapped keys of a pairing's grant: (volume, epoch, wrapped).
pub fn grant_keys(
    conn: &Connection,
    pairing_id: &str,
) -> Result<Vec<(String, u32, [u8; 60])>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT volume_name, epoch, wrapped_key FROM grant_keys WHERE pairing_id = ?1 ORDER BY volume_name")?;
    let rows = stmt.query_map([pairing_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    rows.map(|r| {
        let (volume, epoch, wrapped) = r?;
        Ok((volume, epoch as u32, fixed(wrapped)?))
    })
    .collect()
}
