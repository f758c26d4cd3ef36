//! v2 volumes (§4): framing and Padmé padding (P10), a per-version subkey and a random nonce
//! (P2), the header as associated data (P3), and the owner's signature over the exact header
//! bytes (P4).
//!
//! [`open`] is the only way to turn a served volume into plaintext, and it checks in a fixed
//! order: signature over the bytes as served, header parse, owner and volume, payload length and
//! hash, AEAD, frame. What it returns carries a [`VerifiedHeader`], which nothing else can build.
//!
//! The payload hash is `coffer_wire::v2::volume_payload_hash` (BLAKE3 with a label, ADR 0029),
//! and the 1 MiB path is kept close to raw AES-256-GCM: one allocation and one copy of the
//! plaintext to seal, one copy of the ciphertext decrypted in place to open (the plaintext is a
//! view into the decrypted frame), and plaintext wiped with one `memset` and an optimisation
//! barrier (`volume/wiped.rs`) instead of a volatile store per byte. `docs/BENCHMARKS.md` has
//! the figures.

use std::fmt;

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut as _, Nonce, Tag};
use aes_gcm::{Aes256Gcm, KeyInit as _};
use coffer_wire::v2::{
    Header, Label, VolumeName, labelled, padded_len, payload_len_is_valid, volume_payload_hash,
};
use uuid::Uuid;
use zeroize::Zeroizing;

use self::wiped::Wiped;

use super::{NONCE_LEN, TAG_LEN, V2Error, VolumeKey, hkdf32, put_str8, verify_labelled};
use crate::identity::{Identity, SIGNATURE_LEN};
use crate::random;

/// Largest plaintext a frame can carry: its length travels as a `u32`.
pub const MAX_PLAINTEXT_LEN: u64 = u32::MAX as u64;

/// Length of the frame's length prefix.
const PREFIX_LEN: usize = 4;

/// What the owner chooses about a version it seals: the header fields other than the payload
/// length and hash (which [`seal`] computes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderFields {
    /// The owner's user id.
    pub owner: Uuid,
    /// The volume.
    pub volume: VolumeName,
    /// The key epoch of the [`VolumeKey`] used (≥ 1).
    pub epoch: u32,
    /// The version (≥ 1, strictly increasing per volume, across epochs).
    pub version: u64,
    /// Unix seconds, a multiple of 3600 (see `coffer_wire::time::floor_to_hour`).
    pub hour: u64,
}

/// A sealed version, ready for `PUT /volumes/{name}`: header bytes, signature, payload.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedV2 {
    /// The exact header bytes `H` (send as base64; never re-encode).
    pub header_bytes: Vec<u8>,
    /// `Ed25519(sk_owner, label(volume-header) ‖ H)`.
    pub signature: [u8; SIGNATURE_LEN],
    /// `nonce(12) ‖ ciphertext ‖ tag(16)`.
    pub payload: Vec<u8>,
}

impl fmt::Debug for SealedV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedV2")
            .field("header_len", &self.header_bytes.len())
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// A header whose owner signature verified over its exact bytes and whose owner and volume are
/// the ones the reader asked for. Only [`verify_header`] and [`open`] construct one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHeader {
    header: Header,
    bytes: Vec<u8>,
    signature: [u8; SIGNATURE_LEN],
}

impl VerifiedHeader {
    /// The parsed fields.
    #[must_use]
    pub fn header(&self) -> &Header {
        &self.header
    }
    /// The exact bytes that were signed (and served).
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The owner's signature over them.
    #[must_use]
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }
    /// The owner.
    #[must_use]
    pub fn owner(&self) -> Uuid {
        Uuid::from_bytes(self.header.owner)
    }
    /// The volume.
    #[must_use]
    pub fn volume(&self) -> &VolumeName {
        &self.header.volume
    }
    /// The key epoch.
    #[must_use]
    pub fn epoch(&self) -> u32 {
        self.header.epoch
    }
    /// The version.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.header.version
    }
}

/// A volume that passed every check of [`open`], with its plaintext (wiped on drop).
pub struct Opened {
    header: VerifiedHeader,
    /// The decrypted frame; the plaintext is `frame[PREFIX_LEN..end]` (checked by [`open`]).
    frame: Wiped,
    end: usize,
}

impl Opened {
    /// The verified header.
    #[must_use]
    pub fn header(&self) -> &VerifiedHeader {
        &self.header
    }
    /// The plaintext.
    #[must_use]
    pub fn plaintext(&self) -> &[u8] {
        self.frame.get(PREFIX_LEN..self.end).unwrap_or_default()
    }
    /// Both parts. The plaintext is shifted to the start of the same allocation (no copy
    /// elsewhere) and stays wiped on drop, its spare capacity with it.
    #[must_use]
    pub fn into_parts(self) -> (VerifiedHeader, Zeroizing<Vec<u8>>) {
        let Self {
            header,
            mut frame,
            end,
        } = self;
        let plaintext = frame.vec_mut();
        plaintext.truncate(end);
        plaintext.drain(..PREFIX_LEN.min(end));
        (header, frame.into_zeroizing())
    }
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("header", &self.header.header)
            .field("plaintext", &"<redacted>")
            .finish()
    }
}

/// The padded frame of `plaintext`: `u32(len) ‖ plaintext ‖ zeros`, of total length
/// `padded_len(len + 4)` (≥ 1024, on the Padmé grid). Wiped on drop.
///
/// # Errors
/// [`V2Error::InvalidArgument`] above [`MAX_PLAINTEXT_LEN`].
pub fn frame_and_pad(plaintext: &[u8]) -> Result<Zeroizing<Vec<u8>>, V2Error> {
    let mut out = Zeroizing::new(Vec::new());
    write_frame(&mut out, plaintext)?;
    Ok(out)
}

/// The length of the padded frame of a plaintext of `len` bytes.
fn frame_len(len: usize) -> Result<usize, V2Error> {
    const TOO_LONG: V2Error = V2Error::InvalidArgument("plaintext is longer than 4 GiB - 1");
    let len = u32::try_from(len).map_err(|_| TOO_LONG)?;
    usize::try_from(padded_len(u64::from(len) + PREFIX_LEN as u64)).map_err(|_| TOO_LONG)
}

/// Appends the padded frame of `plaintext` to `out` (room for a tag after it reserved); returns
/// the frame length.
fn write_frame(out: &mut Vec<u8>, plaintext: &[u8]) -> Result<usize, V2Error> {
    let padded = frame_len(plaintext.len())?;
    let len = u32::try_from(plaintext.len())
        .map_err(|_| V2Error::InvalidArgument("plaintext is longer than 4 GiB - 1"))?;
    out.reserve_exact(padded + TAG_LEN);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(plaintext);
    out.resize(out.len() + padded - PREFIX_LEN - plaintext.len(), 0);
    Ok(padded)
}

/// `label(volume-key) ‖ owner ‖ str8(volume) ‖ u32(epoch) ‖ u64(version)`: the subkey is
/// bound to exactly one version of one volume.
fn subkey_cipher(vek: &VolumeKey, header: &Header) -> Aes256Gcm {
    let mut info = labelled(Label::VolumeKey);
    info.extend_from_slice(&header.owner);
    put_str8(&mut info, &header.volume);
    info.extend_from_slice(&header.epoch.to_be_bytes());
    info.extend_from_slice(&header.version.to_be_bytes());
    let subkey = hkdf32(vek.expose_secret(), &info);
    Aes256Gcm::new((&*subkey).into())
}

fn aad(header: &Header) -> Vec<u8> {
    let mut aad = labelled(Label::VolumeAad);
    aad.extend_from_slice(&header.core_bytes());
    aad
}

fn header_message(header_bytes: &[u8]) -> Vec<u8> {
    let mut msg = labelled(Label::VolumeHeader);
    msg.extend_from_slice(header_bytes);
    msg
}

/// Seals one version of a volume: frames and pads `plaintext`, encrypts it under the
/// per-version subkey of `vek` with a fresh random nonce and `label(volume-aad) ‖ H_core` as
/// associated data, and signs the header.
///
/// # Errors
/// [`V2Error::InvalidArgument`] for epoch 0, version 0 or above `i64::MAX`, an hour that is not
/// a multiple of 3600, or a plaintext above [`MAX_PLAINTEXT_LEN`].
///
/// # Panics
/// Only if the operating system cannot supply randomness.
pub fn seal(
    identity: &Identity,
    vek: &VolumeKey,
    fields: &HeaderFields,
    plaintext: &[u8],
) -> Result<SealedV2, V2Error> {
    let mut nonce = [0u8; NONCE_LEN];
    random::fill(&mut nonce);
    seal_inner(identity, vek, fields, plaintext, nonce)
}

/// [`seal`] under a caller-chosen nonce. **Only for generating `docs/vectors/v2.json`**: two
/// seals of different plaintexts of one version under one nonce break AES-GCM. Use [`seal`].
#[doc(hidden)]
pub fn danger_seal_with_nonce(
    identity: &Identity,
    vek: &VolumeKey,
    fields: &HeaderFields,
    plaintext: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Result<SealedV2, V2Error> {
    seal_inner(identity, vek, fields, plaintext, nonce)
}

fn seal_inner(
    identity: &Identity,
    vek: &VolumeKey,
    fields: &HeaderFields,
    plaintext: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Result<SealedV2, V2Error> {
    let max = i64::MAX as u64;
    if fields.epoch == 0 {
        return Err(V2Error::InvalidArgument("epoch must be at least 1"));
    }
    if fields.version == 0 || fields.version > max {
        return Err(V2Error::InvalidArgument("version must be in 1..=i64::MAX"));
    }
    if !fields.hour.is_multiple_of(3600) || fields.hour > max {
        return Err(V2Error::InvalidArgument(
            "hour must be Unix seconds rounded down to the hour",
        ));
    }

    // One allocation of the exact size: the plaintext is copied once, into the buffer it is
    // encrypted in, and that buffer never moves (so no copy of it is left behind).
    let mut payload = Vec::with_capacity(NONCE_LEN + frame_len(plaintext.len())? + TAG_LEN);
    payload.extend_from_slice(&nonce);
    let padded = write_frame(&mut payload, plaintext)?;
    let mut header = Header {
        owner: *fields.owner.as_bytes(),
        volume: fields.volume.clone(),
        epoch: fields.epoch,
        version: fields.version,
        hour: fields.hour,
        payload_len: (NONCE_LEN + padded + TAG_LEN) as u64,
        payload_hash: [0u8; 32],
    };
    let sealed = subkey_cipher(vek, &header).encrypt_inout_detached(
        &Nonce::<Aes256Gcm>::from(nonce),
        &aad(&header),
        InOutBuf::from(&mut payload[NONCE_LEN..]),
    );
    let Ok(tag) = sealed else {
        // The frame is still plaintext: wipe it before the buffer is freed.
        drop(Wiped::from_vec(payload));
        return Err(V2Error::InvalidArgument(
            "plaintext exceeds the AES-GCM limit",
        ));
    };
    payload.extend_from_slice(&tag);
    header.payload_hash = volume_payload_hash(&payload);

    let header_bytes = header.to_bytes();
    // Never sign what a reader would refuse to parse.
    Header::parse(&header_bytes).map_err(V2Error::MalformedHeader)?;
    let signature = identity.sign(&header_message(&header_bytes));
    Ok(SealedV2 {
        header_bytes,
        signature,
        payload,
    })
}

/// Checks a served header without its payload (e.g. a `GET /volumes` listing): the owner's
/// signature over the exact bytes, then the parse, then that owner and volume are the ones
/// requested.
///
/// # Errors
/// [`V2Error::InvalidSigningKey`], [`V2Error::BadSignature`], [`V2Error::MalformedHeader`],
/// [`V2Error::WrongOwner`], [`V2Error::WrongVolume`] — in that order of checking.
pub fn verify_header(
    owner_signing_key: &[u8; 32],
    expected_owner: Uuid,
    expected_volume: &VolumeName,
    header_bytes: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<VerifiedHeader, V2Error> {
    verify_labelled(owner_signing_key, &header_message(header_bytes), signature)?;
    let header = Header::parse(header_bytes)?;
    if header.owner != *expected_owner.as_bytes() {
        return Err(V2Error::WrongOwner);
    }
    if header.volume != *expected_volume {
        return Err(V2Error::WrongVolume);
    }
    Ok(VerifiedHeader {
        header,
        bytes: header_bytes.to_vec(),
        signature: *signature,
    })
}

/// Opens a served volume. Checks, in this order: [`verify_header`] (signature over the exact
/// header bytes, parse, owner, volume); the payload's length (and that it is on the padding
/// grid) and its digest (`coffer_wire::v2::volume_payload_hash`) against the header; that
/// `vek_for(epoch)` knows the key; AES-GCM under the per-version subkey with `H_core` as
/// associated data; the frame.
///
/// Rollback is checked separately, with [`super::HighWater`], on the returned header.
///
/// # Errors
/// Those of [`verify_header`], then [`V2Error::PayloadMismatch`],
/// [`V2Error::NoKeyForEpoch`], [`V2Error::Tampered`], and [`V2Error::Malformed`] for a payload
/// length off the padding grid or a frame the owner's client encoded wrongly.
pub fn open<'k>(
    owner_signing_key: &[u8; 32],
    expected_owner: Uuid,
    expected_volume: &VolumeName,
    header_bytes: &[u8],
    signature: &[u8; SIGNATURE_LEN],
    payload: &[u8],
    vek_for: impl FnOnce(u32) -> Option<&'k VolumeKey>,
) -> Result<Opened, V2Error> {
    let verified = verify_header(
        owner_signing_key,
        expected_owner,
        expected_volume,
        header_bytes,
        signature,
    )?;
    let header = &verified.header;
    if payload.len() as u64 != header.payload_len
        || volume_payload_hash(payload) != header.payload_hash
    {
        return Err(V2Error::PayloadMismatch);
    }
    if !payload_len_is_valid(header.payload_len) {
        return Err(V2Error::Malformed("payload length is off the padding grid"));
    }
    let vek = vek_for(header.epoch).ok_or(V2Error::NoKeyForEpoch {
        epoch: header.epoch,
    })?;

    let (nonce, rest) = payload
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(V2Error::PayloadMismatch)?;
    let (ciphertext, tag) = rest
        .split_last_chunk::<TAG_LEN>()
        .ok_or(V2Error::PayloadMismatch)?;
    // Decrypted in place in one copy of the ciphertext: one pass fewer than zeroing an output
    // buffer and decrypting into it (the cipher copies input to output first).
    let mut frame = Wiped::from_vec(ciphertext.to_vec());
    subkey_cipher(vek, header)
        .decrypt_inout_detached(
            nonce.into(),
            &aad(header),
            InOutBuf::from(frame.as_mut_slice()),
            &Tag::<Aes256Gcm>::from(*tag),
        )
        .map_err(|_| V2Error::Tampered)?;

    let end = frame_end(&frame)?;
    Ok(Opened {
        header: verified,
        frame,
        end,
    })
}

/// Checks the frame and returns where its plaintext ends (it starts at `PREFIX_LEN`): the length
/// prefix must fit, the frame must be exactly the padded length for it, and the padding must be
/// zeros (one encoding per plaintext).
fn frame_end(frame: &[u8]) -> Result<usize, V2Error> {
    const BAD: V2Error = V2Error::Malformed("plaintext frame (length prefix or padding)");
    let prefix = frame.first_chunk::<PREFIX_LEN>().ok_or(BAD)?;
    let len = usize::try_from(u32::from_be_bytes(*prefix)).map_err(|_| BAD)?;
    let end = len.checked_add(PREFIX_LEN).ok_or(BAD)?;
    let padding = frame.get(end..).ok_or(BAD)?;
    if padded_len(end as u64) != frame.len() as u64 || padding.iter().any(|&b| b != 0) {
        return Err(BAD);
    }
    Ok(end)
}

mod wiped;

#[cfg(test)]
mod tests;
