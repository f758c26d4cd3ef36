//! What an operator reads when the database cannot be opened, migrated or written: the path,
//! what is wrong in plain words, and the next step. SQLite's own sentences ("file is not a
//! database", "attempt to write a readonly database") name neither. Used by the relay at
//! start-up and by `coffer-admin`'s offline commands.

use std::path::Path;

use rusqlite::ErrorCode;

use super::StoreError;

/// The user id this process runs as (from `/proc/self/status`; `None` where there is none).
pub fn current_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    // Real, effective, saved, filesystem: file access is checked against the effective one.
    line.split_whitespace().nth(2)?.parse().ok()
}

fn uid_text() -> String {
    current_uid().map_or_else(|| "this user".to_owned(), |uid| format!("uid {uid}"))
}

/// The directory holding `path` (`.` for a bare file name).
fn dir_of(path: &Path) -> String {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
        _ => ".".to_owned(),
    }
}

/// An explanation of SQLite's `err` on the database at `path`.
pub fn explain_sqlite(path: &Path, err: &rusqlite::Error) -> String {
    let p = path.display();
    let rusqlite::Error::SqliteFailure(failure, _) = err else {
        return format!("database {p}: {err}");
    };
    match failure.code {
        ErrorCode::NotADatabase => format!(
            "{p} is not a Coffer database (SQLite: {err}): check that `database` / `data_dir` \
             name the relay's coffer.db; if this is the relay's file and it is damaged, restore \
             it from a backup (`coffer-admin restore`)"
        ),
        ErrorCode::DatabaseCorrupt => format!(
            "{p} is damaged (SQLite: {err}): stop the relay, keep a copy of the file, see \
             `coffer-admin check-data`, and restore from a backup (`coffer-admin restore`)"
        ),
        ErrorCode::ReadOnly | ErrorCode::PermissionDenied => format!(
            "{p} is read-only for {uid} (SQLite: {err}): check the owner/permissions of the \
             file and of its directory {dir} (SQLite also creates {p}-wal and {p}-shm beside \
             it), e.g. `chown -R <relay user> {dir}`, and that the filesystem is not mounted \
             read-only",
            uid = uid_text(),
            dir = dir_of(path)
        ),
        ErrorCode::CannotOpen => format!(
            "cannot open {p} as {uid} (SQLite: {err}): check that the directory {dir} exists \
             and that {uid} may read and write it and the file",
            uid = uid_text(),
            dir = dir_of(path)
        ),
        ErrorCode::DiskFull => format!(
            "the filesystem holding {p} is full (SQLite: {err}): free space, or move the data \
             directory to a larger disk"
        ),
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => format!(
            "{p} is locked by another process (SQLite: {err}): another relay, a backup or a \
             `sqlite3` shell holding a transaction; stop it or try again"
        ),
        ErrorCode::SystemIoFailure => {
            format!("I/O error on {p} (SQLite: {err}): check the disk (`dmesg`) and the free space")
        }
        _ => format!("database {p}: {err}"),
    }
}

/// An explanation of `err` on the database at `path` (SQLite errors as [`explain_sqlite`]).
pub fn explain(path: &Path, err: &StoreError) -> String {
    let p = path.display();
    match err {
        StoreError::Sqlite(e) => explain_sqlite(path, e),
        StoreError::TooNew { found, supported } => format!(
            "{p} has schema version {found}, newer than this build supports ({supported}): run \
             the coffer-relay release that wrote it (or newer), or restore a backup made by this \
             release"
        ),
        StoreError::Corrupt(what) => format!(
            "{p} holds data this relay cannot read ({what}): see `coffer-admin check-data`, \
             restore from a backup (`coffer-admin restore`)"
        ),
        StoreError::Busy => format!(
            "{p} is locked by another process: another relay, a backup or a `sqlite3` shell \
             holding a transaction; stop it or try again"
        ),
        StoreError::DiskFull => format!(
            "the filesystem holding {p} is full: free space, or move the data directory to a \
             larger disk"
        ),
        StoreError::Io(e) => format!("database {p}: {e}"),
        StoreError::Unavailable(why) => format!("database {p} is unavailable: {why}"),
        StoreError::Backend(why) => format!("database {p}: {why}"),
        // Already names the file and the next step (the importer, for a PluralLog database).
        StoreError::Foreign(message) => message.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rusqlite::{Connection, OpenFlags};

    /// As root (the test runner), file permissions do not stop writes; a read-only connection
    /// gives SQLite's read-only error just the same, which is what is mapped here.
    #[test]
    fn a_read_only_database_names_path_uid_and_next_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coffer.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let ro = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let err = ro.execute("INSERT INTO t VALUES (1)", []).unwrap_err();
        let text = explain(&path, &StoreError::Sqlite(err));
        assert!(
            text.starts_with(&format!("{} is read-only for uid ", path.display())),
            "{text}"
        );
        assert!(text.contains("owner/permissions"), "{text}");
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
    }

    #[test]
    fn a_file_that_is_not_a_database_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coffer.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let err = super::super::Db::open(&path).expect_err("refused");
        let text = explain(&path, &err);
        assert!(
            text.starts_with(&format!("{} is not a Coffer database", path.display())),
            "{text}"
        );
        assert!(text.contains("coffer-admin restore"), "{text}");
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("coffer.db");
        let err = super::super::Db::open(&path).expect_err("refused");
        let text = explain(&path, &err);
        assert!(
            text.starts_with(&format!("cannot open {}", path.display())),
            "{text}"
        );
        assert!(text.contains("absent"), "{text}");
    }

    #[test]
    fn the_uid_is_known_on_linux() {
        assert!(current_uid().is_some());
    }
}
