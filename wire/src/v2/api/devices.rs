//! Several devices of one system (`docs/protocol-v2.md` §13): the owner-only encrypted key
//! state, and the short-lived links a second device joins through.

use serde::{Deserialize, Deserializer, Serialize};

use super::fields::{b64_fixed, ser_b64};
use super::{InviteCode, RelayTime, UploadStatus};
use crate::b64::{self, PublicKey32, Signature64};
use crate::v2::{MAX_OWNER_STATE_BYTES, OWNER_STATE_HEADER_LEN};

/// Largest device-link package (the identity secret, ids and the state key, encrypted).
pub const MAX_DEVICE_PACKAGE_BYTES: usize = 1024;
/// Longest device label, bytes.
pub const MAX_DEVICE_LABEL_BYTES: usize = 64;

fn de_bounded<'de, D: Deserializer<'de>>(d: D, max: usize) -> Result<Vec<u8>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    b64::decode_bounded(&text, max).map_err(serde::de::Error::custom)
}

fn de_state_header<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    de_bounded(d, OWNER_STATE_HEADER_LEN)
}

fn de_state_payload<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    de_bounded(d, MAX_OWNER_STATE_BYTES)
}

fn de_package<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    de_bounded(d, MAX_DEVICE_PACKAGE_BYTES)
}

fn de_label<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() || text.len() > MAX_DEVICE_LABEL_BYTES || text.chars().any(char::is_control)
    {
        return Err(serde::de::Error::custom(
            "a device label is 1-64 bytes without control characters",
        ));
    }
    Ok(text)
}

/// The body of `PUT /owner-state` and the answer to `GET /owner-state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerStateEnvelope {
    /// The header bytes ([`crate::v2::OwnerStateHeader`]), exactly as signed.
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_state_header")]
    pub header: Vec<u8>,
    /// `Ed25519(sk_identity, label("coffer-v2/owner-state") ‖ header)`.
    pub signature: Signature64,
    /// Key slots and the encrypted state (opaque to the relay).
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_state_payload")]
    pub payload: Vec<u8>,
}

/// Answer to `PUT /owner-state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerStateStored {
    /// Always `stored`.
    pub status: UploadStatus,
    /// The stored version.
    pub version: u64,
}

/// Answer to `POST /device-links` (201): a link a second device joins with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceLink {
    /// The link's code (goes into the QR text with the secret the relay never sees).
    pub code: InviteCode,
    /// When the link expires (at most 10 minutes after it was made).
    pub expires_at: RelayTime,
}

/// `POST /device-links/{code}/join` (no login: the joining device has no account yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceJoinRequest {
    /// The joining device's X25519 public key.
    pub device_key: PublicKey32,
    /// Its user-chosen label (1–64 bytes, no control characters).
    #[serde(deserialize_with = "de_label")]
    pub label: String,
    /// `HMAC-SHA256(link key, label("coffer-v2/device-link-proof") ‖ …)` (32 bytes).
    #[serde(with = "b64_fixed")]
    pub proof: [u8; 32],
}

/// Answer to `GET /device-links/{code}` (the owner): the join, once a device has posted one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceLinkStatus {
    /// The link's code.
    pub code: InviteCode,
    /// When it expires.
    pub expires_at: RelayTime,
    /// The joining device's request, `null` until one arrived.
    pub join: Option<DeviceJoinRequest>,
}

/// `PUT /device-links/{code}/package` (the owner) and the answer to
/// `GET /device-links/{code}/package` (the joining device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePackage {
    /// Encrypted to the joining device's key (opaque to the relay).
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_package")]
    pub package: Vec<u8>,
}
