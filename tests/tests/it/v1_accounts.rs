//! v1 accounts: the account-deletion cascade, profile updates and the expiry fields.

use crate::v1_story_support::{names, sorted};
use coffer_tests::client::{Admin, Kind, V1Client, default_permissions};
use coffer_tests::docs;
use coffer_tests::faults::store::inline_payload_count;
use coffer_tests::relay::{RelayProcess, files_under, paths_containing};
use coffer_wire::v1::VolumeName;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_deletion_cascade() {
    let relay = RelayProcess::start().await;
    let admin = Admin::new(&relay);
    let sys = V1Client::system(&relay, "doomed-sys").await;
    let friend = V1Client::friend(&relay, "left-friend").await;
    let friend2 = V1Client::friend(&relay, "pending-friend").await;
    let mut total = 0;
    for name in [VolumeName::Meta, VolumeName::Members, VolumeName::Fronts] {
        total += sys
            .upload_ok(name, 1, &docs::for_volume(name))
            .await
            .blob
            .len();
    }
    friend.redeem(&sys.invite().await).await.expect_json(201);
    let entry = sys.requests_list(None).await.remove(0);
    sys.accept(&entry, &default_permissions())
        .await
        .expect_json(200);
    friend2.request_share(sys.user_id()).await.expect_json(201);
    let _unused_invite = sys.invite().await;

    let stats = admin.stats().await;
    assert_eq!(stats["system_users"], 1);
    assert_eq!(stats["friend_users"], 2);
    assert_eq!(stats["total_volumes"], 3);
    assert_eq!(stats["total_storage_bytes"], total);
    assert_eq!(stats["active_shares"], 1);
    assert_eq!(stats["pending_shares"], 1);
    let sessions = admin.get_ok("/api/v1/admin/sessions").await;
    assert_eq!(sessions["active_invites"], 1, "{sessions}");
    let blobs = relay.data_dir().join("blobs");
    // Small payloads are stored inline in the database (docs/adr/0027), larger ones as files.
    assert!(
        files_under(&blobs).len() as u64 + inline_payload_count(&relay.database_path()) >= 3,
        "neither blob files under {} nor inline payloads after three uploads",
        blobs.display()
    );

    // The template's Disconnect.
    let deleted = sys.delete_me().await;
    deleted.expect_status(204);
    assert!(deleted.body.is_empty());

    sys.get("/api/v1/volumes")
        .await
        .expect_error(401, "unauthorized");
    sys.challenge().await.expect_error(404, "not_found");
    friend
        .shared_list(sys.user_id())
        .await
        .expect_error_message(403, "forbidden", "No active sharing relationship");
    friend
        .shared_get(sys.user_id(), "meta", None)
        .await
        .expect_error(403, "forbidden");
    assert!(friend.requests_list(Some("all")).await.is_empty());
    assert!(friend2.requests_list(Some("all")).await.is_empty());
    assert!(
        friend.discover("doomed").await.expect_json(200)["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let stats = admin.stats().await;
    assert_eq!(stats["system_users"], 0, "{stats}");
    assert_eq!(stats["friend_users"], 2, "{stats}");
    assert_eq!(stats["total_volumes"], 0, "{stats}");
    assert_eq!(stats["total_storage_bytes"], 0, "{stats}");
    assert_eq!(stats["active_shares"], 0, "{stats}");
    assert_eq!(stats["pending_shares"], 0, "{stats}");
    let sessions = admin.get_ok("/api/v1/admin/sessions").await;
    assert_eq!(
        sessions["active_invites"], 0,
        "invites of the deleted system: {sessions}"
    );
    let users = admin.get_ok("/api/v1/admin/users").await;
    assert!(!users.to_string().contains(sys.user_id()), "{users}");

    // Nothing of the user is left on disk: no blob file, no inline payload.
    assert!(
        files_under(&blobs).is_empty(),
        "blob files left: {:?}",
        files_under(&blobs)
    );
    assert_eq!(inline_payload_count(&relay.database_path()), 0);
    let traces = paths_containing(relay.data_dir(), sys.user_id());
    assert!(
        traces.is_empty(),
        "paths still named after the user: {traces:?}"
    );

    // The handle is free again.
    V1Client::system(&relay, "doomed-sys").await;
    // A friend deleting itself ends its relationships as well.
    let sys2 = V1Client::system(&relay, "second-sys").await;
    friend.request_share(sys2.user_id()).await.expect_json(201);
    friend.delete_me().await.expect_status(204);
    assert!(sys2.requests_list(Some("all")).await.is_empty());
    friend
        .get("/api/v1/volumes")
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_updates_and_expiry_fields() {
    let relay = RelayProcess::builder()
        .env("COFFER_INVITE_LIFETIME_HOURS", "5")
        .start()
        .await;
    let sys = V1Client::system(&relay, "profile-sys").await;
    let _other = V1Client::system(&relay, "taken-handle").await;
    let mut friend = V1Client::new(&relay, Kind::Friend).with_handle(Some("profile-friend"));
    friend.register_ok().await;

    // Expiry times: challenge ≈ now + 300 s, session ≈ now + 3600 s, invite ≈ now + 5 h, to the
    // next whole hour.
    let now = coffer_tests::client::now_unix();
    let ch = friend.challenge().await;
    let ch_exp =
        coffer_tests::util::assert_iso(&ch.expect_json(200)["expires_at"], "challenge expires_at");
    assert!(
        (now + 240..=now + 360).contains(&ch_exp),
        "challenge expires at {ch_exp}, now {now}"
    );
    let nonce = ch.json()["nonce"].as_str().unwrap().to_owned();
    let tok = friend
        .token_request(friend.user_id(), &nonce, &friend.sign_login_b64(&nonce))
        .await;
    let tok_body = tok.expect_json(200);
    let tok_exp = coffer_tests::util::assert_iso(&tok_body["expires_at"], "token expires_at");
    assert!(
        (now + 3540..=now + 3660).contains(&tok_exp),
        "token expires at {tok_exp}, now {now}"
    );
    friend.set_token(Some(tok_body["token"].as_str().unwrap().to_owned()));
    let inv = sys.call(Method::POST, "/api/v1/sharing/invite", None).await;
    let inv_exp =
        coffer_tests::util::assert_iso(&inv.expect_json(201)["expires_at"], "invite expires_at");
    // Creation + lifetime rounded up to a whole hour (docs/metadata-inventory.md): the creation
    // second is not recoverable from it.
    assert_eq!(inv_exp % 3600, 0, "invite expires at {inv_exp}");
    assert!(
        (now + 5 * 3600 - 120..=now + 6 * 3600 + 120).contains(&inv_exp),
        "invite expires at {inv_exp}, now {now}"
    );

    // PATCH /users/me: handle (409 if taken), feature_set, protocol_version.
    let me = "/api/v1/users/me";
    sys.call(Method::PATCH, me, Some(&json!({"handle": "taken-handle"})))
        .await
        .expect_error_message(409, "conflict", "Handle already taken");
    let r = sys
        .call(Method::PATCH, me, Some(&json!({"handle": "renamed-sys"})))
        .await;
    assert_eq!(r.expect_json(200), &json!({"status": "updated"}));
    let found = friend.discover("renamed").await;
    assert_eq!(
        found.expect_json(200)["results"][0]["user_id"],
        sys.user_id()
    );
    assert!(
        friend.discover("profile-sys").await.expect_json(200)["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    for bad in [
        json!({"handle": 5}),
        json!({"protocol_version": "1"}),
        json!({"feature_set": "meta:1"}),
        json!({"feature_set": [1]}),
    ] {
        let r = sys.call(Method::PATCH, me, Some(&bad)).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.describe());
        r.expect_error(400, "bad_request");
    }
    for raw in ["[]", "{", "7"] {
        sys.call_raw(Method::PATCH, me, raw)
            .await
            .expect_error(400, "bad_request");
    }

    // A friend narrowing its feature set changes what the list shows.
    for name in [VolumeName::Meta, VolumeName::Members, VolumeName::Fronts] {
        sys.upload_ok(name, 1, &docs::for_volume(name)).await;
    }
    let code = inv.json()["code"].as_str().unwrap().to_owned();
    friend.redeem(&code).await.expect_json(201);
    let entry = sys.requests_list(None).await.remove(0);
    sys.accept(&entry, &default_permissions())
        .await
        .expect_json(200);
    let before = friend.shared_list(sys.user_id()).await;
    assert_eq!(
        names(before.expect_json(200)["volumes"].as_array().unwrap()),
        sorted(&["meta", "members", "fronts"])
    );
    friend
        .call(
            Method::PATCH,
            me,
            Some(&json!({"feature_set": ["meta:1", "fronts:1"]})),
        )
        .await
        .expect_json(200);
    let after = friend.shared_list(sys.user_id()).await;
    assert_eq!(
        names(after.expect_json(200)["volumes"].as_array().unwrap()),
        sorted(&["meta", "fronts"])
    );
}
