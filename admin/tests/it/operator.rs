//! Every `coffer-admin` command against the real relay (or real files), with the exact `--json`
//! shape of each, plus anomalies, maintenance in steps, the hashed admin token and the loopback
//! admin listener.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, SystemTime};

use crate::support::{Relay, TOKEN, User, admin, keys, payload};
use serde_json::{Value, json};

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

const USER_KEYS: [&str; 8] = [
    "client_type",
    "created_at",
    "feature_set",
    "handle",
    "id",
    "protocol",
    "protocol_version",
    "storage_used_bytes",
];
const VOLUME_KEYS: [&str; 7] = [
    "epoch",
    "protocol",
    "size_bytes",
    "updated_at",
    "user_id",
    "version",
    "volume_name",
];

#[test]
fn every_remote_command_has_a_stable_json_shape() {
    let work = tempfile::tempdir().unwrap();
    // Every payload a blob file, so the sweep has a user directory to report (inline ones:
    // docs/adr/0027).
    let relay = Relay::start(&work.path().join("data"), &[("COFFER_INLINE_MAX", "0")]);
    let api = relay.api();
    let mut sys = User::register(&api, 1, "system", Some("alice"));
    sys.login(&api);
    let mut friend = User::register(&api, 2, "friend", None);
    friend.login(&api);
    sys.upload(&api, "members", 1, &payload(1, 1));
    sys.upload(&api, "vault", 1, &payload(2, 2));
    let code = sys.invite(&api);
    let request = friend.redeem(&api, &code);
    sys.accept(&api, &request);
    sys.invite(&api);

    let health = relay.json(&["health"]);
    assert_eq!(
        keys(&health),
        strs(&[
            "min_protocol_version",
            "status",
            "uptime_seconds",
            "version"
        ])
    );

    let stats = relay.json(&["stats"]);
    assert_eq!(
        keys(&stats),
        strs(&[
            "active_shares",
            "by_protocol",
            "friend_users",
            "pending_shares",
            "recent_registrations_30d",
            "system_users",
            "total_storage_bytes",
            "total_volumes",
            "volume_breakdown",
        ])
    );
    assert_eq!(stats["active_shares"], 1);
    assert_eq!(stats["total_storage_bytes"], 4124 + 8220);
    assert_eq!(
        keys(&stats["volume_breakdown"][0]),
        strs(&["count", "total_bytes", "volume_name"])
    );

    let users = relay.json(&["users", "list"]);
    assert_eq!(keys(&users), strs(&["next_offset", "total", "users"]));
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
    for u in users["users"].as_array().unwrap() {
        assert_eq!(keys(u), strs(&USER_KEYS));
        assert!(u["feature_set"].is_string(), "v1: JSON text");
    }

    let shown = relay.json(&["users", "show", &sys.id]);
    let mut with_volumes = strs(&USER_KEYS);
    with_volumes.push("volumes".to_owned());
    with_volumes.sort_unstable();
    assert_eq!(keys(&shown), with_volumes);
    assert_eq!(keys(&shown["volumes"][0]), strs(&VOLUME_KEYS));

    let volumes = relay.json(&["volumes"]);
    assert_eq!(keys(&volumes), strs(&["next_offset", "total", "volumes"]));
    assert_eq!(volumes["volumes"].as_array().unwrap().len(), 2);
    assert_eq!(keys(&volumes["volumes"][1]), strs(&VOLUME_KEYS));

    let sharing = relay.json(&["sharing"]);
    assert_eq!(keys(&sharing), strs(&["next_offset", "sharing", "total"]));
    let share = &sharing["sharing"][0];
    assert_eq!(
        keys(share),
        strs(&[
            "created_at",
            "expires_at",
            "friend_user_id",
            "id",
            "permissions",
            "protocol",
            "status",
            "system_user_id",
            "updated_at",
        ])
    );
    assert_eq!(share["status"], "active");
    assert!(share["permissions"].is_string());
    let run = relay.admin(Some(TOKEN), ["sharing"]);
    run.assert_code(0);
    assert!(run.stdout.contains("  active  members  "), "{run:?}");

    let sessions = relay.json(&["sessions"]);
    assert_eq!(
        keys(&sessions),
        strs(&[
            "active_invites",
            "active_sessions",
            "pending_challenges",
            "redeemed_invites",
        ])
    );
    assert_eq!(
        (
            &sessions["active_sessions"],
            &sessions["active_invites"],
            &sessions["redeemed_invites"]
        ),
        (&json!(2), &json!(1), &json!(1))
    );

    let anomalies = relay.json(&["anomalies"]);
    assert_eq!(
        keys(&anomalies),
        strs(&[
            "anomalies",
            "ip_policy",
            "thresholds",
            "totals",
            "tracking_since",
            "untracked",
            "window_minutes",
        ])
    );
    assert_eq!(
        keys(&anomalies["thresholds"]),
        strs(&["challenges", "failed_logins", "storage_growth_bytes"])
    );
    assert_eq!(
        keys(&anomalies["totals"]),
        strs(&["challenges", "failed_logins", "storage_growth_bytes"])
    );
    assert_eq!(anomalies["anomalies"], json!([]));
    assert_eq!(anomalies["totals"]["challenges"], 2);

    let report = relay.json(&["maintenance"]);
    assert_eq!(
        keys(&report),
        strs(&[
            "expired_challenges",
            "expired_invites",
            "expired_sessions",
            "orphan_blobs",
            "orphan_bytes",
            "status",
            "sweep_pages",
            "user_directories",
        ])
    );
    assert_eq!(report["user_directories"], 1, "{report}");

    let expired = relay.json(&["sessions", "expire-all", "--yes"]);
    assert_eq!(keys(&expired), strs(&["sessions_expired", "status"]));
    assert_eq!(expired["sessions_expired"], 2);

    let deleted = relay.json(&["users", "delete", &friend.id, "--yes"]);
    assert_eq!(keys(&deleted), strs(&["id", "status"]));
    assert_eq!(deleted["status"], "deleted");
    assert_eq!(
        relay.json(&["sharing"]),
        json!({"sharing": [], "total": 0, "next_offset": null})
    );
}

#[test]
fn anomalies_report_twenty_failed_logins() {
    let work = tempfile::tempdir().unwrap();
    let relay = Relay::start(&work.path().join("data"), &[("COFFER_IP_POLICY", "full")]);
    let api = relay.api();
    let victim = User::register(&api, 3, "system", Some("target"));
    for i in 0..20u8 {
        let (status, _) = api.call(
            reqwest::Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({
                "user_id": victim.id,
                "nonce": "bm90LWEtcmVhbC1ub25jZQ==",
                "signature": base64_zero_signature(i),
            })),
        );
        assert_eq!(status, 403);
    }
    let report = relay.json(&["anomalies"]);
    let rows = report["anomalies"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{report:#}");
    for row in rows {
        assert_eq!(
            keys(row),
            strs(&[
                "first_seen",
                "kind",
                "last_seen",
                "scope",
                "source",
                "threshold",
                "unit",
                "user_id",
                "value",
            ])
        );
        assert_eq!(row["kind"], "failed_logins");
        assert_eq!(row["value"], 20);
    }
    assert_eq!(rows[0]["user_id"], victim.id.as_str());
    assert_eq!(rows[1]["source"], "127.0.0.1");

    let run = relay.admin(Some(TOKEN), ["anomalies"]);
    run.assert_code(0);
    assert!(run.stdout.starts_with("ip policy  full\n"), "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("failed logins  user    {}     20", victim.id)),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("failed logins  source  127.0.0.1"),
        "{run:?}"
    );
    // No progress bar or prompt on stderr when it is not a terminal.
    assert!(run.stderr.is_empty(), "{run:?}");
}

fn base64_zero_signature(i: u8) -> String {
    use base64::Engine as _;
    let mut sig = [0u8; 64];
    sig[0] = i;
    base64::engine::general_purpose::STANDARD.encode(sig)
}

#[test]
fn maintenance_sweeps_orphans_page_by_page() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let relay = Relay::start(&data, &[]);
    // 600 user directories with one old orphan file each (older than the relay's 10-minute
    // grace period), and one fresh orphan that must survive.
    let old = SystemTime::now() - Duration::from_secs(3600);
    for i in 0..600 {
        let dir = data
            .join("blobs")
            .join(format!("00000000-0000-4000-8000-{i:012}"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::File::create(dir.join("members.v1.dead.bin")).unwrap();
        std::io::Write::write_all(&mut &file, &[0u8; 100]).unwrap();
        file.set_modified(old).unwrap();
    }
    let fresh = data.join("blobs/ffffffff-0000-4000-8000-000000000000");
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::write(fresh.join("vault.v1.new.bin"), b"fresh").unwrap();

    let report = relay.json(&["maintenance"]);
    assert_eq!(report["orphan_blobs"], 600, "{report}");
    assert_eq!(report["orphan_bytes"], 60_000);
    assert_eq!(report["user_directories"], 601);
    assert_eq!(report["sweep_pages"], 3, "256 + 256 + 89");
    assert!(fresh.join("vault.v1.new.bin").exists());
    let run = relay.admin(Some(TOKEN), ["maintenance"]);
    run.assert_code(0);
    assert!(
        run.stdout.contains("orphan blobs        0 (0 B)\n"),
        "{run:?}"
    );
    assert!(run.stdout.contains("user directories    1\n"), "{run:?}");
    assert!(
        run.stderr.is_empty(),
        "no progress bar without a terminal: {run:?}"
    );
}

#[test]
fn a_generated_token_hash_drives_the_relay() {
    let work = tempfile::tempdir().unwrap();
    let token_file = work.path().join("admin-token");
    let generated = admin(
        &[],
        [
            "--json".as_ref(),
            "token".as_ref(),
            "generate".as_ref(),
            "--out".as_ref(),
            token_file.as_os_str(),
        ],
    );
    generated.assert_code(0);
    let report = generated.json();
    assert_eq!(keys(&report), strs(&["token_file", "token_hash"]));
    let hash = report["token_hash"].as_str().unwrap().to_owned();
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert!(
        !generated
            .stdout
            .contains(&std::fs::read_to_string(&token_file).unwrap())
    );
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let printed = admin(&[], ["--json", "token", "generate"]).json();
    assert_eq!(keys(&printed), strs(&["token", "token_hash"]));
    assert_eq!(printed["token"].as_str().unwrap().len(), 43);
    let human = admin(&[], ["token", "generate"]);
    human.assert_code(0);
    assert!(
        human.stdout.contains("token_hash = \"$argon2id$"),
        "{human:?}"
    );

    // `token hash` of an existing token.
    let rehash = admin(
        &[("COFFER_ADMIN_TOKEN", TOKEN)],
        ["--json", "token", "hash"],
    )
    .json();
    assert_eq!(keys(&rehash), strs(&["token_hash"]));
    assert!(coffer_relay::config::admin::verify_hash(
        rehash["token_hash"].as_str().unwrap(),
        TOKEN.as_bytes()
    ));
    admin(&[], ["token", "hash"]).assert_code(2);

    // A relay holding only the hash; the plain v1 token variable is unset.
    let relay = Relay::start(
        &work.path().join("data"),
        &[
            ("COFFER_ADMIN_TOKEN", ""),
            ("COFFER_ADMIN_TOKEN_HASH", &hash),
        ],
    );
    let run = relay.admin(
        None,
        [
            "--token-file".as_ref(),
            token_file.as_os_str(),
            "--json".as_ref(),
            "stats".as_ref(),
        ],
    );
    run.assert_code(0);
    relay.admin(Some("wrong"), ["stats"]).assert_code(4);
}

#[test]
fn the_admin_listener_serves_the_cli_and_the_main_listener_refuses() {
    let work = tempfile::tempdir().unwrap();
    let relay = Relay::start(
        &work.path().join("data"),
        &[("COFFER_ADMIN_LISTEN", "127.0.0.1:0")],
    );
    let admin_url = relay.admin_url.clone().unwrap();
    let run = relay.admin(Some(TOKEN), ["stats"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("403") && run.stderr.contains("admin listener"),
        "{run:?}"
    );
    let run = relay.admin(Some(TOKEN), ["--url", &admin_url, "--json", "stats"]);
    run.assert_code(0);
    assert_eq!(run.json()["system_users"], 0);
}

#[test]
fn config_check_reuses_the_relays_parser() {
    let work = tempfile::tempdir().unwrap();
    let good = work.path().join("relay.toml");
    std::fs::write(
        &good,
        format!(
            "data_dir = \"{}\"\n[admin]\nlisten = \"127.0.0.1:8444\"\n",
            work.path().join("data").display()
        ),
    )
    .unwrap();
    let run = admin(
        &[],
        [
            "--json".as_ref(),
            "config".as_ref(),
            "check".as_ref(),
            good.as_os_str(),
        ],
    );
    run.assert_code(0);
    let report = run.json();
    assert_eq!(
        keys(&report),
        strs(&["file", "settings", "valid", "warnings"])
    );
    assert_eq!(report["valid"], true);
    assert_eq!(
        keys(&report["settings"]),
        strs(&[
            "admin_listen",
            "admin_token",
            "blob_dir",
            "data_dir",
            "database",
            "ip_policy",
            "listen",
            "max_user_storage",
            "max_users",
            "max_volume_size",
            "metrics_public",
            "pins",
            "rates",
            "registration",
            "tls_mode",
            "trusted_proxies",
        ])
    );
    assert_eq!(report["settings"]["admin_listen"], "127.0.0.1:8444");
    assert_eq!(report["settings"]["registration"], "open");
    assert_eq!(report["settings"]["max_users"], serde_json::Value::Null);
    assert_eq!(report["settings"]["metrics_public"], false);
    let human = admin(&[], ["config".as_ref(), "check".as_ref(), good.as_os_str()]);
    human.assert_code(0);
    assert!(
        human.stdout.starts_with("configuration is valid: "),
        "{human:?}"
    );

    // The example file of the relay is valid.
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../relay/coffer-relay.example.toml"
    );
    admin(&[], ["config", "check", example]).assert_code(0);

    let bad = work.path().join("bad.toml");
    std::fs::write(&bad, "[limits]\nmax_volume = 5\n").unwrap();
    let run = admin(
        &[],
        [
            "--json".as_ref(),
            "config".as_ref(),
            "check".as_ref(),
            bad.as_os_str(),
        ],
    );
    run.assert_code(2);
    let report = run.json();
    assert_eq!(keys(&report), strs(&["error", "file", "valid", "warnings"]));
    assert_eq!(report["valid"], false);
    assert!(
        report["error"].as_str().unwrap().contains("max_volume"),
        "{report}"
    );
    assert!(
        run.stderr.contains("invalid relay configuration"),
        "{run:?}"
    );
    admin(&[], ["config", "check", "/nonexistent/relay.toml"]).assert_code(2);
    // --env applies the environment as the relay would.
    let run = admin(
        &[("COFFER_IP_POLICY", "bogus")],
        [
            "config".as_ref(),
            "check".as_ref(),
            good.as_os_str(),
            "--env".as_ref(),
        ],
    );
    run.assert_code(2);
    assert!(run.stdout.contains("COFFER_IP_POLICY"), "{run:?}");
}

#[test]
fn certificate_commands() {
    let work = tempfile::tempdir().unwrap();
    let tls = work.path().join("tls");
    let tls_arg = tls.to_str().unwrap();
    let run = admin(
        &[],
        [
            "--json",
            "cert",
            "generate",
            "--dir",
            tls_arg,
            "--name",
            "relay.lan",
            "--name",
            "192.168.1.50",
        ],
    );
    run.assert_code(0);
    let generated = run.json();
    assert_eq!(
        keys(&generated),
        strs(&["action", "names", "next_pin", "path", "pin"])
    );
    assert_eq!(
        generated["names"],
        json!(["localhost", "127.0.0.1", "::1", "relay.lan", "192.168.1.50"])
    );
    let pin = generated["pin"].as_str().unwrap().to_owned();
    // Never overwrites: exit 2, and the pin is unchanged.
    admin(&[], ["cert", "generate", "--dir", tls_arg]).assert_code(2);
    admin(
        &[],
        ["cert", "generate", "--dir", tls_arg, "--name", "bad name"],
    )
    .assert_code(2);

    let cert = tls.join("cert.pem");
    let shown = admin(
        &[],
        [
            "--json".as_ref(),
            "cert".as_ref(),
            "pin".as_ref(),
            cert.as_os_str(),
        ],
    );
    shown.assert_code(0);
    assert_eq!(
        keys(&shown.json()),
        strs(&["action", "next_pin", "path", "pin"])
    );
    assert_eq!(shown.json()["pin"], pin.as_str());
    let human = admin(&[], ["cert".as_ref(), "pin".as_ref(), cert.as_os_str()]);
    assert!(human.stdout.contains(&format!("pin   {pin}")), "{human:?}");
    admin(&[], ["cert", "pin", "/nonexistent.pem"]).assert_code(6);

    admin(&[], ["cert", "rotate", "--dir", tls_arg]).assert_code(2);
    let next = admin(&[], ["--json", "cert", "next", "--dir", tls_arg]).json();
    assert_eq!(
        keys(&next),
        strs(&["action", "names", "next_pin", "path", "pin"])
    );
    assert_eq!(next["pin"], pin.as_str());
    let next_pin = next["next_pin"].as_str().unwrap().to_owned();

    let pair = admin(
        &[],
        [
            "--url",
            "https://relay.lan:8443",
            "--json",
            "cert",
            "pair",
            "--dir",
            tls_arg,
        ],
    );
    pair.assert_code(0);
    let pairing = pair.json();
    assert_eq!(
        keys(&pairing),
        strs(&["next_pin", "origin", "pairing", "pin"])
    );
    let parsed: coffer_certs::RelayPairing = pairing["pairing"].as_str().unwrap().parse().unwrap();
    assert_eq!(parsed.pin().to_string(), pin);
    assert_eq!(
        parsed.next_pin().map(|p| p.to_string()),
        Some(next_pin.clone())
    );
    assert_eq!(parsed.origin(), "https://relay.lan:8443");
    let human = admin(
        &[],
        [
            "--url",
            "https://relay.lan:8443",
            "cert",
            "pair",
            "--dir",
            tls_arg,
        ],
    );
    human.assert_code(0);
    assert!(
        human
            .stdout
            .starts_with("coffer://relay?v=2&relay=https%3A%2F%2Frelay.lan%3A8443&pin=")
    );
    assert!(human.stdout.contains('\u{2588}'), "a QR code: {human:?}");
    let plain = admin(&[], ["--pin", &pin, "cert", "pair", "--no-qr"]);
    plain.assert_code(0);
    assert_eq!(plain.stdout.lines().count(), 1, "{plain:?}");
    admin(&[], ["cert", "pair"]).assert_code(2);

    let rotated = admin(&[], ["--json", "cert", "rotate", "--dir", tls_arg]).json();
    assert_eq!(
        keys(&rotated),
        strs(&["action", "next_pin", "path", "pin", "previous_pin"])
    );
    assert_eq!(rotated["pin"], next_pin.as_str());
    assert_eq!(rotated["previous_pin"], pin.as_str());
    assert_eq!(rotated["next_pin"], Value::Null);
}
