//! [`Invites`] on SQLite.

use super::SqliteStore;
use crate::storage::StoreFuture;
use crate::storage::invites::{Invites, RegistrationCounts};
use crate::store::{invites, registration};

impl Invites for SqliteStore {
    fn create_invite(
        &self,
        code: String,
        system: String,
        now: i64,
        expires_at: i64,
        max_open: u64,
        protocol: i64,
    ) -> StoreFuture<'_, bool> {
        Box::pin(self.db.write(move |tx| {
            invites::create(tx, &code, &system, now, expires_at, max_open, protocol)
        }))
    }

    fn create_registration_code(
        &self,
        hash: [u8; 32],
        now: i64,
        expires_at: i64,
    ) -> StoreFuture<'_, bool> {
        Box::pin(
            self.db
                .write(move |tx| registration::create(tx, &hash, now, expires_at)),
        )
    }

    fn registration_counts(&self, now: i64) -> StoreFuture<'_, RegistrationCounts> {
        Box::pin(self.db.read(move |c| {
            Ok(RegistrationCounts {
                users: registration::user_count(c)?,
                open_codes: registration::open_operator_codes(c, now)?,
            })
        }))
    }
}
