//! [`OwnGrants`] on SQLite.

use super::SqliteStore;
use crate::storage::StoreFuture;
use crate::storage::own_grants::OwnGrants;
use crate::store::own_grants::{self as store, OwnGrantRow};

impl OwnGrants for SqliteStore {
    fn grants_given(&self, owner: String) -> StoreFuture<'_, Vec<OwnGrantRow>> {
        Box::pin(self.db.read(move |c| store::grants_of(c, &owner)))
    }
}
