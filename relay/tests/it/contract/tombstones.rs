//! [`Tombstones`]: deleting a live v2 volume in favour of the owner's signed tombstone (the
//! volume seeded through [`Volumes`]), and the tombstone served in its place.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use coffer_relay::service::{Refusal, Stale};
use coffer_relay::storage::devices::UserCheck;
use coffer_relay::storage::tombstones::{DeletedVolume, Tombstones};
use coffer_relay::storage::users::{ClientType, Users};
use coffer_relay::storage::volumes::{NewPayload, Volumes};
use coffer_relay::store::tombstones::TombstoneRow;
use coffer_relay::store::volumes::v2::VolumeV2;
use futures_util::future::join_all;

use super::harness::{account, seed_user, warm};
use super::on_every_adapter;

const NO_VOLUME: Refusal = Refusal::NotFound("Volume not found");

fn tombstone(owner: &str, volume: &str, epoch: u32, version: u64) -> TombstoneRow {
    TombstoneRow {
        user_id: owner.into(),
        volume_name: volume.into(),
        epoch,
        version,
        hour: 1_700_002_800,
        tombstone: vec![version as u8, 0x00, 0xff, epoch as u8],
        signature: [version as u8; 64],
    }
}

fn accept() -> UserCheck {
    Box::new(|_| Ok(()))
}

/// A missing account is refused before the check runs; the check runs on the stored account
/// and its refusal is the answer; with no live volume of that name the answer is 404 — and
/// none of them stores a tombstone.
async fn deletions_are_refused_in_order_without_a_volume<S: Tombstones + Users>(s: &S) {
    seed_user(s, account("sys", None, ClientType::System)).await;
    let key = account("sys", None, ClientType::System).public_signing_key;

    let ran = Arc::new(AtomicBool::new(false));
    let check: UserCheck = {
        let ran = Arc::clone(&ran);
        Box::new(move |_| {
            ran.store(true, Ordering::SeqCst);
            Ok(())
        })
    };
    let missing = s
        .delete_volume_signed(tombstone("nobody", "notes", 1, 2), check)
        .await
        .unwrap();
    assert_eq!(missing, Err(Refusal::Unauthorized("User not found")));
    assert!(
        !ran.load(Ordering::SeqCst),
        "no account: the check is not run"
    );

    // The check comes before the volume is looked up: its refusal, even with no volume.
    let refuse: UserCheck = Box::new(move |u| {
        assert_eq!((u.id.as_str(), u.public_signing_key), ("sys", key));
        Err(Refusal::Forbidden("Invalid tombstone signature"))
    });
    let refused = s
        .delete_volume_signed(tombstone("sys", "notes", 1, 2), refuse)
        .await
        .unwrap();
    assert_eq!(
        refused,
        Err(Refusal::Forbidden("Invalid tombstone signature"))
    );

    let none = s
        .delete_volume_signed(tombstone("sys", "notes", 1, 2), accept())
        .await
        .unwrap();
    assert_eq!(none, Err(NO_VOLUME));
    for (owner, volume) in [("sys", "notes"), ("nobody", "notes"), ("sys", "other")] {
        assert!(
            s.tombstone(owner.into(), volume.into())
                .await
                .unwrap()
                .is_none()
        );
    }
    // The account is still there, untouched.
    let user = s.user("sys".into()).await.unwrap().unwrap();
    assert_eq!(user.storage_used_bytes, 0);
}

const MAX: u64 = 1 << 30;

async fn upload<S: Volumes>(s: &S, name: &str, epoch: u32, version: u64, size: u64) {
    let row = VolumeV2 {
        user_id: "sys".into(),
        volume_name: name.into(),
        epoch,
        version,
        header: vec![1, 2, 3],
        signature: [9; 64],
        blob_file: String::new(),
        size_bytes: size,
        updated_at: 1_700_002_800,
    };
    let blob = NewPayload::Blob(format!("sys/{name}.v{version}.bin"));
    s.put_v2_volume(row, blob, MAX).await.unwrap().unwrap();
}

async fn used<S: Users>(s: &S) -> u64 {
    s.user("sys".into())
        .await
        .unwrap()
        .unwrap()
        .storage_used_bytes
}

fn stale(current_version: u64, current_epoch: u32, got: u64) -> Refusal {
    Refusal::Stale(Stale::V2 {
        current_version,
        current_epoch,
        got,
    })
}

/// `Stale` (with the stored version and epoch) for a tombstone whose version is not above
/// the volume's or whose epoch is older; nothing changes then. A deletion answers the blob
/// it freed and its size, frees the owner's storage, removes the volume and stores the
/// tombstone byte for byte; the volume is then not found. A tombstone replaces an older one
/// of the same volume (deleted, uploaded above, deleted again).
async fn a_deletion_needs_a_newer_tombstone_and_frees_the_volume<
    S: Tombstones + Volumes + Users,
>(
    s: &S,
) {
    seed_user(s, account("sys", None, ClientType::System)).await;
    upload(s, "notes", 2, 3, 10).await;
    upload(s, "keep", 1, 1, 5).await;
    assert_eq!(used(s).await, 15);

    for (epoch, version) in [(2, 3), (2, 2), (1, 4), (3, 3)] {
        let refused = s
            .delete_volume_signed(tombstone("sys", "notes", epoch, version), accept())
            .await
            .unwrap();
        assert_eq!(refused, Err(stale(3, 2, version)), "({epoch}, {version})");
    }
    assert!(
        s.tombstone("sys".into(), "notes".into())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(used(s).await, 15);

    let freed = s
        .delete_volume_signed(tombstone("sys", "notes", 2, 4), accept())
        .await
        .unwrap();
    assert_eq!(
        freed,
        Ok(DeletedVolume {
            blob: "sys/notes.v3.bin".into(),
            size: 10
        })
    );
    assert_eq!(used(s).await, 5);
    let stored = s
        .tombstone("sys".into(), "notes".into())
        .await
        .unwrap()
        .unwrap();
    let want = tombstone("sys", "notes", 2, 4);
    assert_eq!(
        (
            stored.user_id,
            stored.volume_name,
            stored.epoch,
            stored.version,
            stored.hour,
            stored.tombstone,
            stored.signature
        ),
        (
            want.user_id,
            want.volume_name,
            want.epoch,
            want.version,
            want.hour,
            want.tombstone,
            want.signature
        )
    );
    let (volumes, tombstones) = s.v2_volumes("sys".into()).await.unwrap();
    let names: Vec<_> = volumes.iter().map(|v| v.volume_name.as_str()).collect();
    assert_eq!(names, ["keep"]);
    assert_eq!(tombstones.len(), 1);

    let again = s
        .delete_volume_signed(tombstone("sys", "notes", 2, 9), accept())
        .await
        .unwrap();
    assert_eq!(again, Err(NO_VOLUME));
    assert_eq!(
        s.tombstone("sys".into(), "notes".into())
            .await
            .unwrap()
            .unwrap()
            .version,
        4
    );

    // Revived above the tombstone, deleted again: the new tombstone replaces the old one.
    upload(s, "notes", 3, 6, 7).await;
    assert!(
        s.tombstone("sys".into(), "notes".into())
            .await
            .unwrap()
            .is_none()
    );
    let freed = s
        .delete_volume_signed(tombstone("sys", "notes", 3, 8), accept())
        .await
        .unwrap();
    assert_eq!(
        freed,
        Ok(DeletedVolume {
            blob: "sys/notes.v6.bin".into(),
            size: 7
        })
    );
    let stored = s
        .tombstone("sys".into(), "notes".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.epoch, stored.version), (3, 8));
    assert_eq!(used(s).await, 5);
}

/// Concurrent deletions of one volume: exactly one deletes it (and frees its storage once);
/// the others find no volume.
async fn concurrent_deletions_free_a_volume_once<S: Tombstones + Volumes + Users + Sync>(s: &S) {
    seed_user(s, account("sys", None, ClientType::System)).await;
    upload(s, "notes", 1, 1, 10).await;
    upload(s, "keep", 1, 1, 5).await;
    warm(s).await;
    let deletions =
        (2..10u64).map(|v| s.delete_volume_signed(tombstone("sys", "notes", 1, v), accept()));
    let outcomes: Vec<_> = join_all(deletions)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let freed = || DeletedVolume {
        blob: "sys/notes.v1.bin".into(),
        size: 10,
    };
    assert_eq!(
        outcomes.iter().filter(|o| **o == Ok(freed())).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| *o == Ok(freed()) || *o == Err(NO_VOLUME)),
        "{outcomes:?}"
    );
    assert_eq!(used(s).await, 5);
    assert!(
        s.tombstone("sys".into(), "notes".into())
            .await
            .unwrap()
            .is_some()
    );
}

/// A volume whose payload the metadata store holds (inline) is deleted with its row: the
/// answer names no blob file (an inline name, which the blob store ignores). Tombstones go with
/// the account.
async fn inline_volumes_and_tombstones_go_with_their_rows<S: Tombstones + Volumes + Users>(s: &S) {
    seed_user(s, account("sys", None, ClientType::System)).await;
    let row = VolumeV2 {
        user_id: "sys".into(),
        volume_name: "small".into(),
        epoch: 1,
        version: 1,
        header: vec![1],
        signature: [9; 64],
        blob_file: String::new(),
        size_bytes: 3,
        updated_at: 1_700_002_800,
    };
    s.put_v2_volume(row, NewPayload::Inline(vec![1, 2, 3]), MAX)
        .await
        .unwrap()
        .unwrap();
    let freed = s
        .delete_volume_signed(tombstone("sys", "small", 1, 2), accept())
        .await
        .unwrap()
        .unwrap();
    assert!(
        freed.blob.starts_with("inline:sys/small."),
        "{}",
        freed.blob
    );
    assert_eq!(freed.size, 3);
    assert_eq!(used(s).await, 0);
    assert!(
        s.tombstone("sys".into(), "small".into())
            .await
            .unwrap()
            .is_some()
    );

    assert!(s.delete_user("sys".into()).await.unwrap());
    assert!(
        s.tombstone("sys".into(), "small".into())
            .await
            .unwrap()
            .is_none()
    );
}

on_every_adapter!(
    inline_volumes_and_tombstones_go_with_their_rows,
    deletions_are_refused_in_order_without_a_volume,
    a_deletion_needs_a_newer_tombstone_and_frees_the_volume,
    concurrent_deletions_free_a_volume_once,
);
