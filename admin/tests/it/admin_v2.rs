//! `coffer-admin` shows v2 (issue 15): a v2 System with signed volumes, a friend with a grant and
//! a pending pairing, seeded over the real v2 API (test-kit accounts: real key-binding proofs,
//! real logins, owner-signed headers and grants; payloads and wrapped keys are opaque bytes on
//! the v2 grid, which is all a relay sees) beside a v1 System; then `stats`, `users list`,
//! `users show`, `volumes` and `sharing` with the protocol column, paging and filter flags.

use coffer_test_kit::{Kind, V2Account};
use coffer_wire::b64;
use coffer_wire::v2::{
    AEAD_OVERHEAD, Grant, GrantEntry, Header, Label, VolumeName, padded_len, volume_payload_hash,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Api, Relay, TOKEN, User, payload};

fn v2_account(relay: &Relay, kind: Kind, handle: &str) -> V2Account {
    let api = coffer_test_kit::PinnedApi::blocking(&relay.url, relay.pin.parse().unwrap());
    let mut account = V2Account::new(kind).with_handle(Some(handle));
    api.run(async {
        let mut http = &api;
        account.register(&mut http).await?;
        account.login(&mut http).await
    })
    .unwrap_or_else(|e| panic!("v2 sign-up: {e}"));
    account
}

/// `PUT /api/v2/volumes/{name}`: version 1, epoch 1, an opaque payload on the v2 grid.
fn put_v2_volume(api: &Api, owner: &V2Account, name: &str, fill: u8) -> u64 {
    let len = padded_len(1500 + u64::from(fill)) + AEAD_OVERHEAD;
    let body = vec![fill; usize::try_from(len).unwrap()];
    let hour = (coffer_test_kit::now_unix() / 3600 * 3600) as u64;
    let header = Header {
        owner: owner.id_bytes(),
        volume: VolumeName::new(name).unwrap(),
        epoch: 1,
        version: 1,
        hour,
        payload_len: len,
        payload_hash: volume_payload_hash(&body),
    };
    let bytes = header.to_bytes();
    let (status, answer) = api.call(
        Method::PUT,
        &format!("/api/v2/volumes/{name}"),
        Some(&owner.token),
        Some(json!({
            "header": b64::encode(&bytes),
            "signature": owner.sign_labelled(Label::VolumeHeader, &bytes),
            "payload": b64::encode(&body),
        })),
    );
    assert!(status == 200 || status == 201, "{status} {answer}");
    len
}

/// Invite and redeem (the proof is opaque to the relay): a pending pairing.
fn pair_v2(api: &Api, system: &V2Account, friend: &V2Account) {
    let (status, invite) = api.call(
        Method::POST,
        "/api/v2/invites",
        Some(&system.token),
        Some(json!({})),
    );
    assert_eq!(status, 201, "{invite}");
    let (status, redeemed) = api.call(
        Method::POST,
        "/api/v2/invites/redeem",
        Some(&friend.token),
        Some(json!({ "code": invite["code"], "proof": b64::encode(&[7u8; 32]) })),
    );
    assert_eq!(status, 201, "{redeemed}");
}

/// An owner-signed grant of `volumes` (epoch 1) to `friend`, with opaque wrapped keys.
fn grant_v2(api: &Api, system: &V2Account, friend: &V2Account, volumes: &[&str]) {
    let grant = Grant {
        owner: system.id_bytes(),
        friend: friend.id_bytes(),
        friend_fingerprint: [9; 32],
        sequence: 1,
        expires_at: 0,
        entries: volumes
            .iter()
            .map(|v| GrantEntry {
                volume: VolumeName::new(v).unwrap(),
                epoch: 1,
            })
            .collect(),
    };
    let bytes = grant.to_bytes();
    let wrapped: Vec<Value> = volumes
        .iter()
        .map(|v| json!({ "volume": v, "epoch": 1, "wrapped_key": b64::encode(&[5u8; 60]) }))
        .collect();
    let (status, answer) = api.call(
        Method::PUT,
        &format!("/api/v2/grants/{}", friend.id),
        Some(&system.token),
        Some(json!({
            "grant": b64::encode(&bytes),
            "signature": system.sign_labelled(Label::Grant, &bytes),
            "wrapped_keys": wrapped,
        })),
    );
    assert_eq!(status, 200, "{answer}");
}

fn lines_with<'a>(out: &'a str, needle: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn coffer_admin_shows_v2_rows_with_protocol_paging_and_filters() {
    let work = tempfile::tempdir().unwrap();
    let relay = Relay::start(&work.path().join("data"), &[]);
    let api = relay.api();
    let mut v1 = User::register(&api, 31, "system", Some("old-sys"));
    v1.login(&api);
    v1.upload(&api, "members", 1, &payload(1, 1));

    let sys = v2_account(&relay, Kind::System, "new-sys");
    let friend = v2_account(&relay, Kind::Friend, "new-friend");
    let pending = v2_account(&relay, Kind::Friend, "new-pending");
    let sizes: Vec<u64> = [("meta", 1), ("org.example.notes", 2)]
        .iter()
        .map(|(name, fill)| put_v2_volume(&api, &sys, name, *fill))
        .collect();
    pair_v2(&api, &sys, &friend);
    grant_v2(&api, &sys, &friend, &["org.example.notes"]);
    pair_v2(&api, &sys, &pending);

    // volumes --protocol 2: the v2 rows only, with the PROTO column.
    let run = relay.admin(Some(TOKEN), ["volumes", "--protocol", "2"]);
    run.assert_code(0);
    assert!(run.stdout.starts_with("USER "), "{run:?}");
    assert!(
        run.stdout.lines().next().unwrap().contains(" PROTO "),
        "{run:?}"
    );
    let notes = lines_with(&run.stdout, "org.example.notes");
    assert_eq!(notes.len(), 1, "{run:?}");
    assert!(notes[0].starts_with(&sys.id), "{run:?}");
    assert!(
        notes[0].contains("org.example.notes      2        1"),
        "{run:?}"
    );
    assert!(
        lines_with(&run.stdout, "members").is_empty(),
        "v1 filtered out: {run:?}"
    );
    assert!(run.stdout.contains("2 volumes"), "{run:?}");
    let json = relay.json(&["volumes", "--protocol", "2"]);
    assert_eq!(json["total"], 2);
    assert!(
        json["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["protocol"] == 2 && v["epoch"] == 1),
        "{json}"
    );

    // Without flags: the whole list, v1 and v2, and one storage figure.
    let all = relay.json(&["volumes"]);
    assert_eq!(all["total"], 3);
    let stored: u64 = all["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["size_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(stored, 4096 + 28 + sizes.iter().sum::<u64>());
    let stats = relay.json(&["stats"]);
    assert_eq!(stats["total_storage_bytes"], stored);
    assert_eq!(stats["total_volumes"], 3);
    assert_eq!(stats["active_shares"], 1);
    assert_eq!(stats["pending_shares"], 1);
    let run = relay.admin(Some(TOKEN), ["stats"]);
    run.assert_code(0);
    assert!(run.stdout.contains("PROTO  USERS  VOLUMES"), "{run:?}");

    // Paging: --limit/--offset, and the footer says where the next page starts.
    let run = relay.admin(Some(TOKEN), ["volumes", "--limit", "2"]);
    run.assert_code(0);
    assert!(
        run.stdout
            .ends_with("2 of 3 shown; next page: --offset 2\n"),
        "{run:?}"
    );
    let first = relay.json(&["volumes", "--limit", "2"]);
    let second = relay.json(&["volumes", "--limit", "2", "--offset", "2"]);
    assert_eq!(first["next_offset"], 2);
    assert!(second["next_offset"].is_null());
    let mut joined = first["volumes"].as_array().unwrap().clone();
    joined.extend(second["volumes"].as_array().unwrap().iter().cloned());
    assert_eq!(Value::Array(joined), all["volumes"]);

    // users list: protocol and client-type filters; users show: the v2 volumes.
    let run = relay.admin(
        Some(TOKEN),
        [
            "users",
            "list",
            "--protocol",
            "2",
            "--client-type",
            "friend",
        ],
    );
    run.assert_code(0);
    assert!(run.stdout.contains("new-friend"), "{run:?}");
    assert!(run.stdout.contains("new-pending"), "{run:?}");
    assert!(!run.stdout.contains("new-sys"), "{run:?}");
    assert!(!run.stdout.contains("old-sys"), "{run:?}");
    let v1_users = relay.json(&["users", "list", "--protocol", "1"]);
    assert_eq!(v1_users["total"], 1);
    assert_eq!(v1_users["users"][0]["protocol"], 1);
    let run = relay.admin(Some(TOKEN), ["users", "show", &sys.id]);
    run.assert_code(0);
    assert!(run.stdout.contains("protocol version  2\n"), "{run:?}");
    assert!(run.stdout.contains("org.example.notes      2"), "{run:?}");
    assert!(run.stdout.contains("2 volumes"), "{run:?}");

    // sharing: the v2 grant (granted volumes, protocol, expiry column) and the pending pairing.
    let run = relay.admin(Some(TOKEN), ["sharing", "--protocol", "2"]);
    run.assert_code(0);
    assert!(
        run.stdout
            .lines()
            .next()
            .unwrap()
            .ends_with("EXPIRES (UTC)"),
        "{run:?}"
    );
    let granted = lines_with(&run.stdout, &friend.id);
    assert_eq!(granted.len(), 1, "{run:?}");
    assert!(
        granted[0].contains("  2  active   org.example.notes  "),
        "{run:?}"
    );
    assert!(granted[0].ends_with("  -"), "never expires: {run:?}");
    assert!(
        run.stdout
            .ends_with("\n2 relationships (1 active, 1 pending)\n"),
        "{run:?}"
    );
    let pending_only = relay.json(&["sharing", "--status", "pending"]);
    assert_eq!(pending_only["total"], 1);
    assert_eq!(pending_only["sharing"][0]["friend_user_id"], pending.id);

    // Flags are checked before anything is sent.
    relay
        .admin(Some(TOKEN), ["volumes", "--limit", "0"])
        .assert_code(2);
    relay
        .admin(Some(TOKEN), ["volumes", "--protocol", "3"])
        .assert_code(2);
    relay
        .admin(Some(TOKEN), ["users", "list", "--user-id", "../stats"])
        .assert_code(2);
}

#[test]
fn list_flags_are_documented_in_help() {
    for (args, flags) in [
        (
            &["volumes", "--help"][..],
            &[
                "--limit",
                "--offset",
                "--protocol",
                "--client-type",
                "--user-id",
                "--volume-name",
            ][..],
        ),
        (
            &["users", "list", "--help"][..],
            &[
                "--limit",
                "--offset",
                "--protocol",
                "--client-type",
                "--user-id",
            ][..],
        ),
        (
            &["sharing", "--help"][..],
            &["--limit", "--offset", "--protocol", "--status", "--user-id"][..],
        ),
    ] {
        let run = crate::support::admin(&[], args);
        run.assert_code(0);
        for flag in flags {
            assert!(run.stdout.contains(flag), "{args:?} lacks {flag}: {run:?}");
        }
    }
}
