//! [`Receipts`] on SQLite.

use super::SqliteStore;
use crate::service::{Decision, Refusal};
use crate::storage::devices::UserCheck;
use crate::storage::receipts::Receipts;
use crate::storage::{DecisionFuture, StoreFuture};
use crate::store::receipts::{self as store, StoredReceipt};
use crate::store::{pairings, users};

impl Receipts for SqliteStore {
    fn put_receipt(
        &self,
        owner: String,
        friend: String,
        receipt: StoredReceipt,
        check: UserCheck,
    ) -> DecisionFuture<'_, ()> {
        Box::pin(self.db.write(move |tx| -> Decision<()> {
            let Some(pairing) = pairings::pairing_between(tx, &owner, &friend)? else {
                return Ok(Err(Refusal::NotFound("Pairing not found")));
            };
            let Some(user) = users::get(tx, &friend)? else {
                return Ok(Err(Refusal::Unauthorized("User not found")));
            };
            if let Err(refused) = check(&user) {
                return Ok(Err(refused));
            }
            store::put_receipt(tx, &pairing.id, &receipt)?;
            Ok(Ok(()))
        }))
    }

    fn receipts_of_owner(&self, owner: String, since: u64) -> StoreFuture<'_, Vec<StoredReceipt>> {
        Box::pin(
            self.db
                .read(move |c| store::receipts_of_owner(c, &owner, since)),
        )
    }
}
