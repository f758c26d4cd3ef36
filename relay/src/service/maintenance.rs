//! Maintenance over the two storage interfaces: expired rows through the port
//! ([`crate::storage::operators::Operators::expire`]), orphan blobs by asking the metadata
//! which names each user directory's files must have, then sweeping the rest (docs/adr/0030:
//! metadata and blobs never call each other).
//!
//! The order is what keeps a sweep from taking a blob being uploaded: a page's referenced
//! names are read *before* its directories are swept, so a blob whose row commits after that
//! read is younger than the minimum age (or remembered by the blob store as its own recent
//! write) and stays.

use std::time::Duration;

use crate::state::AppState;
use crate::store::StoreError;
use crate::store::blobs::{SweepPage, SweepReport};
use crate::store::now;

pub use crate::store::maintenance::{MaintenanceReport, ORPHAN_MIN_AGE};

/// User directories swept per page of a full run.
pub const FULL_RUN_PAGE: usize = 1000;

/// One page of the orphan sweep: the user directories after `after`, at most `limit`.
pub async fn sweep_page(
    state: &AppState,
    after: Option<String>,
    limit: usize,
    min_age: Duration,
) -> Result<SweepPage, StoreError> {
    let dirs = state.blobs.user_dirs_page(after, limit).await?;
    let referenced = state.storage.referenced_blobs(dirs.users.clone()).await?;
    let report = state
        .blobs
        .sweep_users(dirs.users.clone(), referenced, min_age)
        .await?;
    Ok(dirs.swept(report))
}

/// A full run: expired rows, then every page of the orphan sweep, in this instance's turn
/// ([`crate::storage::operators::Operators::maintenance_turn`]); `None` when another instance
/// sharing the store is running it.
pub async fn run(
    state: &AppState,
    min_age: Duration,
) -> Result<Option<MaintenanceReport>, StoreError> {
    let Some(_turn) = state.storage.maintenance_turn().await? else {
        return Ok(None);
    };
    let mut report = state.storage.expire(now()).await?;
    let swept = sweep_orphans(state, min_age).await?;
    report.orphan_blobs = swept.files_removed;
    report.orphan_bytes = swept.bytes_removed;
    Ok(Some(report))
}

/// Every page of the orphan sweep: blob files (and temporary files) no row names, older than
/// `min_age`.
pub async fn sweep_orphans(state: &AppState, min_age: Duration) -> Result<SweepReport, StoreError> {
    let mut swept = SweepReport::default();
    let mut after = None;
    loop {
        let page = sweep_page(state, after, FULL_RUN_PAGE, min_age).await?;
        swept.files_removed += page.report.files_removed;
        swept.bytes_removed += page.report.bytes_removed;
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(swept)
}
