//! Volumes, v1 and v2: the rows that name each version's payload, uploads (version, epoch and
//! quota decided with the write) and the one-trip download (row, authorisation and payload).
//!
//! Payloads: a large one is a blob, written durably to the blob store by the caller *before*
//! the row naming it commits ([`NewPayload::Blob`]); a small one (`[storage] inline_max`) is
//! handed to the metadata store with its row ([`NewPayload::Inline`]) and is durable exactly
//! when the row is. Which of the two a stored row names is the adapter's business: a download
//! reads an inline payload itself and asks the caller's [`PayloadReader`] for a blob.

use coffer_wire::b64::WrappedVek60;

use super::grants::LiveGrant;
use super::{DecisionFuture, Refusal, StoreError, StoreFuture};
use crate::store::tombstones::TombstoneRow;
use crate::store::users::User;
use crate::store::volumes::VolumeRow;
use crate::store::volumes::v2::VolumeV2;

/// Where a new version's payload is.
#[derive(Debug)]
pub enum NewPayload {
    /// In the blob store already, durable, under this name.
    Blob(String),
    /// These bytes, to be stored by the metadata store in the row's own transaction.
    Inline(Vec<u8>),
}

/// A stored version: what it replaced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// The blob of the replaced version, when it was in the blob store: the caller removes it
    /// (the row naming it is gone, durably). `None` when nothing was replaced or the replaced
    /// payload was held by the metadata store (gone with its row).
    pub replaced_blob: Option<String>,
}

/// What a download sends: nothing new, or the payload bytes.
pub enum Payload {
    /// The client's `If-None-Match` version is current: 304.
    NotModified,
    /// The payload's bytes (small ones).
    Bytes(Vec<u8>),
    /// A larger blob, as a stream of its bytes with its length: streamed to the client
    /// (`api::stream`). A stream that ends early, runs long or fails cuts the response.
    Stream(PayloadStream, u64),
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotModified => f.write_str("NotModified"),
            Self::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            Self::Stream(_, len) => write!(f, "Stream({len} bytes)"),
        }
    }
}

/// The bytes of a streamed payload, in chunks of any size.
pub type PayloadStream = futures_util::stream::BoxStream<'static, Result<bytes::Bytes, StoreError>>;

/// Reads a blob by name from the blob store, on the thread the download's lookup runs on (so
/// row and payload cost one hand-off); `None` if there is no such blob. Made by the blob
/// store ([`super::blobs::Blobs::reader`]); it may block (a file opened, an object store's
/// answer awaited), so adapters call it on a blocking thread, never on an async worker.
pub type BlobReader = Box<dyn Fn(&str) -> Result<Option<Payload>, StoreError> + Send>;

/// How a download reads the payload of the row it finds.
pub struct PayloadReader {
    /// The version the client holds (`If-None-Match`): when the stored version is not newer,
    /// no payload is read ([`Payload::NotModified`]).
    pub since: Option<u64>,
    /// The volume size limit: a stored payload above it is storage corruption.
    pub max: u64,
    /// Reads a blob (see [`BlobReader`]).
    pub blob: BlobReader,
}

impl std::fmt::Debug for PayloadReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadReader")
            .field("since", &self.since)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

/// What an upload is checked against before its body is read.
#[derive(Debug)]
pub struct UploadBase<S> {
    /// The uploader, if registered.
    pub user: Option<User>,
    /// What is stored of the volume, if it is.
    pub stored: Option<S>,
}

/// A found volume row with its payload.
#[derive(Debug)]
pub struct Served<R> {
    /// The row (its version answers `If-None-Match`).
    pub row: R,
    /// Its payload, or [`Payload::NotModified`].
    pub payload: Payload,
}

/// A v2 volume served to a friend: the row and payload, the key wrapped for the friend, and
/// the expiry of the grant that authorised it (0: none).
#[derive(Debug)]
pub struct SharedV2 {
    /// The row and its payload.
    pub served: Served<VolumeV2>,
    /// The volume key wrapped for this friend, for the volume's current epoch.
    pub wrapped_key: WrappedVek60,
    /// When the authorising grant expires (Unix seconds, 0: never).
    pub expires_at: u64,
}

/// Volumes, v1 and v2.
///
/// Downloads read their row and payload in one snapshot; if the payload a row names vanished
/// under it (an upload replaced it in between), they look again on a fresh snapshot once, and
/// a row still naming a missing payload is a storage failure.
pub trait Volumes {
    /// The uploader (if registered) and the stored `(version, size)` of its v1 volume `name`,
    /// for the checks made before an upload's body is read.
    fn v1_upload_base(
        &self,
        owner: String,
        name: String,
    ) -> StoreFuture<'_, UploadBase<(u64, u64)>>;

    /// The uploader (if registered) and the stored `(epoch, version, size)` of its v2 volume
    /// `name`, for the checks made before an upload's body is read.
    fn v2_upload_base(
        &self,
        owner: String,
        name: String,
    ) -> StoreFuture<'_, UploadBase<(u32, u64, u64)>>;

    /// Stores a v1 version whose payload is `payload` (`row.blob_file` is set here to the name
    /// the payload is stored under), if its version is above the stored one and the owner's
    /// stored bytes stay within `max_user_storage`; keeps the owner's usage exact. Refusals:
    /// stale (409 with the stored version), over quota (413); nothing is stored then (an
    /// inline payload included).
    fn put_v1_volume(
        &self,
        row: VolumeRow,
        payload: NewPayload,
        max_user_storage: u64,
    ) -> DecisionFuture<'_, Stored>;

    /// Stores a v2 version, as [`Self::put_v1_volume`], if its version is above the stored one,
    /// its epoch not below, and it supersedes the volume's tombstone if deleted (the tombstone
    /// is then cleared). Refusals: stale (409 with the stored or deleted version and epoch),
    /// over quota (413).
    fn put_v2_volume(
        &self,
        row: VolumeV2,
        payload: NewPayload,
        max_user_storage: u64,
    ) -> DecisionFuture<'_, Stored>;

    /// All v1 volumes of `owner`, by name.
    fn v1_volumes(&self, owner: String) -> StoreFuture<'_, Vec<VolumeRow>>;

    /// `system`'s v1 volumes for `friend` to filter: the permissions of their active
    /// relationship and all of `system`'s volumes, by name. Refusal: 403 "No active sharing
    /// relationship".
    fn v1_volumes_for_friend(
        &self,
        system: String,
        friend: String,
    ) -> DecisionFuture<'_, (coffer_wire::v1::Permissions, Vec<VolumeRow>)>;

    /// All v2 volumes of `owner` and the tombstones of its deleted ones, each by name.
    fn v2_volumes(&self, owner: String) -> StoreFuture<'_, (Vec<VolumeV2>, Vec<TombstoneRow>)>;

    /// `owner`'s v1 volume `name` with its payload. Refusal: 404 "Volume not found".
    fn v1_volume_for_owner(
        &self,
        owner: String,
        name: String,
        read: PayloadReader,
    ) -> DecisionFuture<'_, Served<VolumeRow>>;

    /// `system`'s v1 volume `name` for `friend`, with the VEK the active relationship wraps
    /// for the friend. Refusals, in this order: 403 "No active sharing relationship", 403
    /// "This volume is not shared with you" (the relationship's permissions do not unlock
    /// `name`), 404 "Volume not found".
    fn v1_volume_for_friend(
        &self,
        system: String,
        friend: String,
        name: coffer_wire::v1::VolumeName,
        read: PayloadReader,
    ) -> DecisionFuture<'_, (Served<VolumeRow>, Option<Vec<u8>>)>;

    /// `owner`'s v2 volume `name` with its payload. Refusal: 404 "Volume not found".
    fn v2_volume_for_owner(
        &self,
        owner: String,
        name: String,
        read: PayloadReader,
    ) -> DecisionFuture<'_, Served<VolumeV2>>;

    /// `owner`'s v2 volume `name` for `friend`, served only under a live grant naming the
    /// volume's *current* epoch. Refusals, in this order: 403 no live grant, or it expired
    /// (as [`super::grants::Grants::live_v2_grant`]); 403 "This volume is not shared with you"
    /// when the grant does not name `name` (decided before the volume is looked up: no
    /// existence oracle); 404 "Volume not found"; 403 "This volume is not shared with you"
    /// when the grant names another epoch.
    fn v2_volume_for_friend(
        &self,
        owner: String,
        friend: String,
        name: String,
        read: PayloadReader,
    ) -> DecisionFuture<'_, SharedV2>;

    /// The tombstone of `owner`'s deleted v2 volume `name`, if it is deleted.
    fn v2_tombstone_for_owner(
        &self,
        owner: String,
        name: String,
    ) -> StoreFuture<'_, Option<TombstoneRow>>;

    /// The tombstone of `owner`'s deleted v2 volume `name`, if it is deleted and `friend`
    /// holds a live grant from `owner` that names it.
    fn v2_tombstone_for_friend(
        &self,
        owner: String,
        friend: String,
        name: String,
    ) -> StoreFuture<'_, Option<TombstoneRow>>;
}

/// The refusal of a friend's download without an active v1 relationship.
pub const NO_RELATIONSHIP: &str = "No active sharing relationship";
/// The refusal of a download of a volume not shared with the friend.
pub const NOT_SHARED: &str = "This volume is not shared with you";
/// The refusal of a download of a volume that is not stored.
pub const NOT_FOUND: &str = "Volume not found";

/// A stored row, as far as reading its payload goes (v1 and v2 rows): for the adapters'
/// downloads.
pub trait PayloadRow {
    /// The stored version (`If-None-Match`).
    fn version(&self) -> u64;
    /// The name of its payload (a blob, or an inline name).
    fn blob_file(&self) -> &str;
}

impl PayloadRow for VolumeRow {
    fn version(&self) -> u64 {
        self.version
    }
    fn blob_file(&self) -> &str {
        &self.blob_file
    }
}

impl PayloadRow for VolumeV2 {
    fn version(&self) -> u64 {
        self.version
    }
    fn blob_file(&self) -> &str {
        &self.blob_file
    }
}

/// Names a new version's payload in `blob_file`: the blob's name, or a fresh inline name, and
/// then answers the bytes the adapter stores with the row.
pub fn name_payload(
    payload: NewPayload,
    blob_file: &mut String,
    owner: &str,
    volume: &str,
    version: u64,
) -> Option<Vec<u8>> {
    match payload {
        NewPayload::Blob(name) => {
            *blob_file = name;
            None
        }
        NewPayload::Inline(bytes) => {
            *blob_file = crate::store::inline::new_name(owner, volume, version);
            Some(bytes)
        }
    }
}

/// A v1 relationship's stored permissions (none if unreadable).
pub fn permissions_of(stored: &str) -> coffer_wire::v1::Permissions {
    serde_json::from_str(stored)
        .ok()
        .and_then(|v| coffer_wire::v1::Permissions::from_json(&v).ok())
        .unwrap_or_default()
}

/// The key a friend's download of `v` goes out with: the live grant must name the volume at
/// its *current* epoch and wrap a key for it (403 "not shared" otherwise); with the grant's
/// expiry.
pub fn granted_key(live: &LiveGrant, v: &VolumeV2) -> Result<(WrappedVek60, u64), Refusal> {
    live.grant
        .epoch_of(&v.volume_name)
        .filter(|e| *e == v.epoch)
        .and_then(|epoch| {
            live.keys
                .iter()
                .find(|k| k.0 == v.volume_name && k.1 == epoch)
        })
        .map(|key| (WrappedVek60::from_bytes(key.2), live.stored.expires_at))
        .ok_or(Refusal::Forbidden(NOT_SHARED))
}
