//! [`AccountsV2`] on SQLite.

use super::SqliteStore;
use crate::storage::StoreFuture;
use crate::storage::accounts_v2::AccountsV2;
use crate::store::users::{self, User};

impl AccountsV2 for SqliteStore {
    fn account(&self, id: String) -> StoreFuture<'_, Option<User>> {
        Box::pin(self.db.read(move |c| users::get(c, &id)))
    }

    fn account_by_handle(&self, handle: String) -> StoreFuture<'_, Option<User>> {
        Box::pin(self.db.read(move |c| users::by_handle(c, &handle)))
    }
}
