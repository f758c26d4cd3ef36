//! The SQLite + files adapter of the storage port ([`crate::storage`]): each noun's trait is
//! implemented in its own module here, on top of the SQL functions of [`crate::store`].
//!
//! Every method runs its whole body in one [`Db::read`] or [`Db::write`] closure, on the
//! blocking pool: one hand-off per call, as the handlers did before the port existed.

pub mod blobs;
mod devices;
mod grants;
mod invites;
mod operators;
mod own_grants;
mod own_sessions;
mod pairings;
mod rates;
mod receipts;
mod sessions;
mod sharing;
mod tombstones;
mod users;
mod volumes;
mod watch;

use std::sync::Arc;

use super::Db;

/// The SQLite adapter: the metadata database (blob files are the blob interface's).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    db: Arc<Db>,
}

impl SqliteStore {
    /// The adapter over an open database.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }

    /// The database, for the adapter's own modules and the SQLite-only tools (backup, check).
    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }
}
