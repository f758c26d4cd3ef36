//! A malicious relay against the real System and Friend clients (design §1, properties P1–P9):
//! the real relay binary over pinned TLS, with a [`MaliciousRelay`] decorator (or, for the
//! login exchange, a [`MitmRelay`]) lying in what it serves. Each test runs one attack and
//! asserts the *specific* `ClientError` the client answers with, that the attack really changed
//! what was served, and that no plaintext came back (an `Err` carries none, and its message
//! does not quote it).
//!
//! Every test name contains `malicious`: `cargo test -p coffer-tests malicious` runs exactly
//! this suite.

use std::sync::Arc;

use coffer_client_core::client::{ClientError, FriendClient, SystemClient};
use coffer_client_core::storage::KeyStore;
use coffer_client_core::transport::{RelayHttp, SharedVolume, WrappedKeyEntry};
use coffer_client_core::v2::{HeaderFields, VolumeKey, seal};
use coffer_tests::malicious::{Attack, AttackerKeys, MaliciousRelay, Part};
use coffer_tests::mitm::MitmRelay;
use coffer_tests::relay::RelayProcess;
use coffer_tests::v2::{
    EvilFriend, config_for, evil_friend, evil_system, friend, identity_of, pair, plaintext,
    stored_volume, system, uid, vol,
};
use coffer_wire::b64::{PublicKey32, Signature64};
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

/// A relay and a client configuration pinned to it.
async fn start() -> (RelayProcess, coffer_client_core::client::ClientConfig) {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    (relay, config)
}

/// A system with `meta`, `members` and `org.example.notes` published once, and a friend behind a
/// malicious relay approved for `granted`, that has fetched each granted volume once.
struct Scene {
    _relay: RelayProcess,
    config: coffer_client_core::client::ClientConfig,
    system: SystemClient,
    friend: EvilFriend,
    friend_store: Arc<dyn KeyStore>,
    evil: MaliciousRelay<RelayHttp>,
}

async fn scene(granted: &[&str]) -> Scene {
    let (relay, config) = start().await;
    let (system, _) = system(&config).await;
    for name in ["meta", "members", "org.example.notes"] {
        system.publish(&vol(name), &secret_doc(name)).await.unwrap();
    }
    let (friend, evil, friend_store) = evil_friend(&config).await;
    let granted: Vec<_> = granted.iter().map(|n| vol(n)).collect();
    pair(&system, &friend, &granted).await;
    for name in &granted {
        let (version, epoch, text) = plaintext(friend.fetch(system.user_id(), name).await);
        assert_eq!((version, epoch), (1, 1));
        assert_eq!(text, secret_doc(name.as_str()));
    }
    Scene {
        _relay: relay,
        config,
        system,
        friend,
        friend_store,
        evil,
    }
}

impl Scene {
    /// The system publishes version `version` of `name` (its document says which).
    async fn publish(&self, name: &str, version: u64) {
        let doc = secret_doc(&format!("{name} {version}"));
        self.system.publish(&vol(name), &doc).await.unwrap();
    }

    /// After an attack: an honest relay again serves the friend the current version of
    /// `name` (the attack left no poisoned state behind).
    async fn honest_again(&self, name: &str, version: u64) {
        self.evil.clear();
        self.friend.grant(self.system.user_id()).await.unwrap();
        let served = self.friend.fetch(self.system.user_id(), &vol(name)).await;
        match served {
            Ok(coffer_client_core::client::Fetched::NotModified) => {}
            other => {
                let (v, _, text) = plaintext(other);
                assert_eq!(v, version);
                assert!(String::from_utf8(text).unwrap().contains(MARK));
            }
        }
    }
}

// ---- P5: substituted keys ------------------------------------------------------------------

/// The relay answers the friend's lookup of the system with an attacker's keys (validly bound
/// to each other): the fingerprint in the invite link does not match → `KeyChanged`, nothing is
/// pinned, and the unverified pairing is withdrawn. Keys that are not even bound to each other
/// → `BadSignature`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_substitutes_system_keys_at_redeem() {
    let (_relay, config) = start().await;
    let (system, system_store) = system(&config).await;
    let (friend, evil, _) = evil_friend(&config).await;
    let system_id = uid(system.user_id());

    evil.set(Attack::SubstituteKeys {
        user: system_id,
        with: AttackerKeys::generate(),
    });
    let link = system.create_invite().await.unwrap();
    assert_refused!(friend.redeem(&link).await, ClientError::KeyChanged);
    assert!(evil.fired() > 0, "the relay substituted the keys");
    assert_refused!(friend.grant(system.user_id()).await, ClientError::NotPaired);
    assert!(
        system.pending_requests().await.unwrap().is_empty(),
        "the friend withdrew the pairing with unverified keys"
    );

    // The attacker's signing key with the system's real exchange key: no valid binding.
    let attacker = AttackerKeys::generate();
    let real = identity_of(&system_store);
    evil.set(Attack::SubstituteKeys {
        user: system_id,
        with: AttackerKeys {
            signing: attacker.signing,
            exchange: PublicKey32::from_bytes(real.public_exchange_key()),
            binding: attacker.binding,
        },
    });
    let link = system.create_invite().await.unwrap();
    assert_refused!(friend.redeem(&link).await, ClientError::BadSignature);
    assert!(evil.fired() > 0);

    // With an honest relay a new invite pairs normally.
    evil.clear();
    let paired = pair(&system, &friend, &[vol("meta")]).await;
    assert_eq!(paired.fingerprint, system.fingerprint());
}

/// The relay shows the system a pending request with an attacker's keys in place of the
/// friend's: the friend's proof (keyed by the invite secret) does not cover them →
/// `proof_valid == false` and `approve` refuses with `PairingProofInvalid`. The real request
/// is still approvable afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_substitutes_friend_keys_in_pairing_request() {
    let (_relay, config) = start().await;
    let (system, evil) = evil_system(&config).await;
    system
        .publish(&vol("meta"), &secret_doc("meta"))
        .await
        .unwrap();
    let (friend, _) = friend(&config).await;
    let link = system.create_invite().await.unwrap();
    friend.redeem(&link).await.unwrap();

    let attacker = AttackerKeys::generate();
    evil.set(Attack::SubstituteKeys {
        user: uid(friend.user_id()),
        with: attacker,
    });
    let requests = system.pending_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.friend_id, friend.user_id());
    assert!(
        !request.proof_valid,
        "substituted keys must not pass the proof"
    );
    assert_ne!(request.fingerprint, friend.fingerprint());
    assert!(evil.fired() > 0);
    assert_refused!(
        system.approve(friend.user_id(), &[vol("meta")], None).await,
        ClientError::PairingProofInvalid
    );

    evil.clear();
    let requests = system.pending_requests().await.unwrap();
    assert!(requests[0].proof_valid);
    assert_eq!(requests[0].fingerprint, friend.fingerprint());
    system
        .approve(friend.user_id(), &[vol("meta")], None)
        .await
        .unwrap();
    let (_, _, text) = plaintext(friend.fetch(system.user_id(), &vol("meta")).await);
    assert_eq!(text, secret_doc("meta"));
}

/// After approval the friend's keys are pinned: a relay that later presents other keys for
/// the friend gets `KeyChanged`, never a grant wrapped for the attacker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_substitutes_pinned_friend_keys() {
    let (_relay, config) = start().await;
    let (system, evil) = evil_system(&config).await;
    system
        .publish(&vol("meta"), &secret_doc("meta"))
        .await
        .unwrap();
    system
        .publish(&vol("members"), &secret_doc("members"))
        .await
        .unwrap();
    let (friend, _) = friend(&config).await;
    pair(&system, &friend, &[vol("meta")]).await;

    evil.set(Attack::SubstituteKeys {
        user: uid(friend.user_id()),
        with: AttackerKeys::generate(),
    });
    assert_refused!(
        system
            .approve(friend.user_id(), &[vol("meta"), vol("members")], None)
            .await,
        ClientError::KeyChanged
    );
    assert!(evil.fired() > 0);
    // The grant was not replaced: the friend still has exactly `meta`.
    let grant = friend.grant(system.user_id()).await.unwrap().unwrap();
    assert_eq!(grant.volumes, vec![(vol("meta"), 1)]);
}

// ---- P3/P4: volumes under another name, owner or version ------------------------------------

/// `members` served when `meta` is asked for (both correctly signed): `WrongVolume`, in the
/// listing and in the fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_serves_volume_under_another_name() {
    let s = scene(&["meta", "members"]).await;
    s.publish("meta", 2).await;
    s.evil.set(Attack::ServeOtherName {
        asked: vol("meta"),
        served: vol("members"),
    });
    assert_refused!(
        s.friend.fetch(s.system.user_id(), &vol("meta")).await,
        ClientError::WrongVolume
    );
    assert_refused!(
        s.friend.list(s.system.user_id()).await,
        ClientError::WrongVolume
    );
    assert!(s.evil.fired() >= 2);
    s.honest_again("meta", 2).await;
}

/// Another owner's volume served as the system's. Signed with the system's key for another
/// owner id (an account with the same signing key and another exchange key) → the signature
/// verifies, the owner does not: `WrongOwner`.
/// An owner with other keys → `BadSignature` under the pinned key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_serves_volume_of_another_owner() {
    let (_relay, config) = start().await;
    let (system, system_store) = system(&config).await;
    system
        .publish(&vol("meta"), &secret_doc("meta"))
        .await
        .unwrap();
    let (friend, evil, _) = evil_friend(&config).await;
    pair(&system, &friend, &[vol("meta")]).await;
    plaintext(friend.fetch(system.user_id(), &vol("meta")).await);
    let wrapped = evil
        .recorded_shared(uid(system.user_id()), &vol("meta"), 1)
        .unwrap()
        .wrapped_key;

    // A "meta" (version 2) signed with the system's key but naming another owner. Ids are
    // derived from the keys (§3), so the same keys can no longer hold a second account with
    // another id; an account with the same signing key and another exchange key could, and the
    // key alone is what this attack needs: the signature verifies, the owner does not.
    let identity = identity_of(&system_store);
    let twin = Uuid::new_v4();
    assert_ne!(twin, system.user_id());
    let fields = HeaderFields {
        owner: twin,
        volume: vol("meta"),
        epoch: 1,
        version: 2,
        hour: u64::try_from(coffer_test_kit::hour_now()).unwrap(),
    };
    let sealed = seal(
        &identity,
        &VolumeKey::generate(),
        &fields,
        &secret_doc("twin 2"),
    )
    .unwrap();
    evil.set(Attack::Inject {
        volume: vol("meta"),
        response: SharedVolume {
            header: sealed.header_bytes,
            signature: Signature64::from_bytes(sealed.signature),
            payload: sealed.payload,
            wrapped_key: wrapped,
        },
    });
    assert_refused!(
        friend.fetch(system.user_id(), &vol("meta")).await,
        ClientError::WrongOwner
    );
    assert_eq!(evil.fired(), 1);

    // A third system with its own keys, also paired with the friend.
    let (other, _) = coffer_tests::v2::system(&config).await;
    other
        .publish(&vol("meta"), &secret_doc("other"))
        .await
        .unwrap();
    other
        .publish(&vol("meta"), &secret_doc("other 2"))
        .await
        .unwrap();
    evil.clear();
    pair(&other, &friend, &[vol("meta")]).await;
    evil.set(Attack::ServeOtherOwner {
        asked: uid(system.user_id()),
        served: uid(other.user_id()),
    });
    assert_refused!(
        friend.fetch(system.user_id(), &vol("meta")).await,
        ClientError::BadSignature
    );
    assert_eq!(evil.fired(), 1);

    evil.clear();
    assert!(matches!(
        friend.fetch(system.user_id(), &vol("meta")).await,
        Ok(coffer_client_core::client::Fetched::NotModified)
    ));
}

/// Bytes swapped between the answers for versions 1 and 2: the payload of version 1 under the
/// header of version 2 is not the payload the signed header names → `Tampered`; the header of
/// version 1 with the signature of version 2 (or the other way round) → `BadSignature`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_splices_parts_of_another_version() {
    let s = scene(&["meta"]).await;
    s.publish("meta", 2).await;
    for part in [Part::Payload, Part::Header, Part::HeaderSignature] {
        s.evil.set(Attack::Splice {
            volume: vol("meta"),
            from: 1,
            part,
        });
        let served = s.friend.fetch(s.system.user_id(), &vol("meta")).await;
        if part == Part::Payload {
            assert_refused!(served, ClientError::Tampered);
        } else {
            assert_refused!(served, ClientError::BadSignature);
        }
        assert_eq!(s.evil.fired(), 1, "{part:?}");
    }
    s.honest_again("meta", 2).await;
}

// ---- P7: rollback ----------------------------------------------------------------------------

/// The recorded answer of version 1 replayed after version 2 was seen: `Rollback` with the
/// versions, in the fetch and in the listing — and still after the friend app restarts (the
/// marks are persisted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_replays_older_version() {
    let s = scene(&["meta"]).await;
    s.publish("meta", 2).await;
    let (version, _, _) = plaintext(s.friend.fetch(s.system.user_id(), &vol("meta")).await);
    assert_eq!(version, 2);

    s.evil.set(Attack::ReplayVersion {
        volume: vol("meta"),
        version: 1,
    });
    let e = assert_refused!(
        s.friend.fetch(s.system.user_id(), &vol("meta")).await,
        ClientError::Rollback { .. }
    );
    match e {
        ClientError::Rollback {
            volume,
            seen_epoch,
            seen_version,
            got_epoch,
            got_version,
        } => {
            assert_eq!(volume, vol("meta"));
            assert_eq!((seen_epoch, seen_version), (1, 2));
            assert_eq!((got_epoch, got_version), (1, 1));
        }
        other => unreachable!("{other:?}"),
    }
    assert_refused!(
        s.friend.list(s.system.user_id()).await,
        ClientError::Rollback { .. }
    );
    assert!(s.evil.fired() >= 2);

    // A restarted friend app (same store, fresh in-memory state) still refuses.
    let restarted = FriendClient::with_relay(s.evil.clone(), Arc::clone(&s.friend_store)).unwrap();
    assert_refused!(
        restarted.fetch(s.system.user_id(), &vol("meta")).await,
        ClientError::Rollback { .. }
    );
    s.honest_again("meta", 2).await;
}

// ---- P1/P6: grants ---------------------------------------------------------------------------

/// The grant bytes edited to add `members` (the owner's signature kept, a wrapped key copied):
/// the signature no longer verifies → `BadSignature`, both for the grant and for a fetch of the
/// added volume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_widens_grant_bytes() {
    let s = scene(&["meta"]).await;
    let wrapped = s
        .evil
        .recorded_shared(uid(s.system.user_id()), &vol("meta"), 1)
        .unwrap()
        .wrapped_key;
    s.evil.set(Attack::WidenGrant {
        volume: vol("members"),
        epoch: 1,
    });
    s.evil.add(Attack::Inject {
        volume: vol("members"),
        response: stored_volume(s.system.relay(), &vol("members"), wrapped).await,
    });
    assert_refused!(
        s.friend.grant(s.system.user_id()).await,
        ClientError::BadSignature
    );
    assert_refused!(
        s.friend.fetch(s.system.user_id(), &vol("members")).await,
        ClientError::BadSignature
    );
    assert!(s.evil.fired() >= 3);
    s.honest_again("meta", 1).await;
}

/// The signed grant untouched, with an extra wrapped key for a volume it does not name, and that
/// volume served: the unsigned extra is ignored (the grant still lists only `meta`) and the
/// volume is refused with `NoKeyForEpoch` — a relay cannot widen access (P1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_attaches_extra_wrapped_key() {
    let s = scene(&["meta"]).await;
    let wrapped = s
        .evil
        .recorded_shared(uid(s.system.user_id()), &vol("meta"), 1)
        .unwrap()
        .wrapped_key;
    s.evil.set(Attack::ExtraWrappedKey {
        entry: WrappedKeyEntry {
            volume: vol("members"),
            epoch: 1,
            wrapped_key: wrapped,
        },
    });
    s.evil.add(Attack::Inject {
        volume: vol("members"),
        response: stored_volume(s.system.relay(), &vol("members"), wrapped).await,
    });
    let grant = s.friend.grant(s.system.user_id()).await.unwrap().unwrap();
    assert_eq!(grant.volumes, vec![(vol("meta"), 1)]);
    assert_refused!(
        s.friend.fetch(s.system.user_id(), &vol("members")).await,
        ClientError::NoKeyForEpoch
    );
    assert!(s.evil.fired() >= 2);
}

/// A validly signed but superseded grant (sequence 1) replayed after sequence 2 was seen:
/// `GrantRollback`, also after the friend app restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_replays_superseded_grant() {
    let s = scene(&["meta"]).await;
    let system_id = s.system.user_id();
    assert_eq!(
        s.friend.grant(system_id).await.unwrap().unwrap().sequence,
        1
    );
    s.system
        .set_grant(s.friend.user_id(), &[vol("meta"), vol("members")], None)
        .await
        .unwrap();
    let grant = s.friend.grant(system_id).await.unwrap().unwrap();
    assert_eq!(grant.sequence, 2);
    let seen = s.evil.recorded_grant_sequences(uid(system_id));
    assert!(seen.contains(&1) && seen.last() == Some(&2), "{seen:?}");

    s.evil.set(Attack::ReplayGrant { sequence: 1 });
    assert_refused!(s.friend.grant(system_id).await, ClientError::GrantRollback);
    let restarted = FriendClient::with_relay(s.evil.clone(), Arc::clone(&s.friend_store)).unwrap();
    assert_refused!(restarted.grant(system_id).await, ClientError::GrantRollback);
    assert_eq!(s.evil.fired(), 2);
    s.honest_again("members", 1).await;
}

// ---- P8: revocation --------------------------------------------------------------------------

/// After revocation the relay keeps serving the revoked friend: its last (validly signed) grant
/// replayed, the new-epoch volume with its old wrapped key — or with the remaining friend's new
/// wrapped key. The old grant does not name the new epoch → `NoKeyForEpoch`, never plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_keeps_serving_revoked_friend() {
    let s = scene(&["meta"]).await;
    let system_id = s.system.user_id();
    let (remaining, remaining_relay, _) = evil_friend(&s.config).await;
    pair(&s.system, &remaining, &[vol("meta")]).await;
    let old_wrapped = s
        .evil
        .recorded_shared(uid(system_id), &vol("meta"), 1)
        .unwrap()
        .wrapped_key;

    let report = s.system.revoke(s.friend.user_id()).await.unwrap();
    assert_eq!(report.rotated, vec![(vol("meta"), 2)]);
    assert_eq!(report.friends_regranted, vec![remaining.user_id()]);
    s.system
        .publish(&vol("meta"), &secret_doc("after revocation"))
        .await
        .unwrap();
    let (version, epoch, text) = plaintext(remaining.fetch(system_id, &vol("meta")).await);
    assert_eq!((version, epoch), (3, 2));
    assert_eq!(text, secret_doc("after revocation"));
    let new_wrapped = remaining_relay
        .recorded_shared(uid(system_id), &vol("meta"), 3)
        .unwrap()
        .wrapped_key;

    // An honest relay refuses the revoked friend outright.
    assert!(s.friend.grant(system_id).await.unwrap().is_none());
    assert_refused!(
        s.friend.fetch(system_id, &vol("meta")).await,
        ClientError::Forbidden { .. }
    );

    // A cooperating relay: old grant + new volume + old wrapped key.
    let last_sequence = *s
        .evil
        .recorded_grant_sequences(uid(system_id))
        .last()
        .unwrap();
    s.evil.set(Attack::ReplayGrant {
        sequence: last_sequence,
    });
    s.evil.add(Attack::Inject {
        volume: vol("meta"),
        response: stored_volume(s.system.relay(), &vol("meta"), old_wrapped).await,
    });
    assert_refused!(
        s.friend.fetch(system_id, &vol("meta")).await,
        ClientError::NoKeyForEpoch
    );
    assert!(s.evil.fired() >= 2);

    // The remaining friend's wrapped key for the new epoch is wrapped for another pair.
    s.evil.set(Attack::ReplayGrant {
        sequence: last_sequence,
    });
    s.evil.add(Attack::Inject {
        volume: vol("meta"),
        response: stored_volume(s.system.relay(), &vol("meta"), new_wrapped).await,
    });
    assert_refused!(
        s.friend.fetch(system_id, &vol("meta")).await,
        ClientError::NoKeyForEpoch
    );
    assert!(s.evil.fired() >= 2);
}

// ---- login: a replayed challenge -------------------------------------------------------------

/// The relay serves a challenge nonce the client already signed (on the wire, through a
/// TLS-terminating relay holding the relay's own key) after refusing the session with 401:
/// the client refuses to sign it again → `ChallengeReplayed`, and never presents a second
/// signature over that nonce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_replays_login_challenge() {
    let (_relay, mitm) = MitmRelay::start().await;
    let config = config_for(mitm.url(), mitm.pin());
    let (system, _) = system(&config).await;
    system
        .publish(&vol("meta"), &secret_doc("meta"))
        .await
        .unwrap();
    assert_eq!(mitm.signed_nonces().len(), 1, "one login so far");

    mitm.replay_challenges(true);
    mitm.refuse_next_authenticated();
    assert_refused!(
        system.publish(&vol("meta"), &secret_doc("meta 2")).await,
        ClientError::ChallengeReplayed
    );
    assert_eq!(mitm.fired(), 2, "a 401 and a replayed nonce were served");
    let served = mitm.served_nonces();
    assert_eq!(served.len(), 2);
    assert_eq!(served[0], served[1]);
    assert_eq!(
        mitm.signed_nonces(),
        served[..1],
        "the replayed nonce was not signed a second time"
    );

    // With honest challenges again, the next login works and nothing was half-published.
    mitm.replay_challenges(false);
    let published = system
        .publish(&vol("meta"), &secret_doc("meta 2"))
        .await
        .unwrap();
    assert_eq!(published.version, 2);
}

// ---- bit flips and P9 ------------------------------------------------------------------------

/// One bit flipped in what is served with a volume: the payload (its hash no longer matches the
/// signed header) → `Tampered`; the header or its signature → `BadSignature`; the wrapped key
/// → `Tampered`. Several bit positions each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_flips_bits_in_volume() {
    let s = scene(&["meta"]).await;
    s.publish("meta", 2).await;
    let cases = [
        (Part::Payload, [0, 200, 8 * 1024 + 3, usize::MAX - 7]),
        (Part::Header, [0, 33, 8 * 40 + 1, usize::MAX - 7]),
        (Part::HeaderSignature, [0, 255, 256, 511]),
        (Part::WrappedKey, [0, 100, 300, 479]),
    ];
    for (part, bits) in cases {
        for bit in bits {
            s.evil.set(Attack::FlipBit { part, bit });
            let result = s.friend.fetch(s.system.user_id(), &vol("meta")).await;
            match part {
                Part::Payload | Part::WrappedKey => {
                    assert_refused!(result, ClientError::Tampered);
                }
                _ => {
                    assert_refused!(result, ClientError::BadSignature);
                }
            }
            assert_eq!(s.evil.fired(), 1, "{part:?} bit {bit}");
        }
    }
    s.honest_again("meta", 2).await;
}

/// One bit flipped in the grant bytes or the grant signature → `BadSignature`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_flips_bits_in_grant() {
    let s = scene(&["meta"]).await;
    for part in [Part::Grant, Part::GrantSignature] {
        for bit in [0, 77, 8 * 60 + 5, usize::MAX - 3] {
            s.evil.set(Attack::FlipBit { part, bit });
            assert_refused!(
                s.friend.grant(s.system.user_id()).await,
                ClientError::BadSignature
            );
            assert_eq!(s.evil.fired(), 1, "{part:?} bit {bit}");
        }
    }
    s.honest_again("meta", 1).await;
}

/// P9: a signature of one kind presented as another over the same key. The grant's bytes and
/// signature served as a volume header and header signature, and a volume header and its
/// signature served as a grant → `BadSignature` both ways (labels differ).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_swaps_grant_and_header_signatures() {
    let s = scene(&["meta"]).await;
    s.publish("meta", 2).await;
    s.friend.grant(s.system.user_id()).await.unwrap();
    s.evil.set(Attack::GrantAsHeader);
    assert_refused!(
        s.friend.fetch(s.system.user_id(), &vol("meta")).await,
        ClientError::BadSignature
    );
    assert_eq!(s.evil.fired(), 1);
    s.evil.set(Attack::HeaderAsGrant);
    assert_refused!(
        s.friend.grant(s.system.user_id()).await,
        ClientError::BadSignature
    );
    assert_eq!(s.evil.fired(), 1);
    s.honest_again("meta", 2).await;
}

/// Guard for the suite itself: the `SharedVolume` answers a test injects are what the relay
/// stores, byte for byte (otherwise `Inject` tests would prove nothing about relay data).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_injects_stored_bytes() {
    let s = scene(&["meta"]).await;
    let served = s
        .evil
        .recorded_shared(uid(s.system.user_id()), &vol("meta"), 1)
        .unwrap();
    let stored: SharedVolume =
        stored_volume(s.system.relay(), &vol("meta"), served.wrapped_key).await;
    assert_eq!(stored, served);
    // And an honest injection of exactly those bytes is accepted by a fresh friend session.
    let restarted = FriendClient::with_relay(s.evil.clone(), Arc::clone(&s.friend_store)).unwrap();
    s.evil.set(Attack::Inject {
        volume: vol("meta"),
        response: stored,
    });
    let (version, _, text) = plaintext(restarted.fetch(s.system.user_id(), &vol("meta")).await);
    assert_eq!(version, 1);
    assert_eq!(text, secret_doc("meta"));
}

/// The owner's grant for *another* friend (validly signed, wider than this friend's) served
/// to this friend: it names another friend and fingerprint → `GrantNotForMe`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_serves_another_friends_grant() {
    let s = scene(&["meta"]).await;
    let system_id = s.system.user_id();
    let (other, other_relay, _) = evil_friend(&s.config).await;
    pair(&s.system, &other, &[vol("meta"), vol("members")]).await;
    other.grant(system_id).await.unwrap();
    let envelope = other_relay.recorded_grant(uid(system_id), 1).unwrap();

    s.evil.set(Attack::InjectGrant { envelope });
    assert_refused!(s.friend.grant(system_id).await, ClientError::GrantNotForMe);
    let restarted = FriendClient::with_relay(s.evil.clone(), Arc::clone(&s.friend_store)).unwrap();
    assert_refused!(
        restarted.fetch(system_id, &vol("meta")).await,
        ClientError::GrantNotForMe
    );
    assert!(s.evil.fired() >= 2);
    s.honest_again("meta", 1).await;
}

/// A wrapped key served with another volume than its own (the friend's real wrapped key of
/// `members`, served with `meta`): it is bound to its volume → `Tampered`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_swaps_wrapped_keys_between_volumes() {
    let s = scene(&["meta", "members"]).await;
    let system_id = s.system.user_id();
    s.publish("meta", 2).await;
    let members_key = s
        .evil
        .recorded_shared(uid(system_id), &vol("members"), 1)
        .unwrap()
        .wrapped_key;
    s.evil.set(Attack::Inject {
        volume: vol("meta"),
        response: stored_volume(s.system.relay(), &vol("meta"), members_key).await,
    });
    assert_refused!(
        s.friend.fetch(system_id, &vol("meta")).await,
        ClientError::Tampered
    );
    assert_eq!(s.evil.fired(), 1);
    s.honest_again("meta", 2).await;
}

/// A friend approved until `expires_at` (a couple of seconds ahead) that has verified its grant
/// and read version 1; then the grant expires and the system publishes: its next operation
/// first re-keys the lapsed grant's volume (§12: epoch 2, version 1 re-encrypted as 2), so the
/// publish is version 3 under epoch 2. Returns the friend's app session, its malicious relay, its store, and the version-2
/// answer the relay can serve (with the friend's own wrapped key).
async fn expired_grant_scene() -> (Scene, SharedVolume) {
    let (relay, config) = start().await;
    let (system, _) = system(&config).await;
    let system_id = system.user_id();
    system
        .publish(&vol("meta"), &secret_doc("meta 1"))
        .await
        .unwrap();
    let (friend, evil, friend_store) = evil_friend(&config).await;
    let link = system.create_invite().await.unwrap();
    friend.redeem(&link).await.unwrap();
    let expires_at = now_unix() + 2;
    system
        .approve(friend.user_id(), &[vol("meta")], Some(expires_at))
        .await
        .unwrap();
    let grant = friend.grant(system_id).await.unwrap().unwrap();
    assert_eq!(grant.expires_at, Some(expires_at));
    plaintext(friend.fetch(system_id, &vol("meta")).await);
    let wrapped = evil
        .recorded_shared(uid(system_id), &vol("meta"), 1)
        .unwrap()
        .wrapped_key;

    while now_unix() <= expires_at {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let published = system
        .publish(&vol("meta"), &secret_doc("after expiry"))
        .await
        .unwrap();
    assert_eq!(
        (published.epoch, published.version),
        (2, 3),
        "the lapsed grant's volume was re-keyed before the publish"
    );
    // An honest relay stops serving at expiry (asked from another app session, so that the
    // first one keeps the grant it verified before expiry).
    let other_session = FriendClient::with_relay(evil.clone(), Arc::clone(&friend_store)).unwrap();
    assert!(other_session.grant(system_id).await.unwrap().is_none());
    let after_expiry = stored_volume(system.relay(), &vol("meta"), wrapped).await;
    let scene = Scene {
        _relay: relay,
        config,
        system,
        friend,
        friend_store,
        evil,
    };
    (scene, after_expiry)
}

/// The grant expired; the relay ignores that and serves the expired grant and a version
/// published after expiry. A fresh app session verifies the grant → `GrantExpired` (§7: a
/// friend accepts a volume only under an unexpired grant).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_serves_after_grant_expiry_to_new_session() {
    let (s, after_expiry) = expired_grant_scene().await;
    let system_id = s.system.user_id();
    s.evil.set(Attack::ReplayGrant { sequence: 1 });
    s.evil.add(Attack::Inject {
        volume: vol("meta"),
        response: after_expiry,
    });
    let restarted = FriendClient::with_relay(s.evil.clone(), Arc::clone(&s.friend_store)).unwrap();
    assert_refused!(
        restarted.fetch(system_id, &vol("meta")).await,
        ClientError::GrantExpired
    );
    assert_refused!(restarted.grant(system_id).await, ClientError::GrantExpired);
    assert!(s.evil.fired() >= 2);
}

/// As above, but read by the app session that verified the grant *before* it expired: it must
/// not keep using the expired grant it holds in memory → `GrantExpired`, not the plaintext of
/// a version published after expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_serves_after_grant_expiry_to_open_session() {
    let (s, after_expiry) = expired_grant_scene().await;
    s.evil.set(Attack::ReplayGrant { sequence: 1 });
    s.evil.add(Attack::Inject {
        volume: vol("meta"),
        response: after_expiry,
    });
    assert_refused!(
        s.friend.fetch(s.system.user_id(), &vol("meta")).await,
        ClientError::GrantExpired
    );
    assert!(s.evil.fired() >= 1);
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One upload answered with a lying 409 (`current_version` near `i64::MAX`, `current_epoch`
/// near `u32::MAX`: the relay's claims, unverified). Whatever the client makes of the lie, it
/// must still be able to revoke a friend afterwards (P8): the revocation succeeds and the
/// revoked friend reads nothing published after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_lies_in_conflict_to_block_revocation() {
    let (_relay, config) = start().await;
    let (system, evil) = evil_system(&config).await;
    let system_id = system.user_id();
    system
        .publish(&vol("meta"), &secret_doc("meta 1"))
        .await
        .unwrap();
    system
        .publish(&vol("members"), &secret_doc("members 1"))
        .await
        .unwrap();
    let (friend, _) = friend(&config).await;
    pair(&system, &friend, &[vol("meta"), vol("members")]).await;

    evil.set(Attack::FakeConflict {
        version: i64::MAX as u64 - 1,
        epoch: u32::MAX - 1,
    });
    // The lie's immediate effect is the client's business (it may refuse or work around it).
    let _ = system.publish(&vol("meta"), &secret_doc("meta 2")).await;
    assert_eq!(evil.fired(), 1, "the 409 was served");

    let revoked = system.revoke(friend.user_id()).await;
    assert!(
        revoked.is_ok(),
        "revocation must not be blocked by one lying 409: {revoked:?}"
    );
    system
        .publish(&vol("members"), &secret_doc("after revocation"))
        .await
        .unwrap();
    assert_refused!(
        friend.fetch(system_id, &vol("members")).await,
        ClientError::Forbidden { .. }
    );
}
