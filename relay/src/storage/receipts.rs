//! v2 fetch receipts (`docs/protocol-v2.md` §14): a friend's signed receipt for a version it
//! fetched and verified, kept per pairing and listed to the system.

use super::devices::UserCheck;
use super::{DecisionFuture, StoreFuture};
use crate::store::receipts::StoredReceipt;

/// Fetch receipts, per pairing.
pub trait Receipts {
    /// Stores `friend`'s receipt on its pairing with `owner` (the oldest go beyond the
    /// per-pairing cap), in one transaction: refused `NotFound("Pairing not found")` without a
    /// pairing of the two, `Unauthorized("User not found")` if `friend`'s account is gone, and
    /// with `check`'s refusal if `check` refuses `friend`'s stored account.
    fn put_receipt(
        &self,
        owner: String,
        friend: String,
        receipt: StoredReceipt,
        check: UserCheck,
    ) -> DecisionFuture<'_, ()>;

    /// The receipts of every pairing where `owner` is the system, with an hour ≥ `since`: the
    /// newest [`crate::store::receipts::MAX_LISTED`], oldest first.
    fn receipts_of_owner(&self, owner: String, since: u64) -> StoreFuture<'_, Vec<StoredReceipt>>;
}
