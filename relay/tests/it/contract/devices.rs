//! [`Devices`]: the owner state (replaced only by a higher version, after the caller's check on
//! the stored account) and device links (capped per owner, expiring, joined once, their
//! package stored once and served once).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use coffer_relay::service::Refusal;
use coffer_relay::storage::devices::{Devices, UserCheck};
use coffer_relay::storage::users::{ClientType, Users};
use coffer_relay::store::devices::OwnerState;
use futures_util::future::join_all;

use super::harness::{account, seed_user, warm};
use super::on_every_adapter;

const NEWER_STATE: &str = "The relay holds a newer owner state; fetch it and retry on top";
const NO_LINK: Refusal = Refusal::NotFound("No such device link");
const NO_PACKAGE: Refusal = Refusal::NotFound("No package for this device link yet");

fn state(version: u64, payload: u8) -> OwnerState {
    OwnerState {
        version,
        header: vec![version as u8, 0xfe, 0x00, 0x01],
        signature: [payload.wrapping_add(1); 64],
        payload: vec![payload; 5],
    }
}

fn accept() -> UserCheck {
    Box::new(|_| Ok(()))
}

/// A check that records that it ran.
fn recording(ran: &Arc<AtomicBool>) -> UserCheck {
    let ran = Arc::clone(ran);
    Box::new(move |_| {
        ran.store(true, Ordering::SeqCst);
        Ok(())
    })
}

fn too_many(max_open: u64) -> Refusal {
    Refusal::Conflict(format!(
        "Too many open device links (at most {max_open}); wait for some to expire"
    ))
}

fn joined() -> Refusal {
    Refusal::Conflict("A device already joined this link".into())
}

/// The owner state: refused for a missing account (the check not run), with the check's own
/// refusal (the check sees the stored account), and `Conflict` for a version not above the
/// stored one; each refusal writes nothing. A stored state is answered byte for byte.
async fn owner_state_is_replaced_only_by_a_higher_version<S: Devices + Users>(s: &S) {
    seed_user(s, account("sys", None, ClientType::System)).await;
    seed_user(s, account("other", None, ClientType::System)).await;
    let key = account("sys", None, ClientType::System).public_signing_key;

    let ran = Arc::new(AtomicBool::new(false));
    let missing = s
        .put_owner_state("nobody".into(), state(1, 1), 0, recording(&ran))
        .await
        .unwrap();
    assert_eq!(missing, Err(Refusal::Unauthorized("User not found")));
    assert!(
        !ran.load(Ordering::SeqCst),
        "no account: the check is not run"
    );

    let refuse: UserCheck = Box::new(move |u| {
        assert_eq!((u.id.as_str(), u.public_signing_key), ("sys", key));
        Err(Refusal::Forbidden("bad signature"))
    });
    let refused = s
        .put_owner_state("sys".into(), state(1, 1), 0, refuse)
        .await
        .unwrap();
    assert_eq!(refused, Err(Refusal::Forbidden("bad signature")));
    assert!(s.owner_state("sys".into()).await.unwrap().is_none());

    s.put_owner_state("sys".into(), state(2, 7), 3600, recording(&ran))
        .await
        .unwrap()
        .unwrap();
    assert!(ran.load(Ordering::SeqCst));
    for (version, payload) in [(2, 8), (1, 9)] {
        let stale = s
            .put_owner_state("sys".into(), state(version, payload), 7200, accept())
            .await
            .unwrap();
        assert_eq!(stale, Err(Refusal::Conflict(NEWER_STATE.into())));
    }
    let stored = s.owner_state("sys".into()).await.unwrap().unwrap();
    let want = state(2, 7);
    assert_eq!(
        (
            stored.version,
            stored.header,
            stored.signature,
            stored.payload
        ),
        (want.version, want.header, want.signature, want.payload)
    );

    s.put_owner_state("sys".into(), state(3, 4), 7200, accept())
        .await
        .unwrap()
        .unwrap();
    let stored = s.owner_state("sys".into()).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.payload), (3, vec![4; 5]));
    // Per account.
    assert!(s.owner_state("other".into()).await.unwrap().is_none());
    s.put_owner_state("other".into(), state(1, 1), 0, accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.owner_state("sys".into()).await.unwrap().unwrap().version,
        3
    );
}

/// Many concurrent writers of one version: exactly one is stored, the others are refused, and
/// the stored state is the winner's, whole.
async fn concurrent_owner_states_of_one_version_store_exactly_one<S: Devices + Users + Sync>(
    s: &S,
) {
    seed_user(s, account("sys", None, ClientType::System)).await;
    warm(s).await;
    let writers = (0..8u8).map(|i| async move {
        let put = s.put_owner_state("sys".into(), state(5, i), 0, accept());
        (i, put.await.unwrap())
    });
    let outcomes = join_all(writers).await;
    let winners: Vec<u8> = outcomes
        .iter()
        .filter(|(_, o)| o.is_ok())
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|(_, o)| o.is_ok() || *o == Err(Refusal::Conflict(NEWER_STATE.into()))),
        "{outcomes:?}"
    );
    let stored = s.owner_state("sys".into()).await.unwrap().unwrap();
    let want = state(5, winners[0]);
    assert_eq!(
        (stored.version, stored.signature, stored.payload),
        (5, want.signature, want.payload)
    );

    // Concurrent writers of different versions: whatever the order, the highest stays.
    warm(s).await;
    let writers =
        (6..14u64).map(|v| s.put_owner_state("sys".into(), state(v, v as u8), 0, accept()));
    let outcomes = join_all(writers).await;
    assert!(outcomes.iter().all(|o| o.is_ok()), "{outcomes:?}");
    let stored = s.owner_state("sys".into()).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.payload), (13, vec![13; 5]));
}

/// Links per owner are capped at `max_open` live ones; expired links are dropped by the next
/// creation (of any owner), even one that is refused; a link is live until its expiry.
async fn device_links_are_capped_and_expire<S: Devices + Users>(s: &S) {
    seed_user(s, account("sys", None, ClientType::System)).await;
    seed_user(s, account("sys2", None, ClientType::System)).await;
    let create = |code: &str, owner: &str, now: i64, expires_at: i64, max_open: u64| {
        s.create_device_link(code.into(), owner.into(), now, expires_at, max_open)
    };
    create("L1", "sys", 100, 200, 2).await.unwrap().unwrap();
    create("L2", "sys", 100, 1000, 2).await.unwrap().unwrap();
    assert_eq!(
        create("L3", "sys", 150, 1000, 2).await.unwrap(),
        Err(too_many(2))
    );
    assert!(s.device_link("L3".into(), 150).await.unwrap().is_none());
    // Another owner's count is its own.
    create("M1", "sys2", 150, 1000, 2).await.unwrap().unwrap();

    let l1 = s.device_link("L1".into(), 199).await.unwrap().unwrap();
    assert_eq!(
        (l1.code.as_str(), l1.user_id.as_str(), l1.expires_at),
        ("L1", "sys", 200)
    );
    assert!(l1.join.is_none() && l1.package.is_none());
    assert!(
        s.device_link("L1".into(), 200).await.unwrap().is_none(),
        "expired at 200"
    );

    // A refused creation still drops the expired: L1 is gone (not merely filtered).
    assert_eq!(
        create("L3", "sys", 200, 1000, 1).await.unwrap(),
        Err(too_many(1))
    );
    assert!(s.device_link("L1".into(), 150).await.unwrap().is_none());
    // L1's expiry freed its place.
    create("L3", "sys", 200, 1000, 2).await.unwrap().unwrap();
    assert_eq!(
        create("L4", "sys", 200, 1000, 2).await.unwrap(),
        Err(too_many(2))
    );
    // Any owner's creation drops every expired link.
    create("M2", "sys2", 1000, 2000, 5).await.unwrap().unwrap();
    for code in ["L2", "L3", "M1"] {
        assert!(
            s.device_link(code.into(), 0).await.unwrap().is_none(),
            "{code}"
        );
    }
    assert!(s.device_link("M2".into(), 0).await.unwrap().is_some());
    // A code is one link.
    assert!(create("M2", "sys", 1000, 2000, 5).await.is_err());
}

/// Concurrent creations for one owner: exactly `max_open` get a link.
async fn the_link_cap_holds_under_concurrent_creations<S: Devices + Users + Sync>(s: &S) {
    seed_user(s, account("sys", None, ClientType::System)).await;
    warm(s).await;
    let creations =
        (0..8).map(|i| s.create_device_link(format!("C{i}"), "sys".into(), 100, 1000, 3));
    let outcomes: Vec<_> = join_all(creations)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        3,
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().all(|o| o.is_ok() || *o == Err(too_many(3))),
        "{outcomes:?}"
    );
    let mut live = 0;
    for i in 0..8 {
        live += usize::from(s.device_link(format!("C{i}"), 100).await.unwrap().is_some());
    }
    assert_eq!(live, 3);
}

/// A live link is joined once; its owner (no one else) stores the package once, after the
/// join; the package is served once, deleting the link. Expired links answer nothing.
async fn a_link_is_joined_once_and_its_package_served_once<S: Devices + Users>(s: &S) {
    seed_user(s, account("sys", None, ClientType::System)).await;
    seed_user(s, account("other", None, ClientType::System)).await;
    let code = || "ABCD-EFGH".to_owned();
    s.create_device_link(code(), "sys".into(), 100, 700, 4)
        .await
        .unwrap()
        .unwrap();

    let join = |now: i64, key: u8| {
        s.join_device_link(
            code(),
            now,
            [key; 32],
            format!("phone {key}"),
            [key + 1; 32],
        )
    };
    let unknown = s
        .join_device_link("NOPE".into(), 100, [1; 32], "x".into(), [2; 32])
        .await
        .unwrap();
    assert_eq!(unknown, Err(NO_LINK));
    assert_eq!(join(700, 5).await.unwrap(), Err(NO_LINK), "expired");

    let early = s
        .put_device_package(code(), "sys".into(), 101, vec![9])
        .await
        .unwrap();
    assert_eq!(
        early,
        Err(Refusal::Conflict("No device joined this link yet".into()))
    );
    assert_eq!(
        s.take_device_package(code(), 101).await.unwrap(),
        Err(NO_PACKAGE)
    );

    join(102, 5).await.unwrap().unwrap();
    assert_eq!(join(103, 6).await.unwrap(), Err(joined()));
    let link = s.device_link(code(), 103).await.unwrap().unwrap();
    assert_eq!(link.join, Some(([5; 32], "phone 5".to_owned(), [6; 32])));
    assert!(link.package.is_none());

    let stranger = s
        .put_device_package(code(), "other".into(), 103, vec![9])
        .await
        .unwrap();
    assert_eq!(stranger, Err(NO_LINK));
    let late = s
        .put_device_package(code(), "sys".into(), 700, vec![9])
        .await
        .unwrap();
    assert_eq!(late, Err(NO_LINK), "expired");
    s.put_device_package(code(), "sys".into(), 103, vec![9, 8, 7])
        .await
        .unwrap()
        .unwrap();
    let again = s
        .put_device_package(code(), "sys".into(), 104, vec![1])
        .await
        .unwrap();
    assert_eq!(
        again,
        Err(Refusal::Conflict(
            "This link already holds a package".into()
        ))
    );
    assert_eq!(
        s.device_link(code(), 104).await.unwrap().unwrap().package,
        Some(vec![9, 8, 7])
    );

    assert_eq!(
        s.take_device_package(code(), 700).await.unwrap(),
        Err(NO_PACKAGE),
        "expired"
    );
    assert_eq!(
        s.take_device_package(code(), 105).await.unwrap(),
        Ok(vec![9, 8, 7])
    );
    assert_eq!(
        s.take_device_package(code(), 105).await.unwrap(),
        Err(NO_PACKAGE)
    );
    assert!(s.device_link(code(), 105).await.unwrap().is_none());
    assert_eq!(join(106, 7).await.unwrap(), Err(NO_LINK));
}

/// Concurrent joins of one link: exactly one is recorded; concurrent takes of its package:
/// exactly one gets it.
async fn joins_and_takes_are_single_under_concurrency<S: Devices + Users + Sync>(s: &S) {
    seed_user(s, account("sys", None, ClientType::System)).await;
    let code = || "RACE-LINK".to_owned();
    s.create_device_link(code(), "sys".into(), 100, 700, 4)
        .await
        .unwrap()
        .unwrap();
    warm(s).await;
    let joins = (1..=8u8).map(|k| async move {
        let outcome = s
            .join_device_link(code(), 100, [k; 32], format!("device {k}"), [k; 32])
            .await
            .unwrap();
        (k, outcome)
    });
    let outcomes = join_all(joins).await;
    let winners: Vec<u8> = outcomes
        .iter()
        .filter(|(_, o)| o.is_ok())
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|(_, o)| o.is_ok() || *o == Err(joined())),
        "{outcomes:?}"
    );
    let k = winners[0];
    let link = s.device_link(code(), 100).await.unwrap().unwrap();
    assert_eq!(link.join, Some(([k; 32], format!("device {k}"), [k; 32])));

    s.put_device_package(code(), "sys".into(), 100, vec![4; 40])
        .await
        .unwrap()
        .unwrap();
    warm(s).await;
    let takes = (0..8).map(|_| s.take_device_package(code(), 100));
    let outcomes: Vec<_> = join_all(takes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == Ok(vec![4; 40])).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().all(|o| o.is_ok() || *o == Err(NO_PACKAGE)),
        "{outcomes:?}"
    );
}

/// Deleting the account takes its owner state and links with it.
async fn owner_state_and_links_go_with_the_account<S: Devices + Users>(s: &S) {
    seed_user(s, account("sys", None, ClientType::System)).await;
    s.put_owner_state("sys".into(), state(1, 1), 0, accept())
        .await
        .unwrap()
        .unwrap();
    s.create_device_link("GONE".into(), "sys".into(), 100, 700, 4)
        .await
        .unwrap()
        .unwrap();
    assert!(s.delete_user("sys".into()).await.unwrap());
    assert!(s.owner_state("sys".into()).await.unwrap().is_none());
    assert!(s.device_link("GONE".into(), 100).await.unwrap().is_none());
    let gone = s
        .put_owner_state("sys".into(), state(2, 1), 0, accept())
        .await
        .unwrap();
    assert_eq!(gone, Err(Refusal::Unauthorized("User not found")));
    // A link needs its account: the store refuses it (a storage error, nothing stored).
    assert!(
        s.create_device_link("GONE".into(), "sys".into(), 100, 700, 4)
            .await
            .is_err()
    );
    assert!(s.device_link("GONE".into(), 100).await.unwrap().is_none());
}

on_every_adapter!(
    owner_state_is_replaced_only_by_a_higher_version,
    concurrent_owner_states_of_one_version_store_exactly_one,
    device_links_are_capped_and_expire,
    the_link_cap_holds_under_concurrent_creations,
    a_link_is_joined_once_and_its_package_served_once,
    joins_and_takes_are_single_under_concurrency,
    owner_state_and_links_go_with_the_account,
);
