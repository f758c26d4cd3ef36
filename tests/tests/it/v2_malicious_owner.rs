//! A malicious relay against the owner reading its own data back (`docs/protocol-v2.md` §12):
//! a rolled-back own volume, and an older, forged or moved grant served to `friends()`. Each
//! test asserts the client's specific answer and that the attack really ran.
//!
//! Every test name contains `malicious`.

use coffer_client_core::client::{ClientError, FriendGrant, RelayApi};
use coffer_client_core::transport::OwnGrant;
use coffer_tests::malicious::Attack;
use coffer_tests::relay::RelayProcess;
use coffer_tests::v2::{config_for, evil_system, friend, pair, plaintext, uid, vol};
use coffer_wire::b64::Signature64;

/// The relay answers the owner's fetch with an older version it recorded: the owner's
/// rollback mark refuses it (P7), as a friend's would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_rolls_back_own_volume_on_owner_fetch() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let (system, evil) = evil_system(&config).await;
    system.publish(&vol("meta"), b"version 1").await.unwrap();
    plaintext(system.fetch(&vol("meta")).await);
    system.publish(&vol("meta"), b"version 2").await.unwrap();
    evil.set(Attack::ReplayVersion {
        volume: vol("meta"),
        version: 1,
    });
    match system.fetch(&vol("meta")).await {
        Err(ClientError::Rollback {
            seen_version: 2,
            got_version: 1,
            ..
        }) => {}
        other => panic!("expected a rollback, got {other:?}"),
    }
    assert!(evil.fired() > 0, "the relay replayed");
    evil.clear();
    let (version, _, text) = plaintext(system.fetch(&vol("meta")).await);
    assert_eq!((version, text.as_slice()), (2, &b"version 2"[..]));
}

/// The relay serves `friends()` the friend's superseded grant (sequence 1, validly signed)
/// after the owner widened it (sequence 2): reported as a rollback, not shown as current.
/// A grant whose signature does not verify, or one moved to another friend, is an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_serves_older_grant_to_owner_friends() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let (system, evil) = evil_system(&config).await;
    system.publish(&vol("meta"), b"meta").await.unwrap();
    system.publish(&vol("members"), b"members").await.unwrap();
    let (second, _) = friend(&config).await;
    let (friend, _) = friend(&config).await;
    pair(&system, &friend, &[vol("meta")]).await;
    pair(&system, &second, &[vol("meta")]).await;
    let recorded = evil.own_grants().await.unwrap();
    let first: Vec<OwnGrant> = recorded
        .iter()
        .filter(|g| g.friend_user_id == uid(friend.user_id()))
        .cloned()
        .collect();
    assert_eq!(first.len(), 1);
    system
        .approve(friend.user_id(), &[vol("meta"), vol("members")], None)
        .await
        .unwrap();

    evil.set(Attack::InjectOwnGrants {
        grants: first.clone(),
    });
    let friends = system.friends().await.unwrap();
    assert!(evil.fired() > 0);
    let shown = friends
        .iter()
        .find(|f| f.friend_id == friend.user_id())
        .unwrap();
    assert_eq!(
        shown.grant,
        FriendGrant::RolledBack {
            served_sequence: 1,
            recorded_sequence: 2
        }
    );

    // A flipped signature bit.
    let mut forged = first[0].clone();
    let mut sig = *forged.signature.as_bytes();
    sig[0] ^= 1;
    forged.signature = Signature64::from_bytes(sig);
    evil.set(Attack::InjectOwnGrants {
        grants: vec![forged],
    });
    assert!(matches!(
        system.friends().await,
        Err(ClientError::BadSignature)
    ));

    // The first friend's (validly signed) grant presented as the second friend's.
    let mut moved = first[0].clone();
    moved.friend_user_id = uid(second.user_id());
    evil.set(Attack::InjectOwnGrants {
        grants: vec![moved],
    });
    assert!(matches!(
        system.friends().await,
        Err(ClientError::GrantNotForMe)
    ));

    evil.clear();
    let honest = system.friends().await.unwrap();
    assert!(
        honest
            .iter()
            .all(|f| matches!(f.grant, FriendGrant::Current { expired: false, .. }))
    );
}
