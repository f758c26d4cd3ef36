//! [`Receipts`]: a friend's receipts on its pairing, checked against its stored account, kept
//! once per version, capped per pairing, listed to the system newest-last.

use std::sync::{Arc, Mutex};

use coffer_relay::service::Refusal;
use coffer_relay::storage::pairings::Pairings;
use coffer_relay::storage::receipts::Receipts;
use coffer_relay::storage::users::{ClientType, Users};
use coffer_relay::store::receipts::{MAX_PER_PAIRING, StoredReceipt};

use super::harness::seed_user;
use super::on_every_adapter;
use super::pairings::{HOUR, receipt, replica_pair, seed_v2_pair, v2_account};

async fn put<S: Receipts>(
    s: &S,
    owner: &str,
    friend: &str,
    r: StoredReceipt,
) -> Result<(), Refusal> {
    s.put_receipt(owner.into(), friend.into(), r, Box::new(|_| Ok(())))
        .await
        .unwrap()
}

/// (volume, version, mark) of each listed receipt, in the listing's order.
async fn listed<S: Receipts>(s: &S, owner: &str, since: u64) -> Vec<(String, u64, u8)> {
    s.receipts_of_owner(owner.into(), since)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.volume_name, r.version, r.signature[0]))
        .collect()
}

/// Refusals: no pairing of the two 404 (either way round); the check's refusal, which is
/// given the friend's stored account. A stored receipt is listed as given.
async fn receipts_need_a_pairing_and_the_check<S: Users + Pairings + Receipts>(s: &S) {
    seed_v2_pair(s, "sys", "fr").await;
    assert_eq!(
        put(s, "sys", "fr", receipt("org.example.a", 1, 1)).await,
        Err(Refusal::NotFound("Pairing not found"))
    );
    replica_pair(s, "p1", "sys", "fr").await;
    assert_eq!(
        put(s, "fr", "sys", receipt("org.example.a", 1, 1)).await,
        Err(Refusal::NotFound("Pairing not found"))
    );
    let seen = Arc::new(Mutex::new(None));
    let record = Arc::clone(&seen);
    let refused = s
        .put_receipt(
            "sys".into(),
            "fr".into(),
            receipt("org.example.a", 1, 1),
            Box::new(move |user| {
                *record.lock().unwrap() = Some((user.id.clone(), user.public_signing_key));
                Err(Refusal::Forbidden("Invalid receipt signature"))
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        refused,
        Err(Refusal::Forbidden("Invalid receipt signature"))
    );
    let fr = v2_account("fr", ClientType::Friend);
    assert_eq!(
        *seen.lock().unwrap(),
        Some(("fr".to_owned(), fr.public_signing_key))
    );
    assert!(listed(s, "sys", 0).await.is_empty());

    assert_eq!(
        put(s, "sys", "fr", receipt("org.example.a", 3, 2)).await,
        Ok(())
    );
    let all = s.receipts_of_owner("sys".into(), 0).await.unwrap();
    assert_eq!(all.len(), 1);
    let r = &all[0];
    assert_eq!(
        (
            r.volume_name.as_str(),
            r.epoch,
            r.version,
            r.hour,
            r.receipt.as_slice(),
            r.signature
        ),
        ("org.example.a", 1, 3, HOUR as u64, &[2u8; 8][..], [2; 64])
    );
    // The friend is no system: it lists nothing.
    assert!(listed(s, "fr", 0).await.is_empty());
}

/// A receipt for a version on record is kept once (the first stays); one the schema refuses
/// (epoch or version 0, an hour not on the hour) is skipped without an error, as SQLite's
/// `INSERT OR IGNORE` does.
async fn a_version_is_kept_once<S: Users + Pairings + Receipts>(s: &S) {
    seed_v2_pair(s, "sys", "fr").await;
    replica_pair(s, "p1", "sys", "fr").await;
    assert_eq!(
        put(s, "sys", "fr", receipt("org.example.a", 1, 1)).await,
        Ok(())
    );
    assert_eq!(
        put(s, "sys", "fr", receipt("org.example.a", 1, 2)).await,
        Ok(())
    );
    assert_eq!(
        put(s, "sys", "fr", receipt("org.example.b", 1, 3)).await,
        Ok(())
    );
    let mut zero_epoch = receipt("org.example.a", 5, 4);
    zero_epoch.epoch = 0;
    let zero_version = receipt("org.example.a", 0, 5);
    let mut odd_hour = receipt("org.example.a", 6, 6);
    odd_hour.hour += 1;
    for skipped in [zero_epoch, zero_version, odd_hour] {
        assert_eq!(put(s, "sys", "fr", skipped).await, Ok(()));
    }
    assert_eq!(
        listed(s, "sys", 0).await,
        [
            ("org.example.a".to_owned(), 1, 1),
            ("org.example.b".to_owned(), 1, 3)
        ]
    );
}

/// The listing: every pairing where the owner is the system, hours ≥ `since`, oldest first.
async fn receipts_are_listed_to_the_system_since_an_hour<S: Users + Pairings + Receipts>(s: &S) {
    seed_v2_pair(s, "sys", "fr").await;
    seed_user(s, v2_account("fr2", ClientType::Friend)).await;
    seed_user(s, v2_account("sys2", ClientType::System)).await;
    replica_pair(s, "p1", "sys", "fr").await;
    replica_pair(s, "p2", "sys", "fr2").await;
    replica_pair(s, "p3", "sys2", "fr").await;
    let at = |version: u64, hour: i64, mark: u8| {
        let mut r = receipt("org.example.a", version, mark);
        r.hour = hour as u64;
        r
    };
    assert_eq!(put(s, "sys", "fr", at(1, HOUR - 7200, 1)).await, Ok(()));
    assert_eq!(put(s, "sys", "fr2", at(1, HOUR - 3600, 2)).await, Ok(()));
    assert_eq!(put(s, "sys2", "fr", at(1, HOUR, 3)).await, Ok(()));
    assert_eq!(put(s, "sys", "fr", at(2, HOUR, 4)).await, Ok(()));
    assert_eq!(put(s, "sys", "fr2", at(2, HOUR - 7200, 5)).await, Ok(()));
    let marks = |l: Vec<(String, u64, u8)>| -> Vec<u8> { l.into_iter().map(|r| r.2).collect() };
    assert_eq!(marks(listed(s, "sys", 0).await), [1, 2, 4, 5]);
    assert_eq!(marks(listed(s, "sys", (HOUR - 3600) as u64).await), [2, 4]);
    assert_eq!(marks(listed(s, "sys", HOUR as u64).await), [4]);
    assert!(listed(s, "sys", (HOUR + 1) as u64).await.is_empty());
    assert_eq!(marks(listed(s, "sys2", 0).await), [3]);
}

/// A pairing keeps at most [`MAX_PER_PAIRING`] receipts, the newest: also when the last ones
/// arrive concurrently. Another pairing's receipts are not counted.
async fn receipts_are_capped_per_pairing_under_concurrency<
    S: Users + Pairings + Receipts + Sync,
>(
    s: &S,
) {
    seed_v2_pair(s, "sys", "fr").await;
    seed_user(s, v2_account("fr2", ClientType::Friend)).await;
    replica_pair(s, "p1", "sys", "fr").await;
    replica_pair(s, "p2", "sys", "fr2").await;
    let cap = MAX_PER_PAIRING as u64;
    assert_eq!(
        put(s, "sys", "fr2", receipt("org.other", 1, 9)).await,
        Ok(())
    );
    for version in 1..=cap - 5 {
        assert_eq!(
            put(s, "sys", "fr", receipt("org.example.a", version, 1)).await,
            Ok(())
        );
    }
    let last = (cap - 4..=cap + 5).map(|version| async move {
        put(s, "sys", "fr", receipt("org.example.a", version, 2)).await
    });
    let outcomes = futures_util::future::join_all(last).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let all = listed(s, "sys", 0).await;
    let of_fr: Vec<u64> = all
        .iter()
        .filter(|r| r.0 == "org.example.a")
        .map(|r| r.1)
        .collect();
    assert_eq!(of_fr.len(), MAX_PER_PAIRING, "the cap holds");
    // The five oldest went; the ten concurrent ones are all kept.
    let mut sorted = of_fr.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (6..=cap + 5).collect::<Vec<_>>());
    assert_eq!(
        &of_fr[..cap as usize - 10],
        &(6..=cap - 5).collect::<Vec<_>>()[..]
    );
    assert_eq!(
        all[0],
        ("org.other".to_owned(), 1, 9),
        "the other pairing's stays"
    );
}

on_every_adapter!(
    receipts_need_a_pairing_and_the_check,
    a_version_is_kept_once,
    receipts_are_listed_to_the_system_since_an_hour,
    receipts_are_capped_per_pairing_under_concurrency,
);
