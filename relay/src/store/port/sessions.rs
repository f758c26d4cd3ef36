//! [`Sessions`] on SQLite. Login challenges live in memory ([`crate::store::challenges`],
//! docs/adr/0027): this adapter is for one relay process per database; issuing and taking one
//! costs no write through the group-committed writer.

use super::SqliteStore;
use crate::service::Refusal;
use crate::storage::StoreFuture;
use crate::storage::sessions::{Challenge, LoginCheck, Lookup, NewSession, Sessions};
use crate::store::{own_sessions, sessions, users};

impl Sessions for SqliteStore {
    fn issue_challenge(
        &self,
        user_id: String,
        nonce: String,
        expires_at: i64,
        max_per_user: u64,
        now: i64,
    ) -> StoreFuture<'_, bool> {
        // A read, not a write: the challenge is kept in memory.
        let db = self.db.clone();
        Box::pin(self.db.read(move |c| {
            if users::get(c, &user_id)?.is_none() {
                return Ok(false);
            }
            db.challenges()
                .create(&nonce, &user_id, expires_at, max_per_user, now);
            Ok(true)
        }))
    }

    fn check_login(
        &self,
        user_id: String,
        nonce: String,
        check: LoginCheck,
    ) -> StoreFuture<'_, Option<Result<(), Refusal>>> {
        // Consumed now, before anything can fail.
        let challenge = self
            .db
            .challenges()
            .take(&nonce)
            .map(|(user_id, expires_at)| Challenge {
                user_id,
                expires_at,
            });
        Box::pin(
            self.db
                .read(move |c| Ok(users::get(c, &user_id)?.map(|user| check(&user, challenge)))),
        )
    }

    fn open_session(
        &self,
        token_hash: [u8; 32],
        user_id: String,
        expires_at: i64,
        session: NewSession,
    ) -> StoreFuture<'_, bool> {
        Box::pin(self.db.write(move |tx| {
            // Deleted since the login's read: its rows cascade away, a session would not insert.
            if users::get(tx, &user_id)?.is_none() {
                return Ok(false);
            }
            sessions::insert(tx, &token_hash, &user_id, expires_at, &session)?;
            Ok(true)
        }))
    }

    fn session(&self, token_hash: [u8; 32], now: i64) -> StoreFuture<'_, Lookup> {
        Box::pin(self.db.read(move |c| sessions::lookup(c, &token_hash, now)))
    }

    fn drop_session(&self, token_hash: [u8; 32]) -> StoreFuture<'_, ()> {
        Box::pin(self.db.write(move |tx| sessions::delete(tx, &token_hash)))
    }

    fn touch_session(&self, token_hash: [u8; 32], hour: i64) -> StoreFuture<'_, ()> {
        Box::pin(
            self.db
                .write(move |tx| own_sessions::touch(tx, &token_hash, hour)),
        )
    }
}
