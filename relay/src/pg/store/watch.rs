//! [`Watch`] on PostgreSQL: generations moved by LISTEN/NOTIFY ([`crate::pg::watch`]).

use super::PgStore;
use crate::storage::watch::{FetchGeneration, Watch};

impl Watch for PgStore {
    fn auth_generation(&self) -> u64 {
        self.watch.auth_generation()
    }

    fn fetch_generation(&self, owner: &str) -> FetchGeneration {
        self.watch.fetch_generation(owner)
    }
}
