//! Volume storage that v1 and v2 share: the size and quota decisions, the durable upload (blob
//! first, then the row, then the replaced blob removed), and how a download reads a blob in
//! the same blocking trip as its row ([`payload_reader`]).

use super::{Refusal, ServiceError};
use crate::config::Limits;
use crate::state::AppState;
use crate::storage::volumes::{NewPayload, PayloadReader, Stored};
use crate::storage::{DecisionFuture, Storage};
use crate::store::now;

pub use crate::storage::volumes::Payload;

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

/// Stores an upload durably: its payload, then the row `put` commits (a storage method given
/// where the payload is), then what the row replaced is removed; on success the owner's
/// storage growth is counted for the anomaly report.
///
/// A payload of at most `[storage] inline_max` bytes goes to the metadata store with its row
/// ([`NewPayload::Inline`]), durable exactly when the row is (docs/adr/0027). A larger one is
/// written to the blob store (fsync + rename) *before* the commit; if the commit refuses it or
/// fails, the new blob is removed. A replaced blob is removed after the commit. This ordering is
/// what makes a crash leave the old or the new version, never a row pointing at a torn file
/// (docs/adr/0002, 0030).
pub async fn store_upload<'s>(
    state: &'s AppState,
    new: NewVersion<'_>,
    put: impl FnOnce(&'s dyn Storage, NewPayload) -> DecisionFuture<'s, Stored>,
) -> Result<(), ServiceError> {
    let size = new.blob.len() as u64;
    let storage: &'s dyn Storage = state.storage.as_ref();
    let stored = if size <= state.config.storage.inline_max {
        put(storage, NewPayload::Inline(new.blob)).await??
    } else {
        let (user, volume) = (new.owner.to_owned(), new.volume.to_owned());
        let file = state
            .blobs
            .write(user, volume, new.version, new.blob)
            .await?;
        match put(storage, NewPayload::Blob(file.clone())).await {
            Ok(Ok(stored)) => stored,
            Ok(Err(refused)) => {
                state.blobs.remove(file).await;
                return Err(refused.into());
            }
            Err(e) => {
                state.blobs.remove(file).await;
                return Err(e.into());
            }
        }
    };
    if let Some(old) = stored.replaced_blob {
        state.blobs.remove(old).await;
    }
    state
        .anomalies
        .storage_growth(now(), new.owner, size as i64 - new.replaced_size as i64);
    Ok(())
}

/// How a download on this relay reads its payload: the client's `If-None-Match` version, the
/// volume limit, and the blob store's reader (a blob above [`STREAM_ABOVE`] is streamed).
pub fn payload_reader(state: &AppState, since: Option<u64>) -> PayloadReader {
    let max = state.config.limits.max_volume_size;
    PayloadReader {
        since,
        max,
        blob: state.blobs.reader(max),
    }
}
