//! [`Users`]: accounts, handles, the registration cap, deletion, discovery.

use coffer_relay::config::{Registration, RegistrationMode};
use coffer_relay::service::registration::{CAP_REACHED, Gate};
use coffer_relay::storage::users::{ClientType, NewUser, ProfileUpdate, Users};

use super::harness::{account, open_gate, seed_user};
use super::on_every_adapter;

/// An id is taken once; a handle once, ignoring ASCII case; nothing is stored by a refusal.
async fn ids_and_handles_are_unique<S: Users>(s: &S) {
    seed_user(s, account("u1", Some("Alice"), ClientType::System)).await;
    let again = s
        .create_user(
            account("u1", Some("Other"), ClientType::System),
            open_gate(),
            0,
        )
        .await
        .unwrap();
    assert_eq!(again, Ok(NewUser::IdTaken));
    let same_handle = s
        .create_user(
            account("u2", Some("aLICE"), ClientType::Friend),
            open_gate(),
            0,
        )
        .await
        .unwrap();
    assert_eq!(same_handle, Ok(NewUser::HandleTaken));
    assert!(
        s.user("u2".into()).await.unwrap().is_none(),
        "nothing stored"
    );
    let found = s.user_by_handle("ALICE".into()).await.unwrap().unwrap();
    assert_eq!(found.id, "u1");
    assert_eq!(
        found.public_signing_key,
        account("u1", None, ClientType::System).public_signing_key
    );
    assert_eq!(found.client_type, ClientType::System);
    assert!(!found.is_v2());
    // Non-ASCII letters are not folded (as SQLite's NOCASE).
    seed_user(s, account("u3", Some("émile"), ClientType::Friend)).await;
    seed_user(s, account("u4", Some("Émile"), ClientType::Friend)).await;
}

/// The cap counts every account and is checked in the insert's transaction: of many
/// concurrent registrations against a cap of 3, exactly 3 get in.
async fn the_user_cap_holds_under_concurrent_registrations<S: Users + Sync>(s: &S) {
    let capped = Gate::new(
        &Registration {
            mode: RegistrationMode::Open,
            max_users: Some(3),
            ..Registration::default()
        },
        None,
    );
    let attempts = (0..8).map(|i| {
        let gate = capped.clone();
        async move {
            s.create_user(account(&format!("c{i}"), None, ClientType::Friend), gate, 0)
                .await
                .unwrap()
        }
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let created = outcomes
        .iter()
        .filter(|o| **o == Ok(NewUser::Created))
        .count();
    assert_eq!(created, 3, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| *o == Ok(NewUser::Created) || *o == Err(CAP_REACHED)),
        "{outcomes:?}"
    );
}

/// Profile changes apply field by field; a handle taken by another account changes nothing.
async fn profile_updates_keep_handles_unique<S: Users>(s: &S) {
    seed_user(s, account("p1", Some("one"), ClientType::System)).await;
    seed_user(s, account("p2", Some("two"), ClientType::System)).await;
    let taken = ProfileUpdate {
        handle: Some(Some("ONE".into())),
        protocol_version: Some(9),
        ..ProfileUpdate::default()
    };
    assert!(!s.update_profile("p2".into(), taken).await.unwrap());
    let p2 = s.user("p2".into()).await.unwrap().unwrap();
    assert_eq!(
        (p2.handle.as_deref(), p2.protocol_version),
        (Some("two"), 1)
    );
    // Its own handle in another case is no conflict.
    let own = ProfileUpdate {
        handle: Some(Some("TWO".into())),
        feature_set: Some("[\"x\"]".into()),
        ..ProfileUpdate::default()
    };
    assert!(s.update_profile("p2".into(), own).await.unwrap());
    let p2 = s.user("p2".into()).await.unwrap().unwrap();
    assert_eq!(
        (p2.handle.as_deref(), p2.feature_set.as_str()),
        (Some("TWO"), "[\"x\"]")
    );
    let cleared = ProfileUpdate {
        handle: Some(None),
        ..ProfileUpdate::default()
    };
    assert!(s.update_profile("p1".into(), cleared).await.unwrap());
    assert!(s.user_by_handle("one".into()).await.unwrap().is_none());
}

/// Deleting answers whether the account existed; it is gone at once.
async fn deletion_is_answered_once<S: Users>(s: &S) {
    seed_user(s, account("d1", Some("gone"), ClientType::Friend)).await;
    assert!(s.delete_user("d1".into()).await.unwrap());
    assert!(!s.delete_user("d1".into()).await.unwrap());
    assert!(s.user("d1".into()).await.unwrap().is_none());
    assert!(s.user_by_handle("gone".into()).await.unwrap().is_none());
    // The handle is free again.
    seed_user(s, account("d2", Some("gone"), ClientType::Friend)).await;
}

/// Discovery: v1 accounts of the asked type whose handle contains the query literally (any
/// ASCII case, `%` and `_` not wildcards), never v2 accounts, in handle order, at most `limit`.
async fn discovery_matches_literal_substrings<S: Users>(s: &S) {
    for (id, handle, t) in [
        ("f1", "Bob_Smith", ClientType::Friend),
        ("f2", "bobby", ClientType::Friend),
        ("f3", "BOBXSMITH", ClientType::Friend),
        ("s1", "bob-system", ClientType::System),
        ("f4", "a%b", ClientType::Friend),
    ] {
        seed_user(s, account(id, Some(handle), t)).await;
    }
    let mut v2 = account("f5", Some("bob-v2"), ClientType::Friend);
    v2.key_binding_signature = Some([1; 64]);
    seed_user(s, v2).await;
    let ids = |users: Vec<coffer_relay::storage::users::User>| -> Vec<String> {
        users.into_iter().map(|u| u.id).collect()
    };
    let bob = s
        .discover("BOB".into(), ClientType::Friend, 10)
        .await
        .unwrap();
    assert_eq!(ids(bob), ["f1", "f2", "f3"]);
    let literal = s
        .discover("b_s".into(), ClientType::Friend, 10)
        .await
        .unwrap();
    assert_eq!(ids(literal), ["f1"]);
    let percent = s
        .discover("%".into(), ClientType::Friend, 10)
        .await
        .unwrap();
    assert_eq!(ids(percent), ["f4"]);
    let limited = s
        .discover("bob".into(), ClientType::Friend, 2)
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);
    let systems = s
        .discover("bob".into(), ClientType::System, 10)
        .await
        .unwrap();
    assert_eq!(ids(systems), ["s1"]);
}

on_every_adapter!(
    ids_and_handles_are_unique,
    the_user_cap_holds_under_concurrent_registrations,
    profile_updates_keep_handles_unique,
    deletion_is_answered_once,
    discovery_matches_literal_substrings,
);
