//! Protocol v2 handlers (`docs/protocol-v2.md`). The relay checks what it can — signatures under
//! registered keys, owners, names, monotonic versions and grant sequences, sizes, hashes, the
//! Padmé grid — and stores signed bytes verbatim. Clients still verify everything themselves: the
//! relay is assumed hostile, these checks only keep honest relays honest and storage clean.

pub mod accounts;
pub mod grants;
pub mod pairing;
pub mod volumes;

use coffer_wire::b64;
use serde_json::{Value, json};

use crate::error::ApiError;
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

/// The public record of a v2 account.
pub fn user_record(u: &User) -> Value {
    json!({
        "user_id": u.id,
        "handle": u.handle,
        "client_type": u.client_type.as_str(),
        "public_signing_key": b64::encode(&u.public_signing_key),
        "public_exchange_key": b64::encode(&u.public_exchange_key),
        "key_binding_signature": u.key_binding_signature.as_ref().map(|s| b64::encode(s)),
    })
}
