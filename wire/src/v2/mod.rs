//! Wire protocol v2 (`docs/protocol-v2.md`): the exact bytes both sides sign and check.
//!
//! Everything here is encoding and parsing — no keys, no AEAD. The relay uses it to check
//! headers and grants before storing them verbatim; clients use it to build what they sign.

pub mod api;
mod digest;
mod grant;
mod header;
mod identity;
mod labels;
mod name;
mod owner_state;
mod padding;
mod reader;
mod receipt;
mod tombstone;

pub use digest::{PAYLOAD_HASH_LEN, owner_state_payload_hash, volume_payload_hash};
pub use grant::{Grant, GrantEntry, GrantError, MAX_GRANT_BYTES, MAX_GRANT_ENTRIES};
pub use header::{HEADER_HASH_LEN, Header, HeaderError, MAX_HEADER_BYTES};
pub use identity::{fingerprint_bytes, user_id_bytes};
pub use labels::{Label, labelled};
pub use name::{VolumeName, VolumeNameError};
pub use owner_state::{
    MAX_OWNER_STATE_BYTES, OWNER_STATE_HEADER_LEN, OwnerStateError, OwnerStateHeader,
};
pub use padding::{MIN_PADDED, padded_len, padme, payload_len_is_valid};
pub use receipt::{MAX_RECEIPT_BYTES, Receipt, ReceiptError};
pub use tombstone::{MAX_TOMBSTONE_BYTES, Tombstone, TombstoneError};

/// AES-256-GCM nonce (12) + tag (16) around every ciphertext.
pub const AEAD_OVERHEAD: u64 = 28;

/// The v2 login transcript: `label(login) ‖ str16(origin) ‖ user_id(16) ‖ nonce(32)`.
/// `None` if the origin is longer than a `u16` length allows.
pub fn login_transcript(origin: &str, user_id: &[u8; 16], nonce: &[u8; 32]) -> Option<Vec<u8>> {
    let len = u16::try_from(origin.len()).ok()?;
    let mut out = labelled(Label::Login);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(origin.as_bytes());
    out.extend_from_slice(user_id);
    out.extend_from_slice(nonce);
    Some(out)
}

/// The key-binding message: `label(key-binding) ‖ pk ‖ xpk`.
pub fn key_binding_message(signing_key: &[u8; 32], exchange_key: &[u8; 32]) -> Vec<u8> {
    let mut out = labelled(Label::KeyBinding);
    out.extend_from_slice(signing_key);
    out.extend_from_slice(exchange_key);
    out
}

/// The registration message (§3):
/// `label(register) ‖ str16(origin) ‖ u8(client_type: 1 = system, 2 = friend) ‖
/// str16(handle UTF-8, empty when none) ‖ pk ‖ xpk`.
///
/// Signed by the keys' owner and checked by the relay before it creates the account, so nobody
/// holding only the public keys (and their public key binding) can register them, and a
/// signature made for one relay, type or handle is worth nothing for another.
/// `None` if the origin or the handle is longer than a `u16` length allows.
pub fn register_message(
    origin: &str,
    client_type: api::ClientType,
    handle: Option<&api::Handle>,
    signing_key: &[u8; 32],
    exchange_key: &[u8; 32],
) -> Option<Vec<u8>> {
    let origin_len = u16::try_from(origin.len()).ok()?;
    let handle = handle.map_or("", api::Handle::as_str);
    let handle_len = u16::try_from(handle.len()).ok()?;
    let mut out = labelled(Label::Register);
    out.extend_from_slice(&origin_len.to_be_bytes());
    out.extend_from_slice(origin.as_bytes());
    out.push(match client_type {
        api::ClientType::System => 1,
        api::ClientType::Friend => 2,
    });
    out.extend_from_slice(&handle_len.to_be_bytes());
    out.extend_from_slice(handle.as_bytes());
    out.extend_from_slice(signing_key);
    out.extend_from_slice(exchange_key);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_are_labelled_and_exact() {
        let t = login_transcript("https://r:1", &[1; 16], &[2; 32]).expect("short origin");
        assert!(t.starts_with(b"coffer-v2/login\0\x00\x0bhttps://r:1"));
        assert_eq!(t.len(), 16 + 2 + 11 + 16 + 32);
        assert!(login_transcript(&"x".repeat(70_000), &[0; 16], &[0; 32]).is_none());
        let b = key_binding_message(&[3; 32], &[4; 32]);
        assert!(b.starts_with(b"coffer-v2/key-binding\0"));
        assert_eq!(b.len(), 22 + 64);
    }

    #[test]
    fn register_message_is_labelled_and_exact() {
        let handle = api::Handle::new("ab").expect("valid handle");
        let m = register_message(
            "https://r:1",
            api::ClientType::Friend,
            Some(&handle),
            &[5; 32],
            &[6; 32],
        )
        .expect("short origin");
        assert!(m.starts_with(b"coffer-v2/register\0\x00\x0bhttps://r:1\x02\x00\x02ab"));
        assert_eq!(m.len(), 19 + 2 + 11 + 1 + 2 + 2 + 64);
        assert_eq!(&m[m.len() - 64..m.len() - 32], &[5; 32]);
        let none = register_message(
            "https://r:1",
            api::ClientType::System,
            None,
            &[5; 32],
            &[6; 32],
        )
        .expect("short origin");
        assert!(none.starts_with(b"coffer-v2/register\0\x00\x0bhttps://r:1\x01\x00\x00"));
        assert_eq!(none.len(), 19 + 2 + 11 + 1 + 2 + 64);
        // Every field changes the message.
        let other = register_message(
            "https://r:2",
            api::ClientType::Friend,
            Some(&handle),
            &[5; 32],
            &[6; 32],
        );
        assert_ne!(other.as_ref(), Some(&m));
        let long = "x".repeat(70_000);
        assert!(
            register_message(&long, api::ClientType::System, None, &[0; 32], &[0; 32]).is_none()
        );
    }
}
