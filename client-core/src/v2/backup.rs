//! The identity backup (§9, P12): the app's secret state encrypted under a passphrase, the only
//! recovery path (the relay cannot reset anything).
//!
//! ```text
//! "CFBK" | u8 1 | u32 m_cost_kib | u32 t_cost | u32 p_cost | u8[16] salt | u8[12] nonce
//!        | u32 ct_len | ct‖tag | u8[32] SHA-256(all previous bytes)
//! ```
//! `key = Argon2id(passphrase, salt, m, t, p, 32)`; AES-256-GCM with associated data
//! `label(backup-aad) ‖` the header including `ct_len`; `ct_len` counts `ct‖tag`.
//!
//! A backup file comes from outside (a download, a cloud drive): import checks its checksum,
//! version and cost parameters before spending any memory on Argon2, so a hostile file cannot
//! make the app allocate gigabytes.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut as _, Nonce, Tag};
use aes_gcm::{Aes256Gcm, KeyInit as _};
use argon2::{Algorithm, Argon2, Params, Version};
use coffer_wire::v2::{Label, labelled};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::{NONCE_LEN, TAG_LEN};
use crate::random;

const MAGIC: &[u8; 4] = b"CFBK";
const FORMAT: u8 = 1;
const SALT_LEN: usize = 16;
/// Bytes before the ciphertext: magic, format, three costs, salt, nonce, ct_len.
const HEADER_LEN: usize = 4 + 1 + 4 * 3 + SALT_LEN + NONCE_LEN + 4;
const CHECKSUM_LEN: usize = 32;
/// Largest secret state a backup holds (identity, volume keys, pins, marks: far less).
pub const MAX_BACKUP_PLAINTEXT_LEN: usize = 16 * 1024 * 1024;

/// Most memory an imported file may ask for: 1 GiB.
const MAX_M_COST_KIB: u32 = 1024 * 1024;
/// Most passes an imported file may ask for.
const MAX_T_COST: u32 = 100;
/// Most lanes an imported file may ask for.
const MAX_P_COST: u32 = 16;
/// Most memory × passes an imported file may ask for: 4 GiB·passes (1 GiB × 4, 256 MiB × 16,
/// the default 64 MiB × 3 is 1/21 of it). Each bound alone allowed 1 GiB × 100 passes: over a
/// minute of a phone's CPU per import attempt (measured: 64 MiB × 3 takes 134 ms here).
const MAX_WORK_KIB_PASSES: u64 = 4 * 1024 * 1024;
/// Least memory a new backup uses: OWASP's 19 MiB floor.
const MIN_EXPORT_M_COST_KIB: u32 = 19 * 1024;
/// Least memory × passes a new backup uses: OWASP's minimum (19 MiB, t = 2).
const MIN_EXPORT_WORK: u64 = 19 * 1024 * 2;

/// Why a backup could not be written or read. Each variant calls for a different reaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    /// The file is not an intact backup: wrong magic, too short, checksum mismatch or broken
    /// structure. Retrying with another passphrase will not help; find an intact copy.
    #[error("backup file is corrupted or not a Coffer backup")]
    Corrupted,
    /// The file is intact but does not open with this passphrase.
    #[error("wrong passphrase for this backup")]
    WrongPassphrase,
    /// An intact backup in a format version this app does not know: update the app.
    #[error("backup format version is not supported by this app")]
    UnsupportedVersion,
    /// Argon2 cost parameters outside what this app accepts (on import: above 1 GiB, 100
    /// passes, 16 lanes or 4 GiB × passes in all, so a hostile file cannot exhaust the device;
    /// on export: below the OWASP minimum).
    #[error("backup key-derivation parameters are out of range")]
    ParametersOutOfRange,
    /// Export refuses an empty passphrase.
    #[error("backup passphrase must not be empty")]
    EmptyPassphrase,
    /// Export refuses a secret state above [`MAX_BACKUP_PLAINTEXT_LEN`].
    #[error("secret state is too large for a backup")]
    TooLarge,
    /// Argon2 failed (e.g. not enough memory on this device).
    #[error("backup key derivation failed (out of memory?)")]
    KeyDerivation,
}

/// Argon2id cost parameters of a new backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupParams {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

impl Default for BackupParams {
    /// m = 64 MiB, t = 3, p = 1 (about 130 ms on a desktop core).
    fn default() -> Self {
        BackupParams {
            m_cost_kib: 64 * 1024,
            t_cost: 3,
            p_cost: 1,
        }
    }
}

impl BackupParams {
    /// Custom parameters for new backups: at least 19 MiB and 19 MiB × 2 passes of work, at most
    /// what import accepts (1 GiB, 100 passes, 16 lanes, 4 GiB × passes).
    ///
    /// # Errors
    /// [`BackupError::ParametersOutOfRange`].
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<BackupParams, BackupError> {
        let params = BackupParams {
            m_cost_kib,
            t_cost,
            p_cost,
        };
        if m_cost_kib < MIN_EXPORT_M_COST_KIB
            || u64::from(m_cost_kib) * u64::from(t_cost) < MIN_EXPORT_WORK
            || !params.importable()
        {
            return Err(BackupError::ParametersOutOfRange);
        }
        Ok(params)
    }

    /// **Insecure** minimal parameters (8 KiB, one pass) so tests and vector generation run
    /// fast. A backup made with them falls to a guessing attack on any weak passphrase.
    #[must_use]
    pub fn danger_fast_for_tests() -> BackupParams {
        BackupParams {
            m_cost_kib: 8,
            t_cost: 1,
            p_cost: 1,
        }
    }

    /// Memory in KiB.
    #[must_use]
    pub fn m_cost_kib(&self) -> u32 {
        self.m_cost_kib
    }
    /// Passes.
    #[must_use]
    pub fn t_cost(&self) -> u32 {
        self.t_cost
    }
    /// Lanes.
    #[must_use]
    pub fn p_cost(&self) -> u32 {
        self.p_cost
    }

    /// Within what import accepts (and what Argon2 itself requires).
    fn importable(&self) -> bool {
        (1..=MAX_P_COST).contains(&self.p_cost)
            && (1..=MAX_T_COST).contains(&self.t_cost)
            && (8 * self.p_cost..=MAX_M_COST_KIB).contains(&self.m_cost_kib)
            && u64::from(self.m_cost_kib) * u64::from(self.t_cost) <= MAX_WORK_KIB_PASSES
    }

    fn derive_key(
        &self,
        passphrase: &str,
        salt: &[u8; SALT_LEN],
    ) -> Result<Zeroizing<[u8; 32]>, BackupError> {
        let params = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32))
            .map_err(|_| BackupError::ParametersOutOfRange)?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase.as_bytes(), salt, &mut key[..])
            .map_err(|_| BackupError::KeyDerivation)?;
        Ok(key)
    }
}

fn aad(header: &[u8]) -> Vec<u8> {
    let mut aad = labelled(Label::BackupAad);
    aad.extend_from_slice(header);
    aad
}

/// Encrypts `secret_state` (e.g. [`crate::identity::IdentitySecret::to_bytes`] plus the app's
/// keys and pins, in the app's own encoding) under `passphrase`, with a fresh random salt and
/// nonce.
///
/// The passphrase is used as its UTF-8 bytes; apps should normalise it (Unicode NFC) before
/// calling, so that the same words typed on another keyboard still open the file.
///
/// # Errors
/// [`BackupError::EmptyPassphrase`], [`BackupError::TooLarge`], [`BackupError::KeyDerivation`].
///
/// # Panics
/// Only if the operating system cannot supply randomness.
pub fn export_backup(
    secret_state: &[u8],
    passphrase: &str,
    params: &BackupParams,
) -> Result<Vec<u8>, BackupError> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    random::fill(&mut salt);
    random::fill(&mut nonce);
    danger_export_backup_with(secret_state, passphrase, params, salt, nonce)
}

/// [`export_backup`] with a caller-chosen salt and nonce. **Only for generating
/// `docs/vectors/v2.json`**; use [`export_backup`].
///
/// # Errors
/// As [`export_backup`].
#[doc(hidden)]
pub fn danger_export_backup_with(
    secret_state: &[u8],
    passphrase: &str,
    params: &BackupParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Result<Vec<u8>, BackupError> {
    if passphrase.is_empty() {
        return Err(BackupError::EmptyPassphrase);
    }
    if secret_state.len() > MAX_BACKUP_PLAINTEXT_LEN {
        return Err(BackupError::TooLarge);
    }
    let ct_len = u32::try_from(secret_state.len() + TAG_LEN).map_err(|_| BackupError::TooLarge)?;
    let key = params.derive_key(passphrase, &salt)?;

    let mut out = Vec::with_capacity(HEADER_LEN + secret_state.len() + TAG_LEN + CHECKSUM_LEN);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT);
    out.extend_from_slice(&params.m_cost_kib.to_be_bytes());
    out.extend_from_slice(&params.t_cost.to_be_bytes());
    out.extend_from_slice(&params.p_cost.to_be_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct_len.to_be_bytes());
    let aad = aad(&out);
    out.extend_from_slice(secret_state);
    let tag = Aes256Gcm::new((&*key).into())
        .encrypt_inout_detached(
            &Nonce::<Aes256Gcm>::from(nonce),
            &aad,
            InOutBuf::from(&mut out[HEADER_LEN..]),
        )
        .map_err(|_| BackupError::TooLarge)?;
    out.extend_from_slice(&tag);
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    Ok(out)
}

fn be_u32(bytes: &[u8], at: usize) -> Result<u32, BackupError> {
    bytes
        .get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_be_bytes)
        .ok_or(BackupError::Corrupted)
}

/// Decrypts a backup file. Checks, in order: magic and length, the SHA-256 trailer
/// ([`BackupError::Corrupted`]), the format version ([`BackupError::UnsupportedVersion`]), the
/// structure ([`BackupError::Corrupted`]), the cost parameters
/// ([`BackupError::ParametersOutOfRange`]) — all before Argon2 runs — and finally AES-GCM
/// ([`BackupError::WrongPassphrase`]).
///
/// # Errors
/// As listed, plus [`BackupError::KeyDerivation`] if Argon2 fails on this device.
pub fn import_backup(bytes: &[u8], passphrase: &str) -> Result<Zeroizing<Vec<u8>>, BackupError> {
    const MAX_FILE_LEN: usize = HEADER_LEN + MAX_BACKUP_PLAINTEXT_LEN + TAG_LEN + CHECKSUM_LEN;
    if bytes.get(..4) != Some(&MAGIC[..])
        || bytes.len() < HEADER_LEN + TAG_LEN + CHECKSUM_LEN
        || bytes.len() > MAX_FILE_LEN
    {
        return Err(BackupError::Corrupted);
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if Sha256::digest(body).as_slice() != checksum {
        return Err(BackupError::Corrupted);
    }
    if body[4] != FORMAT {
        return Err(BackupError::UnsupportedVersion);
    }
    let ct_len =
        usize::try_from(be_u32(body, HEADER_LEN - 4)?).map_err(|_| BackupError::Corrupted)?;
    if ct_len != body.len() - HEADER_LEN {
        return Err(BackupError::Corrupted);
    }
    let params = BackupParams {
        m_cost_kib: be_u32(body, 5)?,
        t_cost: be_u32(body, 9)?,
        p_cost: be_u32(body, 13)?,
    };
    if !params.importable() {
        return Err(BackupError::ParametersOutOfRange);
    }
    let (header, sealed) = body.split_at(HEADER_LEN);
    let salt = <[u8; SALT_LEN]>::try_from(&header[17..17 + SALT_LEN])
        .map_err(|_| BackupError::Corrupted)?;
    let nonce = <[u8; NONCE_LEN]>::try_from(&header[17 + SALT_LEN..HEADER_LEN - 4])
        .map_err(|_| BackupError::Corrupted)?;
    let (ciphertext, tag) = sealed
        .split_last_chunk::<TAG_LEN>()
        .ok_or(BackupError::Corrupted)?;

    let key = params.derive_key(passphrase, &salt)?;
    let mut plaintext = Zeroizing::new(vec![0u8; ciphertext.len()]);
    let buffer =
        InOutBuf::new(ciphertext, &mut plaintext[..]).map_err(|_| BackupError::Corrupted)?;
    Aes256Gcm::new((&*key).into())
        .decrypt_inout_detached(
            &Nonce::<Aes256Gcm>::from(nonce),
            &aad(header),
            buffer,
            &Tag::<Aes256Gcm>::from(*tag),
        )
        .map_err(|_| BackupError::WrongPassphrase)?;
    Ok(plaintext)
}

#[cfg(test)]
mod tests;
