//! S3-compatible object storage for blobs (issue 14; docs/adr/0030-storage-port.md,
//! docs/adr/0032-postgresql-and-s3.md): Garage in the cluster test, any S3 service in
//! production, through the `object_store` crate (SigV4, retries, multipart).
//!
//! The same rules as the blob files (`store::blobs`):
//! - names are `<user>/<volume>.v<version>.<random>.bin`, never reused, so a new version is a
//!   new object and a replaced one is removed after the row that named it moved on;
//! - an object is written (acknowledged by the service, which for Garage means a write quorum
//!   of replicas) *before* the row that names it commits;
//! - the orphan sweep removes only objects no row names that are older than the minimum age
//!   by the object store's own clock, and never one this instance wrote within it;
//! - nothing is served that a row does not name: reads go by the name the row holds.
//!
//! Credentials come from a file in the AWS shared-credentials format (profile `default`):
//! the secret key is held zeroized on drop and never shown (`Debug` redacts it).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt as _, PutPayload};
use rand::RngExt as _;
use zeroize::Zeroizing;

use crate::store::StoreError;
use crate::store::blobs::{DirPage, SweepReport};

/// The largest credentials file read.
const MAX_CREDENTIALS_FILE: u64 = 16 * 1024;

/// How long one request to the object store may take before it counts as unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the bucket is and how to sign requests.
#[derive(Clone)]
pub struct S3Settings {
    endpoint: String,
    region: String,
    bucket: String,
    access_key_id: String,
    secret_access_key: Arc<Zeroizing<String>>,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Why the S3 settings were refused (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3SettingsError {
    /// The endpoint is not an `https://` URL, nor `http://` to a loopback address.
    #[error(
        "the S3 endpoint {0} must be https:// (checked against the Web PKI), or http:// to a \
         loopback address"
    )]
    Endpoint(String),
    /// An empty bucket or region.
    #[error("the S3 bucket and region must be set")]
    Incomplete,
    /// The credentials file could not be read or parsed (which line, not its content).
    #[error("S3 credentials file {0}")]
    Credentials(String),
}

fn loopback_http(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl S3Settings {
    /// Settings from their parts; the credentials file is read here.
    pub fn new(
        endpoint: &str,
        region: &str,
        bucket: &str,
        credentials_file: &FsPath,
    ) -> Result<Self, S3SettingsError> {
        let endpoint = endpoint.trim().trim_end_matches('/').to_owned();
        if !(endpoint.starts_with("https://") || loopback_http(&endpoint)) {
            return Err(S3SettingsError::Endpoint(endpoint));
        }
        if region.trim().is_empty() || bucket.trim().is_empty() {
            return Err(S3SettingsError::Incomplete);
        }
        let (access_key_id, secret_access_key) = read_credentials(credentials_file)?;
        Ok(Self {
            endpoint,
            region: region.trim().to_owned(),
            bucket: bucket.trim().to_owned(),
            access_key_id,
            secret_access_key: Arc::new(secret_access_key),
        })
    }

    /// `bucket at endpoint`, for logs and `--check-config`.
    pub fn describe(&self) -> String {
        format!("bucket {} at {}", self.bucket, self.endpoint)
    }
}

/// The `[default]` profile's key id and secret of an AWS shared-credentials file.
fn read_credentials(path: &FsPath) -> Result<(String, Zeroizing<String>), S3SettingsError> {
    use std::io::Read as _;
    let shown = path.display();
    let mut text = Zeroizing::new(String::new());
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CREDENTIALS_FILE).read_to_string(&mut text))
        .map_err(|e| S3SettingsError::Credentials(format!("{shown}: {e}")))?;
    let (mut id, mut secret, mut profile) = (None, None, None::<String>);
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            profile = Some(name.trim().to_owned());
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(S3SettingsError::Credentials(format!(
                "{shown}: line {} is not `key = value`",
                number + 1
            )));
        };
        if profile.as_deref() != Some("default") {
            continue;
        }
        match key.trim() {
            "aws_access_key_id" => id = Some(value.trim().to_owned()),
            "aws_secret_access_key" => secret = Some(Zeroizing::new(value.trim().to_owned())),
            _ => {}
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok((id, secret)),
        _ => Err(S3SettingsError::Credentials(format!(
            "{shown}: no aws_access_key_id and aws_secret_access_key under [default]"
        ))),
    }
}

/// What this instance wrote recently, so that a sweep never takes an object whose row is
/// about to commit, whatever the clocks say (as `store::blobs::RECENT_WRITES_KEPT`).
#[derive(Debug, Default)]
struct Recent {
    names: HashMap<String, Instant>,
}

/// The blob store on S3.
#[derive(Clone)]
pub struct S3Blobs {
    store: Arc<AmazonS3>,
    describe: String,
    recent: Arc<Mutex<Recent>>,
}

impl fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Blobs")
            .field("at", &self.describe)
            .finish_non_exhaustive()
    }
}

fn object_error(e: object_store::Error) -> StoreError {
    use object_store::Error as E;
    // Never the error's text: object_store's messages carry the request URL, which names the
    // user id and the volume (docs/metadata-inventory.md: no ids in logs). Only its kind.
    let kind = match e {
        E::NotFound { .. } => return StoreError::Corrupt("object not found"),
        E::PermissionDenied { .. } => {
            "permission denied (check the key in the credentials file and its grants on the bucket)"
        }
        E::Unauthenticated { .. } => "credentials refused (check the credentials file)",
        E::Precondition { .. } | E::AlreadyExists { .. } | E::NotModified { .. } => {
            "a conditional request failed"
        }
        // The service unreachable, timing out or answering 5xx after its retries.
        _ => "a request failed after retries (unreachable, timed out or 5xx)",
    };
    StoreError::Unavailable(format!("object store: {kind}"))
}

/// The first line of an error, without what a server's body may add.
fn first_line(e: &dyn fmt::Display) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(200).collect()
}

/// A name from a row or a caller: `user/file`, one level, no dot segments.
fn object_path(name: &str) -> Result<Path, StoreError> {
    let mut parts = name.split('/');
    let (Some(user), Some(file), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(StoreError::Corrupt("blob name is not user/file"));
    };
    for part in [user, file] {
        if part.is_empty() || part == "." || part == ".." || part.contains('\\') {
            return Err(StoreError::Corrupt("blob name has an unsafe segment"));
        }
    }
    Path::parse(name).map_err(|_| StoreError::Corrupt("blob name is not a valid object path"))
}

fn user_prefix(user: &str) -> Result<Path, StoreError> {
    if user.is_empty() || user.contains(['/', '\\', '.']) {
        return Err(StoreError::Corrupt("invalid user directory name"));
    }
    Path::parse(user).map_err(|_| StoreError::Corrupt("invalid user directory name"))
}

impl S3Blobs {
    /// Connects lazily: no request is made until the first use.
    pub fn new(settings: &S3Settings) -> Result<Self, StoreError> {
        // reqwest is built without a provider of its own: https endpoints use the process's,
        // ring, as the relay's TLS does (already installed is fine).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let options = ClientOptions::new()
            .with_allow_http(settings.endpoint.starts_with("http://"))
            .with_timeout(REQUEST_TIMEOUT)
            .with_connect_timeout(Duration::from_secs(5));
        let store = AmazonS3Builder::new()
            .with_endpoint(&settings.endpoint)
            .with_region(&settings.region)
            .with_bucket_name(&settings.bucket)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(settings.secret_access_key.as_str())
            .with_virtual_hosted_style_request(false)
            .with_client_options(options)
            .build()
            .map_err(|e| StoreError::Backend(format!("S3 settings: {}", first_line(&e))))?;
        Ok(Self {
            store: Arc::new(store),
            describe: settings.describe(),
            recent: Arc::default(),
        })
    }

    fn remember(&self, name: &str) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        recent
            .names
            .retain(|_, at| now.duration_since(*at) < crate::store::blobs::RECENT_WRITES_KEPT);
        recent.names.insert(name.to_owned(), now);
    }

    fn written_within(&self, name: &str, age: Duration) -> bool {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.names.get(name).is_some_and(|at| at.elapsed() < age)
    }

    /// Writes a blob and answers its name once the object store acknowledged it.
    pub async fn put(
        &self,
        user: &str,
        volume: &str,
        version: u64,
        bytes: Bytes,
    ) -> Result<String, StoreError> {
        user_prefix(user)?;
        let suffix: u128 = rand::rng().random();
        let name = format!("{user}/{volume}.v{version}.{suffix:032x}.bin");
        let path = object_path(&name)?;
        // Before the object exists, so a sweep never sees it unrecorded.
        self.remember(&name);
        self.store
            .put(&path, PutPayload::from_bytes(bytes))
            .await
            .map_err(object_error)?;
        Ok(name)
    }

    /// Writes a blob under a name it already has (`coffer-admin migrate-store` carrying a
    /// relay's blobs over, names and all, so the rows that name them stay true). An object of
    /// that name is replaced; the sweep's bookkeeping is not touched (no relay runs).
    pub async fn put_named(&self, name: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let path = object_path(name)?;
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map(drop)
            .map_err(object_error)
    }

    /// Every object in the bucket with its size, in the store's order (`coffer-admin
    /// migrate-store` and `check-data`). Objects whose names are not `user/file` are skipped:
    /// they are not the relay's.
    pub async fn list_all(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        let mut objects = self.store.list(None);
        while let Some(meta) = objects.next().await {
            let meta = meta.map_err(object_error)?;
            let name = meta.location.as_ref().to_owned();
            if object_path(&name).is_ok() {
                out.push((name, meta.size));
            }
        }
        Ok(out)
    }

    /// A blob's bytes as a stream, with its length; `None` when no such object exists.
    /// Refuses objects larger than `max` bytes.
    pub async fn open(
        &self,
        name: &str,
        max: u64,
    ) -> Result<Option<(BoxStream<'static, Result<Bytes, StoreError>>, u64)>, StoreError> {
        let path = object_path(name)?;
        let got = match self.store.get(&path).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(object_error(e)),
        };
        let len = got.meta.size;
        if len > max {
            return Err(StoreError::Corrupt(
                "stored blob is larger than the volume limit",
            ));
        }
        Ok(Some((got.into_stream().map_err(object_error).boxed(), len)))
    }

    /// A blob's bytes, read whole; `None` when no such object exists.
    pub async fn read(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((mut stream, len)) = self.open(name, max).await? else {
            return Ok(None);
        };
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk?);
            if bytes.len() as u64 > max {
                return Err(StoreError::Corrupt(
                    "stored blob is larger than the volume limit",
                ));
            }
        }
        Ok(Some(bytes))
    }

    /// Removes a blob; a missing object is not an error.
    pub async fn remove(&self, name: &str) {
        let result = match object_path(name) {
            Ok(path) => self.store.delete(&path).await.map_err(object_error),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) | Err(StoreError::Corrupt("object not found")) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not remove an old blob; the next sweep will")
            }
        }
    }

    /// Removes every blob of a user (account deletion).
    pub async fn remove_user(&self, user: &str) -> Result<(), StoreError> {
        let prefix = user_prefix(user)?;
        let names = self
            .store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .boxed();
        let mut deleted = self.store.delete_stream(names);
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(object_error(e)),
            }
        }
        Ok(())
    }

    /// The user prefixes that sort after `after`, at most `limit` of them.
    pub async fn user_dirs_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<DirPage, StoreError> {
        let listed = self
            .store
            .list_with_delimiter(None)
            .await
            .map_err(object_error)?;
        let names = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.parts().next().map(|part| part.as_ref().to_owned()))
            .collect();
        Ok(DirPage::of(names, after, limit))
    }

    /// Removes the objects of `users` that `referenced` does not name, older than `min_age`
    /// by the object store's clock and not written by this instance within it. The names must
    /// have been read *before* this call.
    pub async fn sweep_users(
        &self,
        users: &[String],
        referenced: &HashMap<String, HashSet<String>>,
        min_age: Duration,
    ) -> Result<SweepReport, StoreError> {
        let none = HashSet::new();
        let mut report = SweepReport::default();
        let cutoff = cutoff_secs(min_age);
        for user in users {
            let prefix = user_prefix(user)?;
            let set = referenced.get(user).unwrap_or(&none);
            let mut objects = self.store.list(Some(&prefix));
            while let Some(meta) = objects.next().await {
                let meta = meta.map_err(object_error)?;
                let name = meta.location.as_ref().to_owned();
                let old_enough = meta.last_modified.timestamp() <= cutoff
                    && !self.written_within(&name, min_age);
                if !set.contains(&name) && old_enough {
                    match self.store.delete(&meta.location).await {
                        Ok(()) => {
                            report.files_removed += 1;
                            report.bytes_removed += meta.size;
                        }
                        Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(object_error(e)),
                    }
                }
            }
        }
        Ok(report)
    }
}

impl S3Blobs {
    /// Checks that the bucket answers to these credentials: asks for an object that does not
    /// exist (`not found` is the healthy answer). For start-up and `--check-config`.
    pub async fn probe(&self) -> Result<(), StoreError> {
        match self.store.head(&Path::from("coffer-probe-absent")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(object_error(e)),
        }
    }

    /// Where the bucket is (no secret).
    pub fn describe(&self) -> &str {
        &self.describe
    }
}

/// The blob port on S3 ([`crate::storage::blobs::Blobs`]): [`S3Blobs`] with its requests made
/// on a runtime of its own (`coffer-s3`, [`crate::driver::Driver`]), so that the HTTP client's
/// pooled connections are driven whatever actix worker asked. Blobs in a bucket are shared by
/// every instance that names it.
#[cfg(feature = "server")]
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    blobs: S3Blobs,
    driver: Arc<crate::driver::Driver>,
}

#[cfg(feature = "server")]
mod port {
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use futures_util::StreamExt as _;

    use super::{S3BlobStore, S3Blobs, S3Settings};
    use crate::driver::Driver;
    use crate::service::volumes::STREAM_ABOVE;
    use crate::storage::StoreFuture;
    use crate::storage::blobs::{Blobs, RemoveFuture};
    use crate::storage::volumes::{BlobReader, Payload};
    use crate::store::StoreError;
    use crate::store::blobs::{DirPage, SweepReport};
    use crate::store::inline;

    fn driver_gone() -> StoreError {
        StoreError::Unavailable("object store: the relay is stopping".into())
    }

    impl S3BlobStore {
        /// The bucket `settings` names, reached from a runtime of its own; nothing is asked
        /// of the service until [`Self::probe`] or the first use.
        pub fn open(settings: &S3Settings) -> Result<Self, StoreError> {
            let driver = Driver::start("coffer-s3")
                .map_err(|e| StoreError::Backend(format!("object store driver thread: {e}")))?;
            Ok(Self {
                blobs: S3Blobs::new(settings)?,
                driver: Arc::new(driver),
            })
        }

        /// [`S3Blobs::probe`], on the driver.
        pub async fn probe(&self) -> Result<(), StoreError> {
            let blobs = self.blobs.clone();
            self.run(async move { blobs.probe().await }).await
        }

        async fn run<T: Send + 'static>(
            &self,
            work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
        ) -> Result<T, StoreError> {
            self.driver.run(work).await.ok_or_else(driver_gone)?
        }
    }

    impl Blobs for S3BlobStore {
        fn describe(&self) -> String {
            format!("s3, {}", self.blobs.describe())
        }

        fn shared(&self) -> bool {
            true
        }

        fn write(
            &self,
            user: String,
            volume: String,
            version: u64,
            bytes: Vec<u8>,
        ) -> StoreFuture<'_, String> {
            let blobs = self.blobs.clone();
            Box::pin(
                self.run(
                    async move { blobs.put(&user, &volume, version, Bytes::from(bytes)).await },
                ),
            )
        }

        fn remove(&self, name: String) -> RemoveFuture<'_> {
            let blobs = self.blobs.clone();
            Box::pin(async move {
                // An inline payload went with its row (`store::inline`): no object to remove.
                if !inline::is_inline(&name) {
                    let _ = self
                        .driver
                        .run(async move { blobs.remove(&name).await })
                        .await;
                }
            })
        }

        fn remove_user(&self, user: String) -> StoreFuture<'_, ()> {
            let blobs = self.blobs.clone();
            Box::pin(self.run(async move { blobs.remove_user(&user).await }))
        }

        fn reader(&self, max: u64) -> BlobReader {
            let (blobs, driver) = (self.blobs.clone(), Arc::clone(&self.driver));
            Box::new(move |name| {
                if inline::is_inline(name) {
                    return Err(StoreError::Corrupt("an inline payload is not a blob"));
                }
                let (blobs, name) = (blobs.clone(), name.to_owned());
                driver
                    .block_on(async move {
                        let Some((mut stream, len)) = blobs.open(&name, max).await? else {
                            return Ok(None);
                        };
                        if len > STREAM_ABOVE {
                            return Ok(Some(Payload::Stream(stream, len)));
                        }
                        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                        while let Some(chunk) = stream.next().await {
                            bytes.extend_from_slice(&chunk?);
                            if bytes.len() as u64 > len {
                                return Err(StoreError::Corrupt(
                                    "an object is longer than its recorded length",
                                ));
                            }
                        }
                        if bytes.len() as u64 != len {
                            return Err(StoreError::Unavailable(
                                "object store: a read ended early".into(),
                            ));
                        }
                        Ok(Some(Payload::Bytes(bytes)))
                    })
                    .ok_or_else(driver_gone)?
            })
        }

        fn user_dirs_page(&self, after: Option<String>, limit: usize) -> StoreFuture<'_, DirPage> {
            let blobs = self.blobs.clone();
            Box::pin(self.run(async move { blobs.user_dirs_page(after.as_deref(), limit).await }))
        }

        fn sweep_users(
            &self,
            users: Vec<String>,
            referenced: HashMap<String, HashSet<String>>,
            min_age: Duration,
        ) -> StoreFuture<'_, SweepReport> {
            let blobs = self.blobs.clone();
            Box::pin(self.run(async move { blobs.sweep_users(&users, &referenced, min_age).await }))
        }
    }
}

/// Unix seconds `min_age` ago: objects modified at or before it are old enough.
fn cutoff_secs(min_age: Duration) -> i64 {
    let age = i64::try_from(min_age.as_secs()).unwrap_or(i64::MAX);
    crate::store::now().saturating_sub(age)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_https_or_loopback_http() {
        for ok in [
            "http://127.0.0.1:3900",
            "http://localhost:3900/",
            "http://[::1]:3900",
        ] {
            assert!(loopback_http(ok.trim_end_matches('/')), "{ok}");
        }
        for bad in ["http://10.0.0.1:3900", "http://s3.example.org", "ftp://x"] {
            assert!(!loopback_http(bad), "{bad}");
        }
    }

    #[test]
    fn credentials_are_read_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "[other]\naws_access_key_id = NOPE\n\n[default]\naws_access_key_id = GK123\naws_secret_access_key = topsecret-value\n",
        )
        .unwrap();
        let s = S3Settings::new("http://127.0.0.1:3900", "garage", "coffer", &file).unwrap();
        assert_eq!(s.access_key_id, "GK123");
        assert_eq!(s.secret_access_key.as_str(), "topsecret-value");
        assert!(!format!("{s:?}").contains("topsecret"));
        assert_eq!(
            S3Settings::new("http://10.1.2.3:3900", "garage", "coffer", &file).unwrap_err(),
            S3SettingsError::Endpoint("http://10.1.2.3:3900".into())
        );
        std::fs::write(&file, "[default]\naws_access_key_id = GK123\n").unwrap();
        let err = S3Settings::new("https://s3.example.org", "r", "b", &file).unwrap_err();
        assert!(err.to_string().contains("no aws_access_key_id"), "{err}");
    }

    #[test]
    fn object_names_stay_one_level_under_their_user() {
        assert!(object_path("u/meta.v1.ab.bin").is_ok());
        for bad in ["../x", "u/../x", "u", "u/a/b", "/x", "u/", "u\\x/y"] {
            assert!(object_path(bad).is_err(), "{bad}");
        }
        assert!(user_prefix("a.b").is_err());
    }
}
