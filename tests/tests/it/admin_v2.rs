//! The admin API shows v1 and v2 together (issue 15): a v1 System with volumes and an active
//! share, a v2 System with volumes, a live grant, an expired grant and a pending pairing, all
//! seeded with the real clients against the real relay binary. One storage figure everywhere
//! (`/admin/stats`, the users, the volumes, `/metrics`), `protocol` on every row, v2 grants with
//! status and expiry and never a key, and paging and filters.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_tests::abuse::metric;
use coffer_tests::client::{Admin, V1Client, default_permissions};
use coffer_tests::docs;
use coffer_tests::relay::RelayProcess;
use coffer_tests::util::all_strings;
use coffer_tests::v2::{config_for, evil_friend, friend, identity_of, system, uid, vol};
use coffer_wire::b64;
use coffer_wire::time::isoformat;
use coffer_wire::v1::VolumeName;
use reqwest::Method;
use serde_json::{Value, json};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn doc(text: &str) -> Vec<u8> {
    format!("{{\"schema_version\":2,\"text\":\"{text}\"}}").into_bytes()
}

fn rows<'a>(answer: &'a Value, key: &str) -> &'a Vec<Value> {
    answer[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} list in {answer}"))
}

fn sum(list: &[Value], field: &str) -> u64 {
    list.iter()
        .map(|r| {
            r[field]
                .as_u64()
                .unwrap_or_else(|| panic!("{field} in {r}"))
        })
        .sum()
}

/// Every page of `path` (which has no query yet) with `limit`, following `next_offset`; checks
/// that pages are disjoint, `total` is the same on each, and together they are `whole`.
async fn pages(admin: &Admin, path: &str, key: &str, limit: u64, whole: &[Value]) {
    let mut seen: Vec<Value> = Vec::new();
    let mut offset = 0;
    let mut calls = 0;
    loop {
        let page = admin
            .get_ok(&format!("{path}?limit={limit}&offset={offset}"))
            .await;
        calls += 1;
        assert_eq!(page["total"], whole.len(), "{path}: {page}");
        let got = rows(&page, key);
        assert!(got.len() as u64 <= limit, "{path}: {page}");
        for row in got {
            assert!(!seen.contains(row), "{path}: {row} on two pages");
            seen.push(row.clone());
        }
        match page["next_offset"].as_u64() {
            Some(next) => {
                assert_eq!(next, offset + got.len() as u64, "{path}: {page}");
                offset = next;
            }
            None => {
                assert!(page["next_offset"].is_null(), "{path}: {page}");
                break;
            }
        }
        assert!(calls < 100, "{path}: paging does not end");
    }
    assert_eq!(seen, whole, "{path}: the pages in order are the whole list");
    assert!(
        calls >= 2,
        "{path}: {limit} per page should need several pages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_shows_v1_and_v2_together() {
    let relay = RelayProcess::start().await;
    let admin = Admin::new(&relay);

    // v1: a system with two volumes and an active share.
    let sys1 = V1Client::system(&relay, "adm-v1-sys").await;
    let friend1 = V1Client::friend(&relay, "adm-v1-friend").await;
    let meta1 = sys1.upload_ok(VolumeName::Meta, 1, &docs::meta()).await;
    let members1 = sys1
        .upload_ok(VolumeName::Members, 2, &docs::members())
        .await;
    friend1.redeem(&sys1.invite().await).await.expect_json(201);
    let entry = sys1.requests_list(None).await.remove(0);
    sys1.accept(&entry, &default_permissions())
        .await
        .expect_json(200);
    let v1_wrapped = friend1.requests_list(Some("active")).await[0]["encrypted_vek_blob"]
        .as_str()
        .unwrap()
        .to_owned();

    // v2: a system with three volumes (one namespaced).
    let config = config_for(relay.url(), relay.pin());
    let (sys2, sys2_store) = system(&config).await;
    let sys2_id = sys2.user_id();
    let (meta, members, notes) = (vol("meta"), vol("members"), vol("org.example.notes"));
    for (volume, text) in [(&meta, "m"), (&members, "members"), (&notes, "notes")] {
        sys2.publish(volume, &doc(text)).await.unwrap();
    }
    sys2.publish(&meta, &doc("m2")).await.unwrap();

    // Friend A: a live grant of meta and notes, expiring in a day.
    let (a, a_relay, a_store) = evil_friend(&config).await;
    let a_expiry = now() + 86_400;
    a.redeem(&sys2.create_invite().await.unwrap())
        .await
        .unwrap();
    sys2.approve(a.user_id(), &[meta.clone(), notes.clone()], Some(a_expiry))
        .await
        .unwrap();
    a.fetch(sys2_id, &meta).await.unwrap();
    let a_wrapped = a_relay
        .recorded_shared(uid(sys2_id), &meta, 2)
        .expect("A fetched meta version 2")
        .wrapped_key;
    let sequence = *a_relay
        .recorded_grant_sequences(uid(sys2_id))
        .last()
        .expect("A's grant was served");
    let a_grant = a_relay.recorded_grant(uid(sys2_id), sequence).unwrap();

    // Friend B: a grant that expires in a few seconds.
    let (b, b_store) = friend(&config).await;
    let b_expiry = now() + 4;
    b.redeem(&sys2.create_invite().await.unwrap())
        .await
        .unwrap();
    sys2.approve(b.user_id(), std::slice::from_ref(&members), Some(b_expiry))
        .await
        .unwrap();

    // Friend C: redeemed, not approved: a pending pairing.
    let (c, c_store) = friend(&config).await;
    c.redeem(&sys2.create_invite().await.unwrap())
        .await
        .unwrap();

    // Wait until B's grant is past its expiry (now >= expires_at).
    while now() < b_expiry + 1 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut bodies: Vec<(String, String)> = Vec::new();

    // Stats: v2 counted in every dashboard field.
    let stats = admin.get_ok("/api/v1/admin/stats").await;
    bodies.push(("stats".into(), stats.to_string()));
    assert_eq!(stats["system_users"], 2, "{stats}");
    assert_eq!(stats["friend_users"], 4, "{stats}");
    assert_eq!(stats["total_volumes"], 5, "{stats}");
    assert_eq!(stats["active_shares"], 2, "v1 + A: {stats}");
    assert_eq!(stats["pending_shares"], 1, "C: {stats}");
    let breakdown = rows(&stats, "volume_breakdown");
    let names: Vec<&str> = breakdown
        .iter()
        .map(|b| b["volume_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["members", "meta", "org.example.notes"], "{stats}");
    assert_eq!(breakdown[1]["count"], 2, "v1 and v2 meta: {stats}");
    assert_eq!(sum(breakdown, "count"), 5);
    let total = stats["total_storage_bytes"].as_u64().unwrap();
    assert_eq!(sum(breakdown, "total_bytes"), total);
    let by_protocol = rows(&stats, "by_protocol");
    assert_eq!(by_protocol[0]["protocol"], 1);
    assert_eq!(by_protocol[0]["users"], 2);
    assert_eq!(by_protocol[0]["volumes"], 2);
    assert_eq!(
        by_protocol[0]["storage_bytes"],
        meta1.blob.len() + members1.blob.len()
    );
    assert_eq!(
        (&by_protocol[1]["protocol"], &by_protocol[1]["users"]),
        (&json!(2), &json!(4))
    );
    assert_eq!(by_protocol[1]["volumes"], 3);
    assert_eq!(
        sum(by_protocol, "storage_bytes"),
        total,
        "the split adds up: {stats}"
    );

    // Volumes: every v2 volume with protocol 2 and its epoch; one storage figure.
    let volumes = admin.get_ok("/api/v1/admin/volumes").await;
    bodies.push(("volumes".into(), volumes.to_string()));
    let vlist = rows(&volumes, "volumes").clone();
    assert_eq!(vlist.len(), 5, "{volumes}");
    assert_eq!(volumes["total"], 5);
    assert!(volumes["next_offset"].is_null(), "{volumes}");
    let v2_rows: Vec<&Value> = vlist
        .iter()
        .filter(|v| v["user_id"] == sys2_id.to_string())
        .collect();
    assert_eq!(v2_rows.len(), 3, "{volumes}");
    for v in &v2_rows {
        assert_eq!(v["protocol"], 2, "{v}");
        assert_eq!(v["epoch"], 1, "{v}");
        assert!(v["size_bytes"].as_u64().unwrap() >= 1024, "{v}");
    }
    let v2_meta = v2_rows.iter().find(|v| v["volume_name"] == "meta").unwrap();
    assert_eq!(v2_meta["version"], 2);
    for v in vlist.iter().filter(|v| v["user_id"] == sys1.user_id()) {
        assert_eq!(
            (&v["protocol"], &v["epoch"]),
            (&json!(1), &Value::Null),
            "{v}"
        );
    }
    assert_eq!(sum(&vlist, "size_bytes"), total, "volumes sum = stats");

    // Users: protocol per user; storage adds up to the same figure.
    let users = admin.get_ok("/api/v1/admin/users").await;
    bodies.push(("users".into(), users.to_string()));
    let ulist = rows(&users, "users").clone();
    assert_eq!(ulist.len(), 6);
    assert_eq!(
        sum(&ulist, "storage_used_bytes"),
        total,
        "users sum = stats"
    );
    let v2_ids: BTreeSet<String> = [sys2_id, a.user_id(), b.user_id(), c.user_id()]
        .iter()
        .map(ToString::to_string)
        .collect();
    for u in &ulist {
        let v2 = v2_ids.contains(u["id"].as_str().unwrap());
        let p = if v2 { 2 } else { 1 };
        assert_eq!(
            (&u["protocol"], &u["protocol_version"]),
            (&json!(p), &json!(p)),
            "{u}"
        );
        assert!(u["feature_set"].is_string(), "{u}");
    }
    let sys2_row = ulist
        .iter()
        .find(|u| u["id"] == sys2_id.to_string())
        .unwrap();
    assert_eq!(
        sys2_row["storage_used_bytes"].as_u64().unwrap(),
        v2_rows
            .iter()
            .map(|v| v["size_bytes"].as_u64().unwrap())
            .sum::<u64>()
    );

    // /metrics: the same storage figure.
    let m = admin.call(Method::GET, "/metrics").await;
    m.expect_status(200);
    let text = String::from_utf8(m.body.clone()).unwrap();
    assert_eq!(
        metric(&text, "coffer_storage_bytes"),
        Some(total as f64),
        "{text}"
    );

    // users/{id} of the v2 system: its v2 volumes.
    let one = admin
        .get_ok(&format!("/api/v1/admin/users/{sys2_id}"))
        .await;
    bodies.push(("user".into(), one.to_string()));
    assert_eq!(one["protocol"], 2);
    assert_eq!(one["storage_used_bytes"], sys2_row["storage_used_bytes"]);
    let own = rows(&one, "volumes");
    assert_eq!(own.len(), 3, "{one}");
    assert!(own.iter().all(|v| v["protocol"] == 2), "{one}");

    // Sharing: the v1 share and the three v2 pairings with status, expiry and granted volumes.
    let sharing = admin.get_ok("/api/v1/admin/sharing").await;
    bodies.push(("sharing".into(), sharing.to_string()));
    let slist = rows(&sharing, "sharing").clone();
    assert_eq!(slist.len(), 4, "{sharing}");
    let by_friend = |id: String| {
        slist
            .iter()
            .find(|s| s["friend_user_id"] == id)
            .unwrap_or_else(|| panic!("no row for friend {id}: {sharing}"))
            .clone()
    };
    let permissions = |s: &Value| -> Value {
        serde_json::from_str(s["permissions"].as_str().expect("permissions is JSON text"))
            .expect("permissions parses")
    };
    let v1_row = by_friend(friend1.user_id().to_owned());
    assert_eq!(
        (&v1_row["protocol"], &v1_row["status"]),
        (&json!(1), &json!("active"))
    );
    assert!(v1_row["expires_at"].is_null());
    assert_eq!(permissions(&v1_row), default_permissions());
    let a_row = by_friend(a.user_id().to_string());
    assert_eq!(a_row["protocol"], 2);
    assert_eq!(a_row["system_user_id"], sys2_id.to_string());
    assert_eq!(a_row["status"], "active", "{a_row}");
    assert_eq!(a_row["expires_at"], isoformat(a_expiry as i64, 0));
    assert_eq!(
        permissions(&a_row),
        json!({"meta": true, "org.example.notes": true})
    );
    let b_row = by_friend(b.user_id().to_string());
    assert_eq!(b_row["status"], "expired", "{b_row}");
    assert_eq!(b_row["expires_at"], isoformat(b_expiry as i64, 0));
    assert_eq!(permissions(&b_row), json!({"members": true}));
    let c_row = by_friend(c.user_id().to_string());
    assert_eq!(c_row["status"], "pending", "{c_row}");
    assert!(c_row["expires_at"].is_null());
    assert_eq!(permissions(&c_row), json!({}));
    println!("v2 volume row: {}", v2_meta);
    println!("v2 sharing row: {a_row}");

    // No key material anywhere: public keys, wrapped keys, grant bytes and signatures, tokens.
    let mut secrets: Vec<(String, String)> = vec![
        ("v1 wrapped VEK".into(), v1_wrapped),
        ("v2 wrapped key".into(), a_wrapped.to_b64()),
        ("v2 grant bytes".into(), b64::encode(&a_grant.grant)),
        ("v2 grant signature".into(), a_grant.signature.to_b64()),
        ("v1 signature".into(), b64::encode(&meta1.signature)),
    ];
    for c in [&sys1, &friend1] {
        secrets.push(("v1 signing key".into(), c.signing_key_b64()));
        secrets.push(("v1 exchange key".into(), c.exchange_key_b64()));
        secrets.push(("v1 token".into(), c.token().unwrap().to_owned()));
    }
    for store in [&sys2_store, &a_store, &b_store, &c_store] {
        let id = identity_of(store);
        secrets.push(("v2 signing key".into(), id.public_signing_key_b64()));
        secrets.push(("v2 exchange key".into(), id.public_exchange_key_b64()));
    }
    for (what, body) in &bodies {
        for (kind, secret) in &secrets {
            assert!(
                !body.contains(secret.as_str()),
                "admin {what} answer contains a {kind}"
            );
        }
        let v: Value = serde_json::from_str(body).unwrap();
        for s in all_strings(&v) {
            assert!(
                s.len() < 40 || s.starts_with('{') || s.starts_with('['),
                "admin {what} answer has a long opaque string {s:?}"
            );
        }
    }

    // Paging: disjoint pages that cover the whole list, in the same order.
    pages(&admin, "/api/v1/admin/volumes", "volumes", 2, &vlist).await;
    pages(&admin, "/api/v1/admin/users", "users", 4, &ulist).await;
    pages(&admin, "/api/v1/admin/sharing", "sharing", 3, &slist).await;

    // Filters filter.
    let v2_only = admin.get_ok("/api/v1/admin/volumes?protocol=2").await;
    assert_eq!(v2_only["total"], 3);
    assert!(rows(&v2_only, "volumes").iter().all(|v| v["protocol"] == 2));
    let metas = admin.get_ok("/api/v1/admin/volumes?volume_name=meta").await;
    let protocols: Vec<&Value> = rows(&metas, "volumes")
        .iter()
        .map(|v| &v["protocol"])
        .collect();
    assert_eq!(protocols.len(), 2, "{metas}");
    assert!(protocols.contains(&&json!(1)) && protocols.contains(&&json!(2)));
    let owned = admin
        .get_ok(&format!("/api/v1/admin/volumes?user_id={sys2_id}&limit=10"))
        .await;
    assert_eq!(rows(&owned, "volumes").len(), 3);
    let friends_volumes = admin
        .get_ok("/api/v1/admin/volumes?client_type=friend")
        .await;
    assert_eq!(friends_volumes["total"], 0);
    let v1_users = admin.get_ok("/api/v1/admin/users?protocol=1").await;
    assert_eq!(v1_users["total"], 2);
    assert!(rows(&v1_users, "users").iter().all(|u| u["protocol"] == 1));
    let v2_friends = admin
        .get_ok("/api/v1/admin/users?protocol=2&client_type=friend")
        .await;
    assert_eq!(v2_friends["total"], 3);
    let expired = admin.get_ok("/api/v1/admin/sharing?status=expired").await;
    assert_eq!(rows(&expired, "sharing").len(), 1);
    assert_eq!(
        expired["sharing"][0]["friend_user_id"],
        b.user_id().to_string()
    );
    let v1_shares = admin.get_ok("/api/v1/admin/sharing?protocol=1").await;
    assert_eq!(rows(&v1_shares, "sharing").len(), 1);
    let a_shares = admin
        .get_ok(&format!("/api/v1/admin/sharing?user_id={}", a.user_id()))
        .await;
    assert_eq!(rows(&a_shares, "sharing").len(), 1);

    // Absurd or unknown parameters: 400 with a JSON error.
    for bad in [
        "/api/v1/admin/volumes?limit=0",
        "/api/v1/admin/volumes?limit=1000000",
        "/api/v1/admin/users?limit=-1",
        "/api/v1/admin/users?protocol=3",
        "/api/v1/admin/users?volume_name=meta",
        "/api/v1/admin/volumes?user_id=../stats",
        "/api/v1/admin/sharing?status=gone",
        "/api/v1/admin/volumes?offset=1&offset=2",
    ] {
        admin
            .call(Method::GET, bad)
            .await
            .expect_error(400, "bad_request");
    }
}
