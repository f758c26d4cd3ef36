//! v1 volume encryption (v1.md §2.4): zero padding to 4 KiB, a nonce derived from the volume
//! name and version, AES-256-GCM without associated data, blob = `nonce ‖ ciphertext ‖ tag`.
//!
//! The deterministic nonce is v1's central weakness (W1): encrypting two different plaintexts
//! under the same VEK, name and version reuses an AES-GCM nonce. Callers must never encrypt a
//! (VEK, name, version) triple twice with different content.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::AeadInOut as _;
use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{Nonce, Tag};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::{V1Error, Vek};

/// AES-GCM nonce length (bytes at the start of a blob).
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length (bytes at the end of a blob).
pub const TAG_LEN: usize = 16;

/// The padding grid, as `usize` (the wire crate states it as `u64`).
const BLOCK: usize = 4096;
const _: () = assert!(BLOCK as u64 == coffer_wire::v1::PADDING_BLOCK);
const _: () = assert!((NONCE_LEN + TAG_LEN) as u64 == coffer_wire::v1::AEAD_OVERHEAD);

/// The largest plaintext AES-GCM can encrypt under one nonce (2^39 − 256 bits, NIST SP
/// 800-38D), rounded down to the padding grid: 64 GiB − 4 KiB. [`encrypt_volume`] panics above
/// it; callers taking sizes from outside should check first. (A v1 relay stores at most
/// 10 MiB per volume.)
pub const MAX_PLAINTEXT_LEN: u64 = (aes_gcm::P_MAX / BLOCK as u64) * BLOCK as u64;

/// The v1 nonce of a volume: the first 12 bytes of SHA-256 of the UTF-8 text
/// `"<name>|<version>"`, version in plain decimal.
#[must_use]
pub fn volume_nonce(name: &str, version: u64) -> [u8; NONCE_LEN] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"|")
        .chain_update(version.to_string().as_bytes())
        .finalize();
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&digest[..NONCE_LEN]);
    nonce
}

/// Length of `len` bytes after zero padding: the next multiple of 4096 (0 stays 0, an exact
/// multiple gets no padding).
fn padded_len(len: usize) -> usize {
    // Cannot overflow for a slice length: slices are at most isize::MAX bytes.
    len.div_ceil(BLOCK) * BLOCK
}

/// Zero-pads `plaintext` to the next multiple of 4096 bytes, as the System app does before
/// encrypting. The result is wiped when dropped.
#[must_use]
pub fn pad(plaintext: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(padded_len(plaintext.len())));
    out.extend_from_slice(plaintext);
    out.resize(padded_len(plaintext.len()), 0);
    out
}

/// Encrypts a volume plaintext the v1 way: pads it, encrypts with the VEK under
/// [`volume_nonce`]`(name, version)` with no associated data, and returns
/// `nonce(12) ‖ ciphertext ‖ tag(16)`, whose length is the padded length + 28.
///
/// One allocation: the padded plaintext is laid out in the output buffer and encrypted in
/// place, so no plaintext copy is left behind.
///
/// # Panics
/// If `plaintext` is longer than [`MAX_PLAINTEXT_LEN`] (64 GiB − 4 KiB), AES-GCM's limit.
#[must_use]
pub fn encrypt_volume(vek: &Vek, name: &str, version: u64, plaintext: &[u8]) -> Vec<u8> {
    let padded = padded_len(plaintext.len());
    assert!(
        padded as u64 <= MAX_PLAINTEXT_LEN,
        "volume plaintext exceeds the AES-GCM limit of {MAX_PLAINTEXT_LEN} bytes"
    );
    let nonce = volume_nonce(name, version);

    let mut blob = Vec::with_capacity(NONCE_LEN + padded + TAG_LEN);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(plaintext);
    blob.resize(NONCE_LEN + padded, 0);
    let tag = vek
        .cipher()
        .encrypt_inout_detached(
            &Nonce::<Aes256Gcm>::from(nonce),
            &[],
            InOutBuf::from(&mut blob[NONCE_LEN..]),
        )
        .expect("AES-GCM only refuses inputs above its limit, checked above");
    blob.extend_from_slice(&tag);
    blob
}

/// Decrypts a v1 volume blob that the reader expects to be `name` at `version`.
///
/// Checks, in order: the blob holds at least a nonce and a tag; its nonce is exactly
/// [`volume_nonce`]`(name, version)` (a careful reader's check that the relay did not serve a
/// blob under another name or version, W4); AES-256-GCM opens with no associated data. Then
/// strips *all* trailing `0x00` bytes — v1 has no length field, so a plaintext that itself
/// ended in NULs loses them (v1 plaintexts are JSON, which never does).
///
/// The ciphertext is decrypted straight into the returned buffer, which is wiped on drop.
///
/// # Errors
/// [`V1Error::VolumeTooShort`] below 28 bytes, [`V1Error::VolumeNonceMismatch`] for a blob of
/// another name or version, [`V1Error::VolumeAuthentication`] for a wrong VEK or altered bytes.
pub fn decrypt_volume(
    vek: &Vek,
    name: &str,
    version: u64,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, V1Error> {
    let too_short = V1Error::VolumeTooShort { len: blob.len() };
    let (nonce, rest) = blob.split_first_chunk::<NONCE_LEN>().ok_or(too_short)?;
    let (ciphertext, tag) = rest.split_last_chunk::<TAG_LEN>().ok_or(too_short)?;
    // Public values: no need for a constant-time comparison.
    if *nonce != volume_nonce(name, version) {
        return Err(V1Error::VolumeNonceMismatch);
    }

    let mut plaintext = Zeroizing::new(vec![0u8; ciphertext.len()]);
    let buffer = InOutBuf::new(ciphertext, &mut plaintext[..])
        .expect("output buffer allocated with the ciphertext's length");
    vek.cipher()
        .decrypt_inout_detached(nonce.into(), &[], buffer, &Tag::<Aes256Gcm>::from(*tag))
        .map_err(|_| V1Error::VolumeAuthentication)?;

    // The bytes cut off are the zero padding, so nothing secret stays in the spare capacity.
    let end = plaintext.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    plaintext.truncate(end);
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_edges() {
        assert_eq!(padded_len(0), 0);
        assert_eq!(padded_len(1), 4096);
        assert_eq!(padded_len(4096), 4096);
        assert_eq!(padded_len(4097), 8192);
        assert!(pad(&[]).is_empty());
        assert_eq!(pad(&[1; 4096]).len(), 4096);
    }

    #[test]
    fn blob_lengths() {
        let vek = Vek::from_bytes([1; 32]);
        assert_eq!(encrypt_volume(&vek, "meta", 1, &[]).len(), 28);
        assert_eq!(encrypt_volume(&vek, "meta", 1, b"{}").len(), 4124);
        assert_eq!(encrypt_volume(&vek, "meta", 1, &[b'x'; 4097]).len(), 8220);
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let vek = Vek::from_bytes([1; 32]);
        let blob = encrypt_volume(&vek, "meta", 3, &[]);
        assert!(
            decrypt_volume(&vek, "meta", 3, &blob)
                .expect("opens")
                .is_empty()
        );
    }

    #[test]
    fn wrong_key_or_tag_is_refused() {
        let blob = encrypt_volume(&Vek::from_bytes([1; 32]), "chat", 9, b"hello");
        assert_eq!(
            decrypt_volume(&Vek::from_bytes([2; 32]), "chat", 9, &blob),
            Err(V1Error::VolumeAuthentication)
        );
        let mut tampered = blob.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            decrypt_volume(&Vek::from_bytes([1; 32]), "chat", 9, &tampered),
            Err(V1Error::VolumeAuthentication)
        );
    }

    #[test]
    fn short_blob_and_foreign_nonce_are_refused_before_decrypting() {
        let vek = Vek::from_bytes([1; 32]);
        assert_eq!(
            decrypt_volume(&vek, "meta", 1, &[0; 27]),
            Err(V1Error::VolumeTooShort { len: 27 })
        );
        let blob = encrypt_volume(&vek, "meta", 1, b"x");
        assert_eq!(
            decrypt_volume(&vek, "meta", 2, &blob),
            Err(V1Error::VolumeNonceMismatch)
        );
        assert_eq!(
            decrypt_volume(&vek, "members", 1, &blob),
            Err(V1Error::VolumeNonceMismatch)
        );
    }
}
