//! The v2 story end to end: the real relay binary over real TLS pinned to the self-signed
//! certificate it generated, and the real System and Friend clients of `client-core` — publish,
//! invite link, redeem, proof check, approval, reads, a second friend, revocation with key
//! rotation (and a revoked friend that still cannot read with its old keys and a cooperating
//! relay), an app restart, a wrong pin, and the passphrase-encrypted backup.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use coffer_client_core::client::{ClientError, Fetched, FriendClient, SystemClient};
use coffer_client_core::storage::{FileKeyStore, KeyStore};
use coffer_client_core::v2::{
    self, BackupError, BackupParams, InviteLink, Side, V2Error, WrapKey, export_backup,
    import_backup,
};
use coffer_tests::malicious::Attack;
use coffer_tests::relay::{RelayProcess, files_under};
use coffer_tests::v2::{
    config_for, friend, identity_of, identity_secret_of, malicious_relay, memory_store, pair,
    plaintext, stored_volume, system, uid, vol,
};
use coffer_wire::b64;

fn doc(text: &str) -> Vec<u8> {
    format!("{{\"schema_version\":2,\"text\":\"{text}\"}}").into_bytes()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn file_store(dir: &std::path::Path, name: &str) -> Arc<dyn KeyStore> {
    Arc::new(FileKeyStore::open(dir.join(name)).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_story_pairing_grants_revocation_restart() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let dir = tempfile::tempdir().unwrap();
    let system_store = file_store(dir.path(), "system");
    let system = SystemClient::register(
        config.clone(),
        Arc::clone(&system_store),
        Some("alice-system".to_owned()),
    )
    .await
    .unwrap();
    let system_id = system.user_id();
    let (meta, members, fronts, notes) = (
        vol("meta"),
        vol("members"),
        vol("fronts"),
        vol("org.example.notes"),
    );

    // Publish several volumes, one of them a namespaced custom volume.
    for (volume, text) in [
        (&meta, "meta 1"),
        (&members, "members 1"),
        (&fronts, "fronts 1"),
        (&notes, "notes 1"),
    ] {
        let published = system.publish(volume, &doc(text)).await.unwrap();
        assert_eq!((published.epoch, published.version), (1, 1), "{volume}");
    }
    let published = system.publish(&meta, &doc("meta 2")).await.unwrap();
    assert_eq!((published.epoch, published.version), (1, 2));

    // Friend A, whose relay connection the test can later make dishonest.
    let a_store = file_store(dir.path(), "friend-a");
    drop(
        FriendClient::register(
            config.clone(),
            Arc::clone(&a_store),
            Some("friend-a".to_owned()),
        )
        .await
        .unwrap(),
    );
    let a_relay = malicious_relay(&config, &a_store);
    let a = FriendClient::with_relay(a_relay.clone(), Arc::clone(&a_store)).unwrap();

    // The invite link travels as text (a QR code) and carries relay, pin, code, secret, fp.
    let link = system.create_invite().await.unwrap();
    let uri = link.to_uri();
    assert!(uri.starts_with("coffer://pair?v=2&relay="), "{}", &*uri);
    let link = InviteLink::parse(&uri).unwrap();
    assert_eq!(link.relay_origin(), relay.url());
    assert_eq!(link.pin(), Some(relay.pin()));
    assert_eq!(link.system_fingerprint(), system.fingerprint());
    let paired = a.redeem(&link).await.unwrap();
    assert_eq!(paired.system_id, system_id);
    assert_eq!(paired.fingerprint, system.fingerprint());
    assert_eq!(paired.safety_number, system.fingerprint().safety_number());
    // Not approved yet: no grant, nothing to read.
    assert!(a.grant(system_id).await.unwrap().is_none());
    assert!(matches!(
        a.fetch(system_id, &meta).await,
        Err(ClientError::Forbidden { .. })
    ));

    // The system sees the request with a valid proof and the friend's real keys.
    let requests = system.pending_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.friend_id, a.user_id());
    assert_eq!(request.handle.as_deref(), Some("friend-a"));
    assert_eq!(request.fingerprint, a.fingerprint());
    assert_eq!(request.safety_number, a.fingerprint().safety_number());
    assert!(request.proof_valid);
    system
        .approve(a.user_id(), &[meta.clone(), notes.clone()], None)
        .await
        .unwrap();
    assert!(system.pending_requests().await.unwrap().is_empty());

    // A reads what it was granted, and only that.
    let grant = a.grant(system_id).await.unwrap().unwrap();
    assert_eq!(grant.volumes, vec![(meta.clone(), 1), (notes.clone(), 1)]);
    assert_eq!((grant.sequence, grant.expires_at), (1, None));
    let mut listed = a.list(system_id).await.unwrap();
    listed.sort_by(|x, y| x.volume.cmp(&y.volume));
    let listed: Vec<_> = listed
        .iter()
        .map(|i| (i.volume.clone(), i.epoch, i.version))
        .collect();
    assert_eq!(listed, vec![(meta.clone(), 1, 2), (notes.clone(), 1, 1)]);
    assert_eq!(
        plaintext(a.fetch(system_id, &meta).await),
        (2, 1, doc("meta 2"))
    );
    assert!(matches!(
        a.fetch(system_id, &meta).await,
        Ok(Fetched::NotModified)
    ));
    assert_eq!(
        plaintext(a.fetch(system_id, &notes).await),
        (1, 1, doc("notes 1"))
    );
    assert!(matches!(
        a.fetch(system_id, &members).await,
        Err(ClientError::Forbidden { .. })
    ));
    system.publish(&meta, &doc("meta 3")).await.unwrap();
    assert_eq!(
        plaintext(a.fetch(system_id, &meta).await),
        (3, 1, doc("meta 3"))
    );

    // Friend B, with an expiring grant.
    let (b, _) = friend(&config).await;
    let expires = now() + 3600;
    let link = system.create_invite().await.unwrap();
    b.redeem(&link).await.unwrap();
    let requests = system.pending_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].proof_valid);
    system
        .approve(b.user_id(), &[meta.clone(), members.clone()], Some(expires))
        .await
        .unwrap();
    let grant = b.grant(system_id).await.unwrap().unwrap();
    assert_eq!(grant.expires_at, Some(expires));
    assert_eq!(
        plaintext(b.fetch(system_id, &meta).await),
        (3, 1, doc("meta 3"))
    );
    assert_eq!(
        plaintext(b.fetch(system_id, &members).await),
        (1, 1, doc("members 1"))
    );

    // Revoke A: every volume A could read is rotated; B is re-granted the new epoch.
    let old_grant_sequence = *a_relay
        .recorded_grant_sequences(uid(system_id))
        .last()
        .unwrap();
    let a_old_wrapped = a_relay
        .recorded_shared(uid(system_id), &meta, 3)
        .unwrap()
        .wrapped_key;
    let mut report = system.revoke(a.user_id()).await.unwrap();
    report.rotated.sort();
    assert_eq!(report.rotated, vec![(meta.clone(), 2), (notes.clone(), 2)]);
    assert_eq!(report.friends_regranted, vec![b.user_id()]);

    // B keeps reading: the latest version re-encrypted under epoch 2, then new versions.
    assert_eq!(
        plaintext(b.fetch(system_id, &meta).await),
        (4, 2, doc("meta 3"))
    );
    let grant = b.grant(system_id).await.unwrap().unwrap();
    assert_eq!(grant.volumes, vec![(members.clone(), 1), (meta.clone(), 2)]);
    assert_eq!(grant.sequence, 2);
    let published = system.publish(&meta, &doc("meta 5")).await.unwrap();
    assert_eq!((published.epoch, published.version), (2, 5));
    assert_eq!(
        plaintext(b.fetch(system_id, &meta).await),
        (5, 2, doc("meta 5"))
    );
    assert!(matches!(
        b.fetch(system_id, &members).await,
        Ok(Fetched::NotModified)
    ));

    // A: the honest relay refuses at once.
    assert!(a.grant(system_id).await.unwrap().is_none());
    assert!(matches!(
        a.fetch(system_id, &meta).await,
        Err(ClientError::Forbidden { .. })
    ));
    // A cooperating relay hands A its old grant and the new-epoch volume with A's old key.
    a_relay.set(Attack::ReplayGrant {
        sequence: old_grant_sequence,
    });
    a_relay.add(Attack::Inject {
        volume: meta.clone(),
        response: stored_volume(system.relay(), &meta, a_old_wrapped).await,
    });
    assert!(matches!(
        a.fetch(system_id, &meta).await,
        Err(ClientError::NoKeyForEpoch)
    ));
    assert!(a_relay.fired() >= 2);
    a_relay.clear();

    // Even outside the client, A's old key opens nothing new: it opened version 3, it does not
    // open version 5, and A's wrapped key does not unwrap as an epoch-2 key.
    let a_identity = identity_of(&a_store);
    let system_identity = identity_of(&system_store);
    let wrap = WrapKey::derive(
        &a_identity,
        Side::Friend,
        system_id,
        a.user_id(),
        &system_identity.public_identity(),
        &system.fingerprint(),
    )
    .unwrap();
    let old_vek = wrap.unwrap(&meta, 1, a_old_wrapped.as_bytes()).unwrap();
    assert_eq!(
        wrap.unwrap(&meta, 2, a_old_wrapped.as_bytes()).err(),
        Some(V2Error::UnwrapFailed)
    );
    let v3 = a_relay.recorded_shared(uid(system_id), &meta, 3).unwrap();
    let opened = v2::open(
        &system_identity.public_signing_key(),
        system_id,
        &meta,
        &v3.header,
        v3.signature.as_bytes(),
        &v3.payload,
        |_| Some(&old_vek),
    )
    .unwrap();
    assert_eq!(opened.plaintext(), doc("meta 3"));
    let v5 = stored_volume(system.relay(), &meta, a_old_wrapped).await;
    assert_eq!(
        v2::open(
            &system_identity.public_signing_key(),
            system_id,
            &meta,
            &v5.header,
            v5.signature.as_bytes(),
            &v5.payload,
            |_| Some(&old_vek),
        )
        .err(),
        Some(V2Error::Tampered)
    );

    // P10: what the relay stores is padded onto the Padmé grid (at least 1 KiB).
    assert!(v5.payload.len() >= 1024 + 28);
    assert!(coffer_wire::v2::payload_len_is_valid(
        v5.payload.len() as u64
    ));

    // App restart: the system opens from the same file store and continues numbering.
    drop(system);
    let system = SystemClient::open(config.clone(), Arc::clone(&system_store))
        .await
        .unwrap();
    assert_eq!(system.user_id(), system_id);
    let published = system.publish(&meta, &doc("meta 6")).await.unwrap();
    assert_eq!((published.epoch, published.version), (2, 6));
    let published = system.publish(&notes, &doc("notes 3")).await.unwrap();
    assert_eq!((published.epoch, published.version), (2, 3));
    assert_eq!(
        plaintext(b.fetch(system_id, &meta).await),
        (6, 2, doc("meta 6"))
    );
    // And it still pairs: a third friend, approved after the restart.
    let (c, _) = friend(&config).await;
    pair(&system, &c, std::slice::from_ref(&fronts)).await;
    assert_eq!(
        plaintext(c.fetch(system_id, &fronts).await),
        (1, 1, doc("fronts 1"))
    );

    // No plaintext at rest: not in the relay's data directory, not in the clients' key stores.
    let marker = b"\"text\":\"";
    for file in files_under(relay.data_dir())
        .into_iter()
        .chain(files_under(dir.path()))
    {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "plaintext in {}",
            file.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_wrong_pin_is_a_pin_mismatch() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let (system, system_store) = system(&config).await;
    system.publish(&vol("meta"), &doc("meta 1")).await.unwrap();
    let (b, b_store) = friend(&config).await;
    pair(&system, &b, &[vol("meta")]).await;
    drop((system, b));

    // The pin of another key than the relay's (e.g. of an interceptor's certificate).
    let other = coffer_certs::SpkiPin::from_spki_der(b"not the relay's public key");
    assert_ne!(other, relay.pin());
    let wrong = config_for(relay.url(), other);

    assert!(matches!(
        FriendClient::register(wrong.clone(), memory_store(), None).await,
        Err(ClientError::Tls {
            pin_mismatch: true,
            ..
        })
    ));
    let b = FriendClient::open(wrong.clone(), Arc::clone(&b_store))
        .await
        .unwrap();
    assert!(matches!(
        b.fetch(system_id_of(&system_store), &vol("meta")).await,
        Err(ClientError::Tls {
            pin_mismatch: true,
            ..
        })
    ));
    assert!(matches!(
        SystemClient::open(wrong, Arc::clone(&system_store)).await,
        Err(ClientError::Tls {
            pin_mismatch: true,
            ..
        })
    ));

    // The right pin works again, for both.
    let system = SystemClient::open(config.clone(), system_store)
        .await
        .unwrap();
    assert_eq!(
        system
            .publish(&vol("meta"), &doc("meta 2"))
            .await
            .unwrap()
            .version,
        2
    );
    let b = FriendClient::open(config, b_store).await.unwrap();
    assert_eq!(
        plaintext(b.fetch(system.user_id(), &vol("meta")).await),
        (2, 1, doc("meta 2"))
    );
}

/// The system's user id as its own store records it.
fn system_id_of(store: &Arc<dyn KeyStore>) -> uuid::Uuid {
    let account = store.load("account").unwrap().unwrap();
    let account: serde_json::Value = serde_json::from_slice(&account).unwrap();
    account["user_id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_backup_round_trip() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let dir = tempfile::tempdir().unwrap();
    let old_phone = file_store(dir.path(), "old-phone");
    let system = SystemClient::register(config.clone(), Arc::clone(&old_phone), None)
        .await
        .unwrap();
    let system_id = system.user_id();
    system.publish(&vol("meta"), &doc("meta 1")).await.unwrap();
    system.publish(&vol("meta"), &doc("meta 2")).await.unwrap();
    let (b, _) = friend(&config).await;
    pair(&system, &b, &[vol("meta")]).await;
    assert_eq!(plaintext(b.fetch(system_id, &vol("meta")).await).0, 2);
    drop(system);

    // Export the whole key state (the app's own encoding: key name → base64 value) under a
    // passphrase, with the production Argon2id parameters.
    let mut state = BTreeMap::new();
    for key in old_phone.list("").unwrap() {
        let value = old_phone.load(&key).unwrap().unwrap();
        state.insert(key, b64::encode(&value));
    }
    assert!(state.contains_key("identity") && state.contains_key("account"));
    let state = serde_json::to_vec(&state).unwrap();
    let passphrase = "correct horse battery staple";
    let file = export_backup(&state, passphrase, &BackupParams::default()).unwrap();
    let secret = identity_secret_of(&old_phone).to_bytes();
    assert!(
        !file
            .windows(32)
            .any(|w| w == &secret[1..33] || w == &secret[33..]),
        "the identity secret is not in the file in clear"
    );

    // Wrong passphrase and corrupted file are told apart.
    assert_eq!(
        import_backup(&file, "correct horse battery stapler").err(),
        Some(BackupError::WrongPassphrase)
    );
    let mut flipped = file.clone();
    flipped[file.len() / 2] ^= 0x01;
    assert_eq!(
        import_backup(&flipped, passphrase).err(),
        Some(BackupError::Corrupted)
    );
    let mut checksum = file.clone();
    *checksum.last_mut().unwrap() ^= 0x80;
    assert_eq!(
        import_backup(&checksum, passphrase).err(),
        Some(BackupError::Corrupted)
    );
    assert_eq!(
        import_backup(&file[..file.len() - 1], passphrase).err(),
        Some(BackupError::Corrupted)
    );

    // The new phone imports it and carries on: same account, next version, same keys (the
    // friend reads the new version with the grant it already has).
    let restored = import_backup(&file, passphrase).unwrap();
    let restored: BTreeMap<String, String> = serde_json::from_slice(&restored).unwrap();
    let new_phone = file_store(dir.path(), "new-phone");
    for (key, value) in &restored {
        new_phone
            .store(key, &b64::decode_strict(value).unwrap())
            .unwrap();
    }
    let system = SystemClient::open(config.clone(), Arc::clone(&new_phone))
        .await
        .unwrap();
    assert_eq!(system.user_id(), system_id);
    let published = system.publish(&vol("meta"), &doc("meta 3")).await.unwrap();
    assert_eq!((published.epoch, published.version), (1, 3));
    assert_eq!(
        plaintext(b.fetch(system_id, &vol("meta")).await),
        (3, 1, doc("meta 3"))
    );

    // Only the identity from the backup (a second device): the account is the same and
    // version numbering continues from the relay; without the old volume keys it starts a
    // new key epoch.
    let secret = coffer_client_core::identity::IdentitySecret::from_bytes(
        &b64::decode_strict(&restored["identity"]).unwrap(),
    )
    .unwrap();
    let device = SystemClient::restore(config, memory_store(), &secret, system_id)
        .await
        .unwrap();
    let published = device.publish(&vol("meta"), &doc("meta 4")).await.unwrap();
    assert_eq!((published.epoch, published.version), (2, 4));
}
