//! Backup and restore round trip with the real binaries: a relay with users, volumes and a
//! sharing relationship is backed up *while it runs* (and while uploads continue), restored
//! into an empty directory, and a relay started on the restored data serves every volume
//! byte-for-byte as before, under the same certificate pin, to the same accounts.

use std::ffi::OsStr;

use crate::support::{Relay, User, admin, keys, payload};
use serde_json::Value;

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn backup_of_a_running_relay_restores_identically() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    // One-block payloads (4124 bytes) inline in the database, larger ones files
    // (docs/adr/0027): the backup carries both.
    let mut relay = Relay::start(&data, &[("COFFER_INLINE_MAX", "8192")]);
    let api = relay.api();
    let mut sys = User::register(&api, 11, "system", Some("lighthouse"));
    sys.login(&api);
    let mut friend = User::register(&api, 12, "friend", Some("reader"));
    friend.login(&api);
    sys.upload(&api, "members", 1, &payload(1, 1));
    sys.upload(&api, "members", 2, &payload(2, 3));
    sys.upload(&api, "journal", 5, &payload(3, 2));
    let code = sys.invite(&api);
    let request = friend.redeem(&api, &code);
    sys.accept(&api, &request);

    // Served before the backup: what must come back identically.
    let members_before = sys.download(&api, "members").1;
    let journal_before = sys.download(&api, "journal").1;
    let shared_before = friend.shared(&api, &sys.id, "members");
    assert_eq!(shared_before.0, 200, "{}", shared_before.1);

    // Backup while the relay runs; an upload right before and after must not break it.
    let out = work.path().join("backup");
    sys.upload(&api, "vault", 1, &payload(4, 1));
    let run = admin(
        &[],
        [
            OsStr::new("--json"),
            OsStr::new("backup"),
            OsStr::new("--data-dir"),
            data.as_os_str(),
            OsStr::new("--out"),
            out.as_os_str(),
        ],
    );
    run.assert_code(0);
    assert!(
        run.stderr.is_empty(),
        "no progress bar without a terminal: {run:?}"
    );
    let report = run.json();
    assert_eq!(
        keys(&report),
        strs(&[
            "backup",
            "blob_bytes",
            "blobs",
            "database_bytes",
            "ip_hash_key",
            "schema_version",
            "snapshots",
            "status",
            "tls_files",
            "users",
            "volumes",
        ])
    );
    assert_eq!(report["users"], 2);
    assert_eq!(report["volumes"], 3);
    assert_eq!(
        report["blobs"], 2,
        "only the blob files the snapshot references (the vault's payload is inline)"
    );
    assert_eq!(report["tls_files"], 2);
    sys.upload(&api, "vault", 2, &payload(5, 1));
    let vault_after_backup = sys.download(&api, "vault").1;

    // A second backup into the same directory is refused (exit 2), the first is intact.
    let again = admin(
        &[],
        [
            OsStr::new("backup"),
            OsStr::new("--data-dir"),
            data.as_os_str(),
            OsStr::new("--out"),
            out.as_os_str(),
        ],
    );
    again.assert_code(2);

    let pin_before = relay.pin.clone();
    relay.stop();

    // Restore into a new, empty directory; refuse a non-empty one.
    let restored = work.path().join("restored");
    let run = admin(
        &[],
        [
            OsStr::new("--json"),
            OsStr::new("restore"),
            out.as_os_str(),
            OsStr::new("--data-dir"),
            restored.as_os_str(),
        ],
    );
    run.assert_code(0);
    let report = run.json();
    assert_eq!(
        keys(&report),
        strs(&[
            "blob_bytes",
            "blob_dir",
            "blobs",
            "data_dir",
            "database",
            "ip_hash_key",
            "schema_version",
            "status",
            "tls_files",
            "users",
            "volumes",
        ])
    );
    assert_eq!(
        (report["users"].clone(), report["blobs"].clone()),
        (2.into(), 2.into())
    );
    let human = admin(
        &[],
        [
            OsStr::new("restore"),
            out.as_os_str(),
            OsStr::new("--data-dir"),
            restored.as_os_str(),
        ],
    );
    human.assert_code(2);
    assert!(human.stderr.contains("not empty"), "{human:?}");

    // A relay on the restored data: same pin, same accounts, same bytes.
    let relay = Relay::start(&restored, &[]);
    assert_eq!(
        relay.pin, pin_before,
        "the certificate came back with its key"
    );
    let api = relay.api();
    let mut sys = sys.again();
    sys.login(&api);
    let mut friend = friend.again();
    friend.login(&api);
    assert_eq!(sys.download(&api, "members").1, members_before);
    assert_eq!(sys.download(&api, "journal").1, journal_before);
    assert_eq!(friend.shared(&api, &sys.id, "members"), shared_before);
    // The vault as of the backup (version 1), not the upload that came after it.
    let vault = sys.download(&api, "vault").1;
    assert_eq!(vault["control_header"]["version"], 1);
    assert_ne!(vault, vault_after_backup);
    // Admin view matches too.
    let stats = relay.json(&["stats"]);
    assert_eq!(stats["system_users"], 1);
    assert_eq!(stats["active_shares"], 1);
    assert_eq!(stats["total_volumes"], 3);
    let volumes = relay.json(&["volumes"]);
    let names: Vec<&str> = volumes["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["volume_name"].as_str())
        .collect();
    assert_eq!(names.len(), 3, "{volumes}");
    assert!(names.contains(&"vault"));
    let _: Value = relay.json(&["maintenance"]);
}

#[test]
fn a_tampered_backup_is_refused_with_exit_6() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    // Every payload a blob file: this is about files (inline ones: docs/adr/0027).
    let mut relay = Relay::start(&data, &[("COFFER_INLINE_MAX", "0")]);
    let api = relay.api();
    let mut sys = User::register(&api, 21, "system", None);
    sys.login(&api);
    sys.upload(&api, "members", 1, &payload(9, 1));
    relay.stop();
    let out = work.path().join("backup");
    admin(
        &[],
        [
            OsStr::new("backup"),
            OsStr::new("--data-dir"),
            data.as_os_str(),
            OsStr::new("--out"),
            out.as_os_str(),
            OsStr::new("--without-tls"),
        ],
    )
    .assert_code(0);
    assert!(!out.join("tls").exists());
    let blob_dir = std::fs::read_dir(out.join("blobs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let blob = std::fs::read_dir(&blob_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let restored = work.path().join("restored");
    let run = admin(
        &[],
        [
            OsStr::new("restore"),
            out.as_os_str(),
            OsStr::new("--data-dir"),
            restored.as_os_str(),
        ],
    );
    run.assert_code(6);
    assert!(run.stderr.contains("verification failed"), "{run:?}");
    assert!(!restored.exists(), "nothing restored");
    // No data directory given: a usage error before anything happens.
    admin(&[], [OsStr::new("restore"), out.as_os_str()]).assert_code(2);
}

/// `check-data`: consistent after real uploads and a graceful stop (exit 0); a blob file torn
/// behind the relay's back and a missing one are found and named (exit 6, `--json` counts).
#[test]
fn check_data_finds_torn_and_missing_blobs() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    // Every payload a blob file: this is about files (inline ones: docs/adr/0027).
    let mut relay = Relay::start(&data, &[("COFFER_INLINE_MAX", "0")]);
    let api = relay.api();
    let mut sys = User::register(&api, 21, "system", None);
    sys.login(&api);
    sys.upload(&api, "members", 1, &payload(1, 1));
    sys.upload(&api, "members", 2, &payload(2, 2));
    sys.upload(&api, "journal", 1, &payload(3, 1));
    relay.stop();
    let check = |json: bool| {
        let mut args = vec![
            OsStr::new("check-data"),
            OsStr::new("--data-dir"),
            data.as_os_str(),
        ];
        if json {
            args.insert(0, OsStr::new("--json"));
        }
        admin(&[], args)
    };

    let run = check(false);
    run.assert_code(0);
    assert!(run.stdout.contains("consistent"), "{run:?}");
    let report = check(true).json();
    assert_eq!(report["volume_rows"], 2);
    assert_eq!(report["integrity"], "ok");
    assert_eq!(
        report["orphan_files"], 0,
        "the replaced version's file was removed"
    );

    // Tear one blob file and remove the other.
    let mut blobs: Vec<_> = walk(&data.join("blobs"));
    blobs.sort();
    assert_eq!(blobs.len(), 2, "{blobs:?}");
    let torn = std::fs::read(&blobs[0]).unwrap();
    std::fs::write(&blobs[0], &torn[..torn.len() / 2]).unwrap();
    std::fs::remove_file(&blobs[1]).unwrap();

    let run = check(false);
    run.assert_code(6);
    assert!(run.stdout.contains("NOT CONSISTENT"), "{run:?}");
    let name = blobs[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        run.stdout.contains(&name),
        "the torn file is named: {run:?}"
    );
    let report = check(true);
    report.assert_code(6);
    let report = report.json();
    assert_eq!(
        (
            report["wrong_sizes"].as_u64(),
            report["missing_blobs"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(report["wrong_quotas"], 0);

    // No database there: a usage error, not a crash.
    let empty = work.path().join("empty");
    admin(
        &[],
        [
            OsStr::new("check-data"),
            OsStr::new("--data-dir"),
            empty.as_os_str(),
        ],
    )
    .assert_code(2);
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
