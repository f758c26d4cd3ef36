#![allow(clippy::unwrap_used)]
//! The v1 story end to end, over real TLS against the real binary: a System app and Friend apps
//! doing what v1.md §1.4/§1.5 say they do, plus the admin API, discovery, the feature-set filter,
//! Paillier aggregation and the account-deletion cascade.

use std::collections::BTreeMap;

use coffer_tests::client::{
    Admin, Kind, SYNC_ORDER, V1Client, default_permissions, open_volume, upload_body_with_header,
};
use coffer_tests::docs;
use coffer_tests::paillier::{Paillier, decode_number, encode_number};
use coffer_tests::relay::{RelayProcess, files_under, paths_containing};
use coffer_tests::util::{all_strings, assert_whole_hour_now};
use coffer_wire::b64;
use coffer_wire::v1::VolumeName;
use num_bigint::BigUint;
use reqwest::Method;
use serde_json::{Value, json};

const INVITE_ALPHABET: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

fn names(list: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = list
        .iter()
        .map(|h| h["volume_name"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn sorted(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

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
    assert_eq!(r["feature_set"], json!(sys.feature_set));
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
async fn discover_rules() {
    let relay = RelayProcess::start().await;
    let mut systems = Vec::new();
    for handle in [
        "Alpha_Sys",
        "under__sys",
        "pct%%sys",
        "plain-sys",
        "Zeta sys",
    ] {
        systems.push(V1Client::system(&relay, handle).await);
    }
    for i in 0..12 {
        systems.push(V1Client::system(&relay, &format!("bulk-{i:02}")).await);
    }
    // A handle-less system never matches.
    let mut nameless = V1Client::new(&relay, Kind::System);
    nameless.register_ok().await;
    let friend = V1Client::friend(&relay, "seeker").await;
    let other_friend = V1Client::friend(&relay, "Alpha_friend").await;

    let handles = |resp: &coffer_tests::Resp| -> Vec<String> {
        let mut v: Vec<String> = resp.expect_json(200)["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["handle"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };

    assert_eq!(handles(&friend.discover("alpha").await), vec!["Alpha_Sys"]);
    assert_eq!(
        handles(&friend.discover("ALPHA_s").await),
        vec!["Alpha_Sys"]
    );
    // `%` and `_` are literal, not LIKE wildcards (W24).
    assert_eq!(handles(&friend.discover("%%").await), vec!["pct%%sys"]);
    assert_eq!(handles(&friend.discover("__").await), vec!["under__sys"]);
    assert_eq!(handles(&friend.discover("a_s").await), vec!["Alpha_Sys"]);
    assert!(handles(&friend.discover("p%s").await).is_empty());
    // Substring, cross-type only, at most 10 results.
    let bulk = handles(&friend.discover("bulk").await);
    assert_eq!(bulk.len(), 10, "{bulk:?}");
    assert!(bulk.iter().all(|h| h.starts_with("bulk-")));
    assert_eq!(
        handles(&friend.discover("sys").await).len(),
        5,
        "five handles contain 'sys'"
    );
    assert_eq!(
        handles(&systems[0].discover("alpha").await),
        vec!["Alpha_friend"]
    );
    assert!(handles(&other_friend.discover("seeker").await).is_empty());
    // Every result carries the fields the template parses, keys included.
    let resp = friend.discover("zeta").await;
    let r = &resp.expect_json(200)["results"][0];
    for key in [
        "user_id",
        "handle",
        "public_signing_key",
        "public_exchange_key",
        "client_type",
    ] {
        assert!(r[key].is_string(), "{key} missing: {r}");
    }
    assert_eq!(r["public_signing_key"], systems[4].signing_key_b64());
    assert_eq!(r["protocol_version"], 1);
    assert!(r["feature_set"].is_array());
    // Queries shorter than 2 characters (after trimming) → 400.
    for q in ["a", "%", "_", " b ", ""] {
        friend.discover(q).await.expect_error(400, "bad_request");
    }
    friend
        .get("/api/v1/discover")
        .await
        .expect_error(400, "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feature_set_filter() {
    let relay = RelayProcess::start().await;
    let sys = V1Client::system(&relay, "filter-sys").await;
    for name in [
        VolumeName::Meta,
        VolumeName::Members,
        VolumeName::Fronts,
        VolumeName::Journal,
    ] {
        sys.upload_ok(name, 1, &docs::for_volume(name)).await;
    }
    let mut small = V1Client::new(&relay, Kind::Friend)
        .with_handle(Some("small-friend"))
        .with_features(&["meta:1", "members:1"]);
    small.register_ok().await;
    small.login().await;
    let mut fronts_only = V1Client::new(&relay, Kind::Friend)
        .with_handle(Some("fronts-friend"))
        .with_features(&["fronts:1"]);
    fronts_only.register_ok().await;
    fronts_only.login().await;
    let mut none = V1Client::new(&relay, Kind::Friend)
        .with_handle(Some("nofeature-friend"))
        .with_features(&[]);
    none.register_ok().await;
    none.login().await;

    let mut perms = default_permissions();
    perms["share_journal"] = json!(true);
    for f in [&small, &none, &fronts_only] {
        f.redeem(&sys.invite().await).await.expect_json(201);
    }
    for entry in sys.requests_list(None).await {
        sys.accept(&entry, &perms).await.expect_json(200);
    }

    let resp = small.shared_list(sys.user_id()).await;
    let body = resp.expect_json(200);
    assert_eq!(
        names(body["volumes"].as_array().unwrap()),
        sorted(&["meta", "members"])
    );
    let notes: Vec<&str> = body["compatibility_notes"]
        .as_array()
        .unwrap_or_else(|| panic!("no compatibility_notes: {}", resp.describe()))
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for omitted in ["journal", "fronts"] {
        let note = format!("Volume '{omitted}' omitted: your client does not support it.");
        assert!(
            notes.contains(&note.as_str()),
            "missing {note:?} in {notes:?}"
        );
    }
    assert_eq!(notes.len(), 2, "{notes:?}");
    // The filter applies to the list only (#11 does not apply it).
    small
        .shared_get(sys.user_id(), "journal", None)
        .await
        .expect_json(200);
    // meta is never dropped, even when the feature set does not name it.
    let resp = fronts_only.shared_list(sys.user_id()).await;
    assert_eq!(
        names(resp.expect_json(200)["volumes"].as_array().unwrap()),
        sorted(&["meta", "fronts"])
    );
    // An empty feature set means no filtering.
    let resp = none.shared_list(sys.user_id()).await;
    assert_eq!(
        names(resp.expect_json(200)["volumes"].as_array().unwrap()),
        sorted(&["meta", "members", "fronts", "journal"])
    );
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
    assert!(
        !files_under(&blobs).is_empty(),
        "no blob files under {} after three uploads",
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

    // Nothing of the user is left on disk.
    assert!(
        files_under(&blobs).is_empty(),
        "blob files left: {:?}",
        files_under(&blobs)
    );
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
        assert_eq!(u["handle"], json!(who.handle), "{u}");
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
        assert_eq!(fs, json!(who.feature_set));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_pin_and_restart() {
    let mut relay = RelayProcess::start().await;
    let mut sys = V1Client::system(&relay, "tls-sys").await;
    sys.upload_ok(VolumeName::Meta, 1, &docs::meta()).await;

    // A client pinned to another key refuses the relay.
    let wrong_pin = format!("sha256/{}", b64::encode(&[7u8; 32]))
        .parse()
        .unwrap();
    let wrong = coffer_tests::Http::new(relay.url(), wrong_pin);
    let err = coffer_tests::Http::try_send(wrong.request(Method::GET, "/api/v1/health")).await;
    assert!(err.is_err(), "a wrong pin must fail the handshake");

    // TLS 1.2 only → no handshake (the relay serves TLS 1.3 only).
    let tls12 = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(coffer_certs::PinnedServerVerifier::new(relay.pin()))
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls12)
        .build()
        .unwrap();
    let r = client
        .get(format!("{}/api/v1/health", relay.url()))
        .send()
        .await;
    assert!(r.is_err(), "TLS 1.2 handshake succeeded: {r:?}");

    // Plain HTTP is not served.
    let plain = reqwest::Client::builder()
        .use_preconfigured_tls(coffer_certs::client_config_pinned(relay.pin()))
        .build()
        .unwrap();
    let url = relay.url().replacen("https://", "http://", 1);
    if let Ok(r) = plain.get(format!("{url}/api/v1/health")).send().await {
        assert!(
            !r.status().is_success(),
            "plain HTTP got {} from the relay",
            r.status()
        );
    }

    // SIGTERM → clean exit; restart on the same data dir keeps the pin and the data.
    let status = relay.terminate().await;
    assert!(status.success(), "relay exited with {status} after SIGTERM");
    relay.restart().await;
    sys.rebind(&relay);
    sys.login().await;
    let listed = sys.list_volumes().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["version"], 1);
    let own = sys.download_own("meta", None).await;
    open_volume(
        own.expect_json(200),
        "meta",
        &sys.vek,
        &sys.signing_key_b64(),
    );

    // SIGINT is graceful too.
    let status = relay.stop_with("INT").await;
    assert!(status.success(), "relay exited with {status} after SIGINT");
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

    // Expiry times: challenge ≈ now + 300 s, session ≈ now + 3600 s, invite ≈ now + 5 h.
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
    assert!(
        (now + 5 * 3600 - 120..=now + 5 * 3600 + 120).contains(&inv_exp),
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

/// What a curious operator can read: the data directory at rest holds no usable session token
/// (stored hashed, W22; design.md §1 "thief of a relay DB backup") and no admin token; the
/// relay's log (at debug level) holds no token, wrapped key, signature, ciphertext or client
/// IP address (design.md §8, STYLE "Errors").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_and_logs_hold_no_secrets() {
    let mut relay = RelayProcess::builder()
        .env("COFFER_LOG", "debug")
        .env("COFFER_TRUSTED_PROXIES", "127.0.0.1")
        .start()
        .await;
    let client_ip = "198.51.100.77";
    let mut sys = V1Client::system(&relay, "quiet-sys").await;
    let mut friend = V1Client::friend(&relay, "quiet-friend").await;
    let mut secrets: Vec<(&str, Vec<u8>)> = Vec::new();
    let used = sys
        .send(
            sys.req(Method::POST, "/api/v1/auth/challenge")
                .header("X-Forwarded-For", client_ip)
                .body(json!({"user_id": sys.user_id()}).to_string()),
        )
        .await;
    let used_nonce = used.expect_json(200)["nonce"].as_str().unwrap().to_owned();
    let second = sys
        .token_request(sys.user_id(), &used_nonce, &sys.sign_login_b64(&used_nonce))
        .await;
    let second = second.expect_json(200)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sealed = sys
        .upload_ok(VolumeName::Members, 1, &docs::members())
        .await;
    friend.redeem(&sys.invite().await).await.expect_json(201);
    let entry = sys.requests_list(None).await.remove(0);
    sys.accept(&entry, &default_permissions())
        .await
        .expect_json(200);
    let active = friend.requests_list(Some("active")).await;
    let wrapped = active[0]["encrypted_vek_blob"].as_str().unwrap().to_owned();
    friend
        .shared_get(sys.user_id(), "members", None)
        .await
        .expect_json(200);
    // A refused login with a wrong signature, and an upload with a forged signature.
    let n = friend.challenge_nonce().await;
    let bad_sig = b64::encode(&friend.sign_raw(b"nope"));
    friend
        .token_request(friend.user_id(), &n, &bad_sig)
        .await
        .expect_error(403, "forbidden");
    let s2 = sys.seal(VolumeName::Members, 2, &docs::members());
    let forged = b64::encode(&friend.sign_raw(b"forged"));
    sys.put_volume_raw(
        "members",
        upload_body_with_header(&s2.header.canonical_json(), &b64::encode(&s2.blob), &forged),
    )
    .await
    .expect_error(403, "forbidden");

    for (what, token) in [
        ("system token", sys.token().unwrap().to_owned()),
        ("second system token", second),
        ("friend token", friend.token().unwrap().to_owned()),
    ] {
        if let Ok(raw) =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &token)
        {
            secrets.push((what, raw));
        }
        secrets.push((what, token.into_bytes()));
    }
    secrets.push(("admin token", relay.admin_token().as_bytes().to_vec()));
    // The relay must keep these on disk (it serves them), but has no reason to log them.
    let mut log_only: Vec<(&str, Vec<u8>)> = vec![
        ("wrapped VEK", wrapped.clone().into_bytes()),
        ("refused signature", bad_sig.into_bytes()),
        ("forged signature", forged.into_bytes()),
        (
            "upload signature",
            b64::encode(&sealed.signature).into_bytes(),
        ),
        (
            "ciphertext",
            b64::encode(&sealed.blob).as_bytes()[100..160].to_vec(),
        ),
        ("client IP", client_ip.as_bytes().to_vec()),
    ];
    log_only.extend(secrets.iter().cloned());

    // The log.
    let log = relay.stderr_log();
    assert!(
        log.len() > 200,
        "the relay logged (almost) nothing at debug level"
    );
    for (what, needle) in &log_only {
        assert!(
            !contains(log.as_bytes(), needle),
            "the relay log contains the {what}"
        );
    }
    // At rest, also after a crash (WAL not checkpointed).
    relay.kill().await;
    for path in files_under(relay.data_dir()) {
        let bytes = std::fs::read(&path).unwrap();
        for (what, needle) in &secrets {
            assert!(
                !contains(&bytes, needle),
                "{} contains the {what}",
                path.display()
            );
        }
    }
    // Tokens survive as hashes only: after a restart, the same tokens still work or are
    // uniformly refused — never readable.
    relay.restart().await;
    sys.rebind(&relay);
    friend.rebind(&relay);
    sys.login().await;
    friend.login().await;
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
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
