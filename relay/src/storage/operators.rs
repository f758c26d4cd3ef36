//! What the operator sees and what keeps the store tidy: stats, the admin views, expiry.
//! Metadata only: counts, sizes, coarse times, ids (docs/metadata-inventory.md).
//!
//! Figures about login challenges include every place the adapter keeps them (a table, or
//! memory for the embedded store), so the operator sees one number whatever the back end.

pub use crate::store::admin_view::{AdminShare, AdminUser, AdminVolume, Filter, Listed, Page};
pub use crate::store::maintenance::MaintenanceReport;
pub use crate::store::stats::{Gauges, SessionStats, Stats};

use std::collections::{HashMap, HashSet};

use super::StoreFuture;

/// This instance's turn to run maintenance (the expiry and the orphan sweep): held for the
/// run, and given back when dropped.
pub struct MaintenanceTurn {
    /// Held, never read: dropping it gives the turn back.
    _guard: Box<dyn Send + Sync>,
}

impl MaintenanceTurn {
    /// A turn that `guard` holds (a connection with a session lock; nothing, for a store of
    /// one process), released when it is dropped.
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        Self {
            _guard: Box::new(guard),
        }
    }
}

impl std::fmt::Debug for MaintenanceTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaintenanceTurn")
    }
}

/// Stats, admin views and expiry.
pub trait Operators {
    /// The dashboard's totals at `now`.
    fn stats(&self, now: i64) -> StoreFuture<'_, Stats>;

    /// The `/metrics` gauges at `now`, pending challenges included.
    fn gauges(&self, now: i64) -> StoreFuture<'_, Gauges>;

    /// Session, challenge and invite counts at `now`.
    fn session_stats(&self, now: i64) -> StoreFuture<'_, SessionStats>;

    /// Users matching `filter`, oldest first, one page, with the total.
    fn admin_users(&self, filter: Filter, page: Page) -> StoreFuture<'_, Listed<AdminUser>>;

    /// One user and every stored volume of theirs, read in one snapshot; `None` when the user
    /// does not exist.
    fn admin_user(&self, id: String) -> StoreFuture<'_, Option<(AdminUser, Vec<AdminVolume>)>>;

    /// Stored volumes (v1 and v2) matching `filter`, one page, with the total.
    fn admin_volumes(&self, filter: Filter, page: Page) -> StoreFuture<'_, Listed<AdminVolume>>;

    /// v1 relationships and v2 pairings matching `filter` as of `now`, one page, with the total.
    fn admin_sharing(
        &self,
        filter: Filter,
        page: Page,
        now: i64,
    ) -> StoreFuture<'_, Listed<AdminShare>>;

    /// Ends every session: every client logs in again. Answers how many there were.
    fn expire_all_sessions(&self) -> StoreFuture<'_, u64>;

    /// Deletes the challenges, sessions and unredeemed invites expired at `now` (the first step
    /// of maintenance; orphan blobs are the blob interface's). Answers the counts.
    fn expire(&self, now: i64) -> StoreFuture<'_, MaintenanceReport>;

    /// The blob names the stored volumes (v1 and v2) of each of `users` reference, read in one
    /// snapshot, for the orphan sweep: a blob no row names is an orphan. A user with no volume
    /// (or no account) is absent from the answer.
    fn referenced_blobs(
        &self,
        users: Vec<String>,
    ) -> StoreFuture<'_, HashMap<String, HashSet<String>>>;

    /// This instance's turn to run maintenance, or `None` while another instance sharing the
    /// store holds it (that one does the same work; running it twice at once would only
    /// repeat it). A store of one process (SQLite, one relay per data directory) always
    /// answers a turn.
    fn maintenance_turn(&self) -> StoreFuture<'_, Option<MaintenanceTurn>>;
}
