//! Loading a certificate chain and its private key from PEM files.
//!
//! This module must never put key bytes, or anything decoded from a key file, into an error or a
//! `Debug` string: key-file problems are reported as fixed reasons.

use std::fmt;
use std::path::Path;

use rustls::crypto::ring;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject as _};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::files::{Access, read_pem_file};
use crate::{CertError, SpkiPin};

/// A certificate chain, its private key and the pin of its end-entity certificate: what a relay
/// needs to serve TLS (see [`server_config`](crate::server_config)).
///
/// `Debug` shows the chain length and the pin, never the key.
pub struct TlsMaterial {
    /// The chain, end-entity certificate first, then any intermediates, as in the PEM file.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The private key of the end-entity certificate.
    pub key: PrivateKeyDer<'static>,
    /// The SHA-256 SPKI pin of the end-entity certificate (what paired clients trust).
    pub pin: SpkiPin,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("cert_chain_len", &self.cert_chain.len())
            .field("key", &"<redacted>")
            .field("pin", &self.pin)
            .finish()
    }
}

/// Load a PEM certificate chain and a PEM private key.
///
/// * `cert_path`: one or more `CERTIFICATE` blocks, end-entity first (a CA-issued
///   `fullchain.pem` works as is). Other block types in the file are ignored.
/// * `key_path`: the first PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
///   (`EC PRIVATE KEY`) block is used. It may be the same file as `cert_path`.
///
/// The key must belong to the end-entity certificate and be usable by rustls (ECDSA P-256/P-384,
/// Ed25519, RSA). Files over 1 MiB are refused before being read. The key file's permissions
/// are not checked here: files given explicitly are managed by the operator (compare
/// [`load_or_generate`](crate::load_or_generate), which refuses a group/other-accessible key it
/// manages itself).
pub fn load_pem(cert_path: &Path, key_path: &Path) -> Result<TlsMaterial, CertError> {
    load_files(cert_path, key_path, Access::Any)
}

/// The SHA-256 SPKI pin of the first certificate in a PEM file (no key needed): what
/// `coffer-admin cert pin FILE` prints, and what an operator compares with the relay's `pin:`
/// line.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let generated = coffer_certs::generate_self_signed(&["relay.example".into()])?;
/// # let path = dir.path().join("cert.pem");
/// # std::fs::write(&path, &generated.cert_pem)?;
/// let pin = coffer_certs::pin_of_cert_file(&path)?;
/// # assert_eq!(pin, generated.pin);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pin_of_cert_file(cert_path: &Path) -> Result<SpkiPin, CertError> {
    let cert_pem = read_pem_file(cert_path, Access::Any)?;
    let cert_file_err = |detail: String| CertError::CertificateFile {
        path: cert_path.to_owned(),
        detail,
    };
    let first = CertificateDer::pem_slice_iter(&cert_pem)
        .next()
        .ok_or_else(|| cert_file_err("no PEM \"CERTIFICATE\" block found".to_owned()))?
        .map_err(|e| cert_file_err(pem_problem(&e).to_owned()))?;
    SpkiPin::from_cert_der(&first).map_err(|e| cert_file_err(format!("first certificate: {e}")))
}

/// [`load_pem`] with a choice of key-file permission check.
pub(crate) fn load_files(
    cert_path: &Path,
    key_path: &Path,
    key_access: Access,
) -> Result<TlsMaterial, CertError> {
    let cert_pem = read_pem_file(cert_path, Access::Any)?;
    let key_pem = read_pem_file(key_path, key_access)?;
    material_from_pem(&cert_pem, cert_path, &key_pem, key_path)
}

/// Parse PEM bytes already in memory; the paths are only used in error messages.
pub(crate) fn material_from_pem(
    cert_pem: &[u8],
    cert_path: &Path,
    key_pem: &[u8],
    key_path: &Path,
) -> Result<TlsMaterial, CertError> {
    let cert_file_err = |detail: String| CertError::CertificateFile {
        path: cert_path.to_owned(),
        detail,
    };

    let cert_chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_file_err(pem_problem(&e).to_owned()))?;
    let Some(end_entity) = cert_chain.first() else {
        return Err(cert_file_err(
            "no PEM \"CERTIFICATE\" block found (a DER file can be converted with \
             `openssl x509 -inform der -in cert.der -out cert.pem`)"
                .to_owned(),
        ));
    };
    let pin = SpkiPin::from_cert_der(end_entity)
        .map_err(|e| cert_file_err(format!("first certificate: {e}")))?;

    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| CertError::KeyFile {
        path: key_path.to_owned(),
        reason: match e {
            pem::Error::NoItemsFound => "no private key block found",
            other => pem_problem(&other),
        },
    })?;

    check_key_matches(&cert_chain, &key, cert_path, key_path)?;

    Ok(TlsMaterial {
        cert_chain,
        key,
        pin,
    })
}

/// A fixed description of a PEM syntax error. Deliberately drops the error's payload (the
/// offending line or base64 detail), which for a key file could be key material.
fn pem_problem(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a PEM block has no matching END line",
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a PEM block is not valid base64",
        pem::Error::SectionTooLarge => "a PEM block is too large",
        pem::Error::NoItemsFound => "no PEM block of the expected type found",
        _ => "the file is not valid PEM",
    }
}

/// Fail early, with file names, when the key cannot be used or belongs to another certificate;
/// rustls would otherwise only say so when the server configuration is built.
fn check_key_matches(
    cert_chain: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), CertError> {
    let provider = ring::default_provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|_| CertError::UnsupportedKey {
            path: key_path.to_owned(),
        })?;
    match CertifiedKey::new(cert_chain.to_vec(), signing_key).keys_match() {
        // `Unknown`: the key type cannot report its public key; rustls accepts that too.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(()),
        Err(rustls::Error::InconsistentKeys(_)) => Err(CertError::KeyMismatch {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
        }),
        // Anything else concerns the (public) certificate, e.g. webpki cannot parse it.
        Err(e) => Err(CertError::CertificateFile {
            path: cert_path.to_owned(),
            detail: format!("first certificate: {e}"),
        }),
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
