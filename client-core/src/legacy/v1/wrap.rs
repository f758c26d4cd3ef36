//! v1 key wrapping (v1.md §2.6–2.8): the FKEK is HKDF-SHA256 of the raw X25519 shared secret
//! between a system and a friend; the VEK travels as `nonce(12) ‖ AES-256-GCM(FKEK, VEK) ‖
//! tag(16)` = 60 bytes, no associated data.
//!
//! The key exchange is unauthenticated in v1 (W5): whoever supplies the peer's public key
//! decides who can unwrap. Nothing here can fix that; it is noted so that callers show users
//! key fingerprints where they can.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut as _, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use super::volume::{NONCE_LEN, TAG_LEN};
use super::{Fkek, V1Error, Vek, keys};
use crate::identity::{Identity, KEY_LEN};
use crate::random;

/// Length of a wrapped VEK: nonce 12 ‖ ciphertext 32 ‖ tag 16.
pub const WRAPPED_VEK_LEN: usize = NONCE_LEN + keys::KEY_LEN + TAG_LEN;

/// HKDF `info` of the FKEK.
const FKEK_INFO: &[u8] = b"PluralLog-FKEK-v1";
/// HKDF salt of the FKEK: 32 zero bytes, which for SHA-256 equals RFC 5869's "no salt".
const FKEK_SALT: [u8; 32] = [0u8; 32];

/// HKDF-SHA256 (RFC 5869) extract-then-expand into `okm`.
///
/// # Panics
/// If `okm` is longer than 255 × 32 bytes; every caller asks for a fixed, small length.
fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], okm: &mut [u8]) {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, okm)
        .expect("HKDF-SHA256 output lengths used here are far below 255 * 32 bytes");
}

/// Derives the FKEK between `own` and a peer's X25519 public key: raw X25519 shared secret,
/// then HKDF-SHA256 with a 32-zero-byte salt, info `"PluralLog-FKEK-v1"`, 32 bytes.
///
/// Both sides get the same key: the system calls it with the friend's exchange key, the
/// friend with the system's.
///
/// # Errors
/// [`V1Error::LowOrderExchangeKey`] if the shared secret is all zeros, i.e. the peer key is
/// a low-order point chosen to make the FKEK public.
pub fn fkek(own: &Identity, peer_exchange_public: &[u8; KEY_LEN]) -> Result<Fkek, V1Error> {
    let shared = own.x25519(peer_exchange_public);
    if bool::from(shared.as_bytes().ct_eq(&[0u8; KEY_LEN])) {
        return Err(V1Error::LowOrderExchangeKey);
    }
    let mut fkek = Fkek::zeroed();
    hkdf_sha256(&FKEK_SALT, shared.as_bytes(), FKEK_INFO, fkek.bytes_mut());
    Ok(fkek)
}

/// Wraps the VEK for the peer of `fkek` under a fresh random nonce, as the System app does
/// when it accepts a sharing request. The result is the 60-byte `encrypted_vek_blob`.
///
/// # Panics
/// Only if the operating system cannot supply randomness.
#[must_use]
pub fn wrap_vek(fkek: &Fkek, vek: &Vek) -> [u8; WRAPPED_VEK_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    random::fill(&mut nonce);
    wrap_vek_with_nonce(fkek, vek, nonce)
}

/// Wraps the VEK under a caller-chosen nonce. **For known-answer tests only**: reusing a
/// nonce under one FKEK breaks AES-GCM. Callers must use [`wrap_vek`].
#[must_use]
pub fn wrap_vek_with_nonce(
    fkek: &Fkek,
    vek: &Vek,
    nonce: [u8; NONCE_LEN],
) -> [u8; WRAPPED_VEK_LEN] {
    let mut out = [0u8; WRAPPED_VEK_LEN];
    let (nonce_out, rest) = out.split_at_mut(NONCE_LEN);
    let (body, tag_out) = rest.split_at_mut(keys::KEY_LEN);
    nonce_out.copy_from_slice(&nonce);
    // The VEK is copied into the output only to be encrypted over in place.
    body.copy_from_slice(vek.expose_secret());
    let tag = fkek
        .cipher()
        .encrypt_inout_detached(&Nonce::<Aes256Gcm>::from(nonce), &[], InOutBuf::from(body))
        .expect("AES-GCM never refuses a 32-byte message");
    tag_out.copy_from_slice(&tag);
    out
}

/// Unwraps a 60-byte wrapped VEK (`encrypted_vek_blob`) with the FKEK.
///
/// # Errors
/// [`V1Error::WrappedVekLength`] unless `wrapped` is exactly 60 bytes;
/// [`V1Error::VekUnwrap`] if AES-GCM refuses it (wrong key pair or altered bytes).
pub fn unwrap_vek(fkek: &Fkek, wrapped: &[u8]) -> Result<Vek, V1Error> {
    let wrong_length = V1Error::WrappedVekLength { len: wrapped.len() };
    if wrapped.len() != WRAPPED_VEK_LEN {
        return Err(wrong_length);
    }
    let (nonce, rest) = wrapped
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(wrong_length)?;
    let (body, tag) = rest.split_last_chunk::<TAG_LEN>().ok_or(wrong_length)?;

    let mut vek = Vek::zeroed();
    // Decrypted straight into the key's own storage; left all-zero on failure.
    let buffer = InOutBuf::new(body, vek.bytes_mut()).map_err(|_| wrong_length)?;
    fkek.cipher()
        .decrypt_inout_detached(nonce.into(), &[], buffer, &Tag::<Aes256Gcm>::from(*tag))
        .map_err(|_| V1Error::VekUnwrap)?;
    Ok(vek)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{hex_array, hex_vec, rfc_vectors, v1_vectors};

    #[test]
    fn rfc5869_test_case_1() {
        let vectors = rfc_vectors();
        let case = &vectors["rfc5869_hkdf_sha256"];
        let length = case["length"].as_u64().expect("length");
        let mut okm = vec![0u8; usize::try_from(length).expect("small")];
        hkdf_sha256(
            &hex_vec(&case["salt"]),
            &hex_vec(&case["ikm"]),
            &hex_vec(&case["info"]),
            &mut okm,
        );
        assert_eq!(okm, hex_vec(&case["okm"]));
        let (prk, _) =
            Hkdf::<Sha256>::extract(Some(&hex_vec(&case["salt"])), &hex_vec(&case["ikm"]));
        assert_eq!(prk.as_slice(), hex_vec(&case["prk"]).as_slice());
    }

    #[test]
    fn zero_salt_equals_no_salt() {
        // v1.md §2.6: the explicit 32-zero-byte salt is RFC 5869's default.
        let mut with_salt = [0u8; 32];
        let mut without = [0u8; 32];
        hkdf_sha256(&FKEK_SALT, b"ikm", FKEK_INFO, &mut with_salt);
        Hkdf::<Sha256>::new(None, b"ikm")
            .expand(FKEK_INFO, &mut without)
            .expect("32 bytes");
        assert_eq!(with_salt, without);
    }

    #[test]
    fn v1_shared_secret_both_directions() {
        // docs/vectors/v1.json "x25519": the RFC 7748 §6.1 pairs (system = Alice).
        let vectors = v1_vectors();
        let x = &vectors["x25519"];
        let system = Identity::from_secret_bytes(&[0u8; 32], &hex_array(&x["system_private"]));
        let friend = Identity::from_secret_bytes(&[0u8; 32], &hex_array(&x["friend_private"]));
        assert_eq!(
            system.public_exchange_key_b64(),
            x["system_public_b64"].as_str().expect("b64")
        );
        assert_eq!(
            friend.public_exchange_key_b64(),
            x["friend_public_b64"].as_str().expect("b64")
        );
        let shared: [u8; 32] = hex_array(&x["shared_secret"]);
        assert_eq!(
            system.x25519(&friend.public_exchange_key()).as_bytes(),
            &shared
        );
        assert_eq!(
            friend.x25519(&system.public_exchange_key()).as_bytes(),
            &shared
        );
    }

    #[test]
    fn low_order_peer_keys_are_refused() {
        let own = Identity::generate();
        // u = 0 and u = 1 are low-order points on Curve25519; so is p (non-canonical 0).
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut one = [0u8; 32];
        one[0] = 1;
        for peer in [[0u8; 32], one, p] {
            assert_eq!(fkek(&own, &peer), Err(V1Error::LowOrderExchangeKey));
        }
    }

    #[test]
    fn wrong_lengths_are_refused() {
        let fkek = Fkek::zeroed();
        for len in [0, 59, 61, 80] {
            assert_eq!(
                unwrap_vek(&fkek, &vec![0u8; len]),
                Err(V1Error::WrappedVekLength { len })
            );
        }
    }
}
