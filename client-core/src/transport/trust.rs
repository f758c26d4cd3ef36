//! [`Trust`]: how a client authenticates its relay. There is deliberately no third option: no
//! mode accepts any certificate (design §1, ADR 0005).

use std::fmt;

use std::sync::Arc;

use coffer_certs::{PinnedServerVerifier, SpkiPin};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

/// Largest PEM bundle of roots accepted (a full public CA bundle is about 250 KiB).
const MAX_ROOTS_PEM: usize = 4 << 20;

/// Which relay certificates the client accepts.
#[derive(Clone)]
pub enum Trust {
    /// Exactly the relay key with this SHA-256 SPKI pin (self-signed relays, from the pairing
    /// link). Names and dates are not checked; the handshake signature is
    /// (`coffer_certs::PinnedServerVerifier`).
    Pinned(SpkiPin),
    /// A relay's current key or the next key it announced (`GET /api/v2/pins`, ADR 0010): what
    /// an account remembers, so the relay's documented rotation needs no re-pairing (ADR 0015).
    PinnedRotating {
        /// The pin of the relay's current key.
        current: SpkiPin,
        /// The pin of the key the relay announced it will rotate to.
        next: SpkiPin,
    },
    /// Ordinary Web PKI: a chain to one of these roots, for the dialled host name, within its
    /// validity dates. The app supplies the roots (the platform's bundle or
    /// [`Trust::webpki_from_pem`]); this crate ships none.
    WebPki(RootCertStore),
}

/// Why a PEM bundle of trust roots was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unusable trust roots: {reason}; give PEM \"CERTIFICATE\" blocks of root CAs")]
pub struct TrustError {
    /// What is wrong.
    pub reason: &'static str,
}

impl Trust {
    /// Web PKI trust in the root certificates of a PEM bundle (e.g. a platform or Mozilla
    /// bundle). Blocks other than `CERTIFICATE` are skipped; at least one root must be usable,
    /// and every certificate given must parse as a trust anchor.
    pub fn webpki_from_pem(pem: &[u8]) -> Result<Trust, TrustError> {
        if pem.len() > MAX_ROOTS_PEM {
            return Err(TrustError {
                reason: "the bundle is larger than 4 MiB",
            });
        }
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|_| TrustError {
                reason: "the PEM text is malformed",
            })?;
            roots.add(cert).map_err(|_| TrustError {
                reason: "a certificate cannot be used as a trust anchor",
            })?;
        }
        if roots.is_empty() {
            return Err(TrustError {
                reason: "the bundle contains no certificate",
            });
        }
        Ok(Trust::WebPki(roots))
    }

    /// The rustls configuration of this trust (TLS 1.3/1.2, ring, ALPN `http/1.1`) and, when
    /// pinned, its verifier (which remembers the pin of a refused relay).
    pub(crate) fn client_config(
        &self,
    ) -> (rustls::ClientConfig, Option<Arc<PinnedServerVerifier>>) {
        let verifier = match self {
            Trust::Pinned(pin) => PinnedServerVerifier::new(*pin),
            Trust::PinnedRotating { current, next } => {
                PinnedServerVerifier::with_pins(*current, &[*next])
            }
            Trust::WebPki(roots) => {
                return (coffer_certs::client_config_webpki(roots.clone()), None);
            }
        };
        (
            coffer_certs::client_config_verified_by(Arc::clone(&verifier)),
            Some(verifier),
        )
    }

    /// The pins trusted (current first), empty under Web PKI.
    pub fn pins(&self) -> Vec<SpkiPin> {
        match self {
            Trust::Pinned(pin) => vec![*pin],
            Trust::PinnedRotating { current, next } => vec![*current, *next],
            Trust::WebPki(_) => Vec::new(),
        }
    }

    /// The pin of the relay's current key, when pinned.
    pub fn current_pin(&self) -> Option<SpkiPin> {
        match self {
            Trust::Pinned(pin) | Trust::PinnedRotating { current: pin, .. } => Some(*pin),
            Trust::WebPki(_) => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_pinned(&self) -> bool {
        !matches!(self, Trust::WebPki(_))
    }
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::Pinned(pin) => write!(f, "Trust::Pinned({pin})"),
            Trust::PinnedRotating { current, next } => {
                write!(f, "Trust::PinnedRotating({current}, next {next})")
            }
            Trust::WebPki(roots) => write!(f, "Trust::WebPki({} roots)", roots.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC_CERT: &str = include_str!("../../../certs/tests/data/ec-sec1.crt");
    const RSA_CERT: &str = include_str!("../../../certs/tests/data/rsa-pkcs1.crt");
    const EC_KEY: &str = include_str!("../../../certs/tests/data/ec-sec1.key");

    #[test]
    fn pem_roots() {
        let bundle = format!("{EC_CERT}\n{RSA_CERT}");
        let trust = Trust::webpki_from_pem(bundle.as_bytes()).expect("two roots");
        assert_eq!(format!("{trust:?}"), "Trust::WebPki(2 roots)");
        // Keys and other blocks are skipped, not treated as roots.
        let mixed = format!("{EC_KEY}\n{EC_CERT}");
        let trust = Trust::webpki_from_pem(mixed.as_bytes()).expect("one root");
        assert!(matches!(&trust, Trust::WebPki(r) if r.len() == 1));
        assert!(!trust.is_pinned());
    }

    #[test]
    fn pem_refusals() {
        for bad in [
            &b""[..],
            b"not pem at all",
            EC_KEY.as_bytes(),
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        ] {
            assert!(Trust::webpki_from_pem(bad).is_err(), "{bad:?}");
        }
        let huge = vec![b'a'; MAX_ROOTS_PEM + 1];
        assert!(Trust::webpki_from_pem(&huge).is_err());
    }

    #[test]
    fn pinned_debug_shows_the_pin() {
        let pin: SpkiPin = "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk="
            .parse()
            .expect("pin");
        let trust = Trust::Pinned(pin);
        assert!(trust.is_pinned());
        assert_eq!(
            format!("{trust:?}"),
            "Trust::Pinned(sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=)"
        );
    }
}
