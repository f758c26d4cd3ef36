//! [`Watch`] on PostgreSQL: strict (docs/adr/0032 decision 9). A write committed by this
//! instance or by another must be refused or served by every instance at once, and a
//! notification arrives after the commit, so no cached session or download answer is trusted:
//! the relay keeps its caches off ([`Watch::exact`] is false), and every generation asked for
//! is new besides, so nothing cached could ever match.

use super::PgStore;
use crate::storage::watch::{FetchGeneration, Watch};

impl Watch for PgStore {
    fn auth_generation(&self) -> u64 {
        self.watch.uncached_auth_generation()
    }

    fn fetch_generation(&self, owner: &str) -> FetchGeneration {
        self.watch.uncached_fetch_generation(owner)
    }

    fn exact(&self) -> bool {
        false
    }
}
