//! Tests of `load_or_generate`: generate once, reuse, permissions, refusal to overwrite.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::{load_pem, server_config};

fn sans() -> Vec<String> {
    vec!["relay.test".to_owned(), "127.0.0.1".to_owned()]
}

fn entries(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

fn both_names() -> BTreeSet<String> {
    [CERT_FILE_NAME, KEY_FILE_NAME]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

#[test]
fn generates_once_then_reuses() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("data").join("tls");

    let (first, provenance) = load_or_generate(&dir, &sans()).expect("generate");
    assert_eq!(provenance, Provenance::Generated);
    assert_eq!(
        entries(&dir),
        both_names(),
        "no temporary files left behind"
    );
    let cert_bytes = fs::read(dir.join(CERT_FILE_NAME)).expect("cert");
    let key_bytes = fs::read(dir.join(KEY_FILE_NAME)).expect("key");

    let (second, provenance) = load_or_generate(&dir, &sans()).expect("load");
    assert_eq!(provenance, Provenance::Loaded);
    assert_eq!(second.pin, first.pin);
    assert_eq!(second.cert_chain, first.cert_chain);
    assert_eq!(second.key.secret_der(), first.key.secret_der());

    // Different names on a later start do not replace the certificate (the pin must not change).
    let (third, provenance) =
        load_or_generate(&dir, &["other.example".to_owned()]).expect("load again");
    assert_eq!(provenance, Provenance::Loaded);
    assert_eq!(third.pin, first.pin);

    assert_eq!(
        fs::read(dir.join(CERT_FILE_NAME)).expect("cert"),
        cert_bytes
    );
    assert_eq!(fs::read(dir.join(KEY_FILE_NAME)).expect("key"), key_bytes);

    // What was written is what was returned, and it serves.
    let from_files =
        load_pem(&dir.join(CERT_FILE_NAME), &dir.join(KEY_FILE_NAME)).expect("load_pem");
    assert_eq!(from_files.pin, first.pin);
    server_config(&first).expect("server config");
}

#[cfg(unix)]
#[test]
fn key_is_0600_and_new_directory_0700() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().expect("tempdir");
    let parent = root.path().join("new-parent");
    let dir = parent.join("tls");
    load_or_generate(&dir, &sans()).expect("generate");

    let mode = |p: &Path| fs::metadata(p).expect("metadata").permissions().mode() & 0o7777;
    assert_eq!(mode(&dir.join(KEY_FILE_NAME)), 0o600);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&parent), 0o700, "missing parents are private too");
    assert_eq!(mode(&dir.join(CERT_FILE_NAME)) & 0o600, 0o600);
}

#[cfg(unix)]
#[test]
fn refuses_a_key_readable_by_others() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("tls");
    load_or_generate(&dir, &sans()).expect("generate");
    let key = dir.join(KEY_FILE_NAME);
    let before = fs::read(&key).expect("key");

    for mode in [0o644, 0o640, 0o604] {
        fs::set_permissions(&key, fs::Permissions::from_mode(mode)).expect("chmod");
        let err = load_or_generate(&dir, &sans()).expect_err("too open");
        assert!(
            matches!(&err, CertError::KeyPermissions { path, mode: m } if *path == key && *m == mode),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("chmod 600") && msg.contains("key.pem"),
            "{msg}"
        );
        assert_eq!(fs::read(&key).expect("key"), before, "nothing rewritten");
    }

    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
    let (_, provenance) = load_or_generate(&dir, &sans()).expect("fixed");
    assert_eq!(provenance, Provenance::Loaded);
}

#[test]
fn refuses_when_only_one_file_exists_and_touches_nothing() {
    for (remove, keep) in [
        (CERT_FILE_NAME, KEY_FILE_NAME),
        (KEY_FILE_NAME, CERT_FILE_NAME),
    ] {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("tls");
        load_or_generate(&dir, &sans()).expect("generate");
        fs::remove_file(dir.join(remove)).expect("remove");
        let kept = fs::read(dir.join(keep)).expect("read");

        let err = load_or_generate(&dir, &sans()).expect_err("incomplete");
        assert!(
            matches!(&err, CertError::IncompleteCertDir { present, missing }
                if *present == dir.join(keep) && *missing == dir.join(remove)),
            "{err:?}"
        );
        assert!(err.to_string().contains("nothing was changed"), "{err}");
        assert_eq!(fs::read(dir.join(keep)).expect("read"), kept);
        assert!(!dir.join(remove).exists(), "{remove} must not be recreated");
        assert_eq!(entries(&dir), [keep.to_owned()].into_iter().collect());
    }
}

#[cfg(unix)]
#[test]
fn a_dangling_symlink_counts_as_present() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("tls");
    fs::create_dir(&dir).expect("mkdir");
    let target = root.path().join("elsewhere.pem");
    std::os::unix::fs::symlink(&target, dir.join(KEY_FILE_NAME)).expect("symlink");
    let err = load_or_generate(&dir, &sans()).expect_err("symlink is present");
    assert!(
        matches!(err, CertError::IncompleteCertDir { .. }),
        "{err:?}"
    );
    assert!(!target.exists(), "nothing written through the symlink");
}

#[test]
fn invalid_names_create_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("tls");
    let err = load_or_generate(&dir, &["not a name".to_owned()]).expect_err("bad SAN");
    assert!(
        matches!(err, CertError::InvalidSubjectAltName { .. }),
        "{err:?}"
    );
    assert!(!dir.exists());
}

#[test]
fn publish_never_replaces_an_existing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("key.pem");
    fs::write(&target, b"precious").expect("write");

    let temp = TempFile::create(dir.path(), KEY_FILE_NAME, 0o600, b"new").expect("temp");
    let err = temp.publish(&target).expect_err("exists");
    assert!(
        matches!(&err, CertError::Write { source, .. } if source.kind() == io::ErrorKind::AlreadyExists),
        "{err:?}"
    );
    assert_eq!(fs::read(&target).expect("read"), b"precious");
    assert_eq!(
        entries(dir.path()),
        ["key.pem".to_owned()].into_iter().collect(),
        "temporary file removed"
    );
}

#[test]
fn racing_generators_never_leave_a_mismatched_pair() {
    for _ in 0..4 {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("tls");
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| load_or_generate(&dir, &sans())))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect()
        });
        let on_disk =
            load_pem(&dir.join(CERT_FILE_NAME), &dir.join(KEY_FILE_NAME)).expect("a matching pair");
        let mut generated = 0;
        // Losers of the race fail cleanly; every winner holds the pair on disk.
        for (material, provenance) in results.into_iter().flatten() {
            assert_eq!(material.pin, on_disk.pin);
            if provenance == Provenance::Generated {
                generated += 1;
            }
        }
        assert!(generated <= 1, "two generators both claimed success");
        assert_eq!(entries(&dir), both_names());
    }
}
