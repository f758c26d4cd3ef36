//! Direct tests of `PinnedServerVerifier` (the handshake tests are in `tests/handshake.rs`).

use std::time::Duration;

use rcgen::{KeyPair, SigningKey as _};
use rustls::internal::msgs::codec::Codec as _;
use rustls_pki_types::pem::PemObject as _;

use super::*;
use crate::generate_self_signed;

struct Generated {
    cert: CertificateDer<'static>,
    key: KeyPair,
    pin: SpkiPin,
}

fn generate(name: &str) -> Generated {
    let g = generate_self_signed(&[name.to_owned()]).expect("generate");
    Generated {
        cert: CertificateDer::from_pem_slice(g.cert_pem.as_bytes()).expect("cert"),
        key: KeyPair::from_pem(&g.key_pem).expect("key"),
        pin: g.pin,
    }
}

/// A TLS `DigitallySigned` structure: scheme, then a u16-length-prefixed signature.
fn dss(scheme: SignatureScheme, signature: &[u8]) -> DigitallySignedStruct {
    let mut bytes = Vec::new();
    scheme.encode(&mut bytes);
    let len = u16::try_from(signature.len()).expect("short signature");
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(signature);
    DigitallySignedStruct::read_bytes(&bytes).expect("well-formed DigitallySigned")
}

fn now() -> UnixTime {
    UnixTime::now()
}

#[test]
fn accepts_the_pinned_key_only() {
    let relay = generate("relay.test");
    let other = generate("relay.test");
    let verifier = PinnedServerVerifier::new(relay.pin);
    assert_eq!(verifier.pin(), relay.pin);
    let name = ServerName::try_from("relay.test").expect("name");

    verifier
        .verify_server_cert(&relay.cert, &[], &name, &[], now())
        .expect("pinned certificate");

    let err = verifier
        .verify_server_cert(&other.cert, &[], &name, &[], now())
        .expect_err("other key");
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
    );

    // The pinned certificate as an "intermediate" does not help an unpinned end entity.
    let err = verifier
        .verify_server_cert(
            &other.cert,
            std::slice::from_ref(&relay.cert),
            &name,
            &[],
            now(),
        )
        .expect_err("pin applies to the end entity only");
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
    );

    let garbage = CertificateDer::from(b"not a certificate".to_vec());
    let err = verifier
        .verify_server_cert(&garbage, &[], &name, &[], now())
        .expect_err("garbage");
    assert!(
        matches!(err, rustls::Error::InvalidCertificate(_)),
        "{err:?}"
    );
}

#[test]
fn names_and_dates_are_not_checked_under_a_pin() {
    let relay = generate("relay.test");
    let verifier = PinnedServerVerifier::new(relay.pin);
    let far_future = UnixTime::since_unix_epoch(Duration::from_secs(253_402_300_000));
    let long_ago = UnixTime::since_unix_epoch(Duration::from_secs(0));
    for name in ["elsewhere.example", "192.0.2.99"] {
        let name = ServerName::try_from(name).expect("name");
        for time in [far_future, long_ago] {
            verifier
                .verify_server_cert(&relay.cert, &[], &name, &[], time)
                .expect("pin is the trust anchor");
        }
    }
}

#[test]
fn handshake_signatures_are_really_verified() {
    let relay = generate("relay.test");
    let other = generate("relay.test");
    let verifier = PinnedServerVerifier::new(relay.pin);
    let message = b"TLS 1.3, server CertificateVerify\0transcript hash".as_slice();
    let scheme = SignatureScheme::ECDSA_NISTP256_SHA256;
    assert!(verifier.supported_verify_schemes().contains(&scheme));

    let good = dss(scheme, &relay.key.sign(message).expect("sign"));
    verifier
        .verify_tls13_signature(message, &relay.cert, &good)
        .expect("valid TLS 1.3 signature");
    verifier
        .verify_tls12_signature(message, &relay.cert, &good)
        .expect("valid TLS 1.2 signature");

    let mut tampered = message.to_vec();
    tampered[0] ^= 1;
    assert!(
        verifier
            .verify_tls13_signature(&tampered, &relay.cert, &good)
            .is_err()
    );
    assert!(
        verifier
            .verify_tls12_signature(&tampered, &relay.cert, &good)
            .is_err()
    );

    let forged = dss(scheme, &other.key.sign(message).expect("sign"));
    let err = verifier
        .verify_tls13_signature(message, &relay.cert, &forged)
        .expect_err("signature by another key");
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::BadSignature)
    );
    assert!(
        verifier
            .verify_tls12_signature(message, &relay.cert, &forged)
            .is_err()
    );

    // A scheme that does not match the key is refused, not skipped.
    let wrong_scheme = dss(
        SignatureScheme::ED25519,
        &relay.key.sign(message).expect("sign"),
    );
    assert!(
        verifier
            .verify_tls13_signature(message, &relay.cert, &wrong_scheme)
            .is_err()
    );
}

#[test]
fn schemes_are_those_of_the_ring_provider() {
    let verifier = PinnedServerVerifier::new(generate("relay.test").pin);
    assert_eq!(
        verifier.supported_verify_schemes(),
        ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    );
}

#[test]
fn a_set_of_pins_accepts_each_and_remembers_the_refused_one() {
    let current = generate("current.example");
    let next = generate("next.example");
    let other = generate("other.example");
    let name = ServerName::try_from("whatever.example").expect("name");
    let verifier = PinnedServerVerifier::with_pins(current.pin, &[next.pin, current.pin]);
    assert_eq!(verifier.pins(), &[current.pin, next.pin]);
    assert_eq!(verifier.pin(), current.pin);
    for accepted in [&current, &next] {
        verifier
            .verify_server_cert(&accepted.cert, &[], &name, &[], now())
            .expect("a trusted pin");
    }
    assert_eq!(verifier.last_refused(), None);
    let refused = verifier
        .verify_server_cert(&other.cert, &[], &name, &[], now())
        .expect_err("another key");
    assert_eq!(
        refused,
        rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
    );
    assert_eq!(verifier.last_refused(), Some(other.pin));
}
