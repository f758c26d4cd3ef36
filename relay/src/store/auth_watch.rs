//! Telling a session cache when what it holds may have changed.
//!
//! Every authenticated request needs its session (token digest → user), and reading it from
//! SQLite on the blocking pool costs a thread hand-off per request — the largest single cost
//! of a small download (docs/BENCHMARKS.md). The relay therefore caches sessions in memory
//! (`crate::session_cache`), and this module is what keeps that cache honest: temporary
//! triggers on the writer connection call a function that marks the *auth generation* dirty
//! whenever a session row is deleted or has a column a request is authorised by changed (not
//! its hourly last-use time), or a user row is deleted or has a column a session or a login
//! carries changed (`users::LoginAccount`: its signing key), cascades and `DELETE` without
//! `WHERE` included (a table with triggers is never truncated behind them). After every write transaction on the writer ends,
//! and *before* its callers are answered, a dirty generation is incremented. A cache entry is
//! used only while the generation it was read under is current.
//!
//! Readers take the generation *before* they read the database, so an entry read from the state
//! before a change is always tagged with the old generation, whichever way the read and the
//! commit interleave. Writes from other processes (an operator's `sqlite3` shell) are not seen;
//! the cache's time-to-live bounds how long they could go unnoticed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

use super::StoreError;

/// The SQL function the triggers call.
const FUNCTION: &str = "coffer_auth_changed";

/// The triggers (temporary: they live on the writer connection only, and never in the file).
const TRIGGERS: &str = "
CREATE TEMP TRIGGER IF NOT EXISTS coffer_sessions_deleted AFTER DELETE ON main.auth_sessions
    BEGIN SELECT coffer_auth_changed(); END;
CREATE TEMP TRIGGER IF NOT EXISTS coffer_sessions_updated
    AFTER UPDATE OF token_hash, user_id, expires_at, revoked ON main.auth_sessions
    BEGIN SELECT coffer_auth_changed(); END;
CREATE TEMP TRIGGER IF NOT EXISTS coffer_users_deleted AFTER DELETE ON main.users
    BEGIN SELECT coffer_auth_changed(); END;
CREATE TEMP TRIGGER IF NOT EXISTS coffer_users_updated
    AFTER UPDATE OF id, public_signing_key, client_type, feature_set, key_binding_signature ON main.users
    BEGIN SELECT coffer_auth_changed(); END;
";

/// The auth generation and its dirty flag.
#[derive(Debug, Default)]
pub struct AuthWatch {
    dirty: Arc<AtomicBool>,
    generation: AtomicU64,
}

impl AuthWatch {
    /// Installs the function and triggers on the writer connection.
    pub(super) fn install(writer: &Connection) -> Result<AuthWatch, StoreError> {
        let watch = AuthWatch::default();
        let dirty = Arc::clone(&watch.dirty);
        writer.create_scalar_function(FUNCTION, 0, FunctionFlags::SQLITE_UTF8, move |_| {
            dirty.store(true, Ordering::SeqCst);
            Ok(0_i64)
        })?;
        writer.execute_batch(TRIGGERS)?;
        Ok(watch)
    }

    /// Called after every transaction on the writer ends (committed or not), before anyone is
    /// told about it.
    pub(super) fn transaction_ended(&self) {
        if self.dirty.swap(false, Ordering::SeqCst) {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The current generation; take it *before* reading what is to be cached.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use super::super::tests::user;
    use super::super::volumes::{self, VolumeRow};
    use super::super::{ClientType, Db, sessions, users};

    /// A database with users `a` and `b`, each with one session.
    fn two_users() -> (tempfile::TempDir, Arc<Db>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        db.write_blocking(|tx| {
            for (id, digest) in [("a", [1u8; 32]), ("b", [2u8; 32])] {
                users::insert(tx, &user(id, id, ClientType::System))?;
                sessions::create(tx, &digest, id, i64::MAX)?;
            }
            Ok(())
        })
        .unwrap();
        (dir, db)
    }

    /// Runs `write` and says whether the auth generation moved.
    fn moves(
        db: &Db,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(), super::StoreError>,
    ) -> bool {
        let before = db.auth_generation();
        db.write_blocking(write).unwrap();
        db.auth_generation() != before
    }

    #[test]
    fn what_a_cached_session_depends_on_moves_the_generation() {
        let (_d, db) = two_users();
        assert!(
            moves(&db, |tx| sessions::delete(tx, &[1; 32])),
            "one session deleted"
        );
        assert!(
            moves(&db, |tx| sessions::expire_all(tx).map(drop)),
            "every session deleted (DELETE without WHERE: no truncation behind the trigger)"
        );
        let (_d, db) = two_users();
        assert!(
            moves(&db, |tx| {
                let update = users::ProfileUpdate {
                    handle: None,
                    protocol_version: None,
                    feature_set: Some(r#"["members:1"]"#.into()),
                };
                users::update_profile(tx, "a", &update).map(drop)
            }),
            "a session's feature set changed"
        );
        assert!(
            moves(&db, |tx| users::delete(tx, "b").map(drop)),
            "a user (and by cascade their sessions) deleted"
        );
    }

    #[test]
    fn what_it_does_not_depend_on_leaves_the_generation_alone() {
        let (_d, db) = two_users();
        assert!(
            !moves(&db, |tx| sessions::create(tx, &[3; 32], "a", i64::MAX)),
            "a new session"
        );
        assert!(
            !moves(&db, |tx| {
                let row = VolumeRow {
                    user_id: "a".into(),
                    volume_name: "meta".into(),
                    version: 1,
                    control_header: "{}".into(),
                    blob_file: "a/meta.v1.bin".into(),
                    signature: [0; 64],
                    size_bytes: 4124,
                    updated_at: 0,
                };
                // Updates users.storage_used_bytes: every upload does, and must not flush the cache.
                volumes::put(tx, &row, u64::MAX).map(drop)
            }),
            "an upload"
        );
        // A write that changed a session but failed (rolled back) still moves it: safe side.
        let before = db.auth_generation();
        let failed = db.write_blocking(|tx| {
            sessions::delete(tx, &[1; 32])?;
            Err::<(), _>(super::StoreError::Corrupt("fail after the delete"))
        });
        assert!(failed.is_err());
        assert_ne!(db.auth_generation(), before);
    }

    #[test]
    fn group_commits_move_it_before_answering() {
        let (_d, db) = two_users();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let before = db.auth_generation();
        rt.block_on(db.write(|tx| sessions::delete(tx, &[2; 32])))
            .unwrap();
        // Checked right after the answer, not eventually.
        assert_ne!(db.auth_generation(), before);
    }
}
