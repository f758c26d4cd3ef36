//! Malformed and hostile sharing requests, non-UUID ids, unknown routes and wrong methods: JSON
//! errors with unchanged state.

use crate::v1_bad_support::{bad_b64_variants, snapshot};
use coffer_tests::client::{Admin, V1Client, default_permissions};
use coffer_tests::docs;
use coffer_tests::relay::RelayProcess;
use coffer_wire::v1::VolumeName;
use reqwest::Method;
use serde_json::{Value, json};

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
