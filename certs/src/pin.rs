//! SHA-256 pins of a SubjectPublicKeyInfo: the trust anchor of a paired client.
//!
//! A pin is public (it is printed, shown as a QR code and typed into clients), so it has
//! `Display` and `Debug`; it is compared in constant time anyway so that a comparison never leaks
//! how many leading bytes matched.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::CertError;

/// The prefix of the textual form of a pin (the hash algorithm, as in HPKP and curl's
/// `--pinnedpubkey`).
const PREFIX: &str = "sha256/";

/// Length of standard base64 with padding for 32 bytes.
const B64_LEN: usize = 44;

/// The SHA-256 hash of a DER-encoded X.509 SubjectPublicKeyInfo.
///
/// Text form: `sha256/` followed by the standard base64 (with padding) of the 32 hash bytes, the
/// same value `curl --pinnedpubkey` and
/// `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`
/// produce.
///
/// ```
/// use coffer_certs::SpkiPin;
///
/// let pin: SpkiPin = "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=".parse()?;
/// assert_eq!(pin.to_string(), "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=");
/// assert!("sha1/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=".parse::<SpkiPin>().is_err());
/// # Ok::<(), coffer_certs::CertError>(())
/// ```
#[derive(Clone, Copy)]
pub struct SpkiPin([u8; 32]);

impl SpkiPin {
    /// The pin of a DER-encoded SubjectPublicKeyInfo (the whole `SEQUENCE`, tag and length
    /// included).
    pub fn from_spki_der(spki_der: &[u8]) -> SpkiPin {
        SpkiPin(Sha256::digest(spki_der).into())
    }

    /// The pin of the public key inside a DER-encoded X.509 certificate.
    ///
    /// The certificate must be exactly one well-formed certificate (no trailing bytes). Its
    /// signature, names and dates are not checked: only its public key matters for a pin.
    pub fn from_cert_der(cert_der: &[u8]) -> Result<SpkiPin, CertError> {
        let (rest, cert) = x509_parser::parse_x509_certificate(cert_der).map_err(|e| {
            CertError::InvalidCertificate {
                detail: e.to_string(),
            }
        })?;
        if !rest.is_empty() {
            return Err(CertError::InvalidCertificate {
                detail: format!("{} unexpected bytes after the certificate", rest.len()),
            });
        }
        Ok(SpkiPin::from_spki_der(cert.tbs_certificate.subject_pki.raw))
    }

    /// The 32 hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for SpkiPin {
    fn eq(&self, other: &SpkiPin) -> bool {
        self.0[..].ct_eq(&other.0[..]).into()
    }
}

impl Eq for SpkiPin {}

impl Hash for SpkiPin {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Consistent with `PartialEq`: equal pins have equal bytes.
        self.0.hash(state);
    }
}

impl fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", STANDARD.encode(self.0))
    }
}

impl fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A pin is public: showing it in full is what makes logs useful.
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for SpkiPin {
    type Err = CertError;

    /// Accepts exactly `sha256/` + 44 characters of standard, padded, canonical base64 encoding
    /// 32 bytes. No whitespace, no URL-safe alphabet, no missing padding.
    fn from_str(s: &str) -> Result<SpkiPin, CertError> {
        let b64 = s.strip_prefix(PREFIX).ok_or(CertError::InvalidPin {
            reason: "it does not start with \"sha256/\"",
        })?;
        if b64.len() != B64_LEN {
            return Err(CertError::InvalidPin {
                reason: "the base64 part is not 44 characters long (32 bytes)",
            });
        }
        // The STANDARD engine requires canonical padding and rejects non-zero trailing bits, so
        // each pin has exactly one text form.
        let bytes = STANDARD.decode(b64).map_err(|_| CertError::InvalidPin {
            reason: "the part after \"sha256/\" is not valid standard base64",
        })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| CertError::InvalidPin {
            reason: "the base64 part does not decode to exactly 32 bytes",
        })?;
        Ok(SpkiPin(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=";

    #[test]
    fn display_from_str_round_trip() {
        let pin: SpkiPin = EXAMPLE.parse().expect("valid pin");
        assert_eq!(pin.to_string(), EXAMPLE);
        assert_eq!(format!("{pin:?}"), EXAMPLE);
        assert_eq!(pin.to_string().len(), PREFIX.len() + 44);

        for seed in [0u8, 1, 0x7f, 0xfe, 0xff] {
            let pin = SpkiPin([seed; 32]);
            let again: SpkiPin = pin.to_string().parse().expect("own output parses");
            assert_eq!(again, pin);
            assert_eq!(again.as_bytes(), &[seed; 32]);
        }
    }

    #[test]
    fn from_spki_der_is_sha256() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let pin = SpkiPin::from_spki_der(b"abc");
        assert_eq!(
            pin.as_bytes(),
            &[
                0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
                0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
                0xf2, 0x00, 0x15, 0xad
            ]
        );
    }

    #[test]
    fn rejects_bad_strings() {
        let valid_b64 = &EXAMPLE[PREFIX.len()..];
        let bad = [
            // wrong or missing prefix
            valid_b64.to_owned(),
            format!("sha1/{valid_b64}"),
            format!("SHA256/{valid_b64}"),
            format!("sha256:{valid_b64}"),
            format!(" sha256/{valid_b64}"),
            // whitespace
            format!("{EXAMPLE} "),
            format!("{EXAMPLE}\n"),
            // wrong length
            "sha256/".to_owned(),
            format!("sha256/{}", &valid_b64[..43]),
            format!("sha256/{}", valid_b64.trim_end_matches('=')),
            format!("{EXAMPLE}AAAA"),
            // 33 bytes / 31 bytes of valid base64
            format!("sha256/{}", STANDARD.encode([0u8; 33])),
            format!("sha256/{}", STANDARD.encode([0u8; 31])),
            // bad base64: URL-safe alphabet, invalid characters, misplaced padding
            format!("sha256/{}", valid_b64.replace('+', "-")),
            format!("sha256/{}", valid_b64.replace('+', "*")),
            format!("sha256/={}", &valid_b64[..43]),
            // non-canonical: last character with non-zero trailing bits (…iSk= vs …iSl=)
            format!("sha256/{}", valid_b64.replace("iSk=", "iSl=")),
            // multi-byte characters of the right byte length must not panic
            format!("sha256/{}é", &valid_b64[..42]),
        ];
        for s in &bad {
            let err = s.parse::<SpkiPin>().expect_err(s);
            assert!(
                matches!(err, CertError::InvalidPin { .. }),
                "{s:?} gave {err:?}"
            );
            assert!(err.to_string().contains("sha256/"), "{err}");
        }
    }

    #[test]
    fn error_messages_say_what_is_wrong() {
        let prefix = "sha1/AAAA".parse::<SpkiPin>().expect_err("bad prefix");
        assert!(
            prefix.to_string().contains("does not start with"),
            "{prefix}"
        );
        let length = "sha256/AAAA".parse::<SpkiPin>().expect_err("too short");
        assert!(length.to_string().contains("44 characters"), "{length}");
    }

    #[test]
    fn equality_and_hash() {
        use std::collections::HashSet;
        let a = SpkiPin([1; 32]);
        let mut b_bytes = [1; 32];
        b_bytes[31] = 2;
        let b = SpkiPin(b_bytes);
        assert_eq!(a, SpkiPin([1; 32]));
        assert_ne!(a, b);
        let set: HashSet<SpkiPin> = [a, b, SpkiPin([1; 32])].into_iter().collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn from_cert_der_rejects_garbage_and_trailing_bytes() {
        for garbage in [&b""[..], b"\x30", b"not a certificate", &[0xff; 64]] {
            let err = SpkiPin::from_cert_der(garbage).expect_err("garbage");
            assert!(
                matches!(err, CertError::InvalidCertificate { .. }),
                "{err:?}"
            );
        }
    }
}
