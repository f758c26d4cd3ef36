//! Protocol v2 pairings: a system and a friend, with the friend's proof over its keys (keyed by
//! the invite secret the relay never sees, so it cannot forge one) — or, for a *replica*
//! pairing that the friend asked for on a further relay of the system's (docs/protocol-v2.md
//! §6), with neither code nor proof: there the owner-signed grant that activates it names the
//! friend's fingerprint.

use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::{StoreError, fixed};

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
    /// The invite code redeemed (`None` for a replica pairing).
    pub code: Option<String>,
    /// The friend's proof over its keys, keyed by the invite secret (opaque to the relay;
    /// `None` for a replica pairing).
    pub proof: Option<[u8; 32]>,
    /// Creation hour.
    pub created_at: i64,
}

const PAIRING_COLUMNS: &str = "id, system_user_id, friend_user_id, status, code, proof, created_at";

fn pairing_from_row(r: &Row<'_>) -> rusqlite::Result<Result<Pairing, StoreError>> {
    let proof: Option<Vec<u8>> = r.get(5)?;
    let (id, system_user_id, friend_user_id, status, code, created_at) = (
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(6)?,
    );
    Ok(proof.map(fixed).transpose().map(|proof| Pairing {
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
        params![p.id, p.system_user_id, p.friend_user_id, p.code, p.proof.as_ref().map(|x| &x[..]), p.created_at],
    )?;
    Ok(true)
}

/// Creates a pending *replica request* (no code, no proof) from `friend` to `system` at `hour`:
/// the friend asked for a pairing on one more of the system's relays; the system's grant
/// activates it. `false` if the pair is already paired.
pub fn create_replica_request(
    conn: &Connection,
    id: &str,
    system: &str,
    friend: &str,
    hour: i64,
) -> Result<bool, StoreError> {
    if pairing_between(conn, system, friend)?.is_some() {
        return Ok(false);
    }
    conn.execute(
        &format!(
            "INSERT INTO pairings ({PAIRING_COLUMNS}, updated_at) \
             VALUES (?1, ?2, ?3, 'pending', NULL, NULL, ?4, ?4)"
        ),
        params![id, system, friend, hour],
    )?;
    Ok(true)
}

/// How many pending replica requests (no code) `friend` has open.
pub fn pending_replica_requests(conn: &Connection, friend: &str) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM pairings \
         WHERE friend_user_id = ?1 AND status = 'pending' AND code IS NULL",
        [friend],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
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
