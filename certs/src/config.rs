//! rustls configurations for the relay and its clients.
//!
//! Every configuration names the ring provider explicitly, so nothing depends on a process-wide
//! `CryptoProvider::install_default()` and tests can build many in one process.

use std::sync::Arc;

use rustls::crypto::{CryptoProvider, ring};
use rustls::server::ResolvesServerCert;
use rustls::{ClientConfig, RootCertStore, ServerConfig, version};

use crate::{CertError, PinnedServerVerifier, SpkiPin, TlsMaterial};

/// The one application protocol spoken over these connections (actix-web serves HTTP/1.1).
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The relay's TLS configuration: TLS 1.3 only, no client certificates, ALPN `http/1.1`.
///
/// Fails if rustls rejects the key or finds that it does not match the end-entity certificate
/// (material from [`load_pem`](crate::load_pem) has already been checked for both).
pub fn server_config(material: &TlsMaterial) -> Result<ServerConfig, CertError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&version::TLS13])
        .map_err(CertError::Tls)?
        .with_no_client_auth()
        .with_single_cert(material.cert_chain.clone(), material.key.clone_key())
        .map_err(CertError::Tls)?;
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(config)
}

/// As [`server_config`], with the certificate chosen per handshake by `resolver` (e.g. one whose
/// pair a relay swaps when the files are renewed; connections already open keep theirs).
pub fn server_config_with_resolver(
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<ServerConfig, CertError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&version::TLS13])
        .map_err(CertError::Tls)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(config)
}

/// A client configuration that trusts exactly one relay key: TLS 1.3 and 1.2, the
/// [`PinnedServerVerifier`], ALPN `http/1.1`, no client certificate.
pub fn client_config_pinned(pin: SpkiPin) -> ClientConfig {
    client_config_verified_by(PinnedServerVerifier::new(pin))
}

/// As [`client_config_pinned`], with a given verifier (e.g. one trusting a relay's current and
/// next pin, [`PinnedServerVerifier::with_pins`], whose refusals the caller wants to read).
pub fn client_config_verified_by(verifier: Arc<PinnedServerVerifier>) -> ClientConfig {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&version::TLS13, &version::TLS12])
        .expect("the ring provider has cipher suites and key exchange groups for TLS 1.3 and 1.2")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    config
}

/// A client configuration with ordinary Web PKI verification (chain to one of `roots`, server
/// name, validity dates): TLS 1.3 and 1.2, ALPN `http/1.1`, no client certificate.
pub fn client_config_webpki(roots: RootCertStore) -> ClientConfig {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&version::TLS13, &version::TLS12])
        .expect("the ring provider has cipher suites and key exchange groups for TLS 1.3 and 1.2")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    config
}
