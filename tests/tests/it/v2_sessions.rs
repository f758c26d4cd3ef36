//! Own sessions (docs/protocol-v2.md §11) against the real relay binary: the list with device
//! labels and `current`, revoking another device's session (refused at once, cached or not, and
//! answered `session_revoked` so that client stays signed out), another user's session id (404
//! like a missing one), revoking the others, logout, label validation, v1's token answer
//! unchanged — and every time the relay stores about content or activity, including blob file
//! times, hour-aligned at rest.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use coffer_client_core::client::{ClientError, FriendClient, SystemClient};
use coffer_client_core::transport::SessionProtocol;
use coffer_test_kit::{Kind as KitKind, V2Account};
use coffer_tests::client::{Kind, V1Client, default_permissions};
use coffer_tests::relay::{RelayProcess, files_under};
use coffer_tests::v2::{config_for, friend, memory_store, pair, system, vol};
use coffer_wire::v1::VolumeName as V1Name;
use reqwest::Method;
use serde_json::{Value, json};

/// Challenge and token for `account` by hand, with `label` as the token request's
/// `device_label` (`None`: the field is absent). The raw answer.
async fn v2_login_with(
    relay: &RelayProcess,
    account: &V2Account,
    label: Option<Value>,
) -> coffer_tests::http::Resp {
    let http = relay.http();
    let challenge = http
        .send(
            http.request(Method::POST, "/api/v2/auth/challenge")
                .json(&json!({ "user_id": account.id })),
        )
        .await;
    let nonce = challenge.expect_json(200)["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut body = account
        .token_body(relay.url().trim_end_matches('/'), &nonce)
        .unwrap();
    if let Some(label) = label {
        body["device_label"] = label;
    }
    http.send(http.request(Method::POST, "/api/v2/auth/token").json(&body))
        .await
}

async fn get_sessions(relay: &RelayProcess, token: &str) -> coffer_tests::http::Resp {
    let http = relay.http();
    http.send(
        http.request(Method::GET, "/api/v2/sessions")
            .bearer_auth(token),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phones_list_revoke_and_log_out() {
    let relay = RelayProcess::start().await;
    let base = config_for(relay.url(), relay.pin());
    let store = memory_store();
    let phone_a = SystemClient::register(
        base.clone().with_device_label("Phone A").unwrap(),
        Arc::clone(&store),
        None,
    )
    .await
    .unwrap();
    // The same account opened on a second device.
    let phone_b = SystemClient::open(
        base.clone().with_device_label("Phone B").unwrap(),
        Arc::clone(&store),
    )
    .await
    .unwrap();
    phone_a.login().await.unwrap();
    let listed = phone_b.list_sessions().await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let labels: BTreeSet<_> = listed
        .iter()
        .map(|s| s.device_label.as_ref().unwrap().as_str().to_owned())
        .collect();
    assert_eq!(labels, BTreeSet::from(["Phone A".into(), "Phone B".into()]));
    let current: Vec<_> = listed.iter().filter(|s| s.current).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(
        current[0].device_label.as_ref().unwrap().as_str(),
        "Phone B"
    );
    for s in &listed {
        assert_eq!(s.protocol, SessionProtocol::V2);
        assert_eq!(s.created_at.unix_seconds() % 3600, 0);
        assert_eq!(s.last_used_at.unix_seconds() % 3600, 0);
    }
    let a_id = listed.iter().find(|s| !s.current).unwrap().session_id;

    // Phone A's session is cached by the relay (it was just used); revoked, its very next
    // call fails, typed, and it does not log in again by itself.
    phone_a.list_sessions().await.unwrap();
    phone_b.revoke_session(a_id).await.unwrap();
    assert!(matches!(
        phone_a.list_sessions().await,
        Err(ClientError::Unauthorized)
    ));
    assert!(matches!(
        phone_a.list_sessions().await,
        Err(ClientError::Unauthorized)
    ));
    assert_eq!(phone_b.list_sessions().await.unwrap().len(), 1);
    // Revoked once is gone: naming it again is 404.
    assert!(matches!(
        phone_b.revoke_session(a_id).await,
        Err(ClientError::NotFound)
    ));

    // Another user's session id is answered like a missing one.
    let (other, _) = system(&base).await;
    let others = other.list_sessions().await.unwrap();
    assert!(matches!(
        phone_b.revoke_session(others[0].session_id).await,
        Err(ClientError::NotFound)
    ));
    assert_eq!(other.list_sessions().await.unwrap().len(), 1, "untouched");

    // Phone A signs in again explicitly; phone B ends every other session.
    phone_a.login().await.unwrap();
    assert_eq!(phone_b.list_sessions().await.unwrap().len(), 2);
    assert_eq!(phone_b.revoke_other_sessions().await.unwrap(), 1);
    assert!(matches!(
        phone_a.list_sessions().await,
        Err(ClientError::Unauthorized)
    ));

    // Logout: revoked on the relay, forgotten here; calls fail until an explicit login.
    phone_b.logout().await.unwrap();
    assert!(matches!(
        phone_b.list_sessions().await,
        Err(ClientError::Unauthorized)
    ));
    phone_b.login().await.unwrap();
    assert_eq!(phone_b.list_sessions().await.unwrap().len(), 1);

    // A friend has the same methods.
    let (friend_client, _) = friend(&base).await;
    assert_eq!(friend_client.list_sessions().await.unwrap().len(), 1);
    friend_client.logout().await.unwrap();
    assert!(matches!(
        friend_client.list_sessions().await,
        Err(ClientError::Unauthorized)
    ));
    let _: &FriendClient = &friend_client;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_tokens_labels_and_v1_bytes() {
    let relay = RelayProcess::start().await;
    let http = relay.http();
    let mut account = V2Account::new(KitKind::System);
    account.register(&mut &http).await.unwrap();

    // Label validation, like handles: 1–64 characters, no control characters.
    for bad in [
        json!(""),
        json!("a".repeat(65)),
        json!("tab\there"),
        json!(7),
    ] {
        v2_login_with(&relay, &account, Some(bad.clone()))
            .await
            .expect_error(400, "bad_request");
    }
    let ok = v2_login_with(&relay, &account, Some(json!("ü".repeat(64)))).await;
    let first = ok.expect_json(200)["token"].as_str().unwrap().to_owned();
    let second = v2_login_with(&relay, &account, None).await;
    let second = second.expect_json(200)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = get_sessions(&relay, &first).await;
    let sessions = listed.expect_json(200)["sessions"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(sessions.len(), 2);
    let labelled = sessions.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(labelled["device_label"], json!("ü".repeat(64)));
    let unlabelled = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(unlabelled["device_label"], Value::Null);
    // The public id is neither the token nor its digest.
    let id = unlabelled["session_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert!(!second.contains(id) && !id.contains(&second));

    // The second token is in the cache (just used), then revoked: refused at once, as revoked.
    get_sessions(&relay, &second).await.expect_json(200);
    let revoke = http
        .send(
            http.request(Method::DELETE, &format!("/api/v2/sessions/{id}"))
                .bearer_auth(&first),
        )
        .await;
    revoke.expect_status(204);
    get_sessions(&relay, &second)
        .await
        .expect_error(401, "session_revoked");
    // Not a UUID, or unknown: 404.
    for path in [
        "/api/v2/sessions/not-a-uuid",
        "/api/v2/sessions/6f1c2a3b-4d5e-4f60-8172-839405a6b7c8",
    ] {
        let r = http
            .send(http.request(Method::DELETE, path).bearer_auth(&first))
            .await;
        r.expect_error(404, "not_found");
    }
    // Logout through the raw endpoint.
    let out = http
        .send(
            http.request(Method::DELETE, "/api/v2/sessions/current")
                .bearer_auth(&first),
        )
        .await;
    out.expect_status(204);
    get_sessions(&relay, &first)
        .await
        .expect_error(401, "session_revoked");

    // v1: the token answer has exactly its two fields, the token its 64 characters; v1
    // accounts cannot use the v2 session list.
    let mut v1 = V1Client::new(&relay, Kind::System);
    v1.register_ok().await;
    let nonce = v1.challenge_nonce().await;
    let sig = v1.sign_login_b64(&nonce);
    let answer = v1.token_request(v1.user_id(), &nonce, &sig).await;
    let body = answer.expect_json(200).as_object().unwrap().clone();
    assert_eq!(
        body.keys().cloned().collect::<Vec<_>>(),
        vec!["expires_at".to_owned(), "token".to_owned()]
    );
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.len(), 64);
    get_sessions(&relay, token)
        .await
        .expect_error(403, "forbidden");
}

/// Time columns whose value must be a whole hour: every time about content or activity.
const HOURLY: &[(&str, &str)] = &[
    ("users", "created_at"),
    ("volumes", "updated_at"),
    ("volumes_v2", "updated_at"),
    ("sharing", "created_at"),
    ("sharing", "updated_at"),
    ("invite_codes", "created_at"),
    ("invite_codes", "expires_at"),
    ("invite_codes", "redeemed_at"),
    ("pairings", "created_at"),
    ("pairings", "updated_at"),
    ("grants", "updated_at"),
    ("auth_sessions", "created_at"),
    ("auth_sessions", "last_used_at"),
    ("owner_states", "updated_at"),
    // Registration codes (ADR 0024): issued, used and expiring on whole hours (an invite
    // code's row keeps the invite's expiry, itself rounded up to the hour).
    ("registration_codes", "created_at"),
    ("registration_codes", "used_at"),
    ("registration_codes", "expires_at"),
];

/// Time columns that are exact on purpose, each a security bound (docs/metadata-inventory.md):
/// a challenge lives its 5 minutes and a session its lifetime, not up to an hour more; a
/// grant's expiry is what its owner signed (0 = never), stored verbatim.
const EXACT: &[(&str, &str)] = &[
    ("auth_challenges", "expires_at"),
    ("auth_sessions", "expires_at"),
    ("grants", "expires_at"),
    // A device link lives ten minutes; its exact expiry is what ends it (§13).
    ("device_links", "expires_at"),
];

/// After a run that writes every kind of row (v1: accounts, volumes, an invite redeemed into a
/// sharing, accepted; v2: accounts, volumes, a pairing with a grant, sessions, a device link and
/// the owner state, a fetch receipt; registration codes, one used), every stored
/// time about content or activity is a whole hour, and so are the blob files' times. Every
/// `*_at` column of the schema is in one of the two lists: a new one fails here until it is
/// classified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stored_time_is_an_hour_or_a_security_expiry() {
    // Every payload a blob file, so that the files' times are checked too (an inline payload,
    // docs/adr/0027, has no time of its own).
    let mut relay = RelayProcess::builder()
        .env("COFFER_INLINE_MAX", "0")
        .start()
        .await;
    // v1.
    let sys = V1Client::system(&relay, "coarse-sys").await;
    let fr = V1Client::friend(&relay, "coarse-friend").await;
    sys.upload_ok(V1Name::Meta, 1, &json!({ "schema_version": 1 }))
        .await;
    let code = sys.invite().await;
    fr.redeem(&code).await.expect_json(201);
    let pending = sys.requests_list(Some("pending")).await;
    sys.accept(&pending[0], &default_permissions())
        .await
        .expect_status(200);
    let _spare_invite = sys.invite().await;
    // v2.
    let config = config_for(relay.url(), relay.pin());
    let (owner, _) = system(&config).await;
    let (reader, _) = friend(&config).await;
    owner.publish(&vol("meta"), b"{}").await.unwrap();
    pair(&owner, &reader, &[vol("meta")]).await;
    // Several devices and receipts (§13, §14): a pending device link, the shared owner state
    // the next publish writes, and the friend's receipt for the version it reads.
    let _offer = owner.link_device("coarse phone").await.unwrap();
    owner.publish(&vol("meta"), b"{\"v\":2}").await.unwrap();
    reader.fetch(owner.user_id(), &vol("meta")).await.unwrap();
    owner.create_invite().await.unwrap();
    // Registration codes (ADR 0024): invite-only after a restart, one code used, one open.
    relay.set_env("COFFER_REGISTRATION", Some("invite-only"));
    relay.restart().await;
    let admin = coffer_tests::client::Admin::new(&relay);
    let http = relay.http();
    let mut codes = Vec::new();
    for _ in 0..2 {
        let rb = admin.req(Method::POST, "/api/v1/admin/registration-codes");
        let created = http.send(rb).await;
        codes.push(
            created.expect_json(201)["code"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let body = V1Client::new(&relay, Kind::System).register_body();
    let rb = http
        .request(Method::POST, "/api/v1/register")
        .header("X-Registration-Code", &codes[0])
        .json(&body);
    http.send(rb).await.expect_json(201);
    relay.terminate().await;

    let db = rusqlite::Connection::open(relay.database_path()).unwrap();
    let mut columns = Vec::new();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in &tables {
        let names: Vec<String> = db
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .unwrap()
            .query_map([table], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for name in names.into_iter().filter(|n| n.ends_with("_at")) {
            columns.push((table.clone(), name));
        }
    }
    for (table, column) in &columns {
        let key = (table.as_str(), column.as_str());
        assert!(
            HOURLY.contains(&key) || EXACT.contains(&key),
            "{table}.{column} is a time the test does not classify"
        );
        let values: Vec<Option<i64>> = db
            .prepare(&format!("SELECT {column} FROM {table}"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        if HOURLY.contains(&key) {
            let present: Vec<i64> = values.into_iter().flatten().collect();
            assert!(!present.is_empty(), "the run wrote no {table}.{column}");
            for v in present {
                assert_eq!(v % 3600, 0, "{table}.{column} = {v} is not a whole hour");
            }
        }
    }
    // Receipts carry their hour in a column of its own (the signed receipt's hour).
    let hours: Vec<i64> = db
        .prepare("SELECT hour FROM receipts")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!hours.is_empty(), "the run wrote no receipt");
    assert!(hours.iter().all(|h| h % 3600 == 0), "{hours:?}");
    for key in HOURLY.iter().chain(EXACT) {
        assert!(
            columns
                .iter()
                .any(|(t, c)| (t.as_str(), c.as_str()) == *key),
            "{key:?} is not in the schema any more"
        );
    }
    // Blob files: modification times are hours (access times too when written; a read may
    // move those, see docs/metadata-inventory.md).
    let files = files_under(&relay.blob_dir());
    assert!(files.len() >= 2, "{files:?}");
    for file in files {
        let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
        let secs = modified.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs % 3600, 0, "{} has time {secs}", file.display());
    }
}
