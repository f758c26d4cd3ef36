//! The relay's certificate directory: load `cert.pem` + `key.pem`, or create them once.
//!
//! This module must never overwrite an existing file, and a private key written here must never
//! exist, even briefly, with permissions wider than owner-only.

#[cfg(feature = "generate")]
pub(crate) mod write;

#[cfg(feature = "generate")]
pub use write::load_or_generate;

/// File name of the certificate inside the directory given to `load_or_generate`.
pub const CERT_FILE_NAME: &str = "cert.pem";
/// File name of the private key inside the directory given to `load_or_generate`.
pub const KEY_FILE_NAME: &str = "key.pem";

/// Where the material returned by `load_or_generate` came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provenance {
    /// A new key and self-signed certificate were created by this call: clients must be told
    /// the (new) pin.
    Generated,
    /// Existing files were loaded: the pin is the one clients already know.
    Loaded,
}
