//! [`OwnGrants`]: a system reads back the exact grants it gave, one per pairing, by friend.

use coffer_relay::storage::grants::Grants;
use coffer_relay::storage::own_grants::OwnGrants;
use coffer_relay::storage::pairings::Pairings;
use coffer_relay::storage::users::{ClientType, Users};

use super::harness::seed_user;
use super::on_every_adapter;
use super::pairings::{HOUR, accept, grant, replica_pair, v2_account};

/// Only the owner's stored grants (a pairing without a grant is not listed, nor another
/// system's grants), each the current one's exact bytes and signature, by friend id in byte
/// order.
async fn grants_given_are_the_owners_current_ones_by_friend<
    S: Users + Pairings + Grants + OwnGrants,
>(
    s: &S,
) {
    seed_user(s, v2_account("sys", ClientType::System)).await;
    seed_user(s, v2_account("sys2", ClientType::System)).await;
    // Byte order: "f-c" < "fA" < "fb" < "fd".
    for f in ["fb", "fA", "f-c", "fd"] {
        seed_user(s, v2_account(f, ClientType::Friend)).await;
        replica_pair(s, &format!("p-{f}"), "sys", f).await;
    }
    replica_pair(s, "q-fb", "sys2", "fb").await;
    let put = |owner: &str, friend: &str, sequence: u64, mark: u8| {
        let (g, keys) = grant(sequence, 0, &["org.example.a"], mark);
        s.put_v2_grant(owner.into(), friend.into(), g, keys, HOUR, accept())
    };
    assert!(s.grants_given("sys".into()).await.unwrap().is_empty());
    for (owner, friend, mark) in [
        ("sys", "fb", 1),
        ("sys", "fA", 2),
        ("sys", "f-c", 3),
        ("sys2", "fb", 4),
    ] {
        assert_eq!(put(owner, friend, 1, mark).await.unwrap(), Ok(()));
    }
    assert_eq!(put("sys", "fb", 2, 5).await.unwrap(), Ok(()));
    let given = s.grants_given("sys".into()).await.unwrap();
    let expected: Vec<_> = [("f-c", 1, 3), ("fA", 1, 2), ("fb", 2, 5)]
        .into_iter()
        .map(|(friend, sequence, mark)| {
            let (g, _) = grant(sequence, 0, &["org.example.a"], mark);
            (friend.to_owned(), g.grant_bytes, g.signature)
        })
        .collect();
    assert_eq!(given, expected);
    let of_sys2 = s.grants_given("sys2".into()).await.unwrap();
    assert_eq!(of_sys2.len(), 1);
    assert_eq!((of_sys2[0].0.as_str(), of_sys2[0].2[0]), ("fb", 4));
    // A friend gives nothing.
    assert!(s.grants_given("fb".into()).await.unwrap().is_empty());
}

on_every_adapter!(grants_given_are_the_owners_current_ones_by_friend);
