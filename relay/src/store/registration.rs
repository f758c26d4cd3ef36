//! Closed registration (docs/adr/0024-registration-and-operator-access.md): single-use
//! registration codes, held only as their SHA-256, and the user count the cap is checked
//! against. Called inside the registration's write transaction, so a check and the insert it
//! guards cannot be overtaken by another registration.

use rusqlite::{Connection, OptionalExtension as _, params};
use sha2::{Digest as _, Sha256};

use super::StoreError;

/// What a registration code is, in the `kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// Issued by the operator; registers one account of either type.
    Operator,
    /// A System's pairing invite code that registered one friend.
    Invite,
}

impl CodeKind {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Invite => "invite",
        }
    }
}

/// The stored form of a code.
pub fn code_hash(code: &str) -> [u8; 32] {
    Sha256::digest(code.as_bytes()).into()
}

/// Stores a new operator code's hash. `false` if the hash is already there (a repeated code).
pub fn create(
    conn: &Connection,
    hash: &[u8; 32],
    now: i64,
    expires_at: i64,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO registration_codes (code_hash, kind, created_at, expires_at) \
         VALUES (?1, 'operator', ?2, ?3)",
        params![&hash[..], super::hour(now), expires_at],
    )?;
    Ok(n == 1)
}

/// Whether an unused, unexpired operator code with this hash exists.
pub fn operator_code_open(
    conn: &Connection,
    hash: &[u8; 32],
    now: i64,
) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM registration_codes WHERE code_hash = ?1 AND kind = 'operator' \
             AND used_at IS NULL AND expires_at > ?2",
            params![&hash[..], now],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Whether a code with this hash was used already (of any kind).
pub fn used(conn: &Connection, hash: &[u8; 32]) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM registration_codes WHERE code_hash = ?1 AND used_at IS NOT NULL",
            [&hash[..]],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Marks a code used at `now` (to the hour): an operator code's row is updated, an invite
/// code gets a row that keeps it from registering a second account until `expires_at`.
pub fn mark_used(
    conn: &Connection,
    hash: &[u8; 32],
    kind: CodeKind,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    let hour = super::hour(now);
    conn.execute(
        "INSERT INTO registration_codes (code_hash, kind, created_at, expires_at, used_at) \
         VALUES (?1, ?2, ?3, ?4, ?3) \
         ON CONFLICT (code_hash) DO UPDATE SET used_at = ?3",
        params![&hash[..], kind.as_str(), hour, expires_at],
    )?;
    Ok(())
}

/// Deletes expired codes, used or not (they can no longer register anyone).
pub fn delete_expired(conn: &Connection, now: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM registration_codes WHERE expires_at <= ?1",
        [now],
    )?)
}

/// Operator codes not yet used and not expired.
pub fn open_operator_codes(conn: &Connection, now: i64) -> Result<u64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM registration_codes WHERE kind = 'operator' AND used_at IS NULL \
         AND expires_at > ?1",
        [now],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// Every account, v1 and v2, systems and friends.
pub fn user_count(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))? as u64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_single_use_and_expire() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrations::migrate(&mut conn).unwrap();
        let (now, later) = (7200, 7200 + 3600);
        let h = code_hash("abc");
        assert!(create(&conn, &h, now, later).unwrap());
        assert!(!create(&conn, &h, now, later).unwrap(), "a repeated code");
        assert!(operator_code_open(&conn, &h, now).unwrap());
        assert!(!operator_code_open(&conn, &h, later).unwrap(), "expired");
        assert_eq!(open_operator_codes(&conn, now).unwrap(), 1);
        mark_used(&conn, &h, CodeKind::Operator, now + 5, later).unwrap();
        assert!(!operator_code_open(&conn, &h, now).unwrap());
        assert!(used(&conn, &h).unwrap());
        let invite = code_hash("INVITECODE12");
        assert!(!used(&conn, &invite).unwrap());
        mark_used(&conn, &invite, CodeKind::Invite, now, later).unwrap();
        assert!(used(&conn, &invite).unwrap());
        assert!(
            !operator_code_open(&conn, &invite, now).unwrap(),
            "not an operator code"
        );
        let stored: Vec<u8> = conn
            .query_row(
                "SELECT code_hash FROM registration_codes WHERE kind = 'invite'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, invite.to_vec(), "only the hash is stored");
        assert_eq!(delete_expired(&conn, later).unwrap(), 2);
        assert_eq!(user_count(&conn).unwrap(), 0);
    }
}
