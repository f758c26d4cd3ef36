//! Protocol v2 grants: the owner-signed grant of a pairing and the wrapped keys it covers,
//! stored verbatim; a grant replaces the stored one only with a newer sequence.

use rusqlite::{Connection, OptionalExtension as _, params};

use super::{StoreError, fixed};

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
