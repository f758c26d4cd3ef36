//! One side of a migration: the metadata store and the blob store a relay configuration names,
//! the relay's data-directory lock, and the blobs read, written and listed by name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use coffer_relay::config::Config;
use coffer_relay::config::storage::{Backend, BlobBackend};
use coffer_relay::lock::{self, DataDirLock, LockError};
use coffer_relay::pg::PgSettings;
use coffer_relay::s3::S3Blobs;
use coffer_relay::store::blobs::BlobStore;
use tokio::runtime::Runtime;

use crate::error::AdminError;

/// Where one side's metadata is.
pub(super) enum Meta {
    Sqlite(PathBuf),
    Postgres(Box<PgSettings>),
}

/// Where one side's blobs are.
pub(super) enum Blobs {
    Files(BlobStore),
    S3(S3Blobs),
}

/// One side of a migration: a relay's metadata store and blob store, as its configuration
/// names them.
pub struct Store {
    pub(super) meta: Meta,
    pub(super) blobs: Blobs,
    pub(super) data_dir: PathBuf,
    pub(super) describe: String,
}

/// Takes the relay's own data-directory lock ([`coffer_relay::lock`]) on `dir` for the run, so
/// that no relay starts on either side meanwhile; refuses while one runs there. Nothing to take
/// where no relay has run yet and nothing is to be created (`create`: the destination's
/// directory is made, as the relay makes it).
pub(super) fn hold_data_dir(dir: &Path, create: bool) -> Result<Option<DataDirLock>, AdminError> {
    use std::os::unix::fs::DirBuilderExt as _;
    if create {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail(&dir.display().to_string(), e))?;
    } else if !dir.join(lock::LOCK_FILE).exists() {
        return Ok(None);
    }
    match lock::lock(dir) {
        Ok(held) => Ok(Some(held)),
        Err(LockError::InUse { holder, .. }) => Err(AdminError::Database(format!(
            "a relay is running on {} ({holder}): stop it first; nothing was written",
            dir.display()
        ))),
        Err(e) => Err(AdminError::Database(e.to_string())),
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the PostgreSQL password or the S3 secret: only where they are.
        f.debug_struct("Store")
            .field("describe", &self.describe)
            .finish()
    }
}

pub(super) fn fail(what: &str, e: impl std::fmt::Display) -> AdminError {
    AdminError::Database(format!("{what}: {e}"))
}

impl Store {
    /// The stores a relay configuration names (nothing is opened yet).
    pub fn from_config(config: &Config) -> Result<Self, AdminError> {
        let invalid = |message: String| AdminError::InvalidConfig { message };
        let (meta, meta_text) = match config.storage.backend {
            Backend::Sqlite => {
                let path = config.database_path();
                let text = format!("SQLite {}", path.display());
                (Meta::Sqlite(path), text)
            }
            Backend::Postgres => {
                let settings = coffer_relay::config::storage::postgres_settings(&config.storage)
                    .map_err(invalid)?;
                let text = format!("PostgreSQL {}", settings.describe());
                (Meta::Postgres(Box::new(settings)), text)
            }
        };
        let (blobs, blobs_text) = match config.blobs.backend {
            BlobBackend::Files => {
                let dir = config.blob_path();
                let text = format!("blob files {}", dir.display());
                // Created by the first blob written to it (never on the source's side).
                (Blobs::Files(BlobStore::existing(&dir)), text)
            }
            BlobBackend::S3 => {
                let settings =
                    coffer_relay::config::storage::s3_settings(&config.blobs).map_err(invalid)?;
                let text = format!("S3 {}", settings.describe());
                let store = S3Blobs::new(&settings).map_err(|e| fail(&text, e))?;
                (Blobs::S3(store), text)
            }
        };
        Ok(Self {
            meta,
            blobs,
            data_dir: config.data_dir.clone(),
            describe: format!("{meta_text} + {blobs_text}"),
        })
    }

    /// Metadata and blobs, for a person (never a secret).
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Whether `other` names the same metadata store or the same blob store.
    pub(super) fn overlaps(&self, other: &Store) -> bool {
        let same_meta = match (&self.meta, &other.meta) {
            (Meta::Sqlite(a), Meta::Sqlite(b)) => same_path(a, b),
            (Meta::Postgres(a), Meta::Postgres(b)) => a.describe() == b.describe(),
            _ => false,
        };
        let same_blobs = match (&self.blobs, &other.blobs) {
            (Blobs::Files(a), Blobs::Files(b)) => same_path(a.root(), b.root()),
            (Blobs::S3(a), Blobs::S3(b)) => a.describe() == b.describe(),
            _ => false,
        };
        same_meta || same_blobs
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
    canon(a) == canon(b)
}

/// Every blob of `store` with its size.
pub(super) fn list_blobs(rt: &Runtime, store: &Store) -> Result<HashMap<String, u64>, AdminError> {
    let listed = match &store.blobs {
        Blobs::Files(b) => b.list_all(),
        Blobs::S3(b) => rt.block_on(b.list_all()),
    };
    Ok(listed
        .map_err(|e| fail(&store.describe, e))?
        .into_iter()
        .collect())
}

pub(super) fn read_blob(
    rt: &Runtime,
    store: &Store,
    name: &str,
    max: u64,
) -> Result<Option<Vec<u8>>, AdminError> {
    match &store.blobs {
        Blobs::Files(b) => b.read(name, max),
        Blobs::S3(b) => rt.block_on(b.read(name, max)),
    }
    .map_err(|e| fail(&format!("reading blob {name} from {}", store.describe), e))
}

pub(super) fn write_blob(
    rt: &Runtime,
    store: &Store,
    name: &str,
    bytes: Vec<u8>,
) -> Result<(), AdminError> {
    match &store.blobs {
        Blobs::Files(b) => b.put_named(name, &bytes),
        Blobs::S3(b) => rt.block_on(b.put_named(name, bytes)),
    }
    .map_err(|e| fail(&format!("writing blob {name} to {}", store.describe), e))
}

pub(super) fn runtime() -> Result<Runtime, AdminError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail("cannot start a runtime", e))
}
