//! v1 volumes end to end: every header variant the template may send verifies, Paillier
//! aggregation over uploaded analytics, and large volumes streamed byte for byte.

use coffer_tests::client::{
    Kind, V1Client, default_permissions, open_volume, upload_body_with_header,
};
use coffer_tests::docs;
use coffer_tests::paillier::{Paillier, decode_number, encode_number};
use coffer_tests::relay::RelayProcess;
use coffer_wire::b64;
use coffer_wire::v1::VolumeName;
use num_bigint::BigUint;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_header_variants_verify() {
    let relay = RelayProcess::start().await;
    let sys = V1Client::system(&relay, "variants-sys").await;
    let doc = docs::meta();

    // Keys in alphabetical order (as a relay re-emits them) → same signed bytes → 200.
    let s1 = sys.seal(VolumeName::Meta, 1, &doc);
    let h = &s1.header;
    let reordered = format!(
        "{{\"event_tags\":{},\"modified_at\":{},\"size_bytes\":{},\"version\":1,\"volume_name\":\"meta\"}}",
        serde_json::to_string(&h.event_tags).unwrap(),
        h.modified_at,
        h.size_bytes
    );
    let body = upload_body_with_header(
        &reordered,
        &b64::encode(&s1.blob),
        &b64::encode(&s1.signature),
    );
    sys.put_volume_raw("meta", body).await.expect_json(200);

    // An extra key is stored and echoed, but not signed.
    let s2 = sys.seal(VolumeName::Meta, 2, &doc);
    let mut extra: Value = serde_json::from_str(&s2.header.canonical_json()).unwrap();
    extra["extra_key"] = json!("kept");
    let body = upload_body_with_header(
        &extra.to_string(),
        &b64::encode(&s2.blob),
        &b64::encode(&s2.signature),
    );
    sys.put_volume_raw("meta", body).await.expect_json(200);
    let listed = sys.list_volumes().await;
    assert_eq!(listed[0]["extra_key"], "kept", "{listed:?}");
    let own = sys.download_own("meta", None).await;
    let answer = own.expect_json(200);
    assert_eq!(answer["control_header"]["extra_key"], "kept");
    open_volume(answer, "meta", &sys.vek, &sys.signing_key_b64());

    // Non-ASCII tags are signed as raw UTF-8 (Dart jsonEncode), not \u-escaped (§1.6).
    let s3 = sys.seal(VolumeName::Meta, 3, &doc);
    let mut header = s3.header.clone();
    header.event_tags = vec!["métadonnées".to_owned(), "🦊".to_owned()];
    let sig = sys.sign_raw(&header.signature_input(&s3.blob));
    assert!(header.canonical_json().contains("🦊"));
    let body = upload_body_with_header(
        &header.canonical_json(),
        &b64::encode(&s3.blob),
        &b64::encode(&sig),
    );
    sys.put_volume_raw("meta", body).await.expect_json(200);
    let own = sys.download_own("meta", None).await;
    let opened = open_volume(
        own.expect_json(200),
        "meta",
        &sys.vek,
        &sys.signing_key_b64(),
    );
    assert_eq!(opened.header.event_tags, header.event_tags);

    // Missing event_tags is signed as [] (§2.5).
    let s4 = sys.seal(VolumeName::Meta, 4, &doc);
    let mut header = s4.header.clone();
    header.event_tags = Vec::new();
    let sig = sys.sign_raw(&header.signature_input(&s4.blob));
    let no_tags = format!(
        "{{\"volume_name\":\"meta\",\"version\":4,\"modified_at\":{},\"size_bytes\":{}}}",
        header.modified_at, header.size_bytes
    );
    let body = upload_body_with_header(&no_tags, &b64::encode(&s4.blob), &b64::encode(&sig));
    sys.put_volume_raw("meta", body).await.expect_json(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_aggregate() {
    let relay = RelayProcess::start().await;
    let sys = V1Client::system(&relay, "paillier-sys").await;
    let friend = V1Client::friend(&relay, "paillier-friend").await;
    let stranger = V1Client::friend(&relay, "paillier-stranger").await;
    friend.redeem(&sys.invite().await).await.expect_json(201);
    let entry = sys.requests_list(None).await.remove(0);
    sys.accept(&entry, &default_permissions())
        .await
        .expect_json(200);
    let rel_id = entry["id"].as_str().unwrap().to_owned();

    let key = Paillier::test_key();
    let c5 = key.encrypt(5, 1_234_567);
    let c7 = key.encrypt(7, 7_654_321);
    let c9 = key.encrypt(9, 99_991);
    let c3 = key.encrypt(3, 31_337);
    let c40 = key.encrypt(40, 4_242);
    let request = json!({
        "system_user_id": sys.user_id(),
        "public_key": key.public_key_json(),
        "counters": {
            "mood_score": [encode_number(&c5, 0), encode_number(&c7, 0), encode_number(&c9, 0)],
            // 3·16^0 + 40·16^-1: python-paillier lowers the larger exponent (c3^16), result at -1.
            "switch_count": [encode_number(&c3, 0), encode_number(&c40, -1)],
        }
    });

    // Without share_mood_trends → 403.
    friend
        .post("/api/v1/analytics/aggregate", &request)
        .await
        .expect_error(403, "forbidden");
    let mut perms = default_permissions();
    perms["share_mood_trends"] = json!(true);
    sys.patch_permissions(&rel_id, &perms)
        .await
        .expect_json(200);

    let resp = friend.post("/api/v1/analytics/aggregate", &request).await;
    resp.assert_flask_json();
    let agg = &resp.expect_json(200)["aggregates"];
    let (sum, exp) = decode_number(agg["mood_score"].as_str().unwrap());
    assert_eq!(exp, 0);
    assert_eq!(key.decrypt(&sum), BigUint::from(21u32));
    let (sum, exp) = decode_number(agg["switch_count"].as_str().unwrap());
    assert_eq!(exp, -1, "result exponent must be the smaller one");
    assert_eq!(key.decrypt(&sum), BigUint::from(3u32 * 16 + 40));

    // A counter that cannot be summed is null; the others are still summed (v1.md §1.3 #20).
    let resp = friend
        .post(
            "/api/v1/analytics/aggregate",
            &json!({
                "system_user_id": sys.user_id(),
                "public_key": key.public_key_json(),
                "counters": {
                    "single": [encode_number(&c7, 0)],
                    "garbage": ["!!!"],
                    "not_json": [b64::encode(b"hello")],
                    "empty": [],
                }
            }),
        )
        .await;
    let agg = &resp.expect_json(200)["aggregates"];
    let (single, exp) = decode_number(agg["single"].as_str().unwrap());
    assert_eq!((key.decrypt(&single), exp), (BigUint::from(7u32), 0));
    for name in ["garbage", "not_json", "empty"] {
        assert_eq!(agg[name], Value::Null, "{name}: {agg}");
    }
    let resp = friend
        .post(
            "/api/v1/analytics/aggregate",
            &json!({"system_user_id": sys.user_id(), "public_key": key.public_key_json(), "counters": {}}),
        )
        .await;
    assert_eq!(resp.expect_json(200), &json!({"aggregates": {}}));

    // Not the friend's relationship / not a friend → 403.
    stranger
        .post("/api/v1/analytics/aggregate", &request)
        .await
        .expect_error(403, "forbidden");
    sys.post("/api/v1/analytics/aggregate", &request)
        .await
        .expect_error(403, "forbidden");

    // A modulus over 4096 bits → 400 (CPU DoS guard, W19).
    let huge = (BigUint::from(1u32) << 4100u32) + BigUint::from(1u32);
    let mut big = request.clone();
    big["public_key"] = json!({"n": huge.to_str_radix(10)});
    friend
        .post("/api/v1/analytics/aggregate", &big)
        .await
        .expect_error(400, "bad_request");
}

/// Volumes above the relay's streaming threshold (256 KiB) are sent from the blob file chunk
/// by chunk: the answer is still exactly the Flask-shaped JSON, with a `Content-Length` that
/// matches, and opens to what was uploaded; a conditional request is still a 304.
#[tokio::test]
async fn large_volumes_are_streamed_exactly() {
    let relay = RelayProcess::start().await;
    let mut sys = V1Client::new(&relay, Kind::System);
    sys.register_ok().await;
    sys.login().await;
    // Sizes around the relay's 192 KiB chunks: the payload is padded to the 4 KiB grid + 28.
    for (version, len) in [(1, 300_000), (2, 3 * 65536 * 2 + 5), (3, 1_100_000)] {
        let document = json!({ "entries": "x".repeat(len) });
        sys.upload_ok(VolumeName::Journal, version, &document).await;
        let resp = sys.download_own("journal", None).await;
        resp.assert_flask_json();
        assert_eq!(
            resp.headers
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok()),
            Some(resp.body.len()),
            "{}",
            resp.describe()
        );
        let opened = open_volume(
            resp.expect_json(200),
            "journal",
            &sys.vek,
            &sys.signing_key_b64(),
        );
        assert_eq!(opened.document, document, "version {version}");
        assert!(opened.blob.len() > 256 * 1024);
        sys.download_own("journal", Some(&version.to_string()))
            .await
            .expect_status(304);
    }
}
