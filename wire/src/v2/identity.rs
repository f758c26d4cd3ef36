//! What names an identity on every relay alike (§2, §3): the fingerprint of its key pair and
//! the user id derived from it. Plain SHA-256 over labelled public keys: a hash, no key, no
//! AEAD, no KDF (ADR 0004).

use sha2::{Digest as _, Sha256};

use super::{Label, labelled};

fn labelled_hash(label: Label, signing_key: &[u8; 32], exchange_key: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update(labelled(label))
        .chain_update(signing_key)
        .chain_update(exchange_key)
        .finalize()
        .into()
}

/// `SHA-256(label("coffer-v2/fingerprint") ‖ pk ‖ xpk)`: the fingerprint of an Ed25519 public
/// key and an X25519 public key, as grants carry it (client-core's `Fingerprint` holds the same
/// 32 bytes).
pub fn fingerprint_bytes(signing_key: &[u8; 32], exchange_key: &[u8; 32]) -> [u8; 32] {
    labelled_hash(Label::Fingerprint, signing_key, exchange_key)
}

/// The 16 bytes of the user id of a key pair: the first 16 bytes of
/// `SHA-256(label("coffer-v2/user-id") ‖ pk ‖ xpk)` with the UUID version set to 8 (byte 6) and
/// the RFC 9562 variant (byte 8).
pub fn user_id_bytes(signing_key: &[u8; 32], exchange_key: &[u8; 32]) -> [u8; 16] {
    let digest = labelled_hash(Label::UserId, signing_key, exchange_key);
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id[6] = (id[6] & 0x0f) | 0x80;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_the_labelled_hash() {
        let mut input = b"coffer-v2/fingerprint\0".to_vec();
        input.extend_from_slice(&[1; 32]);
        input.extend_from_slice(&[2; 32]);
        let expected: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(fingerprint_bytes(&[1; 32], &[2; 32]), expected);
        // Both keys count, in order.
        assert_ne!(
            fingerprint_bytes(&[1; 32], &[2; 32]),
            fingerprint_bytes(&[2; 32], &[1; 32])
        );
    }

    #[test]
    fn user_id_is_the_truncated_labelled_hash_with_version_and_variant() {
        let mut input = b"coffer-v2/user-id\0".to_vec();
        input.extend_from_slice(&[1; 32]);
        input.extend_from_slice(&[2; 32]);
        let digest: [u8; 32] = Sha256::digest(&input).into();
        let id = user_id_bytes(&[1; 32], &[2; 32]);
        for i in (0..16).filter(|i| *i != 6 && *i != 8) {
            assert_eq!(id[i], digest[i], "byte {i}");
        }
        assert_eq!(id[6], (digest[6] & 0x0f) | 0x80);
        assert_eq!(id[8], (digest[8] & 0x3f) | 0x80);
        // Not the fingerprint's prefix: the labels differ.
        assert_ne!(id[..], fingerprint_bytes(&[1; 32], &[2; 32])[..16]);
    }
}
