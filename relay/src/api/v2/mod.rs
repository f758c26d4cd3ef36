//! Protocol v2 handlers (`docs/protocol-v2.md`). The relay checks what it can — signatures under
//! registered keys, owners, names, monotonic versions and grant sequences, sizes, hashes, the
//! Padmé grid — and stores signed bytes verbatim. Clients still verify everything themselves: the
//! relay is assumed hostile, these checks only keep honest relays honest and storage clean.

pub mod accounts;
pub mod delete;
pub mod devices;
pub mod grants;
pub mod owner;
pub mod pairing;
pub mod receipts;
pub mod sessions;
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

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody as _;
    use coffer_wire::b64;
    use serde_json::json;

    use super::*;
    use crate::api::json::ok;

    fn bytes(body: &impl serde::Serialize) -> Vec<u8> {
        ok(body)
            .into_body()
            .try_into_bytes()
            .expect("in-memory body")
            .to_vec()
    }

    fn user(handle: Option<&str>, binding: Option<[u8; 64]>) -> User {
        User {
            id: "6f1c2a3b-4d5e-4f60-8172-839405a6b7c8".into(),
            public_signing_key: [1; 32],
            public_exchange_key: [2; 32],
            handle: handle.map(str::to_owned),
            client_type: ClientType::Friend,
            protocol_version: 2,
            feature_set: "[]".into(),
            storage_used_bytes: 0,
            created_at: 0,
            key_binding_signature: binding,
        }
    }

    /// The wire type writes the bytes the hand-written `json!` body wrote before it.
    #[test]
    fn user_record_bytes_are_unchanged() {
        for handle in [Some("Alice"), None] {
            let u = user(handle, Some([3; 64]));
            let before = json!({
                "user_id": u.id,
                "handle": u.handle,
                "client_type": u.client_type.as_str(),
                "public_signing_key": b64::encode(&u.public_signing_key),
                "public_exchange_key": b64::encode(&u.public_exchange_key),
                "key_binding_signature": u.key_binding_signature.as_ref().map(|s| b64::encode(s)),
            });
            let record = user_record(&u).expect("a v2 record");
            assert_eq!(bytes(&record), bytes(&before));
        }
    }

    #[test]
    fn volume_entry_bytes_are_unchanged() {
        let v = crate::store::volumes::v2::VolumeV2 {
            user_id: "6f1c2a3b-4d5e-4f60-8172-839405a6b7c8".into(),
            volume_name: "org.example.notes".into(),
            epoch: 2,
            version: 7,
            header: vec![9; 110],
            signature: [4; 64],
            blob_file: "f".into(),
            size_bytes: 1052,
            updated_at: 0,
        };
        let before = json!({
            "volume": v.volume_name,
            "epoch": v.epoch,
            "version": v.version,
            "header": b64::encode(&v.header),
            "signature": b64::encode(&v.signature),
        });
        let entry = volumes::list_entry(&v).expect("a valid name");
        assert_eq!(bytes(&entry), bytes(&before));
    }

    #[test]
    fn only_v2_accounts_have_a_record() {
        assert!(user_record(&user(Some("Alice"), None)).is_none());
        assert!(user_record(&user(Some(".."), Some([3; 64]))).is_none());
    }
}
