//! Invite codes: 12 characters from an unambiguous alphabet, single use, expiring.

use rusqlite::{Connection, OptionalExtension as _, params};

use super::StoreError;

/// An invite row.
#[derive(Debug, Clone)]
pub struct Invite {
    /// The code.
    pub code: String,
    /// The inviting system.
    pub system_user_id: String,
    /// Expiry (exact, Unix seconds).
    pub expires_at: i64,
    /// Whether it was redeemed.
    pub redeemed: bool,
    /// The protocol it was made for (1 or 2); a code only works with its own protocol.
    pub protocol: i64,
}

/// Stores a new invite unless the system already holds `max_open` live unredeemed ones.
/// Returns `false` when over that limit.
pub fn create(
    conn: &Connection,
    code: &str,
    system: &str,
    now: i64,
    expires_at: i64,
    max_open: u64,
    protocol: i64,
) -> Result<bool, StoreError> {
    let open: i64 = conn.query_row(
        "SELECT count(*) FROM invite_codes WHERE system_user_id = ?1 AND redeemed_at IS NULL AND expires_at > ?2",
        params![system, now],
        |r| r.get(0),
    )?;
    if open as u64 >= max_open {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO invite_codes (code, system_user_id, created_at, expires_at, protocol) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![code, system, super::hour(now), expires_at, protocol],
    )?;
    Ok(true)
}

/// Looks up an invite.
pub fn get(conn: &Connection, code: &str) -> Result<Option<Invite>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT code, system_user_id, expires_at, redeemed_at IS NOT NULL, protocol FROM invite_codes WHERE code = ?1",
            [code],
            |r| {
                Ok(Invite {
                    code: r.get(0)?,
                    system_user_id: r.get(1)?,
                    expires_at: r.get(2)?,
                    redeemed: r.get(3)?,
                    protocol: r.get(4)?,
                })
            },
        )
        .optional()?)
}

/// Marks an invite redeemed by `friend`.
pub fn mark_redeemed(
    conn: &Connection,
    code: &str,
    friend: &str,
    now_hour: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE invite_codes SET redeemed_by = ?2, redeemed_at = ?3 WHERE code = ?1",
        params![code, friend, now_hour],
    )?;
    Ok(())
}

/// (live unredeemed, redeemed) counts.
pub fn counts(conn: &Connection, now: i64) -> Result<(u64, u64), StoreError> {
    let (active, redeemed): (i64, i64) = conn.query_row(
        "SELECT count(*) FILTER (WHERE redeemed_at IS NULL AND expires_at > ?1), \
                count(*) FILTER (WHERE redeemed_at IS NOT NULL) FROM invite_codes",
        [now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((active as u64, redeemed as u64))
}
