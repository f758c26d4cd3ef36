//! Several devices of one system (§13): device keys, the state key's per-device slots, the
//! encrypted owner state, and the device-link proof and package.
//!
//! - A **slot** gives the state key to one device, and only to it:
//!   `kek = HKDF-SHA256(X25519(e, device_xpk), info = label(device-slot-key) ‖ owner ‖ u32 key_epoch ‖ device_id ‖ epk ‖ device_xpk)`,
//!   `slot = device_id(16) ‖ epk(32) ‖ nonce(12) ‖ AES-256-GCM(kek, state_key, aad = label(device-slot-aad) ‖ owner ‖ u32 key_epoch ‖ device_id)`
//!   (108 bytes), with a fresh ephemeral X25519 key `e` per slot. Nothing derived from the
//!   identity key opens it, so a device that still holds the identity but no slot reads nothing.
//! - The **payload** of an owner state: `u16 n ‖ n × slot ‖ nonce(12) ‖ AES-256-GCM(state_key,
//!   u32 len ‖ state ‖ zeros, aad = label(owner-state-aad) ‖ header core)`, the plaintext
//!   padded to the Padmé size of its length.
//! - The **link proof**: `HMAC-SHA256(HKDF(secret, label(device-link-key)), label(device-link-proof) ‖ str8(code) ‖ str8(device label) ‖ device_xpk)`.
//! - The **package**: `epk(32) ‖ nonce(12) ‖ AES-256-GCM(k, identity secret(65) ‖ owner(16) ‖
//!   u32 key_epoch ‖ state_key(32), aad = label(device-link-package) ‖ str8(code) ‖ device_xpk ‖ fp)`
//!   with `k = HKDF(X25519(e, device_xpk) ‖ secret, label(device-link-package) ‖ epk ‖ device_xpk)`:
//!   only the joining device opens it, and only someone who knows the link's secret made it.

use std::fmt;

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut as _, Nonce, Tag};
use aes_gcm::{Aes256Gcm, KeyInit as _};
use coffer_wire::v2::{Label, labelled, padme};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use uuid::Uuid;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::{Fingerprint, NONCE_LEN, TAG_LEN, V2Error, hkdf32};
use crate::identity::IdentitySecret;
use crate::random;

/// Length of one key slot.
pub const SLOT_LEN: usize = 16 + 32 + NONCE_LEN + 32 + TAG_LEN;
/// Most devices (slots) in one owner state.
pub const MAX_DEVICES: usize = 32;
/// Length of the package's plaintext.
const PACKAGE_PLAIN_LEN: usize = 65 + 16 + 4 + 32;
/// Length of a package.
pub const PACKAGE_LEN: usize = 32 + NONCE_LEN + PACKAGE_PLAIN_LEN + TAG_LEN;

/// A device's own X25519 key pair. Secret: wiped on drop, `Debug` shows only the public key.
pub struct DeviceSecret(StaticSecret);

impl DeviceSecret {
    /// A fresh key pair.
    #[must_use]
    pub fn generate() -> DeviceSecret {
        DeviceSecret(StaticSecret::random_from_rng(&mut random::os_rng()))
    }

    /// From stored bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> DeviceSecret {
        DeviceSecret(StaticSecret::from(bytes))
    }

    /// The secret bytes, to store (wiped on drop).
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public key.
    #[must_use]
    pub fn public(&self) -> [u8; 32] {
        *PublicKey::from(&self.0).as_bytes()
    }
}

impl fmt::Debug for DeviceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceSecret")
            .field("public", &hex::encode(self.public()))
            .finish_non_exhaustive()
    }
}

/// The state key of one key epoch. Wiped on drop, never shown.
pub struct StateKey(Zeroizing<[u8; 32]>);

impl StateKey {
    /// A fresh key.
    #[must_use]
    pub fn generate() -> StateKey {
        let mut key = Zeroizing::new([0u8; 32]);
        random::fill(&mut key[..]);
        StateKey(key)
    }

    /// From stored bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> StateKey {
        StateKey(Zeroizing::new(bytes))
    }

    /// The key bytes (to store).
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateKey(<redacted>)")
    }
}

fn aead(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

/// `AES-256-GCM(key, nonce, msg, aad)` as `ciphertext ‖ tag`.
fn encrypt(key: &[u8; 32], n: [u8; NONCE_LEN], msg: &[u8], aad: &[u8]) -> Result<Vec<u8>, V2Error> {
    let mut out = Vec::with_capacity(msg.len() + TAG_LEN);
    out.extend_from_slice(msg);
    let tag = aead(key)
        .encrypt_inout_detached(
            &Nonce::<Aes256Gcm>::from(n),
            aad,
            InOutBuf::from(&mut out[..]),
        )
        .map_err(|_| V2Error::InvalidArgument("plaintext exceeds the AES-GCM limit"))?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens `ciphertext ‖ tag`; [`V2Error::Tampered`] if it does not authenticate.
fn decrypt(
    key: &[u8; 32],
    n: [u8; NONCE_LEN],
    sealed: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, V2Error> {
    let (ciphertext, tag) = sealed
        .split_last_chunk::<TAG_LEN>()
        .ok_or(V2Error::Tampered)?;
    let mut out = Zeroizing::new(vec![0u8; ciphertext.len()]);
    let buffer = InOutBuf::new(ciphertext, &mut out[..]).map_err(|_| V2Error::Tampered)?;
    aead(key)
        .decrypt_inout_detached(
            &Nonce::<Aes256Gcm>::from(n),
            aad,
            buffer,
            &Tag::<Aes256Gcm>::from(*tag),
        )
        .map_err(|_| V2Error::Tampered)?;
    Ok(out)
}

fn nonce() -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    random::fill(&mut n);
    n
}

/// `X25519(secret, public)`, refusing an all-zero (low-order) result.
fn dh(secret: &StaticSecret, public: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, V2Error> {
    let shared = secret.diffie_hellman(&PublicKey::from(*public));
    if !shared.was_contributory() {
        return Err(V2Error::LowOrderExchangeKey);
    }
    Ok(Zeroizing::new(*shared.as_bytes()))
}

fn put_str8(out: &mut Vec<u8>, s: &str) -> Result<(), V2Error> {
    let len = u8::try_from(s.len()).map_err(|_| V2Error::InvalidArgument("text over 255 bytes"))?;
    out.push(len);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn slot_context(owner: Uuid, key_epoch: u32, device: Uuid) -> Vec<u8> {
    let mut out = Vec::with_capacity(36);
    out.extend_from_slice(owner.as_bytes());
    out.extend_from_slice(&key_epoch.to_be_bytes());
    out.extend_from_slice(device.as_bytes());
    out
}

fn slot_kek(
    shared: &[u8; 32],
    context: &[u8],
    epk: &[u8; 32],
    device_xpk: &[u8; 32],
) -> Zeroizing<[u8; 32]> {
    let mut info = labelled(Label::DeviceSlotKey);
    info.extend_from_slice(context);
    info.extend_from_slice(epk);
    info.extend_from_slice(device_xpk);
    hkdf32(shared, &info)
}

/// Wraps `key` for the device `device` with X25519 public key `device_xpk`.
///
/// # Errors
/// [`V2Error::LowOrderExchangeKey`] for an unusable device key.
pub fn seal_slot(
    owner: Uuid,
    key_epoch: u32,
    device: Uuid,
    device_xpk: &[u8; 32],
    key: &StateKey,
) -> Result<[u8; SLOT_LEN], V2Error> {
    let ephemeral = StaticSecret::random_from_rng(&mut random::os_rng());
    let epk = *PublicKey::from(&ephemeral).as_bytes();
    let shared = dh(&ephemeral, device_xpk)?;
    let context = slot_context(owner, key_epoch, device);
    let kek = slot_kek(&shared, &context, &epk, device_xpk);
    let n = nonce();
    let mut aad = labelled(Label::DeviceSlotAad);
    aad.extend_from_slice(&context);
    let sealed = encrypt(&kek, n, &key.0[..], &aad)?;
    let mut out = [0u8; SLOT_LEN];
    out[..16].copy_from_slice(device.as_bytes());
    out[16..48].copy_from_slice(&epk);
    out[48..60].copy_from_slice(&n);
    out[60..].copy_from_slice(&sealed);
    Ok(out)
}

/// Opens the slot for `device` among `slots`. `Ok(None)` when none names the device.
///
/// # Errors
/// [`V2Error::Tampered`] if the device's slot does not open (altered, or under another key).
pub fn open_slot(
    owner: Uuid,
    key_epoch: u32,
    device: Uuid,
    secret: &DeviceSecret,
    slots: &[[u8; SLOT_LEN]],
) -> Result<Option<StateKey>, V2Error> {
    let Some(slot) = slots.iter().find(|s| s[..16] == device.as_bytes()[..]) else {
        return Ok(None);
    };
    let mut epk = [0u8; 32];
    epk.copy_from_slice(&slot[16..48]);
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(&slot[48..60]);
    let shared = dh(&secret.0, &epk)?;
    let context = slot_context(owner, key_epoch, device);
    let kek = slot_kek(&shared, &context, &epk, &secret.public());
    let mut aad = labelled(Label::DeviceSlotAad);
    aad.extend_from_slice(&context);
    let opened = decrypt(&kek, n, &slot[60..], &aad)?;
    let key = <[u8; 32]>::try_from(&opened[..]).map_err(|_| V2Error::Tampered)?;
    Ok(Some(StateKey::from_bytes(key)))
}

fn state_aad(core: &[u8]) -> Vec<u8> {
    let mut aad = labelled(Label::OwnerStateAad);
    aad.extend_from_slice(core);
    aad
}

/// The payload of an owner state: `slots`, then `state` padded and encrypted under `key`,
/// bound to the header core (`owner ‖ key_epoch ‖ version`).
///
/// # Errors
/// [`V2Error::InvalidArgument`] for more than [`MAX_DEVICES`] slots or a state over 4 GiB.
pub fn seal_state(
    key: &StateKey,
    core: &[u8],
    slots: &[[u8; SLOT_LEN]],
    state: &[u8],
) -> Result<Vec<u8>, V2Error> {
    if slots.len() > MAX_DEVICES {
        return Err(V2Error::InvalidArgument("too many devices"));
    }
    let len = u32::try_from(state.len()).map_err(|_| V2Error::InvalidArgument("state size"))?;
    let framed = u64::from(len) + 4;
    let padded = usize::try_from(padme(framed)).map_err(|_| V2Error::InvalidArgument("size"))?;
    let mut plain = Zeroizing::new(Vec::with_capacity(padded));
    plain.extend_from_slice(&len.to_be_bytes());
    plain.extend_from_slice(state);
    let target = padded.max(plain.len());
    plain.resize(target, 0);
    let n = nonce();
    let sealed = encrypt(key.expose_secret(), n, &plain, &state_aad(core))?;
    let count = u16::try_from(slots.len()).map_err(|_| V2Error::InvalidArgument("slots"))?;
    let mut out = Vec::with_capacity(2 + slots.len() * SLOT_LEN + NONCE_LEN + sealed.len());
    out.extend_from_slice(&count.to_be_bytes());
    for slot in slots {
        out.extend_from_slice(slot);
    }
    out.extend_from_slice(&n);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The slots of a payload and the rest (nonce and ciphertext).
///
/// # Errors
/// [`V2Error::Malformed`] for a payload that is not slots followed by a ciphertext.
pub fn split_payload(payload: &[u8]) -> Result<(Vec<[u8; SLOT_LEN]>, &[u8]), V2Error> {
    const BAD: V2Error = V2Error::Malformed("owner-state payload");
    let count = payload
        .get(..2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or(BAD)?;
    if count > MAX_DEVICES {
        return Err(BAD);
    }
    let end = 2 + count * SLOT_LEN;
    let body = payload.get(end..).ok_or(BAD)?;
    if body.len() < NONCE_LEN + TAG_LEN + 4 {
        return Err(BAD);
    }
    let slots = payload[2..end]
        .chunks_exact(SLOT_LEN)
        .map(|c| <[u8; SLOT_LEN]>::try_from(c).map_err(|_| BAD))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((slots, body))
}

/// Decrypts the state part of a payload (`body` from [`split_payload`]).
///
/// # Errors
/// [`V2Error::Tampered`] if it does not open under `key` for this header core;
/// [`V2Error::Malformed`] for a bad frame.
pub fn open_state(key: &StateKey, core: &[u8], body: &[u8]) -> Result<Zeroizing<Vec<u8>>, V2Error> {
    let (n, sealed) = body.split_at(NONCE_LEN);
    let n = <[u8; NONCE_LEN]>::try_from(n).map_err(|_| V2Error::Tampered)?;
    let plain = decrypt(key.expose_secret(), n, sealed, &state_aad(core))?;
    let len = plain
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or(V2Error::Malformed("owner-state frame"))?;
    let state = plain
        .get(4..4 + len)
        .ok_or(V2Error::Malformed("owner-state frame"))?;
    Ok(Zeroizing::new(state.to_vec()))
}

/// A device link's secret (in the QR text only, never sent to the relay).
pub struct LinkSecret(Zeroizing<[u8; 32]>);

impl LinkSecret {
    /// A fresh secret.
    #[must_use]
    pub fn generate() -> LinkSecret {
        let mut key = Zeroizing::new([0u8; 32]);
        random::fill(&mut key[..]);
        LinkSecret(key)
    }

    /// From the QR text's bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> LinkSecret {
        LinkSecret(Zeroizing::new(bytes))
    }

    /// The bytes, for the QR text.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkSecret(<redacted>)")
    }
}

/// The joining device's proof over its label, the code and its public key.
///
/// # Errors
/// [`V2Error::InvalidArgument`] for a code or label over 255 bytes.
pub fn link_proof(
    secret: &LinkSecret,
    code: &str,
    label: &str,
    device_xpk: &[u8; 32],
) -> Result<[u8; 32], V2Error> {
    let key = hkdf32(&secret.0[..], &labelled(Label::DeviceLinkKey));
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(&key[..])
        .map_err(|_| V2Error::InvalidArgument("HMAC key"))?;
    let mut input = labelled(Label::DeviceLinkProof);
    put_str8(&mut input, code)?;
    put_str8(&mut input, label)?;
    input.extend_from_slice(device_xpk);
    mac.update(&input);
    Ok(mac.finalize().into_bytes().into())
}

/// Checks a proof in constant time.
#[must_use]
pub fn verify_link_proof(
    secret: &LinkSecret,
    code: &str,
    label: &str,
    device_xpk: &[u8; 32],
    proof: &[u8; 32],
) -> bool {
    link_proof(secret, code, label, device_xpk)
        .is_ok_and(|expected| bool::from(expected.ct_eq(proof)))
}

fn package_key(
    shared: &[u8; 32],
    secret: &LinkSecret,
    epk: &[u8; 32],
    device_xpk: &[u8; 32],
) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(shared);
    ikm[32..].copy_from_slice(&secret.0[..]);
    let mut info = labelled(Label::DeviceLinkPackage);
    info.extend_from_slice(epk);
    info.extend_from_slice(device_xpk);
    hkdf32(&ikm[..], &info)
}

fn package_aad(code: &str, device_xpk: &[u8; 32], fp: &Fingerprint) -> Result<Vec<u8>, V2Error> {
    let mut aad = labelled(Label::DeviceLinkPackage);
    put_str8(&mut aad, code)?;
    aad.extend_from_slice(device_xpk);
    aad.extend_from_slice(fp.as_bytes());
    Ok(aad)
}

/// What a package carries to the joining device.
pub struct PackageContents {
    /// The system's identity.
    pub identity: IdentitySecret,
    /// The system's user id.
    pub owner: Uuid,
    /// The state key's epoch.
    pub key_epoch: u32,
    /// The state key.
    pub state_key: StateKey,
}

impl fmt::Debug for PackageContents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PackageContents")
            .field("owner", &self.owner)
            .field("key_epoch", &self.key_epoch)
            .finish_non_exhaustive()
    }
}

/// Seals `contents` for the joining device `device_xpk` (see the module doc).
///
/// # Errors
/// [`V2Error::LowOrderExchangeKey`]; [`V2Error::InvalidArgument`] for an over-long code.
pub fn seal_package(
    secret: &LinkSecret,
    code: &str,
    device_xpk: &[u8; 32],
    fp: &Fingerprint,
    contents: &PackageContents,
) -> Result<Vec<u8>, V2Error> {
    let ephemeral = StaticSecret::random_from_rng(&mut random::os_rng());
    let epk = *PublicKey::from(&ephemeral).as_bytes();
    let shared = dh(&ephemeral, device_xpk)?;
    let key = package_key(&shared, secret, &epk, device_xpk);
    let mut plain = Zeroizing::new(Vec::with_capacity(PACKAGE_PLAIN_LEN));
    plain.extend_from_slice(&contents.identity.to_bytes()[..]);
    plain.extend_from_slice(contents.owner.as_bytes());
    plain.extend_from_slice(&contents.key_epoch.to_be_bytes());
    plain.extend_from_slice(contents.state_key.expose_secret());
    let n = nonce();
    let sealed = encrypt(&key, n, &plain, &package_aad(code, device_xpk, fp)?)?;
    let mut out = Vec::with_capacity(PACKAGE_LEN);
    out.extend_from_slice(&epk);
    out.extend_from_slice(&n);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens a package with the joining device's secret; the identity inside must have the
/// fingerprint `fp` from the QR text.
///
/// # Errors
/// [`V2Error::Tampered`] if it does not open (altered, made without the link's secret, or for
/// another device); [`V2Error::KeyChanged`] if the identity is not `fp`'s.
pub fn open_package(
    secret: &LinkSecret,
    code: &str,
    device: &DeviceSecret,
    fp: &Fingerprint,
    package: &[u8],
) -> Result<PackageContents, V2Error> {
    if package.len() != PACKAGE_LEN {
        return Err(V2Error::Tampered);
    }
    let mut epk = [0u8; 32];
    epk.copy_from_slice(&package[..32]);
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(&package[32..32 + NONCE_LEN]);
    let device_xpk = device.public();
    let shared = dh(&device.0, &epk)?;
    let key = package_key(&shared, secret, &epk, &device_xpk);
    let plain = decrypt(
        &key,
        n,
        &package[32 + NONCE_LEN..],
        &package_aad(code, &device_xpk, fp)?,
    )?;
    if plain.len() != PACKAGE_PLAIN_LEN {
        return Err(V2Error::Tampered);
    }
    let identity = IdentitySecret::from_bytes(&plain[..65]).map_err(|_| V2Error::Tampered)?;
    let owner = Uuid::from_slice(&plain[65..81]).map_err(|_| V2Error::Tampered)?;
    let key_epoch = u32::from_be_bytes([plain[81], plain[82], plain[83], plain[84]]);
    let mut state_key = Zeroizing::new([0u8; 32]);
    state_key.copy_from_slice(&plain[85..117]);
    if crate::identity::Identity::from_secret(&identity).fingerprint() != *fp {
        return Err(V2Error::KeyChanged);
    }
    Ok(PackageContents {
        identity,
        owner,
        key_epoch,
        state_key: StateKey::from_bytes(*state_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    #[test]
    fn only_the_slotted_device_opens_the_state() {
        let owner = Uuid::from_bytes([1; 16]);
        let (a, b, c) = (
            DeviceSecret::generate(),
            DeviceSecret::generate(),
            DeviceSecret::generate(),
        );
        let (ida, idb, idc) = (
            Uuid::from_bytes([2; 16]),
            Uuid::from_bytes([3; 16]),
            Uuid::from_bytes([4; 16]),
        );
        let key = StateKey::generate();
        let slots = vec![
            seal_slot(owner, 1, ida, &a.public(), &key).expect("slot"),
            seal_slot(owner, 1, idb, &b.public(), &key).expect("slot"),
        ];
        let core = b"core bytes";
        let payload = seal_state(&key, core, &slots, b"the state").expect("seal");
        let (slots, body) = split_payload(&payload).expect("split");
        let opened = open_slot(owner, 1, idb, &b, &slots)
            .expect("opens")
            .expect("slot");
        assert_eq!(
            &open_state(&opened, core, body).expect("state")[..],
            b"the state"
        );
        assert!(
            open_slot(owner, 1, idc, &c, &slots)
                .expect("no slot")
                .is_none()
        );
        // Another epoch, or another device's secret under b's id: refused.
        assert!(open_slot(owner, 2, idb, &b, &slots).is_err());
        assert!(open_slot(owner, 1, idb, &c, &slots).is_err());
        assert!(open_state(&opened, b"other core", body).is_err());
        assert!(split_payload(&payload[..10]).is_err());
    }

    #[test]
    fn link_proof_and_package_bind_secret_code_and_device() {
        let secret = LinkSecret::generate();
        let device = DeviceSecret::generate();
        let xpk = device.public();
        let proof = link_proof(&secret, "CODE", "Phone", &xpk).expect("proof");
        assert!(verify_link_proof(&secret, "CODE", "Phone", &xpk, &proof));
        assert!(!verify_link_proof(
            &secret,
            "CODE",
            "Phone",
            &DeviceSecret::generate().public(),
            &proof
        ));
        assert!(!verify_link_proof(
            &LinkSecret::generate(),
            "CODE",
            "Phone",
            &xpk,
            &proof
        ));
        let identity = Identity::generate();
        let fp = identity.fingerprint();
        let contents = PackageContents {
            identity: identity.danger_export_secret(),
            owner: Uuid::from_bytes([5; 16]),
            key_epoch: 3,
            state_key: StateKey::from_bytes([7; 32]),
        };
        let package = seal_package(&secret, "CODE", &xpk, &fp, &contents).expect("seal");
        assert_eq!(package.len(), PACKAGE_LEN);
        let opened = open_package(&secret, "CODE", &device, &fp, &package).expect("open");
        assert_eq!(opened.owner, contents.owner);
        assert_eq!(opened.key_epoch, 3);
        assert_eq!(opened.state_key.expose_secret(), &[7; 32]);
        let mut altered = package.clone();
        altered[50] ^= 1;
        assert!(open_package(&secret, "CODE", &device, &fp, &altered).is_err());
        assert!(open_package(&LinkSecret::generate(), "CODE", &device, &fp, &package).is_err());
        let other_fp = Identity::generate().fingerprint();
        assert!(open_package(&secret, "CODE", &device, &other_fp, &package).is_err());
    }
}
