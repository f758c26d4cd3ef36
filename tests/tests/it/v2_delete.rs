//! Deleting one volume (docs/protocol-v2.md §12) against the real relay binary: the owner's
//! signed tombstone replaces the volume, its storage is freed, friends see a verified deletion,
//! a republish goes above it; the relay refuses a stale tombstone (409) and one that names
//! another owner or is signed by another key.

use std::time::{SystemTime, UNIX_EPOCH};

use coffer_client_core::client::{ClientError, Fetched};
use coffer_client_core::transport::TransportError;
use coffer_client_core::v2::sign_tombstone;
use coffer_tests::relay::RelayProcess;
use coffer_tests::v2::{config_for, friend, identity_of, pair, plaintext, system, vol};
use coffer_wire::b64::Signature64;
use coffer_wire::v2::api::SignedTombstone;
use uuid::Uuid;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn used(relay: &RelayProcess, user: Uuid) -> i64 {
    let db = rusqlite::Connection::open(relay.database_path()).unwrap();
    db.query_row(
        "SELECT storage_used_bytes FROM users WHERE id = ?1",
        [user.to_string()],
        |r| r.get(0),
    )
    .unwrap()
}

fn rows(relay: &RelayProcess, table: &str) -> i64 {
    let db = rusqlite::Connection::open(relay.database_path()).unwrap();
    db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_is_seen_verified_frees_storage_and_a_republish_goes_above() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let (system, _) = system(&config).await;
    let (meta, notes) = (vol("meta"), vol("org.example.notes"));
    system.publish(&meta, b"{\"v\":1}").await.unwrap();
    system.publish(&meta, b"{\"v\":2}").await.unwrap();
    system.publish(&notes, b"{\"n\":1}").await.unwrap();
    let (friend, _) = friend(&config).await;
    pair(&system, &friend, &[meta.clone(), notes.clone()]).await;
    let owner = system.user_id();
    assert_eq!(plaintext(friend.fetch(owner, &meta).await).0, 2);
    let before = used(&relay, owner);
    assert!(before > 0);

    let deleted = system.delete_volume(&meta).await.unwrap();
    assert_eq!((deleted.epoch, deleted.version), (1, 3));
    // The payload is gone and its bytes no longer count; the other volume is untouched.
    assert!(used(&relay, owner) < before);
    assert_eq!(rows(&relay, "volumes_v2"), 1);
    assert_eq!(rows(&relay, "tombstones"), 1);

    // The friend sees a deletion, verified under the pinned owner key.
    match friend.fetch(owner, &meta).await.unwrap() {
        Fetched::Deleted {
            version,
            epoch,
            hour,
        } => {
            assert_eq!((version, epoch), (3, 1));
            assert_eq!(hour % 3600, 0);
            assert!(hour <= now());
        }
        other => panic!("expected Deleted, got {other:?}"),
    }
    assert_eq!(plaintext(friend.fetch(owner, &notes).await).0, 1);
    // The owner's own read sees it too.
    assert!(matches!(
        system.fetch(&meta).await.unwrap(),
        Fetched::Deleted { version: 3, .. }
    ));
    // The lists carry the tombstone next to the live volumes.
    let listed = friend
        .relay()
        .shared_volumes(coffer_tests::v2::uid(owner))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);

    // Deleting again: nothing live to delete.
    assert!(matches!(
        system.delete_volume(&meta).await,
        Err(ClientError::NotFound)
    ));

    // A republish goes above the tombstone and clears it; the friend reads it.
    let published = system.publish(&meta, b"{\"v\":4}").await.unwrap();
    assert_eq!(published.version, 4);
    assert_eq!(rows(&relay, "tombstones"), 0);
    let (version, _, bytes) = plaintext(friend.fetch(owner, &meta).await);
    assert_eq!((version, &bytes[..]), (4, &b"{\"v\":4}"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_refuses_stale_foreign_and_forged_tombstones() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let (system, store) = system(&config).await;
    let (other, other_store) = coffer_tests::v2::system(&config).await;
    let meta = vol("meta");
    system.publish(&meta, b"{\"v\":1}").await.unwrap();
    system.publish(&meta, b"{\"v\":2}").await.unwrap();
    let owner = system.user_id();
    let body = |id: &coffer_client_core::identity::Identity, who: Uuid, version: u64| {
        let t = sign_tombstone(id, who, &meta, 1, version, now()).unwrap();
        SignedTombstone {
            tombstone: t.bytes,
            signature: Signature64::from_bytes(t.signature),
        }
    };
    let own_id = identity_of(&store);

    // Not above the stored version: 409 with the stored position.
    let stale = system
        .relay()
        .delete_volume(&meta, &body(&own_id, owner, 2))
        .await;
    assert!(
        matches!(
            stale,
            Err(TransportError::Conflict {
                current_version: Some(2),
                current_epoch: Some(1)
            })
        ),
        "{stale:?}"
    );
    // Another user cannot delete it: its tombstone names itself (and it has no such volume),
    // or names the owner (not the caller).
    let other_id = identity_of(&other_store);
    assert!(matches!(
        other
            .relay()
            .delete_volume(&meta, &body(&other_id, other.user_id(), 9))
            .await,
        Err(TransportError::NotFound)
    ));
    assert!(matches!(
        other
            .relay()
            .delete_volume(&meta, &body(&other_id, owner, 9))
            .await,
        Err(TransportError::BadRequest { .. })
    ));
    // Signed by another key for the owner's id: refused.
    let forged = system
        .relay()
        .delete_volume(&meta, &body(&other_id, owner, 9))
        .await;
    assert!(
        matches!(forged, Err(TransportError::Forbidden { .. })),
        "{forged:?}"
    );
    assert_eq!(rows(&relay, "tombstones"), 0);
    assert_eq!(plaintext(system.fetch(&meta).await).0, 2);

    // An honest delete, then the old version cannot come back (replayed upload: 409).
    let old = match system.relay().get_volume(&meta, None).await.unwrap() {
        coffer_client_core::transport::Fetched::Modified(v) => v,
        coffer_client_core::transport::Fetched::NotModified => unreachable!("unconditional"),
    };
    system.delete_volume(&meta).await.unwrap();
    let replayed = system.relay().put_volume(&meta, &old).await;
    assert!(
        matches!(
            replayed,
            Err(TransportError::Conflict {
                current_version: Some(3),
                ..
            })
        ),
        "{replayed:?}"
    );
    // The owner's own download answers 410 with the tombstone.
    assert!(matches!(
        system.relay().get_volume(&meta, None).await,
        Err(TransportError::Deleted { .. })
    ));
}
