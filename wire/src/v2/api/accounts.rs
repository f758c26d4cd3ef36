//! Accounts: registration with the key-binding proof, login, user records.

use serde::{Deserialize, Serialize};

use super::fields::b64_fixed;
use super::{ClientType, DeviceLabel, Handle, RelayTime, UserId};
use crate::b64::{PublicKey32, Signature64};

/// `POST /register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// System or friend.
    pub client_type: ClientType,
    /// Optional public handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<Handle>,
    /// Ed25519 public key.
    pub public_signing_key: PublicKey32,
    /// X25519 public key.
    pub public_exchange_key: PublicKey32,
    /// `Ed25519(sk, label("coffer-v2/key-binding") ‖ pk ‖ xpk)`.
    pub key_binding_signature: Signature64,
    /// The relay origin the client dialled, exactly as signed (one of the relay's origins).
    pub origin: String,
    /// `Ed25519(sk, register_message(origin, client_type, handle, pk, xpk))`: only the keys'
    /// owner can ask a relay for their account, for this relay, type and handle.
    pub registration_signature: Signature64,
}

/// Answer to `POST /register` (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// The new account's id.
    pub user_id: UserId,
}

/// `POST /auth/challenge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRequest {
    /// Who wants to log in.
    pub user_id: UserId,
}

/// Answer to `POST /auth/challenge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// 32 random bytes, single use.
    #[serde(with = "b64_fixed")]
    pub nonce: [u8; 32],
    /// When the challenge expires.
    pub expires_at: RelayTime,
}

/// `POST /auth/token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    /// Who logs in.
    pub user_id: UserId,
    /// The challenge's nonce.
    #[serde(with = "b64_fixed")]
    pub nonce: [u8; 32],
    /// The origin dialled, exactly as signed.
    pub origin: String,
    /// `Ed25519(sk, label("coffer-v2/login") ‖ str16(origin) ‖ user_id ‖ nonce)`.
    pub signature: Signature64,
    /// Optional name of the device logging in, shown in the account's session list (§11).
    /// Not signed: it is a label for the owner, not a claim anyone relies on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_label: Option<DeviceLabel>,
}

/// A user record (`GET /users/by-handle/{handle}`, `GET /users/{id}`, a pairing's `peer`).
/// The keys are the relay's claim until the binding signature and a pinned fingerprint say
/// otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The user's id.
    pub user_id: UserId,
    /// Public handle, if any (`null` when none).
    #[serde(default)]
    pub handle: Option<Handle>,
    /// System or friend.
    pub client_type: ClientType,
    /// Ed25519 public key.
    pub public_signing_key: PublicKey32,
    /// X25519 public key.
    pub public_exchange_key: PublicKey32,
    /// Binding of the two keys, to be verified by the client.
    pub key_binding_signature: Signature64,
}
