//! [`Watch`] from the triggers of `auth_watch` and `fetch_watch`.

use super::SqliteStore;
use crate::storage::watch::{FetchGeneration, Watch};

impl Watch for SqliteStore {
    fn auth_generation(&self) -> u64 {
        self.db.auth_generation()
    }

    fn fetch_generation(&self, owner: &str) -> FetchGeneration {
        self.db.fetch_generation(owner)
    }

    fn exact(&self) -> bool {
        // One process writes this database; its triggers move the generations at commit.
        true
    }
}
