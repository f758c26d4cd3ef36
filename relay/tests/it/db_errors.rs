//! Database errors at start-up name the file and the next step (not SQLite's bare "file is not
//! a database"). The read-only case cannot be provoked as root (the test runner): its message is
//! tested at unit level (`store::db_errors`).

use std::process::Command;

fn start(data: &std::path::Path) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer-relay"));
    for (key, _) in std::env::vars() {
        if ["COFFER_", "PLURALLOG_", "POLYLOG_"]
            .iter()
            .any(|p| key.starts_with(p))
        {
            cmd.env_remove(key);
        }
    }
    cmd.arg("--data-dir")
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap()
}

#[test]
fn a_file_that_is_not_a_database_is_named_with_the_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("coffer.db");
    std::fs::write(&db, vec![b'#'; 8192]).unwrap();
    let out = start(&data);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{} is not a Coffer database", db.display())),
        "{err}"
    );
    assert!(err.contains("coffer-admin restore"), "{err}");
}

#[test]
fn a_database_path_in_a_missing_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("absent").join("coffer.db");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer-relay"));
    let out = cmd
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0"])
        .env("COFFER_DATABASE", &db)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot open {}", db.display())),
        "{err}"
    );
    assert!(err.contains("uid "), "{err}");
}

/// Removes the immutable attribute again, so the temporary directory can be deleted.
struct Immutable(std::path::PathBuf);

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

/// A database the relay may not write: as root, permissions do not stop writes, but an
/// immutable file (`chattr +i`) does. That needs CAP_LINUX_IMMUTABLE and a filesystem with
/// attributes, so the test is ignored by a plain `cargo test` and run by `.ci/run`'s root step
/// (`cargo test -p coffer-relay --test it -- --ignored db_errors::`), where it fails if `chattr`
/// is refused rather than passing without having run. The message itself is also tested at unit
/// level (`store::db_errors`), on any machine.
#[test]
#[ignore = "needs chattr +i (root): cargo test -p coffer-relay --test it -- --ignored db_errors::"]
fn a_read_only_database_is_named_with_the_uid_and_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("coffer.db");
    // An empty file: SQLite's empty database, not a foreign one (it has no tables), which the
    // relay must then write its schema into.
    std::fs::write(&db, b"").unwrap();
    let made = Command::new("chattr").arg("+i").arg(&db).status();
    assert!(
        made.as_ref().is_ok_and(|s| s.success()),
        "chattr +i was refused ({made:?}): run this test as root on a filesystem with attributes"
    );
    let _guard = Immutable(db.clone());
    let out = start(&data);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{} is read-only for uid ", db.display())),
        "{err}"
    );
    assert!(err.contains("owner/permissions"), "{err}");
}
