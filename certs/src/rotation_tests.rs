//! Tests of rotation: prepare next, announce, promote, finish an interrupted rotation.

use std::os::unix::fs::PermissionsExt as _;

use super::*;
use crate::{load_or_generate, load_pem};

fn names() -> Vec<String> {
    vec!["relay.test".to_owned(), "192.0.2.7".to_owned()]
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn prepare_announce_rotate() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("tls");
    let (first, _) = load_or_generate(&dir, &names()).expect("generate");
    assert_eq!(
        read_pins(&dir).expect("pins"),
        Pins {
            current: Some(first.pin),
            next: None
        }
    );
    assert_eq!(load_next_pin(&dir).expect("none"), None);
    assert!(matches!(
        rotate(&dir),
        Err(CertError::NoNextCertificate { .. })
    ));

    let next = generate_next(&dir, &names(), false).expect("next");
    assert_ne!(next, first.pin);
    assert_eq!(mode(&dir.join(NEXT_KEY_FILE_NAME)), 0o600);
    assert_eq!(load_next_pin(&dir).expect("next"), Some(next));
    assert_eq!(read_pins(&dir).expect("pins").next, Some(next));
    // Preparing again without `replace` changes nothing.
    assert!(matches!(
        generate_next(&dir, &names(), false),
        Err(CertError::AlreadyExists { .. })
    ));
    assert_eq!(load_next_pin(&dir).expect("next"), Some(next));

    let rotation = rotate(&dir).expect("rotate");
    assert_eq!(
        rotation,
        Rotation {
            previous: Some(first.pin),
            current: next
        }
    );
    let now = load_or_generate(&dir, &names()).expect("load").0;
    assert_eq!(now.pin, next);
    assert_eq!(mode(&dir.join(KEY_FILE_NAME)), 0o600);
    assert_eq!(mode(&dir.join(PREVIOUS_KEY_FILE_NAME)), 0o600);
    let previous = load_pem(
        &dir.join(PREVIOUS_CERT_FILE_NAME),
        &dir.join(PREVIOUS_KEY_FILE_NAME),
    )
    .expect("previous pair kept");
    assert_eq!(previous.pin, first.pin);
    assert_eq!(
        read_pins(&dir).expect("pins"),
        Pins {
            current: Some(next),
            next: None
        }
    );

    // A second rotation replaces the previous pair.
    let third = generate_next(&dir, &names(), false).expect("next again");
    rotate(&dir).expect("rotate again");
    assert_eq!(read_pins(&dir).expect("pins").current, Some(third));
    assert_eq!(
        pin_of_cert_file(&dir.join(PREVIOUS_CERT_FILE_NAME)).expect("pin"),
        next
    );
}

#[test]
fn replace_discards_an_announced_next_pair() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("tls");
    load_or_generate(&dir, &names()).expect("generate");
    let a = generate_next(&dir, &names(), false).expect("next");
    let b = generate_next(&dir, &names(), true).expect("replaced");
    assert_ne!(a, b);
    assert_eq!(load_next_pin(&dir).expect("next"), Some(b));
}

#[test]
fn an_interrupted_rotation_is_finished() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("tls");
    load_or_generate(&dir, &names()).expect("generate");
    let next = generate_next(&dir, &names(), false).expect("next");
    // As if the process died right after the first rename.
    fs::rename(dir.join(NEXT_KEY_FILE_NAME), dir.join(KEY_FILE_NAME)).expect("rename");
    assert!(load_pem(&dir.join(CERT_FILE_NAME), &dir.join(KEY_FILE_NAME)).is_err());
    let rotation = rotate(&dir).expect("finish");
    assert_eq!(rotation.current, next);
    assert_eq!(rotation.previous, None);
    assert_eq!(
        load_or_generate(&dir, &names()).expect("consistent").0.pin,
        next
    );
}

#[test]
fn half_prepared_or_broken_next_pairs_are_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("tls");
    load_or_generate(&dir, &names()).expect("generate");
    generate_next(&dir, &names(), false).expect("next");
    fs::remove_file(dir.join(NEXT_KEY_FILE_NAME)).expect("rm");
    assert!(matches!(
        load_next_pin(&dir),
        Err(CertError::IncompleteCertDir { .. })
    ));
    // key.pem is not the next key: rotate refuses and touches nothing.
    let before = fs::read(dir.join(CERT_FILE_NAME)).expect("cert");
    assert!(rotate(&dir).is_err());
    assert_eq!(fs::read(dir.join(CERT_FILE_NAME)).expect("cert"), before);

    // A next key readable by others is not announced.
    fs::remove_file(dir.join(NEXT_CERT_FILE_NAME)).expect("rm");
    generate_next(&dir, &names(), false).expect("next");
    fs::set_permissions(
        dir.join(NEXT_KEY_FILE_NAME),
        fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    assert!(matches!(
        load_next_pin(&dir),
        Err(CertError::KeyPermissions { .. })
    ));
}

#[test]
fn generate_current_refuses_to_overwrite() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("tls");
    let pin = generate_current(&dir, &names()).expect("generate");
    assert_eq!(read_pins(&dir).expect("pins").current, Some(pin));
    assert!(matches!(
        generate_current(&dir, &names()),
        Err(CertError::AlreadyExists { .. })
    ));
    assert_eq!(read_pins(&dir).expect("pins").current, Some(pin));
}
