//! Fetch receipts (`docs/protocol-v2.md` §14): who read what, and when (to the hour).
//!
//! The friend side signs a receipt for every new version [`FriendClient::fetch`] verified and
//! returned, and uploads it best-effort ([`send_receipt`]): a failed upload never fails the
//! fetch. This is an honest-client feature — a modified friend app can fetch without sending
//! one, and the relay can drop any receipt it holds.
//!
//! The owner side ([`SystemClient::receipts`]) verifies every receipt the relay lists under the
//! signing key it pinned for that friend at pairing (never the key the relay serves now), and
//! checks that it names this system. What does not verify is never shown as a read: it comes
//! back in [`Receipts::rejected`], so an app can warn that the relay served forged receipts.
//!
//! [`FriendClient::fetch`]: super::FriendClient::fetch

use coffer_wire::b64::Signature64;
use coffer_wire::v2::{Receipt, VolumeName};
use uuid::Uuid;

use super::system::SystemClient;
use super::{ClientError, RelayApi, now_unix};
use crate::identity::Identity;
use crate::transport::{ReceiptEnvelope, UserId};
use crate::v2::{V2Error, sign_receipt, verify_receipt};

/// A read the owner can trust: a receipt that verified under the friend's pinned key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReceipt {
    /// The friend who read.
    pub friend_id: Uuid,
    /// The friend's handle as pinned at pairing, if it had one.
    pub handle: Option<String>,
    /// The volume read.
    pub volume: VolumeName,
    /// Its key epoch.
    pub epoch: u32,
    /// The version read.
    pub version: u64,
    /// When, to the hour (Unix seconds, a multiple of 3600; the friend's clock).
    pub hour: u64,
}

/// Why a receipt the relay listed is not shown as a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptRejection {
    /// The bytes are not a receipt (or name another owner).
    Malformed,
    /// It names a friend this system has no pin for (never paired, or unpaired since).
    UnknownFriend,
    /// The signature does not verify under the friend's pinned key: forged or altered.
    BadSignature,
}

/// A receipt that failed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedReceipt {
    /// The friend the (unverified) bytes name, if they parse.
    pub friend_id: Option<Uuid>,
    /// Why it was rejected.
    pub reason: ReceiptRejection,
}

/// The receipts the relay listed, split into verified reads and rejected entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipts {
    /// Reads that verified, oldest first (as listed).
    pub verified: Vec<ReadReceipt>,
    /// Entries that did not verify. Anything here means the relay (or its database) served
    /// receipts no paired friend signed.
    pub rejected: Vec<RejectedReceipt>,
}

/// Signs and uploads the receipt for `version` of `owner`'s `volume`, just verified by the
/// friend `friend`. Best-effort: a failure is logged at debug level (no ids, no bytes) and
/// otherwise ignored.
pub(super) async fn send_receipt<R: RelayApi>(
    relay: &R,
    identity: &Identity,
    owner: Uuid,
    friend: Uuid,
    volume: &VolumeName,
    epoch: u32,
    version: u64,
) {
    let signed = match sign_receipt(identity, owner, friend, volume, epoch, version, now_unix()) {
        Ok(signed) => signed,
        Err(e) => {
            tracing::debug!(error = %e, "fetch receipt not signed");
            return;
        }
    };
    let envelope = ReceiptEnvelope {
        receipt: signed.bytes,
        signature: Signature64::from_bytes(signed.signature),
    };
    if let Err(e) = relay
        .post_receipt(UserId::from_uuid(owner), &envelope)
        .await
    {
        tracing::debug!(error = %e, "fetch receipt not uploaded");
    }
}

impl<R: RelayApi> SystemClient<R> {
    /// The fetch receipts the relay kept for this system (those whose hour is at least `since`,
    /// Unix seconds, when given), each verified under the signing key pinned for its friend at
    /// pairing and checked to name this system.
    ///
    /// A relay can drop receipts (a read without a receipt is invisible here) but cannot forge
    /// or alter one: those come back in [`Receipts::rejected`], never as reads.
    ///
    /// # Errors
    /// Relay and storage errors (verification failures are not errors: see `rejected`).
    pub async fn receipts(&self, since: Option<u64>) -> Result<Receipts, ClientError> {
        let listed = self.relay.list_receipts(since).await?;
        let state = self.state();
        let mut out = Receipts::default();
        for envelope in listed {
            // The friend named by the (not yet verified) bytes picks the pinned key to check
            // them with; a relay that edits the name picks a key that does not verify.
            let Ok(claimed) = Receipt::parse(&envelope.receipt) else {
                out.rejected.push(RejectedReceipt {
                    friend_id: None,
                    reason: ReceiptRejection::Malformed,
                });
                continue;
            };
            let friend_id = Uuid::from_bytes(claimed.friend);
            let Some(pin) = state.pin(friend_id)? else {
                out.rejected.push(RejectedReceipt {
                    friend_id: Some(friend_id),
                    reason: ReceiptRejection::UnknownFriend,
                });
                continue;
            };
            match verify_receipt(
                pin.signing_key.as_bytes(),
                &envelope.receipt,
                envelope.signature.as_bytes(),
                self.user_id,
            ) {
                Ok(receipt) => out.verified.push(ReadReceipt {
                    friend_id,
                    handle: pin.handle.clone(),
                    volume: receipt.volume,
                    epoch: receipt.epoch,
                    version: receipt.version,
                    hour: receipt.hour,
                }),
                Err(e) => out.rejected.push(RejectedReceipt {
                    friend_id: Some(friend_id),
                    reason: match e {
                        V2Error::BadSignature | V2Error::InvalidSigningKey => {
                            ReceiptRejection::BadSignature
                        }
                        _ => ReceiptRejection::Malformed,
                    },
                }),
            }
        }
        Ok(out)
    }
}
