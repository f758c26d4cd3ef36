//! Users: public keys, handle, client type. Never a private key, never a password.

use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::{ClientType, StoreError, fixed};

/// A registered user.
#[derive(Debug, Clone)]
pub struct User {
    /// UUID text.
    pub id: String,
    /// Ed25519 public key.
    pub public_signing_key: [u8; 32],
    /// X25519 public key.
    pub public_exchange_key: [u8; 32],
    /// Public handle, unique ignoring ASCII case.
    pub handle: Option<String>,
    /// System or friend.
    pub client_type: ClientType,
    /// Protocol version announced at registration.
    pub protocol_version: i64,
    /// Feature set as JSON text (a list of strings), as v1's admin API returns it.
    pub feature_set: String,
    /// Sum of the user's stored payload sizes.
    pub storage_used_bytes: u64,
    /// Registration time, floored to the hour.
    pub created_at: i64,
    /// v2 key-binding signature (`None` for accounts registered through v1).
    pub key_binding_signature: Option<[u8; 64]>,
}

impl User {
    /// Whether the account was registered through v2 (has a key-binding proof).
    pub fn is_v2(&self) -> bool {
        self.key_binding_signature.is_some()
    }

    /// What a login is checked against.
    pub fn login_account(&self) -> LoginAccount {
        LoginAccount {
            signing_key: ed25519_dalek::VerifyingKey::from_bytes(&self.public_signing_key).ok(),
            is_v2: self.is_v2(),
        }
    }
}

/// What a login is checked against, and all it may use of the account: its signing key and
/// its protocol. Small and public, so the embedded store keeps it in memory
/// (`Db::cached_login_account`) and a login needs no read of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginAccount {
    /// The Ed25519 key the login's signature must verify under, its point already
    /// decompressed (a sixth of a verification's cost, paid once per account, not per login).
    /// `None`: the stored key is not a curve point (registration refuses those), so nothing
    /// verifies.
    pub signing_key: Option<ed25519_dalek::VerifyingKey>,
    /// Registered through v2 (logs in through v2 only).
    pub is_v2: bool,
}

const COLUMNS: &str = "id, public_signing_key, public_exchange_key, handle, client_type, \
                       protocol_version, feature_set, storage_used_bytes, created_at, key_binding_signature";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Result<User, StoreError>> {
    let client_type: String = row.get(4)?;
    let signing: Vec<u8> = row.get(1)?;
    let exchange: Vec<u8> = row.get(2)?;
    let used: i64 = row.get(7)?;
    let id: String = row.get(0)?;
    let handle: Option<String> = row.get(3)?;
    let protocol_version: i64 = row.get(5)?;
    let feature_set: String = row.get(6)?;
    let created_at: i64 = row.get(8)?;
    let binding: Option<Vec<u8>> = row.get(9)?;
    Ok((|| {
        Ok(User {
            id,
            public_signing_key: fixed(signing)?,
            public_exchange_key: fixed(exchange)?,
            handle,
            client_type: ClientType::parse(&client_type)
                .ok_or(StoreError::Corrupt("unknown client type"))?,
            protocol_version,
            feature_set,
            storage_used_bytes: u64::try_from(used).unwrap_or(0),
            created_at,
            key_binding_signature: binding.map(fixed).transpose()?,
        })
    })())
}

fn collect(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<User>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, from_row)?;
    rows.map(|r| r?).collect()
}

/// Whether `handle` is taken by someone other than `except`.
pub fn handle_taken(
    conn: &Connection,
    handle: &str,
    except: Option<&str>,
) -> Result<bool, StoreError> {
    let found: Option<String> = conn
        .query_row("SELECT id FROM users WHERE handle = ?1", [handle], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(found.is_some_and(|id| Some(id.as_str()) != except))
}

/// Inserts a user; `false` if the handle is taken.
pub fn insert(conn: &Connection, user: &User) -> Result<bool, StoreError> {
    if let Some(handle) = &user.handle
        && handle_taken(conn, handle, None)?
    {
        return Ok(false);
    }
    conn.execute(
        &format!("INSERT INTO users ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
        params![
            user.id,
            &user.public_signing_key[..],
            &user.public_exchange_key[..],
            user.handle,
            user.client_type.as_str(),
            user.protocol_version,
            user.feature_set,
            user.storage_used_bytes as i64,
            user.created_at,
            user.key_binding_signature.as_ref().map(|s| &s[..]),
        ],
    )?;
    Ok(true)
}

/// One user by id.
pub fn get(conn: &Connection, id: &str) -> Result<Option<User>, StoreError> {
    Ok(collect(
        conn,
        &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
        [id],
    )?
    .pop())
}

/// Every user, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<User>, StoreError> {
    collect(
        conn,
        &format!("SELECT {COLUMNS} FROM users ORDER BY created_at, id"),
        [],
    )
}

/// Profile changes of `PATCH /users/me`; `None` leaves a field unchanged.
#[derive(Debug, Default)]
pub struct ProfileUpdate {
    /// New handle (`Some(None)` clears it).
    pub handle: Option<Option<String>>,
    /// New protocol version.
    pub protocol_version: Option<i64>,
    /// New feature set JSON.
    pub feature_set: Option<String>,
}

/// Applies a profile update; `false` if the new handle is taken by someone else.
pub fn update_profile(
    conn: &Connection,
    id: &str,
    update: &ProfileUpdate,
) -> Result<bool, StoreError> {
    if let Some(handle) = &update.handle {
        if let Some(h) = handle
            && handle_taken(conn, h, Some(id))?
        {
            return Ok(false);
        }
        conn.execute(
            "UPDATE users SET handle = ?2 WHERE id = ?1",
            params![id, handle],
        )?;
    }
    if let Some(v) = update.protocol_version {
        conn.execute(
            "UPDATE users SET protocol_version = ?2 WHERE id = ?1",
            params![id, v],
        )?;
    }
    if let Some(f) = &update.feature_set {
        conn.execute(
            "UPDATE users SET feature_set = ?2 WHERE id = ?1",
            params![id, f],
        )?;
    }
    Ok(true)
}

/// Deletes a user and, through foreign keys, their sessions, challenges, volume rows, sharing
/// rows on both sides and invites; clears `redeemed_by` on others' invites. Returns whether the
/// user existed. The caller removes the blob directory after the commit.
pub fn delete(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM users WHERE id = ?1", [id])? == 1)
}

/// The user with exactly this handle (ignoring ASCII case), if any.
pub fn by_handle(conn: &Connection, handle: &str) -> Result<Option<User>, StoreError> {
    Ok(collect(
        conn,
        &format!("SELECT {COLUMNS} FROM users WHERE handle = ?1"),
        [handle],
    )?
    .pop())
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// v1 discovery: v1 users (never v2 accounts, which are found by exact handle only) of
/// `of_type` whose handle contains `query` (ASCII case-insensitive,
/// wildcards escaped), at most `limit`.
pub fn discover(
    conn: &Connection,
    query: &str,
    of_type: ClientType,
    limit: u64,
) -> Result<Vec<User>, StoreError> {
    let pattern = format!("%{}%", escape_like(query));
    collect(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM users WHERE client_type = ?1 AND handle IS NOT NULL \
             AND key_binding_signature IS NULL \
             AND handle LIKE ?2 ESCAPE '\\' ORDER BY handle LIMIT ?3"
        ),
        params![of_type.as_str(), pattern, limit as i64],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escaping() {
        assert_eq!(escape_like("a%b_c\\d"), "a\\%b\\_c\\\\d");
        assert_eq!(escape_like("plain"), "plain");
    }
}
