//! `[storage]`: which metadata store the relay uses and where payloads are kept
//! (docs/adr/0027-inline-small-volumes-and-login-writes.md, docs/adr/0032-postgresql.md).

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use zeroize::Zeroizing;

/// The default `storage.inline_max`: the storage benchmark's crossover (docs/adr/0027).
pub const DEFAULT_INLINE_MAX: u64 = 64 * 1024;

/// The largest `storage.inline_max` allowed: an inline payload is read whole, never streamed.
pub const INLINE_MAX_LIMIT: u64 = 256 * 1024;

/// The default `storage.pool_size` (PostgreSQL connections per relay instance).
pub const DEFAULT_POOL_SIZE: usize = 16;

/// The largest `storage.pool_size`.
pub const POOL_SIZE_LIMIT: usize = 512;

/// The metadata store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// An embedded SQLite database in the data directory (the default; one relay process).
    #[default]
    Sqlite,
    /// A PostgreSQL database, which several relay instances may share.
    Postgres,
}

impl Backend {
    /// The config and environment spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A PostgreSQL connection URL: it may hold a password, so it is zeroized on drop and never
/// shown (`Debug` says only whether it is set).
#[derive(Clone, Default)]
pub struct DatabaseUrl(Option<Zeroizing<String>>);

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let url = Zeroizing::new(String::deserialize(d)?);
        Ok(Self::new(&url))
    }
}

impl DatabaseUrl {
    /// A URL (from the environment).
    pub fn new(url: &str) -> Self {
        Self(Some(Zeroizing::new(url.to_owned())))
    }

    /// The URL, if set.
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().map(String::as_str)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "DatabaseUrl(<redacted>)"
        } else {
            "DatabaseUrl(None)"
        })
    }
}

/// Metadata and payload storage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// `sqlite` (default) or `postgres`.
    pub backend: Backend,
    /// `postgres`: the connection URL (`postgres://user:password@127.0.0.1:5432/coffer`, or
    /// `host=/run/postgresql user=coffer dbname=coffer` for a Unix socket). Prefer `url_file`
    /// or the environment (`COFFER_POSTGRES_URL`) for a URL with a password.
    pub url: DatabaseUrl,
    /// `postgres`: a file holding the connection URL (first line; keep it mode 600).
    pub url_file: Option<PathBuf>,
    /// `postgres`: connections per relay instance.
    pub pool_size: usize,
    /// Payloads of at most this many bytes are stored in the database, in the transaction of
    /// their row (one fsync for a batch of uploads); larger ones are blob files, fsynced before
    /// the row commits. 0 = every payload a file. At most 262144. Changing it moves nothing:
    /// each stored version stays where it was written until it is replaced.
    pub inline_max: u64,
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            url: DatabaseUrl::default(),
            url_file: None,
            pool_size: DEFAULT_POOL_SIZE,
            inline_max: DEFAULT_INLINE_MAX,
        }
    }
}

/// The PostgreSQL settings `storage` names: the URL from `url` or the first line of
/// `url_file`, parsed and checked ([`crate::pg::PgSettings::parse`]). Errors never contain
/// the URL.
#[cfg(feature = "postgres")]
pub fn postgres_settings(storage: &Storage) -> Result<crate::pg::PgSettings, String> {
    let from_file;
    let url = match (&storage.url_file, storage.url.get()) {
        (Some(path), _) => {
            let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "cannot read storage.url_file {}: {}",
                    path.display(),
                    e.kind()
                )
            })?);
            from_file = Zeroizing::new(text.lines().next().unwrap_or_default().trim().to_owned());
            if from_file.is_empty() {
                return Err(format!("storage.url_file {} is empty", path.display()));
            }
            from_file.as_str()
        }
        (None, Some(url)) => url,
        (None, None) => {
            return Err(
                "storage.backend = \"postgres\" needs storage.url_file or COFFER_POSTGRES_URL"
                    .to_owned(),
            );
        }
    };
    crate::pg::PgSettings::parse(url)
        .map(|s| s.with_pool_size(storage.pool_size))
        .map_err(|e| e.to_string())
}

/// Where blobs (payloads above `storage.inline_max`) are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// Files in the blob directory (`blob_dir`, default `<data_dir>/blobs`); one relay.
    #[default]
    Files,
    /// An S3-compatible object store, which several relay instances may share.
    S3,
}

impl BlobBackend {
    /// The config and environment spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Files => "files",
            Self::S3 => "s3",
        }
    }
}

/// `[blobs]`: the blob store. For `s3`, the bucket and where to reach it; the access key is
/// read from `credentials_file` (AWS shared-credentials format, profile `default`), never
/// from this file, and never logged.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Blobs {
    /// `files` (default) or `s3`.
    pub backend: BlobBackend,
    /// `s3`: the service's URL: `https://…` (checked against the Web PKI), or `http://` to a
    /// loopback address only.
    pub endpoint: Option<String>,
    /// `s3`: the region name the service signs with (Garage: as in its `s3_region`).
    pub region: Option<String>,
    /// `s3`: the bucket (created beforehand; the key needs read, write and delete on it).
    pub bucket: Option<String>,
    /// `s3`: the credentials file (`[default]` with `aws_access_key_id` and
    /// `aws_secret_access_key`; keep it mode 600).
    pub credentials_file: Option<PathBuf>,
}

impl Blobs {
    /// The S3 settings given, by key, for the messages that name them.
    pub fn s3_parts(&self) -> [(&'static str, bool); 4] {
        [
            ("blobs.endpoint", self.endpoint.is_some()),
            ("blobs.region", self.region.is_some()),
            ("blobs.bucket", self.bucket.is_some()),
            ("blobs.credentials_file", self.credentials_file.is_some()),
        ]
    }
}

/// The S3 settings `[blobs]` names, with the credentials file read and checked
/// ([`crate::s3::S3Settings::new`]). Errors never contain the secret.
#[cfg(feature = "s3")]
pub fn s3_settings(blobs: &Blobs) -> Result<crate::s3::S3Settings, String> {
    let missing: Vec<&str> = blobs
        .s3_parts()
        .iter()
        .filter(|(_, set)| !set)
        .map(|(key, _)| *key)
        .collect();
    let (Some(endpoint), Some(region), Some(bucket), Some(credentials)) = (
        &blobs.endpoint,
        &blobs.region,
        &blobs.bucket,
        &blobs.credentials_file,
    ) else {
        return Err(format!(
            "blobs.backend = \"s3\" needs {} (or COFFER_S3_ENDPOINT, COFFER_S3_REGION, \
             COFFER_S3_BUCKET, COFFER_S3_CREDENTIALS_FILE)",
            missing.join(", ")
        ));
    };
    crate::s3::S3Settings::new(endpoint, region, bucket, credentials).map_err(|e| e.to_string())
}
