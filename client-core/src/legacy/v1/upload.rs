//! v1 uploads (v1.md §2.4 step 6, §2.5, §5.4): the control header, its static event tags, the
//! hour-floored timestamp, and the Ed25519 signature over `canonical header JSON ‖ blob`.
//!
//! The canonical JSON itself belongs to `coffer_wire::v1::ControlHeader`; this module only
//! signs and verifies its [`ControlHeader::signature_input`].

use std::fmt;

use coffer_wire::time::HOUR;
use coffer_wire::v1::{ControlHeader, VolumeName};
use ed25519_dalek::{Signature, VerifyingKey};

use super::{V1Error, Vek, encrypt_volume};
use crate::identity::{Identity, KEY_LEN, SIGNATURE_LEN};

/// Everything a System app sends in `PUT /api/v1/volumes/{name}`: the header (sent as a JSON
/// object), the encrypted blob (`encrypted_payload`, base64) and the signature (base64).
#[derive(Clone, PartialEq, Eq)]
pub struct SealedVolume {
    /// The signed control header; `size_bytes` is the blob length.
    pub header: ControlHeader,
    /// `nonce(12) ‖ ciphertext ‖ tag(16)`.
    pub blob: Vec<u8>,
    /// Ed25519 over `header.canonical_json() ‖ blob`.
    pub signature: [u8; SIGNATURE_LEN],
}

impl fmt::Debug for SealedVolume {
    // Ciphertext stays out of logs (house rule); its length is enough to debug with.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedVolume")
            .field("header", &self.header)
            .field("blob_len", &self.blob.len())
            .finish_non_exhaustive()
    }
}

/// Floors Unix seconds to the start of their hour (`floor(t / 3600) * 3600`), as the System
/// app does for `modified_at` (v1.md §2.4 — floor, although v1's texts say "nearest").
///
/// Never panics: for the 1,792 values closest to `i64::MIN`, whose floor is not representable,
/// it returns the lowest representable hour boundary instead.
#[must_use]
pub fn floor_to_hour(unix_seconds: i64) -> i64 {
    let into_hour = unix_seconds.rem_euclid(HOUR);
    unix_seconds
        .checked_sub(into_hour)
        // Only reached near i64::MIN, where adding cannot overflow.
        .unwrap_or_else(|| unix_seconds + (HOUR - into_hour))
}

/// The static `event_tags` the System app sends for each volume (v1.md §5.4). The template
/// never uploads `analytics`; Coffer tags it `["analytics"]`.
#[must_use]
pub fn event_tags(name: VolumeName) -> Vec<String> {
    let tags: &[&str] = match name {
        VolumeName::Meta => &["meta"],
        VolumeName::Members => &["member"],
        VolumeName::Fronts => &["switch", "front"],
        VolumeName::Journal => &["journal"],
        VolumeName::Chat => &["chat"],
        VolumeName::Polls => &["poll"],
        VolumeName::Vault => &["vault"],
        VolumeName::Analytics => &["analytics"],
    };
    tags.iter().map(|t| (*t).to_owned()).collect()
}

/// Encrypts and signs one volume exactly as the System app does: blob =
/// [`encrypt_volume`]`(vek, name, version, plaintext)`; header with `modified_at` floored to
/// the hour, `size_bytes` = blob length and the static [`event_tags`]; signature by `id` over
/// the header's canonical JSON followed by the blob.
///
/// `version` must be new for this VEK and volume (v1.md W1): sealing different content twice
/// under the same version reuses an AES-GCM nonce. A v1 relay also refuses versions above
/// `i64::MAX`.
///
/// # Panics
/// Only under the same condition as [`encrypt_volume`] (a plaintext above 64 GiB − 4 KiB).
#[must_use]
pub fn seal_volume(
    id: &Identity,
    vek: &Vek,
    name: VolumeName,
    version: u64,
    modified_at: i64,
    plaintext: &[u8],
) -> SealedVolume {
    let blob = encrypt_volume(vek, name.as_str(), version, plaintext);
    let header = ControlHeader {
        volume_name: name.as_str().to_owned(),
        version,
        modified_at: floor_to_hour(modified_at),
        // usize → u64 is lossless on every platform Rust supports.
        size_bytes: blob.len() as u64,
        event_tags: event_tags(name),
    };
    let signature = id.sign(&header.signature_input(&blob));
    SealedVolume {
        header,
        blob,
        signature,
    }
}

/// Verifies a v1 upload signature: Ed25519 by `public_signing_key` over the header's
/// canonical JSON followed by the blob. Uses strict verification (canonical encodings, no
/// small-order keys), which every honestly made signature passes.
///
/// Only the signature is checked: that `size_bytes` matches the blob, or that the blob
/// decrypts under the expected name and version, is for the caller ([`super::decrypt_volume`]).
///
/// # Errors
/// [`V1Error::InvalidSigningKey`] if the key is not a valid Ed25519 point;
/// [`V1Error::BadSignature`] if the signature does not verify.
pub fn verify_upload(
    public_signing_key: &[u8; KEY_LEN],
    header: &ControlHeader,
    blob: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), V1Error> {
    let key =
        VerifyingKey::from_bytes(public_signing_key).map_err(|_| V1Error::InvalidSigningKey)?;
    key.verify_strict(
        &header.signature_input(blob),
        &Signature::from_bytes(signature),
    )
    .map_err(|_| V1Error::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_to_the_hour() {
        assert_eq!(floor_to_hour(1_774_609_200), 1_774_609_200);
        assert_eq!(floor_to_hour(1_774_612_799), 1_774_609_200);
        assert_eq!(floor_to_hour(1_774_612_800), 1_774_612_800);
        assert_eq!(floor_to_hour(0), 0);
        assert_eq!(floor_to_hour(-1), -3600);
        assert_eq!(
            floor_to_hour(i64::MAX),
            i64::MAX - i64::MAX.rem_euclid(3600)
        );
        for t in [i64::MIN, i64::MIN + 1791, i64::MIN + 1792] {
            let h = floor_to_hour(t);
            assert_eq!(h.rem_euclid(3600), 0, "{t}");
            assert!((h - t).abs() < 3600, "{t}");
        }
    }

    #[test]
    fn tags_match_the_system_app() {
        assert_eq!(event_tags(VolumeName::Fronts), ["switch", "front"]);
        assert_eq!(event_tags(VolumeName::Members), ["member"]);
        assert_eq!(event_tags(VolumeName::Polls), ["poll"]);
        assert_eq!(event_tags(VolumeName::Analytics), ["analytics"]);
        for name in VolumeName::ALL {
            assert!(!event_tags(name).is_empty());
        }
    }

    #[test]
    fn seal_then_verify() {
        let id = Identity::generate();
        let vek = Vek::generate();
        let sealed = seal_volume(&id, &vek, VolumeName::Journal, 7, 1_774_612_345, b"{}");
        assert_eq!(sealed.header.volume_name, "journal");
        assert_eq!(sealed.header.version, 7);
        assert_eq!(sealed.header.modified_at, 1_774_609_200);
        assert_eq!(sealed.header.size_bytes, 4124);
        assert_eq!(sealed.header.event_tags, ["journal"]);
        let pk = id.public_signing_key();
        assert_eq!(
            verify_upload(&pk, &sealed.header, &sealed.blob, &sealed.signature),
            Ok(())
        );

        let mut header = sealed.header.clone();
        header.version = 8;
        assert_eq!(
            verify_upload(&pk, &header, &sealed.blob, &sealed.signature),
            Err(V1Error::BadSignature)
        );
        let mut blob = sealed.blob.clone();
        blob[20] ^= 0x01;
        assert_eq!(
            verify_upload(&pk, &sealed.header, &blob, &sealed.signature),
            Err(V1Error::BadSignature)
        );
        let other = Identity::generate().public_signing_key();
        assert_eq!(
            verify_upload(&other, &sealed.header, &sealed.blob, &sealed.signature),
            Err(V1Error::BadSignature)
        );
    }

    #[test]
    fn invalid_signing_keys_are_refused() {
        let sealed = seal_volume(
            &Identity::generate(),
            &Vek::generate(),
            VolumeName::Meta,
            1,
            0,
            b"{}",
        );
        // y = 2 is not the y-coordinate of a curve point.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert_eq!(
            verify_upload(
                &not_a_point,
                &sealed.header,
                &sealed.blob,
                &sealed.signature
            ),
            Err(V1Error::InvalidSigningKey)
        );
        // The identity point (small order): decodes, but strict verification refuses it.
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        assert!(
            verify_upload(
                &identity_point,
                &sealed.header,
                &sealed.blob,
                &sealed.signature
            )
            .is_err()
        );
    }

    #[test]
    fn debug_omits_ciphertext() {
        let sealed = seal_volume(
            &Identity::generate(),
            &Vek::generate(),
            VolumeName::Meta,
            1,
            0,
            b"{}",
        );
        let text = format!("{sealed:?}");
        assert!(text.contains("blob_len: 4124"));
        assert!(!text.contains(&format!("{:?}", &sealed.blob[..4])));
    }
}
