//! Grants: an owner-signed grant with one wrapped volume key per granted volume.

use serde::{Deserialize, Serialize};

use super::UploadStatus;
use super::fields::{de_grant, de_wrapped_keys, ser_b64};
use crate::b64::{Signature64, WrappedVek60};
use crate::v2::VolumeName;

/// One wrapped VEK of a grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKeyEntry {
    /// The volume.
    pub volume: VolumeName,
    /// The epoch the key belongs to.
    pub epoch: u32,
    /// `nonce ‖ AES-256-GCM(kek, VEK) ‖ tag` (60 bytes).
    pub wrapped_key: WrappedVek60,
}

/// A signed grant with its wrapped keys: the body of `PUT /grants/{friend_id}` and the answer
/// to `GET /shared/{owner}/grant`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantEnvelope {
    /// Grant bytes `G`, exactly as signed (at most [`super::MAX_GRANT_BYTES`]).
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_grant")]
    pub grant: Vec<u8>,
    /// `Ed25519(sk_owner, label("coffer-v2/grant") ‖ G)`.
    pub signature: Signature64,
    /// One wrapped VEK per grant entry (at most [`super::MAX_GRANT_ENTRIES`]).
    #[serde(deserialize_with = "de_wrapped_keys")]
    pub wrapped_keys: Vec<WrappedKeyEntry>,
}

/// Answer to `PUT /grants/{friend_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantStored {
    /// Always `stored`.
    pub status: UploadStatus,
    /// The stored grant's sequence number.
    pub sequence: u64,
}
