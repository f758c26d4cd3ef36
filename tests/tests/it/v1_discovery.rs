//! v1 discovery and the feature-set filter: who finds whom, and what a friend is served
//! according to the system's registered features.

use crate::v1_story_support::{names, sorted};
use coffer_tests::client::{Kind, V1Client, default_permissions};
use coffer_tests::docs;
use coffer_tests::relay::RelayProcess;
use coffer_wire::v1::VolumeName;
use serde_json::json;

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

/// Issue 15, leak 1: v1's substring discovery never returns a v2 account (id, handle and both
/// public keys), since v2 promises lookup by exact handle only (docs/protocol-v2.md §3, W24).
/// Failed before the fix: `discover("hidden")` returned both v2 accounts of the other type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_never_returns_v2_accounts() {
    let relay = RelayProcess::start().await;
    let http = relay.http();
    let mut api = &http;
    let mut v2_ids = Vec::new();
    for (kind, handle) in [
        (Kind::System, "hidden-v2-sys"),
        (Kind::Friend, "hidden-v2-friend"),
    ] {
        let mut account = coffer_test_kit::V2Account::new(kind).with_handle(Some(handle));
        account.register(&mut api).await.unwrap();
        v2_ids.push(account.id.clone());
    }
    let v1_system = V1Client::system(&relay, "hidden-v1-sys").await;
    let v1_friend = V1Client::friend(&relay, "hidden-v1-friend").await;
    let found = |resp: &coffer_tests::Resp| -> Vec<(String, String)> {
        resp.expect_json(200)["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["user_id"].as_str().unwrap().to_owned(),
                    r["handle"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    for query in ["hidden", "v2", "hidden-v2-sys", "hidden-v2-friend", "den-v"] {
        for (seeker, other) in [(&v1_friend, &v1_system), (&v1_system, &v1_friend)] {
            let results = found(&seeker.discover(query).await);
            assert!(
                results.iter().all(|(id, _)| !v2_ids.contains(id)),
                "v1 discover({query:?}) returned a v2 account: {results:?}"
            );
            // v1 accounts of the other type are still found as before.
            if query == "hidden" {
                assert_eq!(
                    results,
                    vec![(
                        other.user_id().to_owned(),
                        other.account.handle.clone().unwrap()
                    )]
                );
            }
        }
    }
}
