//! Real TLS handshakes between in-memory rustls client and server connections, pumping bytes
//! through `Vec` buffers: the pinned verifier, the relay's server configuration and the Web PKI
//! client configuration, used exactly as the relay and the clients use them.

#![cfg(feature = "generate")]

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use coffer_certs::{
    CertError, SpkiPin, TlsMaterial, client_config_pinned, client_config_webpki,
    generate_self_signed, load_or_generate, load_pem, server_config,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
};
use rustls::crypto::ring;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, ProtocolVersion, RootCertStore, ServerConfig,
    ServerConnection, version,
};

/// Which side gave up, and why.
#[derive(Debug)]
#[allow(dead_code)] // the errors are read through `Debug` and pattern matches
enum Failed {
    Client(rustls::Error),
    Server(rustls::Error),
}

/// Move everything `from` wants to send into `to`, processing it as it arrives.
fn client_to_server(c: &mut ClientConnection, s: &mut ServerConnection) -> Result<bool, Failed> {
    let mut buf = Vec::new();
    while c.wants_write() {
        c.write_tls(&mut buf).expect("writing to a Vec cannot fail");
    }
    let mut rest = &buf[..];
    while !rest.is_empty() {
        s.read_tls(&mut rest)
            .expect("reading from a slice cannot fail");
        s.process_new_packets().map_err(Failed::Server)?;
    }
    Ok(!buf.is_empty())
}

fn server_to_client(s: &mut ServerConnection, c: &mut ClientConnection) -> Result<bool, Failed> {
    let mut buf = Vec::new();
    while s.wants_write() {
        s.write_tls(&mut buf).expect("writing to a Vec cannot fail");
    }
    let mut rest = &buf[..];
    while !rest.is_empty() {
        c.read_tls(&mut rest)
            .expect("reading from a slice cannot fail");
        c.process_new_packets().map_err(Failed::Client)?;
    }
    Ok(!buf.is_empty())
}

/// Run a full handshake, then send one message each way to prove the connection works.
fn connect(
    client: ClientConfig,
    server: ServerConfig,
    server_name: &str,
) -> Result<(ClientConnection, ServerConnection), Failed> {
    let name = ServerName::try_from(server_name.to_owned()).expect("server name");
    let mut c = ClientConnection::new(Arc::new(client), name).expect("client connection");
    let mut s = ServerConnection::new(Arc::new(server)).expect("server connection");
    for _ in 0..16 {
        let sent = client_to_server(&mut c, &mut s)?;
        let answered = server_to_client(&mut s, &mut c)?;
        if !c.is_handshaking() && !s.is_handshaking() {
            break;
        }
        assert!(sent || answered, "handshake stalled");
    }
    assert!(
        !c.is_handshaking() && !s.is_handshaking(),
        "handshake did not finish"
    );

    c.writer().write_all(b"ping").expect("client write");
    client_to_server(&mut c, &mut s)?;
    let mut got = [0u8; 4];
    s.reader().read_exact(&mut got).expect("server read");
    assert_eq!(&got, b"ping");
    s.writer().write_all(b"pong").expect("server write");
    server_to_client(&mut s, &mut c)?;
    c.reader().read_exact(&mut got).expect("client read");
    assert_eq!(&got, b"pong");
    Ok((c, s))
}

fn material(names: &[&str]) -> TlsMaterial {
    let generated =
        generate_self_signed(&names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .expect("generate");
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, &generated.cert_pem).expect("write");
    std::fs::write(&key, generated.key_pem.as_bytes()).expect("write");
    let material = load_pem(&cert, &key).expect("load");
    assert_eq!(material.pin, generated.pin);
    material
}

fn assert_pin_rejected(result: Result<(ClientConnection, ServerConnection), Failed>) {
    match result {
        Err(Failed::Client(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))) => {}
        other => panic!(
            "expected the client to reject the pin, got {:?}",
            other.map(|_| ())
        ),
    }
}

#[test]
fn right_pin_connects_with_tls13_and_http11() {
    let relay = material(&["relay.test", "127.0.0.1"]);
    let (c, s) = connect(
        client_config_pinned(relay.pin),
        server_config(&relay).expect("server config"),
        "relay.test",
    )
    .expect("handshake");
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(s.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(c.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(s.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[test]
fn pin_ignores_the_name_the_client_dialled() {
    let relay = material(&["relay.test"]);
    for dialled in ["not-in-the-certificate.example", "192.0.2.1", "::1"] {
        connect(
            client_config_pinned(relay.pin),
            server_config(&relay).expect("server config"),
            dialled,
        )
        .expect(dialled);
    }
}

#[test]
fn wrong_pin_is_rejected() {
    let relay = material(&["relay.test"]);
    let wrong: SpkiPin = "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk="
        .parse()
        .expect("pin");
    assert_ne!(wrong, relay.pin);
    assert_pin_rejected(connect(
        client_config_pinned(wrong),
        server_config(&relay).expect("server config"),
        "relay.test",
    ));
}

#[test]
fn a_different_generated_certificate_is_rejected() {
    let paired = material(&["relay.test"]);
    let impostor = material(&["relay.test"]);
    assert_pin_rejected(connect(
        client_config_pinned(paired.pin),
        server_config(&impostor).expect("server config"),
        "relay.test",
    ));
}

/// Serves a fixed certificate chain with a fixed key, without checking that they match (as an
/// attacker who copied the relay's public certificate would).
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

fn impostor_config(
    copied_chain: &[CertificateDer<'static>],
    own_key: &PrivateKeyDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> ServerConfig {
    let provider = Arc::new(ring::default_provider());
    let key = provider
        .key_provider
        .load_private_key(own_key.clone_key())
        .expect("key");
    let certified = CertifiedKey::new(copied_chain.to_vec(), key);
    ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(Arc::new(certified))))
}

#[test]
fn a_copied_certificate_without_its_key_is_rejected() {
    let relay = material(&["relay.test"]);
    let attacker = material(&["relay.test"]);
    for versions in [&[&version::TLS13][..], &[&version::TLS12][..]] {
        let result = connect(
            client_config_pinned(relay.pin),
            impostor_config(&relay.cert_chain, &attacker.key, versions),
            "relay.test",
        );
        match result {
            Err(Failed::Client(rustls::Error::InvalidCertificate(
                CertificateError::BadSignature,
            ))) => {}
            other => panic!(
                "{versions:?}: expected a bad handshake signature, got {:?}",
                other.map(|_| ())
            ),
        }
    }
}

#[test]
fn pinned_client_also_verifies_tls12_servers() {
    let relay = material(&["relay.test"]);
    let tls12_server = impostor_config(&relay.cert_chain, &relay.key, &[&version::TLS12]);
    let (c, _) = connect(client_config_pinned(relay.pin), tls12_server, "relay.test")
        .expect("TLS 1.2 with the right key");
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_2));
}

#[test]
fn relay_refuses_tls12_clients() {
    let relay = material(&["relay.test"]);
    let tls12_client = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(&[&version::TLS12])
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(coffer_certs::PinnedServerVerifier::new(relay.pin))
        .with_no_client_auth();
    let result = connect(
        tls12_client,
        server_config(&relay).expect("server config"),
        "relay.test",
    );
    assert!(
        matches!(result, Err(Failed::Server(_))),
        "{:?}",
        result.map(|_| ())
    );
}

#[test]
fn load_or_generate_material_serves_the_pin_it_reports() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("tls");
    let (generated, _) = load_or_generate(&dir, &["relay.test".to_owned()]).expect("generate");
    let (loaded, _) = load_or_generate(&dir, &["relay.test".to_owned()]).expect("load");
    connect(
        client_config_pinned(generated.pin),
        server_config(&loaded).expect("server config"),
        "relay.test",
    )
    .expect("handshake");
}

/// A CA named `ca_name`, and a relay certificate it issued for `relay.test`.
fn ca_and_leaf(ca_name: &str) -> (CertificateDer<'static>, TlsMaterial) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.distinguished_name = DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    let leaf_key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["relay.test".to_owned()])
        .expect("params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf");
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = dir.path().join("fullchain.pem");
    let key = dir.path().join("privkey.pem");
    std::fs::write(&chain, format!("{}{}", leaf.pem(), ca.pem())).expect("write");
    std::fs::write(&key, leaf_key.serialize_pem()).expect("write");
    (ca.der().clone(), load_pem(&chain, &key).expect("load"))
}

#[test]
fn webpki_client_checks_chain_and_name() {
    let (ca, relay) = ca_and_leaf("Test CA 1");
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).expect("root");

    connect(
        client_config_webpki(roots.clone()),
        server_config(&relay).expect("server config"),
        "relay.test",
    )
    .expect("CA-signed relay under its name");

    let wrong_name = connect(
        client_config_webpki(roots),
        server_config(&relay).expect("server config"),
        "other.test",
    );
    assert!(
        matches!(
            wrong_name,
            Err(Failed::Client(rustls::Error::InvalidCertificate(_)))
        ),
        "{:?}",
        wrong_name.map(|_| ())
    );

    let (other_ca, _) = ca_and_leaf("Test CA 2");
    let mut other_roots = RootCertStore::empty();
    other_roots.add(other_ca).expect("root");
    let untrusted = connect(
        client_config_webpki(other_roots),
        server_config(&relay).expect("server config"),
        "relay.test",
    );
    assert!(
        matches!(
            untrusted,
            Err(Failed::Client(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            )))
        ),
        "{:?}",
        untrusted.map(|_| ())
    );

    // A pin names the end-entity key: pinning the CA does not admit its leaves.
    let ca_pin = SpkiPin::from_cert_der(&ca).expect("pin");
    assert_pin_rejected(connect(
        client_config_pinned(ca_pin),
        server_config(&relay).expect("server config"),
        "relay.test",
    ));
}

#[test]
fn server_config_needs_matching_material() {
    let a = material(&["relay.test"]);
    let b = material(&["relay.test"]);
    let mismatched = TlsMaterial {
        cert_chain: a.cert_chain.clone(),
        key: b.key.clone_key(),
        pin: a.pin,
    };
    let err = server_config(&mismatched).expect_err("mismatch");
    assert!(matches!(err, CertError::Tls(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("PRIVATE KEY"));
}
