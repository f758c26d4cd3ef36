//! Blob files: the encrypted payloads, opaque bytes the relay never interprets.
//!
//! Layout: `<blob_dir>/<user_id>/<volume>.v<version>.<random>.bin`. A new version is written to a
//! temporary file, fsynced, renamed to its final name and the directory fsynced — all before the
//! database row that points at it commits. So after a crash at any instant the database points at
//! a complete file (the old version or the new one); files no row points at are orphans, removed
//! by [`BlobStore::sweep`] at start-up and by maintenance.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use rand::RngExt as _;

use super::StoreError;

/// Prefix of files being written.
const TMP_PREFIX: &str = ".tmp-";

/// The blob directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Orphaned or temporary files removed.
    pub files_removed: u64,
    /// Their total size.
    pub bytes_removed: u64,
}

fn random_suffix() -> String {
    let bytes: [u8; 8] = rand::rng().random();
    hex::encode(bytes)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

impl BlobStore {
    /// Uses (and creates) `root`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(root)?;
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a stored relative name, refusing anything that could leave the blob directory.
    fn resolve(&self, name: &str) -> Result<PathBuf, StoreError> {
        let rel = Path::new(name);
        let safe = rel.components().count() == 2
            && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !safe {
            return Err(StoreError::Corrupt("blob name escapes the blob directory"));
        }
        Ok(self.root.join(rel))
    }

    /// Writes a blob durably and returns its stored name (relative to the root). The file is
    /// complete and fsynced, and its directory entry too, when this returns.
    pub fn write(
        &self,
        user: &str,
        volume: &str,
        version: u64,
        bytes: &[u8],
    ) -> Result<String, StoreError> {
        let dir = self.root.join(user);
        fs::create_dir_all(&dir)?;
        let suffix = random_suffix();
        let tmp = dir.join(format!("{TMP_PREFIX}{suffix}"));
        let file_name = format!("{volume}.v{version}.{suffix}.bin");
        let result = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, dir.join(&file_name))?;
            sync_dir(&dir)
        })();
        if let Err(err) = result {
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_file(dir.join(&file_name));
            return Err(err.classify());
        }
        Ok(format!("{user}/{file_name}"))
    }

    /// Reads a blob, refusing files larger than `max` bytes.
    pub fn read(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.resolve(name)?;
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let len = file.metadata()?.len();
        if len > max {
            return Err(StoreError::Corrupt(
                "stored blob is larger than the volume limit",
            ));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(max + 1).read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }

    /// Removes a blob; a missing file is not an error (sweeps and crashes race with this).
    pub fn remove(&self, name: &str) {
        match self.resolve(name).map(fs::remove_file) {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.kind() == ErrorKind::NotFound => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not remove an old blob; the next sweep will")
            }
            Err(e) => tracing::warn!(error = %e, "refused to remove a blob"),
        }
    }

    /// Removes every blob of a user (account deletion).
    pub fn remove_user(&self, user: &str) -> Result<(), StoreError> {
        if user.is_empty() || user.contains(['/', '\\', '.']) {
            return Err(StoreError::Corrupt("invalid user directory name"));
        }
        match fs::remove_dir_all(self.root.join(user)) {
            Ok(()) => sync_dir(&self.root),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes every file that is not in `referenced` and was last modified more than `min_age`
    /// ago (so an upload between its rename and its commit is never swept), and empty user
    /// directories.
    pub fn sweep(
        &self,
        referenced: &HashSet<String>,
        min_age: Duration,
    ) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        let cutoff = cutoff(min_age);
        for user_dir in fs::read_dir(&self.root)? {
            let user_dir = user_dir?;
            if !user_dir.file_type()?.is_dir() {
                continue;
            }
            let user = user_dir.file_name().to_string_lossy().into_owned();
            sweep_dir(&user_dir.path(), &user, referenced, cutoff, &mut report)?;
        }
        if report.files_removed > 0 {
            sync_dir(&self.root)?;
        }
        Ok(report)
    }

    /// One page of a sweep, for long maintenance with progress: the user directories whose
    /// names sort after `after`, at most `limit` of them, each checked against the blob names
    /// `referenced(user)` returns (read per directory, so a page costs what it covers).
    pub fn sweep_page(
        &self,
        after: Option<&str>,
        limit: usize,
        min_age: Duration,
        mut referenced: impl FnMut(&str) -> Result<HashSet<String>, StoreError>,
    ) -> Result<SweepPage, StoreError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort_unstable();
        let start = after.map_or(0, |a| names.partition_point(|n| n.as_str() <= a));
        let page: Vec<&String> = names.iter().skip(start).take(limit.max(1)).collect();
        let mut report = SweepReport::default();
        let cutoff = cutoff(min_age);
        for user in &page {
            let set = referenced(user)?;
            sweep_dir(&self.root.join(user), user, &set, cutoff, &mut report)?;
        }
        if report.files_removed > 0 {
            sync_dir(&self.root)?;
        }
        let done = start + page.len();
        Ok(SweepPage {
            report,
            dirs: page.len() as u64,
            remaining: (names.len() - done) as u64,
            next: (done < names.len())
                .then(|| page.last().map(|n| (*n).clone()))
                .flatten(),
        })
    }
}

/// A page of [`BlobStore::sweep_page`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SweepPage {
    /// What this page removed.
    #[serde(flatten)]
    pub report: SweepReport,
    /// User directories this page covered.
    pub dirs: u64,
    /// User directories after this page (directories emptied by earlier pages are gone, so
    /// progress is `covered so far / (covered so far + remaining)`).
    pub remaining: u64,
    /// Where the next page starts (`after`), or `None` when this was the last page.
    pub next: Option<String>,
}

fn cutoff(min_age: Duration) -> SystemTime {
    SystemTime::now()
        .checked_sub(min_age)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Sweeps one user directory (see [`BlobStore::sweep`]).
fn sweep_dir(
    dir: &Path,
    user: &str,
    referenced: &HashSet<String>,
    cutoff: SystemTime,
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        // Removed meanwhile (account deletion): nothing to sweep.
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut remaining = 0usize;
    for entry in entries {
        let entry = entry?;
        let name = format!("{user}/{}", entry.file_name().to_string_lossy());
        let meta = entry.metadata()?;
        let old_enough = meta.modified().map_or(true, |m| m <= cutoff);
        if meta.is_file() && !referenced.contains(&name) && old_enough {
            match fs::remove_file(entry.path()) {
                Ok(()) => {
                    report.files_removed += 1;
                    report.bytes_removed += meta.len();
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        } else {
            remaining += 1;
        }
    }
    if remaining == 0 {
        // Fails harmlessly if an upload just created a file in it.
        let _ = fs::remove_dir(dir);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn write_read_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let a = store.write("u1", "meta", 1, b"one").unwrap();
        let b = store.write("u1", "meta", 2, b"two").unwrap();
        assert_ne!(a, b);
        assert_eq!(store.read(&a, 10).unwrap().unwrap(), b"one");
        assert!(store.read(&a, 2).is_err());
        // A leftover temporary file, as a crash mid-write leaves.
        fs::write(dir.path().join("u1").join(".tmp-deadbeef"), b"torn").unwrap();
        let keep: HashSet<String> = [b.clone()].into();
        // Too young to sweep during normal operation...
        assert_eq!(
            store
                .sweep(&keep, Duration::from_secs(600))
                .unwrap()
                .files_removed,
            0
        );
        // ...but swept at start-up (min_age 0).
        let report = store.sweep(&keep, Duration::ZERO).unwrap();
        assert_eq!(report.files_removed, 2);
        assert_eq!(report.bytes_removed, 7);
        assert!(store.read(&a, 10).unwrap().is_none());
        assert_eq!(store.read(&b, 10).unwrap().unwrap(), b"two");
        store.remove(&b);
        store.remove(&b);
        store.sweep(&HashSet::new(), Duration::ZERO).unwrap();
        assert!(!dir.path().join("u1").exists());
    }

    #[test]
    fn sweeps_page_by_page() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut keep = HashSet::new();
        for user in ["a", "b", "c", "d", "e"] {
            keep.insert(store.write(user, "meta", 1, b"kept").unwrap());
            store.write(user, "meta", 2, b"orphan").unwrap();
        }
        let mut after: Option<String> = None;
        let (mut pages, mut removed, mut covered) = (0, 0, 0);
        loop {
            let page = store
                .sweep_page(after.as_deref(), 2, Duration::ZERO, |user| {
                    Ok(keep
                        .iter()
                        .filter(|f| f.starts_with(&format!("{user}/")))
                        .cloned()
                        .collect())
                })
                .unwrap();
            pages += 1;
            removed += page.report.files_removed;
            covered += page.dirs;
            assert_eq!(covered + page.remaining, 5);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!((pages, removed), (3, 5));
        for f in &keep {
            assert_eq!(store.read(f, 10).unwrap().unwrap(), b"kept");
        }
        // Past the end: an empty last page.
        let page = store
            .sweep_page(Some("z"), 2, Duration::ZERO, |_| Ok(HashSet::new()))
            .unwrap();
        assert_eq!((page.dirs, page.remaining, page.next), (0, 0, None));
    }

    #[test]
    fn refuses_escaping_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        assert!(store.read("../etc/passwd", 10).is_err());
        assert!(store.read("/etc/passwd", 10).is_err());
        assert!(store.read("a/b/c", 10).is_err());
        assert!(store.remove_user("..").is_err());
        assert!(store.remove_user("").is_err());
    }
}
