//! Sessions: bearer tokens, stored only as SHA-256 digests (a stolen database backup cannot be
//! used to hijack a live session). Lookup is by digest; the token itself is never stored.

use rusqlite::{Connection, OptionalExtension as _, params};

use super::{ClientType, StoreError};

/// The user behind a valid session.
#[derive(Debug, Clone)]
pub struct SessionUser {
    /// UUID text.
    pub user_id: String,
    /// System or friend.
    pub client_type: ClientType,
    /// The user's feature set JSON.
    pub feature_set: String,
    /// Whether the account was registered through v2.
    pub is_v2: bool,
    /// When the session ends (Unix seconds).
    pub expires_at: i64,
    /// The session's public id (`None` only for a row written outside the relay).
    pub session_id: Option<String>,
    /// The hour it was last used (Unix seconds, floored to the hour).
    pub last_used_at: i64,
}

/// The protocol whose login made a session (stored as 1 or 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `POST /api/v1/auth/token` (no label: v1's request and answer bytes are unchanged).
    V1 = 1,
    /// `POST /api/v2/auth/token`.
    V2 = 2,
}

/// What a login records about its session besides the token's digest (docs/protocol-v2.md §11).
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Random public id (UUID text), never derived from the token.
    pub session_id: String,
    /// The client-chosen device label (v2 only), validated by the caller.
    pub device_label: Option<String>,
    /// Which login.
    pub protocol: Protocol,
    /// The login's time; stored floored to the hour, as creation and last use.
    pub now: i64,
}

/// Result of looking up a token digest.
#[derive(Debug)]
pub enum Lookup {
    /// A live session.
    Valid(SessionUser),
    /// The session existed but has expired (the caller deletes it).
    Expired,
    /// The session was revoked by its owner (docs/protocol-v2.md §11).
    Revoked,
    /// No such session.
    Unknown,
}

/// Stores a new session. Its expiry is exact (a security bound); its creation and last-use
/// times are hours.
pub fn insert(
    conn: &Connection,
    token_hash: &[u8; 32],
    user_id: &str,
    expires_at: i64,
    new: &NewSession,
) -> Result<(), StoreError> {
    let hour = super::hour(new.now);
    conn.prepare_cached(
        "INSERT INTO auth_sessions (token_hash, user_id, expires_at, session_id, device_label, \
         protocol, created_at, last_used_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![
        &token_hash[..],
        user_id,
        expires_at,
        new.session_id,
        new.device_label,
        new.protocol as i64,
        hour
    ])?;
    Ok(())
}

/// Stores a v1-like session whose public id is derived from the digest (tests only).
#[cfg(test)]
pub fn create(
    conn: &Connection,
    token_hash: &[u8; 32],
    user_id: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    let mut id = [0u8; 16];
    id.copy_from_slice(&token_hash[..16]);
    let new = NewSession {
        session_id: uuid::Uuid::from_bytes(id).to_string(),
        device_label: None,
        protocol: Protocol::V1,
        now: super::now(),
    };
    insert(conn, token_hash, user_id, expires_at, &new)
}

/// The session lookup of every authenticated request.
///
/// `CAST(?1 AS BLOB)` rather than a bare `?1`: SQLite (3.54, as bundled) re-prepares a *join*
/// whose WHERE compares a column with a bare parameter every time a new value is bound, which
/// made this statement cost a full SQL parse per request (coffer-bench, docs/BENCHMARKS.md).
/// The cast keeps the plan (an index search on `token_hash`) and the cached statement.
pub(crate) const LOOKUP_SQL: &str = "SELECT s.user_id, s.expires_at, u.client_type, \
    u.feature_set, u.key_binding_signature IS NOT NULL, s.session_id, s.last_used_at, s.revoked \
    FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = CAST(?1 AS BLOB)";

/// Finds the session for a token digest.
pub fn lookup(conn: &Connection, token_hash: &[u8; 32], now: i64) -> Result<Lookup, StoreError> {
    type Row = (String, i64, String, String, bool, Option<String>, i64, bool);
    let row: Option<Row> = conn
        .prepare_cached(LOOKUP_SQL)?
        .query_row([&token_hash[..]], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .optional()?;
    Ok(match row {
        None => Lookup::Unknown,
        Some((_, expires_at, ..)) if expires_at <= now => Lookup::Expired,
        Some((.., true)) => Lookup::Revoked,
        Some((
            user_id,
            expires_at,
            client_type,
            feature_set,
            is_v2,
            session_id,
            last_used_at,
            _,
        )) => Lookup::Valid(SessionUser {
            user_id,
            client_type: ClientType::parse(&client_type)
                .ok_or(StoreError::Corrupt("unknown client type"))?,
            feature_set,
            is_v2,
            expires_at,
            session_id,
            last_used_at,
        }),
    })
}

/// Deletes one session.
pub fn delete(conn: &Connection, token_hash: &[u8; 32]) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM auth_sessions WHERE token_hash = ?1",
        [&token_hash[..]],
    )?;
    Ok(())
}

/// Ends every session; returns how many there were.
pub fn expire_all(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn.execute("DELETE FROM auth_sessions", [])? as u64)
}

/// Live sessions (revoked ones are not).
pub fn count_active(conn: &Connection, now: i64) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM auth_sessions WHERE expires_at > ?1 AND revoked = 0",
        [now],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}
