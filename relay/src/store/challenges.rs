//! Login challenges: single-use, short-lived. Any attempt consumes the challenge.

use rusqlite::{Connection, OptionalExtension as _, params};

use super::StoreError;

/// Stores a challenge, keeping at most `max_per_user` outstanding ones for the user (the oldest
/// go first), so a challenge flood cannot grow the table without bound.
pub fn create(
    conn: &Connection,
    nonce: &str,
    user_id: &str,
    expires_at: i64,
    max_per_user: u64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO auth_challenges (nonce, user_id, expires_at) VALUES (?1, ?2, ?3)",
        params![nonce, user_id, expires_at],
    )?;
    conn.execute(
        "DELETE FROM auth_challenges WHERE user_id = ?1 AND nonce NOT IN \
         (SELECT nonce FROM auth_challenges WHERE user_id = ?1 ORDER BY expires_at DESC, rowid DESC LIMIT ?2)",
        params![user_id, max_per_user as i64],
    )?;
    Ok(())
}

/// Removes a challenge and returns its owner and expiry, if it existed.
pub fn take(conn: &Connection, nonce: &str) -> Result<Option<(String, i64)>, StoreError> {
    let found = conn
        .query_row(
            "DELETE FROM auth_challenges WHERE nonce = ?1 RETURNING user_id, expires_at",
            [nonce],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(found)
}

/// Unexpired challenges.
pub fn count_pending(conn: &Connection, now: i64) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM auth_challenges WHERE expires_at > ?1",
        [now],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}
