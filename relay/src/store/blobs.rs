//! Blob files: the encrypted payloads, opaque bytes the relay never interprets.
//!
//! Layout: `<blob_dir>/<user_id>/<volume>.v<version>.<random>.bin`. A new version is written to a
//! temporary file, fsynced, renamed to its final name and the directory fsynced — all before the
//! database row that points at it commits. So after a crash at any instant the database points at
//! a complete file (the old version or the new one); files no row points at are orphans, removed
//! by [`BlobStore::sweep`] at start-up and by maintenance.
//!
//! While the relay runs, a sweep must never take a file whose row is about to commit. Its
//! modification time alone cannot tell: a wall-clock step forward (NTP) or a file server whose
//! clock lags (NFS) makes a blob renamed into place a moment ago look old. So the store also
//! remembers, by the monotonic clock, the names it wrote itself ([`RECENT_WRITES_KEPT`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rand::RngExt as _;

use super::StoreError;

/// Prefix of files being written.
const TMP_PREFIX: &str = ".tmp-";

/// How long the store remembers the names it wrote: at least the minimum age of a sweep while
/// the relay runs (`maintenance::ORPHAN_MIN_AGE`, checked at compile time there).
pub const RECENT_WRITES_KEPT: Duration = Duration::from_secs(600);

/// The blob directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    recent: Arc<Mutex<RecentWrites>>,
}

/// The writes this store made within [`RECENT_WRITES_KEPT`], with when (monotonic), oldest
/// first. A write is remembered by its random suffix, which its temporary and its final name
/// share: one number per write, not two names (`coffer-bench --soak`: at ~240 uploads a second,
/// names kept for ten minutes grew the relay by 70 MiB; this holds ~60 bytes per write).
#[derive(Debug, Default)]
struct RecentWrites {
    order: VecDeque<(Instant, u64)>,
    at: HashMap<u64, Instant>,
}

impl RecentWrites {
    fn record(&mut self, suffix: u64) {
        self.forget_old();
        let now = Instant::now();
        self.at.insert(suffix, now);
        self.order.push_back((now, suffix));
    }

    fn forget_old(&mut self) {
        while self
            .order
            .front()
            .is_some_and(|(at, _)| at.elapsed() >= RECENT_WRITES_KEPT)
        {
            if let Some((at, suffix)) = self.order.pop_front() {
                // A suffix seen again later (astronomically unlikely) keeps its later time.
                if self.at.get(&suffix) == Some(&at) {
                    self.at.remove(&suffix);
                }
            }
        }
    }

    /// Whether this store wrote `name` (a temporary or a final blob name) less than `age` ago.
    fn within(&self, name: &str, age: Duration) -> bool {
        suffix_of(name)
            .and_then(|suffix| self.at.get(&suffix))
            .is_some_and(|at| at.elapsed() < age)
    }
}

/// The random suffix of a name [`BlobStore::write`] makes: `<user>/.tmp-<suffix>` or
/// `<user>/<volume>.v<version>.<suffix>.bin`, 16 hex digits.
fn suffix_of(name: &str) -> Option<u64> {
    let file = name.rsplit('/').next()?;
    let hex = match file.strip_prefix(TMP_PREFIX) {
        Some(rest) => rest,
        None => file.strip_suffix(".bin")?.rsplit('.').next()?,
    };
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Orphaned or temporary files removed.
    pub files_removed: u64,
    /// Their total size.
    pub bytes_removed: u64,
}

/// A random suffix for a write's names, and its text (16 hex digits).
fn random_suffix() -> (u64, String) {
    let suffix: u64 = rand::rng().random();
    (suffix, format!("{suffix:016x}"))
}

/// The access and modification times every blob file (and its directory) is given: the current
/// hour, like every stored time about content (docs/metadata-inventory.md). The inode's change
/// time (`ctime`) cannot be set by the relay; the sweep's safety does not rest on file times
/// (it remembers its own writes by the monotonic clock).
fn coarse_times() -> fs::FileTimes {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let hour = SystemTime::UNIX_EPOCH + Duration::from_secs(now - now % 3600);
    fs::FileTimes::new().set_accessed(hour).set_modified(hour)
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
            recent: Arc::default(),
        })
    }

    fn recent(&self) -> MutexGuard<'_, RecentWrites> {
        // Only names and instants: a panic elsewhere cannot leave it inconsistent.
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Uses `root` as it is, creating nothing (offline tools reading a relay's blobs: a
    /// missing directory reads as holding no blob).
    pub fn existing(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            recent: Arc::default(),
        }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a stored relative name, refusing anything that could leave the blob directory.
    fn resolve(&self, name: &str) -> Result<PathBuf, StoreError> {
        if super::inline::is_inline(name) {
            // Its bytes are in the database (`store::inline`): never look for such a file.
            return Err(StoreError::Corrupt("an inline payload is not a blob file"));
        }
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
        let (suffix_id, suffix) = random_suffix();
        let name = format!("{user}/{volume}.v{version}.{suffix}.bin");
        // Before the files exist, so a sweep never sees them unrecorded.
        self.recent().record(suffix_id);
        self.write_file(&name, &suffix, bytes)?;
        Ok(name)
    }

    /// Writes a blob under a name it already has (`coffer-admin migrate-store` carrying a
    /// relay's blobs over, names and all), as durably as [`Self::write`]; a file of that name
    /// is replaced. For offline tools: the sweep's bookkeeping is not touched.
    pub fn put_named(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let (_, suffix) = random_suffix();
        self.write_file(name, &suffix, bytes)
    }

    /// `bytes` into a temporary file beside `name`, fsynced, renamed into place, directory
    /// fsynced.
    fn write_file(&self, name: &str, suffix: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.resolve(name)?;
        let dir = path
            .parent()
            .ok_or(StoreError::Corrupt("blob name has no directory"))?
            .to_owned();
        fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!("{TMP_PREFIX}{suffix}"));
        let result = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            file.write_all(bytes)?;
            file.set_times(coarse_times())?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, &path)?;
            // The rename moved the directory's times to this second; best effort (the blob's
            // own times are what matter), and before the fsync that makes them durable.
            let _ = File::open(&dir).and_then(|d| d.set_times(coarse_times()));
            sync_dir(&dir)
        })();
        if let Err(err) = result {
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_file(&path);
            return Err(err.classify());
        }
        Ok(())
    }

    /// Every blob file with its size (`user/file`, temporary files left out), in no particular
    /// order: for offline tools (`coffer-admin migrate-store`, `check-data`).
    pub fn list_all(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        let users = match fs::read_dir(&self.root) {
            Ok(users) => users,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e.into()),
        };
        for dir in users {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            let user = dir.file_name().to_string_lossy().into_owned();
            for file in fs::read_dir(dir.path())? {
                let file = file?;
                let name = file.file_name().to_string_lossy().into_owned();
                if name.starts_with(TMP_PREFIX) || !file.file_type()?.is_file() {
                    continue;
                }
                out.push((format!("{user}/{name}"), file.metadata()?.len()));
            }
        }
        Ok(out)
    }

    /// Opens a blob for reading, with its length; refuses files larger than `max` bytes. The
    /// open file stays readable even if the blob is replaced (and unlinked) meanwhile.
    pub fn open_blob(&self, name: &str, max: u64) -> Result<Option<(File, u64)>, StoreError> {
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
        Ok(Some((file, len)))
    }

    /// Reads a blob, refusing files larger than `max` bytes.
    pub fn read(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((file, len)) = self.open_blob(name, max)? else {
            return Ok(None);
        };
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }

    /// Removes a blob; a missing file is not an error (sweeps and crashes race with this). An
    /// inline name is nothing to remove: its payload went with its row (`store::inline`).
    pub fn remove(&self, name: &str) {
        if super::inline::is_inline(name) {
            return;
        }
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

    /// Removes every file that is not in `referenced`, was last modified more than `min_age`
    /// ago and was not written by this store within `min_age` (so an upload between its rename
    /// and its commit is never swept, whatever the clocks do), and empty user directories.
    pub fn sweep(
        &self,
        referenced: &HashSet<String>,
        min_age: Duration,
    ) -> Result<SweepReport, StoreError> {
        self.sweep_by_user(min_age, |_| Ok(referenced))
    }

    /// [`Self::sweep`] with the referenced names asked for one user directory at a time, so
    /// that a sweep over a million files never holds a million names (it did: 190 MiB at
    /// start-up, docs/BENCHMARKS.md).
    pub fn sweep_by_user<R: std::borrow::Borrow<HashSet<String>>>(
        &self,
        min_age: Duration,
        mut referenced: impl FnMut(&str) -> Result<R, StoreError>,
    ) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        let cutoff = cutoff(min_age);
        for user_dir in fs::read_dir(&self.root)? {
            let user_dir = user_dir?;
            if !user_dir.file_type()?.is_dir() {
                continue;
            }
            let user = user_dir.file_name().to_string_lossy().into_owned();
            let set = referenced(&user)?;
            let young = |name: &str| self.recent().within(name, min_age);
            sweep_dir(
                &user_dir.path(),
                &user,
                set.borrow(),
                cutoff,
                young,
                &mut report,
            )?;
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
        let dirs = self.user_dirs_page(after, limit)?;
        let mut sets = HashMap::with_capacity(dirs.users.len());
        for user in &dirs.users {
            sets.insert(user.clone(), referenced(user)?);
        }
        let report = self.sweep_users(&dirs.users, &sets, min_age)?;
        Ok(dirs.swept(report))
    }

    /// The user directories whose names sort after `after`, at most `limit` of them (the
    /// first step of a [`SweepPage`]; the caller reads what each references, then calls
    /// [`Self::sweep_users`]).
    pub fn user_dirs_page(&self, after: Option<&str>, limit: usize) -> Result<DirPage, StoreError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(DirPage::of(names, after, limit))
    }

    /// Sweeps the directories of `users` (see [`Self::sweep`]) against the names each
    /// references: a user missing from `referenced` references nothing. The names must have
    /// been read *before* this call, so that a file committed since is younger than `min_age`.
    pub fn sweep_users(
        &self,
        users: &[String],
        referenced: &HashMap<String, HashSet<String>>,
        min_age: Duration,
    ) -> Result<SweepReport, StoreError> {
        let none = HashSet::new();
        let mut report = SweepReport::default();
        let cutoff = cutoff(min_age);
        for user in users {
            if user.is_empty() || user.contains(['/', '\\']) || user == ".." || user == "." {
                return Err(StoreError::Corrupt("invalid user directory name"));
            }
            let set = referenced.get(user).unwrap_or(&none);
            let young = |name: &str| self.recent().within(name, min_age);
            sweep_dir(&self.root.join(user), user, set, cutoff, young, &mut report)?;
        }
        if report.files_removed > 0 {
            sync_dir(&self.root)?;
        }
        Ok(report)
    }
}

/// A page of user directories ([`BlobStore::user_dirs_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirPage {
    /// The directories of this page, in order.
    pub users: Vec<String>,
    /// Directories after this page.
    pub remaining: u64,
}

impl DirPage {
    /// The page of `names` (any order) that sorts after `after`, at most `limit` of them.
    pub fn of(mut names: Vec<String>, after: Option<&str>, limit: usize) -> Self {
        names.sort_unstable();
        let start = after.map_or(0, |a| names.partition_point(|n| n.as_str() <= a));
        let total = names.len();
        let users: Vec<String> = names.into_iter().skip(start).take(limit.max(1)).collect();
        let remaining = (total - start - users.len()) as u64;
        DirPage { users, remaining }
    }

    /// The page's answer once swept.
    pub fn swept(self, report: SweepReport) -> SweepPage {
        SweepPage {
            report,
            dirs: self.users.len() as u64,
            remaining: self.remaining,
            next: if self.remaining > 0 {
                self.users.last().cloned()
            } else {
                None
            },
        }
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

/// Sweeps one user directory (see [`BlobStore::sweep`]); `written_recently` says which names
/// this store wrote too recently to sweep.
fn sweep_dir(
    dir: &Path,
    user: &str,
    referenced: &HashSet<String>,
    cutoff: SystemTime,
    written_recently: impl Fn(&str) -> bool,
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
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            // Renamed (an upload's temporary file moving into place) or removed (a replaced
            // blob) since the directory was read: nothing left to sweep under this name. Not
            // an error: a sweep runs beside uploads, and one race must not abort it.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        let old_enough = meta.modified().map_or(true, |m| m <= cutoff) && !written_recently(&name);
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

    /// `max + 1` overflowed (and read nothing) when a caller passed `u64::MAX` as "no limit".
    #[test]
    fn read_without_a_limit_reads_everything() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let name = store.write("u1", "meta", 1, b"all of it").unwrap();
        assert_eq!(
            store.read(&name, u64::MAX).unwrap().as_deref(),
            Some(&b"all of it"[..])
        );
        assert!(store.read(&name, 3).is_err(), "larger than the limit");
    }

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

    /// A sweep beside uploads: temporary files are renamed and replaced blobs removed between
    /// the sweep's directory read and its look at each entry. That is not a failure (it was:
    /// the whole maintenance run answered 500 under upload load).
    #[test]
    fn sweep_tolerates_files_vanishing_under_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let keep: HashSet<String> = [store.write("u1", "meta", 1, b"kept").unwrap()].into();
        // Many young files, removed while sweeps list them: most sweeps see entries vanish
        // between reading the directory and looking at them.
        let churn: Vec<PathBuf> = (0..5_000)
            .map(|i| {
                dir.path()
                    .join("u1")
                    .join(format!("journal.v{i}.churn.bin"))
            })
            .collect();
        for f in &churn {
            fs::write(f, b"old version").unwrap();
        }
        let remover = std::thread::spawn(move || {
            for f in churn {
                fs::remove_file(f).unwrap();
            }
        });
        let mut results = Vec::new();
        while !remover.is_finished() {
            // Young files are never removed, but every entry is looked at.
            results.push(store.sweep(&keep, Duration::from_secs(600)));
        }
        remover.join().unwrap();
        assert!(!results.is_empty());
        for result in results {
            assert!(result.is_ok(), "sweep failed beside removals: {result:?}");
        }
        for f in &keep {
            assert_eq!(store.read(f, 10).unwrap().unwrap(), b"kept");
        }
    }

    /// A write is remembered once, by the suffix its temporary and final names share; names
    /// this store did not make are never "recent".
    #[test]
    fn a_write_is_remembered_by_its_suffix_under_both_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let name = store.write("u1", "meta", 3, b"x").unwrap();
        let suffix = name
            .strip_suffix(".bin")
            .and_then(|n| n.rsplit('.').next())
            .unwrap();
        let hour = Duration::from_secs(3600);
        let recent = store.recent();
        assert_eq!(recent.at.len(), 1);
        assert!(recent.within(&name, hour));
        assert!(recent.within(&format!("u1/{TMP_PREFIX}{suffix}"), hour));
        assert!(!recent.within(&name, Duration::ZERO));
        for other in [
            "u1/meta.v3.0123456789abcdef.bin",
            "u1/.tmp-0123456789abcdef",
            "u1/meta.v3.bin",
            "u1/meta.v3.xyz.bin",
            "",
        ] {
            assert!(!recent.within(other, hour), "{other}");
        }
        assert_eq!(suffix_of("u/.tmp-00000000000000ff"), Some(255));
        assert_eq!(suffix_of("u/fronts.v12.00000000000000ff.bin"), Some(255));
        assert_eq!(suffix_of("u/fronts.v12.ff.bin"), None);
    }

    /// A blob's file times are the hour it was written, not its second.
    #[test]
    fn blob_file_times_are_hours() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let name = store.write("u1", "meta", 1, b"bytes").unwrap();
        let secs = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        let meta = fs::metadata(dir.path().join(&name)).unwrap();
        let now = secs(SystemTime::now());
        assert_eq!(secs(meta.modified().unwrap()) % 3600, 0);
        assert!(now - secs(meta.modified().unwrap()) < 3600 + 5);
        assert_eq!(secs(meta.accessed().unwrap()) % 3600, 0);
        let user_dir = fs::metadata(dir.path().join("u1")).unwrap();
        assert_eq!(secs(user_dir.modified().unwrap()) % 3600, 0);
    }

    /// Sets a file's modification time two hours back.
    fn age_by_two_hours(path: &Path) {
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(7200))
            .unwrap();
    }

    /// A file this store just wrote is not swept even when its modification time looks old (a
    /// wall-clock step forward, a lagging file server): its row may be about to commit. It was:
    /// an acknowledged upload lost its blob (tests/tests/it/faults_clock.rs).
    #[test]
    fn a_fresh_write_is_never_swept_whatever_its_time_says() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let name = store.write("u1", "meta", 1, b"new").unwrap();
        age_by_two_hours(&dir.path().join(&name));
        let minute = Duration::from_secs(60);
        assert_eq!(
            store.sweep(&HashSet::new(), minute).unwrap().files_removed,
            0
        );
        let page = store
            .sweep_page(None, 10, minute, |_| Ok(HashSet::new()))
            .unwrap();
        assert_eq!(page.report.files_removed, 0);
        assert_eq!(store.read(&name, 10).unwrap().unwrap(), b"new");
        // Once it is older than the sweep's minimum age by the monotonic clock too, or for a
        // store that did not write it (after a restart), the old time is believed.
        std::thread::sleep(Duration::from_millis(20));
        let swept = store
            .sweep(&HashSet::new(), Duration::from_millis(10))
            .unwrap();
        assert_eq!(swept.files_removed, 1);
        let name = store.write("u1", "meta", 2, b"new").unwrap();
        age_by_two_hours(&dir.path().join(&name));
        let restarted = BlobStore::open(dir.path()).unwrap();
        let swept = restarted.sweep(&HashSet::new(), minute).unwrap();
        assert_eq!(swept.files_removed, 1);
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
