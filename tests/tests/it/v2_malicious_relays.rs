//! Malicious relays among several (issue 16): three real relays on loopback, a System
//! replicating to A and B, and a friend whose connection to A is a [`MaliciousRelay`] (through
//! a `Connector` that wraps the relay it names; B and C stay honest). Relay A serves an old
//! relay list, a truncated or bit-flipped one, a list signed by an attacker, or an older volume
//! than relay B already served: each is refused with its precise error, recorded in
//! `FetchedFrom::refused`, the honest relay's data is returned instead, and with only the
//! malicious relay left the fetch fails (never returning the old plaintext). Each test asserts
//! that its attack fired.
//!
//! Every test name contains `malicious`: `cargo test -p coffer-tests malicious` runs them with
//! the single-relay suites.

use std::sync::Arc;

use coffer_client_core::client::{
    ClientError, Fetched, FetchedFrom, RelayRefusal, Replicated, SystemClient,
};
use coffer_client_core::identity::Identity;
use coffer_client_core::transport::{RelayHttp, SharedVolume};
use coffer_client_core::v2::{
    HeaderFields, RELAY_LIST_VOLUME, RelayEntry, RelayList, VolumeKey, seal, verify_header,
};
use coffer_tests::malicious::{Attack, MaliciousRelay, Part};
use coffer_tests::relay::RelayProcess;
use coffer_tests::replicas::{
    EvilReplicatedFriend, entry, evil_replicated_friend, friend_on,
    restarted_evil_friend_on_all_relays, stored_version, system_on, three_relays,
};
use coffer_tests::v2::{memory_store, pair, uid, vol};
use coffer_wire::b64::Signature64;
use coffer_wire::v2::{Header, Label, VolumeName, labelled};
use ed25519_dalek::Signer as _;
use uuid::Uuid;

/// Text no plaintext in this suite contains by accident; every published volume contains it.
const MARK: &str = "PLAINTEXT-MARK";

fn secret_doc(what: &str) -> Vec<u8> {
    format!("{{\"{MARK}\":\"{what}\"}}").into_bytes()
}

/// Asserts that `result` is the error `pattern`, and that the error does not quote plaintext.
macro_rules! assert_refused {
    ($result:expr, $pattern:pat) => {{
        match $result {
            Err(e @ $pattern) => {
                let shown = format!("{e} {e:?}");
                assert!(!shown.contains(MARK), "the error quotes plaintext: {shown}");
                e
            }
            Err(other) => panic!("expected {}, got {other:?}", stringify!($pattern)),
            Ok(accepted) => panic!(
                "expected {}, but the client accepted the relay's answer: {accepted:?}",
                stringify!($pattern)
            ),
        }
    }};
}

/// The relay list volume.
fn list_volume() -> VolumeName {
    vol(RELAY_LIST_VOLUME)
}

/// Three relays; a System on A replicating to A and B with `meta` (version 1); a friend on A
/// (registered on B through `follow`, its grant copied there by `repair`) whose connection to
/// A is `evil`. The friend has read list version `list_version` and `meta` 1, both from A.
struct Scene {
    a: RelayProcess,
    b: RelayProcess,
    _c: RelayProcess,
    ea: RelayEntry,
    eb: RelayEntry,
    ec: RelayEntry,
    system: SystemClient<Replicated<RelayHttp>>,
    system_store: Arc<dyn coffer_client_core::storage::KeyStore>,
    friend: EvilReplicatedFriend,
    friend_store: Arc<dyn coffer_client_core::storage::KeyStore>,
    evil: MaliciousRelay<RelayHttp>,
    list_version: u64,
}

async fn scene() -> Scene {
    let (a, b, c) = three_relays().await;
    let (ea, eb, ec) = (entry(&a), entry(&b), entry(&c));
    let system_store = memory_store();
    let system = system_on(&a, Arc::clone(&system_store)).await;
    let list_version = system
        .set_relays(vec![ea.clone(), eb.clone()])
        .await
        .unwrap()
        .value
        .version;
    system
        .publish_replicated(&vol("meta"), &secret_doc("meta 1"))
        .await
        .unwrap();

    let friend_store = memory_store();
    drop(friend_on(&a, Arc::clone(&friend_store)).await);
    let (friend, evil) = evil_replicated_friend(&ea, &friend_store, None);
    pair(&system, &friend, &[vol("meta")]).await;
    let sid = system.user_id();
    let follow = friend.follow(sid, true).await.unwrap();
    assert_eq!(follow.version, Some(list_version));
    assert_eq!(follow.relays, vec![ea.clone(), eb.clone()]);
    let report = system.repair().await.unwrap();
    assert!(
        report
            .relays
            .iter()
            .any(|r| r.relay == b.url() && r.grants_copied >= 1 && r.error.is_none()),
        "the grant reaches B: {report:?}"
    );
    let got = friend.fetch_replicated(sid, &vol("meta")).await.unwrap();
    assert_eq!(got.relay, a.url());
    assert_eq!(version_of(&got), Some(1));
    // What A served is what the attacks replay.
    assert!(
        evil.recorded_shared_versions(uid(sid), &list_volume())
            .contains(&list_version),
        "the friend read the list through A"
    );
    Scene {
        a,
        b,
        _c: c,
        ea,
        eb,
        ec,
        system,
        system_store,
        friend,
        friend_store,
        evil,
        list_version,
    }
}

impl Scene {
    fn sid(&self) -> Uuid {
        self.system.user_id()
    }

    /// The system publishes a newer list (A, B, C): returns its version. The friend has not
    /// read it yet.
    async fn newer_list(&self) -> u64 {
        let version = self
            .system
            .set_relays(vec![self.ea.clone(), self.eb.clone(), self.ec.clone()])
            .await
            .unwrap()
            .value
            .version;
        assert!(version > self.list_version);
        assert_eq!(
            stored_version(&self.eb, &self.system_store, &list_volume()).await,
            Some(version)
        );
        version
    }

    /// A fresh session of the friend over the same store and the same malicious A (an app
    /// restart: nothing returned yet, the rollback marks kept). Over a custom `Connector` the
    /// set starts as A alone (`Replicated::new`): the other listed relays are refused as "no
    /// account there", so A's answer is the fetch's answer.
    fn restarted_friend(&self) -> EvilReplicatedFriend {
        evil_replicated_friend(&self.ea, &self.friend_store, Some(&self.evil)).0
    }
}

fn version_of(got: &FetchedFrom) -> Option<u64> {
    match &got.fetched {
        Fetched::Updated { version, .. } => Some(*version),
        _ => None,
    }
}

/// The only refusal of a fetch: it is relay `relay`'s.
fn only_refusal<'f>(got: &'f FetchedFrom, relay: &str) -> &'f ClientError {
    let [
        RelayRefusal {
            relay: refused,
            error,
        },
    ] = got.refused.as_slice()
    else {
        panic!("expected exactly one refused relay, got {:?}", got.refused);
    };
    assert_eq!(refused, relay);
    error
}

/// The rollback fields of an error (panics on anything else).
fn rollback(e: &ClientError) -> (VolumeName, u64, u64) {
    match e {
        ClientError::Rollback {
            volume,
            seen_version,
            got_version,
            seen_epoch,
            got_epoch,
        } => {
            assert_eq!(seen_epoch, got_epoch, "one key epoch in these tests");
            (volume.clone(), *seen_version, *got_version)
        }
        other => panic!("expected a rollback, got {other:?}"),
    }
}

/// An `Updated` list fetch holds exactly `entries`; a `NotModified` one holds nothing new.
fn assert_list(got: &FetchedFrom, version: u64, entries: &[RelayEntry]) {
    if let Fetched::Updated {
        version: v,
        plaintext,
        ..
    } = &got.fetched
    {
        assert_eq!(*v, version);
        assert_eq!(RelayList::decode(plaintext).unwrap().entries(), entries);
    }
}

/// (a) Relay A replays the earlier signed list after the friend has read a newer one (from
/// A itself). `follow` does not go back to it (it either refuses with a rollback or takes the
/// newer list from B); a fetch of the list records A's rollback in `refused` and returns B's;
/// the friend's stored list stays the newer one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_serves_an_old_relay_list() {
    let s = scene().await;
    let newer = s.newer_list().await;
    let all = vec![s.ea.clone(), s.eb.clone(), s.ec.clone()];
    let follow = s.friend.follow(s.sid(), false).await.unwrap();
    assert_eq!(follow.version, Some(newer));
    assert_eq!(follow.relays, all);

    s.evil.set(Attack::ReplayVersion {
        volume: list_volume(),
        version: s.list_version,
    });
    // `follow` passes over A (the rollback) and keeps the newer list B still serves.
    let report = s.friend.follow(s.sid(), false).await.unwrap();
    assert_eq!(report.version, Some(newer));
    assert_eq!(report.relays, all);
    assert!(s.evil.fired() >= 1, "the old list was served");
    assert_eq!(s.friend.relays_of(s.sid()).unwrap(), all);

    // A fetch of the list: A's rollback is recorded, and an even newer list (the system
    // publishes its list again) comes from B.
    let newest = s
        .system
        .set_relays(all.clone())
        .await
        .unwrap()
        .value
        .version;
    assert!(newest > newer, "{newest} > {newer}");
    let got = s
        .friend
        .fetch_replicated(s.sid(), &list_volume())
        .await
        .unwrap();
    assert_eq!(got.relay, s.b.url());
    assert_eq!(
        rollback(only_refusal(&got, s.a.url())),
        (list_volume(), newer, s.list_version)
    );
    assert_eq!(version_of(&got), Some(newest));
    assert_list(&got, newest, &all);
    assert!(s.evil.fired() >= 2, "the old list was served again");

    // A restarted app (its rollback marks from the store) connected to A alone refuses the
    // old list as well: the rollback is its answer.
    let e = assert_refused!(
        s.restarted_friend()
            .fetch_replicated(s.sid(), &list_volume())
            .await,
        ClientError::Rollback { .. }
    );
    assert_eq!(rollback(&e), (list_volume(), newest, s.list_version));
}

/// (b) Relay A serves the list with one bit flipped, or cut short (payload truncated at
/// several lengths): detected (`Tampered`), recorded in `refused`, B's list kept; `follow`
/// passes over it; an app connected to A alone gets `Tampered`, never a list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_serves_a_truncated_relay_list() {
    let s = scene().await;
    let sid = s.sid();
    let newer = s.newer_list().await;
    let all = vec![s.ea.clone(), s.eb.clone(), s.ec.clone()];

    // The newer list bit-flipped on A: follow takes B's.
    s.evil.set(Attack::FlipBit {
        part: Part::Payload,
        bit: 100,
    });
    let report = s.friend.follow(sid, false).await.unwrap();
    assert_eq!(s.evil.fired(), 1, "the flipped list was served");
    assert_eq!(report.version, Some(newer));
    assert_eq!(report.relays, all);
    assert_eq!(s.friend.relays_of(sid).unwrap(), all);
    assert_refused!(
        s.restarted_friend()
            .fetch_replicated(sid, &list_volume())
            .await,
        ClientError::Tampered
    );
    assert_eq!(s.evil.fired(), 2);

    for len in [0, 1, 12, 28, 100] {
        s.evil.set(Attack::Truncate {
            volume: list_volume(),
            len,
        });
        let got = s
            .friend
            .fetch_replicated(sid, &list_volume())
            .await
            .unwrap();
        assert_eq!(s.evil.fired(), 1, "cut to {len}");
        assert_eq!(got.relay, s.b.url(), "cut to {len}");
        let error = only_refusal(&got, s.a.url());
        assert!(
            matches!(error, ClientError::Tampered),
            "cut to {len}: {error:?}"
        );
        // B has nothing newer than what this session already returned.
        assert!(
            matches!(got.fetched, Fetched::NotModified),
            "cut to {len}: {got:?}"
        );
        let report = s.friend.follow(sid, false).await.unwrap();
        assert_eq!(s.evil.fired(), 2, "cut to {len}");
        assert_eq!(report.version, Some(newer), "cut to {len}");
        assert_eq!(report.relays, all, "cut to {len}");
        assert_refused!(
            s.restarted_friend()
                .fetch_replicated(sid, &list_volume())
                .await,
            ClientError::Tampered
        );
        assert_eq!(s.evil.fired(), 3, "cut to {len}");
    }
    assert_eq!(s.friend.relays_of(sid).unwrap(), all);
}

/// (c) Relay A serves an older version of a volume than relay B already served. While A plays
/// dead the friend reads version 3 from B; then A replays version 1 (what A itself served
/// earlier): refused as a rollback against B's version, recorded, and version 4 comes from B.
/// With B down, A alone: the fetch fails with the rollback, never returning the old plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_serves_an_older_volume_than_another_relay() {
    let mut s = scene().await;
    let meta = vol("meta");
    assert_eq!(
        s.evil.recorded_shared_versions(uid(s.sid()), &meta),
        vec![1],
        "A served version 1"
    );

    s.evil.set(Attack::Unreachable);
    for v in [2, 3] {
        s.system
            .publish(&meta, &secret_doc(&format!("meta {v}")))
            .await
            .unwrap();
    }
    let got = s.friend.fetch_replicated(s.sid(), &meta).await.unwrap();
    assert!(s.evil.fired() >= 1);
    assert_eq!(got.relay, s.b.url());
    assert_eq!(version_of(&got), Some(3));
    assert!(
        matches!(only_refusal(&got, s.a.url()), ClientError::Network { .. }),
        "{:?}",
        got.refused
    );

    s.system
        .publish(&meta, &secret_doc("meta 4"))
        .await
        .unwrap();
    s.evil.set(Attack::ReplayVersion {
        volume: meta.clone(),
        version: 1,
    });
    let got = s.friend.fetch_replicated(s.sid(), &meta).await.unwrap();
    assert!(s.evil.fired() >= 1, "the old version was served");
    assert_eq!(got.relay, s.b.url());
    assert_eq!(
        rollback(only_refusal(&got, s.a.url())),
        (meta.clone(), 3, 1)
    );
    match &got.fetched {
        Fetched::Updated {
            version, plaintext, ..
        } => {
            assert_eq!(*version, 4);
            assert_eq!(&plaintext[..], secret_doc("meta 4").as_slice());
        }
        other => panic!("expected version 4, got {other:?}"),
    }
    // A restarted app reconnects to every relay it joined (`Replicated::for_store`): it too
    // passes over A's replay and reads version 4 from B.
    let restarted = restarted_evil_friend_on_all_relays(&s.ea, &s.friend_store, &s.evil);
    assert_eq!(restarted.own_relays().len(), 2, "A and B from the store");
    let got = restarted.fetch_replicated(s.sid(), &meta).await.unwrap();
    assert_eq!(got.relay, s.b.url());
    assert_eq!(version_of(&got), Some(4));
    assert_eq!(
        rollback(only_refusal(&got, s.a.url())),
        (meta.clone(), 4, 1)
    );

    // Only the malicious relay left: the rollback is the answer (not the network error of B,
    // and never version 1's plaintext), for this session and a restarted one.
    s.b.kill().await;
    let e = assert_refused!(
        s.friend.fetch_replicated(s.sid(), &meta).await,
        ClientError::Rollback { .. }
    );
    assert_eq!(rollback(&e), (meta.clone(), 4, 1));
    let e = assert_refused!(
        s.restarted_friend().fetch_replicated(s.sid(), &meta).await,
        ClientError::Rollback { .. }
    );
    assert_eq!(rollback(&e), (meta.clone(), 4, 1));

    // Honest again, A serves the current version.
    s.evil.clear();
    let got = s
        .restarted_friend()
        .fetch_replicated(s.sid(), &meta)
        .await
        .unwrap();
    assert_eq!(got.relay, s.a.url());
    assert_eq!(version_of(&got), Some(4));
}

/// (d) Relay A serves a relay list signed by someone else: the system's real list header
/// raised to a newer version and re-signed by an attacker identity, and a list of the
/// attacker's own (sealed and signed by it, naming only an attacker relay). Both verify under
/// the attacker's key and not under the system's: `BadSignature`, recorded, B's list taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_serves_a_relay_list_signed_by_someone_else() {
    let s = scene().await;
    let sid = s.sid();
    let before = vec![s.ea.clone(), s.eb.clone()];
    let real: SharedVolume = s
        .evil
        .recorded_shared(uid(sid), &list_volume(), s.list_version)
        .expect("A served the list");
    let seed: [u8; 32] = rand::random();
    let attacker = Identity::from_secret_bytes(&seed, &rand::random());
    let attacker_key = ed25519_dalek::SigningKey::from_bytes(&seed);
    assert_eq!(
        attacker_key.verifying_key().to_bytes(),
        attacker.public_signing_key()
    );

    // 1. The real header, a newer version, re-signed.
    let mut header = Header::parse(&real.header).unwrap();
    header.version = s.list_version + 10;
    let header_bytes = header.to_bytes();
    let mut message = labelled(Label::VolumeHeader);
    message.extend_from_slice(&header_bytes);
    let resigned = SharedVolume {
        header: header_bytes.clone(),
        signature: Signature64::from_bytes(attacker_key.sign(&message).to_bytes()),
        ..real.clone()
    };

    // 2. The attacker's own list, sealed and signed by it, under the system's id.
    let evil_list = RelayList::new(vec![
        RelayEntry::new("https://relay.attacker.example", vec![]).unwrap(),
    ])
    .unwrap();
    let sealed = seal(
        &attacker,
        &VolumeKey::generate(),
        &HeaderFields {
            owner: sid,
            volume: list_volume(),
            epoch: 1,
            version: s.list_version + 20,
            hour: header.hour,
        },
        &evil_list.encode(),
    )
    .unwrap();
    let own = SharedVolume {
        header: sealed.header_bytes.clone(),
        signature: Signature64::from_bytes(sealed.signature),
        payload: sealed.payload.clone(),
        wrapped_key: real.wrapped_key,
    };

    let system_key = coffer_tests::v2::identity_of(&s.system_store).public_signing_key();
    for (what, forged) in [("re-signed header", resigned), ("attacker's list", own)] {
        // The test's own check: the forgery verifies under the attacker's key only.
        let signature = *forged.signature.as_bytes();
        verify_header(
            &attacker.public_signing_key(),
            sid,
            &list_volume(),
            &forged.header,
            &signature,
        )
        .unwrap_or_else(|e| panic!("{what}: the attacker's signature verifies: {e}"));
        assert!(
            verify_header(&system_key, sid, &list_volume(), &forged.header, &signature).is_err(),
            "{what}"
        );

        s.evil.set(Attack::Inject {
            volume: list_volume(),
            response: forged,
        });
        let got = s
            .friend
            .fetch_replicated(sid, &list_volume())
            .await
            .unwrap();
        assert_eq!(s.evil.fired(), 1, "{what}");
        assert_eq!(got.relay, s.b.url(), "{what}");
        assert!(
            matches!(only_refusal(&got, s.a.url()), ClientError::BadSignature),
            "{what}: {:?}",
            got.refused
        );
        // B has nothing newer than the list this session already read.
        assert!(
            matches!(got.fetched, Fetched::NotModified),
            "{what}: {got:?}"
        );

        // Following (the attack still on) passes over it and keeps the system's list.
        let report = s.friend.follow(sid, false).await.unwrap();
        assert_eq!(
            s.evil.fired(),
            2,
            "{what}: the forgery was served to follow"
        );
        assert_eq!(report.version, Some(s.list_version), "{what}");
        assert_eq!(report.relays, before, "{what}");

        // An app connected to A alone: `BadSignature`, never the attacker's list.
        assert_refused!(
            s.restarted_friend()
                .fetch_replicated(sid, &list_volume())
                .await,
            ClientError::BadSignature
        );
        assert_eq!(s.evil.fired(), 3, "{what}");
        assert_eq!(s.friend.relays_of(sid).unwrap(), before, "{what}");
    }
}
