//! A malicious relay against volume deletion (docs/protocol-v2.md §12): a friend reports a
//! deletion only for a tombstone that verifies under the owner's pinned key, names the owner
//! and the volume, and is not older than what the friend already read. A relay that fakes a
//! tombstone — garbage, signed by another key, signed by the owner for another volume, or an
//! older genuine one replayed — is detected (an error), never reported as a deletion.
//!
//! Every test name contains `malicious`.

use coffer_client_core::client::{ClientError, Fetched};
use coffer_client_core::identity::Identity;
use coffer_client_core::v2::sign_tombstone;
use coffer_tests::malicious::Attack;
use coffer_tests::relay::RelayProcess;
use coffer_tests::v2::{config_for, evil_friend, identity_of, pair, plaintext, system, vol};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_faking_a_tombstone_is_detected() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let (system, store) = system(&config).await;
    let meta = vol("meta");
    let owner = system.user_id();
    let owner_id = identity_of(&store);
    system.publish(&meta, b"{\"v\":1}").await.unwrap();
    system.publish(&meta, b"{\"v\":2}").await.unwrap();
    let (friend, evil, _) = evil_friend(&config).await;
    pair(&system, &friend, std::slice::from_ref(&meta)).await;
    assert_eq!(plaintext(friend.fetch(owner, &meta).await).0, 2);

    let now = 1_800_000_000;
    let other_volume = vol("org.example.notes");
    let by_owner_other_volume = sign_tombstone(&owner_id, owner, &other_volume, 1, 3, now).unwrap();
    let by_relay = sign_tombstone(&Identity::generate(), owner, &meta, 1, 3, now).unwrap();
    let older = sign_tombstone(&owner_id, owner, &meta, 1, 1, now).unwrap();
    let fakes = [
        ("garbage", b"CFT2 not a tombstone".to_vec(), [7; 64]),
        (
            "another volume",
            by_owner_other_volume.bytes,
            by_owner_other_volume.signature,
        ),
        ("another key", by_relay.bytes, by_relay.signature),
        ("older replay", older.bytes, older.signature),
    ];
    for (what, tombstone, signature) in fakes {
        evil.set(Attack::FakeTombstone {
            volume: meta.clone(),
            tombstone,
            signature,
        });
        let got = friend.fetch(owner, &meta).await;
        assert_eq!(evil.fired(), 1, "{what}");
        match got {
            Err(
                ClientError::BadSignature
                | ClientError::WrongVolume
                | ClientError::Rollback { .. }
                | ClientError::Tampered
                | ClientError::Protocol(_),
            ) => {}
            other => panic!("{what}: expected a detected forgery, got {other:?}"),
        }
    }

    // Honest again: nothing was recorded as deleted, the volume is still readable.
    evil.clear();
    assert!(matches!(
        friend.fetch(owner, &meta).await.unwrap(),
        Fetched::NotModified
    ));
    // A genuine deletion is reported, and the relay cannot then replay the pre-deletion
    // version (the mark moved to the tombstone).
    system.delete_volume(&meta).await.unwrap();
    assert!(matches!(
        friend.fetch(owner, &meta).await.unwrap(),
        Fetched::Deleted { version: 3, .. }
    ));
    evil.set(Attack::ReplayVersion {
        volume: meta.clone(),
        version: 2,
    });
    assert!(friend.fetch(owner, &meta).await.is_err());
}
