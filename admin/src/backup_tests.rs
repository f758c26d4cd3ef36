//! Tests of `backup`: round trip, damaged backups, vanished blobs.
use super::*;
use crate::error::Exit;
use coffer_relay::store::Db;
use coffer_relay::store::blobs::BlobStore;

fn silent() -> Progress<Vec<u8>> {
    Progress::new(None, "")
}

fn paths(root: &Path) -> DataPaths {
    DataPaths::from_config(&Config {
        data_dir: root.to_owned(),
        ..Config::default()
    })
}

/// A relay data directory with one user and two v1 volumes (rows + blobs), plus an orphan.
fn relay_data(root: &Path) -> DataPaths {
    let p = paths(root);
    fs::create_dir_all(&p.data_dir).expect("dir");
    let db = Db::open(&p.database).expect("db");
    let blobs = BlobStore::open(&p.blob_dir).expect("blobs");
    let uid = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
    let a = blobs.write(uid, "members", 1, &[7u8; 4124]).expect("blob");
    let b = blobs.write(uid, "vault", 3, &[9u8; 8220]).expect("blob");
    blobs.write(uid, "meta", 1, b"orphan").expect("orphan");
    db.write_blocking(|tx| {
        tx.execute(
            "INSERT INTO users (id, public_signing_key, public_exchange_key, handle, \
             client_type, protocol_version, feature_set, storage_used_bytes, created_at) \
             VALUES (?1, zeroblob(32), zeroblob(32), 'alice', 'system', 1, '[]', 12344, 0)",
            [uid],
        )?;
        for (name, file, size) in [("members", &a, 4124), ("vault", &b, 8220)] {
            tx.execute(
                "INSERT INTO volumes VALUES (?1, ?2, 1, '{}', ?3, zeroblob(64), ?4, 0)",
                rusqlite::params![uid, name, file, size],
            )?;
        }
        Ok(())
    })
    .expect("rows");
    fs::create_dir_all(&p.tls_dir).expect("tls");
    coffer_certs::load_or_generate(&p.tls_dir, &["localhost".to_owned()]).expect("cert");
    p
}

#[test]
fn round_trip_keeps_everything_and_only_referenced_blobs() {
    let root = tempfile::tempdir().expect("tmp");
    let src = relay_data(&root.path().join("data"));
    let out = root.path().join("backup");
    let report = backup(&src, &out, true, &mut silent()).expect("backup");
    assert_eq!((report.users, report.volumes, report.blobs), (1, 2, 2));
    assert_eq!(report.blob_bytes, 4124 + 8220);
    assert_eq!(report.tls_files, 2);
    assert!(!out.join("coffer.db-wal").exists());
    let manifest = read_manifest(&out).expect("manifest");
    assert!(
        manifest.blobs.iter().all(|b| !b.path.contains("/meta.")),
        "the orphan is not backed up"
    );

    let dst = paths(&root.path().join("restored"));
    let restored = restore(&out, &dst, &mut silent()).expect("restore");
    assert_eq!(
        (restored.users, restored.volumes, restored.blobs),
        (1, 2, 2)
    );
    for entry in &manifest.blobs {
        let rel = &entry.path[BLOBS.len() + 1..];
        assert_eq!(
            fs::read(dst.blob_dir.join(rel)).expect("blob"),
            fs::read(src.blob_dir.join(rel)).expect("blob")
        );
    }
    assert_eq!(
        fs::read(dst.tls_dir.join("key.pem")).expect("key"),
        fs::read(src.tls_dir.join("key.pem")).expect("key")
    );
    // The relay opens (and would migrate) the restored database.
    Db::open(&dst.database).expect("restored database opens");
    // Restoring again into the now non-empty directory is refused.
    let again = restore(&out, &dst, &mut silent()).expect_err("not empty");
    assert!(matches!(again, BackupError::NotEmpty { .. }), "{again}");
    assert_eq!(again.exit(), Exit::Usage);
}

#[test]
fn damaged_backups_are_refused_before_anything_is_written() {
    let root = tempfile::tempdir().expect("tmp");
    let src = relay_data(&root.path().join("data"));
    let out = root.path().join("backup");
    backup(&src, &out, false, &mut silent()).expect("backup");
    let manifest = read_manifest(&out).expect("manifest");
    assert!(manifest.tls.is_empty(), "--without-tls");
    let blob = out.join(&manifest.blobs[0].path);
    let mut bytes = fs::read(&blob).expect("blob");
    bytes[0] ^= 1;
    fs::write(&blob, bytes).expect("tamper");
    let dst = paths(&root.path().join("restored"));
    let err = restore(&out, &dst, &mut silent()).expect_err("tampered");
    assert!(matches!(err, BackupError::Verify { .. }), "{err}");
    assert_eq!(err.exit(), Exit::Local);
    assert!(!dst.data_dir.exists(), "nothing written");

    // Not a backup at all.
    let err = restore(root.path(), &dst, &mut silent()).expect_err("no manifest");
    assert!(matches!(err, BackupError::Manifest { .. }), "{err}");
}

#[test]
fn a_missing_referenced_blob_fails_after_retries() {
    let root = tempfile::tempdir().expect("tmp");
    let src = relay_data(&root.path().join("data"));
    let manifest_dir = root.path().join("first");
    backup(&src, &manifest_dir, false, &mut silent()).expect("backup");
    let name = &read_manifest(&manifest_dir).expect("m").blobs[0].path[BLOBS.len() + 1..];
    fs::remove_file(src.blob_dir.join(name)).expect("rm");
    let err = backup(&src, &root.path().join("second"), false, &mut silent())
        .expect_err("blob gone for good");
    assert!(
        matches!(
            err,
            BackupError::Unstable {
                attempts: MAX_ATTEMPTS
            }
        ),
        "{err}"
    );
    let err = backup(&src, &manifest_dir, false, &mut silent()).expect_err("exists");
    assert!(matches!(err, BackupError::NotEmpty { .. }));
}

/// Every file `backup` writes is 0600 and every directory 0700 (the docs promise it; the
/// database snapshot used to get the umask's 0644).
#[test]
fn every_file_of_a_backup_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    fn walk(dir: &Path, seen: &mut Vec<(PathBuf, u32, bool)>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("meta");
            seen.push((
                path.clone(),
                meta.permissions().mode() & 0o777,
                meta.is_dir(),
            ));
            if meta.is_dir() {
                walk(&path, seen);
            }
        }
    }
    let root = tempfile::tempdir().expect("tmp");
    let src = relay_data(&root.path().join("data"));
    // An existing, empty target directory with an ordinary mode.
    let out = root.path().join("backup");
    fs::create_dir(&out).expect("mkdir");
    fs::set_permissions(&out, fs::Permissions::from_mode(0o755)).expect("chmod");
    backup(&src, &out, true, &mut silent()).expect("backup");
    let mut seen = vec![(
        out.clone(),
        fs::metadata(&out).expect("meta").permissions().mode() & 0o777,
        true,
    )];
    walk(&out, &mut seen);
    assert!(seen.iter().any(|(p, ..)| p.ends_with(DATABASE)));
    assert!(seen.iter().any(|(p, ..)| p.ends_with(MANIFEST)));
    assert!(
        seen.iter().filter(|(_, _, dir)| !dir).count() >= 5,
        "{seen:?}"
    );
    for (path, mode, dir) in &seen {
        let want = if *dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} has mode {mode:o}", path.display());
    }
}

/// A volume stored inline in the database (docs/adr/0027) is in the backup's database, checked
/// by the backup and its verification, restored, and readable by the relay; a backup whose
/// inline payload is missing is refused.
#[test]
fn inline_payloads_are_backed_up_with_the_database() {
    use coffer_relay::store::{check, inline};
    let root = tempfile::tempdir().expect("tmp");
    let src = relay_data(&root.path().join("data"));
    let uid = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
    let name = inline::new_name(uid, "journal", 2);
    let db = Db::open(&src.database).expect("db");
    db.write_blocking(|tx| {
        tx.execute(
            "INSERT INTO volumes VALUES (?1, 'journal', 2, '{}', ?2, zeroblob(64), 100, 0)",
            rusqlite::params![uid, name],
        )?;
        tx.execute(
            "UPDATE users SET storage_used_bytes = storage_used_bytes + 100",
            [],
        )?;
        inline::insert(tx, &name, &[5u8; 100])
    })
    .expect("inline row");
    drop(db);
    let out = root.path().join("backup");
    let report = backup(&src, &out, false, &mut silent()).expect("backup");
    // Three volumes, two of them files.
    assert_eq!((report.users, report.volumes, report.blobs), (1, 3, 2));
    let dst = paths(&root.path().join("restored"));
    let restored = restore(&out, &dst, &mut silent()).expect("restore");
    assert_eq!(restored.volumes, 3);
    let consistency = check::check(&dst.database, &dst.blob_dir).expect("check");
    assert!(consistency.is_consistent(), "{consistency:?}");
    assert_eq!(consistency.inline_rows, 1);
    let db = Db::open(&dst.database).expect("restored database opens");
    let bytes = db
        .read_blocking(|c| inline::read(c, &name, 1000))
        .expect("read")
        .expect("present");
    assert_eq!(bytes, vec![5u8; 100]);

    // A source whose inline payload is gone (forced past the schema's triggers) is refused.
    db.write_blocking(|tx| {
        tx.execute("DELETE FROM inline_payloads", [])?;
        Ok(())
    })
    .expect("delete");
    drop(db);
    let err = backup(&dst, &root.path().join("second"), false, &mut silent())
        .expect_err("inline payload missing");
    assert!(matches!(err, BackupError::Verify { .. }), "{err}");
    assert!(err.to_string().contains("inline payload"), "{err}");
}
