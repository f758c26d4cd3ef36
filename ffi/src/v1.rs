//! **LEGACY** v1 crypto, bound for apps that must read and write volumes the way the existing
//! PluralLog apps do. Every function is named `v1_…` (Kotlin `v1…`) so that code using it is
//! visibly legacy; the hardened v2 protocol will be bound separately and be the default.
//!
//! v1's weaknesses are inherited, not fixed here (`docs/protocol-v1.md` §2.12). The ones an
//! app can trip over:
//! - **Never seal two different plaintexts under the same VEK, volume name and version**: v1
//!   derives the AES-GCM nonce from name and version, so doing so reuses a nonce (W1).
//! - [`v1_verify_upload`] checks only the signature. Also check that the header names the
//!   volume and version you asked for, and decrypt with that same name and version
//!   ([`v1_decrypt_volume`] refuses a blob of another name or version).
//! - Key exchange is unauthenticated (W5): [`v1_wrap_vek`] wraps for whichever public key it is
//!   given. Show users key fingerprints where you can.
//!
//! Every function here only converts arguments and calls `coffer_client_core::legacy::v1`.

use std::fmt;
use std::sync::Arc;

use coffer_client_core::identity::{KEY_LEN, SIGNATURE_LEN};
use coffer_client_core::legacy::v1 as core;
use coffer_wire::v1::{ControlHeader, VolumeName};
use zeroize::Zeroizing;

use crate::error::{CofferError, exact};
use crate::identity::Identity;

/// The eight v1 volume names; no other name exists in v1. The same type as
/// `coffer_wire::v1::VolumeName`, so the two cannot drift apart.
#[uniffi::remote(Enum)]
pub enum VolumeName {
    /// `meta`: always readable by an accepted friend.
    Meta,
    /// `members`.
    Members,
    /// `fronts`.
    Fronts,
    /// `journal`.
    Journal,
    /// `chat`: never readable by a friend.
    Chat,
    /// `polls`.
    Polls,
    /// `analytics`.
    Analytics,
    /// `vault`.
    Vault,
}

/// The v1 Volume Encryption Key: the AES-256-GCM key of every volume of a system, shared with
/// every accepted friend (one VEK per system in v1).
///
/// The key stays inside Rust and is wiped when the object is destroyed (Kotlin `close()` /
/// `use {}`, Swift deinit, Python `del`). Its `Debug` form is `Vek(<redacted>)`. The one way to
/// read it is [`Vek::danger_export_bytes`], which exists because v1 apps must persist it.
#[derive(uniffi::Object)]
pub struct Vek(core::Vek);

impl fmt::Debug for Vek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vek(<redacted>)")
    }
}

#[uniffi::export]
impl Vek {
    /// A fresh random VEK from the operating system's randomness. A v1 System app makes one
    /// once, persists it with [`Vek::danger_export_bytes`] in the platform's secure storage,
    /// and reloads it with [`Vek::from_bytes`].
    #[uniffi::constructor]
    pub fn generate() -> Arc<Self> {
        Arc::new(Vek(core::Vek::generate()))
    }

    /// Loads a stored 32-byte VEK. Rust wipes its copy of the argument; the caller should wipe
    /// its own. Throws `InvalidInput` unless `bytes` is exactly 32 bytes.
    #[uniffi::constructor]
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Arc<Self>, CofferError> {
        let bytes = Zeroizing::new(bytes);
        let key = Zeroizing::new(exact::<{ core::KEY_LEN }>(&bytes, "VEK")?);
        Ok(Arc::new(Vek(core::Vek::from_bytes(*key))))
    }

    /// **Danger:** the raw 32 key bytes, which decrypt every volume of the system.
    ///
    /// It exists because a v1 System app must persist its VEK across restarts (v1 has one
    /// long-lived VEK per system and no key hierarchy to re-derive it from). Put the result
    /// straight into the platform's secure storage (Android Keystore-wrapped storage, iOS
    /// Keychain) and wipe the array afterwards (`fill(0)`); never log, send or display it.
    /// Rust cannot wipe the copies made on the way across the boundary or by the foreign
    /// runtime, so call this once per stored copy, not per use.
    pub fn danger_export_bytes(&self) -> Vec<u8> {
        self.0.expose_secret().to_vec()
    }
}

/// The five signed fields of a v1 control header (`control_header` in
/// `PUT /api/v1/volumes/{name}` and in a volume download).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ControlHeaderRecord {
    /// The volume name, as on the wire (`"meta"`, `"members"`, …).
    pub volume_name: String,
    /// The version, ≥ 1, strictly increasing per volume.
    pub version: u64,
    /// Unix seconds, floored to the hour.
    pub modified_at: i64,
    /// Length of the blob in bytes.
    pub size_bytes: u64,
    /// The volume's static event tags.
    pub event_tags: Vec<String>,
}

impl From<ControlHeader> for ControlHeaderRecord {
    fn from(header: ControlHeader) -> Self {
        let ControlHeader {
            volume_name,
            version,
            modified_at,
            size_bytes,
            event_tags,
        } = header;
        ControlHeaderRecord {
            volume_name,
            version,
            modified_at,
            size_bytes,
            event_tags,
        }
    }
}

impl From<ControlHeaderRecord> for ControlHeader {
    fn from(record: ControlHeaderRecord) -> Self {
        let ControlHeaderRecord {
            volume_name,
            version,
            modified_at,
            size_bytes,
            event_tags,
        } = record;
        ControlHeader {
            volume_name,
            version,
            modified_at,
            size_bytes,
            event_tags,
        }
    }
}

/// Everything a v1 System app uploads for one volume: send `header_json` as the
/// `control_header` object, `blob` (base64) as `encrypted_payload` and `signature` (base64) as
/// the signature. Contains no secret; `Debug` shows the blob's length, not its bytes.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct SealedVolumeRecord {
    /// The signed header fields.
    pub header: ControlHeaderRecord,
    /// The header's canonical JSON: exactly the text the signature covers (compact, keys in
    /// signing order). Send it unchanged.
    pub header_json: String,
    /// The encrypted volume: `nonce(12) ‖ ciphertext ‖ tag(16)`.
    pub blob: Vec<u8>,
    /// The 64-byte Ed25519 signature over `header_json` (UTF-8) followed by `blob`.
    pub signature: Vec<u8>,
}

impl fmt::Debug for SealedVolumeRecord {
    // Ciphertext stays out of logs; its length is enough to debug with.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedVolumeRecord")
            .field("header", &self.header)
            .field("blob_len", &self.blob.len())
            .finish_non_exhaustive()
    }
}

impl From<core::SealedVolume> for SealedVolumeRecord {
    fn from(sealed: core::SealedVolume) -> Self {
        let core::SealedVolume {
            header,
            blob,
            signature,
        } = sealed;
        SealedVolumeRecord {
            header_json: header.canonical_json(),
            header: header.into(),
            blob,
            signature: signature.to_vec(),
        }
    }
}

/// Encrypts and signs one volume exactly as the v1 System app does: zero-pads `plaintext` to
/// 4 KiB blocks, encrypts it with `vek` under the nonce of (`name`, `version`), and signs the
/// header (with `modified_at` floored to the hour) and the blob with `identity`.
///
/// `version` must never have been sealed before with this VEK and name (see the module doc).
/// Throws `InvalidInput` for a plaintext above 64 GiB − 4 KiB.
#[uniffi::export]
pub fn v1_seal_volume(
    identity: &Identity,
    vek: &Vek,
    name: VolumeName,
    version: u64,
    modified_at: i64,
    plaintext: Vec<u8>,
) -> Result<SealedVolumeRecord, CofferError> {
    let plaintext = Zeroizing::new(plaintext);
    // usize → u64 is lossless on every platform Rust supports. Checked here so that a foreign
    // caller gets an error instead of client-core's documented panic.
    if plaintext.len() as u64 > core::MAX_PLAINTEXT_LEN {
        return Err(CofferError::InvalidInput {
            reason: format!(
                "a v1 volume plaintext is at most {} bytes",
                core::MAX_PLAINTEXT_LEN
            ),
        });
    }
    let sealed = core::seal_volume(
        identity.core(),
        &vek.0,
        name,
        version,
        modified_at,
        &plaintext,
    );
    Ok(sealed.into())
}

/// Verifies a v1 upload signature: Ed25519 (strict) by `public_signing_key` (32 raw bytes)
/// over the header's canonical JSON followed by `blob`.
///
/// Only the signature is checked; also check the header's name and version, then call
/// [`v1_decrypt_volume`]. Throws `BadSignature` if it does not verify, `InvalidPublicKey` for
/// a key that is not a valid Ed25519 key, `InvalidInput` for a key that is not 32 bytes or a
/// signature that is not 64 bytes.
#[uniffi::export]
pub fn v1_verify_upload(
    public_signing_key: Vec<u8>,
    header: ControlHeaderRecord,
    blob: Vec<u8>,
    signature: Vec<u8>,
) -> Result<(), CofferError> {
    let key = exact::<KEY_LEN>(&public_signing_key, "public signing key")?;
    let signature = exact::<SIGNATURE_LEN>(&signature, "signature")?;
    core::verify_upload(&key, &header.into(), &blob, &signature)?;
    Ok(())
}

/// Decrypts a v1 volume blob expected to be volume `name` at `version`, and returns the
/// plaintext with its trailing zero padding removed.
///
/// Throws `WrongVolume` if the blob is of another name or version, `TamperedOrWrongKey` if it
/// was altered or encrypted under another VEK, `InvalidInput` if it is shorter than 28 bytes.
/// Rust wipes its working buffer; the plaintext handed across the boundary is the app's to
/// protect.
#[uniffi::export]
pub fn v1_decrypt_volume(
    vek: &Vek,
    name: VolumeName,
    version: u64,
    blob: Vec<u8>,
) -> Result<Vec<u8>, CofferError> {
    let plaintext = core::decrypt_volume(&vek.0, name.as_str(), version, &blob)?;
    Ok(plaintext.to_vec())
}

/// Wraps `vek` for a peer (System → Friend when accepting a sharing request): derives the
/// key-encryption key from `own`'s X25519 key and the peer's 32-byte X25519 public key, and
/// returns the 60-byte `encrypted_vek_blob` (fresh random nonce each call).
///
/// The derived key-encryption key never leaves Rust. Throws `InvalidPublicKey` for a low-order
/// peer key, `InvalidInput` for a key that is not 32 bytes.
#[uniffi::export]
pub fn v1_wrap_vek(
    own: &Identity,
    peer_exchange_public_key: Vec<u8>,
    vek: &Vek,
) -> Result<Vec<u8>, CofferError> {
    let peer = exact::<KEY_LEN>(&peer_exchange_public_key, "peer exchange public key")?;
    let fkek = core::fkek(own.core(), &peer)?;
    Ok(core::wrap_vek(&fkek, &vek.0).to_vec())
}

/// Unwraps a 60-byte `encrypted_vek_blob` that the peer (the System) wrapped for `own` (the
/// Friend), given the peer's 32-byte X25519 public key.
///
/// Throws `TamperedOrWrongKey` if it was altered or wrapped for another key pair,
/// `InvalidPublicKey` for a low-order peer key, `InvalidInput` for wrong lengths.
#[uniffi::export]
pub fn v1_unwrap_vek(
    own: &Identity,
    peer_exchange_public_key: Vec<u8>,
    wrapped_vek: Vec<u8>,
) -> Result<Arc<Vek>, CofferError> {
    let peer = exact::<KEY_LEN>(&peer_exchange_public_key, "peer exchange public key")?;
    let fkek = core::fkek(own.core(), &peer)?;
    Ok(Arc::new(Vek(core::unwrap_vek(&fkek, &wrapped_vek)?)))
}

/// Signs a v1 login challenge: Ed25519 over the UTF-8 bytes of `nonce_text`, the `nonce`
/// field of the relay's `POST /auth/challenge` answer **exactly as received** (not decoded).
/// Returns the 64-byte signature. v1 login signatures have no domain separation, so only what
/// a v1 challenge nonce looks like is signed (44 characters of standard base64 of 32 bytes).
///
/// Throws `InvalidInput` for any other text (so this cannot be used as a signing oracle for
/// an identity that also logs in to v2).
#[uniffi::export]
pub fn v1_sign_login(identity: &Identity, nonce_text: String) -> Result<Vec<u8>, CofferError> {
    Ok(core::sign_login(identity.core(), &nonce_text)?.to_vec())
}

/// The 12-byte v1 nonce of a volume: the first 12 bytes of SHA-256 of `"<name>|<version>"`.
/// It is also the first 12 bytes of the volume's blob.
#[uniffi::export]
pub fn v1_volume_nonce(name: VolumeName, version: u64) -> Vec<u8> {
    core::volume_nonce(name.as_str(), version).to_vec()
}

/// Floors Unix seconds to the start of their hour, as v1 does for `modified_at`.
#[uniffi::export]
pub fn v1_floor_to_hour(unix_seconds: i64) -> i64 {
    core::floor_to_hour(unix_seconds)
}
