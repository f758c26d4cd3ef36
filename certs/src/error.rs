//! The crate's one error type.
//!
//! Every variant names the file involved (when there is one) and says what the operator can do.
//! No variant ever carries private-key bytes, PEM text of a key, or anything decoded from a key
//! file: problems with a key file are reported as fixed, static reasons.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while parsing pins, loading, generating or using TLS material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// A pin string is not of the form `sha256/<44 characters of standard base64>`.
    #[error(
        "invalid SPKI pin: {reason}; expected \"sha256/\" followed by 44 characters of standard \
         base64 with padding (the SHA-256 of the server's SubjectPublicKeyInfo)"
    )]
    InvalidPin {
        /// What exactly is wrong with the string.
        reason: &'static str,
    },

    /// Bytes given as a DER certificate are not a well-formed X.509 certificate.
    #[error("not a valid DER-encoded X.509 certificate: {detail}")]
    InvalidCertificate {
        /// The parser's description of the problem (certificates are public, so this is safe).
        detail: String,
    },

    /// A certificate or key file could not be opened, inspected or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// A certificate or key path names something other than a regular file.
    #[error("{} is not a regular file; give the path of a PEM file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },

    /// A certificate or key file is larger than any sensible PEM file.
    #[error("{} is larger than {limit} bytes, which is too big for a PEM certificate or key file", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },

    /// The certificate file is not usable: malformed PEM, no `CERTIFICATE` block, or a first
    /// certificate that cannot be parsed.
    #[error("bad certificate file {}: {detail}", path.display())]
    CertificateFile {
        /// The certificate file.
        path: PathBuf,
        /// What is wrong (certificates are public, so details are safe to show).
        detail: String,
    },

    /// The key file contains no usable PEM private key.
    #[error(
        "bad private key file {}: {reason}; expected a PEM \"PRIVATE KEY\" (PKCS#8), \
         \"RSA PRIVATE KEY\" (PKCS#1) or \"EC PRIVATE KEY\" (SEC1) block",
        path.display()
    )]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// A fixed description of the problem (never any content of the file).
        reason: &'static str,
    },

    /// The private key is well-formed PEM but of a kind the TLS stack (rustls with ring) cannot
    /// sign with.
    #[error(
        "the private key in {} is of an unsupported type; use ECDSA P-256/P-384, Ed25519 or RSA \
         (2048 bits or more)",
        path.display()
    )]
    UnsupportedKey {
        /// The key file.
        path: PathBuf,
    },

    /// The private key does not belong to the first (end-entity) certificate.
    #[error(
        "the private key in {} does not match the first certificate in {}; the end-entity \
         certificate must come first in the certificate file",
        key_path.display(),
        cert_path.display()
    )]
    KeyMismatch {
        /// The certificate file.
        cert_path: PathBuf,
        /// The key file.
        key_path: PathBuf,
    },

    /// A private key file may be read or written by the group or by others.
    #[error(
        "{} is accessible by group or others (mode {mode:04o}); a TLS private key must be \
         readable by its owner only: run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// Exactly one of `cert.pem` and `key.pem` exists in the certificate directory.
    #[error(
        "found {} but not {}; nothing was changed. Restore the missing file, or remove {} to \
         generate a new self-signed certificate (its pin will change and every client must pair \
         again)",
        present.display(),
        missing.display(),
        present.display()
    )]
    IncompleteCertDir {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },

    /// A directory or file could not be created or written while storing a generated
    /// certificate.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// A file that would be created already exists; nothing was changed.
    #[error(
        "{} already exists; nothing was changed (remove it first if you really mean to replace \
         it: a new key changes the pin)",
        path.display()
    )]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },

    /// `rotate` found no prepared next certificate.
    #[error(
        "no next certificate in {} (expected next-cert.pem and next-key.pem); prepare one with \
         `coffer-admin cert next`, let clients learn its pin, then rotate",
        dir.display()
    )]
    NoNextCertificate {
        /// The certificate directory.
        dir: PathBuf,
    },

    /// A relay pairing string is malformed.
    #[error("invalid relay pairing string: {reason}")]
    InvalidPairing {
        /// What exactly is wrong.
        reason: &'static str,
    },

    /// A text is too long to fit in a QR code.
    #[error("cannot make a QR code: {detail}")]
    Qr {
        /// The encoder's explanation.
        detail: String,
    },

    /// A subject alternative name is neither an IP address nor a valid DNS name.
    #[error(
        "{name:?} is neither an IP address nor a valid DNS name; it cannot be a subject alternative name"
    )]
    InvalidSubjectAltName {
        /// The rejected name (a host name, not a secret).
        name: String,
    },

    /// The system clock is before 1970 or so far ahead that the certificate's validity cannot be
    /// encoded.
    #[error("the system clock is out of range; cannot date a new certificate")]
    Clock,

    /// rcgen failed to generate a key or certificate.
    #[cfg(feature = "generate")]
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),

    /// rustls refused the certificate and key when building a TLS configuration.
    #[error("TLS configuration rejected the certificate or key: {0}")]
    Tls(#[source] rustls::Error),
}
