//! Several devices of one system (`docs/protocol-v2.md` §13) against the real relay binary: a
//! second device joins by the text of a device link, both publish alternately and a friend
//! reads every version, grants signed from either device stay in sequence, two devices racing
//! on the same key state end with one key and distinct grant sequences, and unlinking a device
//! re-keys every volume so that the unlinked device reads nothing published afterwards, even
//! when the relay cooperates with it.

use std::sync::Arc;
use std::time::Duration;

use coffer_client_core::client::{
    Cancel, ClientConfig, ClientError, NoProgress, RelayApi, SystemClient,
};
use coffer_client_core::storage::KeyStore;
use coffer_client_core::transport::{Fetched as Served, TransportError};
use coffer_client_core::v2::{self, BackupParams, V2Error, VolumeKey};
use coffer_tests::relay::RelayProcess;
use coffer_tests::v2::{
    config_for, friend, identity_of, memory_store, pair, plaintext, restored_lines, system, vol,
};

const WAIT: Duration = Duration::from_secs(20);

async fn start() -> (RelayProcess, ClientConfig) {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    (relay, config)
}

/// Links a new device to `first` through the text of a device link (as a QR code carries it).
async fn link<R: RelayApi>(
    config: &ClientConfig,
    first: &SystemClient<R>,
    label: &str,
) -> (SystemClient, Arc<dyn KeyStore>) {
    let offer = first
        .link_device("first")
        .await
        .expect("create a device link");
    let text = offer.text().to_string();
    assert!(text.starts_with("coffer://link-device?v=2&"));
    let joined_config = ClientConfig::from_device_link(&text).expect("config from the link");
    assert_eq!(joined_config.relay.as_str(), config.relay.as_str());
    let store = memory_store();
    let (joined, confirmed) = tokio::join!(
        SystemClient::join(joined_config, Arc::clone(&store), &text, label, WAIT),
        first.confirm_link(&offer, WAIT),
    );
    let joined = joined.expect("the new device joins");
    let confirmed = confirmed.expect("the first device confirms");
    assert_eq!(joined.user_id(), first.user_id());
    assert_eq!(joined.fingerprint(), first.fingerprint());
    assert_eq!(joined.device_id().unwrap(), Some(confirmed.id));
    assert_eq!(confirmed.label, label);
    (joined, store)
}

fn doc(i: u64) -> Vec<u8> {
    format!("{{\"version\":{i}}}").into_bytes()
}

#[tokio::test]
async fn two_linked_devices_publish_alternately_and_a_friend_reads_every_version() {
    let (_relay, config) = start().await;
    let (a, _) = system(&config).await;
    let meta = vol("meta");
    a.publish(&meta, &doc(1)).await.unwrap();
    let (reader, _) = friend(&config).await;
    pair(&a, &reader, std::slice::from_ref(&meta)).await;
    let (b, _) = link(&config, &a, "phone").await;

    let listed = a.devices().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(b.devices().unwrap(), listed);

    for i in 2..=7 {
        let device = if i % 2 == 0 { &b } else { &a };
        let published = device.publish(&meta, &doc(i)).await.unwrap();
        assert_eq!(
            (published.epoch, published.version),
            (1, i),
            "one epoch for all devices"
        );
        let (version, epoch, text) = plaintext(reader.fetch(a.user_id(), &meta).await);
        assert_eq!((version, epoch), (i, 1));
        assert_eq!(text, doc(i));
    }

    // A volume created on the second device, granted from the first, then the grant changed
    // from the second: the sequences continue across devices (no rollback for the friend).
    let notes = vol("org.example.notes");
    b.publish(&notes, b"notes from b").await.unwrap();
    a.set_grant(reader.user_id(), &[meta.clone(), notes.clone()], None)
        .await
        .unwrap();
    assert_eq!(
        reader.grant(a.user_id()).await.unwrap().unwrap().sequence,
        2
    );
    let (_, _, text) = plaintext(reader.fetch(a.user_id(), &notes).await);
    assert_eq!(text, b"notes from b");
    b.set_grant(
        reader.user_id(),
        &[meta.clone(), notes.clone()],
        Some(4_000_000_000),
    )
    .await
    .unwrap();
    let grant = reader.grant(a.user_id()).await.unwrap().unwrap();
    assert_eq!(grant.sequence, 3);
    assert_eq!(grant.expires_at, Some(4_000_000_000));
    a.publish(&notes, b"notes from a").await.unwrap();
    let (version, epoch, text) = plaintext(reader.fetch(a.user_id(), &notes).await);
    assert_eq!((version, epoch, &text[..]), (2, 1, &b"notes from a"[..]));
}

#[tokio::test]
async fn racing_devices_end_with_one_key_and_distinct_grant_sequences() {
    let (_relay, config) = start().await;
    let (a, a_store) = system(&config).await;
    let meta = vol("meta");
    a.publish(&meta, &doc(1)).await.unwrap();
    let (reader, _) = friend(&config).await;
    pair(&a, &reader, std::slice::from_ref(&meta)).await;
    let (b, b_store) = link(&config, &a, "tablet").await;

    // Both devices create the same new volume at once: only one key for (fresh, 1) is ever
    // used, whichever device stored the owner state first.
    let fresh = vol("org.example.fresh");
    let (pa, pb) = tokio::join!(a.publish(&fresh, b"from a"), b.publish(&fresh, b"from b"));
    let (pa, pb) = (pa.unwrap(), pb.unwrap());
    assert_eq!((pa.epoch, pb.epoch), (1, 1));
    assert_ne!(pa.version, pb.version);
    // Both end with the same single key of epoch 1.
    a.publish(&meta, &doc(2)).await.unwrap();
    b.publish(&meta, &doc(3)).await.unwrap();
    let key_a = a_store
        .load("vek/org.example.fresh/1")
        .unwrap()
        .expect("a holds the key");
    let key_b = b_store
        .load("vek/org.example.fresh/1")
        .unwrap()
        .expect("b holds the key");
    assert_eq!(key_a, key_b);
    assert!(a_store.load("vek/org.example.fresh/2").unwrap().is_none());

    // Both devices change the friend's grant at once: two sequences, both accepted, the
    // friend reads the volume either device sealed.
    let both = [meta.clone(), fresh.clone()];
    let (ga, gb) = tokio::join!(
        a.set_grant(reader.user_id(), &both, None),
        b.set_grant(reader.user_id(), &both, None),
    );
    ga.unwrap();
    gb.unwrap();
    assert_eq!(
        reader.grant(a.user_id()).await.unwrap().unwrap().sequence,
        3
    );
    let (version, epoch, _) = plaintext(reader.fetch(a.user_id(), &fresh).await);
    assert_eq!((version, epoch), (2, 1));
}

#[tokio::test]
async fn unlinking_a_device_rekeys_and_it_reads_nothing_published_afterwards() {
    let (_relay, config) = start().await;
    let (a, _) = system(&config).await;
    let meta = vol("meta");
    a.publish(&meta, &doc(1)).await.unwrap();
    let (reader, _) = friend(&config).await;
    pair(&a, &reader, std::slice::from_ref(&meta)).await;
    let (b, b_store) = link(&config, &a, "old phone").await;
    b.publish(&meta, &doc(2)).await.unwrap();
    let b_id = b.device_id().unwrap().expect("b has a device id");

    assert!(matches!(
        a.unlink_device(a.device_id().unwrap().unwrap()).await,
        Err(ClientError::InvalidInput(_))
    ));
    let report = a.unlink_device(b_id).await.unwrap();
    assert_eq!(report.rotated, vec![(meta.clone(), 2)]);
    assert_eq!(report.friends_regranted, vec![reader.user_id()]);
    assert_eq!(a.devices().unwrap().len(), 1);

    a.publish(&meta, &doc(4)).await.unwrap();
    let (version, epoch, text) = plaintext(reader.fetch(a.user_id(), &meta).await);
    assert_eq!((version, epoch, text), (4, 2, doc(4)));

    // Its session was revoked: its next request is refused at once, and it stays signed out.
    assert!(matches!(
        b.relay().get_volume(&meta, None).await,
        Err(TransportError::Unauthorized)
    ));
    assert!(matches!(
        b.publish(&meta, &doc(5)).await,
        Err(ClientError::Unauthorized)
    ));
    assert!(
        a.list_sessions().await.unwrap().iter().all(|s| s
            .device_label
            .as_ref()
            .is_none_or(|l| l.as_str() != "old phone")),
        "no session of the unlinked device is left"
    );
    // The unlinked device still holds the identity (so it can sign in again) and the epoch-1
    // key. A cooperating relay serves it the new version directly: it has no key for epoch 2 ...
    b.login().await.unwrap();
    let served = match b.relay().get_volume(&meta, None).await.unwrap() {
        Served::Modified(v) => v,
        Served::NotModified => unreachable!("unconditional"),
    };
    let old_key = b_store.load("vek/meta/1").unwrap().expect("b kept epoch 1");
    let old_key = VolumeKey::from_bytes(<[u8; 32]>::try_from(&old_key[..]).unwrap());
    assert!(b_store.load("vek/meta/2").unwrap().is_none());
    let opened = v2::open(
        &identity_of(&b_store).public_signing_key(),
        b.user_id(),
        &meta,
        &served.header,
        served.signature.as_bytes(),
        &served.payload,
        |epoch| (epoch == 1).then_some(&old_key),
    );
    assert!(matches!(opened, Err(V2Error::NoKeyForEpoch { epoch: 2 })));
    // ... and the owner state holds no slot for it any more: it cannot learn the key.
    assert!(matches!(
        b.publish(&meta, &doc(5)).await,
        Err(ClientError::DeviceUnlinked)
    ));
    assert!(b_store.load("vek/meta/2").unwrap().is_none());
}

/// A restore recovers the keys, then the data: a backup made on a linked device brings back
/// its device and state keys, so the shared state fills in a key created after the backup (on
/// another device); a device linked later reads every volume back at once.
#[tokio::test]
async fn restores_read_back_through_the_shared_state_keys_made_after_the_backup() {
    let (_relay, config) = start().await;
    let (a, _) = system(&config).await;
    a.publish(&vol("meta"), b"meta 1").await.unwrap();
    let (b, _) = link(&config, &a, "tablet").await;
    let backup = a
        .export_backup("correct horse", &BackupParams::danger_fast_for_tests())
        .await
        .unwrap();
    // After the backup, on the other device: a new volume, whose epoch-1 key the backup
    // cannot hold.
    b.publish(&vol("org.example.notes"), b"notes from b")
        .await
        .unwrap();
    let expected = vec![
        "meta 1/1 meta 1".to_owned(),
        "org.example.notes 1/1 notes from b".to_owned(),
    ];

    // A new phone from the backup: the same device again, it opens the current shared state.
    let phone =
        SystemClient::restore_backup(config.clone(), memory_store(), &backup, "correct horse")
            .await
            .unwrap();
    let restored = phone
        .restore_volumes(&NoProgress, &Cancel::new())
        .await
        .unwrap();
    let mut seen = restored_lines(&restored);
    seen.sort();
    assert_eq!(seen, expected);

    // A device linked now reads everything back too.
    let (c, _) = link(&config, &b, "laptop").await;
    let restored = c
        .restore_volumes(&NoProgress, &Cancel::new())
        .await
        .unwrap();
    let mut seen = restored_lines(&restored);
    seen.sort();
    assert_eq!(seen, expected);
}
