//! Several relays per System (issue 16) end to end: three real relay binaries on loopback (A,
//! B, C), each over its own pinned TLS, and the replicating System and Friend clients of
//! `client-core`. A System replicates to two relays, survives one of them going down and
//! repairs it when it comes back stale; a System moves from A to C and its friend follows the
//! signed relay list without pairing again; a friend registered on B pairs with a System on A
//! and has the same user id on both; a friend's unpair sticks on every relay (the System's
//! grants never pair again: on a further relay the friend asks, the grant activates).
//!
//! No test name here contains `malicious` (that suite is `v2_malicious_relays`).

use std::collections::BTreeMap;
use std::sync::Arc;

use coffer_client_core::client::{
    ClientError, Fetched, FetchedFrom, FriendClient, ReplicaResult, ReplicaStatus,
};
use coffer_client_core::transport::{TransportError, UserId};
use coffer_client_core::v2::{InviteLink, RELAY_LIST_VOLUME, RelayList};
use coffer_tests::replicas::{
    connection, entry, friend_on, stored_version, system_on, three_relays,
};
use coffer_tests::v2::{config_for, identity_of, memory_store, uid, vol};

fn doc(text: &str) -> Vec<u8> {
    format!("{{\"schema_version\":2,\"text\":\"{text}\"}}").into_bytes()
}

/// A per-relay status as a short word, so results compare exactly (`Unreachable` and
/// `Refused` keep only their kind: their reasons are the transport's words).
fn word(status: &ReplicaStatus) -> &'static str {
    match status {
        ReplicaStatus::Stored => "stored",
        ReplicaStatus::UpToDate => "up to date",
        ReplicaStatus::NoAccount => "no account",
        ReplicaStatus::Unreachable { .. } => "unreachable",
        ReplicaStatus::Refused { .. } => "refused",
        other => panic!("a status this suite does not know: {other:?}"),
    }
}

/// Per-relay results as `origin → status word` (the order of concurrent writes is not part
/// of the contract; the set of relays and each one's status is).
fn statuses(results: &[ReplicaResult]) -> BTreeMap<String, &'static str> {
    let map: BTreeMap<_, _> = results
        .iter()
        .map(|r| (r.relay.clone(), word(&r.status)))
        .collect();
    assert_eq!(
        map.len(),
        results.len(),
        "one result per relay: {results:?}"
    );
    map
}

/// `[(origin, word)]` as the map [`statuses`] returns.
fn expect(pairs: &[(&str, &'static str)]) -> BTreeMap<String, &'static str> {
    pairs.iter().map(|(o, w)| ((*o).to_owned(), *w)).collect()
}

/// Whether a login failed because the relay has no such account (what `ensure_account`
/// reads as "not registered here").
fn no_account(login: Result<(), TransportError>) -> bool {
    matches!(
        login,
        Err(TransportError::Unauthorized | TransportError::NotFound)
    )
}

/// The version and plaintext of an `Updated` fetch; panics on anything else.
fn updated(fetched: &Fetched) -> (u64, Vec<u8>) {
    match fetched {
        Fetched::Updated {
            version, plaintext, ..
        } => (*version, plaintext.to_vec()),
        other => panic!("expected an updated volume, got {other:?}"),
    }
}

/// The relays a fetch refused, with the error code of each.
fn refusals(from: &FetchedFrom) -> Vec<(String, &'static str)> {
    from.refused
        .iter()
        .map(|r| (r.relay.clone(), r.error.code()))
        .collect()
}

/// The repair line of `relay` in a report.
fn repair_of<'r>(
    report: &'r coffer_client_core::client::RepairReport,
    relay: &str,
) -> &'r coffer_client_core::client::RelayRepair {
    report
        .relays
        .iter()
        .find(|r| r.relay == relay)
        .unwrap_or_else(|| panic!("no repair line for {relay}: {report:?}"))
}

/// Issue 16, "done when" 1: a System replicates to A and B (per-relay results say so); a
/// friend paired on A follows the list and registers on B; with B down the friend still
/// fetches from A and the publish reports B unreachable; B comes back stale (it still holds
/// the old version) and `repair` copies what it missed; with A down, a fresh friend session
/// fetches the newest version from B alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_relay_replicates_survives_a_stopped_relay_and_repairs_it() {
    let (mut a, mut b, c) = three_relays().await;
    let (ea, eb, ec) = (entry(&a), entry(&b), entry(&c));
    let (url_a, url_b) = (a.url().to_owned(), b.url().to_owned());
    let meta = vol("meta");
    let list = vol(RELAY_LIST_VOLUME);

    let system_store = memory_store();
    let system = system_on(&a, Arc::clone(&system_store)).await;
    let sid = system.user_id();
    assert_eq!(system.relays(), vec![ea.clone()]);

    // Replicate to A and B: the signed list is stored on both, the same version.
    let set = system
        .set_relays(vec![ea.clone(), eb.clone()])
        .await
        .unwrap();
    assert_eq!(
        statuses(&set.relays),
        expect(&[(&url_a, "stored"), (&url_b, "stored")])
    );
    let list_version = set.value.version;
    assert_eq!(system.relays(), vec![ea.clone(), eb.clone()]);
    assert_eq!(
        stored_version(&ea, &system_store, &list).await,
        Some(list_version)
    );
    assert_eq!(
        stored_version(&eb, &system_store, &list).await,
        Some(list_version)
    );
    // C is in no list: the system has no account there.
    assert!(
        no_account(connection(&ec, &system_store).unwrap().login().await),
        "relay C must not know the system"
    );
    // Only the relay-list code writes the list volume.
    assert!(matches!(
        system.publish(&list, &doc("not a list")).await,
        Err(ClientError::InvalidInput(_))
    ));

    let published = system
        .publish_replicated(&meta, &doc("meta 1"))
        .await
        .unwrap();
    assert_eq!((published.value.epoch, published.value.version), (1, 1));
    assert_eq!(
        statuses(&published.relays),
        expect(&[(&url_a, "stored"), (&url_b, "stored")])
    );

    // A friend on A pairs through an invite that names B too.
    let friend_store = memory_store();
    let friend = friend_on(&a, Arc::clone(&friend_store)).await;
    let link = system.create_invite().await.unwrap();
    let link = InviteLink::parse(&link.to_uri()).unwrap();
    assert_eq!(link.relays(), vec![ea.clone(), eb.clone()]);
    let paired = friend.redeem(&link).await.unwrap();
    assert_eq!(paired.system_id, sid);
    let requests = system.pending_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].proof_valid);
    system
        .approve(friend.user_id(), std::slice::from_ref(&meta), None)
        .await
        .unwrap();

    // The friend follows the signed list and opens its account on B.
    let follow = friend.follow(sid, true).await.unwrap();
    assert_eq!(follow.version, Some(list_version));
    assert_eq!(follow.relays, vec![ea.clone(), eb.clone()]);
    assert_eq!(
        statuses(&follow.accounts),
        expect(&[(&url_a, "up to date"), (&url_b, "stored")])
    );
    assert_eq!(
        statuses(&follow.pairings),
        expect(&[(&url_a, "up to date"), (&url_b, "stored")])
    );
    assert_eq!(friend.relays_of(sid).unwrap(), vec![ea.clone(), eb.clone()]);
    // The friend's request on B is no invite to approve.
    assert!(system.pending_requests().await.unwrap().is_empty());

    // The system copies the friend's grant to B (it activates the pairing asked for there).
    let report = system.repair().await.unwrap();
    let on_b = repair_of(&report, &url_b);
    assert_eq!(on_b.error, None, "{report:?}");
    assert!(on_b.grants_copied >= 1, "{report:?}");
    assert_eq!(on_b.friends_without_account, 0, "{report:?}");
    assert_eq!(on_b.volumes_copied, 0, "B had every volume: {report:?}");

    let got = friend.fetch_replicated(sid, &meta).await.unwrap();
    assert_eq!(got.relay, url_a);
    assert!(got.refused.is_empty(), "{:?}", refusals(&got));
    assert_eq!(updated(&got.fetched), (1, doc("meta 1")));

    // B goes down: the publish reports it, and the friend still reads (from A).
    b.kill().await;
    let published = system
        .publish_replicated(&meta, &doc("meta 2"))
        .await
        .unwrap();
    assert_eq!(published.value.version, 2);
    assert_eq!(
        statuses(&published.relays),
        expect(&[(&url_a, "stored"), (&url_b, "unreachable")])
    );
    let got = friend.fetch_replicated(sid, &meta).await.unwrap();
    assert_eq!(got.relay, url_a);
    assert_eq!(updated(&got.fetched), (2, doc("meta 2")));

    // B comes back (same data, same address): stale.
    b.restart_on_same_port().await;
    assert_eq!(b.url(), url_b);
    assert_eq!(stored_version(&eb, &system_store, &meta).await, Some(1));
    assert_eq!(stored_version(&ea, &system_store, &meta).await, Some(2));

    // Repair brings it up to date; A had nothing missing; a second repair copies nothing.
    let report = system.repair().await.unwrap();
    let on_b = repair_of(&report, &url_b);
    assert_eq!(on_b.error, None, "{report:?}");
    assert!(on_b.volumes_copied >= 1, "{report:?}");
    let on_a = repair_of(&report, &url_a);
    assert_eq!(on_a.error, None, "{report:?}");
    assert_eq!(
        (
            on_a.volumes_copied,
            on_a.tombstones_copied,
            on_a.grants_copied
        ),
        (0, 0, 0),
        "{report:?}"
    );
    assert_eq!(stored_version(&eb, &system_store, &meta).await, Some(2));
    let report = system.repair().await.unwrap();
    assert_eq!(repair_of(&report, &url_b).volumes_copied, 0, "{report:?}");

    // A goes down: a fresh session of the friend (nothing returned yet) reads the newest
    // version from B alone; A is recorded as refused (unreachable).
    let reopened =
        FriendClient::open_replicated(config_for(a.url(), a.pin()), Arc::clone(&friend_store))
            .await
            .unwrap();
    a.kill().await;
    let got = reopened.fetch_replicated(sid, &meta).await.unwrap();
    assert_eq!(got.relay, url_b);
    assert_eq!(updated(&got.fetched), (2, doc("meta 2")));
    assert_eq!(refusals(&got), vec![(url_a.clone(), "network")]);
    // The first session has v2 already: nothing newer on B.
    let got = friend.fetch_replicated(sid, &meta).await.unwrap();
    assert_eq!(got.relay, url_b);
    assert!(matches!(got.fetched, Fetched::NotModified), "{got:?}");
}

/// Issue 16, "done when" 2: a System on A with a friend adds C, the friend follows (and
/// registers on C), the System repairs (the grant reaches C), then drops A. With A gone for
/// good, the friend reads the newest version from C without pairing again, and follows the
/// newer list (C only) from C.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_relay_system_moves_from_a_to_c_and_friend_follows() {
    let (mut a, _b, c) = three_relays().await;
    let (ea, ec) = (entry(&a), entry(&c));
    let (url_a, url_c) = (a.url().to_owned(), c.url().to_owned());
    let meta = vol("meta");

    let system_store = memory_store();
    let system = system_on(&a, Arc::clone(&system_store)).await;
    let sid = system.user_id();
    system.publish(&meta, &doc("meta 1")).await.unwrap();
    let friend_store = memory_store();
    let friend = friend_on(&a, Arc::clone(&friend_store)).await;
    let link = system.create_invite().await.unwrap();
    let paired = friend.redeem(&link).await.unwrap();
    assert_eq!(paired.system_id, sid);
    system
        .approve(friend.user_id(), std::slice::from_ref(&meta), None)
        .await
        .unwrap();
    let (version, _, text) = coffer_tests::v2::plaintext(friend.fetch(sid, &meta).await);
    assert_eq!((version, text), (1, doc("meta 1")));

    // Add C.
    let added = system
        .set_relays(vec![ea.clone(), ec.clone()])
        .await
        .unwrap();
    assert_eq!(
        statuses(&added.relays),
        expect(&[(&url_a, "stored"), (&url_c, "stored")])
    );
    let first_list = added.value.version;

    // The friend follows and registers on C; the system's repair copies the grant there.
    let follow = friend.follow(sid, true).await.unwrap();
    assert_eq!(follow.version, Some(first_list));
    assert_eq!(follow.relays, vec![ea.clone(), ec.clone()]);
    assert_eq!(
        statuses(&follow.accounts),
        expect(&[(&url_a, "up to date"), (&url_c, "stored")])
    );
    assert_eq!(
        statuses(&follow.pairings),
        expect(&[(&url_a, "up to date"), (&url_c, "stored")])
    );
    let report = system.repair().await.unwrap();
    let on_c = report
        .relays
        .iter()
        .find(|r| r.relay == url_c)
        .unwrap_or_else(|| panic!("no repair line for C: {report:?}"));
    assert_eq!(on_c.error, None, "{report:?}");
    assert!(on_c.grants_copied >= 1, "{report:?}");
    assert_eq!(on_c.friends_without_account, 0, "{report:?}");
    // The friend's account on C is its account on A (same id).
    let on_c_record = connection(&ec, &friend_store)
        .unwrap()
        .user_by_id(uid(friend.user_id()))
        .await
        .unwrap();
    assert_eq!(on_c_record.user_id, uid(friend.user_id()));

    // Drop A: the newer list is published to A and C, and C alone gets what follows.
    let moved = system.set_relays(vec![ec.clone()]).await.unwrap();
    let second_list = moved.value.version;
    assert!(second_list > first_list, "{second_list} > {first_list}");
    assert_eq!(system.relays(), vec![ec.clone()]);
    let published = system
        .publish_replicated(&meta, &doc("meta 2"))
        .await
        .unwrap();
    assert_eq!(published.value.version, 2);
    assert_eq!(statuses(&published.relays), expect(&[(&url_c, "stored")]));

    // A is gone for good. The friend still lists A first (it has not followed yet): A is
    // refused as unreachable and C serves the newest version.
    a.kill().await;
    let got = friend.fetch_replicated(sid, &meta).await.unwrap();
    assert_eq!(got.relay, url_c);
    assert_eq!(updated(&got.fetched), (2, doc("meta 2")));
    assert_eq!(refusals(&got), vec![(url_a.clone(), "network")]);

    // It follows the newer list from C.
    let follow = friend.follow(sid, false).await.unwrap();
    assert_eq!(follow.version, Some(second_list));
    assert_eq!(follow.relays, vec![ec.clone()]);
    assert_eq!(friend.relays_of(sid).unwrap(), vec![ec.clone()]);
    // A fresh session (the app opened through C) reads the list itself from C: C only.
    let reopened =
        FriendClient::open_replicated(config_for(c.url(), c.pin()), Arc::clone(&friend_store))
            .await
            .unwrap();
    let got = reopened
        .fetch_replicated(sid, &vol(RELAY_LIST_VOLUME))
        .await
        .unwrap();
    assert_eq!(got.relay, url_c);
    assert!(got.refused.is_empty(), "{:?}", refusals(&got));
    match &got.fetched {
        Fetched::Updated {
            version, plaintext, ..
        } => {
            assert_eq!(*version, second_list);
            assert_eq!(
                RelayList::decode(plaintext).unwrap().entries(),
                std::slice::from_ref(&ec)
            );
        }
        other => panic!("expected the list, got {other:?}"),
    }

    // Nothing was paired again: no request is pending anywhere, and the next version arrives
    // from C with no relay refused.
    assert!(system.pending_requests().await.unwrap().is_empty());
    system.publish(&meta, &doc("meta 3")).await.unwrap();
    let got = friend.fetch_replicated(sid, &meta).await.unwrap();
    assert_eq!(got.relay, url_c);
    assert!(got.refused.is_empty(), "{:?}", refusals(&got));
    assert_eq!(updated(&got.fetched), (3, doc("meta 3")));
}

/// Issue 16, "done when" 3: a friend registered on B pairs with a System whose invite names
/// relay A only. A plain `redeem` refuses a link to another relay; `redeem_replicated`
/// without permission to register refuses too (and leaves no request); with permission it
/// opens an account on A under the same user id (derived from the keys), pairs, and reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_relay_friend_on_b_pairs_with_system_on_a() {
    let (a, b, _c) = three_relays().await;
    let (ea, eb) = (entry(&a), entry(&b));
    let url_a = a.url().to_owned();
    let meta = vol("meta");

    let system = system_on(&a, memory_store()).await;
    let sid = system.user_id();
    system.publish(&meta, &doc("meta 1")).await.unwrap();

    let friend_store = memory_store();
    let friend = friend_on(&b, Arc::clone(&friend_store)).await;
    let fid = friend.user_id();
    // Not on A yet.
    assert!(no_account(
        connection(&ea, &friend_store).unwrap().login().await
    ));

    let link = system.create_invite().await.unwrap();
    let link = InviteLink::parse(&link.to_uri()).unwrap();
    assert_eq!(link.relays(), vec![ea.clone()]);
    assert!(matches!(
        friend.redeem(&link).await,
        Err(ClientError::InvalidInput(_))
    ));
    assert!(matches!(
        friend.redeem_replicated(&link, false).await,
        Err(ClientError::InvalidInput(_))
    ));
    assert!(system.pending_requests().await.unwrap().is_empty());
    assert!(no_account(
        connection(&ea, &friend_store).unwrap().login().await
    ));

    let paired = friend.redeem_replicated(&link, true).await.unwrap();
    assert_eq!(paired.system_id, sid);
    assert_eq!(paired.fingerprint, system.fingerprint());
    let requests = system.pending_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].friend_id, fid);
    assert_eq!(requests[0].fingerprint, friend.fingerprint());
    assert!(requests[0].proof_valid);
    system
        .approve(fid, std::slice::from_ref(&meta), None)
        .await
        .unwrap();

    let got = friend.fetch_replicated(sid, &meta).await.unwrap();
    assert_eq!(got.relay, url_a);
    assert!(got.refused.is_empty(), "{:?}", refusals(&got));
    assert_eq!(updated(&got.fetched), (1, doc("meta 1")));

    // The same id on both relays, and it is the one derived from the friend's keys.
    let identity = identity_of(&friend_store);
    let derived = UserId::derive(
        &identity.public_signing_key(),
        &identity.public_exchange_key(),
    );
    assert_eq!(*derived.as_uuid(), fid);
    for e in [&ea, &eb] {
        let relay = connection(e, &friend_store).unwrap();
        relay.login().await.unwrap();
        let record = relay.user_by_id(derived).await.unwrap();
        assert_eq!(record.user_id, derived, "{}", e.origin());
        assert_eq!(
            record.public_signing_key.as_bytes(),
            &identity.public_signing_key(),
            "{}",
            e.origin()
        );
    }
}

/// The pairings `store`'s account has with `peer` on the relay of `entry`, read directly.
async fn pairings_with(
    entry: &coffer_client_core::v2::RelayEntry,
    store: &Arc<dyn coffer_client_core::storage::KeyStore>,
    peer: uuid::Uuid,
) -> usize {
    let relay = connection(entry, store).unwrap();
    relay
        .list_pairings()
        .await
        .unwrap_or_else(|e| panic!("list pairings on {}: {e}", entry.origin()))
        .iter()
        .filter(|p| *p.system_user_id.as_uuid() == peer || *p.friend_user_id.as_uuid() == peer)
        .count()
}

/// The friend asks, the grant activates: a friend that unpairs (on every relay) is not paired
/// again by the System's next grants — a rotation after revoking another friend, a repair, or
/// a grant sent straight to a relay: each relay answers 404 and the pairings stay gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_relay_friend_unpair_sticks_against_later_grants() {
    let (a, b, _c) = three_relays().await;
    let (ea, eb) = (entry(&a), entry(&b));
    let (url_a, url_b) = (a.url().to_owned(), b.url().to_owned());
    let meta = vol("meta");

    let system_store = memory_store();
    let system = system_on(&a, Arc::clone(&system_store)).await;
    let sid = system.user_id();
    system
        .set_relays(vec![ea.clone(), eb.clone()])
        .await
        .unwrap();
    system.publish(&meta, &doc("meta 1")).await.unwrap();

    // Two friends on A, paired, approved, following onto B; the repair activates them there.
    let mut friends = Vec::new();
    for _ in 0..2 {
        let store = memory_store();
        let friend = friend_on(&a, Arc::clone(&store)).await;
        friend
            .redeem(&system.create_invite().await.unwrap())
            .await
            .unwrap();
        system
            .approve(friend.user_id(), std::slice::from_ref(&meta), None)
            .await
            .unwrap();
        let follow = friend.follow(sid, true).await.unwrap();
        assert_eq!(
            statuses(&follow.pairings),
            expect(&[(&url_a, "up to date"), (&url_b, "stored")])
        );
        friends.push((friend, store));
    }
    let report = system.repair().await.unwrap();
    let on_b = repair_of(&report, &url_b);
    assert_eq!(on_b.error, None, "{report:?}");
    assert_eq!(on_b.grants_copied, 2, "{report:?}");
    let (leaver, leaver_store) = &friends[0];
    let (stayer, _) = &friends[1];
    let lid = leaver.user_id();
    for e in [&ea, &eb] {
        assert_eq!(
            pairings_with(e, leaver_store, sid).await,
            1,
            "{}",
            e.origin()
        );
    }
    let got = leaver.fetch_replicated(sid, &meta).await.unwrap();
    assert_eq!(updated(&got.fetched), (1, doc("meta 1")));

    // The leaver unpairs: gone on A and B.
    leaver.unpair(sid).await.unwrap();
    for e in [&ea, &eb] {
        assert_eq!(
            pairings_with(e, leaver_store, sid).await,
            0,
            "{}",
            e.origin()
        );
        assert_eq!(
            pairings_with(e, &system_store, lid).await,
            0,
            "{}",
            e.origin()
        );
    }

    // The system revokes the other friend (a rotation and a re-grant to the friends it still
    // counts), publishes, and repairs: nothing pairs the leaver again.
    system.revoke(stayer.user_id()).await.unwrap();
    system.publish(&meta, &doc("meta 2")).await.unwrap();
    let report = system.repair().await.unwrap();
    for line in &report.relays {
        assert_eq!(line.grants_copied, 0, "{report:?}");
    }
    // A grant sent straight to each relay: 404, no pairing made.
    let identity = identity_of(&system_store);
    let grant = coffer_wire::v2::Grant {
        owner: *sid.as_bytes(),
        friend: *lid.as_bytes(),
        friend_fingerprint: *leaver.fingerprint().as_bytes(),
        sequence: 1_000,
        expires_at: 0,
        entries: Vec::new(),
    };
    let signed = coffer_client_core::v2::sign_grant(&identity, &grant).unwrap();
    let envelope = coffer_client_core::transport::GrantEnvelope {
        grant: signed.bytes,
        signature: coffer_wire::b64::Signature64::from_bytes(signed.signature),
        wrapped_keys: Vec::new(),
    };
    for e in [&ea, &eb] {
        let relay = connection(e, &system_store).unwrap();
        assert!(
            matches!(
                relay.put_grant(uid(lid), &envelope).await,
                Err(TransportError::NotFound)
            ),
            "{}",
            e.origin()
        );
        assert_eq!(
            pairings_with(e, leaver_store, sid).await,
            0,
            "{}",
            e.origin()
        );
        assert_eq!(
            pairings_with(e, &system_store, lid).await,
            0,
            "{}",
            e.origin()
        );
        let grants = relay.own_grants().await.unwrap();
        assert!(
            grants.iter().all(|g| *g.friend_user_id.as_uuid() != lid),
            "{}",
            e.origin()
        );
    }
    assert!(system.pending_requests().await.unwrap().is_empty());
}
