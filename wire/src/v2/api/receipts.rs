//! Fetch receipts (`docs/protocol-v2.md` §14): a friend's signed receipt for a version it read,
//! uploaded to the relay and listed to the owner.

use std::borrow::Cow;

use serde::de;
use serde::{Deserialize, Deserializer, Serialize};

use super::UploadStatus;
use super::fields::{de_list, ser_b64};
use crate::b64::Signature64;
use crate::v2::MAX_RECEIPT_BYTES;

/// Strict base64 of at most [`MAX_RECEIPT_BYTES`] bytes.
fn de_receipt<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = <Cow<'de, str>>::deserialize(d)?;
    crate::b64::decode_bounded(&text, MAX_RECEIPT_BYTES).map_err(de::Error::custom)
}

/// A signed fetch receipt: the body of `POST /shared/{owner}/receipts` and one entry of
/// `GET /receipts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptEnvelope {
    /// Receipt bytes `R`, exactly as signed (at most [`MAX_RECEIPT_BYTES`]).
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_receipt")]
    pub receipt: Vec<u8>,
    /// `Ed25519(sk_friend, label("coffer-v2/receipt") ‖ R)`.
    pub signature: Signature64,
}

/// Answer to `POST /shared/{owner}/receipts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptStored {
    /// Always `stored` (a receipt for a version already on record is kept once).
    pub status: UploadStatus,
}

/// Answer to `GET /receipts`: the receipts the owner's friends uploaded, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptList {
    /// At most [`super::MAX_LIST_ENTRIES`] receipts (the newest ones).
    #[serde(deserialize_with = "de_list")]
    pub receipts: Vec<ReceiptEnvelope>,
}
