//! The payload digests (`docs/protocol-v2.md` §4 and §13, `docs/adr/0029-v2-payload-digest.md`):
//! what a signed header's `payload_hash` holds, computed the same way by the owner's client when
//! it seals, by the relay when it checks an upload, and by every reader before it decrypts.
//!
//! `payload_hash = BLAKE3(label ‖ payload)` (32 bytes, BLAKE3's default hash mode), with the
//! label `coffer-v2/volume-payload` for a volume and `coffer-v2/owner-state-payload` for an owner
//! state (P9: every hashed input starts with a label). A hash of public bytes: no key, no
//! secret, nothing here decrypts anything.

use super::labels::{Label, labelled};

/// Length of a payload digest, bytes.
pub const PAYLOAD_HASH_LEN: usize = 32;

/// `BLAKE3(label(volume-payload) ‖ payload)`: the `payload_hash` of a volume header (§4).
#[must_use]
pub fn volume_payload_hash(payload: &[u8]) -> [u8; PAYLOAD_HASH_LEN] {
    payload_hash(Label::VolumePayload, payload)
}

/// `BLAKE3(label(owner-state-payload) ‖ payload)`: the `payload_hash` of an owner-state header
/// (§13).
#[must_use]
pub fn owner_state_payload_hash(payload: &[u8]) -> [u8; PAYLOAD_HASH_LEN] {
    payload_hash(Label::OwnerStatePayload, payload)
}

fn payload_hash(label: Label, payload: &[u8]) -> [u8; PAYLOAD_HASH_LEN] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&labelled(label));
    hasher.update(payload);
    *hasher.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use sha2::{Digest as _, Sha256};

    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Known answers from an independent implementation (Debian's `b3sum` 1.2.0 over the same
    /// bytes, e.g. `printf 'coffer-v2/volume-payload\0' | b3sum`): a change of the
    /// construction, the label or the crate's output fails here.
    #[test]
    fn known_answers() {
        assert_eq!(
            hex(&volume_payload_hash(b"")),
            "7a94ce28e590d00c0d6d58260469d459d313c6bc1b809b7284f4daec6cae92b2",
        );
        assert_eq!(
            hex(&volume_payload_hash(&[0xa5; 3000])),
            "1e951baf1345e9428297f986380976d2f67b0eee62e8f9c55efb88e3dd424c14",
        );
        assert_eq!(
            hex(&owner_state_payload_hash(b"")),
            "ca5c38b4b6fa24a0a992cb8d2f049cd064977b9d1f1a2ab5db37edf3dbf87542",
        );
    }

    #[test]
    fn one_shot_equals_streamed_and_labels_separate() {
        let payload: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let mut input = b"coffer-v2/volume-payload\0".to_vec();
        input.extend_from_slice(&payload);
        assert_eq!(
            volume_payload_hash(&payload),
            *blake3::hash(&input).as_bytes()
        );
        assert_ne!(
            volume_payload_hash(&payload),
            owner_state_payload_hash(&payload)
        );
        // Not the digest of format 1 as first drafted (SHA-256 of the payload).
        assert_ne!(
            volume_payload_hash(&payload),
            <[u8; 32]>::from(Sha256::digest(&payload))
        );
        assert_ne!(
            volume_payload_hash(&payload),
            *blake3::hash(&payload).as_bytes()
        );
    }
}
