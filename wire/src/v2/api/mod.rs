//! The JSON shapes of the v2 API (`docs/protocol-v2.md`): the one contract between the relay and
//! its clients. The relay answers by serialising these types and builds its parse result as
//! them; clients deserialise them strictly. A field renamed here fails to compile on both sides.
//!
//! Binary fields are standard padded base64 ([`crate::b64`]): keys, signatures, nonces, proofs
//! and wrapped keys must decode to their exact length; headers, grants and payloads to at most a
//! fixed bound, checked on the text before decoding. Lists are bounded too, so deserialising
//! what a hostile peer sent never allocates without bound.
//!
//! These types say nothing about authenticity: headers, grants and wrapped keys are exact bytes
//! to be verified by the crypto layer, and the plain fields next to them (`epoch`, `version` of
//! a list entry) are the relay's unverified claims. Like the rest of this crate, no keys, no
//! AEAD, no KDF.

mod accounts;
mod devices;
mod fields;
mod grants;
mod ids;
mod owner;
mod pairing;
mod pins;
mod receipts;
mod sessions;
mod time;
mod tombstones;
mod volumes;

pub use accounts::{
    Challenge, ChallengeRequest, RegisterRequest, Registered, TokenRequest, UserRecord,
};
pub use devices::{
    DeviceJoinRequest, DeviceLink, DeviceLinkStatus, DevicePackage, MAX_DEVICE_LABEL_BYTES,
    MAX_DEVICE_PACKAGE_BYTES, OwnerStateEnvelope, OwnerStateStored,
};
pub use grants::{GrantEnvelope, GrantStored, WrappedKeyEntry};
pub use ids::{
    ClientType, Handle, HandleError, InviteCode, InviteCodeError, PairingId, PairingStatus,
    SessionId, UserId,
};
pub use owner::{OwnGrant, OwnGrantList};
pub use pairing::{Invite, Pairing, PairingList, RedeemRequest, Redeemed, ReplicaPairingRequest};
pub use pins::Pins;
pub use receipts::{ReceiptEnvelope, ReceiptList, ReceiptStored};
pub use sessions::{
    DeviceLabel, DeviceLabelError, MAX_DEVICE_LABEL_CHARS, SessionInfo, SessionList,
    SessionProtocol, SessionsRevoked,
};
pub use time::RelayTime;
pub use tombstones::{SignedTombstone, TombstoneEntry, VolumeGone};
pub use volumes::{
    PAYLOAD_FIELD, SharedVolume, SignedVolume, VolumeEntry, VolumeList, VolumeStored,
};

pub use super::{MAX_GRANT_BYTES, MAX_GRANT_ENTRIES, MAX_HEADER_BYTES};

/// Largest volume payload accepted (fits, as base64, in a client's default 64 MiB response
/// limit).
pub const MAX_PAYLOAD_BYTES: usize = 48 << 20;
/// Most entries in a volume or pairing list.
pub const MAX_LIST_ENTRIES: usize = 10_000;

/// The `status` of an answer to an upload (`PUT /volumes/{name}`, `PUT /grants/{friend_id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadStatus {
    /// Stored durably.
    Stored,
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
