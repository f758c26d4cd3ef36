//! The fetch cache (docs/adr/0028-fetch-fast-path-and-request-log.md) never serves past a
//! change: each test warms the cache with a fetch, checks that the next fetch really was
//! answered from memory (`/metrics`), then makes a change — a new version, narrowed
//! permissions, a revoked share, a revoked grant, an unpairing, a deleted volume, a deleted
//! account, expired sessions — and checks that the very next fetch answers the new state.

use coffer_client_core::client::{ClientError, Fetched};
use coffer_client_core::transport::{Fetched as Served, TransportError};
use coffer_tests::Resp;
use coffer_tests::client::{Admin, V1Client, default_permissions};
use coffer_tests::relay::RelayProcess;
use coffer_tests::v2::{config_for, friend, pair, plaintext, system, uid, vol};
use coffer_wire::v1::VolumeName;
use reqwest::Method;
use serde_json::json;

/// Fetches answered from the cache so far (`coffer_fetch_cache_lookups_total{result="hit"}`).
async fn cache_hits(relay: &RelayProcess) -> u64 {
    let http = relay.http();
    let resp = http
        .send(
            http.request(Method::GET, "/metrics")
                .header("X-Admin-Token", relay.admin_token()),
        )
        .await;
    resp.expect_status(200);
    let text = String::from_utf8_lossy(&resp.body);
    text.lines()
        .find_map(|l| l.strip_prefix("coffer_fetch_cache_lookups_total{result=\"hit\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no cache hit counter in /metrics:\n{text}"))
}

/// Runs `fetch` twice and asserts the second answer came from the cache, byte for byte the
/// first; returns it.
async fn warm<F, Fut>(relay: &RelayProcess, fetch: F) -> Resp
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Resp>,
{
    let first = fetch().await;
    let before = cache_hits(relay).await;
    let second = fetch().await;
    assert_eq!(
        cache_hits(relay).await,
        before + 1,
        "the second fetch was answered from the cache"
    );
    assert_eq!(second.status, first.status);
    assert_eq!(
        second.body, first.body,
        "cached bytes are the database path's"
    );
    assert_eq!(
        second.header("content-type"),
        first.header("content-type"),
        "{}",
        second.describe()
    );
    second
}

/// A system sharing `meta` and `members` (version 1 each) with an accepted friend; returns
/// them and the relationship id.
async fn shared_v1(relay: &RelayProcess, tag: &str) -> (V1Client, V1Client, String) {
    let sys = V1Client::system(relay, &format!("fc-sys-{tag}")).await;
    let friend = V1Client::friend(relay, &format!("fc-fri-{tag}")).await;
    friend.redeem(&sys.invite().await).await.expect_json(201);
    let entry = sys.requests_list(None).await.remove(0);
    sys.accept(&entry, &default_permissions())
        .await
        .expect_json(200);
    sys.upload_ok(VolumeName::Meta, 1, &json!({"v": 1})).await;
    sys.upload_ok(VolumeName::Members, 1, &json!({"m": 1}))
        .await;
    let id = entry["id"].as_str().unwrap().to_owned();
    (sys, friend, id)
}

fn version_of(resp: &Resp) -> u64 {
    resp.expect_json(200)["control_header"]["version"]
        .as_u64()
        .unwrap_or_else(|| panic!("no version: {}", resp.describe()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_friend_fetches_follow_new_versions_permissions_and_revocation() {
    let relay = RelayProcess::start().await;
    let (sys, friend, rel) = shared_v1(&relay, "a").await;
    let s = sys.user_id().to_owned();

    // A new version is served at once, to a plain fetch and to a conditional one.
    let cached = warm(&relay, || friend.shared_get(&s, "meta", None)).await;
    assert_eq!(version_of(&cached), 1);
    warm(&relay, || friend.shared_get(&s, "meta", Some("1")))
        .await
        .expect_status(304);
    sys.upload_ok(VolumeName::Meta, 2, &json!({"v": 2})).await;
    assert_eq!(
        version_of(&friend.shared_get(&s, "meta", Some("1")).await),
        2
    );
    assert_eq!(version_of(&friend.shared_get(&s, "meta", None).await), 2);

    // Narrowed permissions: members is refused at once.
    warm(&relay, || friend.shared_get(&s, "members", None))
        .await
        .expect_json(200);
    let mut narrowed = default_permissions();
    narrowed["share_members"] = json!(false);
    sys.patch_permissions(&rel, &narrowed)
        .await
        .expect_json(200);
    friend
        .shared_get(&s, "members", None)
        .await
        .expect_error(403, "forbidden");

    // A revoked share: nothing is served, not even a 304.
    warm(&relay, || friend.shared_get(&s, "meta", None)).await;
    warm(&relay, || friend.shared_get(&s, "meta", Some("2"))).await;
    sys.delete_sharing(&rel).await.expect_status(204);
    friend
        .shared_get(&s, "meta", None)
        .await
        .expect_error(403, "forbidden");
    friend
        .shared_get(&s, "meta", Some("2"))
        .await
        .expect_error(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_deleted_accounts_and_expired_sessions_are_never_served_from_the_cache() {
    let relay = RelayProcess::start().await;
    let admin = Admin::new(&relay);
    let (sys, mut friend, _) = shared_v1(&relay, "b").await;
    let s = sys.user_id().to_owned();

    // Sessions expired by the operator: the next fetch is 401, own or shared.
    warm(&relay, || friend.shared_get(&s, "meta", None)).await;
    warm(&relay, || sys.download_own("meta", None)).await;
    admin
        .call(Method::POST, "/api/v1/admin/sessions/expire-all")
        .await
        .expect_json(200);
    friend.shared_get(&s, "meta", None).await.expect_status(401);
    sys.download_own("meta", None).await.expect_status(401);

    // The system's account deleted by the operator: the friend (logged in again) is refused.
    friend.login().await;
    let mut sys = sys;
    sys.login().await;
    warm(&relay, || friend.shared_get(&s, "meta", None)).await;
    admin
        .call(Method::DELETE, &format!("/api/v1/admin/users/{s}"))
        .await
        .expect_json(200);
    friend
        .shared_get(&s, "meta", None)
        .await
        .expect_error(403, "forbidden");
    sys.download_own("meta", None).await.expect_status(401);

    // A system deleting its own account: its own cached download is gone with it.
    let (other, _, _) = shared_v1(&relay, "c").await;
    warm(&relay, || other.download_own("meta", None)).await;
    other.delete_me().await.expect_status(204);
    other.download_own("meta", None).await.expect_status(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_fetches_follow_republish_revocation_unpairing_and_deletion() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let (owner, _) = system(&config).await;
    let (a, _) = friend(&config).await;
    let (b, _) = friend(&config).await;
    let (meta, notes) = (vol("meta"), vol("org.example.notes"));
    owner.publish(&meta, b"meta 1").await.unwrap();
    owner.publish(&notes, b"notes 1").await.unwrap();
    pair(&owner, &a, &[meta.clone(), notes.clone()]).await;
    pair(&owner, &b, std::slice::from_ref(&meta)).await;
    let o = owner.user_id();

    // Warm a friend's fetch: the second comes from memory, then a 304 from memory.
    assert_eq!(plaintext(a.fetch(o, &meta).await).2, b"meta 1");
    let before = cache_hits(&relay).await;
    assert!(matches!(a.fetch(o, &meta).await, Ok(Fetched::NotModified)));
    assert!(matches!(a.fetch(o, &meta).await, Ok(Fetched::NotModified)));
    assert!(cache_hits(&relay).await >= before + 2);

    // Republished: the new version at once.
    owner.publish(&meta, b"meta 2").await.unwrap();
    assert_eq!(plaintext(a.fetch(o, &meta).await).2, b"meta 2");
    assert_eq!(plaintext(b.fetch(o, &meta).await).2, b"meta 2");

    // A's grant revoked (and the volumes rotated): A is refused at once, B reads on.
    assert!(matches!(
        a.fetch(o, &notes).await,
        Ok(Fetched::Updated { .. })
    ));
    owner.revoke(a.user_id()).await.unwrap();
    assert!(matches!(
        a.fetch(o, &meta).await,
        Err(ClientError::Forbidden { .. })
    ));
    assert!(matches!(
        a.fetch(o, &notes).await,
        Err(ClientError::Forbidden { .. })
    ));
    let (version, epoch, text) = plaintext(b.fetch(o, &meta).await);
    assert_eq!((epoch, text.as_slice()), (2, &b"meta 2"[..]), "v{version}");

    // A deleted volume: its tombstone at once, not the cached payload.
    let before = cache_hits(&relay).await;
    assert!(matches!(b.fetch(o, &meta).await, Ok(Fetched::NotModified)));
    assert!(cache_hits(&relay).await > before);
    owner.delete_volume(&meta).await.unwrap();
    assert!(matches!(
        b.fetch(o, &meta).await,
        Ok(Fetched::Deleted { .. })
    ));
    owner.publish(&meta, b"meta 3").await.unwrap();

    // B unpairs: a fetch the cache held is refused at once (asked of the relay directly: the
    // client forgets the system when it unpairs).
    let (version, _, text) = plaintext(b.fetch(o, &meta).await);
    assert_eq!(text, b"meta 3");
    let ask = || b.relay().shared_volume(uid(o), &meta, Some(version));
    assert!(matches!(ask().await, Ok(Served::NotModified)));
    let before = cache_hits(&relay).await;
    assert!(matches!(ask().await, Ok(Served::NotModified)));
    assert!(cache_hits(&relay).await > before);
    b.unpair(o).await.unwrap();
    assert!(
        matches!(ask().await, Err(TransportError::Forbidden { .. })),
        "{:?}",
        ask().await
    );
}
