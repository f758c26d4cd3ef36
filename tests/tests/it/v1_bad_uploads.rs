//! Malformed and hostile uploads: refusals as JSON errors with unchanged state, oversized bodies
//! and the quota.

use crate::v1_bad_support::{bad_b64_variants, snapshot, url_safe_variant};
use coffer_tests::client::{Admin, Kind, V1Client, upload_body_text, upload_body_with_header};
use coffer_tests::docs;
use coffer_tests::http::raw_exchange;
use coffer_tests::relay::{RelayProcess, files_under};
use coffer_wire::b64;
use coffer_wire::v1::VolumeName;
use serde_json::{Value, json};

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
