//! [`Users`] on SQLite.

use rusqlite::Connection;

use super::SqliteStore;
use crate::service::Decision;
use crate::service::registration;
use crate::storage::invites::{CodeBook, CodeKind, Invite};
use crate::storage::users::{ClientType, Gate, NewUser, ProfileUpdate, User, Users};
use crate::storage::{DecisionFuture, StoreError, StoreFuture};
use crate::store::{invites, registration as codes, users};

/// The gate's view of the codes, in the registration's write transaction.
struct TxCodeBook<'a>(&'a Connection);

impl CodeBook for TxCodeBook<'_> {
    fn user_count(&mut self) -> Result<u64, StoreError> {
        codes::user_count(self.0)
    }

    fn forget_expired_codes(&mut self, now: i64) -> Result<(), StoreError> {
        codes::delete_expired(self.0, now).map(|_| ())
    }

    fn operator_code_open(&mut self, hash: &[u8; 32], now: i64) -> Result<bool, StoreError> {
        codes::operator_code_open(self.0, hash, now)
    }

    fn invite(&mut self, code: &str) -> Result<Option<Invite>, StoreError> {
        invites::get(self.0, code)
    }

    fn code_used(&mut self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        codes::used(self.0, hash)
    }

    fn mark_code_used(
        &mut self,
        hash: &[u8; 32],
        kind: CodeKind,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        codes::mark_used(self.0, hash, kind, now, expires_at)
    }
}

impl Users for SqliteStore {
    fn user(&self, id: String) -> StoreFuture<'_, Option<User>> {
        Box::pin(self.db.read(move |c| users::get(c, &id)))
    }

    fn user_by_handle(&self, handle: String) -> StoreFuture<'_, Option<User>> {
        Box::pin(self.db.read(move |c| users::by_handle(c, &handle)))
    }

    fn create_user(&self, user: User, gate: Gate, now: i64) -> DecisionFuture<'_, NewUser> {
        Box::pin(self.db.write(move |tx| -> Decision<NewUser> {
            if users::get(tx, &user.id)?.is_some() {
                return Ok(Ok(NewUser::IdTaken));
            }
            let mut book = TxCodeBook(tx);
            let spend = match gate.check(&mut book, user.client_type, now)? {
                Ok(spend) => spend,
                Err(refused) => return Ok(Err(refused)),
            };
            if !users::insert(tx, &user)? {
                return Ok(Ok(NewUser::HandleTaken));
            }
            if let Some(spend) = &spend {
                registration::spend(&mut book, spend, now)?;
            }
            Ok(Ok(NewUser::Created))
        }))
    }

    fn update_profile(&self, id: String, update: ProfileUpdate) -> StoreFuture<'_, bool> {
        Box::pin(
            self.db
                .write(move |tx| users::update_profile(tx, &id, &update)),
        )
    }

    fn delete_user(&self, id: String) -> StoreFuture<'_, bool> {
        let db = self.db.clone();
        Box::pin(async move {
            let user = id.clone();
            let existed = db.write(move |tx| users::delete(tx, &user)).await?;
            // The in-memory challenges go with the rows (the table's cascade, in memory).
            db.challenges().remove_user(&id);
            Ok(existed)
        })
    }

    fn discover(
        &self,
        query: String,
        of_type: ClientType,
        limit: u64,
    ) -> StoreFuture<'_, Vec<User>> {
        Box::pin(
            self.db
                .read(move |c| users::discover(c, &query, of_type, limit)),
        )
    }
}
