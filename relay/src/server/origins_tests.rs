#![allow(clippy::unwrap_used)]
use super::*;
use rustls::pki_types::pem::PemObject as _;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn home(listen: &str) -> Reach {
    Reach {
        listen: Some(ip(listen)),
        interfaces: vec![
            ip("127.0.0.1"),
            ip("192.168.1.50"),
            ip("::1"),
            ip("fe80::1"),
            ip("2001:db8::7"),
        ],
        port: 8443,
        cert_names: strings(&["localhost", "127.0.0.1", "::1"]),
        ..Reach::default()
    }
}

#[test]
fn a_wildcard_listener_accepts_its_lan_addresses_and_loopback() {
    let origins = home("0.0.0.0").accepted_origins();
    for ok in [
        "https://192.168.1.50:8443",
        "https://127.0.0.1:8443",
        "https://localhost:8443",
        "https://[::1]:8443",
    ] {
        assert!(
            origins.contains(&ok.to_owned()),
            "{ok} missing from {origins:?}"
        );
    }
    // 0.0.0.0 is IPv4 only; never the wildcard itself, never a link-local address.
    for refused in [
        "https://0.0.0.0:8443",
        "https://[2001:db8::7]:8443",
        "https://[fe80::1]:8443",
        "https://192.168.1.50:8444",
        "https://192.168.1.51:8443",
        "https://evil.example:8443",
    ] {
        assert!(
            !origins.contains(&refused.to_owned()),
            "{refused} in {origins:?}"
        );
    }
    let v6 = home("::").accepted_origins();
    assert!(v6.contains(&"https://[2001:db8::7]:8443".to_owned()));
    assert!(v6.contains(&"https://192.168.1.50:8443".to_owned()));
    assert!(!v6.contains(&"https://[fe80::1]:8443".to_owned()));
}

#[test]
fn a_specific_listener_ignores_other_interfaces() {
    let origins = home("192.168.1.50").accepted_origins();
    assert!(origins.contains(&"https://192.168.1.50:8443".to_owned()));
    assert!(!origins.contains(&"https://[2001:db8::7]:8443".to_owned()));
    assert_eq!(
        home("192.168.1.50").listen_urls(),
        ["https://192.168.1.50:8443"]
    );
}

#[test]
fn public_origins_and_certificate_names_are_added_not_substituted() {
    let mut reach = home("127.0.0.1");
    reach.public_origins = strings(&["https://relay.example.org"]);
    reach.cert_names = strings(&["relay.home.arpa", "10.0.0.2", "fd00::2", "*.example.org"]);
    reach.hostnames = strings(&["NAS.local"]);
    let origins = reach.accepted_origins();
    for ok in [
        "https://relay.example.org",
        "https://relay.home.arpa:8443",
        "https://10.0.0.2:8443",
        "https://[fd00::2]:8443",
        "https://nas.local:8443",
        "https://127.0.0.1:8443",
    ] {
        assert!(
            origins.contains(&ok.to_owned()),
            "{ok} missing from {origins:?}"
        );
    }
    assert!(!origins.iter().any(|o| o.contains('*')), "{origins:?}");
    // No duplicates.
    let mut sorted = origins.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), origins.len());
}

#[test]
fn port_443_origins_are_accepted_with_and_without_the_port() {
    let mut reach = home("127.0.0.1");
    reach.port = 443;
    let origins = reach.accepted_origins();
    assert!(origins.contains(&"https://localhost".to_owned()));
    assert!(origins.contains(&"https://localhost:443".to_owned()));
}

#[test]
fn the_banner_never_shows_a_wildcard_and_pairs_a_lan_address() {
    let reach = home("0.0.0.0");
    assert_eq!(
        reach.listen_urls(),
        ["https://127.0.0.1:8443", "https://192.168.1.50:8443"]
    );
    assert_eq!(reach.pairing_origin(), "https://192.168.1.50:8443");
    // On ::, private IPv4 is preferred over a global IPv6 address for the QR code.
    assert_eq!(home("::").pairing_origin(), "https://192.168.1.50:8443");
    // A machine with only loopback still prints something dialable.
    let lonely = Reach {
        listen: Some(ip("0.0.0.0")),
        port: 8443,
        ..Reach::default()
    };
    assert_eq!(lonely.listen_urls(), ["https://127.0.0.1:8443"]);
    assert_eq!(lonely.pairing_origin(), "https://127.0.0.1:8443");
}

#[test]
fn configured_names_win_the_pairing_string() {
    let mut reach = home("0.0.0.0");
    reach.hostnames = strings(&["localhost", "nas.home.arpa"]);
    assert_eq!(reach.pairing_origin(), "https://nas.home.arpa:8443");
    reach.public_origins = strings(&["https://coffer.example.org"]);
    assert_eq!(reach.pairing_origin(), "https://coffer.example.org");
}

#[test]
fn names_the_certificate_lacks_are_reported() {
    let mut reach = home("0.0.0.0");
    reach.hostnames = strings(&["nas.home.arpa", "127.0.0.1"]);
    reach.public_origins = strings(&["https://coffer.example.org:9443", "https://[::1]:9443"]);
    assert_eq!(
        reach.names_missing_from_cert(),
        ["nas.home.arpa", "coffer.example.org"]
    );
}

#[test]
fn certificate_names_are_read_from_the_san() {
    let generated =
        coffer_certs::generate_self_signed(&strings(&["Relay.Test", "192.0.2.7", "::1"])).unwrap();
    let der =
        rustls::pki_types::CertificateDer::from_pem_slice(generated.cert_pem.as_bytes()).unwrap();
    assert_eq!(cert_names(&der), ["relay.test", "192.0.2.7", "::1"]);
    assert!(cert_names(b"not a certificate").is_empty());
}
