//! Several devices of one system (`docs/protocol-v2.md` §13): the owner state (one opaque,
//! signed blob per account, replaced only by a higher version) and device links (a code, a
//! joining device's public key, label and proof, and the encrypted package for it).

use rusqlite::{Connection, OptionalExtension as _, params};

use super::{StoreError, fixed};

/// A stored owner state.
#[derive(Debug, Clone)]
pub struct OwnerState {
    /// The header's version.
    pub version: u64,
    /// Header bytes, exactly as signed.
    pub header: Vec<u8>,
    /// The identity's signature over them.
    pub signature: [u8; 64],
    /// The opaque payload.
    pub payload: Vec<u8>,
}

/// An `owner_states` row as read: version, header, signature, payload.
type StateRow = (i64, Vec<u8>, Vec<u8>, Vec<u8>);

/// The owner state of `user`.
pub fn owner_state(conn: &Connection, user: &str) -> Result<Option<OwnerState>, StoreError> {
    let row: Option<StateRow> = conn
        .prepare_cached(
            "SELECT version, header, signature, payload FROM owner_states WHERE user_id = ?1",
        )?
        .query_row([user], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    row.map(|(version, header, signature, payload)| {
        Ok(OwnerState {
            version: version as u64,
            header,
            signature: fixed(signature)?,
            payload,
        })
    })
    .transpose()
}

/// Replaces `user`'s owner state if `state.version` is higher than the stored one; `false`
/// (nothing written) otherwise.
pub fn put_owner_state(
    conn: &Connection,
    user: &str,
    state: &OwnerState,
    now_hour: i64,
) -> Result<bool, StoreError> {
    let current: Option<i64> = conn
        .prepare_cached("SELECT version FROM owner_states WHERE user_id = ?1")?
        .query_row([user], |r| r.get(0))
        .optional()?;
    if current.is_some_and(|c| c as u64 >= state.version) {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO owner_states (user_id, version, header, signature, payload, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (user_id) DO UPDATE SET \
         version = excluded.version, header = excluded.header, signature = excluded.signature, \
         payload = excluded.payload, updated_at = excluded.updated_at",
        params![
            user,
            state.version as i64,
            state.header,
            &state.signature[..],
            state.payload,
            now_hour
        ],
    )?;
    Ok(true)
}

/// A device link.
#[derive(Debug, Clone)]
pub struct DeviceLink {
    /// The code.
    pub code: String,
    /// The system account that made it.
    pub user_id: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// The joining device's X25519 key, label and proof, once it joined.
    pub join: Option<([u8; 32], String, [u8; 32])>,
    /// The package for the joining device, once the owner posted it.
    pub package: Option<Vec<u8>>,
}

/// Deletes every expired link (links live minutes; this runs on each link operation).
pub fn expire_links(conn: &Connection, now: i64) -> Result<u64, StoreError> {
    Ok(conn.execute("DELETE FROM device_links WHERE expires_at <= ?1", [now])? as u64)
}

/// Creates a link unless `user` already has `max_open` unexpired ones (`false` then).
pub fn create_link(
    conn: &Connection,
    code: &str,
    user: &str,
    expires_at: i64,
    max_open: u64,
) -> Result<bool, StoreError> {
    let open: i64 = conn.query_row(
        "SELECT count(*) FROM device_links WHERE user_id = ?1",
        [user],
        |r| r.get(0),
    )?;
    if open as u64 >= max_open {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO device_links (code, user_id, expires_at) VALUES (?1, ?2, ?3)",
        params![code, user, expires_at],
    )?;
    Ok(true)
}

/// The unexpired link `code`.
pub fn link(conn: &Connection, code: &str, now: i64) -> Result<Option<DeviceLink>, StoreError> {
    type Row = (
        String,
        i64,
        Option<Vec<u8>>,
        Option<String>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
    );
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT user_id, expires_at, device_key, label, proof, package FROM device_links \
             WHERE code = ?1 AND expires_at > ?2",
        )?
        .query_row(params![code, now], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .optional()?;
    let Some((user_id, expires_at, key, label, proof, package)) = row else {
        return Ok(None);
    };
    let join = match (key, label, proof) {
        (Some(key), Some(label), Some(proof)) => Some((fixed(key)?, label, fixed(proof)?)),
        _ => None,
    };
    Ok(Some(DeviceLink {
        code: code.to_owned(),
        user_id,
        expires_at,
        join,
        package,
    }))
}

/// Records the join of link `code` (which must have none yet).
pub fn set_join(
    conn: &Connection,
    code: &str,
    key: &[u8; 32],
    label: &str,
    proof: &[u8; 32],
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE device_links SET device_key = ?2, label = ?3, proof = ?4 WHERE code = ?1",
        params![code, &key[..], label, &proof[..]],
    )?;
    Ok(())
}

/// Stores the package of link `code`.
pub fn set_package(conn: &Connection, code: &str, package: &[u8]) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE device_links SET package = ?2 WHERE code = ?1",
        params![code, package],
    )?;
    Ok(())
}

/// Deletes link `code` (its package was fetched).
pub fn delete_link(conn: &Connection, code: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM device_links WHERE code = ?1", [code])?;
    Ok(())
}
