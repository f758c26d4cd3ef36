//! [`Blobs`] on files in the data directory ([`BlobStore`]): each call on the blocking pool;
//! a download's reader opens the file on the lookup's own thread, and a large blob is streamed
//! from the open file (which stays readable if the blob is replaced and unlinked meanwhile).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read as _;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;

use crate::service::volumes::STREAM_ABOVE;
use crate::storage::StoreFuture;
use crate::storage::blobs::{Blobs, RemoveFuture};
use crate::storage::volumes::{BlobReader, Payload, PayloadStream};
use crate::store::StoreError;
use crate::store::blobs::{BlobStore, DirPage, SweepReport};

/// Bytes read per chunk of a streamed blob (a multiple of 3: `api::stream` encodes whole
/// groups without carrying bytes over).
pub const FILE_CHUNK: usize = 3 * 64 * 1024;

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| StoreError::Corrupt("blocking pool unavailable"))?
}

/// The `len` bytes of an open file, read a chunk at a time on the blocking pool.
pub fn file_stream(file: File, len: u64) -> PayloadStream {
    futures_util::stream::unfold((Some(file), len), |(file, left)| async move {
        let file = file?;
        if left == 0 {
            return None;
        }
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(FILE_CHUNK);
        let read = blocking(move || {
            let mut buf = vec![0u8; want];
            let mut file = file;
            file.read_exact(&mut buf)?;
            Ok((file, buf))
        })
        .await;
        Some(match read {
            Ok((file, buf)) => (Ok(Bytes::from(buf)), (Some(file), left - want as u64)),
            Err(e) => (Err(e), (None, 0)),
        })
    })
    .boxed()
}

impl Blobs for BlobStore {
    fn describe(&self) -> String {
        format!("files in {}", self.root().display())
    }

    fn shared(&self) -> bool {
        false
    }

    fn write(
        &self,
        user: String,
        volume: String,
        version: u64,
        bytes: Vec<u8>,
    ) -> StoreFuture<'_, String> {
        let blobs = self.clone();
        Box::pin(blocking(move || {
            blobs.write(&user, &volume, version, &bytes)
        }))
    }

    fn remove(&self, name: String) -> RemoveFuture<'_> {
        let blobs = self.clone();
        Box::pin(async move {
            let _ = blocking(move || {
                blobs.remove(&name);
                Ok(())
            })
            .await;
        })
    }

    fn remove_user(&self, user: String) -> StoreFuture<'_, ()> {
        let blobs = self.clone();
        Box::pin(blocking(move || blobs.remove_user(&user)))
    }

    fn reader(&self, max: u64) -> BlobReader {
        let blobs = self.clone();
        Box::new(move |name| {
            let Some((file, len)) = blobs.open_blob(name, max)? else {
                return Ok(None);
            };
            Ok(Some(if len > STREAM_ABOVE {
                Payload::Stream(file_stream(file, len), len)
            } else {
                let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                file.take(len).read_to_end(&mut bytes)?;
                Payload::Bytes(bytes)
            }))
        })
    }

    fn user_dirs_page(&self, after: Option<String>, limit: usize) -> StoreFuture<'_, DirPage> {
        let blobs = self.clone();
        Box::pin(blocking(move || {
            blobs.user_dirs_page(after.as_deref(), limit)
        }))
    }

    fn sweep_users(
        &self,
        users: Vec<String>,
        referenced: HashMap<String, HashSet<String>>,
        min_age: Duration,
    ) -> StoreFuture<'_, SweepReport> {
        let blobs = self.clone();
        Box::pin(blocking(move || {
            blobs.sweep_users(&users, &referenced, min_age)
        }))
    }
}
