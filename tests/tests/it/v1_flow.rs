//! The v1 story end to end, over real TLS against the real binary: a System app and Friend apps
//! doing what v1.md §1.4/§1.5 say they do — register, sync, invite, redeem, accept, read, revoke.
//! The other `v1_*` suites take one resource each (volumes, discovery, accounts, admin API,
//! operations).

use std::collections::BTreeMap;

use crate::v1_story_support::{names, sorted};
use coffer_tests::client::{Kind, SYNC_ORDER, V1Client, default_permissions, open_volume};
use coffer_tests::docs;
use coffer_tests::relay::RelayProcess;
use coffer_tests::util::assert_whole_hour_now;
use coffer_wire::v1::VolumeName;
use reqwest::Method;
use serde_json::{Value, json};

const INVITE_ALPHABET: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Checks a sharing object (answer of #13/#19) as v1.md §1.3 #13 describes it.
fn check_new_sharing_object(obj: &Value, system: &V1Client, friend: &V1Client) {
    assert!(
        uuid::Uuid::parse_str(obj["id"].as_str().unwrap()).is_ok(),
        "{obj}"
    );
    assert_eq!(obj["system_user_id"], system.user_id(), "{obj}");
    assert_eq!(obj["friend_user_id"], friend.user_id(), "{obj}");
    assert_eq!(
        obj["friend_exchange_public_key"],
        friend.exchange_key_b64(),
        "{obj}"
    );
    assert_eq!(obj["status"], "pending", "{obj}");
    assert_eq!(obj["permissions"], json!({}), "{obj}");
    assert_eq!(obj["encrypted_vek_blob"], Value::Null, "{obj}");
    assert_whole_hour_now(&obj["created_at"], "sharing created_at");
    assert_whole_hour_now(&obj["updated_at"], "sharing updated_at");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_story() {
    let relay = RelayProcess::start().await;
    let http = relay.http();

    // Health: no auth, the dashboard's fields, no user count (W26).
    let health = http.send(http.request(Method::GET, "/api/v1/health")).await;
    let h = health.expect_json(200);
    health.assert_flask_json();
    assert_eq!(h["status"], "ok");
    assert!(h["version"].is_string(), "{h}");
    assert_eq!(h["min_protocol_version"], 1);
    assert!(h["uptime_seconds"].is_u64(), "{h}");
    assert!(
        h.get("registered_users").is_none(),
        "health leaks the user count: {h}"
    );

    // Connect (§1.5): register, log in, then list pending and active requests.
    let mut sys = V1Client::new(&relay, Kind::System).with_handle(Some("LightHouse-Collective"));
    let reg = sys.register().await;
    reg.expect_json(201);
    reg.assert_flask_json();
    sys.login().await;
    assert!(sys.requests_list(None).await.is_empty());
    assert!(sys.requests_list(Some("active")).await.is_empty());

    let friend = V1Client::friend(&relay, "river-friend").await;
    let friend2 = V1Client::friend(&relay, "moss-friend").await;

    // Sync Now: the 7 uploads in the template's order, version 1 each.
    let mut sealed = BTreeMap::new();
    for name in SYNC_ORDER {
        let (resp, s) = sys.upload(name, 1, &docs::for_volume(name)).await;
        assert_eq!(
            resp.expect_json(200),
            &json!({"status": "stored", "version": 1})
        );
        resp.assert_flask_json();
        sealed.insert(name.as_str().to_owned(), s);
    }

    // A second "Sync Now" from a fresh counter (the template's in-memory VolumeVersions):
    // every upload is stale → 409 with the message and the current version.
    let (stale, _) = sys.upload(VolumeName::Members, 1, &docs::members()).await;
    let body = stale.expect_error_message(409, "conflict", "Volume version must be > 1, got 1");
    assert_eq!(body["current_version"], 1, "{}", stale.describe());
    stale.assert_flask_json();

    // GET /volumes: the 7 headers exactly as sent.
    let listed = sys.list_volumes().await;
    assert_eq!(
        names(&listed),
        sorted(&[
            "meta", "members", "fronts", "journal", "chat", "polls", "vault"
        ])
    );
    for header in &listed {
        let name = header["volume_name"].as_str().unwrap();
        let sent: Value = serde_json::from_str(&sealed[name].header.canonical_json()).unwrap();
        assert_eq!(
            header, &sent,
            "listed header of {name} differs from the uploaded one"
        );
    }
    let list_resp = sys.get("/api/v1/volumes").await;
    list_resp.assert_flask_json();
    // Friends own no volumes.
    assert!(friend.list_volumes().await.is_empty());

    // Discover: the friend finds the system by a case-insensitive substring, with its signing key.
    let found = friend.discover("lighthouse").await;
    found.assert_flask_json();
    let results = found.expect_json(200)["results"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(results.len(), 1, "{}", found.describe());
    let r = &results[0];
    assert_eq!(r["user_id"], sys.user_id());
    assert_eq!(r["handle"], "LightHouse-Collective");
    assert_eq!(r["public_signing_key"], sys.signing_key_b64());
    assert_eq!(r["public_exchange_key"], sys.exchange_key_b64());
    assert_eq!(r["client_type"], "system");
    assert_eq!(r["protocol_version"], 1);
    assert_eq!(r["feature_set"], json!(sys.account.feature_set));
    let system_signing_key = r["public_signing_key"].as_str().unwrap().to_owned();
    // Systems see only friends; friends only systems.
    let from_sys = sys.discover("river").await;
    let from_sys = from_sys.expect_json(200)["results"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(from_sys.len(), 1, "{from_sys:?}");
    assert_eq!(from_sys[0]["user_id"], friend.user_id());
    assert!(
        sys.discover("lighthouse").await.expect_json(200)["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        friend.discover("moss").await.expect_json(200)["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Invite (no body) → friend redeems the lower-cased code → pending.
    let code = sys.invite().await;
    assert_eq!(code.len(), 12, "{code}");
    assert!(code.chars().all(|c| INVITE_ALPHABET.contains(c)), "{code}");
    let redeemed = friend.redeem(&format!(" {} ", code.to_lowercase())).await;
    redeemed.assert_flask_json();
    check_new_sharing_object(redeemed.expect_json(201), &sys, &friend);
    // Single use: a second redeem (by another friend) → 410; "gone" is checked before "not a
    // friend" (v1.md §1.3 #19), so a system gets 410 too.
    friend2.redeem(&code).await.expect_error(410, "gone");
    sys.redeem(&code).await.expect_error(410, "gone");
    // Wrong client types, with the messages v1 apps may show.
    friend
        .call(Method::POST, "/api/v1/sharing/invite", None)
        .await
        .expect_error_message(
            403,
            "forbidden",
            "Only system clients can perform this action",
        );
    sys.shared_list(sys.user_id()).await.expect_error_message(
        403,
        "forbidden",
        "Only friend clients can perform this action",
    );

    // The request path: friend2 found the system by handle and asks.
    let req2 = friend2.request_share(sys.user_id()).await;
    check_new_sharing_object(req2.expect_json(201), &sys, &friend2);
    friend2
        .request_share(sys.user_id())
        .await
        .expect_error(409, "conflict");

    // The system lists pending requests the template's way (no status parameter), newest first.
    let pending_resp = sys.requests(None).await;
    pending_resp.assert_flask_json();
    let pending = pending_resp.expect_json(200)["requests"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(pending.len(), 2, "{}", pending_resp.describe());
    assert_eq!(
        pending[0]["friend_user_id"],
        friend2.user_id(),
        "not newest first"
    );
    assert_eq!(
        pending[1]["friend_user_id"],
        friend.user_id(),
        "not newest first"
    );
    for (entry, f, handle) in [
        (&pending[0], &friend2, "moss-friend"),
        (&pending[1], &friend, "river-friend"),
    ] {
        assert_eq!(entry["status"], "pending");
        assert_eq!(entry["system_user_id"], sys.user_id());
        assert_eq!(entry["friend_exchange_public_key"], f.exchange_key_b64());
        assert_eq!(entry["friend_handle"], handle);
        assert_eq!(entry["system_handle"], Value::Null, "system view: {entry}");
        assert_eq!(
            entry["system_exchange_public_key"],
            Value::Null,
            "system view: {entry}"
        );
        assert_eq!(entry["encrypted_vek_blob"], Value::Null);
    }
    assert!(sys.requests_list(Some("active")).await.is_empty());
    sys.requests(Some("bogus"))
        .await
        .expect_error(400, "bad_request");

    // Accept both with a wrapped VEK and the default permissions.
    for entry in &pending {
        let resp = sys.accept(entry, &default_permissions()).await;
        assert_eq!(resp.expect_json(200), &json!({"status": "accepted"}));
        resp.assert_flask_json();
    }
    assert!(sys.requests_list(None).await.is_empty());
    assert_eq!(sys.requests_list(Some("active")).await.len(), 2);
    assert_eq!(sys.requests_list(Some("all")).await.len(), 2);

    // The friend polls ?status=active and learns the system's exchange key and its wrapped VEK.
    let active = friend.requests_list(Some("active")).await;
    assert_eq!(active.len(), 1, "{active:?}");
    let entry = &active[0];
    let rel_id = entry["id"].as_str().unwrap().to_owned();
    assert_eq!(entry["status"], "active");
    assert_eq!(entry["system_user_id"], sys.user_id());
    assert_eq!(entry["friend_user_id"], friend.user_id());
    assert_eq!(entry["system_handle"], "LightHouse-Collective");
    assert_eq!(entry["system_exchange_public_key"], sys.exchange_key_b64());
    assert_eq!(
        entry["friend_exchange_public_key"],
        Value::Null,
        "friend view: {entry}"
    );
    assert_eq!(entry["friend_handle"], Value::Null, "friend view: {entry}");
    assert_whole_hour_now(&entry["created_at"], "active sharing created_at");
    assert_whole_hour_now(&entry["updated_at"], "active sharing updated_at");
    assert_eq!(entry["permissions"], default_permissions());
    let vek = friend.unwrap_vek(entry);
    assert_eq!(vek.expose_secret(), sys.vek.expose_secret());

    // List: only meta, members, fronts (defaults), with the uploaded headers.
    let shared = friend.shared_list(sys.user_id()).await;
    shared.assert_flask_json();
    let shared_list = shared.expect_json(200)["volumes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(names(&shared_list), sorted(&["meta", "members", "fronts"]));
    assert!(
        shared.json()["compatibility_notes"]
            .as_array()
            .is_none_or(|n| n.is_empty()),
        "a friend with all 8 features gets no notes: {}",
        shared.describe()
    );

    // Download each, verify with the key from discover, decrypt, compare with what was sent.
    for name in ["meta", "members", "fronts"] {
        let resp = friend.shared_get(sys.user_id(), name, None).await;
        resp.assert_flask_json();
        let answer = resp.expect_json(200);
        assert!(
            answer["encrypted_vek_blob"].is_string(),
            "{}",
            resp.describe()
        );
        let opened = open_volume(answer, name, &vek, &system_signing_key);
        assert_eq!(
            opened.document,
            docs::for_volume(name.parse().unwrap()),
            "{name}"
        );
        assert_eq!(
            opened.blob, sealed[name].blob,
            "{name}: served blob differs"
        );
        assert_eq!(
            opened.header, sealed[name].header,
            "{name}: served header differs"
        );
        // The friend's own wrapped VEK rides along and opens.
        let again = friend.unwrap_vek_parts(
            &sys.exchange_key_b64(),
            answer["encrypted_vek_blob"].as_str().unwrap(),
        );
        assert_eq!(again.expose_secret(), vek.expose_secret());
    }

    // Conditional GET: bare integer ≥ stored → 304 empty; older or quoted → 200.
    for inm in ["1", "5"] {
        let r = friend.shared_get(sys.user_id(), "members", Some(inm)).await;
        r.expect_status(304);
        assert!(r.body.is_empty(), "304 with a body: {}", r.describe());
    }
    for inm in ["0", "\"1\""] {
        friend
            .shared_get(sys.user_id(), "members", Some(inm))
            .await
            .expect_json(200);
    }
    let own = sys.download_own("members", Some("1")).await;
    own.expect_status(304);
    assert!(own.body.is_empty());
    let own = sys.download_own("members", Some("0")).await;
    open_volume(
        own.expect_json(200),
        "members",
        &sys.vek,
        &sys.signing_key_b64(),
    );

    // Not shared: journal (and the rest) → 403 with the template-visible message.
    for name in ["journal", "chat", "polls", "vault", "analytics"] {
        friend
            .shared_get(sys.user_id(), name, None)
            .await
            .expect_error_message(403, "forbidden", "This volume is not shared with you");
    }

    // PATCH permissions adds journal → now readable and listed.
    let mut perms = default_permissions();
    perms["share_journal"] = json!(true);
    let patched = sys.patch_permissions(&rel_id, &perms).await;
    assert_eq!(patched.expect_json(200), &json!({"status": "updated"}));
    let j = friend.shared_get(sys.user_id(), "journal", None).await;
    let opened = open_volume(j.expect_json(200), "journal", &vek, &system_signing_key);
    assert_eq!(opened.document, docs::journal());
    let listed = friend.shared_list(sys.user_id()).await;
    assert_eq!(
        names(listed.expect_json(200)["volumes"].as_array().unwrap()),
        sorted(&["meta", "members", "fronts", "journal"])
    );

    // chat is never reachable, whatever the flags say.
    let all_flags = json!({
        "share_front_status": true, "share_members": true, "share_front_history": true,
        "share_journal": true, "share_mood_trends": true, "share_polls": true,
        "share_vault": true, "share_chat": true
    });
    sys.patch_permissions(&rel_id, &all_flags)
        .await
        .expect_json(200);
    friend
        .shared_get(sys.user_id(), "chat", None)
        .await
        .expect_error_message(403, "forbidden", "This volume is not shared with you");
    let listed = friend.shared_list(sys.user_id()).await;
    assert_eq!(
        names(listed.expect_json(200)["volumes"].as_array().unwrap()),
        sorted(&["meta", "members", "fronts", "journal", "polls", "vault"])
    );
    sys.patch_permissions(&rel_id, &perms)
        .await
        .expect_json(200);
    friend
        .shared_get(sys.user_id(), "vault", None)
        .await
        .expect_error(403, "forbidden");

    // A new members version reaches the friend; the old version number now gets 200.
    let mut members2 = docs::members();
    members2["members"][0]["name"] = json!("Ash (they/them)");
    let s2 = sys.upload_ok(VolumeName::Members, 2, &members2).await;
    let r = friend.shared_get(sys.user_id(), "members", Some("1")).await;
    let opened = open_volume(r.expect_json(200), "members", &vek, &system_signing_key);
    assert_eq!(opened.header.version, 2);
    assert_eq!(opened.document, members2);
    assert_eq!(opened.blob, s2.blob);
    friend
        .shared_get(sys.user_id(), "members", Some("2"))
        .await
        .expect_status(304);
    sys.upload(VolumeName::Members, 2, &members2)
        .await
        .0
        .expect_error_message(409, "conflict", "Volume version must be > 2, got 2");

    // friend2 reads too.
    let f2_active = friend2.requests_list(Some("active")).await;
    let vek2 = friend2.unwrap_vek(&f2_active[0]);
    let r = friend2.shared_get(sys.user_id(), "meta", None).await;
    open_volume(r.expect_json(200), "meta", &vek2, &system_signing_key);

    // Revoke (system deletes the relationship) → the friend is cut off at once.
    let revoked = sys.delete_sharing(&rel_id).await;
    revoked.expect_status(204);
    friend
        .shared_list(sys.user_id())
        .await
        .expect_error_message(403, "forbidden", "No active sharing relationship");
    friend
        .shared_get(sys.user_id(), "meta", None)
        .await
        .expect_error_message(403, "forbidden", "No active sharing relationship");
    assert!(friend.requests_list(Some("all")).await.is_empty());
    sys.delete_sharing(&rel_id)
        .await
        .expect_error(404, "not_found");
    // friend2 is unaffected.
    friend2
        .shared_get(sys.user_id(), "meta", None)
        .await
        .expect_json(200);

    // The row is gone, so the friend may ask again; the system rejects → row deleted.
    let again = friend.request_share(sys.user_id()).await;
    let again_id = again.expect_json(201)["id"].as_str().unwrap().to_owned();
    let rejected = sys.reject(&again_id).await;
    assert_eq!(rejected.expect_json(200), &json!({"status": "rejected"}));
    assert!(sys.requests_list(None).await.is_empty());
    assert!(friend.requests_list(Some("all")).await.is_empty());

    // friend2 leaves.
    let f2_rel = f2_active[0]["id"].as_str().unwrap();
    friend2.delete_sharing(f2_rel).await.expect_status(204);
    friend2
        .shared_list(sys.user_id())
        .await
        .expect_error(403, "forbidden");
    assert!(sys.requests_list(Some("all")).await.is_empty());
}
