#![allow(clippy::unwrap_used)]
//! Malformed and hostile input: every refusal is a JSON error with the right status and stable
//! code, and afterwards the relay's state (checked through the API) is unchanged. Also the rate
//! limits, trusted proxies, the protocol-version gate, CORS, unknown routes and wrong methods.

use coffer_tests::Resp;
use coffer_tests::client::{
    Admin, Kind, V1Client, default_permissions, upload_body_text, upload_body_with_header,
};
use coffer_tests::docs;
use coffer_tests::http::raw_exchange;
use coffer_tests::relay::{RelayProcess, files_under};
use coffer_wire::b64;
use coffer_wire::v1::VolumeName;
use reqwest::Method;
use serde_json::{Value, json};

/// What the API says about the relay's state.
#[derive(Debug, PartialEq)]
struct Snapshot {
    users: i64,
    total_volumes: i64,
    volumes: Vec<(String, i64, i64)>,
    sharing: Vec<(String, String, String)>,
}

async fn snapshot(admin: &Admin, sys: &V1Client) -> Snapshot {
    let stats = admin.stats().await;
    let mut volumes: Vec<(String, i64, i64)> = sys
        .list_volumes()
        .await
        .iter()
        .map(|h| {
            (
                h["volume_name"].as_str().unwrap().to_owned(),
                h["version"].as_i64().unwrap(),
                h["size_bytes"].as_i64().unwrap(),
            )
        })
        .collect();
    volumes.sort();
    let sharing = admin.get_ok("/api/v1/admin/sharing").await;
    let mut sharing: Vec<(String, String, String)> = sharing["sharing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
                s["permissions"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    sharing.sort();
    Snapshot {
        users: stats["system_users"].as_i64().unwrap() + stats["friend_users"].as_i64().unwrap(),
        total_volumes: stats["total_volumes"].as_i64().unwrap(),
        volumes,
        sharing,
    }
}

fn url_safe(s: &str) -> String {
    s.replace('+', "-").replace('/', "_")
}

/// The URL-safe form of `s`, or — if `s` has no `+`/`/` to translate — `s` with its first
/// character replaced by `-` (still a URL-safe-only character), so the result is never valid
/// standard base64.
fn url_safe_variant(s: &str) -> String {
    if s.contains('+') || s.contains('/') {
        url_safe(s)
    } else {
        format!("-{}", &s[1..])
    }
}

/// Malformed variants of a base64 field that must decode to `len` bytes.
fn bad_b64_variants(len: usize) -> Vec<(String, Value)> {
    let good = loop {
        let bytes: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
        let k = b64::encode(&bytes);
        if k.contains('+') || k.contains('/') {
            break k;
        }
    };
    let mut v = vec![
        ("URL-safe alphabet".to_owned(), json!(url_safe(&good))),
        ("garbage".into(), json!("not base64 at all!!")),
        (
            "embedded whitespace".into(),
            json!(format!("{} {}", &good[..20], &good[20..])),
        ),
        ("leading space".into(), json!(format!(" {good}"))),
        (
            format!("{} bytes", len - 1),
            json!(b64::encode(&vec![1u8; len - 1])),
        ),
        (
            format!("{} bytes", len + 1),
            json!(b64::encode(&vec![1u8; len + 1])),
        ),
        ("empty".into(), json!("")),
        ("number".into(), json!(12345)),
        ("null".into(), Value::Null),
    ];
    if good.ends_with('=') {
        v.insert(
            1,
            ("missing padding".into(), json!(good.trim_end_matches('='))),
        );
    } else {
        v.insert(1, ("extra padding".into(), json!(format!("{good}=="))));
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_refusals() {
    let relay = RelayProcess::start().await;
    let admin = Admin::new(&relay);
    let sys = V1Client::system(&relay, "reg-owner").await;
    let before = snapshot(&admin, &sys).await;
    let probe = V1Client::new(&relay, Kind::Friend).with_handle(Some("probe"));
    let good = probe.register_body();
    let path = "/api/v1/register";

    // Not JSON / not an object.
    for raw in [
        "",
        "{",
        "not json",
        "[]",
        "\"text\"",
        "42",
        "null",
        "{\"a\":1,}",
    ] {
        probe
            .call_raw(Method::POST, path, raw)
            .await
            .expect_error(400, "bad_request");
    }
    // Missing fields (handle is optional).
    for key in [
        "public_signing_key",
        "public_exchange_key",
        "client_type",
        "protocol_version",
        "feature_set",
    ] {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(key);
        let r = probe.post(path, &b).await;
        assert_eq!(r.status, 400, "without {key}: {}", r.describe());
        r.expect_error(400, "bad_request");
    }
    // Wrong types and values.
    for (key, bad) in [
        ("client_type", json!("admin")),
        ("client_type", json!("System")),
        ("client_type", json!(5)),
        ("client_type", Value::Null),
        ("protocol_version", json!("1")),
        ("protocol_version", json!(1.5)),
        ("protocol_version", Value::Null),
        ("feature_set", json!("meta:1")),
        ("feature_set", json!([1, 2])),
        ("feature_set", json!({"meta": 1})),
        ("feature_set", Value::Null),
        ("handle", json!(5)),
        ("handle", json!(["x"])),
        ("handle", json!({"h": "x"})),
    ] {
        let mut b = good.clone();
        b[key] = bad.clone();
        let r = probe.post(path, &b).await;
        assert_eq!(r.status, 400, "{key} = {bad}: {}", r.describe());
        r.expect_error(400, "bad_request");
    }
    // Keys: strict standard base64, exactly 32 bytes.
    for key in ["public_signing_key", "public_exchange_key"] {
        for (what, bad) in bad_b64_variants(32) {
            let mut b = good.clone();
            b[key] = bad;
            let r = probe.post(path, &b).await;
            assert_eq!(r.status, 400, "{key} {what}: {}", r.describe());
            r.expect_error(400, "bad_request");
        }
    }
    // Huge handle / feature_set → refused (400, or 413 if over the body limit), never stored.
    for (key, huge) in [
        ("handle", json!("h".repeat(100_000))),
        ("feature_set", json!(vec!["meta:1"; 100_000])),
    ] {
        let mut b = good.clone();
        b[key] = huge;
        let r = probe.post(path, &b).await;
        match r.status {
            400 => r.expect_error(400, "bad_request"),
            413 => r.expect_error(413, "payload_too_large"),
            _ => panic!("huge {key}: {}", r.describe()),
        };
    }
    // Handle taken (exact match, trimmed first) and old protocol.
    let mut b = good.clone();
    b["handle"] = json!("  reg-owner ");
    probe
        .post(path, &b)
        .await
        .expect_error_message(409, "conflict", "Handle already taken");
    // Handles are unique across client types: a friend cannot take a system's handle.
    let mut b = good.clone();
    b["handle"] = json!("reg-owner");
    probe
        .post(path, &b)
        .await
        .expect_error_message(409, "conflict", "Handle already taken");
    let mut b = good.clone();
    b["protocol_version"] = json!(0);
    probe.post(path, &b).await.expect_error_message(
        426,
        "upgrade_required",
        "This server requires protocol version 1+",
    );

    assert_eq!(
        snapshot(&admin, &sys).await,
        before,
        "a refused registration changed state"
    );

    // A long handle is either refused or truncated to 64 characters (v1.md §1.3 #2).
    let mut b = good.clone();
    b["handle"] = json!(format!("long-{}", "x".repeat(195)));
    let r = probe.post(path, &b).await;
    if r.status == 201 {
        let users = admin.get_ok("/api/v1/admin/users").await;
        let id = r.json()["user_id"].as_str().unwrap();
        let u = users["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id)
            .unwrap()
            .clone();
        assert!(u["handle"].as_str().unwrap().chars().count() <= 64, "{u}");
    } else {
        r.expect_error(400, "bad_request");
    }
    // The untouched body still registers: the refusals were about the fields.
    let mut ok = probe;
    ok.register_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refusals() {
    let relay = RelayProcess::start().await;
    let mut alice = V1Client::system(&relay, "alice").await;
    let bob = V1Client::friend(&relay, "bob").await;
    let a = alice.user_id().to_owned();

    // Challenge input.
    for body in [
        json!({}),
        json!({"user_id": 5}),
        json!({"user_id": null}),
        json!({"user_id": "not-a-uuid"}),
    ] {
        let r = alice.post("/api/v1/auth/challenge", &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.describe());
        r.expect_error(400, "bad_request");
    }
    alice
        .call_raw(Method::POST, "/api/v1/auth/challenge", "[1]")
        .await
        .expect_error(400, "bad_request");
    alice
        .post(
            "/api/v1/auth/challenge",
            &json!({"user_id": uuid::Uuid::new_v4().to_string()}),
        )
        .await
        .expect_error(404, "not_found");

    // Token input shape.
    let nonce = alice.challenge_nonce().await;
    assert_eq!(
        b64::decode_strict(&nonce).map(|b| b.len()),
        Ok(32),
        "nonce {nonce:?}"
    );
    let sig = alice.sign_login_b64(&nonce);
    for body in [
        json!({"nonce": nonce, "signature": sig}),
        json!({"user_id": a, "signature": sig}),
        json!({"user_id": a, "nonce": nonce}),
        json!({"user_id": a, "nonce": nonce, "signature": b64::encode(&[1u8; 63])}),
        json!({"user_id": a, "nonce": nonce, "signature": b64::encode(&[1u8; 65])}),
        json!({"user_id": a, "nonce": nonce, "signature": url_safe_variant(&sig)}),
        json!({"user_id": a, "nonce": nonce, "signature": sig.trim_end_matches('=')}),
        json!({"user_id": a, "nonce": 5, "signature": sig}),
        json!({"user_id": "nope", "nonce": nonce, "signature": sig}),
    ] {
        let r = alice.post("/api/v1/auth/token", &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.describe());
        r.expect_error(400, "bad_request");
    }
    let r = alice
        .token_request(&uuid::Uuid::new_v4().to_string(), &nonce, &sig)
        .await;
    r.expect_error(404, "not_found");

    // A bad signature consumes the challenge: the right one afterwards → 403.
    let nonce = alice.challenge_nonce().await;
    let wrong = b64::encode(&alice.sign_raw(b"something else"));
    alice
        .token_request(&a, &nonce, &wrong)
        .await
        .expect_error(403, "forbidden");
    alice
        .token_request(&a, &nonce, &alice.sign_login_b64(&nonce))
        .await
        .expect_error(403, "forbidden");

    // Signing the decoded nonce bytes is wrong (v1 signs the text) and also consumes it.
    let nonce = alice.challenge_nonce().await;
    let decoded_sig = b64::encode(&alice.sign_raw(&b64::decode_strict(&nonce).unwrap()));
    alice
        .token_request(&a, &nonce, &decoded_sig)
        .await
        .expect_error(403, "forbidden");
    alice
        .token_request(&a, &nonce, &alice.sign_login_b64(&nonce))
        .await
        .expect_error(403, "forbidden");

    // Another user's nonce: refused and consumed for its owner too.
    let bobs = bob.challenge_nonce().await;
    alice
        .token_request(&a, &bobs, &alice.sign_login_b64(&bobs))
        .await
        .expect_error(403, "forbidden");
    bob.token_request(bob.user_id(), &bobs, &bob.sign_login_b64(&bobs))
        .await
        .expect_error(403, "forbidden");

    // A nonce never issued; a replayed, successful one.
    let made_up = b64::encode(&[9u8; 32]);
    alice
        .token_request(&a, &made_up, &alice.sign_login_b64(&made_up))
        .await
        .expect_error(403, "forbidden");
    let nonce = alice.challenge_nonce().await;
    let sig = alice.sign_login_b64(&nonce);
    alice.token_request(&a, &nonce, &sig).await.expect_json(200);
    alice
        .token_request(&a, &nonce, &sig)
        .await
        .expect_error(403, "forbidden");

    // Several outstanding challenges are fine, and login still works.
    let n1 = alice.challenge_nonce().await;
    let n2 = alice.challenge_nonce().await;
    assert_ne!(n1, n2);
    alice
        .token_request(&a, &n2, &alice.sign_login_b64(&n2))
        .await
        .expect_json(200);
    alice.login().await;
    alice.get("/api/v1/volumes").await.expect_json(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_of_challenges_and_sessions() {
    let relay = RelayProcess::builder()
        .env("COFFER_CHALLENGE_LIFETIME", "3")
        .env("COFFER_SESSION_LIFETIME", "3")
        .start()
        .await;
    let mut sys = V1Client::system(&relay, "expiring").await;
    sys.get("/api/v1/volumes").await.expect_json(200);
    let old_nonce = sys.challenge_nonce().await;
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    sys.token_request(sys.user_id(), &old_nonce, &sys.sign_login_b64(&old_nonce))
        .await
        .expect_error(403, "forbidden");
    sys.get("/api/v1/volumes")
        .await
        .expect_error(401, "unauthorized");
    sys.login().await;
    sys.get("/api/v1/volumes").await.expect_json(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_refusals() {
    let relay = RelayProcess::start().await;
    let admin = Admin::new(&relay);
    let sys = V1Client::system(&relay, "upload-owner").await;
    let friend = V1Client::friend(&relay, "upload-friend").await;
    let v1 = sys.upload_ok(VolumeName::Meta, 1, &docs::meta()).await;
    let before = snapshot(&admin, &sys).await;
    let good = sys.seal(VolumeName::Meta, 2, &docs::meta());
    let header = serde_json::from_str::<Value>(&good.header.canonical_json()).unwrap();
    let payload = b64::encode(&good.blob);
    let signature = b64::encode(&good.signature);
    let body_of = |h: &Value, p: &Value, s: &Value| {
        let mut o = serde_json::Map::new();
        if !h.is_null() {
            o.insert("control_header".into(), h.clone());
        }
        if !p.is_null() {
            o.insert("encrypted_payload".into(), p.clone());
        }
        if !s.is_null() {
            o.insert("signature".into(), s.clone());
        }
        Value::Object(o).to_string()
    };
    let mut cases: Vec<(String, String, String, u16, Option<&str>)> = Vec::new();
    let mut add = |what: &str, name: &str, body: String, status: u16, msg: Option<&'static str>| {
        cases.push((what.to_owned(), name.to_owned(), body, status, msg));
    };

    // Unknown volume names.
    for name in ["notes", "Meta", "org.example.notes", "pvsb-1", "meta%20"] {
        add(
            "unknown name",
            name,
            upload_body_text(&good),
            400,
            Some("Invalid volume name"),
        );
    }
    // Not JSON / not an object / missing parts.
    for raw in ["", "{", "[]", "null", "\"x\""] {
        add("malformed body", "meta", raw.to_owned(), 400, None);
    }
    add(
        "no header",
        "meta",
        body_of(&Value::Null, &json!(payload), &json!(signature)),
        400,
        None,
    );
    add(
        "no payload",
        "meta",
        body_of(&header, &Value::Null, &json!(signature)),
        400,
        None,
    );
    add(
        "no signature",
        "meta",
        body_of(&header, &json!(payload), &Value::Null),
        400,
        None,
    );
    add(
        "header is a string",
        "meta",
        body_of(
            &json!(good.header.canonical_json()),
            &json!(payload),
            &json!(signature),
        ),
        400,
        None,
    );
    add(
        "payload is a number",
        "meta",
        body_of(&header, &json!(5), &json!(signature)),
        400,
        None,
    );
    add(
        "signature is a list",
        "meta",
        body_of(&header, &json!(payload), &json!([1])),
        400,
        None,
    );
    // Header fields.
    for (key, bad) in [
        ("volume_name", json!("members")),
        ("volume_name", json!(5)),
        ("version", json!(0)),
        ("version", json!(-1)),
        ("version", json!("2")),
        ("version", json!(2.5)),
        ("version", json!(9_223_372_036_854_775_808_u64)),
        ("version", Value::Null),
        ("modified_at", json!("now")),
        ("size_bytes", json!("4124")),
    ] {
        let mut h = header.clone();
        h[key] = bad.clone();
        add(
            &format!("header {key}={bad}"),
            "meta",
            body_of(&h, &json!(payload), &json!(signature)),
            400,
            None,
        );
    }
    for key in ["volume_name", "version", "modified_at", "size_bytes"] {
        let mut h = header.clone();
        h.as_object_mut().unwrap().remove(key);
        add(
            &format!("header without {key}"),
            "meta",
            body_of(&h, &json!(payload), &json!(signature)),
            400,
            None,
        );
    }
    // Validly signed, but not what a v1 app sends: modified_at off the hour, size_bytes ≠
    // payload length, payload off the 28 + 4096·k grid.
    let signed = |h: &coffer_wire::v1::ControlHeader, blob: &[u8]| {
        upload_body_with_header(
            &h.canonical_json(),
            &b64::encode(blob),
            &b64::encode(&sys.sign_raw(&h.signature_input(blob))),
        )
    };
    let mut h = good.header.clone();
    h.modified_at += 1;
    add(
        "modified_at not on the hour",
        "meta",
        signed(&h, &good.blob),
        400,
        None,
    );
    let mut h = good.header.clone();
    h.size_bytes += 4096;
    add(
        "size_bytes larger than the payload",
        "meta",
        signed(&h, &good.blob),
        400,
        None,
    );
    for len in [4125usize, 4096, 28, 0, 8219] {
        let blob: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let mut h = good.header.clone();
        h.size_bytes = len as u64;
        add(
            &format!("payload of {len} bytes"),
            "meta",
            signed(&h, &blob),
            400,
            None,
        );
    }
    // Payload and signature encodings.
    // (The real payload is used where it matters: a 4124-byte blob has one '=' of padding.)
    for (what, bad) in [
        ("URL-safe alphabet", json!(url_safe_variant(&payload))),
        ("missing padding", json!(payload.trim_end_matches('='))),
        ("garbage", json!("not base64 at all!!")),
        (
            "embedded newline",
            json!(format!("{}\n{}", &payload[..76], &payload[76..])),
        ),
        ("empty", json!("")),
    ] {
        add(
            &format!("payload {what}"),
            "meta",
            body_of(&header, &bad, &json!(signature)),
            400,
            None,
        );
    }
    for (what, bad) in bad_b64_variants(64) {
        add(
            &format!("signature {what}"),
            "meta",
            body_of(&header, &json!(payload), &bad),
            400,
            None,
        );
    }
    // Signature by another key → 403.
    let other = V1Client::new(&relay, Kind::System);
    let forged = b64::encode(&other.sign_raw(&good.header.signature_input(&good.blob)));
    add(
        "signature by another key",
        "meta",
        body_of(&header, &json!(payload), &json!(forged)),
        403,
        Some("Invalid volume signature"),
    );
    // A signature over the body of another version.
    add(
        "signature of v1",
        "meta",
        body_of(&header, &json!(payload), &json!(b64::encode(&v1.signature))),
        403,
        Some("Invalid volume signature"),
    );
    // Stale version → 409 (checked before the signature, observed §15).
    let stale = sys.seal(VolumeName::Meta, 1, &docs::meta());
    add(
        "stale version",
        "meta",
        upload_body_text(&stale),
        409,
        Some("Volume version must be > 1, got 1"),
    );
    add(
        "stale version, bad signature",
        "meta",
        upload_body_with_header(
            &stale.header.canonical_json(),
            &b64::encode(&stale.blob),
            &forged,
        ),
        409,
        None,
    );

    for (what, name, body, status, msg) in &cases {
        let r = sys.put_volume_raw(name, body.clone()).await;
        assert_eq!(r.status, *status, "{what}: {}", r.describe());
        let code = match status {
            400 => "bad_request",
            403 => "forbidden",
            409 => "conflict",
            _ => unreachable!(),
        };
        match msg {
            Some(m) => r.expect_error_message(*status, code, m),
            None => r.expect_error(*status, code),
        };
        if *status == 409 {
            assert_eq!(r.json()["current_version"], 1, "{what}: {}", r.describe());
        }
    }
    // A friend cannot upload, even a perfect body.
    friend
        .put_volume_raw("meta", upload_body_text(&good))
        .await
        .expect_error_message(
            403,
            "forbidden",
            "Only system clients can perform this action",
        );

    assert_eq!(
        snapshot(&admin, &sys).await,
        before,
        "a refused upload changed state"
    );
    let own = sys.download_own("meta", None).await;
    assert_eq!(
        own.expect_json(200)["encrypted_payload"],
        json!(b64::encode(&v1.blob)),
        "the stored blob changed"
    );
    // The good body was fine all along.
    sys.put_sealed(&good).await.expect_json(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_and_quota() {
    let relay = RelayProcess::builder()
        .env("COFFER_MAX_VOLUME_SIZE", "8220")
        .env("COFFER_MAX_USER_STORAGE", "12400")
        .start()
        .await;
    let admin = Admin::new(&relay);
    let sys = V1Client::system(&relay, "big-owner").await;
    let before = snapshot(&admin, &sys).await;
    let token = sys.token().unwrap().to_owned();
    let addr = relay.url().trim_start_matches("https://").to_owned();

    // Content-Length far over the limit and no body at all: the relay must answer from the
    // header alone (it cannot wait for 50 MB that never come).
    let head = format!(
        "PUT /api/v1/volumes/meta HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         X-Protocol-Version: 1\r\nAuthorization: Bearer {token}\r\nContent-Length: 50000000\r\n\r\n"
    );
    let r = raw_exchange(relay.url(), relay.pin(), &head, Vec::new())
        .await
        .into_resp("PUT /api/v1/volumes/meta (Content-Length 50 MB, no body)");
    r.expect_error(413, "payload_too_large");

    // The same on a non-upload route.
    let head = format!(
        "POST /api/v1/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 50000000\r\n\r\n"
    );
    let r = raw_exchange(relay.url(), relay.pin(), &head, b"{\"handle\":\"".to_vec())
        .await
        .into_resp("POST /api/v1/register (Content-Length 50 MB)");
    r.expect_error(413, "payload_too_large");

    // A real, validly signed upload whose payload is over the 8220-byte volume limit.
    let big = sys.seal_bytes(VolumeName::Journal, 1, &vec![b'j'; 3 * 4096]);
    assert_eq!(big.blob.len(), 12_316);
    sys.put_sealed(&big)
        .await
        .expect_error(413, "payload_too_large");

    // Exactly the volume limit is fine; the quota (12,400) then holds 8220 + 4124 = 12,344.
    let at_limit = sys.seal_bytes(VolumeName::Meta, 1, &vec![b'm'; 2 * 4096]);
    assert_eq!(at_limit.blob.len(), 8220);
    sys.put_sealed(&at_limit).await.expect_json(200);
    sys.upload_ok(VolumeName::Members, 1, &docs::members())
        .await;
    sys.upload(VolumeName::Fronts, 1, &docs::fronts())
        .await
        .0
        .expect_error(413, "payload_too_large");
    // Replacing a volume counts its new size instead of the old one (only the latest version
    // is kept, v1.md §3 storage_used_bytes = sum of stored blob sizes).
    let replacement = sys.seal_bytes(VolumeName::Meta, 2, &vec![b'n'; 2 * 4096]);
    sys.put_sealed(&replacement).await.expect_json(200);
    let listed = sys.list_volumes().await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let after = snapshot(&admin, &sys).await;
    assert_eq!(after.users, before.users);
    assert_eq!(after.total_volumes, 2);
    assert_eq!(admin.stats().await["total_storage_bytes"], 12_344);
    assert!(files_under(&relay.data_dir().join("blobs")).len() <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_refusals() {
    let relay = RelayProcess::start().await;
    let admin = Admin::new(&relay);
    let sys = V1Client::system(&relay, "share-owner").await;
    let friend = V1Client::friend(&relay, "share-friend").await;
    let other_friend = V1Client::friend(&relay, "share-other").await;
    sys.upload_ok(VolumeName::Meta, 1, &docs::meta()).await;
    let pending = friend.request_share(sys.user_id()).await;
    let pending_id = pending.expect_json(201)["id"].as_str().unwrap().to_owned();
    let entry = sys.requests_list(None).await.remove(0);
    let blob = sys.wrap_vek_for(&friend.exchange_key_b64());
    let before = snapshot(&admin, &sys).await;

    let respond = "/api/v1/sharing/respond";
    let good = json!({
        "request_id": pending_id, "accepted": true,
        "encrypted_vek_blob": blob, "permissions": default_permissions()
    });
    let mut bad_bodies: Vec<(String, Value)> = Vec::new();
    for (key, bad) in [
        ("accepted", json!("false")),
        ("accepted", json!("true")),
        ("accepted", json!(1)),
        ("accepted", json!(0)),
        ("accepted", Value::Null),
        ("request_id", json!(5)),
        ("request_id", json!("not-a-uuid")),
        ("permissions", json!(["share_vault"])),
        ("permissions", json!("share_members")),
        ("permissions", json!(true)),
    ] {
        let mut b = good.clone();
        b[key] = bad.clone();
        bad_bodies.push((format!("{key}={bad}"), b));
    }
    for key in ["request_id", "accepted", "encrypted_vek_blob"] {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(key);
        bad_bodies.push((format!("without {key}"), b));
    }
    for (what, bad) in bad_b64_variants(60) {
        let mut b = good.clone();
        b["encrypted_vek_blob"] = bad;
        bad_bodies.push((format!("blob {what}"), b));
    }
    for (what, body) in &bad_bodies {
        let r = sys.post(respond, body).await;
        assert_eq!(r.status, 400, "respond {what}: {}", r.describe());
        r.expect_error(400, "bad_request");
    }
    for raw in ["", "{", "[]", "7"] {
        sys.call_raw(Method::POST, respond, raw)
            .await
            .expect_error(400, "bad_request");
    }
    sys.post(
        respond,
        &json!({"request_id": uuid::Uuid::new_v4().to_string(), "accepted": false}),
    )
    .await
    .expect_error(404, "not_found");

    // sharing/request.
    let req = "/api/v1/sharing/request";
    for (what, body, status) in [
        (
            "no to",
            json!({"from_user_id": other_friend.user_id()}),
            400,
        ),
        ("no from", json!({"to_user_id": sys.user_id()}), 400),
        (
            "to not a uuid",
            json!({"from_user_id": other_friend.user_id(), "to_user_id": "x"}),
            400,
        ),
        (
            "to a number",
            json!({"from_user_id": other_friend.user_id(), "to_user_id": 5}),
            400,
        ),
        (
            "friend to friend",
            json!({"from_user_id": other_friend.user_id(), "to_user_id": friend.user_id()}),
            400,
        ),
        (
            "from someone else",
            json!({"from_user_id": friend.user_id(), "to_user_id": sys.user_id()}),
            403,
        ),
        (
            "to unknown",
            json!({"from_user_id": other_friend.user_id(), "to_user_id": uuid::Uuid::new_v4().to_string()}),
            404,
        ),
    ] {
        let r = other_friend.post(req, &body).await;
        assert_eq!(r.status, status, "request {what}: {}", r.describe());
    }
    friend
        .request_share(sys.user_id())
        .await
        .expect_error(409, "conflict");
    sys.post(
        req,
        &json!({"from_user_id": sys.user_id(), "to_user_id": sys.user_id()}),
    )
    .await
    .expect_error(400, "bad_request");

    // redeem.
    for body in [json!({}), json!({"code": 5}), json!({"code": null})] {
        let r = other_friend.post("/api/v1/sharing/redeem", &body).await;
        assert_eq!(r.status, 400, "redeem {body}: {}", r.describe());
    }
    other_friend
        .redeem("AAAAAAAAAAAA")
        .await
        .expect_error_message(404, "not_found", "Invalid invite code");

    // Permissions on a pending row, and malformed permissions.
    sys.patch_permissions(&pending_id, &default_permissions())
        .await
        .expect_error(400, "bad_request");
    assert_eq!(
        snapshot(&admin, &sys).await,
        before,
        "a refused sharing call changed state"
    );
    let still = sys.requests_list(None).await;
    assert_eq!(still.len(), 1);
    assert_eq!(still[0]["encrypted_vek_blob"], Value::Null);

    // Now accept properly; then malformed PATCHes change nothing.
    sys.accept(&entry, &default_permissions())
        .await
        .expect_json(200);
    let accepted = snapshot(&admin, &sys).await;
    for (what, body) in [
        ("list", json!({"permissions": ["share_vault"]})),
        ("string", json!({"permissions": "share_vault"})),
        ("null", json!({"permissions": null})),
        ("missing", json!({})),
    ] {
        let r = sys
            .call(
                Method::PATCH,
                &format!("/api/v1/sharing/{pending_id}/permissions"),
                Some(&body),
            )
            .await;
        assert_eq!(r.status, 400, "PATCH permissions {what}: {}", r.describe());
        r.expect_error(400, "bad_request");
    }
    sys.call_raw(
        Method::PATCH,
        &format!("/api/v1/sharing/{pending_id}/permissions"),
        "{",
    )
    .await
    .expect_error(400, "bad_request");
    sys.patch_permissions(&uuid::Uuid::new_v4().to_string(), &default_permissions())
        .await
        .expect_error(404, "not_found");
    assert_eq!(snapshot(&admin, &sys).await, accepted);
    // Downloads still work (the reference relay crashed after a list was stored).
    let active = friend.requests_list(Some("active")).await;
    let vek = friend.unwrap_vek(&active[0]);
    let r = friend.shared_get(sys.user_id(), "meta", None).await;
    coffer_tests::client::open_volume(r.expect_json(200), "meta", &vek, &sys.signing_key_b64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_uuid_ids_routes_and_methods() {
    let relay = RelayProcess::start().await;
    let admin = Admin::new(&relay);
    let sys = V1Client::system(&relay, "routes-sys").await;
    let friend = V1Client::friend(&relay, "routes-friend").await;
    let before = snapshot(&admin, &sys).await;

    // Non-UUID ids in paths: 400 (malformed) or 404 (no such thing); /shared/ may also say 403
    // ("No active sharing relationship", as v1 does for any unknown system).
    let cases: Vec<(&V1Client, Method, String, &[u16])> = vec![
        (
            &friend,
            Method::GET,
            "/api/v1/shared/not-a-uuid/volumes".into(),
            &[400, 403, 404],
        ),
        (
            &friend,
            Method::GET,
            "/api/v1/shared/not-a-uuid/volumes/meta".into(),
            &[400, 403, 404],
        ),
        (
            &sys,
            Method::PATCH,
            "/api/v1/sharing/not-a-uuid/permissions".into(),
            &[400, 404],
        ),
        (
            &sys,
            Method::DELETE,
            "/api/v1/sharing/not-a-uuid".into(),
            &[400, 404],
        ),
        (
            &sys,
            Method::DELETE,
            "/api/v1/sharing/%27%3B--".into(),
            &[400, 404],
        ),
    ];
    for (client, method, path, allowed) in cases {
        let body = (method == Method::PATCH).then(|| json!({"permissions": default_permissions()}));
        let r = client.call(method, &path, body.as_ref()).await;
        assert!(allowed.contains(&r.status), "{}", r.describe());
        let code = match r.status {
            400 => "bad_request",
            403 => "forbidden",
            _ => "not_found",
        };
        r.expect_error(r.status, code);
    }
    let r = admin
        .call(Method::GET, "/api/v1/admin/users/not-a-uuid")
        .await;
    assert!([400, 404].contains(&r.status), "{}", r.describe());
    let r = admin
        .call(Method::DELETE, "/api/v1/admin/users/not-a-uuid")
        .await;
    assert!([400, 404].contains(&r.status), "{}", r.describe());

    // Unknown routes → JSON 404.
    for path in [
        "/",
        "/api/v1",
        "/api/v1/nope",
        "/api/v2/health",
        "/api/v1/volumes/meta/extra",
        "/index.html",
    ] {
        sys.get(path).await.expect_error(404, "not_found");
    }
    // Wrong methods → JSON 405.
    for (method, path) in [
        (Method::GET, "/api/v1/sharing/invite"),
        (Method::POST, "/api/v1/health"),
        (Method::DELETE, "/api/v1/register"),
        (Method::GET, "/api/v1/auth/token"),
        (Method::POST, "/api/v1/volumes"),
        (Method::POST, "/api/v1/volumes/meta"),
        (Method::PUT, "/api/v1/sharing/respond"),
        (Method::GET, "/api/v1/_maintenance"),
    ] {
        let r = sys.call(method.clone(), path, None).await;
        assert_eq!(r.status, 405, "{method} {path}: {}", r.describe());
        r.expect_error(405, "method_not_allowed");
    }
    assert_eq!(snapshot(&admin, &sys).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_and_protocol_gate() {
    let relay = RelayProcess::start().await;
    let sys = V1Client::system(&relay, "gate-sys").await;
    let http = relay.http();

    // CORS on every response, OPTIONS → 204 anywhere.
    let check_cors = |r: &Resp| {
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("*"),
            "{}",
            r.describe()
        );
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("Content-Type, Authorization, X-Protocol-Version, X-Feature-Set, If-None-Match"),
            "{}",
            r.describe()
        );
        assert_eq!(
            r.header("access-control-allow-methods"),
            Some("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
            "{}",
            r.describe()
        );
    };
    check_cors(&sys.get("/api/v1/volumes").await);
    check_cors(&sys.get("/api/v1/nope").await);
    check_cors(
        &http
            .send(http.request(Method::GET, "/api/v1/volumes"))
            .await,
    );
    for path in [
        "/api/v1/volumes/meta",
        "/api/v1/register",
        "/api/v1/admin/stats",
        "/whatever",
    ] {
        let r = http
            .send(
                http.request(Method::OPTIONS, path)
                    .header("Origin", "https://app.example")
                    .header("Access-Control-Request-Method", "PUT")
                    .header("X-Protocol-Version", "0"),
            )
            .await;
        r.expect_status(204);
        check_cors(&r);
    }

    // X-Protocol-Version below the minimum → 426 on app routes; not on health or admin.
    let gate = "This server requires protocol version 1 or higher. Please update your app.";
    for v in ["0", "-5"] {
        // A bare request: the template client would also send "X-Protocol-Version: 1".
        let r = http
            .send(
                http.request(Method::GET, "/api/v1/volumes")
                    .header("Authorization", format!("Bearer {}", sys.token().unwrap()))
                    .header("X-Protocol-Version", v),
            )
            .await;
        r.expect_error_message(426, "upgrade_required", gate);
        let r = http
            .send(
                http.request(Method::POST, "/api/v1/auth/challenge")
                    .header("X-Protocol-Version", v)
                    .body(json!({"user_id": sys.user_id()}).to_string()),
            )
            .await;
        r.expect_error_message(426, "upgrade_required", gate);
    }
    for v in ["1.0", "abc", "", "1"] {
        let r = http
            .send(
                http.request(Method::GET, "/api/v1/volumes")
                    .header("Authorization", format!("Bearer {}", sys.token().unwrap()))
                    .header("X-Protocol-Version", v),
            )
            .await;
        r.expect_json(200);
    }
    let r = http
        .send(
            http.request(Method::GET, "/api/v1/health")
                .header("X-Protocol-Version", "0"),
        )
        .await;
    r.expect_json(200);
    let r = http
        .send(
            http.request(Method::GET, "/api/v1/admin/stats")
                .header("X-Protocol-Version", "0")
                .header("X-Admin-Token", relay.admin_token()),
        )
        .await;
    r.expect_json(200);

    // A relay that requires protocol 2 turns the template away — and says so in health.
    let strict = RelayProcess::builder()
        .env("COFFER_MIN_PROTOCOL_VERSION", "2")
        .start()
        .await;
    let mut app = V1Client::new(&strict, Kind::System).with_handle(Some("old-app"));
    // The template's header (X-Protocol-Version: 1) is refused first, with the gate's message.
    app.register().await.expect_error_message(
        426,
        "upgrade_required",
        "This server requires protocol version 2 or higher. Please update your app.",
    );
    let http2 = strict.http();
    // Without the header, the body's protocol_version is checked, with the register message.
    http2
        .send(
            http2
                .request(Method::POST, "/api/v1/register")
                .header("Content-Type", "application/json")
                .body(app.register_body().to_string()),
        )
        .await
        .expect_error_message(
            426,
            "upgrade_required",
            "This server requires protocol version 2+",
        );
    let mut body = app.register_body();
    body["protocol_version"] = json!(2);
    http2
        .send(
            http2
                .request(Method::POST, "/api/v1/register")
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        )
        .await
        .expect_json(201);
    let r = http2
        .send(
            http2
                .request(Method::GET, "/api/v1/discover?handle=xx")
                .header("X-Protocol-Version", "1"),
        )
        .await;
    r.expect_error_message(
        426,
        "upgrade_required",
        "This server requires protocol version 2 or higher. Please update your app.",
    );
    let h = http2
        .send(http2.request(Method::GET, "/api/v1/health"))
        .await;
    assert_eq!(h.expect_json(200)["min_protocol_version"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_proxies() {
    // auth: 3 per minute per IP, challenge and token share the bucket.
    let relay = RelayProcess::builder()
        .env("COFFER_RATE_AUTH", "3")
        .env("COFFER_RATE_REGISTER", "3")
        .start()
        .await;
    let admin = Admin::new(&relay);
    let mut users = Vec::new();
    for i in 0..3 {
        let mut c = V1Client::new(&relay, Kind::System).with_handle(Some(&format!("rl-{i}")));
        c.register_ok().await;
        users.push(c);
    }
    let mut fourth = V1Client::new(&relay, Kind::System).with_handle(Some("rl-3"));
    let r = fourth.register().await;
    check_429(&r);
    assert_eq!(
        admin.user_count().await,
        3,
        "the refused registration was stored"
    );

    let a = &users[0];
    let nonce = a.challenge_nonce().await;
    a.challenge().await.expect_json(200);
    a.token_request(a.user_id(), &nonce, &a.sign_login_b64(&nonce))
        .await
        .expect_json(200);
    check_429(&a.challenge().await);
    check_429(
        &a.token_request(a.user_id(), &nonce, &a.sign_login_b64(&nonce))
            .await,
    );
    // X-Forwarded-For from an untrusted peer does not buy a fresh bucket.
    for ip in ["10.0.0.1", "203.0.113.9", "10.0.0.2, 10.0.0.3"] {
        let r = a
            .send(
                a.req(Method::POST, "/api/v1/auth/challenge")
                    .header("X-Forwarded-For", ip)
                    .header("X-Real-IP", ip)
                    .body(json!({"user_id": a.user_id()}).to_string()),
            )
            .await;
        check_429(&r);
    }
    // Maintenance does not reset the limiter (the reference's did, observed §4).
    admin
        .call(Method::POST, "/api/v1/admin/maintenance")
        .await
        .expect_json(200);
    admin
        .call(Method::POST, "/api/v1/_maintenance")
        .await
        .expect_json(200);
    check_429(&a.challenge().await);
    // Health is not rate-limited by the auth bucket.
    let http = relay.http();
    http.send(http.request(Method::GET, "/api/v1/health"))
        .await
        .expect_json(200);

    // With 127.0.0.1 as a trusted proxy, X-Forwarded-For names the client.
    let proxied = RelayProcess::builder()
        .env("COFFER_RATE_AUTH", "3")
        .env("COFFER_TRUSTED_PROXIES", "127.0.0.1")
        .start()
        .await;
    let mut p = V1Client::new(&proxied, Kind::Friend).with_handle(Some("behind-proxy"));
    p.register_ok().await;
    let challenge_from = |ip: &'static str| {
        p.req(Method::POST, "/api/v1/auth/challenge")
            .header("X-Forwarded-For", ip)
            .body(json!({"user_id": p.user_id()}).to_string())
    };
    for _ in 0..3 {
        p.send(challenge_from("198.51.100.1"))
            .await
            .expect_json(200);
    }
    check_429(&p.send(challenge_from("198.51.100.1")).await);
    p.send(challenge_from("198.51.100.2"))
        .await
        .expect_json(200);
    p.challenge().await.expect_json(200);

    // Per-user upload limit and per-user discovery limit.
    let uploads = RelayProcess::builder()
        .env("COFFER_RATE_UPLOAD", "2")
        .env("COFFER_RATE_DISCOVERY", "2")
        .start()
        .await;
    let s1 = V1Client::system(&uploads, "up-1").await;
    let s2 = V1Client::system(&uploads, "up-2").await;
    s1.upload_ok(VolumeName::Meta, 1, &docs::meta()).await;
    s1.upload_ok(VolumeName::Meta, 2, &docs::meta()).await;
    check_429(&s1.upload(VolumeName::Meta, 3, &docs::meta()).await.0);
    s2.upload_ok(VolumeName::Meta, 1, &docs::meta()).await;
    let listed = s1.list_volumes().await;
    assert_eq!(listed[0]["version"], 2, "the refused upload was stored");
    s1.discover("up").await.expect_json(200);
    s1.discover("up").await.expect_json(200);
    check_429(&s1.discover("up").await);
    s2.discover("up").await.expect_json(200);
    // Other routes of the same user are not in those buckets.
    s1.get("/api/v1/volumes").await.expect_json(200);

    // general: per user; admin: per IP.
    let general = RelayProcess::builder()
        .env("COFFER_RATE_GENERAL", "3")
        .env("COFFER_RATE_ADMIN", "2")
        .start()
        .await;
    let g1 = V1Client::system(&general, "gen-1").await;
    let g2 = V1Client::system(&general, "gen-2").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(g1.get("/api/v1/volumes").await);
    }
    assert!(
        statuses[..3].iter().all(|r| r.status == 200),
        "{:?}",
        statuses[0].describe()
    );
    check_429(&statuses[3]);
    g2.get("/api/v1/volumes").await.expect_json(200);
    // DELETE /users/me is not rate-limited (v1.md §1.1): the user can always leave.
    g1.delete_me().await.expect_status(204);
    let ga = Admin::new(&general);
    ga.call(Method::GET, "/api/v1/admin/stats")
        .await
        .expect_json(200);
    ga.call(Method::GET, "/api/v1/admin/users")
        .await
        .expect_json(200);
    check_429(&ga.call(Method::GET, "/api/v1/admin/stats").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_setting_names_are_aliases() {
    // PLURALLOG_* alone takes effect …
    let relay = RelayProcess::builder()
        .without("COFFER_RATE_AUTH")
        .without("COFFER_ADMIN_TOKEN")
        .env("PLURALLOG_RATE_AUTH", "2")
        .env("PLURALLOG_ADMIN_TOKEN", "v1-admin-token")
        .env("PLURALLOG_MIN_PROTOCOL_VERSION", "1")
        .env("PLURALLOG_LATEST_CLIENT_VERSION", "9.9.9")
        .start()
        .await;
    let mut c = V1Client::new(&relay, Kind::Friend).with_handle(Some("alias"));
    c.register_ok().await;
    c.challenge().await.expect_json(200);
    c.challenge().await.expect_json(200);
    let r = c.challenge().await;
    check_429(&r);
    // The upgrade hint rides on every response, errors included.
    for resp in [&r, &c.get("/api/v1/nope").await] {
        assert_eq!(
            resp.header("x-upgrade-available"),
            Some("A newer client version (9.9.9) is available."),
            "{}",
            resp.describe()
        );
    }
    assert_eq!(Admin::new(&relay).user_count().await, 1);
    Admin::with_token(&relay, "wrong")
        .call(Method::GET, "/api/v1/admin/stats")
        .await
        .expect_error(401, "unauthorized");

    // … and COFFER_* wins over it.
    let relay = RelayProcess::builder()
        .env("PLURALLOG_RATE_AUTH", "2")
        .env("COFFER_RATE_AUTH", "100")
        .env("PLURALLOG_MIN_PROTOCOL_VERSION", "3")
        .env("COFFER_MIN_PROTOCOL_VERSION", "1")
        .start()
        .await;
    let mut c = V1Client::new(&relay, Kind::Friend).with_handle(Some("alias2"));
    c.register_ok().await;
    for _ in 0..4 {
        c.challenge().await.expect_json(200);
    }
    let http = relay.http();
    let h = http.send(http.request(Method::GET, "/api/v1/health")).await;
    assert_eq!(h.expect_json(200)["min_protocol_version"], 1);
    assert!(h.header("x-upgrade-available").is_none());
}

#[track_caller]
fn check_429(r: &Resp) {
    r.expect_error_message(
        429,
        "rate_limited",
        "Too many requests. Please wait and try again.",
    );
    let retry = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After: {}", r.describe()));
    let secs: u64 = retry
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After {retry:?} is not integer seconds"));
    assert!((1..=60).contains(&secs), "Retry-After {secs} out of range");
}
