//! Fetch receipts (docs/protocol-v2.md §14) against the real relay binary: a friend's client
//! sends a signed receipt for every new version it fetched (none on a 304, one kept per
//! version), the owner sees them verified; the relay refuses receipts that name another friend
//! or an owner the caller is not paired with, keeps at most `MAX_PER_PAIRING` per pairing, and
//! deletes them with the pairing and the account. A failed upload never fails the fetch.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use coffer_client_core::client::{Fetched, FriendClient, ReadReceipt};
use coffer_client_core::identity::Identity;
use coffer_client_core::transport::{ReceiptEnvelope, TransportError};
use coffer_client_core::v2::sign_receipt;
use coffer_relay::store::receipts::MAX_PER_PAIRING;
use coffer_tests::malicious::Attack;
use coffer_tests::relay::RelayProcess;
use coffer_tests::v2::{
    config_for, evil_friend, friend, identity_of, pair, plaintext, system, uid, vol,
};
use coffer_wire::b64::Signature64;
use coffer_wire::v2::{Receipt, VolumeName};
use futures_util::StreamExt as _;
use uuid::Uuid;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn doc(text: &str) -> Vec<u8> {
    format!("{{\"text\":\"{text}\"}}").into_bytes()
}

fn envelope(
    identity: &Identity,
    owner: Uuid,
    friend: Uuid,
    volume: &VolumeName,
    version: u64,
    at: u64,
) -> ReceiptEnvelope {
    let signed = sign_receipt(identity, owner, friend, volume, 1, version, at).unwrap();
    ReceiptEnvelope {
        receipt: signed.bytes,
        signature: Signature64::from_bytes(signed.signature),
    }
}

/// (volume, version) of each verified read, in listing order.
fn reads(list: &[ReadReceipt]) -> Vec<(String, u64)> {
    list.iter()
        .map(|r| (r.volume.as_str().to_owned(), r.version))
        .collect()
}

fn receipt_rows(relay: &RelayProcess) -> i64 {
    let db = rusqlite::Connection::open(relay.database_path()).unwrap();
    db.query_row("SELECT count(*) FROM receipts", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_flow_one_per_new_version_none_on_304() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let (system, _) = system(&config).await;
    let meta = vol("meta");
    system.publish(&meta, &doc("meta 1")).await.unwrap();
    let (friend, friend_store) = friend(&config).await;
    pair(&system, &friend, std::slice::from_ref(&meta)).await;
    let owner = system.user_id();
    assert!(system.receipts(None).await.unwrap().verified.is_empty());

    let before = now();
    assert_eq!(plaintext(friend.fetch(owner, &meta).await).0, 1);
    let after = now();
    let seen = system.receipts(None).await.unwrap();
    assert_eq!(reads(&seen.verified), [("meta".to_owned(), 1)]);
    assert!(seen.rejected.is_empty());
    let r = &seen.verified[0];
    assert_eq!((r.friend_id, r.epoch), (friend.user_id(), 1));
    assert!(r.hour % 3600 == 0 && r.hour >= before - before % 3600 && r.hour <= after);

    // 304: nothing new was read, nothing is sent.
    assert!(matches!(
        friend.fetch(owner, &meta).await.unwrap(),
        Fetched::NotModified
    ));
    assert_eq!(system.receipts(None).await.unwrap().verified.len(), 1);
    assert_eq!(receipt_rows(&relay), 1);

    // A new version: a second receipt, naming exactly that version.
    system.publish(&meta, &doc("meta 2")).await.unwrap();
    assert_eq!(plaintext(friend.fetch(owner, &meta).await).0, 2);
    let seen = system.receipts(None).await.unwrap();
    assert_eq!(
        reads(&seen.verified),
        [("meta".to_owned(), 1), ("meta".to_owned(), 2)]
    );

    // The app restarts and reads version 2 again: the relay keeps one receipt per version.
    let reopened = FriendClient::with_relay(
        coffer_client_core::client::relay_for(&config, &friend_store).unwrap(),
        Arc::clone(&friend_store),
    )
    .unwrap();
    assert_eq!(plaintext(reopened.fetch(owner, &meta).await).0, 2);
    assert_eq!(system.receipts(None).await.unwrap().verified.len(), 2);
    assert_eq!(receipt_rows(&relay), 2);

    // `since`: receipts of later hours only.
    let last_hour = seen.verified[1].hour;
    let in_last_hour = seen.verified.iter().filter(|r| r.hour >= last_hour).count();
    assert_eq!(
        system
            .receipts(Some(last_hour))
            .await
            .unwrap()
            .verified
            .len(),
        in_last_hour
    );
    assert!(
        system
            .receipts(Some(last_hour + 3600))
            .await
            .unwrap()
            .verified
            .is_empty()
    );
}

/// A relay that refuses the receipt upload does not fail the fetch: the friend still gets the
/// verified plaintext, and the owner simply sees no receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_receipt_upload_does_not_fail_the_fetch() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let (system, _) = system(&config).await;
    let meta = vol("meta");
    system.publish(&meta, &doc("meta 1")).await.unwrap();
    let (friend, evil, _) = evil_friend(&config).await;
    pair(&system, &friend, std::slice::from_ref(&meta)).await;
    evil.set(Attack::FailReceiptUpload);
    let (version, _, text) = plaintext(friend.fetch(system.user_id(), &meta).await);
    assert_eq!((version, text), (1, doc("meta 1")));
    assert!(evil.fired() > 0, "the upload was refused");
    assert!(system.receipts(None).await.unwrap().verified.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_refuses_receipts_naming_others() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let meta = vol("meta");
    let (system, _) = system(&config).await;
    system.publish(&meta, &doc("meta 1")).await.unwrap();
    let (other_system, _) = coffer_tests::v2::system(&config).await;
    let (a, a_store) = friend(&config).await;
    let (b, b_store) = coffer_tests::v2::friend(&config).await;
    pair(&system, &a, std::slice::from_ref(&meta)).await;
    pair(&system, &b, std::slice::from_ref(&meta)).await;
    let (a_id, b_id) = (identity_of(&a_store), identity_of(&b_store));
    let (owner, stranger) = (system.user_id(), other_system.user_id());
    let api = a.relay();

    // A receipt naming another friend (signed by A, or even by B) is refused.
    for signer in [&a_id, &b_id] {
        let e = envelope(signer, owner, b.user_id(), &meta, 1, now());
        assert!(matches!(
            api.post_receipt(uid(owner), &e).await,
            Err(TransportError::BadRequest { .. })
        ));
    }
    // An owner A is not paired with: no pairing (404); the path and the receipt disagree (400).
    let e = envelope(&a_id, stranger, a.user_id(), &meta, 1, now());
    assert!(matches!(
        api.post_receipt(uid(stranger), &e).await,
        Err(TransportError::NotFound)
    ));
    assert!(matches!(
        api.post_receipt(uid(owner), &e).await,
        Err(TransportError::BadRequest { .. })
    ));
    // Signed by a key that is not A's registered one.
    let e = envelope(&Identity::generate(), owner, a.user_id(), &meta, 1, now());
    assert!(matches!(
        api.post_receipt(uid(owner), &e).await,
        Err(TransportError::Forbidden { .. })
    ));
    // More than an hour ahead of the relay's clock; an hour that is not aligned.
    let e = envelope(&a_id, owner, a.user_id(), &meta, 1, now() + 3 * 3600);
    assert!(matches!(
        api.post_receipt(uid(owner), &e).await,
        Err(TransportError::BadRequest { .. })
    ));
    let mut unaligned =
        Receipt::parse(&envelope(&a_id, owner, a.user_id(), &meta, 1, now()).receipt).unwrap();
    unaligned.hour += 1;
    let e = ReceiptEnvelope {
        receipt: unaligned.to_bytes(),
        signature: Signature64::from_bytes([0; 64]),
    };
    assert!(matches!(
        api.post_receipt(uid(owner), &e).await,
        Err(TransportError::BadRequest { .. })
    ));
    // A system cannot post receipts.
    let e = envelope(&a_id, owner, a.user_id(), &meta, 1, now());
    assert!(system.relay().post_receipt(uid(owner), &e).await.is_err());
    assert_eq!(receipt_rows(&relay), 0);

    // The well-formed one is stored and shown; the other system sees none of it.
    api.post_receipt(uid(owner), &e).await.unwrap();
    assert_eq!(
        reads(&system.receipts(None).await.unwrap().verified),
        [("meta".to_owned(), 1)]
    );
    assert!(
        other_system
            .receipts(None)
            .await
            .unwrap()
            .verified
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_are_bounded_per_pairing_oldest_dropped() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let meta = vol("meta");
    let (system, _) = system(&config).await;
    system.publish(&meta, &doc("meta 1")).await.unwrap();
    let (a, a_store) = friend(&config).await;
    pair(&system, &a, std::slice::from_ref(&meta)).await;
    let (a_id, owner) = (identity_of(&a_store), system.user_id());
    let extra = 5;
    let total = MAX_PER_PAIRING as u64 + extra;
    let at = now();
    // The first ones one by one (so they are the oldest stored, in order), the rest 16 at a
    // time.
    let sequential = 2 * extra;
    for version in 1..=sequential {
        let e = envelope(&a_id, owner, a.user_id(), &meta, version, at);
        a.relay().post_receipt(uid(owner), &e).await.unwrap();
    }
    futures_util::stream::iter(sequential + 1..=total)
        .for_each_concurrent(16, |version| {
            let e = envelope(&a_id, owner, a.user_id(), &meta, version, at);
            let api = a.relay();
            async move { api.post_receipt(uid(owner), &e).await.unwrap() }
        })
        .await;
    let seen = system.receipts(None).await.unwrap();
    assert_eq!(seen.verified.len(), MAX_PER_PAIRING);
    let mut versions: Vec<u64> = seen.verified.iter().map(|r| r.version).collect();
    versions.sort_unstable();
    assert_eq!(versions.first(), Some(&(extra + 1)));
    assert_eq!(versions.last(), Some(&total));
    assert_eq!(receipt_rows(&relay), MAX_PER_PAIRING as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpairing_and_account_deletion_drop_receipts() {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    let meta = vol("meta");
    let (system, _) = system(&config).await;
    system.publish(&meta, &doc("meta 1")).await.unwrap();
    let (a, _) = friend(&config).await;
    let (b, _) = coffer_tests::v2::friend(&config).await;
    pair(&system, &a, std::slice::from_ref(&meta)).await;
    pair(&system, &b, std::slice::from_ref(&meta)).await;
    let owner = system.user_id();
    plaintext(a.fetch(owner, &meta).await);
    plaintext(b.fetch(owner, &meta).await);
    let seen = system.receipts(None).await.unwrap();
    let mut friends: Vec<Uuid> = seen.verified.iter().map(|r| r.friend_id).collect();
    friends.sort();
    let mut expected = vec![a.user_id(), b.user_id()];
    expected.sort();
    assert_eq!(friends, expected);

    // A ends the pairing: its receipts go with it.
    a.unpair(owner).await.unwrap();
    let seen = system.receipts(None).await.unwrap();
    assert_eq!(
        seen.verified
            .iter()
            .map(|r| r.friend_id)
            .collect::<Vec<_>>(),
        [b.user_id()]
    );
    assert_eq!(receipt_rows(&relay), 1);

    // B deletes its account: nothing is left.
    b.delete_account().await.unwrap();
    assert!(system.receipts(None).await.unwrap().verified.is_empty());
    assert_eq!(receipt_rows(&relay), 0);

    // And the owner's deletion takes the rest: receipts of a friend still paired.
    let (c, _) = coffer_tests::v2::friend(&config).await;
    pair(&system, &c, std::slice::from_ref(&meta)).await;
    plaintext(c.fetch(owner, &meta).await);
    assert_eq!(receipt_rows(&relay), 1);
    system.delete_account().await.unwrap();
    assert_eq!(receipt_rows(&relay), 0);
}
