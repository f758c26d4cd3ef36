//! Volumes: signed header bytes plus an encrypted payload; lists of signed headers.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::UploadStatus;
use super::fields::{de_header, de_list, de_payload, ser_b64};
use crate::b64::{Signature64, WrappedVek60};
use crate::v2::VolumeName;

/// A signed volume: the body of `PUT /volumes/{name}` and the answer to `GET /volumes/{name}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedVolume {
    /// Header bytes `H`, exactly as signed (at most [`super::MAX_HEADER_BYTES`]).
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_header")]
    pub header: Vec<u8>,
    /// `Ed25519(sk_owner, label("coffer-v2/volume-header") ‖ H)`.
    pub signature: Signature64,
    /// `nonce ‖ ciphertext ‖ tag` (at most [`super::MAX_PAYLOAD_BYTES`]).
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_payload")]
    pub payload: Vec<u8>,
}

/// A volume as served to a friend: the signed volume plus the friend's wrapped VEK for its
/// epoch.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedVolume {
    /// Header bytes `H`, exactly as signed.
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_header")]
    pub header: Vec<u8>,
    /// The owner's header signature.
    pub signature: Signature64,
    /// `nonce ‖ ciphertext ‖ tag`.
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_payload")]
    pub payload: Vec<u8>,
    /// The VEK of the header's epoch, wrapped for this friend (60 bytes).
    pub wrapped_key: WrappedVek60,
}

/// The name of the payload field of [`SignedVolume`] and [`SharedVolume`], for a server that
/// streams the payload into the serialised rest instead of holding its base64 in memory.
pub const PAYLOAD_FIELD: &str = "payload";

/// Volumes print their sizes, not their bytes (payloads are large).
macro_rules! volume_debug {
    ($name:ident $(, $extra:ident)?) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("header_len", &self.header.len())
                    .field("signature", &self.signature)
                    .field("payload_len", &self.payload.len())
                    $(.field(stringify!($extra), &self.$extra))?
                    .finish()
            }
        }
    };
}
volume_debug!(SignedVolume);
volume_debug!(SharedVolume, wrapped_key);

/// Answer to `PUT /volumes/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeStored {
    /// Always `stored`.
    pub status: UploadStatus,
    /// The stored header's epoch.
    pub epoch: u32,
    /// The stored header's version.
    pub version: u64,
}

/// An entry of `GET /volumes` or `GET /shared/{owner}/volumes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeEntry {
    /// The volume's name.
    pub volume: VolumeName,
    /// The relay's claim of the current epoch (the signed header is authoritative).
    pub epoch: u32,
    /// The relay's claim of the current version (the signed header is authoritative).
    pub version: u64,
    /// Header bytes `H`, exactly as signed.
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_header")]
    pub header: Vec<u8>,
    /// The owner's header signature.
    pub signature: Signature64,
}

/// `{"volumes": [...]}`: the answer to `GET /volumes` and `GET /shared/{owner}/volumes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeList {
    /// At most [`super::MAX_LIST_ENTRIES`] entries.
    #[serde(deserialize_with = "de_list")]
    pub volumes: Vec<VolumeEntry>,
    /// Deleted volumes (§12), at most [`super::MAX_LIST_ENTRIES`]; absent when there are none,
    /// so a list without deletions keeps its exact earlier bytes.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_list"
    )]
    pub tombstones: Vec<super::TombstoneEntry>,
}
