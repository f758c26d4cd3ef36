//! A malicious relay against fetch receipts (docs/protocol-v2.md §14): the owner's client
//! verifies every listed receipt under the key it pinned for the friend at pairing, so a relay
//! that forges a receipt (signed by another key, even with the friend's keys swapped in the
//! user record it serves) or alters one (version, hour) is detected — the entry comes back
//! rejected, never as a read. A relay that *drops* a receipt is not detectable: the last test
//! asserts that limit honestly (the owner sees one read fewer and no error).
//!
//! Every test name contains `malicious`.

use coffer_client_core::client::FriendClient;
use coffer_client_core::client::{ReceiptRejection, Receipts, RelayApi as _};
use coffer_client_core::identity::Identity;
use coffer_client_core::transport::ReceiptEnvelope;
use coffer_client_core::transport::RelayHttp;
use coffer_client_core::v2::sign_receipt;
use coffer_tests::malicious::{Attack, AttackerKeys, MaliciousRelay};
use coffer_tests::relay::RelayProcess;
use coffer_tests::v2::{EvilSystem, config_for, evil_system, friend, pair, plaintext, uid, vol};
use coffer_wire::b64::Signature64;
use uuid::Uuid;

fn doc(version: u64) -> Vec<u8> {
    format!("{{\"meta\":{version}}}").into_bytes()
}

/// A system behind a malicious relay, an honest friend granted `meta`, and two versions of
/// `meta` the friend fetched (so the relay holds two genuine receipts).
struct Scene {
    _relay: RelayProcess,
    system: EvilSystem,
    evil: MaliciousRelay<RelayHttp>,
    friend: FriendClient,
}

async fn scene() -> Scene {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let (system, evil) = evil_system(&config).await;
    let meta = vol("meta");
    system.publish(&meta, &doc(1)).await.unwrap();
    let (friend, _) = friend(&config).await;
    pair(&system, &friend, std::slice::from_ref(&meta)).await;
    assert_eq!(plaintext(friend.fetch(system.user_id(), &meta).await).0, 1);
    system.publish(&meta, &doc(2)).await.unwrap();
    assert_eq!(plaintext(friend.fetch(system.user_id(), &meta).await).0, 2);
    let honest = system.receipts(None).await.unwrap();
    assert_eq!(versions(&honest), [1, 2]);
    assert!(honest.rejected.is_empty());
    Scene {
        _relay: relay,
        system,
        evil,
        friend,
    }
}

fn versions(r: &Receipts) -> Vec<u64> {
    r.verified.iter().map(|v| v.version).collect()
}

fn forged(signer: &Identity, owner: Uuid, friend: Uuid, version: u64) -> ReceiptEnvelope {
    let hour = r_hour();
    let signed = sign_receipt(signer, owner, friend, &vol("meta"), 1, version, hour).unwrap();
    ReceiptEnvelope {
        receipt: signed.bytes,
        signature: Signature64::from_bytes(signed.signature),
    }
}

fn r_hour() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The relay serves a receipt naming the friend but signed by an attacker's key — and swaps
/// the attacker's keys into the friend's user record, so a client that checked the relay-served
/// key would accept it. Checked under the pinned key, it is rejected (`BadSignature`), and the
/// genuine reads are still shown. A forged receipt naming a friend never paired is rejected as
/// `UnknownFriend`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_forges_a_receipt_is_detected() {
    let s = scene().await;
    let (owner, friend_id) = (s.system.user_id(), s.friend.user_id());
    let attacker = Identity::generate();
    s.evil.set(Attack::SubstituteKeys {
        user: uid(friend_id),
        with: AttackerKeys::of(&attacker),
    });
    s.evil.add(Attack::InjectReceipt {
        envelope: forged(&attacker, owner, friend_id, 3),
    });
    let served = s.evil.user_by_id(uid(friend_id)).await.unwrap();
    assert_eq!(
        served.public_signing_key.as_bytes(),
        &attacker.public_signing_key(),
        "the relay serves the attacker's key as the friend's"
    );
    let seen = s.system.receipts(None).await.unwrap();
    assert!(
        s.evil.fired() >= 2,
        "the relay swapped keys and forged a receipt"
    );
    assert_eq!(
        versions(&seen),
        [1, 2],
        "the forged read (version 3) is not shown"
    );
    assert_eq!(seen.rejected.len(), 1);
    assert_eq!(seen.rejected[0].friend_id, Some(friend_id));
    assert_eq!(seen.rejected[0].reason, ReceiptRejection::BadSignature);

    // A receipt "from" an account the owner never paired with.
    let stranger = Identity::generate();
    let stranger_id = Uuid::new_v4();
    s.evil.set(Attack::InjectReceipt {
        envelope: forged(&stranger, owner, stranger_id, 1),
    });
    let seen = s.system.receipts(None).await.unwrap();
    assert_eq!(s.evil.fired(), 1);
    assert_eq!(versions(&seen), [1, 2]);
    assert_eq!(seen.rejected.len(), 1);
    assert_eq!(seen.rejected[0].reason, ReceiptRejection::UnknownFriend);
}

/// The relay re-encodes a stored receipt with another version or another hour (the friend's
/// signature kept): rejected as `BadSignature`, never shown with the altered fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_alters_a_receipt_is_detected() {
    let s = scene().await;
    s.evil.set(Attack::AlterReceipt {
        volume: vol("meta"),
        version: 1,
        new_version: Some(7),
        new_hour: None,
    });
    let seen = s.system.receipts(None).await.unwrap();
    assert_eq!(s.evil.fired(), 1);
    assert_eq!(versions(&seen), [2]);
    assert_eq!(seen.rejected.len(), 1);
    assert_eq!(seen.rejected[0].reason, ReceiptRejection::BadSignature);
    assert_eq!(seen.rejected[0].friend_id, Some(s.friend.user_id()));

    let honest_hour = s.system.receipts(None).await.unwrap().verified[0].hour;
    s.evil.set(Attack::AlterReceipt {
        volume: vol("meta"),
        version: 2,
        new_version: None,
        new_hour: Some(honest_hour - 24 * 3600),
    });
    let seen = s.system.receipts(None).await.unwrap();
    assert_eq!(s.evil.fired(), 1);
    assert_eq!(versions(&seen), [1]);
    assert_eq!(seen.rejected[0].reason, ReceiptRejection::BadSignature);

    s.evil.clear();
    assert_eq!(versions(&s.system.receipts(None).await.unwrap()), [1, 2]);
}

/// The limit, asserted honestly: a relay that leaves a receipt out is NOT detectable. The
/// owner sees one read fewer, nothing rejected, no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_relay_drops_a_receipt_is_not_detectable() {
    let s = scene().await;
    s.evil.set(Attack::DropReceipt {
        volume: vol("meta"),
        version: 1,
    });
    let seen = s.system.receipts(None).await.unwrap();
    assert_eq!(s.evil.fired(), 1, "the relay dropped the receipt");
    assert_eq!(versions(&seen), [2]);
    assert!(
        seen.rejected.is_empty(),
        "a dropped receipt leaves no trace for the owner to detect"
    );
}
