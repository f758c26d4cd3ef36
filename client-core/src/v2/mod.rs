//! The v2 crypto core (`docs/protocol-v2.md`): Coffer's own protocol, built so that properties
//! P1–P12 of the design hold against a malicious relay.
//!
//! Pure functions and types only: bytes, keys and the clock come in as arguments, randomness
//! comes from the operating system, nothing here touches the network or the disk. The exact byte
//! layouts (headers, grants, labels, Padmé, the login transcript, the key-binding message) live in
//! the crypto-free `coffer_wire::v2`; this module adds the keys, AEAD, signatures and KDFs and
//! never re-encodes a layout the wire crate already defines.
//!
//! What it must never do:
//! - re-serialise something it verifies: signatures are checked over the exact bytes received
//!   (P4), and parsing happens only *after* the signature verifies;
//! - hand out a key for more than one purpose: every signature, HKDF `info` and associated data
//!   starts with its own `coffer-v2/...` label (P9);
//! - let key bytes, plaintext or ciphertext reach an error message or a `Debug` string (P11).
//!
//! Shape:
//! - [`Fingerprint`] and [`PublicIdentity`]: who a peer is (§2); the v2 methods of
//!   [`Identity`](crate::identity::Identity) (key binding, fingerprint, v2 login) live in
//!   `identity.rs` of this module.
//! - [`seal`] / [`open`] / [`verify_header`]: volumes (§4) — per-version subkeys, random nonces,
//!   the header as associated data, Padmé framing.
//! - [`WrapKey`]: per-pair key wrapping of volume keys (§6); [`sign_grant`] / [`verify_grant`].
//! - [`InviteLink`], [`pairing_proof`]: authenticated pairing (§5).
//! - [`RelayList`]: the plaintext of the signed relay list, the `coffer.relays` volume (§15).
//! - [`HighWater`]: rollback detection (§7, P7).
//! - [`export_backup`] / [`import_backup`]: the passphrase-encrypted identity backup (§9, P12).
//!
//! ```
//! use coffer_client_core::identity::Identity;
//! use coffer_client_core::v2::{self, HeaderFields, HighWater, Side, VolumeKey, WrapKey};
//! use coffer_wire::v2::VolumeName;
//! use uuid::Uuid;
//!
//! # fn main() -> Result<(), v2::V2Error> {
//! let (system, friend) = (Identity::generate(), Identity::generate());
//! let (system_id, friend_id) = (Uuid::from_bytes([1; 16]), Uuid::from_bytes([2; 16]));
//! // After pairing (§5) each side has pinned the other's fingerprint.
//! let (pinned_friend, pinned_system) = (friend.fingerprint(), system.fingerprint());
//!
//! // System: seal version 1 of "meta" under the epoch-1 key, wrap that key for the friend.
//! let meta = VolumeName::new("meta").expect("valid name");
//! let vek = VolumeKey::generate();
//! let fields = HeaderFields { owner: system_id, volume: meta.clone(), epoch: 1, version: 1, hour: 1_774_609_200 };
//! let sealed = v2::seal(&system, &vek, &fields, br#"{"schema_version":2}"#)?;
//! let kek = WrapKey::derive(&system, Side::Owner, system_id, friend_id, &friend.public_identity(), &pinned_friend)?;
//! let wrapped = kek.wrap(&meta, 1, &vek);
//!
//! // Friend: derive the same pair key, unwrap, open, and check for rollback.
//! let kek = WrapKey::derive(&friend, Side::Friend, system_id, friend_id, &system.public_identity(), &pinned_system)?;
//! let friend_vek = kek.unwrap(&meta, 1, &wrapped)?;
//! let opened = v2::open(
//!     &system.public_signing_key(), system_id, &meta,
//!     &sealed.header_bytes, &sealed.signature, &sealed.payload,
//!     |epoch| (epoch == 1).then_some(&friend_vek),
//! )?;
//! let mut marks = HighWater::new();
//! marks.record(opened.header())?;
//! assert_eq!(opened.plaintext(), br#"{"schema_version":2}"#);
//! # Ok(())
//! # }
//! ```
//!
//! A few functions take a caller-chosen nonce, salt or secret so that `docs/vectors/v2.json`
//! can be generated deterministically. They are `#[doc(hidden)]`, named `danger_*`, and must
//! never be used outside the vector generator and tests: real callers use the random versions.

mod backup;
mod devices;
mod error;
mod fingerprint;
mod grant;
mod identity;
mod keys;
mod link;
mod pairing;
mod percent;
mod receipt;
mod relay_list;
mod rollback;
mod tombstone;
mod volume;
mod wrap;

pub use backup::{
    BackupError, BackupParams, MAX_BACKUP_PLAINTEXT_LEN, danger_export_backup_with, export_backup,
    import_backup,
};
pub use devices::{
    DeviceSecret, LinkSecret, MAX_DEVICES, PACKAGE_LEN, PackageContents, SLOT_LEN, StateKey,
    link_proof, open_package, open_slot, open_state, seal_package, seal_slot, seal_state,
    split_payload, verify_link_proof,
};
pub use error::V2Error;
pub use fingerprint::{Fingerprint, PublicIdentity};
pub use grant::{SignedGrant, VerifiedGrant, sign_grant, verify_grant};
pub use keys::{InviteSecret, VolumeKey};
pub use link::InviteLink;
pub use pairing::{pairing_proof, verify_pairing_proof};
pub use receipt::{SignedReceipt, sign_receipt, verify_receipt};
pub use relay_list::{MAX_RELAYS, RELAY_LIST_VOLUME, RelayEntry, RelayList};
pub use rollback::{HighWater, RestoreStatement, sign_restore};
pub use tombstone::{SignedTombstone, sign_tombstone, verify_tombstone};
pub use volume::{
    HeaderFields, MAX_PLAINTEXT_LEN, Opened, SealedV2, VerifiedHeader, danger_seal_with_nonce,
    frame_and_pad, open, seal, verify_header,
};
pub use wrap::{Side, WRAPPED_KEY_LEN, WrapKey};

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use coffer_wire::v2::VolumeName;

/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;

const _: () = assert!((NONCE_LEN + TAG_LEN) as u64 == coffer_wire::v2::AEAD_OVERHEAD);

/// HKDF-SHA256 with an empty salt (the spec's `salt = empty`) into a fresh 32-byte key.
fn hkdf32(ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut okm = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(None, ikm)
        .expand(info, &mut okm[..])
        .expect("32 bytes is far below HKDF-SHA256's 255 * 32 byte limit");
    okm
}

/// Appends `str8(name)`. Valid names are 1–64 bytes, so the length always fits a `u8`.
fn put_str8(out: &mut Vec<u8>, name: &VolumeName) {
    let bytes = name.as_str().as_bytes();
    let len = u8::try_from(bytes.len()).expect("volume names are at most 64 bytes");
    out.push(len);
    out.extend_from_slice(bytes);
}

/// Verifies an Ed25519 signature strictly (RFC 8032 with canonical `S` and `R`, no small-order
/// keys) over a labelled message.
fn verify_labelled(
    public_key: &[u8; 32],
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), V2Error> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(public_key)
        .map_err(|_| V2Error::InvalidSigningKey)?;
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
        .map_err(|_| V2Error::BadSignature)
}

#[cfg(test)]
mod tests {
    use coffer_wire::v2::{Grant, GrantEntry};

    use super::*;
    use crate::identity::Identity;

    /// P9: one key signs several kinds of message, but a signature of one kind never verifies
    /// as another, because every message starts with its own label.
    #[test]
    fn signatures_do_not_cross_labels() {
        let id = Identity::generate();
        let pk = id.public_signing_key();
        let grant = Grant {
            owner: [1; 16],
            friend: [2; 16],
            friend_fingerprint: [3; 32],
            sequence: 1,
            expires_at: 0,
            entries: vec![GrantEntry {
                volume: VolumeName::new("meta").expect("valid"),
                epoch: 1,
            }],
        };
        let signed = sign_grant(&id, &grant).expect("valid");
        // The grant signature presented as a header signature over the same bytes.
        assert_eq!(
            verify_header(
                &pk,
                uuid::Uuid::from_bytes([1; 16]),
                &VolumeName::new("meta").expect("valid"),
                &signed.bytes,
                &signed.signature
            )
            .err(),
            Some(V2Error::BadSignature)
        );
        // A key-binding signature presented as a restore or grant signature.
        let binding = id.key_binding_signature();
        let statement = RestoreStatement {
            owner: uuid::Uuid::from_bytes([1; 16]),
            volume: VolumeName::new("meta").expect("valid"),
            epoch: 1,
            version: 1,
        };
        assert_eq!(
            HighWater::new().apply_restore(&pk, &statement, &binding),
            Err(V2Error::BadSignature)
        );
        let fp = Fingerprint::from_bytes([3; 32]);
        let uid = |b| uuid::Uuid::from_bytes([b; 16]);
        assert_eq!(
            verify_grant(&pk, &signed.bytes, &binding, uid(1), uid(2), &fp, 0).err(),
            Some(V2Error::BadSignature)
        );
        assert!(
            verify_grant(
                &pk,
                &signed.bytes,
                &signed.signature,
                uid(1),
                uid(2),
                &fp,
                0
            )
            .is_ok()
        );
    }
}
