//! `backup` and `restore`: a consistent copy of a relay's data, taken while it runs.
//!
//! **Consistency.** The database is copied first, with SQLite's `VACUUM INTO`: one read
//! transaction, so the copy is a snapshot of one instant even while the relay writes (WAL mode
//! lets the reader and the writer run side by side). Then exactly the blob files *that snapshot*
//! references are copied — never a directory listing. Blob files are immutable once renamed into
//! place (each version has its own name), so a file that exists is complete; a referenced file
//! that is gone was replaced by a newer upload after the snapshot, and then the whole snapshot is
//! taken again (blobs already copied and still referenced are kept) until one is complete.
//!
//! **What goes in** (a directory, every file 0600, directories 0700): `coffer.db` (the snapshot,
//! switched to a self-contained rollback journal), `blobs/<user>/<file>`, `tls/` (certificate
//! and keys, including a prepared next pair — unless `--without-tls`), `ip-hash.key` if the
//! relay uses keyed IP labels, and `manifest.json` with the size and SHA-256 of every file.
//! A backup holds metadata and private TLS keys: keep it as carefully as the relay's disk.
//!
//! **Restore** verifies everything before it writes anything: the manifest, every file's size
//! and hash, SQLite's integrity check, the schema version, and that the database references
//! exactly the blobs in the backup with their recorded sizes. It then fills an empty data
//! directory (and the configured database and blob paths, if set apart). The relay upgrades the
//! schema on its next start, as always.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};

use coffer_relay::config::Config;
use coffer_relay::store::{inline, migrations};
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::progress::Progress;

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The snapshot's file name inside a backup.
pub const DATABASE: &str = "coffer.db";
/// The blob directory inside a backup.
pub const BLOBS: &str = "blobs";
/// The certificate directory inside a backup.
pub const TLS: &str = "tls";
/// The keyed-IP-label secret inside a backup.
pub const IP_KEY: &str = "ip-hash.key";

const FORMAT: &str = "coffer-backup";
const FORMAT_VERSION: u32 = 1;
/// Snapshots taken before giving up on a relay whose volumes keep changing.
const MAX_ATTEMPTS: u32 = 8;
/// Largest manifest read.
const MAX_MANIFEST_BYTES: u64 = 1 << 30;
/// The certificate files a relay's `tls/` directory may hold.
const TLS_FILES: [&str; 6] = [
    "cert.pem",
    "key.pem",
    "next-cert.pem",
    "next-key.pem",
    "previous-cert.pem",
    "previous-key.pem",
];

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target exists and is not empty; nothing was written.
    #[error("{} exists and is not empty; choose a new or empty directory (nothing was changed)", path.display())]
    NotEmpty {
        /// The target.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// SQLite failed on a database file (path, problem and next step).
    #[error("{}", coffer_relay::store::db_errors::explain_sqlite(.path, .source))]
    Database {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer relay than this coffer-admin knows.
    #[error(
        "database schema version {found} is newer than this coffer-admin supports ({supported}); \
         use the coffer-admin of the relay's release"
    )]
    TooNew {
        /// The database's version.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },
    /// Volumes kept being replaced while the blobs were copied.
    #[error(
        "the relay replaced volumes during every one of {attempts} snapshots; try again when it \
         is less busy"
    )]
    Unstable {
        /// Snapshots taken.
        attempts: u32,
    },
    /// The backup directory is not a backup this tool can read.
    #[error("not a usable coffer backup: {reason}")]
    Manifest {
        /// What is wrong.
        reason: String,
    },
    /// A file of the backup (or of the relay) is damaged or does not match.
    #[error("verification failed: {detail}")]
    Verify {
        /// What did not match (file names and sizes, never contents).
        detail: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

fn db_err(path: &Path) -> impl FnOnce(rusqlite::Error) -> BackupError + '_ {
    move |source| BackupError::Database {
        path: path.to_owned(),
        source,
    }
}

fn verify(detail: impl Into<String>) -> BackupError {
    BackupError::Verify {
        detail: detail.into(),
    }
}

/// Where a relay keeps its data, resolved from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPaths {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The SQLite database.
    pub database: PathBuf,
    /// The blob directory.
    pub blob_dir: PathBuf,
    /// The certificate directory.
    pub tls_dir: PathBuf,
    /// The keyed-IP-label secret.
    pub ip_key: PathBuf,
}

impl DataPaths {
    /// The paths the relay would use with `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            data_dir: config.data_dir.clone(),
            database: config.database_path(),
            blob_dir: config.blob_path(),
            tls_dir: config.tls_dir(),
            ip_key: config.ip_hash_key_path(),
        }
    }
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path inside the backup, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the contents, hex.
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always `coffer-backup`.
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// When the snapshot was taken (Unix seconds).
    pub created_at: i64,
    /// The coffer-admin that wrote it.
    pub written_by: String,
    /// The database's schema version.
    pub schema_version: i64,
    /// Users in the snapshot.
    pub users: u64,
    /// Volumes (v1 and v2) in the snapshot.
    pub volumes: u64,
    /// The database snapshot.
    pub database: FileEntry,
    /// Every referenced blob.
    pub blobs: Vec<FileEntry>,
    /// Certificate files.
    pub tls: Vec<FileEntry>,
    /// The keyed-IP-label secret, if the relay had one.
    pub ip_hash_key: Option<FileEntry>,
}

/// What `backup` did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// Always `ok`.
    pub status: &'static str,
    /// The backup directory.
    pub backup: String,
    /// The database's schema version.
    pub schema_version: i64,
    /// Users in the snapshot.
    pub users: u64,
    /// Volumes in the snapshot.
    pub volumes: u64,
    /// Blob files copied.
    pub blobs: u64,
    /// Their bytes.
    pub blob_bytes: u64,
    /// Size of the database snapshot.
    pub database_bytes: u64,
    /// Certificate files copied.
    pub tls_files: u64,
    /// Whether the keyed-IP-label secret was copied.
    pub ip_hash_key: bool,
    /// Snapshots taken (more than one when uploads replaced volumes meanwhile).
    pub snapshots: u32,
}

/// What `restore` did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// Always `ok`.
    pub status: &'static str,
    /// The data directory.
    pub data_dir: String,
    /// The database file.
    pub database: String,
    /// The blob directory.
    pub blob_dir: String,
    /// The database's schema version (the relay upgrades it on start if older).
    pub schema_version: i64,
    /// Users.
    pub users: u64,
    /// Volumes.
    pub volumes: u64,
    /// Blob files restored.
    pub blobs: u64,
    /// Their bytes.
    pub blob_bytes: u64,
    /// Certificate files restored.
    pub tls_files: u64,
    /// Whether the keyed-IP-label secret was restored.
    pub ip_hash_key: bool,
}

fn create_dir_0700(path: &Path) -> Result<(), BackupError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io_err(path))
}

/// A new, empty file of mode 0600 (whatever the umask).
fn create_private_file(path: &Path) -> Result<(), BackupError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    // The mode given at creation is reduced by the umask; a umask never adds bits, but say so.
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io_err(path))
}

/// A directory that does not exist, or exists and is empty.
fn ensure_empty_target(path: &Path) -> Result<(), BackupError> {
    match fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty {
                    path: path.to_owned(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Err(BackupError::NotEmpty {
            path: path.to_owned(),
        }),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn sync_dir(path: &Path) -> Result<(), BackupError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_err(path))
}

/// Copies `src` to a new file `dst` (mode 0600, never replacing anything), fsyncs it, and
/// returns its size and SHA-256 as written.
fn copy_hashed(src: &Path, dst: &Path) -> Result<(u64, String), io::Error> {
    let mut input = File::open(src)?;
    let mut output = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n])?;
        total += n as u64;
    }
    output.sync_all()?;
    Ok((total, hex::encode(hasher.finalize())))
}

fn hash_file(path: &Path) -> Result<(u64, String), io::Error> {
    let mut input = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// A blob name as stored by the relay: `<user dir>/<file>`, two plain components.
fn safe_blob_name(name: &str) -> Option<&Path> {
    let path = Path::new(name);
    let ok = path.components().count() == 2
        && path.components().all(|c| matches!(c, Component::Normal(_)))
        && !name.contains('\\');
    ok.then_some(path)
}

/// A path inside a backup: plain components only.
fn safe_relative(name: &str) -> Option<&Path> {
    let path = Path::new(name);
    let ok = !name.is_empty()
        && path.components().all(|c| matches!(c, Component::Normal(_)))
        && !name.contains('\\');
    ok.then_some(path)
}

fn path_text(path: &Path) -> Result<&str, BackupError> {
    path.to_str().ok_or_else(|| BackupError::Io {
        path: path.to_owned(),
        source: io::Error::other("the path is not valid UTF-8"),
    })
}

/// What a database snapshot contains.
struct SnapshotInfo {
    schema_version: i64,
    users: u64,
    volumes: u64,
    /// Blob name → size recorded in its row.
    blobs: BTreeMap<String, u64>,
}

fn read_snapshot(conn: &Connection, path: &Path) -> Result<SnapshotInfo, BackupError> {
    let e = db_err(path);
    let schema_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(e)?;
    if schema_version > migrations::latest() {
        return Err(BackupError::TooNew {
            found: schema_version,
            supported: migrations::latest(),
        });
    }
    if let Ok(Some(kind)) = coffer_relay::store::foreign::identify(conn) {
        return Err(verify(coffer_relay::store::foreign::refusal(kind, path)));
    }
    if schema_version < 3 {
        // Every released relay is at least at version 3; anything lower is not one of ours.
        return Err(verify(format!(
            "{} has schema version {schema_version}: not a Coffer relay database",
            path.display()
        )));
    }
    let users: i64 = conn
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .map_err(db_err(path))?;
    let mut stmt = conn
        .prepare(
            "SELECT blob_file, size_bytes FROM volumes \
             UNION ALL SELECT blob_file, size_bytes FROM volumes_v2",
        )
        .map_err(db_err(path))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map_err(db_err(path))?;
    let mut blobs = BTreeMap::new();
    let mut volumes = 0u64;
    for row in rows {
        let (name, size) = row.map_err(db_err(path))?;
        volumes += 1;
        if inline::is_inline(&name) {
            // Its bytes are in this database (copied with it): present, with its row's size.
            let stored = inline::length(conn, &name)
                .map_err(|e| verify(format!("inline payload {name}: {e}")))?;
            if stored != u64::try_from(size).ok() {
                return Err(verify(format!(
                    "inline payload {name} is missing or has the wrong size"
                )));
            }
            continue;
        }
        if safe_blob_name(&name).is_none() {
            return Err(verify(format!(
                "the database references an unsafe blob name {name:?}"
            )));
        }
        blobs.insert(name, u64::try_from(size).unwrap_or(0));
    }
    Ok(SnapshotInfo {
        schema_version,
        users: users.max(0) as u64,
        volumes,
        blobs,
    })
}

/// Takes a consistent backup of the relay at `paths` into the new directory `out`.
pub fn backup<W: Write>(
    paths: &DataPaths,
    out: &Path,
    include_tls: bool,
    progress: &mut Progress<W>,
) -> Result<BackupReport, BackupError> {
    if !paths.database.is_file() {
        return Err(BackupError::Io {
            path: paths.database.clone(),
            source: io::Error::new(
                io::ErrorKind::NotFound,
                "no relay database here (check --data-dir / --config)",
            ),
        });
    }
    ensure_empty_target(out)?;
    create_dir_0700(out)?;
    // An empty directory given as the target keeps the mode it had: make it private too.
    fs::set_permissions(out, fs::Permissions::from_mode(0o700)).map_err(io_err(out))?;
    let snapshot_path = out.join(DATABASE);
    let blob_out = out.join(BLOBS);
    create_dir_0700(&blob_out)?;

    // Read-write without CREATE, like the relay's readers: a read-only connection cannot always
    // map the WAL index. Nothing is written to the source: only VACUUM INTO and SELECTs run.
    let source = Connection::open_with_flags(
        &paths.database,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db_err(&paths.database))?;
    source
        .busy_timeout(std::time::Duration::from_secs(30))
        .map_err(db_err(&paths.database))?;
    // Before VACUUM INTO: a PluralLog relay's database is named as such, with the importer.
    if let Some(kind) =
        coffer_relay::store::foreign::identify(&source).map_err(db_err(&paths.database))?
    {
        return Err(verify(coffer_relay::store::foreign::refusal(
            kind,
            &paths.database,
        )));
    }

    let mut copied: BTreeMap<String, FileEntry> = BTreeMap::new();
    let mut attempts = 0;
    let info = loop {
        attempts += 1;
        match fs::remove_file(&snapshot_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&snapshot_path)(e)),
        }
        // An empty file made 0600 first: VACUUM INTO fills an empty file and keeps its mode,
        // where a file it creates itself gets the umask's (typically 0644).
        create_private_file(&snapshot_path)?;
        source
            .execute("VACUUM INTO ?1", [path_text(&snapshot_path)?])
            .map_err(db_err(&paths.database))?;
        let snapshot = Connection::open(&snapshot_path).map_err(db_err(&snapshot_path))?;
        // A self-contained file: no -wal/-shm beside it.
        snapshot
            .pragma_update(None, "journal_mode", "DELETE")
            .map_err(db_err(&snapshot_path))?;
        let info = read_snapshot(&snapshot, &snapshot_path)?;
        drop(snapshot);

        // Blobs copied for an earlier snapshot that this one no longer references.
        let stale: Vec<String> = copied
            .keys()
            .filter(|k| !info.blobs.contains_key(*k))
            .cloned()
            .collect();
        for name in stale {
            copied.remove(&name);
            let path = blob_out.join(&name);
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
        let mut missing = 0;
        progress.set_label("backup: copying blobs");
        let total = info.blobs.len() as u64;
        for (name, size) in &info.blobs {
            progress.update(copied.len() as u64, total);
            if copied.contains_key(name) {
                continue;
            }
            let rel = safe_blob_name(name).ok_or_else(|| verify("unsafe blob name"))?;
            let src = paths.blob_dir.join(rel);
            let dst = blob_out.join(rel);
            if let Some(parent) = dst.parent() {
                create_dir_0700(parent)?;
            }
            match copy_hashed(&src, &dst) {
                Ok((bytes, sha256)) => {
                    if bytes != *size {
                        return Err(verify(format!(
                            "blob {name} has {bytes} bytes but its row says {size}"
                        )));
                    }
                    copied.insert(
                        name.clone(),
                        FileEntry {
                            path: format!("{BLOBS}/{name}"),
                            bytes,
                            sha256,
                        },
                    );
                }
                // Replaced by a newer upload after the snapshot: take a new snapshot.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let _ = fs::remove_file(&dst);
                    missing += 1;
                }
                Err(e) => return Err(io_err(&src)(e)),
            }
        }
        progress.update(copied.len() as u64, total);
        if missing == 0 {
            break info;
        }
        if attempts >= MAX_ATTEMPTS {
            return Err(BackupError::Unstable { attempts });
        }
    };
    progress.finish();

    let (database_bytes, database_sha) =
        hash_file(&snapshot_path).map_err(io_err(&snapshot_path))?;
    let mut tls = Vec::new();
    if include_tls && paths.tls_dir.is_dir() {
        let tls_out = out.join(TLS);
        create_dir_0700(&tls_out)?;
        for name in TLS_FILES {
            let src = paths.tls_dir.join(name);
            if !src.is_file() {
                continue;
            }
            let (bytes, sha256) = copy_hashed(&src, &tls_out.join(name)).map_err(io_err(&src))?;
            tls.push(FileEntry {
                path: format!("{TLS}/{name}"),
                bytes,
                sha256,
            });
        }
        sync_dir(&tls_out)?;
    }
    let ip_hash_key = if paths.ip_key.is_file() {
        let (bytes, sha256) =
            copy_hashed(&paths.ip_key, &out.join(IP_KEY)).map_err(io_err(&paths.ip_key))?;
        Some(FileEntry {
            path: IP_KEY.to_owned(),
            bytes,
            sha256,
        })
    } else {
        None
    };

    let blob_bytes = copied.values().map(|f| f.bytes).sum();
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        version: FORMAT_VERSION,
        created_at: coffer_relay::store::now(),
        written_by: concat!("coffer-admin ", env!("CARGO_PKG_VERSION")).to_owned(),
        schema_version: info.schema_version,
        users: info.users,
        volumes: info.volumes,
        database: FileEntry {
            path: DATABASE.to_owned(),
            bytes: database_bytes,
            sha256: database_sha,
        },
        blobs: copied.into_values().collect(),
        tls,
        ip_hash_key,
    };
    let manifest_path = out.join(MANIFEST);
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| verify(e.to_string()))?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&manifest_path)
        .map_err(io_err(&manifest_path))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .map_err(io_err(&manifest_path))?;
    sync_all_dirs(out)?;
    Ok(BackupReport {
        status: "ok",
        backup: out.display().to_string(),
        schema_version: manifest.schema_version,
        users: manifest.users,
        volumes: manifest.volumes,
        blobs: manifest.blobs.len() as u64,
        blob_bytes,
        database_bytes,
        tls_files: manifest.tls.len() as u64,
        ip_hash_key: manifest.ip_hash_key.is_some(),
        snapshots: attempts,
    })
}

/// Fsyncs `root` and every directory below it (new entries are durable).
fn sync_all_dirs(root: &Path) -> Result<(), BackupError> {
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            if entry.file_type().map_err(io_err(&dir))?.is_dir() {
                stack.push(entry.path());
            }
        }
        sync_dir(&dir)?;
    }
    Ok(())
}

/// Reads and checks `manifest.json` of the backup at `dir`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, BackupError> {
    let path = dir.join(MANIFEST);
    let file = File::open(&path).map_err(|e| BackupError::Manifest {
        reason: format!("cannot open {}: {e}", path.display()),
    })?;
    let mut text = Vec::new();
    file.take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut text)
        .map_err(io_err(&path))?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| BackupError::Manifest {
        reason: format!("{}: {e}", path.display()),
    })?;
    if manifest.format != FORMAT || manifest.version != FORMAT_VERSION {
        return Err(BackupError::Manifest {
            reason: format!(
                "format {:?} version {} (this coffer-admin reads {FORMAT:?} version {FORMAT_VERSION})",
                manifest.format, manifest.version
            ),
        });
    }
    Ok(manifest)
}

/// Checks every file of a backup against its manifest entry.
fn verify_files<W: Write>(
    dir: &Path,
    manifest: &Manifest,
    progress: &mut Progress<W>,
) -> Result<(), BackupError> {
    let mut entries: Vec<&FileEntry> = vec![&manifest.database];
    entries.extend(&manifest.blobs);
    entries.extend(&manifest.tls);
    entries.extend(&manifest.ip_hash_key);
    let mut seen = BTreeSet::new();
    progress.set_label("restore: verifying");
    let total = entries.len() as u64;
    for (i, entry) in entries.iter().enumerate() {
        progress.update(i as u64, total);
        let rel = safe_relative(&entry.path)
            .ok_or_else(|| verify(format!("unsafe path {:?} in the manifest", entry.path)))?;
        if !seen.insert(entry.path.clone()) {
            return Err(verify(format!("{} is listed twice", entry.path)));
        }
        let path = dir.join(rel);
        let (bytes, sha256) =
            hash_file(&path).map_err(|e| verify(format!("{}: {e}", entry.path)))?;
        if bytes != entry.bytes || sha256 != entry.sha256 {
            return Err(verify(format!(
                "{} does not match the manifest (size or SHA-256 differs)",
                entry.path
            )));
        }
    }
    progress.update(total, total);
    progress.finish();
    Ok(())
}

/// Checks a whole backup without restoring it: manifest, files, database, blob references.
pub fn verify_backup<W: Write>(
    dir: &Path,
    progress: &mut Progress<W>,
) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(dir)?;
    for (entry, prefix) in manifest
        .blobs
        .iter()
        .map(|e| (e, "blobs/"))
        .chain(manifest.tls.iter().map(|e| (e, "tls/")))
    {
        if !entry.path.starts_with(prefix) {
            return Err(verify(format!("{} is outside {prefix}", entry.path)));
        }
    }
    if manifest.database.path != DATABASE
        || manifest
            .ip_hash_key
            .as_ref()
            .is_some_and(|k| k.path != IP_KEY)
    {
        return Err(verify("unexpected database or key path in the manifest"));
    }
    verify_files(dir, &manifest, progress)?;
    let db_path = dir.join(DATABASE);
    let conn = Connection::open_with_flags(&db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(db_err(&db_path))?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(db_err(&db_path))?;
    if integrity != "ok" {
        return Err(verify(format!("SQLite integrity check: {integrity}")));
    }
    let info = read_snapshot(&conn, &db_path)?;
    if info.schema_version != manifest.schema_version
        || info.users != manifest.users
        || info.volumes != manifest.volumes
    {
        return Err(verify("the database does not match the manifest's counts"));
    }
    let listed: BTreeMap<&str, u64> = manifest
        .blobs
        .iter()
        .map(|e| (&e.path[BLOBS.len() + 1..], e.bytes))
        .collect();
    for (name, size) in &info.blobs {
        match listed.get(name.as_str()) {
            Some(bytes) if bytes == size => {}
            Some(_) => return Err(verify(format!("blob {name} has the wrong size"))),
            None => return Err(verify(format!("blob {name} is missing from the backup"))),
        }
    }
    if listed.len() != info.blobs.len() {
        return Err(verify(
            "the backup holds blobs the database does not reference",
        ));
    }
    Ok(manifest)
}

/// Restores the backup at `dir` into `paths` (all empty), after verifying it completely.
pub fn restore<W: Write>(
    dir: &Path,
    paths: &DataPaths,
    progress: &mut Progress<W>,
) -> Result<RestoreReport, BackupError> {
    let manifest = verify_backup(dir, progress)?;
    ensure_empty_target(&paths.data_dir)?;
    ensure_empty_target(&paths.blob_dir)?;
    if paths.database.exists() {
        return Err(BackupError::NotEmpty {
            path: paths.database.clone(),
        });
    }
    create_dir_0700(&paths.data_dir)?;
    create_dir_0700(&paths.blob_dir)?;
    if let Some(parent) = paths
        .database
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        create_dir_0700(parent)?;
    }

    let copy_checked = |entry: &FileEntry, dst: &Path| -> Result<(), BackupError> {
        let src = dir.join(&entry.path);
        let (bytes, sha256) = copy_hashed(&src, dst).map_err(io_err(dst))?;
        if bytes != entry.bytes || sha256 != entry.sha256 {
            return Err(verify(format!(
                "{} changed while it was restored",
                entry.path
            )));
        }
        Ok(())
    };

    // The database goes in under a temporary name and is renamed last: a relay started on a
    // half-restored directory finds no database rather than one without its blobs.
    progress.set_label("restore: copying blobs");
    let total = manifest.blobs.len() as u64;
    let mut blob_bytes = 0;
    for (i, entry) in manifest.blobs.iter().enumerate() {
        progress.update(i as u64, total);
        let rel = &entry.path[BLOBS.len() + 1..];
        let dst = paths
            .blob_dir
            .join(safe_blob_name(rel).ok_or_else(|| verify("unsafe blob"))?);
        if let Some(parent) = dst.parent() {
            create_dir_0700(parent)?;
        }
        copy_checked(entry, &dst)?;
        blob_bytes += entry.bytes;
    }
    progress.update(total, total);
    progress.finish();
    if !manifest.tls.is_empty() {
        create_dir_0700(&paths.tls_dir)?;
        for entry in &manifest.tls {
            let name = &entry.path[TLS.len() + 1..];
            if !TLS_FILES.contains(&name) {
                return Err(verify(format!("unexpected certificate file {name}")));
            }
            copy_checked(entry, &paths.tls_dir.join(name))?;
        }
        sync_dir(&paths.tls_dir)?;
    }
    if let Some(entry) = &manifest.ip_hash_key {
        copy_checked(entry, &paths.ip_key)?;
    }
    let file_name = paths
        .database
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| DATABASE.to_owned());
    let tmp = paths
        .database
        .with_file_name(format!(".{file_name}.restoring"));
    copy_checked(&manifest.database, &tmp)?;
    fs::rename(&tmp, &paths.database).map_err(io_err(&paths.database))?;
    sync_all_dirs(&paths.blob_dir)?;
    for d in [Some(paths.data_dir.as_path()), paths.database.parent()]
        .into_iter()
        .flatten()
        .filter(|p| !p.as_os_str().is_empty())
    {
        sync_dir(d)?;
    }
    Ok(RestoreReport {
        status: "ok",
        data_dir: paths.data_dir.display().to_string(),
        database: paths.database.display().to_string(),
        blob_dir: paths.blob_dir.display().to_string(),
        schema_version: manifest.schema_version,
        users: manifest.users,
        volumes: manifest.volumes,
        blobs: manifest.blobs.len() as u64,
        blob_bytes,
        tls_files: manifest.tls.len() as u64,
        ip_hash_key: manifest.ip_hash_key.is_some(),
    })
}

#[cfg(test)]
#[path = "backup_tests.rs"]
mod tests;
