//! [`OwnSessions`] on SQLite.

use super::SqliteStore;
use crate::storage::StoreFuture;
use crate::storage::own_sessions::OwnSessions;
use crate::store::own_sessions::{self as store, OwnSession};

impl OwnSessions for SqliteStore {
    fn own_sessions(
        &self,
        user: String,
        now: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<OwnSession>> {
        Box::pin(self.db.read(move |c| store::list(c, &user, now, limit)))
    }

    fn revoke_own_session(&self, user: String, session_id: String) -> StoreFuture<'_, bool> {
        Box::pin(
            self.db
                .write(move |tx| store::revoke(tx, &user, &session_id)),
        )
    }

    fn revoke_other_sessions(&self, user: String, keep: String) -> StoreFuture<'_, u64> {
        Box::pin(
            self.db
                .write(move |tx| store::revoke_others(tx, &user, &keep)),
        )
    }
}
