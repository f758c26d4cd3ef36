//! Housekeeping: expired rows and orphan blobs. Run at start-up, periodically, and on demand by
//! an operator (admin token required).

use std::time::Duration;

use rusqlite::Connection;
use serde::Serialize;

use super::blobs::{BlobStore, SweepReport};
use super::{Db, StoreError, volumes};

/// Blob files younger than this are never swept while the relay runs: an upload renames its
/// file into place a moment before its row commits.
pub const ORPHAN_MIN_AGE: Duration = Duration::from_secs(600);

// The blob store remembers its own writes at least this long (by the monotonic clock), so a
// clock step cannot make a sweep take a file whose row is about to commit.
const _: () = assert!(ORPHAN_MIN_AGE.as_secs() <= super::blobs::RECENT_WRITES_KEPT.as_secs());

/// What a maintenance run removed.
#[derive(Debug, Default, Serialize)]
pub struct MaintenanceReport {
    /// Expired login challenges deleted.
    pub expired_challenges: u64,
    /// Expired sessions deleted.
    pub expired_sessions: u64,
    /// Expired, unredeemed invites deleted.
    pub expired_invites: u64,
    /// Orphan blob files removed.
    pub orphan_blobs: u64,
    /// Bytes those files held.
    pub orphan_bytes: u64,
}

/// Deletes expired challenges, sessions and unredeemed invites.
pub fn expire_rows(conn: &Connection, now: i64) -> Result<MaintenanceReport, StoreError> {
    Ok(MaintenanceReport {
        expired_challenges: conn
            .execute("DELETE FROM auth_challenges WHERE expires_at <= ?1", [now])?
            as u64,
        expired_sessions: conn.execute("DELETE FROM auth_sessions WHERE expires_at <= ?1", [now])?
            as u64,
        expired_invites: conn.execute(
            "DELETE FROM invite_codes WHERE redeemed_at IS NULL AND expires_at <= ?1",
            [now],
        )? as u64,
        ..MaintenanceReport::default()
    })
}

/// Removes blob files no volume row points at (older than `min_age`).
pub fn sweep_orphans(
    db: &Db,
    blobs: &BlobStore,
    min_age: Duration,
) -> Result<SweepReport, StoreError> {
    // One read transaction, each user's referenced names read before their directory is
    // looked at: a file committed after the snapshot is younger than `min_age` (during
    // operation) or does not exist yet (at start-up), so it is never removed.
    db.read_blocking(|c| blobs.sweep_by_user(min_age, |user| volumes::blob_files_of(c, user)))
}

/// A full run: expired rows, then orphans.
pub fn run(
    db: &Db,
    blobs: &BlobStore,
    now: i64,
    min_age: Duration,
) -> Result<MaintenanceReport, StoreError> {
    let mut report = db.write_blocking(|tx| expire_rows(tx, now))?;
    report.expired_challenges += db.challenges().expire(now);
    let swept = sweep_orphans(db, blobs, min_age)?;
    report.orphan_blobs = swept.files_removed;
    report.orphan_bytes = swept.bytes_removed;
    Ok(report)
}
