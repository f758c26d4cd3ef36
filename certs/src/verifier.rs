//! The client-side verifier for a paired relay: trust exactly one SPKI pin, or the small set
//! of a relay's current and announced next pin (ADR 0010, ADR 0015).
//!
//! This module must never offer a way to accept any certificate. Names and validity dates are
//! deliberately not checked: the pin is the trust anchor, and it identifies the one key the
//! client paired with. A self-signed relay certificate has no issuer that could vouch for a name
//! or revoke it, so checking its names would add no security and would break relays reached by
//! an address the certificate does not list; checking dates would only turn a relay's clock or
//! a ten-year-old pairing into an outage. What remains fully checked is that the server proves,
//! in the handshake, possession of the private key whose public key has the pinned hash.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    WebPkiSupportedAlgorithms, ring, verify_tls12_signature, verify_tls13_signature,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::SpkiPin;

/// A rustls [`ServerCertVerifier`] that accepts a server if and only if its end-entity
/// certificate's public key has one of the expected [`SpkiPin`]s, and its handshake signature
/// verifies under that key.
///
/// Intermediate certificates, OCSP responses, server names and validity dates are ignored (see
/// the module documentation for why). Handshake signatures are verified with the ring provider's
/// algorithms, for TLS 1.3 and TLS 1.2.
///
/// The pin of the last certificate refused is kept ([`last_refused`](Self::last_refused)), so a
/// client can tell its user which key the relay presented (pins are public).
#[derive(Debug)]
pub struct PinnedServerVerifier {
    /// Every pin trusted; the first is the one reported by [`pin`](Self::pin).
    pins: Vec<SpkiPin>,
    first: SpkiPin,
    algorithms: WebPkiSupportedAlgorithms,
    last_refused: Mutex<Option<SpkiPin>>,
}

impl PinnedServerVerifier {
    /// A verifier that trusts exactly `pin`.
    pub fn new(pin: SpkiPin) -> Arc<Self> {
        Self::with_pins(pin, &[])
    }

    /// A verifier that trusts `pin` and each of `more` (e.g. a relay's announced next pin):
    /// a relay holding any one of these keys is accepted.
    pub fn with_pins(pin: SpkiPin, more: &[SpkiPin]) -> Arc<Self> {
        let mut pins = vec![pin];
        for extra in more {
            if !pins.contains(extra) {
                pins.push(*extra);
            }
        }
        Arc::new(PinnedServerVerifier {
            pins,
            first: pin,
            algorithms: ring::default_provider().signature_verification_algorithms,
            last_refused: Mutex::new(None),
        })
    }

    /// The (first) pin this verifier trusts.
    pub fn pin(&self) -> SpkiPin {
        self.first
    }

    /// Every pin this verifier trusts, the first one first.
    pub fn pins(&self) -> &[SpkiPin] {
        &self.pins
    }

    /// The pin of the last certificate this verifier refused, if any.
    pub fn last_refused(&self) -> Option<SpkiPin> {
        *self
            .last_refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Hash the SPKI exactly as webpki parses it: the handshake signature is later verified
        // (in `verify_tls1*_signature`) against the key webpki extracts from this same
        // certificate, so pin and signature check can never be about two different keys.
        let parsed = ParsedCertificate::try_from(end_entity)?;
        let presented = SpkiPin::from_spki_der(parsed.subject_public_key_info().as_ref());
        if self.pins.contains(&presented) {
            Ok(ServerCertVerified::assertion())
        } else {
            *self
                .last_refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(presented);
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(all(test, feature = "generate"))]
#[path = "verifier_tests.rs"]
mod tests;
