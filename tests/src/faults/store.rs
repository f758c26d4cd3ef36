//! What a stopped relay left on disk, checked from outside: the relay's own consistency check
//! (`coffer_relay::store::check`: `PRAGMA integrity_check`, foreign keys, every volume row's
//! blob file present with its recorded size, every user's `storage_used_bytes` equal to what
//! its rows hold), plus what the fault tests look at besides: the files no row points at, by
//! path (orphans, temporary files), and how many expiring rows are left.
//!
//! Run it only while the relay is stopped: a read-only connection must not race the relay's
//! writer, and after a graceful stop the WAL is checkpointed into the main file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::relay::{RelayProcess, files_under};

/// The result of [`check_store`].
#[derive(Debug, Clone)]
pub struct StoreReport {
    /// v1 and v2 volume rows.
    pub volume_rows: usize,
    /// Blob files the rows point at (relative to the blob directory).
    pub referenced: BTreeSet<String>,
    /// Files under the blob directory no row points at (temporary files included).
    pub unreferenced: Vec<PathBuf>,
    /// Rows of the expiring tables: challenges, sessions, unredeemed invites.
    pub expiring_rows: u64,
}

/// Stops `relay` gracefully and checks its store: consistent, and no file without a row (the
/// start-up sweep ran, and nothing was interrupted since). Panics, naming `label`, otherwise.
pub async fn stop_and_check(relay: &mut RelayProcess, label: &str) -> StoreReport {
    let status = relay.terminate().await;
    assert!(status.success(), "{label}: relay exited with {status}");
    let report = check_store(&relay.database_path(), &relay.blob_dir())
        .unwrap_or_else(|e| panic!("{label}: inconsistent store:\n{e}"));
    assert!(
        report.unreferenced.is_empty(),
        "{label}: {} files no row points at, e.g. {:?}",
        report.unreferenced.len(),
        report.unreferenced.first()
    );
    report
}

/// Checks the database against the blob directory; `Err` lists every inconsistency found.
pub fn check_store(db: &Path, blobs: &Path) -> Result<StoreReport, String> {
    let consistency = coffer_relay::store::check::check(db, blobs)
        .map_err(|e| format!("check {}: {e}", db.display()))?;
    if !consistency.is_consistent() {
        return Err(format!("{consistency:#?}"));
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("open {} read-only: {e}", db.display()))?;
    let sql = |e: rusqlite::Error| format!("query {}: {e}", db.display());
    let referenced: BTreeSet<String> = conn
        .prepare("SELECT blob_file FROM volumes UNION ALL SELECT blob_file FROM volumes_v2")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(sql)?;
    let expiring_rows: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM auth_challenges) + (SELECT count(*) FROM auth_sessions) \
             + (SELECT count(*) FROM invite_codes WHERE redeemed_at IS NULL)",
            [],
            |r| r.get(0),
        )
        .map_err(sql)?;
    let unreferenced: Vec<PathBuf> = files_under(blobs)
        .into_iter()
        .filter(|p| {
            p.strip_prefix(blobs)
                .ok()
                .and_then(Path::to_str)
                .is_none_or(|rel| !referenced.contains(rel))
        })
        .collect();
    Ok(StoreReport {
        volume_rows: usize::try_from(consistency.volume_rows).unwrap_or(usize::MAX),
        referenced,
        unreferenced,
        expiring_rows: u64::try_from(expiring_rows).unwrap_or(0),
    })
}

pub use crate::backend::sqlite_payload_places as payload_places;

/// Inline payloads stored in the database, whether or not a row names them.
pub fn inline_payload_count(db: &Path) -> u64 {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("open {} read-only: {e}", db.display()));
    let n: i64 = conn
        .query_row("SELECT count(*) FROM inline_payloads", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("query {}: {e}", db.display()));
    u64::try_from(n).unwrap_or(0)
}

/// The database's write lock, held by another connection (as an operator's `sqlite3` shell
/// holds it inside a transaction) until [`WriteLock::release`] or drop. In WAL mode readers go
/// on; the relay's writes wait for it (up to their busy timeout).
#[derive(Debug)]
pub struct WriteLock {
    release: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WriteLock {
    /// Takes the write lock of the database at `db` (`BEGIN EXCLUSIVE`); returns once it is held.
    pub fn hold(db: &Path) -> WriteLock {
        let (taken_tx, taken_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let db = db.to_owned();
        let thread = std::thread::spawn(move || {
            let conn = Connection::open(&db).expect("open the relay's database");
            conn.execute_batch("BEGIN EXCLUSIVE")
                .expect("take the database's write lock");
            taken_tx.send(()).expect("the test waits for the lock");
            let _ = release_rx.recv();
            conn.execute_batch("ROLLBACK")
                .expect("end the locking transaction");
        });
        taken_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the write lock was taken within 30 s");
        WriteLock {
            release: Some(release_tx),
            thread: Some(thread),
        }
    }

    /// Releases the lock and waits until it is released.
    pub fn release(mut self) {
        self.end();
    }

    fn end(&mut self) {
        drop(self.release.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        self.end();
    }
}
