//! Tests of `load_pem`: key formats, chains, known-answer pins from OpenSSL, and bad files.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject as _;

use super::*;

const EC_SEC1_PIN: &str = "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=";
const RSA_PKCS1_PIN: &str = "sha256/G8GBPaBpmF7AJ/WiG+hKLR0iTiJeMihFAYSlDaL0GJM=";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write test file");
    path
}

/// Which error a bad input must produce.
type ErrorCheck = fn(&CertError) -> bool;

/// Deterministic non-PEM noise (no RNG crate needed).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

#[test]
fn openssl_vectors_load_with_the_pins_openssl_computed() {
    let ec = load_pem(&data("ec-sec1.crt"), &data("ec-sec1.key")).expect("SEC1 key");
    assert!(matches!(ec.key, PrivateKeyDer::Sec1(_)));
    assert_eq!(ec.pin.to_string(), EC_SEC1_PIN);
    assert_eq!(ec.cert_chain.len(), 1);

    let rsa = load_pem(&data("rsa-pkcs1.crt"), &data("rsa-pkcs1.key")).expect("PKCS#1 key");
    assert!(matches!(rsa.key, PrivateKeyDer::Pkcs1(_)));
    assert_eq!(rsa.pin.to_string(), RSA_PKCS1_PIN);

    // The same pins straight from the DER certificates.
    let der = CertificateDer::from_pem_file(data("ec-sec1.crt")).expect("cert");
    assert_eq!(
        SpkiPin::from_cert_der(&der).expect("pin").to_string(),
        EC_SEC1_PIN
    );
}

#[test]
fn a_key_that_belongs_to_another_certificate_is_refused() {
    let err = load_pem(&data("ec-sec1.crt"), &data("rsa-pkcs1.key")).expect_err("mismatch");
    assert!(matches!(err, CertError::KeyMismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("ec-sec1.crt") && msg.contains("rsa-pkcs1.key"),
        "{msg}"
    );
}

#[test]
fn garbage_files_give_clear_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good_cert = std::fs::read(data("ec-sec1.crt")).expect("read");
    let good_key = std::fs::read_to_string(data("ec-sec1.key")).expect("read");
    let key_body: Vec<&str> = good_key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();

    let bad_certs: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("noise", noise(4096)),
        ("text", b"hello, I am not a certificate\n".to_vec()),
        ("key-only", good_key.as_bytes().to_vec()),
        (
            "bad-base64",
            b"-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n".to_vec(),
        ),
        (
            "not-x509",
            b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n".to_vec(),
        ),
        (
            "no-end",
            b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n".to_vec(),
        ),
        ("truncated", good_cert[..good_cert.len() / 2].to_vec()),
    ];
    let key_path = data("ec-sec1.key");
    for (name, contents) in &bad_certs {
        let path = write(dir.path(), &format!("{name}.crt"), contents);
        let err = load_pem(&path, &key_path).expect_err(name);
        assert!(
            matches!(err, CertError::CertificateFile { .. }),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(&format!("{name}.crt")), "{err}");
    }

    let mut corrupted_key = good_key.clone();
    if let Some(line) = key_body.first() {
        corrupted_key =
            corrupted_key.replacen(line, &format!("{}*{}", &line[..10], &line[11..]), 1);
    }
    let bad_keys: Vec<(&str, Vec<u8>, ErrorCheck)> = vec![
        ("empty", Vec::new(), |e| {
            matches!(e, CertError::KeyFile { .. })
        }),
        ("noise", noise(4096), |e| {
            matches!(e, CertError::KeyFile { .. })
        }),
        ("cert-only", good_cert.clone(), |e| {
            matches!(e, CertError::KeyFile { .. })
        }),
        ("corrupted-base64", corrupted_key.into_bytes(), |e| {
            matches!(e, CertError::KeyFile { .. })
        }),
        (
            "no-end",
            good_key
                .lines()
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
            |e| matches!(e, CertError::KeyFile { .. }),
        ),
        (
            "not-a-key",
            b"-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n".to_vec(),
            |e| matches!(e, CertError::UnsupportedKey { .. }),
        ),
    ];
    let cert_path = data("ec-sec1.crt");
    for (name, contents, expected) in &bad_keys {
        let path = write(dir.path(), &format!("{name}.key"), contents);
        let err = load_pem(&cert_path, &path).expect_err(name);
        assert!(expected(&err), "{name}: {err:?}");
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(&format!("{name}.key")), "{shown}");
        for line in &key_body {
            assert!(!shown.contains(line), "{name}: key material in {shown}");
        }
    }

    let missing = dir.path().join("missing.pem");
    let err = load_pem(&missing, &key_path).expect_err("missing cert");
    assert!(matches!(err, CertError::Read { .. }) && err.to_string().contains("missing.pem"));
    let err = load_pem(&cert_path, &missing).expect_err("missing key");
    assert!(matches!(err, CertError::Read { .. }) && err.to_string().contains("missing.pem"));
    let err = load_pem(dir.path(), &key_path).expect_err("directory");
    assert!(matches!(err, CertError::NotAFile { .. }), "{err:?}");
}

#[test]
fn debug_of_material_does_not_show_the_key() {
    let material = load_pem(&data("ec-sec1.crt"), &data("ec-sec1.key")).expect("load");
    let debug = format!("{material:?}");
    assert!(
        debug.contains("<redacted>") && debug.contains(EC_SEC1_PIN),
        "{debug}"
    );
    let key_bytes = format!("{:?}", material.key.secret_der());
    assert!(
        !debug.contains(&key_bytes[1..key_bytes.len() - 1]),
        "{debug}"
    );
    assert!(debug.len() < 300, "{debug}");
}

#[cfg(feature = "generate")]
mod generated {
    use super::*;
    use crate::generate_self_signed;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, PublicKeyData as _,
    };

    #[test]
    fn generate_then_load_gives_the_same_pin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let generated = generate_self_signed(&["relay.test".to_owned()]).expect("generate");
        let cert = write(dir.path(), "cert.pem", &generated.cert_pem);
        let key = write(dir.path(), "key.pem", generated.key_pem.as_bytes());
        let material = load_pem(&cert, &key).expect("load");
        assert_eq!(material.pin, generated.pin);
        assert_eq!(material.cert_chain.len(), 1);
        assert!(matches!(material.key, PrivateKeyDer::Pkcs8(_)));

        // Certificate and key in one file, in either order.
        let both = format!("{}{}", generated.key_pem.as_str(), generated.cert_pem);
        let combined = write(dir.path(), "combined.pem", both);
        let material = load_pem(&combined, &combined).expect("combined file");
        assert_eq!(material.pin, generated.pin);
    }

    #[test]
    fn ca_signed_chain_pins_the_end_entity_and_needs_it_first() {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca =
            CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
        let leaf_key = KeyPair::generate().expect("key");
        let leaf = CertificateParams::new(vec!["relay.test".to_owned()])
            .expect("params")
            .signed_by(&leaf_key, &ca)
            .expect("leaf");

        let dir = tempfile::tempdir().expect("tempdir");
        let chain = write(
            dir.path(),
            "chain.pem",
            format!("{}{}", leaf.pem(), ca.pem()),
        );
        let key = write(dir.path(), "key.pem", leaf_key.serialize_pem());
        let material = load_pem(&chain, &key).expect("chain");
        assert_eq!(material.cert_chain.len(), 2);
        assert_eq!(
            material.pin,
            SpkiPin::from_spki_der(&leaf_key.subject_public_key_info())
        );
        assert_ne!(material.pin, SpkiPin::from_cert_der(ca.der()).expect("pin"));

        let reversed = write(
            dir.path(),
            "reversed.pem",
            format!("{}{}", ca.pem(), leaf.pem()),
        );
        let err = load_pem(&reversed, &key).expect_err("CA first");
        assert!(matches!(err, CertError::KeyMismatch { .. }), "{err:?}");
        assert!(err.to_string().contains("must come first"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn load_pem_leaves_permissions_to_the_operator() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let generated = generate_self_signed(&[]).expect("generate");
        let cert = write(dir.path(), "cert.pem", &generated.cert_pem);
        let key = write(dir.path(), "key.pem", generated.key_pem.as_bytes());
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        load_pem(&cert, &key).expect("explicit files are not mode-checked");
    }
}
