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
}

/// Result of looking up a token digest.
#[derive(Debug)]
pub enum Lookup {
    /// A live session.
    Valid(SessionUser),
    /// The session existed but has expired (the caller deletes it).
    Expired,
    /// No such session.
    Unknown,
}

/// Stores a new session.
pub fn create(
    conn: &Connection,
    token_hash: &[u8; 32],
    user_id: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO auth_sessions (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
        params![&token_hash[..], user_id, expires_at],
    )?;
    Ok(())
}

/// The session lookup of every authenticated request.
///
/// `CAST(?1 AS BLOB)` rather than a bare `?1`: SQLite (3.54, as bundled) re-prepares a *join*
/// whose WHERE compares a column with a bare parameter every time a new value is bound, which
/// made this statement cost a full SQL parse per request (coffer-bench, docs/BENCHMARKS.md).
/// The cast keeps the plan (an index search on `token_hash`) and the cached statement.
pub(crate) const LOOKUP_SQL: &str = "SELECT s.user_id, s.expires_at, u.client_type, \
    u.feature_set, u.key_binding_signature IS NOT NULL \
    FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = CAST(?1 AS BLOB)";

/// Finds the session for a token digest.
pub fn lookup(conn: &Connection, token_hash: &[u8; 32], now: i64) -> Result<Lookup, StoreError> {
    let row: Option<(String, i64, String, String, bool)> = conn
        .prepare_cached(LOOKUP_SQL)?
        .query_row([&token_hash[..]], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    Ok(match row {
        None => Lookup::Unknown,
        Some((_, expires_at, _, _, _)) if expires_at <= now => Lookup::Expired,
        Some((user_id, expires_at, client_type, feature_set, is_v2)) => {
            Lookup::Valid(SessionUser {
                user_id,
                client_type: ClientType::parse(&client_type)
                    .ok_or(StoreError::Corrupt("unknown client type"))?,
                feature_set,
                is_v2,
                expires_at,
            })
        }
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

/// Live sessions.
pub fn count_active(conn: &Connection, now: i64) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM auth_sessions WHERE expires_at > ?1",
        [now],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}
