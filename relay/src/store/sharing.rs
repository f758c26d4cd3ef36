//! Sharing relationships between a system and a friend. The relay stores the wrapped VEK as
//! opaque bytes; it cannot unwrap it.

use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::{ClientType, StoreError};

/// Relationship status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Requested, awaiting the system.
    Pending,
    /// Accepted.
    Active,
}

impl Status {
    /// Wire/database text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
        }
    }
}

/// A relationship row joined with both users' public fields.
#[derive(Debug, Clone)]
pub struct Relationship {
    /// UUID text.
    pub id: String,
    /// The system.
    pub system_user_id: String,
    /// The friend.
    pub friend_user_id: String,
    /// `pending`, `active` (or `revoked`, never written by v1).
    pub status: String,
    /// Permission flags as JSON text.
    pub permissions: String,
    /// The wrapped VEK (opaque).
    pub encrypted_vek_blob: Option<Vec<u8>>,
    /// Creation time, floored to the hour.
    pub created_at: i64,
    /// Last change, floored to the hour.
    pub updated_at: i64,
    /// The system's handle.
    pub system_handle: Option<String>,
    /// The system's X25519 key.
    pub system_exchange_key: Vec<u8>,
    /// The friend's handle.
    pub friend_handle: Option<String>,
    /// The friend's X25519 key.
    pub friend_exchange_key: Vec<u8>,
}

/// Parameters in the WHERE clauses below are `CAST(? AS TEXT)`, not bare: SQLite re-prepares a
/// join on every new binding of a bare parameter compared with a column (see
/// `sessions::LOOKUP_SQL`); `active_between` runs on every v1 friend download.
const SELECT: &str = "SELECT s.id, s.system_user_id, s.friend_user_id, s.status, s.permissions, \
    s.encrypted_vek_blob, s.created_at, s.updated_at, sy.handle, sy.public_exchange_key, \
    fr.handle, fr.public_exchange_key FROM sharing s \
    JOIN users sy ON sy.id = s.system_user_id JOIN users fr ON fr.id = s.friend_user_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Relationship> {
    Ok(Relationship {
        id: r.get(0)?,
        system_user_id: r.get(1)?,
        friend_user_id: r.get(2)?,
        status: r.get(3)?,
        permissions: r.get(4)?,
        encrypted_vek_blob: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        system_handle: r.get(8)?,
        system_exchange_key: r.get(9)?,
        friend_handle: r.get(10)?,
        friend_exchange_key: r.get(11)?,
    })
}

/// One relationship by id.
pub fn get(conn: &Connection, id: &str) -> Result<Option<Relationship>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE s.id = CAST(?1 AS TEXT)"))?
        .query_row([id], from_row)
        .optional()?)
}

/// The active relationship between a system and a friend, if any.
pub fn active_between(
    conn: &Connection,
    system: &str,
    friend: &str,
) -> Result<Option<Relationship>, StoreError> {
    Ok(conn
        .prepare_cached(&active_between_sql())?
        .query_row([system, friend], from_row)
        .optional()?)
}

/// The statement of [`active_between`].
pub(crate) fn active_between_sql() -> String {
    format!(
        "{SELECT} WHERE s.system_user_id = CAST(?1 AS TEXT) \
         AND s.friend_user_id = CAST(?2 AS TEXT) AND s.status = 'active'"
    )
}

/// Whether a pending or active relationship exists between the two.
pub fn exists_between(conn: &Connection, system: &str, friend: &str) -> Result<bool, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM sharing WHERE system_user_id = ?1 AND friend_user_id = ?2 AND status IN ('pending', 'active')",
        [system, friend],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// Creates a pending relationship (any old revoked row of the pair is replaced).
pub fn create_pending(
    conn: &Connection,
    id: &str,
    system: &str,
    friend: &str,
    now_hour: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM sharing WHERE system_user_id = ?1 AND friend_user_id = ?2",
        [system, friend],
    )?;
    conn.execute(
        "INSERT INTO sharing (id, system_user_id, friend_user_id, status, permissions, encrypted_vek_blob, created_at, updated_at) \
         VALUES (?1, ?2, ?3, 'pending', '{}', NULL, ?4, ?4)",
        params![id, system, friend, now_hour],
    )?;
    Ok(())
}

/// Relationships where `user` is on the `side` given, with one of `statuses`, newest first.
pub fn list_for(
    conn: &Connection,
    user: &str,
    side: ClientType,
    statuses: &[Status],
) -> Result<Vec<Relationship>, StoreError> {
    let column = match side {
        ClientType::System => "s.system_user_id",
        ClientType::Friend => "s.friend_user_id",
    };
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE {column} = CAST(?1 AS TEXT) AND s.status IN (CAST(?2 AS TEXT), CAST(?3 AS TEXT)) \
         ORDER BY s.created_at DESC, s.rowid DESC"
    ))?;
    let first = statuses.first().map_or("", |s| s.as_str());
    let second = statuses.get(1).map_or(first, |s| s.as_str());
    let rows = stmt.query_map([user, first, second], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every relationship (admin view).
pub fn list_all(conn: &Connection) -> Result<Vec<Relationship>, StoreError> {
    let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY s.created_at, s.id"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Accepts a pending relationship.
pub fn accept(
    conn: &Connection,
    id: &str,
    wrapped_vek: &[u8],
    permissions: &str,
    now_hour: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sharing SET status = 'active', encrypted_vek_blob = ?2, permissions = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, wrapped_vek, permissions, now_hour],
    )?;
    Ok(())
}

/// Replaces the permission flags.
pub fn set_permissions(
    conn: &Connection,
    id: &str,
    permissions: &str,
    now_hour: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sharing SET permissions = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, permissions, now_hour],
    )?;
    Ok(())
}

/// Deletes a relationship (reject, revoke, leave).
pub fn delete(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM sharing WHERE id = ?1", [id])? == 1)
}
