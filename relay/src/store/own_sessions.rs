//! A user's own sessions (docs/protocol-v2.md §11): the list, revoking one or all but the
//! current one, and the hourly last-use mark. Revoking marks the row (it stays as a tombstone
//! until its expiry, when maintenance deletes it like any expired session): that moves the
//! auth generation (`auth_watch`), so a revoked token is refused from the very next request,
//! cached or not, and refused as *revoked*, which tells its client not to log in again by
//! itself.

use rusqlite::{Connection, params};

use super::StoreError;
use super::sessions::Protocol;

/// One row of a user's session list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnSession {
    /// Public id (UUID text).
    pub session_id: String,
    /// Client-chosen label, if any.
    pub device_label: Option<String>,
    /// Which login made it.
    pub protocol: Protocol,
    /// Creation hour (Unix seconds).
    pub created_at: i64,
    /// Last-use hour (Unix seconds).
    pub last_used_at: i64,
}

/// The live sessions of `user_id` at `now`, oldest first, at most `limit`.
pub fn list(
    conn: &Connection,
    user_id: &str,
    now: i64,
    limit: usize,
) -> Result<Vec<OwnSession>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT session_id, device_label, protocol, created_at, last_used_at FROM auth_sessions \
         WHERE user_id = ?1 AND expires_at > ?2 AND revoked = 0 AND session_id IS NOT NULL \
         ORDER BY created_at, session_id LIMIT ?3",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![user_id, now, limit], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (session_id, device_label, protocol, created_at, last_used_at) = row?;
        let protocol = match protocol {
            1 => Protocol::V1,
            2 => Protocol::V2,
            _ => return Err(StoreError::Corrupt("unknown session protocol")),
        };
        out.push(OwnSession {
            session_id,
            device_label,
            protocol,
            created_at,
            last_used_at,
        });
    }
    Ok(out)
}

/// Ends the session `session_id` if it is `user_id`'s; whether it was.
pub fn revoke(conn: &Connection, user_id: &str, session_id: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE auth_sessions SET revoked = 1 \
         WHERE user_id = ?1 AND session_id = ?2 AND revoked = 0",
        params![user_id, session_id],
    )? > 0)
}

/// Ends every session of `user_id` except `keep` (the caller's own); how many.
pub fn revoke_others(conn: &Connection, user_id: &str, keep: &str) -> Result<u64, StoreError> {
    Ok(conn.execute(
        "UPDATE auth_sessions SET revoked = 1 \
         WHERE user_id = ?1 AND session_id IS NOT ?2 AND revoked = 0",
        params![user_id, keep],
    )? as u64)
}

/// Records that the session of `token_hash` was used in `hour` (floored). One write per
/// session per hour at most: callers skip it when the hour they hold is already current.
pub fn touch(conn: &Connection, token_hash: &[u8; 32], hour: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE auth_sessions SET last_used_at = ?2 WHERE token_hash = ?1 AND last_used_at < ?2",
        params![&token_hash[..], super::hour(hour)],
    )?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::sessions::{self, NewSession};
    use super::super::tests::user;
    use super::super::{ClientType, Db, users};
    use super::*;

    fn session(id: &str, label: Option<&str>, now: i64) -> NewSession {
        NewSession {
            session_id: id.into(),
            device_label: label.map(str::to_owned),
            protocol: Protocol::V2,
            now,
        }
    }

    #[test]
    fn own_sessions_are_listed_revoked_and_touched_by_the_hour() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let t = 1_700_000_000 + 1234;
        db.write_blocking(|tx| {
            for id in ["a", "b"] {
                users::insert(tx, &user(id, id, ClientType::System))?;
            }
            sessions::insert(
                tx,
                &[1; 32],
                "a",
                i64::MAX,
                &session("s1", Some("Pixel"), t),
            )?;
            sessions::insert(tx, &[2; 32], "a", i64::MAX, &session("s2", None, t))?;
            sessions::insert(tx, &[3; 32], "a", i64::MAX, &session("s3", None, t))?;
            sessions::insert(tx, &[4; 32], "b", i64::MAX, &session("s4", None, t))?;
            Ok(())
        })
        .unwrap();
        let listed = db.read_blocking(|c| list(c, "a", t, 100)).unwrap();
        assert_eq!(listed.len(), 3);
        assert!(
            listed
                .iter()
                .all(|s| s.created_at % 3600 == 0 && s.last_used_at % 3600 == 0)
        );
        assert_eq!(listed[0].session_id, "s1");
        assert_eq!(listed[0].device_label.as_deref(), Some("Pixel"));
        // Someone else's id names nothing.
        assert!(!db.write_blocking(|tx| revoke(tx, "a", "s4")).unwrap());
        // Touching moves last use to the hour, without moving the auth generation.
        let generation = db.auth_generation();
        db.write_blocking(|tx| touch(tx, &[1; 32], t + 7200))
            .unwrap();
        assert_eq!(db.auth_generation(), generation, "a touch keeps the cache");
        let listed = db.read_blocking(|c| list(c, "a", t, 100)).unwrap();
        assert_eq!(listed[0].last_used_at, super::super::hour(t + 7200));
        // Revoking moves it (the cache must not serve the revoked token).
        assert!(db.write_blocking(|tx| revoke(tx, "a", "s2")).unwrap());
        assert_ne!(db.auth_generation(), generation);
        assert!(matches!(
            db.read_blocking(|c| sessions::lookup(c, &[2; 32], t))
                .unwrap(),
            sessions::Lookup::Revoked
        ));
        assert!(
            !db.write_blocking(|tx| revoke(tx, "a", "s2")).unwrap(),
            "once"
        );
        assert_eq!(
            db.write_blocking(|tx| revoke_others(tx, "a", "s1"))
                .unwrap(),
            1
        );
        let listed = db.read_blocking(|c| list(c, "a", t, 100)).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(db.write_blocking(|tx| revoke(tx, "a", "s1")).unwrap());
        assert_eq!(db.read_blocking(|c| list(c, "b", t, 100)).unwrap().len(), 1);
    }
}
