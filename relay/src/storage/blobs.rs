//! The blob interface: where payloads above `[storage] inline_max` are kept, by name
//! (docs/adr/0030-storage-port.md, docs/adr/0032-postgresql-and-s3.md). Adapters: files in the
//! data directory ([`crate::store::blobs::BlobStore`], the default) and an S3-compatible object
//! store ([`crate::s3::S3Blobs`], `[blobs] backend = "s3"`).
//!
//! The rules every adapter keeps:
//! - a name is made by [`Blobs::write`] and never reused: a new version is a new blob, and a
//!   replaced one is removed only after the row that named it moved on;
//! - a write is answered once the blob is durable (fsync and rename; the object store's
//!   acknowledgement), and that is before the row naming it commits (the service layer's
//!   order, `service::volumes::store_upload`);
//! - the orphan sweep removes only blobs no row names that are older than its minimum age and
//!   that this instance did not write within it;
//! - a read goes by the name a row holds, and a blob that is gone reads as `None`, so that the
//!   download looks at the row again (an upload replaced it in between).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::StoreFuture;
use super::volumes::BlobReader;
use crate::store::blobs::{DirPage, SweepReport};

/// A removal: it never fails the request that asked for it (a blob left behind is an orphan
/// the next sweep takes), so it answers nothing; failures are logged by the adapter.
pub type RemoveFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The blob store.
pub trait Blobs: Send + Sync + fmt::Debug {
    /// Where the blobs are, for logs and `--check-config` (no secret).
    fn describe(&self) -> String;

    /// Whether other relay instances may write to this store too: then no blob is an orphan
    /// before the minimum age, not even at start-up (a sibling's upload may be in flight).
    fn shared(&self) -> bool;

    /// Writes `bytes` as the payload of `user`'s `volume` at `version`, durably, and answers
    /// the new blob's name (`<user>/<volume>.v<version>.<random>.bin`).
    fn write(
        &self,
        user: String,
        volume: String,
        version: u64,
        bytes: Vec<u8>,
    ) -> StoreFuture<'_, String>;

    /// Removes a blob; a missing one is not an error, and a failure is logged, not answered.
    fn remove(&self, name: String) -> RemoveFuture<'_>;

    /// Removes every blob of `user` (account deletion, after the rows are gone).
    fn remove_user(&self, user: String) -> StoreFuture<'_, ()>;

    /// How a download reads a blob by name, on the thread its row lookup runs on: small blobs
    /// whole ([`super::volumes::Payload::Bytes`]), larger ones (above
    /// [`crate::service::volumes::STREAM_ABOVE`]) as a stream with their length. A blob
    /// larger than `max` is storage corruption.
    fn reader(&self, max: u64) -> BlobReader;

    /// The user directories (prefixes) after `after`, at most `limit`, in order.
    fn user_dirs_page(&self, after: Option<String>, limit: usize) -> StoreFuture<'_, DirPage>;

    /// Removes the blobs of `users` that `referenced` does not name (read *before* this call),
    /// older than `min_age` and not written by this instance within it.
    fn sweep_users(
        &self,
        users: Vec<String>,
        referenced: HashMap<String, HashSet<String>>,
        min_age: Duration,
    ) -> StoreFuture<'_, SweepReport>;
}
