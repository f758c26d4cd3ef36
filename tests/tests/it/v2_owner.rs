//! The owner reads its own data back (`docs/protocol-v2.md` §12), against the real relay
//! binary over pinned TLS: the list and verified fetch of its volumes, a new phone that restores
//! from a backup and reads every volume back with progress (a volume re-keyed after the backup
//! is reported as such), the friends with their grants as the relay holds them, and lapsed
//! grants that re-key their volumes so the lapsed friend's key opens nothing newer.

use std::sync::{Arc, Mutex};

use coffer_client_core::client::{
    Cancel, ClientError, FriendGrant, FriendStatus, NoProgress, Progress, SystemClient,
};
use coffer_client_core::transport::Fetched as Served;
use coffer_client_core::v2::{self, BackupParams, Side, WrapKey};
use coffer_tests::relay::RelayProcess;
use coffer_tests::v2::{
    config_for, friend, identity_of, memory_store, pair, plaintext, restored_lines, system, uid,
    vol,
};

/// Every progress report, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<(u64, u64, String)>>);

impl Progress for Recorder {
    fn on_progress(&self, done: u64, total: u64, what: &str) {
        self.0.lock().unwrap().push((done, total, what.to_owned()));
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_lists_and_fetches_its_own_volumes() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let (system, _) = system(&config).await;
    assert!(system.list_volumes().await.unwrap().is_empty());
    system.publish(&vol("meta"), b"meta one").await.unwrap();
    system.publish(&vol("meta"), b"meta two").await.unwrap();
    system.publish(&vol("members"), b"members").await.unwrap();

    let listed = system.list_volumes().await.unwrap();
    let summary: Vec<_> = listed
        .iter()
        .map(|v| (v.volume.as_str(), v.epoch, v.version, v.key_present))
        .collect();
    assert_eq!(
        summary,
        [("members", 1, 1, true), ("meta", 1, 2, true)],
        "{listed:?}"
    );
    for v in &listed {
        assert_eq!(v.hour % 3600, 0);
        assert_eq!(v.size, 1024 + 28, "one padded KiB plus nonce and tag");
    }

    let (version, epoch, text) = plaintext(system.fetch(&vol("meta")).await);
    assert_eq!((version, epoch, text.as_slice()), (2, 1, &b"meta two"[..]));
    assert!(matches!(
        system.fetch(&vol("org.example.never")).await,
        Err(ClientError::NotFound)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_phone_restores_from_backup_and_reads_its_volumes_back() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let (system, _) = system(&config).await;
    system.publish(&vol("meta"), b"meta 1").await.unwrap();
    system.publish(&vol("members"), b"members 1").await.unwrap();
    let backup = system
        .export_backup("correct horse", &BackupParams::danger_fast_for_tests())
        .await
        .unwrap();
    // After the backup: a new version under the same key, and a volume whose (epoch-1) key
    // the backup does not hold.
    system.publish(&vol("members"), b"members 2").await.unwrap();
    system
        .publish(&vol("org.example.notes"), b"notes")
        .await
        .unwrap();

    let phone_store = memory_store();
    let phone = SystemClient::restore_backup(
        config.clone(),
        Arc::clone(&phone_store),
        &backup,
        "correct horse",
    )
    .await
    .unwrap();
    let recorder = Recorder::default();
    let restored = phone
        .restore_volumes(&recorder, &Cancel::new())
        .await
        .unwrap();
    let shown = restored_lines(&restored);
    assert_eq!(
        shown,
        [
            "members 1/2 members 2",
            "meta 1/1 meta 1",
            "org.example.notes 1/1 key missing",
        ]
    );
    let reports = recorder.0.lock().unwrap().clone();
    let steps: Vec<&str> = reports.iter().map(|(_, _, w)| w.as_str()).collect();
    assert_eq!(
        steps,
        [
            "list",
            "fetch:members",
            "fetch:meta",
            "fetch:org.example.notes",
            "done"
        ]
    );
    assert_eq!(reports.last().unwrap().0, reports.last().unwrap().1);
    assert!(matches!(
        phone.fetch(&vol("org.example.notes")).await,
        Err(ClientError::NoKeyForEpoch)
    ));

    // Cancelled before it starts: nothing is read.
    let cancel = Cancel::new();
    cancel.cancel();
    assert!(matches!(
        phone.restore_volumes(&NoProgress, &cancel).await,
        Err(ClientError::Cancelled)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_lists_friends_with_verified_grants() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let (system, _) = system(&config).await;
    system.publish(&vol("meta"), b"meta").await.unwrap();
    assert!(system.friends().await.unwrap().is_empty());
    let (friend, _) = friend(&config).await;
    pair(&system, &friend, &[vol("meta")]).await;
    system
        .approve(friend.user_id(), &[vol("meta"), vol("members")], None)
        .await
        .unwrap();

    let friends = system.friends().await.unwrap();
    assert_eq!(friends.len(), 1);
    let f = &friends[0];
    assert_eq!(f.friend_id, friend.user_id());
    assert_eq!(f.fingerprint, friend.fingerprint());
    assert_eq!(f.safety_number, friend.fingerprint().safety_number());
    assert_eq!(f.status, FriendStatus::Active);
    match &f.grant {
        FriendGrant::Current { view, expired } => {
            assert!(!expired);
            assert_eq!(view.sequence, 2);
            assert_eq!(view.expires_at, None);
            assert_eq!(view.volumes, [(vol("members"), 1), (vol("meta"), 1)]);
        }
        other => panic!("expected the current grant, got {other:?}"),
    }

    // The friend unpairs: the relay holds no pairing and no grant any more.
    friend.unpair(system.user_id()).await.unwrap();
    let friends = system.friends().await.unwrap();
    assert_eq!(friends[0].status, FriendStatus::Unpaired);
    assert_eq!(friends[0].grant, FriendGrant::NoGrant);
}

/// A grant with a short expiry lapses; `process_expiries` rotates its volume exactly as a
/// revocation does. The lapsed friend's key (unwrapped from what the relay served it) opens
/// the version it could read, and nothing published after the expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lapsed_grant_rekeys_and_the_old_key_opens_nothing_newer() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let (system, system_store) = system(&config).await;
    let system_id = system.user_id();
    system
        .publish(&vol("meta"), b"before expiry")
        .await
        .unwrap();
    system.publish(&vol("members"), b"members").await.unwrap();
    let (other, _) = friend(&config).await;
    let (friend, friend_store) = friend(&config).await;
    pair(&system, &other, &[vol("meta")]).await;
    let link = system.create_invite().await.unwrap();
    friend.redeem(&link).await.unwrap();
    let expires_at = now_unix() + 2;
    system
        .approve(friend.user_id(), &[vol("meta")], Some(expires_at))
        .await
        .unwrap();
    plaintext(friend.fetch(system_id, &vol("meta")).await);
    let envelope = friend.relay().shared_grant(uid(system_id)).await.unwrap();
    let old_wrapped = envelope.wrapped_keys[0].wrapped_key;
    let Served::Modified(before) = system.relay().get_volume(&vol("meta"), None).await.unwrap()
    else {
        panic!("unconditional GET");
    };

    while now_unix() <= expires_at {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(matches!(
        system
            .friends()
            .await
            .unwrap()
            .iter()
            .find(|f| f.friend_id == friend.user_id())
            .unwrap()
            .grant,
        FriendGrant::Current { expired: true, .. }
    ));
    let report = system
        .process_expiries()
        .await
        .unwrap()
        .expect("a grant lapsed");
    assert_eq!(report.rotated, [(vol("meta"), 2)]);
    assert_eq!(report.friends_regranted, [other.user_id()]);
    assert!(system.process_expiries().await.unwrap().is_none(), "once");
    let listed = system.list_volumes().await.unwrap();
    let meta = listed.iter().find(|v| v.volume == vol("meta")).unwrap();
    assert_eq!((meta.epoch, meta.version), (2, 2));
    let members = listed.iter().find(|v| v.volume == vol("members")).unwrap();
    assert_eq!(
        members.epoch, 1,
        "not granted to the lapsed friend: not rotated"
    );
    // The remaining friend reads the new epoch.
    let (version, epoch, text) = plaintext(other.fetch(system_id, &vol("meta")).await);
    assert_eq!(
        (version, epoch, text.as_slice()),
        (2, 2, &b"before expiry"[..])
    );
    // Published after the expiry, under the new key.
    let published = system.publish(&vol("meta"), b"after expiry").await.unwrap();
    assert_eq!((published.epoch, published.version), (2, 3));

    // What a modified app gets from a cooperating relay: the new version, and its old key.
    let friend_identity = identity_of(&friend_store);
    let system_public = identity_of(&system_store).public_identity();
    let wrap = WrapKey::derive(
        &friend_identity,
        Side::Friend,
        system_id,
        friend.user_id(),
        &system_public,
        &system.fingerprint(),
    )
    .unwrap();
    let old_key = wrap
        .unwrap(&vol("meta"), 1, old_wrapped.as_bytes())
        .unwrap();
    let pk = system_public.signing_key;
    let opened = v2::open(
        &pk,
        system_id,
        &vol("meta"),
        &before.header,
        before.signature.as_bytes(),
        &before.payload,
        |_| Some(&old_key),
    )
    .expect("the old key opens what the friend could read");
    assert_eq!(opened.plaintext(), b"before expiry");
    let Served::Modified(newer) = system.relay().get_volume(&vol("meta"), None).await.unwrap()
    else {
        panic!("unconditional GET");
    };
    let refused = v2::open(
        &pk,
        system_id,
        &vol("meta"),
        &newer.header,
        newer.signature.as_bytes(),
        &newer.payload,
        |_| Some(&old_key),
    );
    assert!(
        matches!(refused, Err(v2::V2Error::Tampered)),
        "the lapsed friend's key must open nothing newer: {refused:?}"
    );
    // And the friend's client is refused by the honest relay.
    assert!(friend.grant(system_id).await.unwrap().is_none());
    assert!(matches!(
        friend.fetch(system_id, &vol("meta")).await,
        Err(ClientError::Forbidden { .. })
    ));
}
