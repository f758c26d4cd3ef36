//! [`Grants`]: a pairing's grant is stored only past its refusals and the caller's check, only
//! with a growing sequence (also under concurrency), replaced whole with its wrapped keys, and
//! served while unexpired.

use std::sync::{Arc, Mutex};

use coffer_relay::service::{Refusal, Stale};
use coffer_relay::storage::StoreError;
use coffer_relay::storage::grants::{GrantCheck, Grants, PairingKind};
use coffer_relay::storage::pairings::Pairings;
use coffer_relay::storage::receipts::Receipts;
use coffer_relay::storage::users::{ClientType, Users};

use super::harness::seed_user;
use super::on_every_adapter;
use super::pairings::{HOUR, accept, grant, receipt, replica_pair, seed_v2_pair, v2_account};

fn stale(current: u64) -> Refusal {
    Refusal::Stale(Stale::Grant { current })
}

/// What the live grant from `owner` to `friend` is: its sequence, signature mark, and keys'
/// (volume, epoch, mark).
async fn live<S: Grants>(
    s: &S,
    owner: &str,
    friend: &str,
) -> Result<(u64, u8, Vec<(String, u32, u8)>), Refusal> {
    s.live_v2_grant(owner.into(), friend.into())
        .await
        .unwrap()
        .map(|g| {
            assert_eq!(g.grant.sequence, g.stored.sequence);
            assert_eq!(g.grant.expires_at, g.stored.expires_at);
            (
                g.stored.sequence,
                g.stored.signature[0],
                g.keys.into_iter().map(|(v, e, k)| (v, e, k[0])).collect(),
            )
        })
}

/// The refusals, in order: no pairing 404; then the caller's check (which sees the owner, the
/// grant and how the pairing came about), before the sequence; a refused grant stores nothing.
async fn grant_refusals_come_in_order<S: Users + Pairings + Grants>(s: &S) {
    seed_v2_pair(s, "sys", "fr").await;
    let (g, keys) = grant(1, 0, &["org.example.a"], 1);
    let none = s
        .put_v2_grant(
            "sys".into(),
            "fr".into(),
            g.clone(),
            keys.clone(),
            HOUR,
            accept(),
        )
        .await
        .unwrap();
    assert_eq!(none, Err(Refusal::NotFound("Pairing not found")));
    // The wrong way round is no pairing either.
    replica_pair(s, "p1", "sys", "fr").await;
    let reversed = s
        .put_v2_grant(
            "fr".into(),
            "sys".into(),
            g.clone(),
            keys.clone(),
            HOUR,
            accept(),
        )
        .await
        .unwrap();
    assert_eq!(reversed, Err(Refusal::NotFound("Pairing not found")));

    let seen = Arc::new(Mutex::new(None));
    let record = Arc::clone(&seen);
    let refusing: GrantCheck = Box::new(move |parties| {
        let asked = match parties.pairing {
            PairingKind::Invited => None,
            PairingKind::ReplicaRequest(friend) => Some(friend.map(|f| f.id.clone())),
        };
        *record.lock().unwrap() = Some((parties.owner.id.clone(), parties.grant.sequence, asked));
        Err(Refusal::Forbidden("The grant does not name this friend"))
    });
    let refused = s
        .put_v2_grant(
            "sys".into(),
            "fr".into(),
            g.clone(),
            keys.clone(),
            HOUR,
            refusing,
        )
        .await
        .unwrap();
    assert_eq!(
        refused,
        Err(Refusal::Forbidden("The grant does not name this friend"))
    );
    assert_eq!(
        *seen.lock().unwrap(),
        Some(("sys".to_owned(), 1, Some(Some("fr".to_owned()))))
    );
    assert_eq!(
        live(s, "sys", "fr").await,
        Err(Refusal::Forbidden("No live grant from this system"))
    );
    let pending = s.pairings_with_peers("sys".into()).await.unwrap();
    assert_eq!(pending[0].1.status, "pending");

    let stored = s
        .put_v2_grant("sys".into(), "fr".into(), g, keys, HOUR, accept())
        .await
        .unwrap();
    assert_eq!(stored, Ok(()));
    let active = s.pairings_with_peers("sys".into()).await.unwrap();
    assert_eq!(active[0].1.status, "active");
    // The check runs before the sequence is compared: a stale upload that the check refuses
    // is answered with the check's refusal.
    let (old, old_keys) = grant(1, 0, &["org.example.a"], 2);
    let refused_first = s
        .put_v2_grant(
            "sys".into(),
            "fr".into(),
            old,
            old_keys,
            HOUR,
            Box::new(|_| Err(Refusal::Forbidden("no"))),
        )
        .await
        .unwrap();
    assert_eq!(refused_first, Err(Refusal::Forbidden("no")));
}

/// A grant replaces the stored one only with a greater sequence; an equal or lower one is
/// refused with the stored sequence and changes nothing; the new one's keys replace all old
/// keys.
async fn grant_sequences_must_grow<S: Users + Pairings + Grants>(s: &S) {
    seed_v2_pair(s, "sys", "fr").await;
    replica_pair(s, "p1", "sys", "fr").await;
    let put = |sequence: u64, volumes: &[&str], mark: u8| {
        let (g, keys) = grant(sequence, 0, volumes, mark);
        s.put_v2_grant("sys".into(), "fr".into(), g, keys, HOUR, accept())
    };
    assert_eq!(put(5, &["org.exa", "org.ex-b"], 1).await.unwrap(), Ok(()));
    // Keys by volume in byte order ("org.ex-b" < "org.exa").
    let first = (
        5,
        1,
        vec![("org.ex-b".to_owned(), 1, 1), ("org.exa".to_owned(), 1, 1)],
    );
    assert_eq!(live(s, "sys", "fr").await, Ok(first.clone()));
    assert_eq!(put(5, &["org.c"], 2).await.unwrap(), Err(stale(5)));
    assert_eq!(put(4, &["org.c"], 3).await.unwrap(), Err(stale(5)));
    assert_eq!(live(s, "sys", "fr").await, Ok(first));
    assert_eq!(put(9, &["org.c"], 4).await.unwrap(), Ok(()));
    assert_eq!(
        live(s, "sys", "fr").await,
        Ok((9, 4, vec![("org.c".to_owned(), 1, 4)]))
    );
    assert_eq!(put(6, &["org.c"], 5).await.unwrap(), Err(stale(9)));
    // A grant of no volumes leaves no keys.
    assert_eq!(put(10, &[], 6).await.unwrap(), Ok(()));
    assert_eq!(live(s, "sys", "fr").await, Ok((10, 6, vec![])));
}

/// Many concurrent uploads with one sequence: exactly one is stored, every other is refused
/// with that sequence, and the stored grant and its keys are the winner's alone.
async fn concurrent_grants_of_one_sequence_store_exactly_one<
    S: Users + Pairings + Grants + Sync,
>(
    s: &S,
) {
    seed_v2_pair(s, "sys", "fr").await;
    replica_pair(s, "p1", "sys", "fr").await;
    assert_eq!(
        s.put_v2_grant(
            "sys".into(),
            "fr".into(),
            grant(1, 0, &["org.old"], 99).0,
            grant(1, 0, &["org.old"], 99).1,
            HOUR,
            accept()
        )
        .await
        .unwrap(),
        Ok(())
    );
    // Several rounds, each of one new sequence (the later ones on warm connections).
    for sequence in 7..12u64 {
        let uploads = (1..=8u8).map(|mark| async move {
            let (g, keys) = grant(sequence, 0, &["org.example.a", "org.example.b"], mark);
            (
                mark,
                s.put_v2_grant("sys".into(), "fr".into(), g, keys, HOUR, accept())
                    .await
                    .unwrap(),
            )
        });
        let outcomes = futures_util::future::join_all(uploads).await;
        let winners: Vec<u8> = outcomes
            .iter()
            .filter(|(_, o)| o.is_ok())
            .map(|(m, _)| *m)
            .collect();
        assert_eq!(winners.len(), 1, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|(_, o)| o.is_ok() || *o == Err(stale(sequence))),
            "{outcomes:?}"
        );
        let w = winners[0];
        assert_eq!(
            live(s, "sys", "fr").await,
            Ok((
                sequence,
                w,
                vec![
                    ("org.example.a".to_owned(), 1, w),
                    ("org.example.b".to_owned(), 1, w)
                ]
            ))
        );
    }
    // Concurrent uploads of growing sequences: the greatest is stored whatever the order.
    let uploads = (20..=25u8).map(|n| async move {
        let (g, keys) = grant(u64::from(n), 0, &["org.example.c"], n);
        s.put_v2_grant("sys".into(), "fr".into(), g, keys, HOUR, accept())
            .await
            .unwrap()
    });
    let outcomes = futures_util::future::join_all(uploads).await;
    assert_eq!(outcomes[5], Ok(()), "{outcomes:?}");
    for (n, o) in (20..).zip(&outcomes) {
        assert!(
            o.is_ok()
                || matches!(o, Err(Refusal::Stale(Stale::Grant { current }))
                    if *current > n && *current <= 25),
            "{outcomes:?}"
        );
    }
    assert_eq!(
        live(s, "sys", "fr").await,
        Ok((25, 25, vec![("org.example.c".to_owned(), 1, 25)]))
    );
}

/// The live grant: none without a pairing or a grant; refused once expired (0 never
/// expires); a stored grant that does not parse is a storage failure.
async fn only_an_unexpired_grant_is_live<S: Users + Pairings + Grants>(s: &S) {
    const NONE: Refusal = Refusal::Forbidden("No live grant from this system");
    seed_v2_pair(s, "sys", "fr").await;
    seed_user(s, v2_account("fr2", ClientType::Friend)).await;
    seed_user(s, v2_account("fr3", ClientType::Friend)).await;
    assert_eq!(live(s, "sys", "fr").await, Err(NONE));
    replica_pair(s, "p1", "sys", "fr").await;
    replica_pair(s, "p2", "sys", "fr2").await;
    replica_pair(s, "p3", "sys", "fr3").await;
    assert_eq!(live(s, "sys", "fr").await, Err(NONE));
    let put = |friend: &str, sequence: u64, expires_at: u64| {
        let (g, keys) = grant(sequence, expires_at, &["org.example.a"], 1);
        s.put_v2_grant("sys".into(), friend.into(), g, keys, HOUR, accept())
    };
    // Expired long ago (the store compares with the clock).
    assert_eq!(put("fr", 1, 1_000).await.unwrap(), Ok(()));
    assert_eq!(
        live(s, "sys", "fr").await,
        Err(Refusal::Forbidden("The grant from this system has expired"))
    );
    // A newer one that never expires.
    assert_eq!(put("fr", 2, 0).await.unwrap(), Ok(()));
    assert_eq!(live(s, "sys", "fr").await.map(|g| g.0), Ok(2));
    // Far in the future.
    assert_eq!(put("fr2", 1, 4_000_000_000).await.unwrap(), Ok(()));
    assert_eq!(live(s, "sys", "fr2").await.map(|g| g.0), Ok(1));
    // The reversed pair has no grant.
    assert_eq!(live(s, "fr", "sys").await, Err(NONE));
    // Bytes the relay cannot parse (stored verbatim; the check is the caller's).
    let (mut g, keys) = grant(1, 0, &["org.example.a"], 1);
    g.grant_bytes = b"not a grant".to_vec();
    let stored = s
        .put_v2_grant("sys".into(), "fr3".into(), g, keys, HOUR, accept())
        .await
        .unwrap();
    assert_eq!(stored, Ok(()));
    let broken = s.live_v2_grant("sys".into(), "fr3".into()).await;
    assert!(
        matches!(broken, Err(StoreError::Corrupt(_))),
        "{:?}",
        broken.map(|r| r.map(|_| ()))
    );
}

/// A grant and a receipt on a pairing while the friend deletes its account: each is answered
/// (stored, or no pairing), never a storage failure; nothing of the pairing is left.
async fn grants_and_receipts_while_the_friend_leaves<
    S: Users + Pairings + Grants + Receipts + Sync,
>(
    s: &S,
) {
    const GONE: Refusal = Refusal::NotFound("Pairing not found");
    for round in 0..10 {
        let (system, friend) = (format!("sys{round}"), format!("fr{round}"));
        seed_v2_pair(s, &system, &friend).await;
        replica_pair(s, &format!("p{round}"), &system, &friend).await;
        let (g, keys) = grant(1, 0, &["org.example.a"], 1);
        let (granted, received, deleted) = futures_util::future::join3(
            s.put_v2_grant(system.clone(), friend.clone(), g, keys, HOUR, accept()),
            s.put_receipt(
                system.clone(),
                friend.clone(),
                receipt("org.example.a", 1, 1),
                Box::new(|_| Ok(())),
            ),
            s.delete_user(friend.clone()),
        )
        .await;
        assert!(deleted.unwrap());
        let (granted, received) = (granted.unwrap(), received.unwrap());
        assert!(granted == Ok(()) || granted == Err(GONE), "{granted:?}");
        assert!(received == Ok(()) || received == Err(GONE), "{received:?}");
        assert!(
            s.pairings_with_peers(system.clone())
                .await
                .unwrap()
                .is_empty()
        );
        assert!(s.receipts_of_owner(system, 0).await.unwrap().is_empty());
    }
}

on_every_adapter!(
    grant_refusals_come_in_order,
    grant_sequences_must_grow,
    concurrent_grants_of_one_sequence_store_exactly_one,
    only_an_unexpired_grant_is_live,
    grants_and_receipts_while_the_friend_leaves,
);
