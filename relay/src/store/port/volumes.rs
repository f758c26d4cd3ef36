//! [`Volumes`] on SQLite: `store::volumes` (v1 and v2 rows), `store::inline` (small payloads
//! in the row's transaction), `store::tombstones`, and the lookups a download authorises with.

use coffer_wire::v1::{Permissions, VolumeName};
use rusqlite::Connection;

use super::SqliteStore;
use super::grants::live_grant_in;
use crate::service::volumes::over_quota;
use crate::service::{Decision, Refusal, Stale};
use crate::storage::volumes::{
    NO_RELATIONSHIP, NOT_FOUND, NOT_SHARED, NewPayload, Payload, PayloadReader, PayloadRow, Served,
    SharedV2, Stored, UploadBase, Volumes, granted_key, name_payload, permissions_of,
};
use crate::storage::{DecisionFuture, StoreFuture};
use crate::store::tombstones::{self, TombstoneRow};
use crate::store::users;
use crate::store::volumes::{self, VolumeRow, v2};
use crate::store::{Db, StoreError, inline};

/// Runs `lookup` (authorises and finds the row, with anything to send along) and reads the
/// payload the row names, unless `read.since` is already current: an inline payload from the
/// row's own snapshot, a blob through `read.blob`.
///
/// If an upload replaced the blob between the row read and the blob read, the lookup runs once
/// more on a fresh snapshot ([`Db::renew_snapshot`]: the read transaction would otherwise show
/// the same replaced row again); a row still naming a missing payload is a storage failure
/// (logged).
fn with_payload<R: PayloadRow, E>(
    c: &Connection,
    read: &PayloadReader,
    lookup: impl Fn(&Connection) -> Decision<(R, E)>,
) -> Decision<(Served<R>, E)> {
    for attempt in 0..2 {
        if attempt > 0 {
            Db::renew_snapshot(c)?;
        }
        let (row, extra) = match lookup(c)? {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        if read.since.is_some_and(|seen| seen >= row.version()) {
            let payload = Payload::NotModified;
            return Ok(Ok((Served { row, payload }, extra)));
        }
        let payload = if inline::is_inline(row.blob_file()) {
            inline::read(c, row.blob_file(), read.max)?.map(Payload::Bytes)
        } else {
            (read.blob)(row.blob_file())?
        };
        if let Some(payload) = payload {
            return Ok(Ok((Served { row, payload }, extra)));
        }
    }
    tracing::error!("a volume row points at a missing payload");
    Err(StoreError::Corrupt(
        "a volume row points at a missing blob file",
    ))
}

/// After a put: stores an inline payload if the row was stored (it is durable with the row),
/// and answers the replaced blob if it is the blob store's (a replaced inline payload went
/// with its row).
fn finish_put(
    c: &Connection,
    decided: Result<Option<String>, Refusal>,
    blob_file: &str,
    inline_bytes: Option<Vec<u8>>,
) -> Decision<Stored> {
    let replaced = match decided {
        Ok(replaced) => replaced,
        Err(refused) => return Ok(Err(refused)),
    };
    if let Some(bytes) = inline_bytes {
        inline::insert(c, blob_file, &bytes)?;
    }
    Ok(Ok(Stored {
        replaced_blob: replaced.filter(|old| !inline::is_inline(old)),
    }))
}

/// A v2 volume of `owner` by name, or 404.
fn own_v2(c: &Connection, owner: &str, name: &str) -> Decision<v2::VolumeV2> {
    Ok(v2::volume(c, owner, name)?.ok_or(Refusal::NotFound(NOT_FOUND)))
}

impl Volumes for SqliteStore {
    fn v1_upload_base(
        &self,
        owner: String,
        name: String,
    ) -> StoreFuture<'_, UploadBase<(u64, u64)>> {
        // Two indexed rows of the caller, just authorised: read in place (docs/adr/0035).
        Box::pin(self.db.read_point(move |c| {
            Ok(UploadBase {
                user: users::get(c, &owner)?,
                stored: volumes::version_and_size(c, &owner, &name)?,
            })
        }))
    }

    fn v2_upload_base(
        &self,
        owner: String,
        name: String,
    ) -> StoreFuture<'_, UploadBase<(u32, u64, u64)>> {
        // As v1's: read in place.
        Box::pin(self.db.read_point(move |c| {
            Ok(UploadBase {
                user: users::get(c, &owner)?,
                stored: v2::volume_state(c, &owner, &name)?,
            })
        }))
    }

    fn put_v1_volume(
        &self,
        mut row: VolumeRow,
        payload: NewPayload,
        max_user_storage: u64,
    ) -> DecisionFuture<'_, Stored> {
        Box::pin(self.db.write(move |tx| {
            let (owner, volume) = (row.user_id.clone(), row.volume_name.clone());
            let bytes = name_payload(payload, &mut row.blob_file, &owner, &volume, row.version);
            let decided = match volumes::put(tx, &row, max_user_storage)? {
                volumes::PutOutcome::Stored { replaced_blob } => Ok(replaced_blob),
                volumes::PutOutcome::Stale { current } => Err(Refusal::Stale(Stale::Version {
                    current,
                    got: row.version,
                })),
                volumes::PutOutcome::OverQuota => Err(over_quota()),
            };
            finish_put(tx, decided, &row.blob_file, bytes)
        }))
    }

    fn put_v2_volume(
        &self,
        mut row: v2::VolumeV2,
        payload: NewPayload,
        max_user_storage: u64,
    ) -> DecisionFuture<'_, Stored> {
        Box::pin(self.db.write(move |tx| {
            let (owner, volume) = (row.user_id.clone(), row.volume_name.clone());
            let bytes = name_payload(payload, &mut row.blob_file, &owner, &volume, row.version);
            let decided = match v2::put_volume(tx, &row, max_user_storage)? {
                v2::PutOutcome::Stored { replaced_blob } => Ok(replaced_blob),
                v2::PutOutcome::Stale {
                    current_version,
                    current_epoch,
                } => Err(Refusal::Stale(Stale::V2 {
                    current_version,
                    current_epoch,
                    got: row.version,
                })),
                v2::PutOutcome::OverQuota => Err(over_quota()),
            };
            finish_put(tx, decided, &row.blob_file, bytes)
        }))
    }

    fn v1_volumes(&self, owner: String) -> StoreFuture<'_, Vec<VolumeRow>> {
        Box::pin(self.db.read(move |c| volumes::list_for_user(c, &owner)))
    }

    fn v1_volumes_for_friend(
        &self,
        system: String,
        friend: String,
    ) -> DecisionFuture<'_, (Permissions, Vec<VolumeRow>)> {
        Box::pin(self.db.read(move |c| {
            let Some(rel) = crate::store::sharing::active_between(c, &system, &friend)? else {
                return Ok(Err(Refusal::Forbidden(NO_RELATIONSHIP)));
            };
            let rows = volumes::list_for_user(c, &system)?;
            Ok(Ok((permissions_of(&rel.permissions), rows)))
        }))
    }

    fn v2_volumes(&self, owner: String) -> StoreFuture<'_, (Vec<v2::VolumeV2>, Vec<TombstoneRow>)> {
        Box::pin(self.db.read(move |c| {
            Ok((
                v2::volumes_of(c, &owner)?,
                tombstones::tombstones_of(c, &owner)?,
            ))
        }))
    }

    fn v1_volume_for_owner(
        &self,
        owner: String,
        name: String,
        read: PayloadReader,
    ) -> DecisionFuture<'_, Served<VolumeRow>> {
        Box::pin(self.db.read(move |c| {
            let found = with_payload(c, &read, |c| {
                Ok(volumes::get(c, &owner, &name)?
                    .map(|row| (row, ()))
                    .ok_or(Refusal::NotFound(NOT_FOUND)))
            })?;
            Ok(found.map(|(served, ())| served))
        }))
    }

    fn v1_volume_for_friend(
        &self,
        system: String,
        friend: String,
        name: VolumeName,
        read: PayloadReader,
    ) -> DecisionFuture<'_, (Served<VolumeRow>, Option<Vec<u8>>)> {
        Box::pin(self.db.read(move |c| {
            with_payload(c, &read, |c| {
                let Some(found) = volumes::friend_download(c, &system, &friend, name.as_str())?
                else {
                    return Ok(Err(Refusal::Forbidden(NO_RELATIONSHIP)));
                };
                if !permissions_of(&found.permissions).allows(name) {
                    return Ok(Err(Refusal::Forbidden(NOT_SHARED)));
                }
                let Some(row) = found.volume else {
                    return Ok(Err(Refusal::NotFound(NOT_FOUND)));
                };
                Ok(Ok((row, found.encrypted_vek_blob)))
            })
        }))
    }

    fn v2_volume_for_owner(
        &self,
        owner: String,
        name: String,
        read: PayloadReader,
    ) -> DecisionFuture<'_, Served<v2::VolumeV2>> {
        Box::pin(self.db.read(move |c| {
            let found = with_payload(c, &read, |c| Ok(own_v2(c, &owner, &name)?.map(|v| (v, ()))))?;
            Ok(found.map(|(served, ())| served))
        }))
    }

    fn v2_volume_for_friend(
        &self,
        owner: String,
        friend: String,
        name: String,
        read: PayloadReader,
    ) -> DecisionFuture<'_, SharedV2> {
        Box::pin(self.db.read(move |c| {
            let found = with_payload(c, &read, |c| {
                let live = match live_grant_in(c, &owner, &friend)? {
                    Ok(live) => live,
                    Err(refused) => return Ok(Err(refused)),
                };
                // Decided from the grant before the volume is looked up, so a name the grant
                // does not name reads the same whether the owner stores it or not (no
                // existence oracle).
                if live.grant.epoch_of(&name).is_none() {
                    return Ok(Err(Refusal::Forbidden(NOT_SHARED)));
                }
                let v = match own_v2(c, &owner, &name)? {
                    Ok(v) => v,
                    Err(missing) => return Ok(Err(missing)),
                };
                Ok(granted_key(&live, &v).map(|key| (v, key)))
            })?;
            Ok(found.map(|(served, (wrapped_key, expires_at))| SharedV2 {
                served,
                wrapped_key,
                expires_at,
            }))
        }))
    }

    fn v2_tombstone_for_owner(
        &self,
        owner: String,
        name: String,
    ) -> StoreFuture<'_, Option<TombstoneRow>> {
        Box::pin(
            self.db
                .read(move |c| tombstones::tombstone(c, &owner, &name)),
        )
    }

    fn v2_tombstone_for_friend(
        &self,
        owner: String,
        friend: String,
        name: String,
    ) -> StoreFuture<'_, Option<TombstoneRow>> {
        Box::pin(self.db.read(move |c| {
            let named = matches!(
                live_grant_in(c, &owner, &friend)?,
                Ok(live) if live.grant.epoch_of(&name).is_some()
            );
            Ok(if named {
                tombstones::tombstone(c, &owner, &name)?
            } else {
                None
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::store::ClientType;
    use crate::store::blobs::BlobStore;
    use crate::store::users::User;

    fn row(version: u64, size_bytes: u64) -> VolumeRow {
        VolumeRow {
            user_id: "s".into(),
            volume_name: "meta".into(),
            version,
            control_header: "{}".into(),
            blob_file: String::new(),
            signature: [0; 64],
            size_bytes,
            updated_at: 0,
        }
    }

    fn setup() -> (tempfile::TempDir, SqliteStore, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let blobs = BlobStore::open(&dir.path().join("blobs")).unwrap();
        db.write_blocking(|tx| {
            users::insert(
                tx,
                &User {
                    id: "s".into(),
                    public_signing_key: [1; 32],
                    public_exchange_key: [2; 32],
                    handle: None,
                    client_type: ClientType::System,
                    protocol_version: 1,
                    feature_set: "[]".into(),
                    storage_used_bytes: 0,
                    created_at: 0,
                    key_binding_signature: None,
                },
            )
        })
        .unwrap();
        (dir, SqliteStore::new(db), blobs)
    }

    /// What an upload does (`service::volumes::store_upload`): the new blob, the row
    /// committed, then the old blob removed.
    fn upload(store: &SqliteStore, blobs: &BlobStore, version: u64, bytes: &[u8]) {
        let file = blobs.write("s", "meta", version, bytes).unwrap();
        let mut new = row(version, bytes.len() as u64);
        new.blob_file = file;
        let outcome = store
            .db()
            .write_blocking(|tx| volumes::put(tx, &new, u64::MAX))
            .unwrap();
        if let volumes::PutOutcome::Stored {
            replaced_blob: Some(old),
        } = outcome
        {
            blobs.remove(&old);
        }
    }

    fn reader(blobs: &BlobStore, since: Option<u64>) -> PayloadReader {
        let blobs = blobs.clone();
        PayloadReader {
            since,
            max: u64::MAX,
            blob: Box::new(move |name| Ok(blobs.read(name, u64::MAX)?.map(Payload::Bytes))),
        }
    }

    /// Caught by `coffer-bench`'s v2-mixed (a 500 among friends' fetches while their system
    /// published): the row was read, an upload replaced it and removed its blob, and the retry
    /// read the same row again from the read transaction's snapshot.
    #[test]
    fn a_blob_replaced_after_its_row_was_read_is_served_from_the_new_row() {
        let (_dir, store, blobs) = setup();
        upload(&store, &blobs, 1, b"first");
        let raced = Arc::new(AtomicBool::new(false));
        let read = reader(&blobs, None);
        let found = store
            .db()
            .read_blocking(|c| {
                with_payload(c, &read, |c| {
                    let found = volumes::get(c, "s", "meta")?.unwrap();
                    // The first time, an upload lands between the row read and the blob read.
                    if !raced.swap(true, Ordering::SeqCst) {
                        upload(&store, &blobs, 2, b"second");
                    }
                    Ok(Ok((found, ())))
                })
            })
            .unwrap()
            .unwrap();
        assert!(raced.load(Ordering::SeqCst));
        let (served, ()) = found;
        assert_eq!(served.row.version, 2);
        match served.payload {
            Payload::Bytes(bytes) => assert_eq!(bytes, b"second"),
            other => panic!("expected the new blob's bytes, got {other:?}"),
        }
    }

    /// An inline payload is stored with its row, read back by the download, and a replaced
    /// inline payload is not answered for removal (it went with its row); a replaced blob is.
    #[actix_web::test]
    async fn inline_and_blob_payloads_round_trip_and_answer_what_to_remove() {
        let (_dir, store, blobs) = setup();
        let first = store
            .put_v1_volume(row(1, 3), NewPayload::Inline(b"one".to_vec()), u64::MAX)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first, Stored::default());
        let served = store
            .v1_volume_for_owner("s".into(), "meta".into(), reader(&blobs, None))
            .await
            .unwrap()
            .unwrap();
        assert!(inline::is_inline(&served.row.blob_file));
        assert!(matches!(served.payload, Payload::Bytes(ref b) if b == b"one"));

        let file = blobs.write("s", "meta", 2, b"two!").unwrap();
        let second = store
            .put_v1_volume(row(2, 4), NewPayload::Blob(file.clone()), u64::MAX)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            second.replaced_blob, None,
            "the inline payload went with its row"
        );
        let third = store
            .put_v1_volume(row(3, 5), NewPayload::Inline(b"three".to_vec()), u64::MAX)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(third.replaced_blob, Some(file));

        let stale = store
            .put_v1_volume(row(3, 3), NewPayload::Inline(b"old".to_vec()), u64::MAX)
            .await
            .unwrap();
        assert_eq!(
            stale,
            Err(Refusal::Stale(Stale::Version { current: 3, got: 3 }))
        );
        let over = store
            .put_v1_volume(row(4, 4), NewPayload::Inline(b"four".to_vec()), 3)
            .await
            .unwrap();
        assert_eq!(over, Err(over_quota()));
        let not_modified = store
            .v1_volume_for_owner("s".into(), "meta".into(), reader(&blobs, Some(3)))
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(not_modified.payload, Payload::NotModified));
        let missing = store
            .v1_volume_for_owner("s".into(), "other".into(), reader(&blobs, None))
            .await
            .unwrap();
        assert_eq!(missing.map(|_| ()), Err(Refusal::NotFound(NOT_FOUND)));
    }
}
