//! Server pins: the SHA-256 of a relay's public key (SubjectPublicKeyInfo) that a paired app
//! trusts instead of a certificate authority. Pins are public, so they cross the boundary as
//! text and are shown in full.

use std::fmt;
use std::sync::Arc;

use crate::error::CofferError;

/// A parsed server pin, `sha256/` followed by 44 characters of standard base64 (the form the
/// relay prints and shows as a QR code, and `curl --pinnedpubkey` accepts).
///
/// Parse a pin the user typed or scanned with [`SpkiPin::parse`] before storing it; its text
/// form (Kotlin `toString()`, Swift `description`, Python `str()`) is canonical. Two pins are
/// equal when their hashes are (compared in constant time).
#[derive(Debug, PartialEq, Eq, Hash, uniffi::Object)]
#[uniffi::export(Display, Eq, Hash)]
pub struct SpkiPin(coffer_certs::SpkiPin);

#[uniffi::export]
impl SpkiPin {
    /// Parses a pin. Accepts exactly `sha256/` + 44 characters of standard, padded, canonical
    /// base64 of 32 bytes: no surrounding whitespace, no URL-safe alphabet, no missing padding
    /// (trim user input first).
    ///
    /// Throws `InvalidPin` with a reason that says what is wrong and what is expected.
    #[uniffi::constructor]
    pub fn parse(text: String) -> Result<Arc<Self>, CofferError> {
        Ok(Arc::new(SpkiPin(text.parse()?)))
    }

    /// The 32 SHA-256 bytes of the server's SubjectPublicKeyInfo.
    pub fn sha256(&self) -> Vec<u8> {
        self.0.as_bytes().to_vec()
    }
}

impl fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
