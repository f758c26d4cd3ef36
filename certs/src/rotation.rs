//! Certificate rotation with a pre-announced next pin (feature `generate`).
//!
//! A paired client trusts exactly one key, so replacing a relay's key would cut every client
//! off. Rotation therefore happens in two steps, weeks apart if need be:
//!
//! 1. [`generate_next`] creates `next-cert.pem` / `next-key.pem` beside the current pair. The
//!    relay announces the next pin (banner, `GET /api/v2/pins`) over the connection the clients
//!    already trust, so they can add it to their pins ahead of time.
//! 2. [`rotate`] promotes next → current. The replaced pair is kept as `previous-cert.pem` /
//!    `previous-key.pem` for a manual roll-back.
//!
//! This module must never leave `cert.pem` and `key.pem` permanently mismatched: every step is
//! a rename, and a rotation interrupted half-way is finished by running [`rotate`] again.

use std::fs;
use std::path::Path;

use crate::files::Access;
use crate::load::load_files;
use crate::store::write::{exists, generate_pair, sync_dir, write_err};
use crate::{CERT_FILE_NAME, CertError, KEY_FILE_NAME, SpkiPin, pin_of_cert_file};

/// The announced next certificate, beside `cert.pem`.
pub const NEXT_CERT_FILE_NAME: &str = "next-cert.pem";
/// The announced next key, beside `key.pem` (mode 0600).
pub const NEXT_KEY_FILE_NAME: &str = "next-key.pem";
/// The certificate [`rotate`] replaced.
pub const PREVIOUS_CERT_FILE_NAME: &str = "previous-cert.pem";
/// The key [`rotate`] replaced.
pub const PREVIOUS_KEY_FILE_NAME: &str = "previous-key.pem";

/// The pins of a certificate directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pins {
    /// The pin of `cert.pem`, if it exists.
    pub current: Option<SpkiPin>,
    /// The pin of `next-cert.pem`, if a next certificate was prepared.
    pub next: Option<SpkiPin>,
}

/// What [`rotate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// The pin that was current before (now `previous-cert.pem`); `None` when an interrupted
    /// rotation was finished and the old certificate was already replaced.
    pub previous: Option<SpkiPin>,
    /// The pin that is current now.
    pub current: SpkiPin,
}

fn file_pin(path: &Path) -> Result<Option<SpkiPin>, CertError> {
    if exists(path)? {
        pin_of_cert_file(path).map(Some)
    } else {
        Ok(None)
    }
}

/// The pins of `dir/cert.pem` and `dir/next-cert.pem`, from the certificates alone (for
/// display; [`load_next_pin`] also checks the key).
pub fn read_pins(dir: &Path) -> Result<Pins, CertError> {
    Ok(Pins {
        current: file_pin(&dir.join(CERT_FILE_NAME))?,
        next: file_pin(&dir.join(NEXT_CERT_FILE_NAME))?,
    })
}

/// The pin of the prepared next certificate, if both next files exist and the key (owner-only)
/// matches the certificate. A relay announces only a pin it will be able to serve.
pub fn load_next_pin(dir: &Path) -> Result<Option<SpkiPin>, CertError> {
    let cert = dir.join(NEXT_CERT_FILE_NAME);
    let key = dir.join(NEXT_KEY_FILE_NAME);
    match (exists(&cert)?, exists(&key)?) {
        (false, false) => Ok(None),
        (true, true) => Ok(Some(load_files(&cert, &key, Access::OwnerOnly)?.pin)),
        (true, false) => Err(CertError::IncompleteCertDir {
            present: cert,
            missing: key,
        }),
        (false, true) => Err(CertError::IncompleteCertDir {
            present: key,
            missing: cert,
        }),
    }
}

/// Generate a new current certificate and key (`cert.pem`, `key.pem`) in `dir` for
/// `subject_alt_names`; fails if either exists. Returns the new pin.
pub fn generate_current(dir: &Path, subject_alt_names: &[String]) -> Result<SpkiPin, CertError> {
    Ok(generate_pair(dir, CERT_FILE_NAME, KEY_FILE_NAME, subject_alt_names)?.pin)
}

/// Generate the next certificate and key (`next-cert.pem`, `next-key.pem`) beside the current
/// pair. An existing next pair is an error unless `replace` is set (then it is removed first:
/// clients that pre-pinned it must learn the new next pin). Returns the next pin.
pub fn generate_next(
    dir: &Path,
    subject_alt_names: &[String],
    replace: bool,
) -> Result<SpkiPin, CertError> {
    let cert = dir.join(NEXT_CERT_FILE_NAME);
    let key = dir.join(NEXT_KEY_FILE_NAME);
    if replace {
        for path in [&cert, &key] {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(CertError::Write {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
    }
    Ok(generate_pair(
        dir,
        NEXT_CERT_FILE_NAME,
        NEXT_KEY_FILE_NAME,
        subject_alt_names,
    )?
    .pin)
}

fn remove_if_present(path: &Path) -> Result<(), CertError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CertError::Write {
            path: path.to_owned(),
            source,
        }),
    }
}

/// `to` becomes a second name of `from` (a copy where hard links are not supported).
fn keep_copy(from: &Path, to: &Path) -> Result<(), CertError> {
    remove_if_present(to)?;
    if fs::hard_link(from, to).is_err() {
        // fs::copy keeps the permission bits, so a 0600 key stays 0600.
        fs::copy(from, to).map_err(write_err(to))?;
    }
    Ok(())
}

fn rename(from: &Path, to: &Path) -> Result<(), CertError> {
    fs::rename(from, to).map_err(write_err(to))
}

/// Promote the prepared next certificate to current.
///
/// Checks that the next pair loads and matches, keeps the current pair as `previous-*.pem`,
/// then renames `next-key.pem` → `key.pem` and `next-cert.pem` → `cert.pem` and syncs the
/// directory. If a previous run stopped between the two renames (`key.pem` already the next
/// key, `next-cert.pem` still there), this run finishes it. A running relay keeps serving the
/// old certificate until it is restarted.
pub fn rotate(dir: &Path) -> Result<Rotation, CertError> {
    let cert = dir.join(CERT_FILE_NAME);
    let key = dir.join(KEY_FILE_NAME);
    let next_cert = dir.join(NEXT_CERT_FILE_NAME);
    let next_key = dir.join(NEXT_KEY_FILE_NAME);
    let no_next = || CertError::NoNextCertificate {
        dir: dir.to_owned(),
    };
    match (exists(&next_cert)?, exists(&next_key)?) {
        (true, true) => {}
        (true, false) => {
            // Interrupted between the two renames? Then key.pem is the next key.
            let finished = load_files(&next_cert, &key, Access::OwnerOnly).map_err(|_| {
                CertError::IncompleteCertDir {
                    present: next_cert.clone(),
                    missing: next_key.clone(),
                }
            })?;
            rename(&next_cert, &cert)?;
            sync_dir(dir)?;
            return Ok(Rotation {
                previous: None,
                current: finished.pin,
            });
        }
        (false, true) => {
            return Err(CertError::IncompleteCertDir {
                present: next_key,
                missing: next_cert,
            });
        }
        (false, false) => return Err(no_next()),
    }
    let next = load_files(&next_cert, &next_key, Access::OwnerOnly)?;
    let current = load_files(&cert, &key, Access::OwnerOnly)?;
    keep_copy(&key, &dir.join(PREVIOUS_KEY_FILE_NAME))?;
    keep_copy(&cert, &dir.join(PREVIOUS_CERT_FILE_NAME))?;
    sync_dir(dir)?;
    rename(&next_key, &key)?;
    rename(&next_cert, &cert)?;
    sync_dir(dir)?;
    Ok(Rotation {
        previous: Some(current.pin),
        current: next.pin,
    })
}

#[cfg(test)]
#[path = "rotation_tests.rs"]
mod tests;
