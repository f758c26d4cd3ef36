//! A consistency check of a relay's stored state: the database and the blob files together.
//!
//! What "nothing corrupted" means, checked after the fact: SQLite's own `integrity_check` and
//! `foreign_key_check` pass; every volume row (v1 and v2) points at a blob file — or an inline
//! payload in the database (`store::inline`) — that exists and has exactly the size the row
//! records; every user's `storage_used_bytes` is the sum of their
//! rows' sizes (quota accounting); and which files no row points at (orphans — harmless, swept
//! at start-up — and temporary files of uploads that never finished).
//!
//! The soak run (`coffer-bench --soak`) and the crash and fault tests assert it after the relay
//! stopped; it reads only, through a read-only connection, so it may also run beside a live
//! relay (then files of uploads in flight may show as orphans).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::{StoreError, inline};

/// At most this many problems of each kind are listed (all are counted).
const LISTED: usize = 20;

/// What the check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Consistency {
    /// `PRAGMA integrity_check`'s answer (`ok` when sound).
    pub integrity: String,
    /// Rows `PRAGMA foreign_key_check` reports.
    pub foreign_key_violations: u64,
    /// Volume rows (v1 and v2).
    pub volume_rows: u64,
    /// Of them, rows whose payload is stored inline in the database (`store::inline`).
    pub inline_rows: u64,
    /// Rows whose blob file is missing (count).
    pub missing_blobs: u64,
    /// Rows whose blob file's size differs from the row's `size_bytes` (count).
    pub wrong_sizes: u64,
    /// Users whose `storage_used_bytes` is not the sum of their rows' sizes (count).
    pub wrong_quotas: u64,
    /// Blob files no row points at (harmless; removed by the start-up sweep).
    pub orphan_files: u64,
    /// Temporary files of uploads that did not finish (harmless; swept likewise).
    pub temporary_files: u64,
    /// Inline payloads no row names (the schema's triggers make these impossible; harmless).
    pub orphan_inline_payloads: u64,
    /// The first problems found, for a person to read (ids and file names, no content).
    pub problems: Vec<String>,
}

impl Consistency {
    /// Whether the database and the files agree (orphans and temporary files allowed).
    pub fn is_consistent(&self) -> bool {
        self.integrity == "ok"
            && self.foreign_key_violations == 0
            && self.missing_blobs == 0
            && self.wrong_sizes == 0
            && self.wrong_quotas == 0
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < LISTED {
            self.problems.push(text);
        }
    }
}

/// Checks the database at `db_path` against the blob files under `blob_dir`.
pub fn check(db_path: &Path, blob_dir: &Path) -> Result<Consistency, StoreError> {
    let conn = Connection::open_with_flags(
        db_path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut out = Consistency {
        integrity: conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?,
        ..Consistency::default()
    };
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    out.foreign_key_violations = stmt.query_map([], |_| Ok(()))?.count() as u64;
    drop(stmt);

    let mut sums: HashMap<String, u64> = HashMap::new();
    let mut referenced = HashSet::new();
    let mut stmt = conn.prepare(
        "SELECT user_id, blob_file, size_bytes FROM volumes \
         UNION ALL SELECT user_id, blob_file, size_bytes FROM volumes_v2",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (user, file, size) = row?;
        let size = u64::try_from(size).unwrap_or(u64::MAX);
        out.volume_rows += 1;
        *sums.entry(user).or_default() += size;
        if inline::is_inline(&file) {
            out.inline_rows += 1;
            match inline::length(&conn, &file)? {
                Some(len) if len == size => {}
                Some(len) => {
                    out.wrong_sizes += 1;
                    out.problem(format!("{file}: {len} bytes inline, {size} in its row"));
                }
                None => {
                    out.missing_blobs += 1;
                    out.problem(format!("{file}: missing"));
                }
            }
            continue;
        }
        match fs::metadata(blob_dir.join(&file)) {
            Ok(meta) if meta.len() == size => {}
            Ok(meta) => {
                out.wrong_sizes += 1;
                out.problem(format!(
                    "{file}: {} bytes on disk, {size} in its row",
                    meta.len()
                ));
            }
            Err(_) => {
                out.missing_blobs += 1;
                out.problem(format!("{file}: missing"));
            }
        }
        referenced.insert(file);
    }
    drop(stmt);

    let (orphans, names) = if inline::table_exists(&conn)? {
        inline::unreferenced(&conn, LISTED)?
    } else {
        (0, Vec::new())
    };
    out.orphan_inline_payloads = orphans;
    for name in names {
        out.problem(format!("{name}: inline payload no row names"));
    }

    let mut stmt = conn.prepare("SELECT id, storage_used_bytes FROM users")?;
    let users = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for user in users {
        let (id, used) = user?;
        let expected = sums.get(&id).copied().unwrap_or(0);
        if u64::try_from(used).ok() != Some(expected) {
            out.wrong_quotas += 1;
            out.problem(format!(
                "user {id}: storage_used_bytes {used}, rows sum to {expected}"
            ));
        }
    }

    if blob_dir.exists() {
        for dir in fs::read_dir(blob_dir)? {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            let user = dir.file_name().to_string_lossy().into_owned();
            for file in fs::read_dir(dir.path())? {
                let name = file?.file_name().to_string_lossy().into_owned();
                if name.starts_with(".tmp-") {
                    out.temporary_files += 1;
                } else if !referenced.contains(&format!("{user}/{name}")) {
                    out.orphan_files += 1;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::blobs::BlobStore;
    use super::super::tests::user;
    use super::super::volumes::{self, VolumeRow};
    use super::super::{ClientType, Db, users};
    use super::*;

    #[test]
    fn it_finds_what_it_should() {
        let dir = tempfile::tempdir().unwrap();
        let (db_path, blob_dir) = (dir.path().join("c.db"), dir.path().join("blobs"));
        let db = Db::open(&db_path).unwrap();
        let blobs = BlobStore::open(&blob_dir).unwrap();
        let file = blobs.write("u", "meta", 1, &[7; 100]).unwrap();
        let row = VolumeRow {
            user_id: "u".into(),
            volume_name: "meta".into(),
            version: 1,
            control_header: "{}".into(),
            blob_file: file.clone(),
            signature: [0; 64],
            size_bytes: 100,
            updated_at: 0,
        };
        db.write_blocking(|tx| {
            users::insert(tx, &user("u", "u", ClientType::System))?;
            volumes::put(tx, &row, u64::MAX).map(drop)
        })
        .unwrap();
        let ok = check(&db_path, &blob_dir).unwrap();
        assert!(ok.is_consistent(), "{ok:?}");
        assert_eq!((ok.volume_rows, ok.orphan_files), (1, 0));

        // An orphan is reported but is not an inconsistency.
        blobs.write("u", "meta", 2, &[1; 10]).unwrap();
        let orphan = check(&db_path, &blob_dir).unwrap();
        assert!(
            orphan.is_consistent() && orphan.orphan_files == 1,
            "{orphan:?}"
        );

        // A torn blob (wrong size) is.
        fs::write(blob_dir.join(&file), [7; 50]).unwrap();
        let torn = check(&db_path, &blob_dir).unwrap();
        assert!(!torn.is_consistent() && torn.wrong_sizes == 1, "{torn:?}");

        // So is a missing one, and a quota that does not add up.
        fs::remove_file(blob_dir.join(&file)).unwrap();
        db.write_blocking(|tx| {
            tx.execute("UPDATE users SET storage_used_bytes = 5", [])?;
            Ok(())
        })
        .unwrap();
        let broken = check(&db_path, &blob_dir).unwrap();
        assert_eq!(
            (broken.missing_blobs, broken.wrong_quotas),
            (1, 1),
            "{broken:?}"
        );
        assert!(!broken.is_consistent());
    }
}
