//! The System and Friend clients against the real `coffer-relay` binary over real TLS on
//! 127.0.0.1: registration and version numbering across restarts and devices, pairing, grants,
//! fetches, revocation and narrowing with key rotation, an interrupted rotation, and a relay
//! that substitutes a friend's keys. (The full malicious-relay matrix lives in the `tests`
//! crate.)

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use coffer_client_core::client::{
    ClientConfig, ClientError, Fetched, FriendClient, RelayApi, SystemClient, relay_for,
};
use coffer_client_core::identity::{Identity, IdentitySecret};
use coffer_client_core::storage::{FileKeyStore, KeyStore};
use coffer_client_core::transport::{
    Challenge, ChallengeRequest, Fetched as Served, GrantEnvelope, Handle, Invite,
    NetworkErrorKind, Pairing, PairingId, ReceiptEnvelope, RedeemRequest, Redeemed,
    RegisterRequest, Registered, RelayHttp, RelayOrigin, Session, SessionId, SessionInfo,
    SharedVolume, SignedVolume, TokenRequest, TransportError, UserId, UserRecord, VolumeEntry,
};
use coffer_client_core::v2::InviteLink;
use coffer_wire::b64::{PublicKey32, Signature64};
use coffer_wire::v2::VolumeName;
use coffer_wire::v2::api::{
    DeviceLink, DeviceLinkStatus, DevicePackage, InviteCode, OwnerStateEnvelope,
};
use uuid::Uuid;

use crate::common::clients::{Relay, memory, name, paired_friend, read};

// ---------------------------------------------------------------------------------------------
// A relay decorator: fails or tampers on request, forwards everything else.

#[derive(Default)]
struct Faults {
    /// Let this many uploads through, then fail the next one (once).
    fail_put_after: Mutex<Option<usize>>,
    /// When failing: forward the upload first and lose only the answer (a kill after the relay
    /// stored it).
    lose_answer: AtomicBool,
    puts: AtomicUsize,
    /// Serve these keys (with their own valid binding) as every pairing's peer.
    substitute_peer: Mutex<Option<(PublicKey32, PublicKey32, Signature64)>>,
}

struct Tampering {
    inner: RelayHttp,
    faults: Arc<Faults>,
}

impl Tampering {
    fn new(config: &ClientConfig, store: &Arc<dyn KeyStore>) -> (Tampering, Arc<Faults>) {
        let faults = Arc::new(Faults::default());
        let inner = relay_for(config, store).expect("relay for the stored account");
        (
            Tampering {
                inner,
                faults: Arc::clone(&faults),
            },
            faults,
        )
    }
}

impl RelayApi for Tampering {
    fn origin(&self) -> &RelayOrigin {
        self.inner.origin()
    }
    fn login(&self) -> impl Future<Output = Result<(), TransportError>> + Send {
        self.inner.login()
    }
    fn register(
        &self,
        request: &RegisterRequest,
    ) -> impl Future<Output = Result<Registered, TransportError>> + Send {
        self.inner.register(request)
    }
    fn challenge(
        &self,
        request: &ChallengeRequest,
    ) -> impl Future<Output = Result<Challenge, TransportError>> + Send {
        self.inner.challenge(request)
    }
    fn token(
        &self,
        request: &TokenRequest,
    ) -> impl Future<Output = Result<Session, TransportError>> + Send {
        self.inner.token(request)
    }
    fn user_by_handle(
        &self,
        handle: &Handle,
    ) -> impl Future<Output = Result<UserRecord, TransportError>> + Send {
        self.inner.user_by_handle(handle)
    }
    fn user_by_id(
        &self,
        user_id: UserId,
    ) -> impl Future<Output = Result<UserRecord, TransportError>> + Send {
        self.inner.user_by_id(user_id)
    }
    async fn put_volume(
        &self,
        name: &VolumeName,
        volume: &SignedVolume,
    ) -> Result<(), TransportError> {
        let n = self.faults.puts.fetch_add(1, Ordering::SeqCst);
        let fail = {
            let mut after = self.faults.fail_put_after.lock().expect("lock");
            let fail = *after == Some(n);
            if fail {
                *after = None;
            }
            fail
        };
        if !fail {
            return self.inner.put_volume(name, volume).await;
        }
        if self.faults.lose_answer.load(Ordering::SeqCst) {
            self.inner.put_volume(name, volume).await?;
        }
        Err(TransportError::Network {
            kind: NetworkErrorKind::Interrupted,
            detail: "injected fault".to_owned(),
        })
    }
    fn list_volumes(
        &self,
    ) -> impl Future<Output = Result<Vec<VolumeEntry>, TransportError>> + Send {
        self.inner.list_volumes()
    }
    fn get_volume(
        &self,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> impl Future<Output = Result<Served<SignedVolume>, TransportError>> + Send {
        self.inner.get_volume(name, if_newer_than)
    }
    fn create_invite(&self) -> impl Future<Output = Result<Invite, TransportError>> + Send {
        self.inner.create_invite()
    }
    fn redeem_invite(
        &self,
        request: &RedeemRequest,
    ) -> impl Future<Output = Result<Redeemed, TransportError>> + Send {
        self.inner.redeem_invite(request)
    }
    async fn list_pairings(&self) -> Result<Vec<Pairing>, TransportError> {
        let mut pairings = self.inner.list_pairings().await?;
        if let Some((pk, xpk, binding)) = *self.faults.substitute_peer.lock().expect("lock") {
            for p in &mut pairings {
                p.peer.public_signing_key = pk;
                p.peer.public_exchange_key = xpk;
                p.peer.key_binding_signature = binding;
            }
        }
        Ok(pairings)
    }
    fn delete_pairing(
        &self,
        pairing_id: PairingId,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        self.inner.delete_pairing(pairing_id)
    }
    fn put_grant(
        &self,
        friend: UserId,
        grant: &GrantEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        self.inner.put_grant(friend, grant)
    }
    fn shared_grant(
        &self,
        owner: UserId,
    ) -> impl Future<Output = Result<GrantEnvelope, TransportError>> + Send {
        self.inner.shared_grant(owner)
    }
    fn shared_volumes(
        &self,
        owner: UserId,
    ) -> impl Future<Output = Result<Vec<VolumeEntry>, TransportError>> + Send {
        self.inner.shared_volumes(owner)
    }
    fn shared_volume(
        &self,
        owner: UserId,
        name: &VolumeName,
        if_newer_than: Option<u64>,
    ) -> impl Future<Output = Result<Served<SharedVolume>, TransportError>> + Send {
        self.inner.shared_volume(owner, name, if_newer_than)
    }
    fn delete_account(&self) -> impl Future<Output = Result<(), TransportError>> + Send {
        self.inner.delete_account()
    }
    fn own_grants(
        &self,
    ) -> impl Future<Output = Result<Vec<coffer_client_core::transport::OwnGrant>, TransportError>> + Send
    {
        self.inner.own_grants()
    }
    fn request_replica_pairing(
        &self,
        system: UserId,
    ) -> impl Future<Output = Result<coffer_client_core::transport::Redeemed, TransportError>> + Send
    {
        self.inner.request_replica_pairing(system)
    }

    fn post_receipt(
        &self,
        owner: UserId,
        receipt: &ReceiptEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        self.inner.post_receipt(owner, receipt)
    }
    fn delete_volume(
        &self,
        name: &VolumeName,
        tombstone: &coffer_wire::v2::api::SignedTombstone,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        self.inner.delete_volume(name, tombstone)
    }
    fn list_receipts(
        &self,
        since: Option<u64>,
    ) -> impl Future<Output = Result<Vec<ReceiptEnvelope>, TransportError>> + Send {
        self.inner.list_receipts(since)
    }

    fn get_owner_state(
        &self,
    ) -> impl Future<Output = Result<Option<OwnerStateEnvelope>, TransportError>> + Send {
        self.inner.get_owner_state()
    }
    fn put_owner_state(
        &self,
        state: &OwnerStateEnvelope,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        self.inner.put_owner_state(state)
    }
    fn create_device_link(
        &self,
    ) -> impl Future<Output = Result<DeviceLink, TransportError>> + Send {
        self.inner.create_device_link()
    }
    fn device_link(
        &self,
        code: &InviteCode,
    ) -> impl Future<Output = Result<DeviceLinkStatus, TransportError>> + Send {
        self.inner.device_link(code)
    }
    fn put_device_package(
        &self,
        code: &InviteCode,
        package: &DevicePackage,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        self.inner.put_device_package(code, package)
    }

    fn list_sessions(
        &self,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, TransportError>> + Send {
        self.inner.list_sessions()
    }
    fn revoke_session(
        &self,
        session_id: SessionId,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        self.inner.revoke_session(session_id)
    }
    fn revoke_other_sessions(&self) -> impl Future<Output = Result<u64, TransportError>> + Send {
        self.inner.revoke_other_sessions()
    }
    fn end_session(&self) -> impl Future<Output = Result<(), TransportError>> + Send {
        self.inner.end_session()
    }
}

fn assert_no_plaintext(dir: &Path, needle: &[u8]) {
    for entry in std::fs::read_dir(dir).expect("read store dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read key file");
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "plaintext found in {}",
            path.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn versions_survive_restarts_and_reach_a_second_device() {
    let relay = Relay::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn KeyStore> = Arc::new(FileKeyStore::open(dir.path()).expect("store"));
    let meta = name("meta");
    let system = SystemClient::register(relay.config(), Arc::clone(&store), Some("sys-a".into()))
        .await
        .expect("register");
    let user_id = system.user_id();
    for v in 1..=2u64 {
        let published = system
            .publish(&meta, format!("PLAINTEXT-MARKER-{v}").as_bytes())
            .await
            .expect("publish");
        assert_eq!((published.epoch, published.version), (1, v));
    }
    drop(system);

    // App restart: same store, numbering continues.
    let system = SystemClient::open(relay.config(), Arc::clone(&store))
        .await
        .expect("open");
    assert_eq!(system.user_id(), user_id);
    let published = system
        .publish(&meta, b"PLAINTEXT-MARKER-3")
        .await
        .expect("publish");
    assert_eq!((published.epoch, published.version), (1, 3));
    assert_no_plaintext(dir.path(), b"PLAINTEXT-MARKER");
    let friend = paired_friend(&relay, &system, std::slice::from_ref(&meta)).await;
    assert_eq!(
        read(&friend, user_id, &meta).await,
        (3, 1, b"PLAINTEXT-MARKER-3".to_vec())
    );
    drop(system);

    // A second device with only the identity and the user id: versions come from the relay;
    // it has no key for epoch 1, so it starts epoch 2.
    let secret =
        IdentitySecret::from_bytes(&store.load("identity").expect("load").expect("identity"))
            .expect("identity secret");
    let second = SystemClient::restore(relay.config(), memory(), &secret, user_id)
        .await
        .expect("restore");
    let published = second
        .publish(&meta, b"from the second device")
        .await
        .expect("publish");
    assert_eq!((published.epoch, published.version), (2, 4));
    drop(second);
    // The friend's grant names epoch 1: the relay no longer serves it the volume.
    assert!(matches!(
        friend.fetch(user_id, &meta).await,
        Err(ClientError::Forbidden { .. })
    ));

    // The first device learns version 4 (and epoch 2) from the relay when it opens.
    let system = SystemClient::open(relay.config(), Arc::clone(&store))
        .await
        .expect("open");
    let published = system
        .publish(&meta, b"back on the first")
        .await
        .expect("publish");
    assert_eq!((published.epoch, published.version), (3, 5));
    // This device made epoch 3 and knows the friend: the friend was granted it.
    assert_eq!(
        read(&friend, user_id, &meta).await,
        (5, 3, b"back on the first".to_vec())
    );

    // Restoring with an identity that is not the account's fails and leaves the store empty.
    let wrong = Identity::generate().danger_export_secret();
    let empty = memory();
    let restored = SystemClient::restore(relay.config(), Arc::clone(&empty), &wrong, user_id).await;
    assert!(
        matches!(
            restored,
            Err(ClientError::Unauthorized | ClientError::Forbidden { .. })
        ),
        "{restored:?}"
    );
    assert!(empty.list("").expect("list").is_empty());

    // A store holds one account.
    assert!(matches!(
        SystemClient::register(relay.config(), Arc::clone(&store), None).await,
        Err(ClientError::InvalidInput(_))
    ));
    assert!(matches!(
        FriendClient::open(relay.config(), Arc::clone(&store)).await,
        Err(ClientError::InvalidInput(_))
    ));
}

#[tokio::test]
async fn invite_redeem_approve_and_read() {
    let relay = Relay::start().await;
    let (meta, fronts, journal) = (name("meta"), name("fronts"), name("journal"));
    let system = SystemClient::register(relay.config(), memory(), None)
        .await
        .expect("register");
    system.publish(&meta, b"meta v1").await.expect("publish");
    system
        .publish(&fronts, b"fronts v1")
        .await
        .expect("publish");
    let friend_dir = tempfile::tempdir().expect("temp dir");
    let friend_store: Arc<dyn KeyStore> =
        Arc::new(FileKeyStore::open(friend_dir.path()).expect("store"));
    let friend = FriendClient::register(
        relay.config(),
        Arc::clone(&friend_store),
        Some("fr-b".into()),
    )
    .await
    .expect("friend registers");

    // A link whose fingerprint is not the system's: the friend refuses the keys it is served.
    let link = system.create_invite().await.expect("invite");
    let other = Identity::generate().fingerprint().compact();
    let forged = link
        .to_uri()
        .replace(&system.fingerprint().compact(), &other);
    let forged = InviteLink::parse(&forged).expect("still a well-formed link");
    assert!(matches!(
        friend.redeem(&forged).await,
        Err(ClientError::KeyChanged)
    ));
    assert!(system.pending_requests().await.expect("pending").is_empty());

    // The real link.
    let link = system.create_invite().await.expect("invite");
    let link = InviteLink::parse(&link.to_uri()).expect("link parses");
    let paired = friend.redeem(&link).await.expect("redeem");
    assert_eq!(paired.system_id, system.user_id());
    assert_eq!(paired.fingerprint, system.fingerprint());
    assert!(
        friend
            .grant(system.user_id())
            .await
            .expect("grant")
            .is_none()
    );

    let pending = system.pending_requests().await.expect("pending");
    assert_eq!(pending.len(), 1);
    let request = &pending[0];
    assert!(request.proof_valid);
    assert_eq!(request.friend_id, friend.user_id());
    assert_eq!(request.fingerprint, friend.fingerprint());
    assert_eq!(request.handle.as_deref(), Some("fr-b"));
    assert_eq!(request.safety_number, friend.fingerprint().safety_number());

    // journal is not published yet: it is granted at epoch 1 anyway.
    system
        .approve(friend.user_id(), &[meta.clone(), journal.clone()], None)
        .await
        .expect("approve");
    assert!(system.pending_requests().await.expect("pending").is_empty());
    let grant = friend
        .grant(system.user_id())
        .await
        .expect("grant")
        .expect("approved");
    assert_eq!(grant.volumes, vec![(journal.clone(), 1), (meta.clone(), 1)]);
    assert_eq!((grant.sequence, grant.expires_at), (1, None));

    let listed = friend.list(system.user_id()).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].volume.clone(), listed[0].epoch, listed[0].version),
        (meta.clone(), 1, 1)
    );

    assert_eq!(
        read(&friend, system.user_id(), &meta).await,
        (1, 1, b"meta v1".to_vec())
    );
    assert!(matches!(
        friend.fetch(system.user_id(), &meta).await,
        Ok(Fetched::NotModified)
    ));
    system.publish(&meta, b"meta v2").await.expect("publish");
    assert_eq!(
        read(&friend, system.user_id(), &meta).await,
        (2, 1, b"meta v2".to_vec())
    );
    assert!(matches!(
        friend.fetch(system.user_id(), &meta).await,
        Ok(Fetched::NotModified)
    ));

    // Not granted: the relay refuses.
    assert!(matches!(
        friend.fetch(system.user_id(), &fronts).await,
        Err(ClientError::Forbidden { .. })
    ));
    // Granted before it existed: readable once published, with the epoch-1 key from the grant.
    system
        .publish(&journal, b"journal v1")
        .await
        .expect("publish");
    assert_eq!(
        read(&friend, system.user_id(), &journal).await,
        (1, 1, b"journal v1".to_vec())
    );

    // A restarted friend app refetches (nothing is cached on disk) and keeps its marks.
    drop(friend);
    let friend = FriendClient::open(relay.config(), Arc::clone(&friend_store))
        .await
        .expect("open");
    assert_eq!(
        read(&friend, system.user_id(), &meta).await,
        (2, 1, b"meta v2".to_vec())
    );
    assert_no_plaintext(friend_dir.path(), b"meta v");
    assert_no_plaintext(friend_dir.path(), b"journal v");
}

#[tokio::test]
async fn revoke_rotates_and_regrants_the_others() {
    let relay = Relay::start().await;
    let (meta, fronts, chat) = (name("meta"), name("fronts"), name("chat"));
    let system = SystemClient::register(relay.config(), memory(), None)
        .await
        .expect("register");
    system.publish(&meta, b"meta v1").await.expect("publish");
    system
        .publish(&fronts, b"fronts v1")
        .await
        .expect("publish");
    system.publish(&chat, b"chat v1").await.expect("publish");
    let revoked = paired_friend(&relay, &system, &[meta.clone(), fronts.clone()]).await;
    let stays = paired_friend(&relay, &system, &[meta.clone(), chat.clone()]).await;
    let sys = system.user_id();
    assert_eq!(read(&revoked, sys, &meta).await.0, 1);
    assert_eq!(read(&stays, sys, &meta).await.0, 1);

    let report = system.revoke(revoked.user_id()).await.expect("revoke");
    assert_eq!(report.rotated, vec![(fronts.clone(), 2), (meta.clone(), 2)]);
    assert_eq!(report.friends_regranted, vec![stays.user_id()]);

    // The remaining friend reads the re-encrypted latest version under the new epoch.
    assert_eq!(read(&stays, sys, &meta).await, (2, 2, b"meta v1".to_vec()));
    let grant = stays
        .grant(sys)
        .await
        .expect("grant")
        .expect("still granted");
    assert_eq!(grant.volumes, vec![(chat.clone(), 1), (meta.clone(), 2)]);
    assert_eq!(grant.sequence, 2);
    assert_eq!(read(&stays, sys, &chat).await, (1, 1, b"chat v1".to_vec()));

    // The revoked friend gets nothing any more.
    assert!(matches!(
        revoked.fetch(sys, &meta).await,
        Err(ClientError::Forbidden { .. })
    ));
    assert!(revoked.grant(sys).await.expect("grant").is_none());
    assert!(matches!(
        system.revoke(revoked.user_id()).await,
        Err(ClientError::NotPaired)
    ));

    // New versions go out under the new epoch; the old keys are gone from the store.
    let published = system.publish(&meta, b"meta v3").await.expect("publish");
    assert_eq!((published.epoch, published.version), (2, 3));
    assert_eq!(read(&stays, sys, &meta).await, (3, 2, b"meta v3".to_vec()));
    assert!(system.resume_rotation().await.expect("resume").is_none());
}

#[tokio::test]
async fn narrowing_rotates_what_was_taken_away() {
    let relay = Relay::start().await;
    let (meta, fronts) = (name("meta"), name("fronts"));
    let store = memory();
    let system = SystemClient::register(relay.config(), Arc::clone(&store), None)
        .await
        .expect("register");
    system.publish(&meta, b"meta v1").await.expect("publish");
    system
        .publish(&fronts, b"fronts v1")
        .await
        .expect("publish");
    let narrowed = paired_friend(&relay, &system, &[meta.clone(), fronts.clone()]).await;
    let other = paired_friend(&relay, &system, std::slice::from_ref(&fronts)).await;
    let sys = system.user_id();
    assert_eq!(read(&narrowed, sys, &fronts).await.1, 1);

    let report = system
        .set_grant(narrowed.user_id(), std::slice::from_ref(&meta), None)
        .await
        .expect("narrow");
    assert_eq!(report.rotated, vec![(fronts.clone(), 2)]);
    assert_eq!(
        report.friends_regranted,
        vec![narrowed.user_id(), other.user_id()]
    );
    assert_eq!(
        store.list("vek/fronts/").expect("list"),
        vec!["vek/fronts/2"]
    );

    let grant = narrowed.grant(sys).await.expect("grant").expect("granted");
    assert_eq!(
        (grant.volumes, grant.sequence),
        (vec![(meta.clone(), 1)], 2)
    );
    assert!(matches!(
        narrowed.fetch(sys, &fronts).await,
        Err(ClientError::Forbidden { .. })
    ));
    assert_eq!(
        read(&narrowed, sys, &meta).await,
        (1, 1, b"meta v1".to_vec())
    );
    assert_eq!(
        read(&other, sys, &fronts).await,
        (2, 2, b"fronts v1".to_vec())
    );

    // Widening needs no rotation.
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600;
    let report = system
        .set_grant(
            narrowed.user_id(),
            &[meta.clone(), fronts.clone()],
            Some(expires),
        )
        .await
        .expect("widen");
    assert!(report.rotated.is_empty());
    let grant = narrowed.grant(sys).await.expect("grant").expect("granted");
    assert_eq!(grant.volumes, vec![(fronts.clone(), 2), (meta.clone(), 1)]);
    assert_eq!(grant.expires_at, Some(expires));
    assert_eq!(
        read(&narrowed, sys, &fronts).await,
        (2, 2, b"fronts v1".to_vec())
    );

    // Not paired at all.
    assert!(matches!(
        system
            .set_grant(Uuid::new_v4(), std::slice::from_ref(&meta), None)
            .await,
        Err(ClientError::NotPaired)
    ));
}

/// A rotation whose second upload fails is finished by `resume_rotation` (the upload never
/// reached the relay) or by `open` (it did, only the answer was lost).
#[tokio::test]
async fn interrupted_rotation_resumes() {
    for lose_answer in [false, true] {
        let relay = Relay::start().await;
        let volumes = [name("chat"), name("fronts"), name("meta")];
        let store = memory();
        let system = SystemClient::register(relay.config(), Arc::clone(&store), None)
            .await
            .expect("register");
        for v in &volumes {
            system
                .publish(v, v.as_str().as_bytes())
                .await
                .expect("publish");
        }
        let revoked = paired_friend(&relay, &system, &volumes).await;
        let stays = paired_friend(&relay, &system, &volumes).await;
        let sys = system.user_id();
        drop(system);

        // The same account behind a relay connection whose second upload fails.
        let (tampering, faults) = Tampering::new(&relay.config(), &store);
        let system = SystemClient::with_relay(tampering, Arc::clone(&store)).expect("with_relay");
        *faults.fail_put_after.lock().expect("lock") = Some(1);
        faults.lose_answer.store(lose_answer, Ordering::SeqCst);
        assert!(matches!(
            system.revoke(revoked.user_id()).await,
            Err(ClientError::Network { .. })
        ));
        assert!(store.load("rotation").expect("load").is_some(), "plan kept");
        drop(system); // the app is killed

        let report = if lose_answer {
            // open() finishes the rotation by itself.
            let system = SystemClient::open(relay.config(), Arc::clone(&store))
                .await
                .expect("open");
            assert!(system.resume_rotation().await.expect("resume").is_none());
            None
        } else {
            let system = SystemClient::with_relay(
                relay_for(&relay.config(), &store).expect("relay"),
                Arc::clone(&store),
            )
            .expect("with_relay");
            let report = system.resume_rotation().await.expect("resume");
            assert!(system.resume_rotation().await.expect("resume").is_none());
            report
        };
        if let Some(report) = report {
            let rotated: Vec<_> = volumes.iter().map(|v| (v.clone(), 2)).collect();
            assert_eq!(report.rotated, rotated);
            assert_eq!(report.friends_regranted, vec![stays.user_id()]);
        }
        assert!(
            store.load("rotation").expect("load").is_none(),
            "plan cleared"
        );
        // Every volume exactly once re-encrypted: version 2 at epoch 2.
        for v in &volumes {
            assert_eq!(
                read(&stays, sys, v).await,
                (2, 2, v.as_str().as_bytes().to_vec()),
                "{v} (answer lost: {lose_answer})"
            );
        }
        assert!(matches!(
            revoked.fetch(sys, &volumes[0]).await,
            Err(ClientError::Forbidden { .. })
        ));
    }
}

/// A relay that presents other keys for the friend than the ones the friend proved: the proof
/// does not match, and approval is refused.
#[tokio::test]
async fn substituted_friend_keys_are_refused() {
    let relay = Relay::start().await;
    let store = memory();
    let system = SystemClient::register(relay.config(), Arc::clone(&store), None)
        .await
        .expect("register");
    let friend = FriendClient::register(relay.config(), memory(), None)
        .await
        .expect("friend");
    friend
        .redeem(&system.create_invite().await.expect("invite"))
        .await
        .expect("redeem");

    let (tampering, faults) = Tampering::new(&relay.config(), &store);
    let hostile = SystemClient::with_relay(tampering, Arc::clone(&store)).expect("with_relay");
    let mallory = Identity::generate();
    *faults.substitute_peer.lock().expect("lock") = Some((
        PublicKey32::from_bytes(mallory.public_signing_key()),
        PublicKey32::from_bytes(mallory.public_exchange_key()),
        Signature64::from_bytes(mallory.key_binding_signature()),
    ));
    let pending = hostile.pending_requests().await.expect("pending");
    assert_eq!(pending.len(), 1);
    assert!(!pending[0].proof_valid);
    assert_eq!(pending[0].fingerprint, mallory.fingerprint());
    assert!(matches!(
        hostile
            .approve(friend.user_id(), &[name("meta")], None)
            .await,
        Err(ClientError::PairingProofInvalid)
    ));
    assert!(
        store
            .load(&format!("pin/{}", friend.user_id()))
            .expect("load")
            .is_none()
    );
    drop(hostile);

    // Through an honest relay the same request checks out.
    let pending = system.pending_requests().await.expect("pending");
    assert!(pending[0].proof_valid);
    system
        .approve(friend.user_id(), &[name("meta")], None)
        .await
        .expect("approve");
}

#[tokio::test]
async fn delete_account_removes_everything() {
    let relay = Relay::start().await;
    let store = memory();
    let system = SystemClient::register(relay.config(), Arc::clone(&store), None)
        .await
        .expect("register");
    system
        .publish(&name("meta"), b"meta")
        .await
        .expect("publish");
    let friend = paired_friend(&relay, &system, &[name("meta")]).await;
    let sys = system.user_id();
    system.delete_account().await.expect("delete");
    assert_eq!(store.list("").expect("list"), Vec::<String>::new());
    assert!(matches!(
        SystemClient::open(relay.config(), Arc::clone(&store)).await,
        Err(ClientError::InvalidInput(_))
    ));
    assert!(matches!(
        friend.fetch(sys, &name("meta")).await,
        Err(ClientError::Forbidden { .. } | ClientError::NotFound)
    ));
    friend.delete_account().await.expect("friend deletes");
}

/// Apps share clients between tasks and spawn their futures on multi-threaded runtimes.
#[test]
fn client_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    fn check(system: &SystemClient, friend: &FriendClient, link: &InviteLink) {
        let v = name("meta");
        send(&system.publish(&v, b""));
        send(&system.approve(Uuid::nil(), &[], None));
        send(&system.revoke(Uuid::nil()));
        send(&system.set_grant(Uuid::nil(), &[], None));
        send(&system.resume_rotation());
        send(&system.pending_requests());
        send(&system.create_invite());
        send(&friend.redeem(link));
        send(&friend.fetch(Uuid::nil(), &v));
        send(&friend.list(Uuid::nil()));
        send(&friend.grant(Uuid::nil()));
    }
    let _ = check;
    fn shared<T: Send + Sync>() {}
    shared::<SystemClient>();
    shared::<FriendClient>();
}
