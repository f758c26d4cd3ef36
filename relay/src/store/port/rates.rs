//! [`Rates`] on SQLite: no shared buckets. One relay process owns the database file, so its
//! in-memory buckets ([`crate::limits`]) are the whole limit (docs/adr/0033).

use super::SqliteStore;
use crate::storage::rates::{Rates, SharedRates};

impl Rates for SqliteStore {
    fn shared_rates(&self) -> Option<&dyn SharedRates> {
        None
    }
}
