//! Protocol v2 handlers (`docs/protocol-v2.md`). The relay checks what it can — signatures under
//! registered keys, owners, names, monotonic versions and grant sequences, sizes, hashes, the
//! Padmé grid — and stores signed bytes verbatim. Clients still verify everything themselves: the
//! relay is assumed hostile, these checks only keep honest relays honest and storage clean.

pub mod accounts;
pub mod grants;
pub mod pairing;
pub mod volumes;

use coffer_wire::b64::{PublicKey32, Signature64};
use coffer_wire::v2::api::{self as wire, Handle, UserId, UserRecord};

use crate::error::ApiError;
use crate::store::ClientType;
use crate::store::users::User;

/// A path or body UUID as hyphenated text and raw bytes.
pub fn uuid_bytes(text: &str) -> Option<(String, [u8; 16])> {
    uuid::Uuid::parse_str(text)
        .ok()
        .map(|u| (u.to_string(), *u.as_bytes()))
}

/// The bytes of a caller's UUID text (always valid: it comes from the database).
pub fn own_id_bytes(user_id: &str) -> Result<[u8; 16], ApiError> {
    uuid_bytes(user_id)
        .map(|(_, b)| b)
        .ok_or(ApiError::Internal)
}

/// A stored user id (UUID text, always valid: it comes from the database) as a wire id.
pub fn stored_user_id(id: &str) -> Result<UserId, ApiError> {
    id.parse().map_err(|_| ApiError::Internal)
}

/// The wire form of a client type.
pub const fn wire_client_type(client_type: ClientType) -> wire::ClientType {
    match client_type {
        ClientType::System => wire::ClientType::System,
        ClientType::Friend => wire::ClientType::Friend,
    }
}

/// The stored form of a wire client type.
pub const fn stored_client_type(client_type: wire::ClientType) -> ClientType {
    match client_type {
        wire::ClientType::System => ClientType::System,
        wire::ClientType::Friend => ClientType::Friend,
    }
}

/// The public record of a v2 account; `None` for an account that has none (a v1 account, whose
/// keys are not bound, or a stored id or handle the v2 rules refuse).
pub fn user_record(u: &User) -> Option<UserRecord> {
    let handle = match u.handle.as_deref() {
        Some(h) => Some(Handle::new(h).ok()?),
        None => None,
    };
    Some(UserRecord {
        user_id: u.id.parse().ok()?,
        handle,
        client_type: wire_client_type(u.client_type),
        public_signing_key: PublicKey32::from_bytes(u.public_signing_key),
        public_exchange_key: PublicKey32::from_bytes(u.public_exchange_key),
        key_binding_signature: Signature64::from_bytes(u.key_binding_signature?),
    })
}
