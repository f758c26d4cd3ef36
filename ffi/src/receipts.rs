//! Fetch receipts (`docs/protocol-v2.md` §14): the owner's verified access log. A friend's
//! client sends receipts on its own (every new version `fetch` returns); nothing to call there.

use std::sync::Arc;

use coffer_client_core::client as core;

use crate::error::CofferError;
use crate::runtime::run;
use crate::system::SystemClient;

/// A read the owner can trust: a friend's receipt that verified under the key pinned for that
/// friend at pairing.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Receipt {
    /// The friend who read.
    pub friend_id: String,
    /// The friend's handle as pinned at pairing, if any.
    pub handle: Option<String>,
    /// The volume read.
    pub volume: String,
    /// Its key epoch.
    pub epoch: u32,
    /// The version read.
    pub version: u64,
    /// When, to the hour: Unix seconds, a multiple of 3600 (the friend's clock).
    pub hour: u64,
}

/// Why a receipt the relay listed is not shown as a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReceiptRejection {
    /// Not a receipt, or one naming another owner.
    Malformed,
    /// Names a friend this system has no pin for (never paired, or unpaired since).
    UnknownFriend,
    /// Does not verify under the friend's pinned key: forged or altered.
    BadSignature,
}

/// A receipt that failed verification.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RejectedReceipt {
    /// The friend the unverified bytes name, if they parse.
    pub friend_id: Option<String>,
    /// Why it was rejected.
    pub reason: ReceiptRejection,
}

/// The owner's receipts: verified reads, and what did not verify (non-empty means the relay
/// served receipts no paired friend signed: warn the user).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Receipts {
    /// Verified reads, oldest first.
    pub verified: Vec<Receipt>,
    /// Rejected entries.
    pub rejected: Vec<RejectedReceipt>,
}

impl From<core::Receipts> for Receipts {
    fn from(r: core::Receipts) -> Self {
        Receipts {
            verified: r
                .verified
                .into_iter()
                .map(|v| Receipt {
                    friend_id: v.friend_id.to_string(),
                    handle: v.handle,
                    volume: v.volume.as_str().to_owned(),
                    epoch: v.epoch,
                    version: v.version,
                    hour: v.hour,
                })
                .collect(),
            rejected: r
                .rejected
                .into_iter()
                .map(|x| RejectedReceipt {
                    friend_id: x.friend_id.map(|id| id.to_string()),
                    reason: match x.reason {
                        core::ReceiptRejection::Malformed => ReceiptRejection::Malformed,
                        core::ReceiptRejection::UnknownFriend => ReceiptRejection::UnknownFriend,
                        core::ReceiptRejection::BadSignature => ReceiptRejection::BadSignature,
                    },
                })
                .collect(),
        }
    }
}

#[uniffi::export]
impl SystemClient {
    /// Who read what, and when (to the hour): the fetch receipts the relay kept (those whose
    /// hour is at least `since`, Unix seconds, if given), each verified under the friend's
    /// pinned key. The relay can drop receipts but not forge or alter them: those land in
    /// `rejected`, never in `verified`.
    ///
    /// Throws relay and storage errors (a receipt that does not verify is not an error).
    #[uniffi::method(default(since = None))]
    pub async fn receipts(self: Arc<Self>, since: Option<u64>) -> Result<Receipts, CofferError> {
        run(async move { Ok(self.core().await?.receipts(since).await?.into()) }).await
    }
}
