//! Moving in from a PluralLog relay (`coffer-admin import-plurallog`, ADR 0023), end to end.
//!
//! The source is made the honest way: a v1 System and Friends run a real v1 flow (register,
//! upload several versions, invite, redeem, accept with a wrapped VEK, log in) against one
//! Coffer relay; its rows are then written into a database with the PluralLog reference
//! relay's schema (docs/protocol-v1.md §3: its table and column names, keys and signatures as
//! base64 text, times as Python's naive ISO text, plaintext session tokens) and its blobs into
//! `<volumes>/<user_id>/<volume>.bin`. The importer fills a second relay's emptied data
//! directory; that relay is started on it and the same apps, with their OLD keys and their OLD
//! session tokens, carry on. Also: the refusal of a foreign database, a damaged source
//! reported and not silently dropped, and a dry run that writes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use coffer_tests::client::{Kind, V1Client, default_permissions, open_volume};
use coffer_tests::docs;
use coffer_tests::relay::{RelayProcess, files_under, relay_binary};
use coffer_wire::b64;
use coffer_wire::time::isoformat;
use coffer_wire::v1::VolumeName;
use rusqlite::{Connection, params};
use serde_json::{Value, json};

/// The PluralLog reference relay's tables (docs/protocol-v1.md §3), with its column names and
/// the types its Python code writes: keys, signatures and wrapped VEKs as base64 text, times as
/// ISO text, tokens in plaintext, blobs as files named in `payload_path`.
const PLURALLOG_SCHEMA: &str = "
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        public_signing_key TEXT NOT NULL,
        public_exchange_key TEXT NOT NULL,
        handle TEXT UNIQUE,
        client_type TEXT NOT NULL CHECK (client_type IN ('system', 'friend')),
        protocol_version INTEGER NOT NULL DEFAULT 1,
        feature_set TEXT NOT NULL DEFAULT '[]',
        storage_used_bytes INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE auth_challenges (
        nonce TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        expires_at TEXT NOT NULL
    );
    CREATE TABLE auth_sessions (
        token TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        expires_at TEXT NOT NULL
    );
    CREATE TABLE volumes (
        user_id TEXT NOT NULL REFERENCES users(id),
        volume_name TEXT NOT NULL,
        version INTEGER NOT NULL,
        control_header TEXT NOT NULL,
        payload_path TEXT NOT NULL,
        signature TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (user_id, volume_name)
    );
    CREATE TABLE sharing (
        id TEXT PRIMARY KEY,
        system_user_id TEXT NOT NULL REFERENCES users(id),
        friend_user_id TEXT NOT NULL REFERENCES users(id),
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'revoked')),
        permissions TEXT NOT NULL DEFAULT '{}',
        encrypted_vek_blob TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (system_user_id, friend_user_id)
    );
    CREATE TABLE invite_codes (
        code TEXT PRIMARY KEY,
        system_user_id TEXT NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        redeemed_by TEXT REFERENCES users(id),
        redeemed_at TEXT
    );
    CREATE TABLE rate_limits (
        key TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        count INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (key, window_start)
    );
";

/// Python's `datetime.utcnow().isoformat()`: naive, with microseconds.
fn py_time(unix: i64, micros: u32) -> String {
    isoformat(unix, micros)
        .trim_end_matches("+00:00")
        .to_owned()
}

/// `coffer-admin`, built beside the relay binary (`$COFFER_ADMIN_BIN` overrides).
fn admin_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("COFFER_ADMIN_BIN") {
        return PathBuf::from(bin);
    }
    let bin = relay_binary().with_file_name("coffer-admin");
    assert!(
        bin.is_file(),
        "coffer-admin not found at {} — run `cargo build -p coffer-admin` first (or set \
         COFFER_ADMIN_BIN)",
        bin.display()
    );
    bin
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn admin(args: &[&str]) -> Run {
    let mut cmd = Command::new(admin_binary());
    cmd.args(args).stdin(Stdio::null());
    for key in coffer_test_kit::relay::scrubbed_vars() {
        cmd.env_remove(key);
    }
    let out = cmd.output().expect("run coffer-admin");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn import(db: &Path, volumes: &Path, data: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "import-plurallog".to_owned(),
        "--db".to_owned(),
        db.display().to_string(),
        "--volumes".to_owned(),
        volumes.display().to_string(),
        "--data-dir".to_owned(),
        data.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    admin(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// What the source relay's apps hold: the clients (keys, VEK, tokens) and what they uploaded.
struct World {
    sys: V1Client,
    friend: V1Client,
    pending_friend: V1Client,
    /// The members document at its newest version (3).
    members: Value,
    /// The fronts document (version 2).
    fronts: Value,
    /// The System's and the Friend's session tokens on the old relay.
    sys_token: String,
    friend_token: String,
    /// The open invite code.
    open_code: String,
}

/// Runs the v1 flow against a Coffer relay and rewrites its data as a PluralLog relay's
/// (`<dir>/plurallog_relay.db`, `<dir>/volume_storage/`).
async fn plurallog_source(dir: &Path) -> World {
    let mut relay = RelayProcess::start().await;
    let sys = V1Client::system(&relay, "Old-Lighthouse").await;
    let friend = V1Client::friend(&relay, "old-river").await;
    let pending_friend = V1Client::friend(&relay, "old-moss").await;

    sys.upload_ok(VolumeName::Meta, 1, &docs::meta()).await;
    sys.upload_ok(VolumeName::Members, 1, &docs::members())
        .await;
    sys.upload_ok(VolumeName::Members, 2, &docs::sized(5000, "members-2"))
        .await;
    let members = json!({"members": [{"name": "Ash", "pronouns": "they/them"}], "v": 3});
    sys.upload_ok(VolumeName::Members, 3, &members).await;
    sys.upload_ok(VolumeName::Fronts, 1, &docs::fronts()).await;
    let fronts = json!({"fronts": [{"member": "Ash", "at": 1_774_609_200}]});
    sys.upload_ok(VolumeName::Fronts, 2, &fronts).await;
    sys.upload_ok(VolumeName::Journal, 1, &docs::journal())
        .await;

    // Invite → redeem → accept with a wrapped VEK (members and fronts, the defaults).
    let code = sys.invite().await;
    friend.redeem(&code).await.expect_json(201);
    let pending = sys.requests_list(None).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    sys.accept(&pending[0], &default_permissions())
        .await
        .expect_json(200);
    // A pending request, and an invite nobody redeemed.
    pending_friend
        .request_share(sys.user_id())
        .await
        .expect_json(201);
    let open_code = sys.invite().await;

    let sys_token = sys.token().expect("logged in").to_owned();
    let friend_token = friend.token().expect("logged in").to_owned();
    relay.terminate().await;

    let coffer = Connection::open(relay.database_path()).unwrap();
    let volumes_dir = dir.join("volume_storage");
    std::fs::create_dir_all(&volumes_dir).unwrap();
    let db_path = dir.join("plurallog_relay.db");
    let pl = Connection::open(&db_path).unwrap();
    pl.execute_batch(PLURALLOG_SCHEMA).unwrap();

    // Users: keys as base64 text, created_at as Python's naive ISO text with seconds and
    // microseconds (Coffer stored the hour; the reference relay the exact time).
    let mut stmt = coffer
        .prepare(
            "SELECT id, public_signing_key, public_exchange_key, handle, client_type, \
             protocol_version, feature_set, storage_used_bytes, created_at FROM users",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, i64>(8)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (id, sk, xk, handle, ct, pv, fs, used, created) = row.unwrap();
        pl.execute(
            "INSERT INTO users (id, public_signing_key, public_exchange_key, handle, client_type, \
             protocol_version, feature_set, storage_used_bytes, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                id,
                b64::encode(&sk),
                b64::encode(&xk),
                handle,
                ct,
                pv,
                fs,
                used,
                py_time(created + 1234, 567_890)
            ],
        )
        .unwrap();
    }
    drop(stmt);

    // Volumes: the payload (a blob file or inline) copied to `<volumes>/<user>/<name>.bin`, its
    // path in `payload_path`.
    let mut stmt = coffer
        .prepare(
            "SELECT user_id, volume_name, version, control_header, blob_file, signature, \
             size_bytes, updated_at FROM volumes",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Vec<u8>>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (user, name, version, header, blob_file, sig, size, updated) = row.unwrap();
        let target = volumes_dir.join(&user).join(format!("{name}.bin"));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        if blob_file.starts_with("inline:") {
            // A small payload the relay kept in its database (docs/adr/0027).
            let bytes: Vec<u8> = coffer
                .query_row(
                    "SELECT bytes FROM inline_payloads WHERE blob_file = ?1",
                    [&blob_file],
                    |r| r.get(0),
                )
                .unwrap();
            std::fs::write(&target, bytes).unwrap();
        } else {
            std::fs::copy(relay.blob_dir().join(&blob_file), &target).unwrap();
        }
        pl.execute(
            "INSERT INTO volumes (user_id, volume_name, version, control_header, payload_path, \
             signature, size_bytes, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                user,
                name,
                version,
                header,
                target.display().to_string(),
                b64::encode(&sig),
                size,
                py_time(updated + 61, 1)
            ],
        )
        .unwrap();
    }
    drop(stmt);

    let mut stmt = coffer
        .prepare(
            "SELECT id, system_user_id, friend_user_id, status, permissions, encrypted_vek_blob, \
             created_at, updated_at FROM sharing",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<Vec<u8>>>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (id, s, f, status, perms, vek, created, updated) = row.unwrap();
        pl.execute(
            "INSERT INTO sharing (id, system_user_id, friend_user_id, status, permissions, \
             encrypted_vek_blob, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                id,
                s,
                f,
                status,
                perms,
                vek.map(|v| b64::encode(&v)),
                py_time(created + 5, 0),
                py_time(updated + 7, 0)
            ],
        )
        .unwrap();
    }
    drop(stmt);

    let mut stmt = coffer
        .prepare(
            "SELECT code, system_user_id, created_at, expires_at, redeemed_by, redeemed_at \
             FROM invite_codes",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (code, s, created, expires, by, at) = row.unwrap();
        pl.execute(
            "INSERT INTO invite_codes (code, system_user_id, created_at, expires_at, \
             redeemed_by, redeemed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                code,
                s,
                py_time(created, 0),
                py_time(expires, 0),
                by,
                at.map(|t| py_time(t, 0))
            ],
        )
        .unwrap();
    }
    drop(stmt);

    // Sessions in plaintext (what the reference relay keeps): the two live ones the apps hold,
    // one expired; and a login challenge in flight.
    let now = coffer_tests::client::now_unix();
    for (token, user, expires) in [
        (sys_token.as_str(), sys.user_id(), now + 3000),
        (friend_token.as_str(), friend.user_id(), now + 3000),
        ("an-expired-token", sys.user_id(), now - 10),
    ] {
        pl.execute(
            "INSERT INTO auth_sessions (token, user_id, expires_at) VALUES (?1, ?2, ?3)",
            params![token, user, py_time(expires, 0)],
        )
        .unwrap();
    }
    pl.execute(
        "INSERT INTO auth_challenges (nonce, user_id, expires_at) VALUES ('n', ?1, ?2)",
        params![sys.user_id(), py_time(now + 300, 0)],
    )
    .unwrap();
    pl.execute(
        "INSERT INTO rate_limits (key, window_start, count) VALUES ('auth:1.2.3.4', 1, 3)",
        [],
    )
    .unwrap();
    drop(pl);
    World {
        sys,
        friend,
        pending_friend,
        members,
        fronts,
        sys_token,
        friend_token,
        open_code,
    }
}

/// Stops `relay` and empties its data directory except `tls/` (kept so the relay's pin stays
/// the one the test clients trust across the restart).
async fn empty_data_dir(relay: &mut RelayProcess) {
    relay.terminate().await;
    for entry in std::fs::read_dir(relay.data_dir()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "tls" {
            continue;
        }
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plurallog_relay_moves_in_and_its_apps_carry_on() {
    let work = tempfile::tempdir().unwrap();
    let mut w = plurallog_source(work.path()).await;
    let db = work.path().join("plurallog_relay.db");
    let volumes = work.path().join("volume_storage");

    // The new relay's data directory, emptied but for its certificate; import into a
    // temporary one first (the importer wants an empty directory), then move it in beside tls/.
    let mut relay = RelayProcess::start().await;
    empty_data_dir(&mut relay).await;
    let staged = work.path().join("coffer-data");
    let run = import(&db, &volumes, &staged, &[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    for needle in [
        "systems",
        "volumes",
        "1 active, 1 pending",
        "open invites",
        "1 expired session(s)",
    ] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.describe());
    }
    assert!(
        run.stdout.contains("nothing was lost"),
        "{}",
        run.describe()
    );
    assert!(
        run.stdout.contains("consistency check: consistent"),
        "{}",
        run.describe()
    );
    assert!(
        !run.stdout.contains(&w.sys_token) && !run.stdout.contains(&w.open_code),
        "the report shows a secret: {}",
        run.describe()
    );

    // The JSON report of a dry run of the same import counts exactly what was carried.
    let dry = import(
        &db,
        &volumes,
        &work.path().join("dry"),
        &["--dry-run", "--json"],
    );
    assert_eq!(dry.code, Some(0), "{}", dry.describe());
    let report: Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(report["status"], "dry-run");
    assert_eq!(
        report["carried"],
        json!({"systems": 1, "friends": 2, "volumes": 4, "volume_bytes": report["carried"]["volume_bytes"],
               "active_relationships": 1, "pending_relationships": 1, "open_invites": 1, "sessions": 2}),
        "{report}"
    );
    assert_eq!(report["skipped"]["expired_sessions"], 1, "{report}");
    assert_eq!(report["skipped"]["closed_invites"], 1, "{report}");
    assert_eq!(report["skipped"]["challenges"], 1, "{report}");
    assert_eq!(report["lost"], json!([]), "{report}");

    // check-data agrees; the staged directory moves in beside the relay's tls/.
    let check = admin(&["check-data", "--data-dir", &staged.display().to_string()]);
    assert_eq!(check.code, Some(0), "{}", check.describe());
    for entry in std::fs::read_dir(&staged).unwrap() {
        let entry = entry.unwrap();
        std::fs::rename(entry.path(), relay.data_dir().join(entry.file_name())).unwrap();
    }
    relay.restart().await;
    for c in [&mut w.sys, &mut w.friend, &mut w.pending_friend] {
        c.rebind(&relay);
    }

    // The System's OLD session token still works: it lists its volumes…
    w.sys.set_token(Some(w.sys_token.clone()));
    let listed = w.sys.list_volumes().await;
    let mut versions: Vec<(String, u64)> = listed
        .iter()
        .map(|h| {
            (
                h["volume_name"].as_str().unwrap().to_owned(),
                h["version"].as_u64().unwrap(),
            )
        })
        .collect();
    versions.sort();
    assert_eq!(
        versions,
        [("fronts", 2), ("journal", 1), ("members", 3), ("meta", 1)]
            .map(|(n, v)| (n.to_owned(), v))
            .to_vec()
    );
    // …and downloads them: the same bytes, verified with its key and decrypted with its VEK.
    let own = w.sys.download_own("members", None).await;
    let opened = open_volume(
        own.expect_json(200),
        "members",
        &w.sys.vek,
        &w.sys.signing_key_b64(),
    );
    assert_eq!(opened.document, w.members);
    assert_eq!(opened.header.version, 3);

    // A fresh login signs the challenge with the OLD signing key.
    w.sys.set_token(None);
    w.sys.login().await;
    assert_ne!(w.sys.token(), Some(w.sys_token.as_str()));

    // The Friend (old token) lists the shared volumes and decrypts with its old key.
    w.friend.set_token(Some(w.friend_token.clone()));
    let active = w.friend.requests_list(Some("active")).await;
    assert_eq!(active.len(), 1, "{active:?}");
    let vek = w.friend.unwrap_vek(&active[0]);
    let shared = w.friend.shared_list(w.sys.user_id()).await;
    let names: Vec<String> = shared.expect_json(200)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["volume_name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        names.contains(&"members".to_owned()) && names.contains(&"fronts".to_owned()),
        "{names:?}"
    );
    assert!(!names.contains(&"journal".to_owned()), "{names:?}");
    let got = w.friend.shared_get(w.sys.user_id(), "fronts", None).await;
    let opened = open_volume(
        got.expect_json(200),
        "fronts",
        &vek,
        &w.sys.signing_key_b64(),
    );
    assert_eq!(opened.document, w.fronts);
    // The Friend logs in afresh with its old key too.
    w.friend.login().await;

    // The System uploads the next version; a stale one is refused as on the old relay.
    w.sys
        .upload_ok(VolumeName::Members, 4, &json!({"members": [], "v": 4}))
        .await;
    let (stale, _) = w.sys.upload(VolumeName::Fronts, 2, &w.fronts).await;
    stale.expect_error(409, "conflict");
    let got = w.friend.shared_get(w.sys.user_id(), "members", None).await;
    assert_eq!(
        open_volume(
            got.expect_json(200),
            "members",
            &vek,
            &w.sys.signing_key_b64()
        )
        .header
        .version,
        4
    );

    // The pending request is still pending and can be accepted; the open invite redeems.
    let pending = w.sys.requests_list(None).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["friend_user_id"], w.pending_friend.user_id());
    w.sys
        .accept(&pending[0], &default_permissions())
        .await
        .expect_json(200);
    let late = V1Client::friend(&relay, "new-friend").await;
    late.redeem(&w.open_code.to_lowercase())
        .await
        .expect_json(201);

    // The expired session did not come along.
    let mut ghost = V1Client::new(&relay, Kind::System);
    ghost.set_user_id(w.sys.user_id());
    ghost.set_token(Some("an-expired-token".to_owned()));
    assert_eq!(ghost.get("/api/v1/volumes").await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_source_is_reported_and_a_dry_run_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let w = plurallog_source(work.path()).await;
    let db = work.path().join("plurallog_relay.db");
    let volumes = work.path().join("volume_storage");
    let sys_dir = volumes.join(w.sys.user_id());

    // Damage: a missing blob, a blob of the wrong size, a volume name v1 does not have, and a
    // relationship whose friend does not exist.
    std::fs::remove_file(sys_dir.join("journal.bin")).unwrap();
    let meta = sys_dir.join("meta.bin");
    let mut bytes = std::fs::read(&meta).unwrap();
    bytes.truncate(bytes.len() - 1);
    std::fs::write(&meta, &bytes).unwrap();
    let conn = Connection::open(&db).unwrap();
    // Python's sqlite3 leaves foreign keys off; a hand-edited database may break them.
    conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
    conn.execute(
        "INSERT INTO volumes SELECT user_id, 'bucket-x', version, control_header, payload_path, \
         signature, size_bytes, updated_at FROM volumes WHERE volume_name = 'fronts'",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO sharing (id, system_user_id, friend_user_id, status, permissions, created_at, \
         updated_at) VALUES ('6f2a1e38-7d0c-4a55-9f0e-0c1d2e3f4a5b', ?1, \
         '0d8e2d6c-9a7b-4c3d-8e1f-2a3b4c5d6e7f', 'pending', '{}', '2026-03-27T16:57:46', \
         '2026-03-27T16:57:46')",
        [w.sys.user_id()],
    )
    .unwrap();
    drop(conn);

    // Dry run: every problem listed with its reason, exit 6, nothing written.
    let target = work.path().join("target");
    let dry = import(&db, &volumes, &target, &["--dry-run"]);
    assert_eq!(dry.code, Some(6), "{}", dry.describe());
    for needle in [
        "NOT CARRIED (4)",
        "journal: blob file",
        "is missing",
        "meta: size mismatch",
        "bucket-x: unknown volume name",
        "relationship 6f2a1e38-7d0c-4a55-9f0e-0c1d2e3f4a5b: dangling",
        "this was a dry run",
    ] {
        assert!(
            dry.stdout.contains(needle) || dry.stderr.contains(needle),
            "{needle}: {}",
            dry.describe()
        );
    }
    assert!(!target.exists(), "a dry run created {}", target.display());

    // Without --allow-partial a real import writes nothing either.
    let refused = import(&db, &volumes, &target, &[]);
    assert_eq!(refused.code, Some(6), "{}", refused.describe());
    assert!(
        refused.stderr.contains("nothing was written"),
        "{}",
        refused.describe()
    );
    assert!(!target.exists(), "{:?}", files_under(&target));

    // With it, the rest is carried, the losses are still listed, and the result is consistent.
    let partial = import(&db, &volumes, &target, &["--allow-partial", "--json"]);
    assert_eq!(partial.code, Some(0), "{}", partial.describe());
    let report: Value = serde_json::from_str(&partial.stdout).unwrap();
    assert_eq!(report["lost"].as_array().unwrap().len(), 4, "{report}");
    assert_eq!(report["carried"]["volumes"], 2, "{report}");
    assert_eq!(report["check"]["missing_blobs"], 0, "{report}");
    assert_eq!(files_under(&target.join("blobs")).len(), 2);

    // A second import into the now non-empty directory is refused (exit 2), nothing changed.
    let again = import(&db, &volumes, &target, &["--allow-partial"]);
    assert_eq!(again.code, Some(2), "{}", again.describe());
    assert!(
        again.stderr.contains("is not empty"),
        "{}",
        again.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coffer_refuses_a_foreign_database_and_points_at_the_importer() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("plurallog_relay.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch(PLURALLOG_SCHEMA)
        .unwrap();
    let other = work.path().join("notes.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);")
        .unwrap();
    let before = std::fs::read(&db).unwrap();

    for (file, expected) in [
        (
            &db,
            format!(
                "{} is a PluralLog relay database, not Coffer's: import it with `coffer-admin \
                 import-plurallog --db {} --volumes <dir> --data-dir <new dir>`",
                db.display(),
                db.display()
            ),
        ),
        (
            &other,
            format!("{} is not a Coffer relay database", other.display()),
        ),
    ] {
        let data = work.path().join(format!(
            "data-{}",
            file.file_stem().unwrap().to_string_lossy()
        ));
        // The relay, started on it (COFFER_DATABASE), refuses and exits.
        let mut cmd = Command::new(relay_binary());
        cmd.arg("--data-dir")
            .arg(&data)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("COFFER_DATABASE", file)
            .stdin(Stdio::null());
        for key in coffer_test_kit::relay::scrubbed_vars() {
            cmd.env_remove(key);
        }
        let out = cmd.output().expect("run coffer-relay");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "the relay started on {file:?}");
        assert!(stderr.contains(&expected), "{expected}\n{stderr}");

        // coffer-admin's offline commands say the same.
        std::fs::create_dir_all(&data).unwrap();
        std::fs::copy(file, data.join("coffer.db")).unwrap();
        let check = admin(&["check-data", "--data-dir", &data.display().to_string()]);
        assert_eq!(check.code, Some(2), "{}", check.describe());
        let data_db = data.join("coffer.db");
        let expected_here =
            expected.replace(&file.display().to_string(), &data_db.display().to_string());
        assert!(
            check.stderr.contains(&expected_here),
            "{expected_here}\n{}",
            check.describe()
        );
        let backup = admin(&[
            "backup",
            "--data-dir",
            &data.display().to_string(),
            "--out",
            &work.path().join("backup").display().to_string(),
        ]);
        assert_ne!(backup.code, Some(0), "{}", backup.describe());
        assert!(
            backup.stderr.contains(&expected_here),
            "{expected_here}\n{}",
            backup.describe()
        );
        let _ = std::fs::remove_dir_all(work.path().join("backup"));
    }
    // Untouched: not migrated, not even switched to WAL.
    assert_eq!(std::fs::read(&db).unwrap(), before);
}
