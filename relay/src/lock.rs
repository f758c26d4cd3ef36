//! One relay per data directory: an exclusive advisory lock (`flock`) on
//! `<data dir>/coffer-relay.lock`, held for the life of the process.
//!
//! Two relays on one directory would each run maintenance and orphan sweeps against the other's
//! uploads, and a second one's start-up sweep could delete blobs the first is still writing. The
//! lock is released by the kernel when the process ends, however it ends, so a stale file from a
//! crash never blocks the next start; the PID written into it is only there to name the holder
//! in the error. `coffer-admin migrate-store` takes it on both sides for its run (so that no relay
//! runs on them meanwhile); the other offline commands do not: `backup` is made for a live relay
//! (`VACUUM INTO`), and `restore` refuses any non-empty directory, which a running relay's
//! always is (this file). See docs/adr/0014-home-relays-origins.md.

use std::fs::{File, TryLockError};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "coffer-relay.lock";

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "data directory {dir} is in use by another coffer-relay ({holder}): stop that relay first, \
         or give this one another --data-dir"
    )]
    InUse {
        /// The data directory.
        dir: PathBuf,
        /// `pid N`, or `pid unknown` when the file holds no PID yet.
        holder: String,
    },
    /// The lock file could not be opened, locked or written.
    #[error("cannot lock data directory {dir} ({LOCK_FILE}): {source}")]
    Io {
        /// The data directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Takes the data directory's lock, or says who holds it.
pub fn lock(dir: &Path) -> Result<DataDirLock, LockError> {
    let io = |source| LockError::Io {
        dir: dir.to_owned(),
        source,
    };
    let path = dir.join(LOCK_FILE);
    // Not truncated on open: the holder's PID must survive a failed second start.
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            // A PID is a few digits; anything longer is not one.
            let _ = (&file).take(32).read_to_string(&mut text);
            let holder = match text.trim().parse::<u32>() {
                Ok(pid) => format!("pid {pid}"),
                Err(_) => "pid unknown".to_owned(),
            };
            return Err(LockError::InUse {
                dir: dir.to_owned(),
                holder,
            });
        }
        Err(TryLockError::Error(source)) => return Err(io(source)),
    }
    file.set_len(0).map_err(io)?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())
        .map_err(io)?;
    Ok(DataDirLock { _file: file })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_the_first_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        // flock locks belong to the open file description: a second open in this process
        // conflicts like another process would.
        let err = lock(dir.path()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id()))
                && message.contains("in use by another coffer-relay")
                && message.contains(&dir.path().display().to_string()),
            "{message}"
        );
        drop(first);
        drop(lock(dir.path()).unwrap());
    }

    #[test]
    fn a_stale_file_from_a_crash_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "4242\n").unwrap();
        let _held = lock(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
    }
}
