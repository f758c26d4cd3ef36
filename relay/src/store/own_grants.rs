//! The grants a system has given, for the system itself to read back (`GET /api/v2/grants`,
//! `docs/protocol-v2.md` §12): exact signed bytes, as stored by `grants::put_grant`.

use rusqlite::Connection;

use super::{StoreError, fixed};

/// One stored grant of an owner: (friend user id, grant bytes, signature).
pub type OwnGrantRow = (String, Vec<u8>, [u8; 64]);

/// Every stored grant `owner` has given, one per pairing, ordered by friend.
pub fn grants_of(conn: &Connection, owner: &str) -> Result<Vec<OwnGrantRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.friend_user_id, g.grant_bytes, g.signature FROM grants g \
         JOIN pairings p ON p.id = g.pairing_id WHERE p.system_user_id = ?1 \
         ORDER BY p.friend_user_id",
    )?;
    let rows = stmt.query_map([owner], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (friend, bytes, signature) = row?;
        out.push((friend, bytes, fixed(signature)?));
    }
    Ok(out)
}
