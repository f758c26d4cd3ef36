//! Volume storage that v1 and v2 share: the size and quota decisions, the durable upload (blob
//! first, then the row) with the store's outcome mapped to a [`Refusal`] once, and the one-trip
//! download of a row with its blob.

use actix_web::web;

use super::{Decision, Refusal, ServiceError, Stale};
use crate::config::Limits;
use crate::state::AppState;
use crate::store::volumes::{self, VolumeRow, v2};
use crate::store::{Db, StoreError, inline, now};

/// Payloads larger than this are streamed (`api::stream`); smaller ones are read in one go.
pub const STREAM_ABOVE: u64 = 256 * 1024;

/// Upper bound of everything in an upload body besides the base64 payload.
const UPLOAD_OVERHEAD: u64 = 16 * 1024;

/// 413 for a payload over the volume limit.
pub fn too_large_volume(max: u64) -> Refusal {
    Refusal::PayloadTooLarge(format!("Volume exceeds the maximum size of {max} bytes"))
}

/// 413 for an exceeded quota.
pub fn over_quota() -> Refusal {
    Refusal::PayloadTooLarge("Storage quota exceeded".into())
}

/// Refuses `size` more bytes for a user holding `used`, of which `replaced` are freed by the
/// upload, when that exceeds the quota.
pub fn check_quota(limits: &Limits, used: u64, replaced: u64, size: u64) -> Result<(), Refusal> {
    if used.saturating_sub(replaced).saturating_add(size) > limits.max_user_storage {
        return Err(over_quota());
    }
    Ok(())
}

/// Refuses an upload from its declared `Content-Length` alone when even the smallest payload
/// that body could carry exceeds the volume limit or the user's quota — before a byte is
/// buffered.
pub fn precheck_size(
    declared: Option<u64>,
    limits: &Limits,
    used: u64,
    replaced: u64,
) -> Result<(), Refusal> {
    let Some(len) = declared else {
        return Ok(());
    };
    let min_payload = len.saturating_sub(UPLOAD_OVERHEAD) / 4 * 3;
    if min_payload > limits.max_volume_size {
        return Err(too_large_volume(limits.max_volume_size));
    }
    check_quota(limits, used, replaced, min_payload)
}

/// The outcome of a commit after a durable blob write.
#[derive(Debug)]
pub struct Committed<T> {
    /// What the caller is answered with.
    pub value: T,
    /// Whether the row now points at the new blob (otherwise it is removed).
    pub stored: bool,
    /// The blob the row pointed at before, removed once the commit is durable.
    pub replaced: Option<String>,
}

fn pool_gone(_: actix_web::error::BlockingError) -> StoreError {
    StoreError::Corrupt("blocking pool unavailable")
}

/// Stores `blob` durably and runs `commit` with its stored name in a write transaction.
///
/// A payload of at most `[storage] inline_max` bytes is stored inline (`store::inline`): in the
/// same transaction as the row, and only if the commit took it, so it is durable exactly when
/// the row is (docs/adr/0027). A larger one is written as a blob file (fsync + rename) *before*
/// the commit; a new file the commit did not take is removed. Either way a replaced file is
/// removed after the commit (a replaced inline payload went with its row). This ordering is
/// what makes a crash leave the old or the new version, never a row pointing at a torn file
/// (docs/adr/0002).
pub async fn store_durably<T: Send + 'static>(
    state: &AppState,
    user: &str,
    volume: &str,
    version: u64,
    blob: Vec<u8>,
    commit: impl FnOnce(&rusqlite::Transaction<'_>, &str) -> Result<Committed<T>, StoreError>
    + Send
    + 'static,
) -> Result<T, StoreError> {
    if blob.len() as u64 <= state.config.storage.inline_max {
        let name = inline::new_name(user, volume, version);
        let committed = state
            .db
            .write(move |tx| {
                let c = commit(tx, &name)?;
                if c.stored {
                    inline::insert(tx, &name, &blob)?;
                }
                Ok(c)
            })
            .await?;
        if committed.stored
            && let Some(old) = committed.replaced.filter(|old| !inline::is_inline(old))
        {
            let blobs = state.blobs.clone();
            web::block(move || blobs.remove(&old))
                .await
                .map_err(pool_gone)?;
        }
        return Ok(committed.value);
    }
    let blobs = state.blobs.clone();
    let (user, volume) = (user.to_owned(), volume.to_owned());
    let file = web::block(move || blobs.write(&user, &volume, version, &blob))
        .await
        .map_err(pool_gone)??;
    let name = file.clone();
    let result = state.db.write(move |tx| commit(tx, &name)).await;
    let remove = |f: String| {
        let blobs = state.blobs.clone();
        web::block(move || blobs.remove(&f))
    };
    match result {
        Ok(c) => {
            if !c.stored {
                remove(file).await.map_err(pool_gone)?;
            } else if let Some(old) = c.replaced {
                remove(old).await.map_err(pool_gone)?;
            }
            Ok(c.value)
        }
        Err(e) => {
            remove(file).await.map_err(pool_gone)?;
            Err(e)
        }
    }
}

/// A store's answer to a put, in the terms v1 and v2 share: stored (with the blob the row
/// pointed at before), or refused.
pub trait PutDecision {
    /// `got` is the version the client sent (named in a stale refusal).
    fn decide(self, got: u64) -> Result<Option<String>, Refusal>;
}

impl PutDecision for volumes::PutOutcome {
    fn decide(self, got: u64) -> Result<Option<String>, Refusal> {
        match self {
            Self::Stored { replaced_blob } => Ok(replaced_blob),
            Self::Stale { current } => Err(Refusal::Stale(Stale::Version { current, got })),
            Self::OverQuota => Err(over_quota()),
        }
    }
}

impl PutDecision for v2::PutOutcome {
    fn decide(self, got: u64) -> Result<Option<String>, Refusal> {
        match self {
            Self::Stored { replaced_blob } => Ok(replaced_blob),
            Self::Stale {
                current_version,
                current_epoch,
            } => Err(Refusal::Stale(Stale::V2 {
                current_version,
                current_epoch,
                got,
            })),
            Self::OverQuota => Err(over_quota()),
        }
    }
}

/// A checked upload, ready to store.
#[derive(Debug)]
pub struct NewVersion<'a> {
    /// The owner's user id.
    pub owner: &'a str,
    /// The volume name.
    pub volume: &'a str,
    /// The new version.
    pub version: u64,
    /// The payload bytes.
    pub blob: Vec<u8>,
    /// The size of the version it replaces (0 if none), for the anomaly report.
    pub replaced_size: u64,
}

/// Stores an upload: the blob durably, then the row `put` writes (given the blob's file name),
/// with the store's outcome mapped once ([`PutDecision`]); on success the owner's storage
/// growth is counted for the anomaly report.
pub async fn store_upload<O: PutDecision>(
    state: &AppState,
    new: NewVersion<'_>,
    put: impl FnOnce(&rusqlite::Transaction<'_>, &str) -> Result<O, StoreError> + Send + 'static,
) -> Result<(), ServiceError> {
    let size = new.blob.len() as u64;
    let version = new.version;
    store_durably(
        state,
        new.owner,
        new.volume,
        version,
        new.blob,
        move |tx, file| {
            Ok(match put(tx, file)?.decide(version) {
                Ok(replaced) => Committed {
                    value: Ok(()),
                    stored: true,
                    replaced,
                },
                Err(refusal) => Committed {
                    value: Err(refusal),
                    stored: false,
                    replaced: None,
                },
            })
        },
    )
    .await??;
    state
        .anomalies
        .storage_growth(now(), new.owner, size as i64 - new.replaced_size as i64);
    Ok(())
}

/// A stored volume row, as far as serving its payload goes (v1 and v2 rows).
pub trait StoredPayload {
    /// The stored version (for `If-None-Match`).
    fn version(&self) -> u64;
    /// The blob file name (relative to the blob directory).
    fn blob_file(&self) -> &str;
}

impl StoredPayload for VolumeRow {
    fn version(&self) -> u64 {
        self.version
    }
    fn blob_file(&self) -> &str {
        &self.blob_file
    }
}

impl StoredPayload for v2::VolumeV2 {
    fn version(&self) -> u64 {
        self.version
    }
    fn blob_file(&self) -> &str {
        &self.blob_file
    }
}

/// What a download sends: nothing new, or the payload bytes.
#[derive(Debug)]
pub enum Payload {
    /// The client's `If-None-Match` version is current: 304.
    NotModified,
    /// The blob's bytes (at most [`STREAM_ABOVE`]).
    Bytes(Vec<u8>),
    /// A larger blob, open, with its length: streamed (`stream.rs`).
    File(std::fs::File, u64),
}

/// One download in **one** trip to the blocking pool: `lookup` authorises and finds the row
/// and anything to send with it (a [`Refusal`] answers as is), then the blob it names is read,
/// unless `since` (the client's `If-None-Match`) is already current. Each trip costs thread
/// hand-offs that dominated a small download's CPU (docs/BENCHMARKS.md), so they are not split.
///
/// If an upload replaced the blob between the row read and the file read, the lookup runs
/// once more on a fresh snapshot ([`Db::renew_snapshot`]: the closure's read transaction
/// would otherwise show the same replaced row again); a row still pointing at a missing file
/// is a storage failure (500, and logged).
pub async fn read_with_blob<R: StoredPayload + Send + 'static, E: Send + 'static>(
    state: &AppState,
    since: Option<u64>,
    lookup: impl Fn(&rusqlite::Connection) -> Decision<(R, E)> + Send + 'static,
) -> Result<(R, E, Payload), ServiceError> {
    let blobs = state.blobs.clone();
    let max = state.config.limits.max_volume_size;
    let found = state
        .db
        .read(move |c| {
            for attempt in 0..2 {
                if attempt > 0 {
                    Db::renew_snapshot(c)?;
                }
                let (row, extra) = match lookup(c)? {
                    Ok(found) => found,
                    Err(refused) => return Ok(Err(refused)),
                };
                if since.is_some_and(|seen| seen >= row.version()) {
                    return Ok(Ok((row, extra, Payload::NotModified)));
                }
                if inline::is_inline(row.blob_file()) {
                    // In the database, read in the row's own snapshot.
                    if let Some(bytes) = inline::read(c, row.blob_file(), max)? {
                        return Ok(Ok((row, extra, Payload::Bytes(bytes))));
                    }
                } else if let Some((file, len)) = blobs.open_blob(row.blob_file(), max)? {
                    let payload = if len > STREAM_ABOVE {
                        Payload::File(file, len)
                    } else {
                        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                        std::io::Read::read_to_end(
                            &mut std::io::Read::take(file, len),
                            &mut bytes,
                        )?;
                        Payload::Bytes(bytes)
                    };
                    return Ok(Ok((row, extra, payload)));
                }
            }
            tracing::error!("a volume row points at a missing payload");
            Err(StoreError::Corrupt(
                "a volume row points at a missing blob file",
            ))
        })
        .await??;
    Ok(found)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::config::{Config, IpPolicy};
    use crate::ip_policy::IpLabels;
    use crate::state::Pins;
    use crate::store::blobs::BlobStore;
    use crate::store::volumes::PutOutcome;
    use crate::store::{ClientType, users};

    fn row(version: u64, blob_file: String, size_bytes: u64) -> VolumeRow {
        VolumeRow {
            user_id: "s".into(),
            volume_name: "meta".into(),
            version,
            control_header: "{}".into(),
            blob_file,
            signature: [0; 64],
            size_bytes,
            updated_at: 0,
        }
    }

    /// What an upload does: the new blob, the row committed, then the old blob removed.
    fn upload(db: &Db, blobs: &BlobStore, version: u64, bytes: &[u8]) {
        let file = blobs.write("s", "meta", version, bytes).unwrap();
        let new = row(version, file, bytes.len() as u64);
        let outcome = db
            .write_blocking(|tx| volumes::put(tx, &new, u64::MAX))
            .unwrap();
        if let PutOutcome::Stored {
            replaced_blob: Some(old),
        } = outcome
        {
            blobs.remove(&old);
        }
    }

    /// Caught by `coffer-bench`'s v2-mixed (a 500 among friends' fetches while their system
    /// published): the row was read, an upload replaced it and removed its blob, and the retry
    /// read the same row again from the read transaction's snapshot.
    #[actix_web::test]
    async fn a_blob_replaced_after_its_row_was_read_is_served_from_the_new_row() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        let db = Db::open(&config.database_path()).unwrap();
        let blobs = BlobStore::open(&config.blob_path()).unwrap();
        db.write_blocking(|tx| {
            users::insert(
                tx,
                &users::User {
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
        upload(&db, &blobs, 1, b"first");
        let state = AppState::new(
            config,
            Arc::clone(&db),
            blobs.clone(),
            IpLabels::ephemeral(IpPolicy::Off),
            Pins::default(),
        );

        let raced = Arc::new(AtomicBool::new(false));
        let lookup = {
            let raced = Arc::clone(&raced);
            move |c: &rusqlite::Connection| {
                let found = volumes::get(c, "s", "meta")?.unwrap();
                // The first time, an upload lands between the row read and the file read.
                if !raced.swap(true, Ordering::SeqCst) {
                    upload(&db, &blobs, 2, b"second");
                }
                Ok(Ok((found, ())))
            }
        };
        let (found, (), payload) = read_with_blob(&state, None, lookup).await.unwrap();
        assert!(raced.load(Ordering::SeqCst));
        assert_eq!(found.version, 2);
        match payload {
            Payload::Bytes(bytes) => assert_eq!(bytes, b"second"),
            other => panic!("expected the new blob's bytes, got {other:?}"),
        }
    }
}
