//! `coffer-admin migrate-store` with the real binaries: a relay's data carried to another
//! store, and a relay started on the copy serves the same bytes to the same *sessions* (the
//! tokens issued before the migration still work). Between two data directories here; through
//! PostgreSQL and Garage (S3) and back in `pg_migrate` (ignored unless the shared servers run:
//! `.ci/run` starts them and runs it).

use std::ffi::OsStr;
use std::path::Path;

use crate::support::{Relay, User, admin, payload};
use serde_json::Value;

/// What a relay with a System, a friend, inline and file payloads and a share looks like to
/// its clients; the relay is stopped when this returns.
struct Seeded {
    sys: User,
    friend: User,
    members: Value,
    journal: Value,
    shared: (u16, Value),
}

fn seed(data: &Path, env: &[(&str, &str)]) -> Seeded {
    // One-block payloads inline in the database, larger ones blobs.
    let mut all = vec![("COFFER_INLINE_MAX", "8192")];
    all.extend_from_slice(env);
    let mut relay = Relay::start(data, &all);
    let api = relay.api();
    let mut sys = User::register(&api, 31, "system", Some("harbour"));
    sys.login(&api);
    let mut friend = User::register(&api, 32, "friend", Some("visitor"));
    friend.login(&api);
    sys.upload(&api, "members", 1, &payload(1, 1));
    sys.upload(&api, "members", 2, &payload(2, 3));
    sys.upload(&api, "journal", 4, &payload(3, 2));
    sys.upload(&api, "vault", 1, &payload(4, 1));
    let code = sys.invite(&api);
    let request = friend.redeem(&api, &code);
    sys.accept(&api, &request);
    let seeded = Seeded {
        members: sys.download(&api, "members").1,
        journal: sys.download(&api, "journal").1,
        shared: friend.shared(&api, &sys.id, "members"),
        sys,
        friend,
    };
    assert_eq!(seeded.shared.0, 200, "{:?}", seeded.shared);
    relay.stop();
    seeded
}

/// A relay on the migrated store answers as before, to the sessions of before.
fn serves_as_before(data: &Path, env: &[(&str, &str)], seeded: &Seeded) {
    let mut relay = Relay::start(data, env);
    let api = relay.api();
    assert_eq!(
        seeded.sys.download(&api, "members").1,
        seeded.members,
        "same bytes, same session token"
    );
    assert_eq!(seeded.sys.download(&api, "journal").1, seeded.journal);
    assert_eq!(
        seeded.friend.shared(&api, &seeded.sys.id, "members"),
        seeded.shared
    );
    assert_eq!(seeded.sys.download(&api, "vault").0, 200);
    let stats = relay.json(&["stats"]);
    assert_eq!(stats["active_shares"], 1, "{stats}");
    assert_eq!(stats["total_volumes"], 3, "{stats}");
    relay.stop();
}

fn migrate(from: &[&OsStr], to: &[&OsStr]) -> crate::support::Run {
    let mut args = vec![OsStr::new("--json"), OsStr::new("migrate-store")];
    args.extend_from_slice(from);
    args.extend_from_slice(to);
    admin(&[], args)
}

fn rows(report: &Value, table: &str) -> u64 {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .and_then(|t| t["rows"].as_u64())
        .unwrap_or_else(|| panic!("no {table} in {report}"))
}

#[test]
fn migrate_store_between_data_directories_is_verified_resumable_and_refuses_what_it_should() {
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("a");
    let seeded = seed(&a, &[]);
    let from = [OsStr::new("--from-data-dir"), a.as_os_str()];

    // A fresh directory: everything is carried and checked on both sides.
    let b = work.path().join("b");
    let run = migrate(&from, &[OsStr::new("--to-data-dir"), b.as_os_str()]);
    run.assert_code(0);
    assert!(
        run.stderr.is_empty(),
        "no progress bar off a terminal: {run:?}"
    );
    let report = run.json();
    assert_eq!(report["status"], "migrated", "{report}");
    assert_eq!(rows(&report, "users"), 2);
    assert_eq!(rows(&report, "volumes"), 3);
    assert_eq!(rows(&report, "sharing"), 1);
    assert_eq!(rows(&report, "inline_payloads"), 1, "the vault's payload");
    assert!(rows(&report, "auth_sessions") >= 2, "{report}");
    assert_eq!(
        (
            report["blobs_copied"].as_u64(),
            report["blobs_already_there"].as_u64()
        ),
        (Some(2), Some(0)),
        "{report}"
    );
    assert_eq!(
        report["blob_bytes_copied"].as_u64(),
        Some((payload(2, 3).len() + payload(3, 2).len()) as u64),
        "{report}"
    );
    for side in ["source_check", "destination_check"] {
        assert_eq!(report[side]["integrity"], "ok", "{report}");
        assert_eq!(report[side]["missing_blobs"], 0, "{report}");
        assert_eq!(report[side]["wrong_quotas"], 0, "{report}");
        assert_eq!(report[side]["volume_rows"], 3, "{report}");
    }
    serves_as_before(&b, &[], &seeded);

    // The same run again: the destination holds exactly the source's rows.
    let again = migrate(&from, &[OsStr::new("--to-data-dir"), b.as_os_str()]);
    again.assert_code(0);
    assert_eq!(again.json()["status"], "already migrated", "{again:?}");

    // An interrupted run left blobs and no rows: the next one keeps the complete blobs and
    // replaces a torn one.
    let c = work.path().join("c");
    let files: Vec<String> = report_blob_names(&a);
    assert_eq!(files.len(), 2, "{files:?}");
    for (i, name) in files.iter().enumerate() {
        let target = c.join("blobs").join(name);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let bytes = std::fs::read(a.join("blobs").join(name)).unwrap();
        let kept = if i == 0 { &bytes[..] } else { &bytes[..100] };
        std::fs::write(&target, kept).unwrap();
    }
    let resumed = migrate(&from, &[OsStr::new("--to-data-dir"), c.as_os_str()]);
    resumed.assert_code(0);
    let report = resumed.json();
    assert_eq!(
        (
            report["blobs_copied"].as_u64(),
            report["blobs_already_there"].as_u64()
        ),
        (Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(report["destination_check"]["wrong_sizes"], 0, "{report}");
    serves_as_before(&c, &[], &seeded);

    // A destination with other accounts is refused, untouched.
    let mut relay = Relay::start(&c, &[]);
    User::register(&relay.api(), 33, "system", None);
    let running = migrate(&from, &[OsStr::new("--to-data-dir"), c.as_os_str()]);
    assert_ne!(running.code, Some(0), "{running:?}");
    assert!(
        running.stderr.contains("a relay is running on") && running.stderr.contains("(pid "),
        "the relay's own lock, naming its holder: {running:?}"
    );
    relay.stop();
    let refused = migrate(&from, &[OsStr::new("--to-data-dir"), c.as_os_str()]);
    assert_ne!(refused.code, Some(0), "{refused:?}");
    assert!(
        refused.stderr.contains("already holds 3 account(s)"),
        "{refused:?}"
    );

    // And one that holds no account but any row at all (an operator's registration code).
    let e = work.path().join("e");
    let mut relay = Relay::start(&e, &[]);
    let _ = relay.json(&["registration-code", "create"]);
    relay.stop();
    let refused = migrate(&from, &[OsStr::new("--to-data-dir"), e.as_os_str()]);
    assert_ne!(refused.code, Some(0), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("already holds 0 account(s) and 1 row(s)"),
        "{refused:?}"
    );

    // So is the source itself as the destination, and a side left unsaid.
    let same = migrate(&from, &[OsStr::new("--to-data-dir"), a.as_os_str()]);
    assert_ne!(same.code, Some(0), "{same:?}");
    assert!(same.stderr.contains("share a store"), "{same:?}");
    let unsaid = migrate(&from, &[]);
    assert_ne!(unsaid.code, Some(0), "{unsaid:?}");
    assert!(unsaid.stderr.contains("the destination"), "{unsaid:?}");

    // check-data agrees with the report on the migrated store.
    let checked = admin(
        &[],
        [
            OsStr::new("check-data"),
            OsStr::new("--data-dir"),
            b.as_os_str(),
        ],
    );
    checked.assert_code(0);
}

#[test]
fn a_migration_killed_mid_copy_is_finished_by_the_next_run() {
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("a");
    let mut relay = Relay::start(&a, &[]);
    let api = relay.api();
    // Six Systems with all eight v1 volumes each, 512 KiB apiece: long enough a copy that a
    // kill lands in the middle of it.
    const NAMES: [&str; 8] = [
        "meta",
        "members",
        "fronts",
        "journal",
        "chat",
        "polls",
        "vault",
        "analytics",
    ];
    const VOLUMES: u8 = 48;
    let mut systems = Vec::new();
    for seed in 41..47u8 {
        let mut sys = User::register(&api, seed, "system", None);
        sys.login(&api);
        for (i, name) in NAMES.iter().enumerate() {
            sys.upload(&api, name, 1, &payload(seed.wrapping_mul(8) ^ i as u8, 128));
        }
        systems.push(sys);
    }
    let last = systems[5].download(&api, "analytics").1;
    relay.stop();

    let copied = |dir: &Path| -> usize {
        std::fs::read_dir(dir.join("blobs"))
            .map(|users| {
                users
                    .filter_map(Result::ok)
                    .filter_map(|u| std::fs::read_dir(u.path()).ok())
                    .flat_map(|files| files.filter_map(Result::ok))
                    .filter(|f| !f.file_name().to_string_lossy().starts_with(".tmp-"))
                    .count()
            })
            .unwrap_or(0)
    };
    // SIGKILL once a few blobs are in place; should a run ever finish first, try again on a
    // fresh directory with a lower mark.
    let mut killed_in = None;
    for (attempt, mark) in [8usize, 3, 1, 1, 1].into_iter().enumerate() {
        let b = work.path().join(format!("b{attempt}"));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_coffer-admin"));
        crate::support::scrub(&mut cmd);
        let mut child = cmd
            .args(["--json", "migrate-store", "--from-data-dir"])
            .arg(&a)
            .arg("--to-data-dir")
            .arg(&b)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if copied(&b) >= mark {
                child.kill().unwrap();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        let status = child.wait().unwrap();
        if finished.is_none() && status.code().is_none() {
            killed_in = Some(b);
            break;
        }
    }
    let b = killed_in.expect("a run killed mid-copy in five attempts");
    let before = copied(&b);
    eprintln!(
        "migrate-store killed with {before} of {VOLUMES} blobs in place ({})",
        b.display()
    );
    assert!(
        before < usize::from(VOLUMES),
        "killed before the last blob: {before}"
    );

    // Nothing committed: the killed run left blobs and no rows; the next run keeps them.
    let run = migrate(
        &[OsStr::new("--from-data-dir"), a.as_os_str()],
        &[OsStr::new("--to-data-dir"), b.as_os_str()],
    );
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["status"], "migrated", "{report}");
    let already = report["blobs_already_there"].as_u64().unwrap();
    let copied_now = report["blobs_copied"].as_u64().unwrap();
    assert!(
        already >= 1,
        "the killed run's complete blobs are kept: {report}"
    );
    assert_eq!(already + copied_now, u64::from(VOLUMES), "{report}");
    assert_eq!(report["destination_check"]["missing_blobs"], 0, "{report}");
    assert_eq!(report["destination_check"]["wrong_sizes"], 0, "{report}");

    let mut relay = Relay::start(&b, &[]);
    assert_eq!(systems[5].download(&relay.api(), "analytics").1, last);
    relay.stop();
}

/// The blob files (not inline payloads) the relay at `data` keeps, `user/file`.
fn report_blob_names(data: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for user in std::fs::read_dir(data.join("blobs")).unwrap() {
        let user = user.unwrap();
        for file in std::fs::read_dir(user.path()).unwrap() {
            let file = file.unwrap().file_name().to_string_lossy().into_owned();
            if !file.starts_with(".tmp-") {
                out.push(format!("{}/{file}", user.file_name().to_string_lossy()));
            }
        }
    }
    out.sort();
    out
}

/// Through PostgreSQL and Garage and back. Needs the shared servers: COFFER_TEST_POSTGRES_URL
/// (`scripts/postgres.sh up`) and COFFER_S3_* (`scripts/garage.sh up`); without them it fails
/// and says so.
mod pg_migrate {
    use super::*;

    fn var(name: &str) -> String {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: this test needs the shared servers (scripts/postgres.sh up, \
                 scripts/garage.sh up, and the variables they print)"
            )
        })
    }

    /// A fresh database on the test server; its URL.
    fn fresh_database() -> (String, String) {
        let admin_url = var("COFFER_TEST_POSTGRES_URL");
        let name = format!(
            "coffer_migrate_{:016x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
                .await
                .expect("connect to COFFER_TEST_POSTGRES_URL");
            tokio::spawn(conn);
            client
                .batch_execute(&format!(
                    "CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu \
                     ICU_LOCALE 'und' LOCALE 'C.UTF-8'"
                ))
                .await
                .expect("CREATE DATABASE");
        });
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        (format!("{base}/{name}"), name)
    }

    #[test]
    #[ignore = "needs PostgreSQL and S3: COFFER_TEST_POSTGRES_URL, COFFER_S3_*"]
    fn sqlite_to_postgres_and_s3_and_back() {
        let work = tempfile::tempdir().unwrap();
        let a = work.path().join("a");
        let seeded = seed(&a, &[]);

        // The cluster's configuration file: URL and key in files of their own.
        let (url, _db) = fresh_database();
        let url_file = work.path().join("postgres-url");
        std::fs::write(&url_file, format!("{url}\n")).unwrap();
        let config = work.path().join("cluster.toml");
        std::fs::write(
            &config,
            format!(
                "[storage]\nbackend = \"postgres\"\nurl_file = \"{}\"\n\n[blobs]\nbackend = \
                 \"s3\"\nendpoint = \"{}\"\nregion = \"{}\"\nbucket = \"{}\"\ncredentials_file = \
                 \"{}\"\n",
                url_file.display(),
                var("COFFER_S3_ENDPOINT"),
                var("COFFER_S3_REGION"),
                var("COFFER_S3_BUCKET"),
                var("COFFER_S3_CREDENTIALS_FILE"),
            ),
        )
        .unwrap();
        let p = work.path().join("p");
        let to_cluster = [
            OsStr::new("--to-config"),
            config.as_os_str(),
            OsStr::new("--to-data-dir"),
            p.as_os_str(),
        ];
        let run = migrate(&[OsStr::new("--from-data-dir"), a.as_os_str()], &to_cluster);
        run.assert_code(0);
        let report = run.json();
        assert_eq!(report["status"], "migrated", "{report}");
        assert_eq!(report["blobs_copied"], 2, "{report}");
        assert!(
            report["to"].as_str().unwrap().starts_with("PostgreSQL "),
            "{report}"
        );
        assert!(!run.stdout.contains(&url), "never the URL: {run:?}");
        assert_eq!(report["destination_check"]["missing_blobs"], 0, "{report}");
        assert_eq!(report["destination_check"]["volume_rows"], 3, "{report}");

        // check-data reads PostgreSQL and the bucket.
        let checked = admin(
            &[],
            [
                OsStr::new("--json"),
                OsStr::new("check-data"),
                OsStr::new("--config"),
                config.as_os_str(),
                OsStr::new("--data-dir"),
                p.as_os_str(),
            ],
        );
        checked.assert_code(0);
        assert_eq!(checked.json()["volume_rows"], 3, "{checked:?}");

        // A relay on PostgreSQL + S3 serves the same bytes to the same sessions.
        let env = [
            ("COFFER_STORAGE_BACKEND", "postgres"),
            ("COFFER_POSTGRES_URL", url.as_str()),
            ("COFFER_BLOBS_BACKEND", "s3"),
        ];
        let s3: Vec<(String, String)> = [
            "COFFER_S3_ENDPOINT",
            "COFFER_S3_REGION",
            "COFFER_S3_BUCKET",
            "COFFER_S3_CREDENTIALS_FILE",
        ]
        .iter()
        .map(|k| ((*k).to_owned(), var(k)))
        .collect();
        let mut relay_env: Vec<(&str, &str)> = env.to_vec();
        relay_env.extend(s3.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        serves_as_before(&p, &relay_env, &seeded);

        // And back to a data directory.
        let d = work.path().join("d");
        let back = migrate(
            &[
                OsStr::new("--from-config"),
                config.as_os_str(),
                OsStr::new("--from-data-dir"),
                p.as_os_str(),
            ],
            &[OsStr::new("--to-data-dir"), d.as_os_str()],
        );
        back.assert_code(0);
        let report = back.json();
        assert_eq!(report["status"], "migrated", "{report}");
        assert_eq!(report["blobs_copied"], 2, "{report}");
        assert_eq!(report["destination_check"]["integrity"], "ok", "{report}");
        serves_as_before(&d, &[], &seeded);
    }
}
