//! [`Volumes`], the owner's side: versions that only grow (also under racing uploads), exact
//! quota accounting, what a put replaced, inline payloads, `If-None-Match`, v2 epochs, and a
//! row whose payload vanished.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use coffer_relay::service::{Refusal, Stale};
use coffer_relay::storage::users::{ClientType, Users};
use coffer_relay::storage::volumes::{NewPayload, Payload, PayloadReader, Stored, Volumes};
use coffer_relay::store::volumes::VolumeRow;
use coffer_relay::store::volumes::v2::VolumeV2;

use super::harness::{account, seed_user};
use super::on_every_adapter;

const QUOTA: u64 = 1000;

fn v1(owner: &str, name: &str, version: u64, size: u64) -> VolumeRow {
    VolumeRow {
        user_id: owner.into(),
        volume_name: name.into(),
        version,
        control_header: format!("{{\"v\":{version}}}"),
        blob_file: String::new(),
        signature: [version as u8; 64],
        size_bytes: size,
        updated_at: 1_700_002_800,
    }
}

fn v2(owner: &str, name: &str, epoch: u32, version: u64, size: u64) -> VolumeV2 {
    VolumeV2 {
        user_id: owner.into(),
        volume_name: name.into(),
        epoch,
        version,
        header: vec![epoch as u8, version as u8],
        signature: [9; 64],
        blob_file: String::new(),
        size_bytes: size,
        updated_at: 1_700_002_800,
    }
}

/// A blob store for the reader: names to bytes (what the caller's blob store holds).
#[derive(Clone, Default)]
struct Blobs(Arc<Mutex<HashMap<String, Vec<u8>>>>);

impl Blobs {
    fn put(&self, name: &str, bytes: &[u8]) -> NewPayload {
        self.0.lock().unwrap().insert(name.into(), bytes.to_vec());
        NewPayload::Blob(name.into())
    }

    fn reader(&self, since: Option<u64>) -> PayloadReader {
        let blobs = self.clone();
        PayloadReader {
            since,
            max: QUOTA,
            blob: Box::new(move |name| {
                Ok(blobs
                    .0
                    .lock()
                    .unwrap()
                    .get(name)
                    .cloned()
                    .map(Payload::Bytes))
            }),
        }
    }
}

fn bytes_of(payload: Payload) -> Vec<u8> {
    match payload {
        Payload::Bytes(b) => b,
        other => panic!("expected bytes, got {other:?}"),
    }
}

async fn usage<S: Users>(s: &S, id: &str) -> u64 {
    s.user(id.into()).await.unwrap().unwrap().storage_used_bytes
}

/// A version is stored only above the stored one; the stale answer names it; the owner's
/// usage follows replacements exactly; a put answers the replaced blob (an inline payload
/// goes with its row, so it is never answered).
async fn v1_versions_grow_and_usage_is_exact<S: Users + Volumes>(s: &S) {
    seed_user(s, account("o", None, ClientType::System)).await;
    let blobs = Blobs::default();
    let put = |row, payload| s.put_v1_volume(row, payload, QUOTA);
    assert_eq!(
        put(v1("o", "a", 1, 100), blobs.put("b1", &[1; 100]))
            .await
            .unwrap(),
        Ok(Stored::default())
    );
    assert_eq!(usage(s, "o").await, 100);
    let stale = put(v1("o", "a", 1, 10), NewPayload::Inline(vec![2; 10]))
        .await
        .unwrap();
    assert_eq!(
        stale,
        Err(Refusal::Stale(Stale::Version { current: 1, got: 1 }))
    );
    assert_eq!(usage(s, "o").await, 100, "a refused put changes nothing");
    let replaced = put(v1("o", "a", 5, 10), NewPayload::Inline(vec![2; 10]))
        .await
        .unwrap();
    assert_eq!(replaced.unwrap().replaced_blob.as_deref(), Some("b1"));
    assert_eq!(usage(s, "o").await, 10);
    let after_inline = put(v1("o", "a", 6, 20), blobs.put("b6", &[3; 20]))
        .await
        .unwrap();
    assert_eq!(
        after_inline,
        Ok(Stored {
            replaced_blob: None
        }),
        "inline went with its row"
    );
    let base = s.v1_upload_base("o".into(), "a".into()).await.unwrap();
    assert_eq!(base.stored, Some((6, 20)));
    assert_eq!(base.user.unwrap().id, "o");
    let none = s.v1_upload_base("nobody".into(), "a".into()).await.unwrap();
    assert!(none.user.is_none() && none.stored.is_none());
    let served = s
        .v1_volume_for_owner("o".into(), "a".into(), blobs.reader(None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(served.row.version, 6);
    assert_eq!(served.row.control_header, "{\"v\":6}");
    assert_eq!(bytes_of(served.payload), vec![3; 20]);
    let current = s
        .v1_volume_for_owner("o".into(), "a".into(), blobs.reader(Some(6)))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(current.payload, Payload::NotModified));
    let missing = s
        .v1_volume_for_owner("o".into(), "zz".into(), blobs.reader(None))
        .await
        .unwrap();
    assert_eq!(missing.unwrap_err(), Refusal::NotFound("Volume not found"));
}

/// The quota counts every volume; a put over it is refused with nothing stored.
async fn quota_is_checked_with_the_write<S: Users + Volumes>(s: &S) {
    seed_user(s, account("q", None, ClientType::System)).await;
    let ok = s
        .put_v1_volume(
            v1("q", "a", 1, 600),
            NewPayload::Inline(vec![0; 600]),
            QUOTA,
        )
        .await
        .unwrap();
    assert!(ok.is_ok());
    let over = s
        .put_v1_volume(
            v1("q", "b", 1, 401),
            NewPayload::Inline(vec![0; 401]),
            QUOTA,
        )
        .await
        .unwrap();
    assert_eq!(
        over,
        Err(Refusal::PayloadTooLarge("Storage quota exceeded".into()))
    );
    // Replacing a volume frees its old size first.
    let replace = s
        .put_v1_volume(
            v1("q", "a", 2, 1000),
            NewPayload::Inline(vec![0; 1000]),
            QUOTA,
        )
        .await
        .unwrap();
    assert!(replace.is_ok());
    assert_eq!(usage(s, "q").await, 1000);
    let names: Vec<String> = s
        .v1_volumes("q".into())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.volume_name)
        .collect();
    assert_eq!(names, ["a"]);
}

/// Racing uploads of one version: exactly one is stored; racing uploads of different volumes
/// near the quota: the sum never exceeds it and the usage equals the stored sizes.
async fn racing_uploads_keep_versions_and_quota<S: Users + Volumes + Sync>(s: &S) {
    seed_user(s, account("r", None, ClientType::System)).await;
    let same = (0..6).map(|i| {
        s.put_v1_volume(
            v1("r", "x", 3, 10 + i),
            NewPayload::Inline(vec![0; 10 + i as usize]),
            QUOTA,
        )
    });
    let outcomes = futures_util::future::join_all(same).await;
    let stored = outcomes.iter().filter(|o| matches!(o, Ok(Ok(_)))).count();
    assert_eq!(stored, 1, "{outcomes:?}");
    let racing = (0..8).map(|i| {
        s.put_v1_volume(
            v1("r", &format!("v{i}"), 1, 300),
            NewPayload::Inline(vec![0; 300]),
            QUOTA,
        )
    });
    let outcomes = futures_util::future::join_all(racing).await;
    let stored_sizes: u64 = s
        .v1_volumes("r".into())
        .await
        .unwrap()
        .iter()
        .map(|r| r.size_bytes)
        .sum();
    assert!(stored_sizes <= QUOTA, "{outcomes:?}");
    assert_eq!(usage(s, "r").await, stored_sizes);
    // 10..15 bytes of "x", then 300-byte volumes while they fit: exactly 3.
    assert_eq!(
        outcomes.iter().filter(|o| matches!(o, Ok(Ok(_)))).count(),
        3,
        "{outcomes:?}"
    );
}

/// v2: a version must grow and its epoch must not fall; the listing comes by name.
async fn v2_versions_and_epochs<S: Users + Volumes>(s: &S) {
    seed_user(s, account("w", None, ClientType::System)).await;
    let blobs = Blobs::default();
    let put = |row, payload| s.put_v2_volume(row, payload, QUOTA);
    assert!(
        put(v2("w", "m", 2, 1, 50), blobs.put("m1", &[7; 50]))
            .await
            .unwrap()
            .is_ok()
    );
    let older_epoch = put(v2("w", "m", 1, 2, 50), NewPayload::Inline(vec![0; 50]))
        .await
        .unwrap();
    assert_eq!(
        older_epoch,
        Err(Refusal::Stale(Stale::V2 {
            current_version: 1,
            current_epoch: 2,
            got: 2
        }))
    );
    let same_version = put(v2("w", "m", 3, 1, 50), NewPayload::Inline(vec![0; 50]))
        .await
        .unwrap();
    assert!(matches!(same_version, Err(Refusal::Stale(_))));
    let newer = put(v2("w", "m", 3, 2, 40), NewPayload::Inline(vec![8; 40]))
        .await
        .unwrap();
    assert_eq!(newer.unwrap().replaced_blob.as_deref(), Some("m1"));
    assert!(
        put(v2("w", "b", 1, 1, 5), NewPayload::Inline(vec![1; 5]))
            .await
            .unwrap()
            .is_ok()
    );
    assert_eq!(usage(s, "w").await, 45);
    let (volumes, tombstones) = s.v2_volumes("w".into()).await.unwrap();
    let listed: Vec<(String, u32, u64)> = volumes
        .into_iter()
        .map(|v| (v.volume_name, v.epoch, v.version))
        .collect();
    assert_eq!(listed, [("b".into(), 1, 1), ("m".into(), 3, 2)]);
    assert!(tombstones.is_empty());
    let base = s.v2_upload_base("w".into(), "m".into()).await.unwrap();
    assert_eq!(base.stored, Some((3, 2, 40)));
    let served = s
        .v2_volume_for_owner("w".into(), "m".into(), blobs.reader(None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(served.row.header, vec![3, 2]);
    assert_eq!(bytes_of(served.payload), vec![8; 40]);
    assert!(
        s.v2_tombstone_for_owner("w".into(), "m".into())
            .await
            .unwrap()
            .is_none()
    );
}

/// A row whose blob is gone is looked up once more, then reported as a storage failure (never
/// served as empty).
async fn a_missing_blob_is_a_storage_failure<S: Users + Volumes>(s: &S) {
    seed_user(s, account("g", None, ClientType::System)).await;
    let blobs = Blobs::default();
    let stored = s
        .put_v1_volume(
            v1("g", "a", 1, 4),
            NewPayload::Blob("never-written".into()),
            QUOTA,
        )
        .await
        .unwrap();
    assert!(stored.is_ok());
    let served = s
        .v1_volume_for_owner("g".into(), "a".into(), blobs.reader(None))
        .await;
    assert!(served.is_err(), "{served:?}");
}

on_every_adapter!(
    v1_versions_grow_and_usage_is_exact,
    quota_is_checked_with_the_write,
    racing_uploads_keep_versions_and_quota,
    v2_versions_and_epochs,
    a_missing_blob_is_a_storage_failure,
);
