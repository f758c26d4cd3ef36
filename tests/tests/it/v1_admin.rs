//! The v1 relay's admin API end to end (users, stats, anomalies, tokens), over real TLS.

use coffer_tests::client::{Admin, V1Client, default_permissions};
use coffer_tests::docs;
use coffer_tests::relay::{RelayProcess, files_under, paths_containing};
use coffer_tests::util::{all_strings, assert_whole_hour_now};
use coffer_wire::b64;
use coffer_wire::v1::VolumeName;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api() {
    let relay = RelayProcess::start().await;
    let admin = Admin::new(&relay);
    let mut sys = V1Client::system(&relay, "admin-sys").await;
    let mut friend = V1Client::friend(&relay, "admin-friend").await;
    let mut friend2 = V1Client::friend(&relay, "admin-friend2").await;
    let meta = sys.upload_ok(VolumeName::Meta, 1, &docs::meta()).await;
    let members = sys
        .upload_ok(VolumeName::Members, 3, &docs::members())
        .await;
    friend.redeem(&sys.invite().await).await.expect_json(201);
    let entry = sys.requests_list(None).await.remove(0);
    sys.accept(&entry, &default_permissions())
        .await
        .expect_json(200);
    let wrapped = friend.requests_list(Some("active")).await[0]["encrypted_vek_blob"]
        .as_str()
        .unwrap()
        .to_owned();
    friend2.request_share(sys.user_id()).await.expect_json(201);
    let _open_invite = sys.invite().await;
    let outstanding_nonce = friend2.challenge_nonce().await;

    // Refusals: no token, wrong token, a user's bearer token → 401 unauthorized.
    let http = relay.http();
    http.send(http.request(Method::GET, "/api/v1/admin/stats"))
        .await
        .expect_error(401, "unauthorized");
    Admin::with_token(&relay, "wrong-token")
        .call(Method::GET, "/api/v1/admin/stats")
        .await
        .expect_error(401, "unauthorized");
    sys.get("/api/v1/admin/stats")
        .await
        .expect_error(401, "unauthorized");

    let mut bodies: Vec<(String, String)> = Vec::new();
    let mut record = |what: &str, v: &Value| bodies.push((what.to_owned(), v.to_string()));

    // stats (§4).
    let resp = admin.call(Method::GET, "/api/v1/admin/stats").await;
    resp.assert_flask_json();
    let stats = resp.expect_json(200).clone();
    record("stats", &stats);
    assert_eq!(stats["system_users"], 1);
    assert_eq!(stats["friend_users"], 2);
    assert_eq!(stats["total_volumes"], 2);
    assert_eq!(
        stats["total_storage_bytes"],
        meta.blob.len() + members.blob.len()
    );
    assert!(
        (1..=3).contains(&stats["recent_registrations_30d"].as_i64().unwrap()),
        "{stats}"
    );
    assert_eq!(stats["active_shares"], 1);
    assert_eq!(stats["pending_shares"], 1);
    let mut breakdown = stats["volume_breakdown"].as_array().unwrap().clone();
    breakdown.sort_by_key(|b| b["volume_name"].as_str().unwrap().to_owned());
    assert_eq!(
        Value::Array(breakdown),
        json!([
            {"volume_name": "members", "count": 1, "total_bytes": members.blob.len()},
            {"volume_name": "meta", "count": 1, "total_bytes": meta.blob.len()},
        ])
    );

    // users: feature_set is a JSON-encoded string, created_at ISO (whole hour).
    let users = admin.get_ok("/api/v1/admin/users").await;
    record("users", &users);
    let list = users["users"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    for u in list {
        let id = u["id"].as_str().unwrap();
        let (who, kind, storage) = if id == sys.user_id() {
            (&sys, "system", meta.blob.len() + members.blob.len())
        } else if id == friend.user_id() {
            (&friend, "friend", 0)
        } else {
            assert_eq!(id, friend2.user_id());
            (&friend2, "friend", 0)
        };
        assert_eq!(u["handle"], json!(who.account.handle), "{u}");
        assert_eq!(u["client_type"], kind, "{u}");
        assert_eq!(u["protocol_version"], 1, "{u}");
        assert_eq!(u["storage_used_bytes"], storage, "{u}");
        assert_whole_hour_now(&u["created_at"], "user created_at");
        let fs: Value = serde_json::from_str(
            u["feature_set"]
                .as_str()
                .unwrap_or_else(|| panic!("feature_set is not a JSON-encoded string: {u}")),
        )
        .unwrap();
        assert_eq!(fs, json!(who.account.feature_set));
    }

    // users/{id}: some JSON object about that user; unknown → 404.
    let one = admin
        .get_ok(&format!("/api/v1/admin/users/{}", sys.user_id()))
        .await;
    record("user", &one);
    assert!(one.to_string().contains(sys.user_id()), "{one}");
    admin
        .call(
            Method::GET,
            &format!("/api/v1/admin/users/{}", uuid::Uuid::new_v4()),
        )
        .await
        .expect_error(404, "not_found");

    // volumes: updated_at rounded to the hour (W14).
    let vols = admin.get_ok("/api/v1/admin/volumes").await;
    record("volumes", &vols);
    let mut vlist = vols["volumes"].as_array().unwrap().clone();
    vlist.sort_by_key(|v| v["volume_name"].as_str().unwrap().to_owned());
    assert_eq!(vlist.len(), 2);
    for (v, (name, version, size)) in vlist.iter().zip([
        ("members", 3, members.blob.len()),
        ("meta", 1, meta.blob.len()),
    ]) {
        assert_eq!(v["user_id"], sys.user_id());
        assert_eq!(v["volume_name"], name);
        assert_eq!(v["version"], version);
        assert_eq!(v["size_bytes"], size);
        assert_whole_hour_now(&v["updated_at"], "volume updated_at");
    }

    // sharing: permissions is a JSON-encoded string; created_at whole hour.
    let sharing = admin.get_ok("/api/v1/admin/sharing").await;
    record("sharing", &sharing);
    let slist = sharing["sharing"].as_array().unwrap();
    assert_eq!(slist.len(), 2);
    for s in slist {
        assert_eq!(s["system_user_id"], sys.user_id());
        let perms: Value = serde_json::from_str(
            s["permissions"]
                .as_str()
                .unwrap_or_else(|| panic!("permissions is not a JSON-encoded string: {s}")),
        )
        .unwrap();
        if s["friend_user_id"] == friend.user_id() {
            assert_eq!(s["status"], "active");
            assert_eq!(perms, default_permissions());
        } else {
            assert_eq!(s["friend_user_id"], friend2.user_id());
            assert_eq!(s["status"], "pending");
            assert_eq!(perms, json!({}));
        }
        assert_whole_hour_now(&s["created_at"], "sharing created_at");
    }

    // sessions.
    let sessions = admin.get_ok("/api/v1/admin/sessions").await;
    record("sessions", &sessions);
    assert!(
        sessions["active_sessions"].as_i64().unwrap() >= 3,
        "{sessions}"
    );
    assert!(
        sessions["pending_challenges"].as_i64().unwrap() >= 1,
        "{sessions}"
    );
    assert_eq!(sessions["active_invites"], 1, "{sessions}");
    assert_eq!(sessions["redeemed_invites"], 1, "{sessions}");

    // No key material, wrapped VEK, token, nonce, ciphertext or signature in any admin answer.
    let mut secrets: Vec<(String, String)> = vec![
        ("wrapped VEK".into(), wrapped),
        ("nonce".into(), outstanding_nonce),
        (
            "payload prefix".into(),
            b64::encode(&meta.blob)[..40].to_owned(),
        ),
        ("signature".into(), b64::encode(&meta.signature)),
    ];
    for c in [&sys, &friend, &friend2] {
        secrets.push(("signing key".into(), c.signing_key_b64()));
        secrets.push(("exchange key".into(), c.exchange_key_b64()));
        secrets.push(("token".into(), c.token().unwrap().to_owned()));
        secrets.push((
            "signing key hex".into(),
            hex::encode(b64::decode_strict(&c.signing_key_b64()).unwrap()),
        ));
    }
    for (what, body) in &bodies {
        for (kind, secret) in &secrets {
            assert!(
                !body.contains(secret.as_str()),
                "admin {what} answer contains a {kind}"
            );
        }
    }
    for (what, body) in &bodies {
        let v: Value = serde_json::from_str(body).unwrap();
        for s in all_strings(&v) {
            assert!(
                !s.contains("nonce") && !s.contains("token") && !s.contains("vek"),
                "admin {what} answer mentions {s:?}"
            );
        }
    }

    // Maintenance: admin route and the v1 route, both need the token.
    let m = admin.call(Method::POST, "/api/v1/admin/maintenance").await;
    assert!(m.expect_json(200).is_object());
    http.send(http.request(Method::POST, "/api/v1/_maintenance"))
        .await
        .expect_error(401, "unauthorized");
    sys.call(Method::POST, "/api/v1/_maintenance", None)
        .await
        .expect_error(401, "unauthorized");
    let m = admin.call(Method::POST, "/api/v1/_maintenance").await;
    assert!(m.expect_json(200).is_object(), "{}", m.describe());

    // expire-all: every token 401, re-login works.
    let e = admin
        .call(Method::POST, "/api/v1/admin/sessions/expire-all")
        .await;
    let e = e.expect_json(200);
    if let Some(n) = e.get("sessions_expired") {
        assert!(n.as_i64().unwrap() >= 3, "{e}");
    }
    for c in [&sys, &friend, &friend2] {
        c.get("/api/v1/volumes")
            .await
            .expect_error(401, "unauthorized");
    }
    let sessions = admin.get_ok("/api/v1/admin/sessions").await;
    assert_eq!(sessions["active_sessions"], 0, "{sessions}");
    sys.login().await;
    friend.login().await;
    friend2.login().await;
    assert_eq!(sys.list_volumes().await.len(), 2);

    // DELETE admin/users/{id} → 200 JSON and the cascade.
    let del = admin
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/users/{}", friend2.user_id()),
        )
        .await;
    assert!(del.expect_json(200).is_object(), "{}", del.describe());
    friend2
        .get("/api/v1/volumes")
        .await
        .expect_error(401, "unauthorized");
    assert!(sys.requests_list(None).await.is_empty());
    admin
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/users/{}", friend2.user_id()),
        )
        .await
        .expect_error(404, "not_found");
    let del = admin
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/users/{}", sys.user_id()),
        )
        .await;
    assert!(del.expect_json(200).is_object(), "{}", del.describe());
    sys.get("/api/v1/volumes")
        .await
        .expect_error(401, "unauthorized");
    friend
        .shared_list(sys.user_id())
        .await
        .expect_error(403, "forbidden");
    let stats = admin.stats().await;
    assert_eq!(stats["system_users"], 0, "{stats}");
    assert_eq!(stats["friend_users"], 1, "{stats}");
    assert_eq!(stats["total_volumes"], 0, "{stats}");
    assert_eq!(stats["active_shares"], 0, "{stats}");
    assert!(files_under(&relay.data_dir().join("blobs")).is_empty());
    assert!(paths_containing(relay.data_dir(), sys.user_id()).is_empty());
}
