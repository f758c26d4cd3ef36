//! Malformed and hostile input to accounts: every refusal is a JSON error with the right status
//! and stable code, and afterwards the relay's state (checked through the API) is unchanged.
//! Registration, login, expiry of challenges and sessions. The other `v1_bad_*` suites: uploads,
//! sharing and ids, the HTTP edge.

use crate::v1_bad_support::{bad_b64_variants, snapshot, url_safe_variant};
use coffer_tests::client::{Admin, Kind, V1Client};
use coffer_tests::relay::RelayProcess;
use coffer_wire::b64;
use reqwest::Method;
use serde_json::{Value, json};

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
