//! Deleting one volume (`docs/protocol-v2.md` §12): the owner-signed tombstone sent with
//! `DELETE /volumes/{name}`, listed next to live volumes and served (with 410) in place of a
//! deleted volume.

use std::borrow::Cow;

use serde::de;
use serde::{Deserialize, Deserializer, Serialize};

use super::fields::ser_b64;
use crate::b64::Signature64;
use crate::v2::{MAX_TOMBSTONE_BYTES, VolumeName};

/// Strict base64 of at most [`MAX_TOMBSTONE_BYTES`] bytes.
fn de_tombstone<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = <Cow<'de, str>>::deserialize(d)?;
    crate::b64::decode_bounded(&text, MAX_TOMBSTONE_BYTES).map_err(de::Error::custom)
}

/// A signed tombstone: the body of `DELETE /volumes/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTombstone {
    /// Tombstone bytes `T`, exactly as signed (at most [`MAX_TOMBSTONE_BYTES`]).
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_tombstone")]
    pub tombstone: Vec<u8>,
    /// `Ed25519(sk_owner, label("coffer-v2/tombstone") ‖ T)`.
    pub signature: Signature64,
}

/// An entry of the `tombstones` list of `GET /volumes` and `GET /shared/{owner}/volumes`: a
/// deleted volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TombstoneEntry {
    /// The deleted volume's name.
    pub volume: VolumeName,
    /// The relay's claim of the tombstone's epoch (the signed bytes are authoritative).
    pub epoch: u32,
    /// The relay's claim of the tombstone's version (the signed bytes are authoritative).
    pub version: u64,
    /// Tombstone bytes `T`, exactly as signed.
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_tombstone")]
    pub tombstone: Vec<u8>,
    /// The owner's tombstone signature.
    pub signature: Signature64,
}

/// The body of the 410 answer to `GET /volumes/{name}` and `GET /shared/{owner}/volumes/{name}`
/// for a deleted volume: the usual error fields plus the signed tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeGone {
    /// Always `gone`.
    pub error: String,
    /// A human-readable message.
    pub message: String,
    /// Tombstone bytes `T`, exactly as signed.
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_tombstone")]
    pub tombstone: Vec<u8>,
    /// The owner's tombstone signature.
    pub signature: Signature64,
}
