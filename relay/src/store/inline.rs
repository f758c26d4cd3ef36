//! Small payloads stored in the database (docs/adr/0027-inline-small-volumes-and-login-writes.md).
//!
//! A payload of at most `[storage] inline_max` bytes is written in the same transaction as the
//! volume row that names it, so it rides the group commit (one fsync for a batch of uploads)
//! instead of costing a file's create, write, fsync, rename and directory fsync. Its row's
//! `blob_file` is then an *inline name*, `inline:<user>/<volume>.v<version>.<suffix>`, which is
//! never a path: [`super::blobs::BlobStore`] refuses to open one and ignores its removal.
//!
//! A payload lives exactly as long as the row naming it: triggers (migration 10) delete it in
//! the same statement that replaces or deletes the row (also through an account's cascade), so
//! an inline payload is never an orphan and there is nothing to remove after a commit.

use rand::RngExt as _;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::StoreError;

/// What starts every inline name (a character no user id or blob path has).
pub const PREFIX: &str = "inline:";

/// Whether a row's `blob_file` names an inline payload.
pub fn is_inline(blob_file: &str) -> bool {
    blob_file.starts_with(PREFIX)
}

/// A fresh inline name for a new version (unique like a blob file name: a random suffix).
pub fn new_name(user: &str, volume: &str, version: u64) -> String {
    let suffix: u64 = rand::rng().random();
    format!("{PREFIX}{user}/{volume}.v{version}.{suffix:016x}")
}

/// Stores the payload a row named `name` points at (inside the row's write transaction).
pub fn insert(conn: &Connection, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO inline_payloads (blob_file, bytes) VALUES (?1, ?2)")?
        .execute(params![name, bytes])?;
    Ok(())
}

/// Reads an inline payload, refusing one larger than `max` bytes; `None` if there is none.
pub fn read(conn: &Connection, name: &str, max: u64) -> Result<Option<Vec<u8>>, StoreError> {
    let found: Option<Vec<u8>> = conn
        .prepare_cached("SELECT bytes FROM inline_payloads WHERE blob_file = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    if found.as_ref().is_some_and(|b| b.len() as u64 > max) {
        return Err(StoreError::Corrupt(
            "stored payload is larger than the volume limit",
        ));
    }
    Ok(found)
}

/// The length of an inline payload, without reading it; `None` if there is none.
pub fn length(conn: &Connection, name: &str) -> Result<Option<u64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT length(bytes) FROM inline_payloads WHERE blob_file = ?1")?
        .query_row([name], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|n| u64::try_from(n).unwrap_or(0)))
}

/// How many payloads are stored inline, and their total size.
pub fn totals(conn: &Connection) -> Result<(u64, u64), StoreError> {
    let (count, bytes): (i64, i64) = conn
        .prepare_cached("SELECT count(*), coalesce(sum(length(bytes)), 0) FROM inline_payloads")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok((
        u64::try_from(count).unwrap_or(0),
        u64::try_from(bytes).unwrap_or(0),
    ))
}

/// Whether the database has the inline table (schema version 10 on; a check may read an older
/// database).
pub fn table_exists(conn: &Connection) -> Result<bool, StoreError> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'inline_payloads'",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(n > 0)
}

/// Inline payloads no volume row names (the triggers make these impossible; the consistency
/// check counts them all the same), at most `limit` of their names.
pub fn unreferenced(conn: &Connection, limit: usize) -> Result<(u64, Vec<String>), StoreError> {
    let mut stmt = conn.prepare(
        "SELECT blob_file FROM inline_payloads p WHERE \
         NOT EXISTS (SELECT 1 FROM volumes v WHERE v.blob_file = p.blob_file) AND \
         NOT EXISTS (SELECT 1 FROM volumes_v2 w WHERE w.blob_file = p.blob_file)",
    )?;
    let mut count = 0u64;
    let mut names = Vec::new();
    for name in stmt.query_map([], |r| r.get::<_, String>(0))? {
        let name = name?;
        count += 1;
        if names.len() < limit {
            names.push(name);
        }
    }
    Ok((count, names))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::super::blobs::BlobStore;
    use super::super::tests::user;
    use super::super::volumes::{self, PutOutcome, VolumeRow};
    use super::super::{ClientType, Db, check, users};
    use super::*;

    fn row(name: &str, version: u64, size: u64) -> VolumeRow {
        VolumeRow {
            user_id: "u".into(),
            volume_name: "meta".into(),
            version,
            control_header: "{}".into(),
            blob_file: name.into(),
            signature: [0; 64],
            size_bytes: size,
            updated_at: 0,
        }
    }

    /// Puts a version whose payload is inline (`Some` bytes) or the file `name`, as
    /// `service::volumes::store_upload` does; returns the replaced name.
    fn put(db: &Db, r: VolumeRow, inline_bytes: Option<Vec<u8>>) -> Option<String> {
        db.write_blocking(move |tx| {
            let outcome = volumes::put(tx, &r, u64::MAX)?;
            let PutOutcome::Stored { replaced_blob } = outcome else {
                panic!("not stored: {outcome:?}");
            };
            if let Some(bytes) = &inline_bytes {
                insert(tx, &r.blob_file, bytes)?;
            }
            Ok(replaced_blob)
        })
        .unwrap()
    }

    fn payloads(db: &Db) -> (u64, u64) {
        db.read_blocking(totals).unwrap()
    }

    /// Inline → file → inline: each replacement leaves exactly the current payload, the
    /// quota counts the same sizes, and a restart (reopening) reads what was committed.
    #[test]
    fn replaced_between_inline_and_file_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let (db_path, blob_dir) = (dir.path().join("c.db"), dir.path().join("blobs"));
        let db = Db::open(&db_path).unwrap();
        let blobs = BlobStore::open(&blob_dir).unwrap();
        db.write_blocking(|tx| users::insert(tx, &user("u", "u", ClientType::System)))
            .unwrap();

        let first = new_name("u", "meta", 1);
        assert!(is_inline(&first) && first.starts_with("inline:u/meta.v1."));
        assert_eq!(put(&db, row(&first, 1, 3), Some(b"one".to_vec())), None);
        assert_eq!(
            db.read_blocking(|c| read(c, &first, 10)).unwrap().unwrap(),
            b"one"
        );
        assert!(db.read_blocking(|c| read(c, &first, 2)).is_err(), "max");
        assert_eq!(payloads(&db), (1, 3));

        // Replaced by a file version: the inline payload goes in the same transaction.
        let file = blobs.write("u", "meta", 2, &[9; 100]).unwrap();
        assert_eq!(put(&db, row(&file, 2, 100), None).as_deref(), Some(&*first));
        assert_eq!(payloads(&db), (0, 0));
        assert_eq!(db.read_blocking(|c| read(c, &first, 10)).unwrap(), None);
        // Removing a replaced inline name is a no-op, and it is never opened as a path.
        blobs.remove(&first);
        assert!(blobs.read(&first, 10).is_err());

        // And back: the file is the replaced blob, removed after the commit as before.
        let third = new_name("u", "meta", 3);
        let replaced = put(&db, row(&third, 3, 5), Some(b"three".to_vec())).unwrap();
        assert_eq!(replaced, file);
        blobs.remove(&replaced);
        assert!(blobs.read(&file, 1000).unwrap().is_none());
        let consistency = check::check(&db_path, &blob_dir).unwrap();
        assert!(consistency.is_consistent(), "{consistency:?}");
        assert_eq!(
            (consistency.volume_rows, consistency.inline_rows),
            (1, 1),
            "{consistency:?}"
        );

        // A restart: a new connection reads the committed payload; the sweep keeps it (it is
        // no file) and finds no orphan.
        drop(db);
        let db = Db::open(&db_path).unwrap();
        assert_eq!(
            db.read_blocking(|c| read(c, &third, 10)).unwrap().unwrap(),
            b"three"
        );
        let referenced: HashSet<String> = db
            .read_blocking(|c| volumes::blob_files_of(c, "u"))
            .unwrap();
        let swept = blobs.sweep(&referenced, Duration::ZERO).unwrap();
        assert_eq!(swept.files_removed, 0);
        assert_eq!(
            db.read_blocking(|c| read(c, &third, 10)).unwrap().unwrap(),
            b"three"
        );
        assert_eq!(
            db.read_blocking(|c| users::get(c, "u"))
                .unwrap()
                .unwrap()
                .storage_used_bytes,
            5
        );
    }

    /// An account's deletion (cascading to its rows) and a v2 row's deletion take their inline
    /// payloads with them; a payload without a row is counted by the check.
    #[test]
    fn payloads_go_with_their_rows() {
        let dir = tempfile::tempdir().unwrap();
        let (db_path, blob_dir) = (dir.path().join("c.db"), dir.path().join("blobs"));
        let db = Db::open(&db_path).unwrap();
        db.write_blocking(|tx| {
            users::insert(tx, &user("u", "u", ClientType::System))?;
            users::insert(tx, &user("w", "w", ClientType::System))
        })
        .unwrap();
        let a = new_name("u", "meta", 1);
        put(&db, row(&a, 1, 1), Some(vec![1]));
        let v2_name = new_name("w", "vault", 1);
        db.write_blocking(|tx| {
            tx.execute(
                "INSERT INTO volumes_v2 (user_id, volume_name, epoch, version, header, \
                 signature, blob_file, size_bytes, updated_at) \
                 VALUES ('w', 'vault', 1, 1, x'00', zeroblob(64), ?1, 2, 0)",
                [&v2_name],
            )?;
            insert(tx, &v2_name, &[1, 2])
        })
        .unwrap();
        assert_eq!(payloads(&db), (2, 3));

        assert!(db.write_blocking(|tx| users::delete(tx, "u")).unwrap());
        assert_eq!(payloads(&db), (1, 2));
        db.write_blocking(|tx| {
            tx.execute("DELETE FROM volumes_v2 WHERE user_id = 'w'", [])?;
            Ok(())
        })
        .unwrap();
        assert_eq!(payloads(&db), (0, 0));

        // Forced past the triggers: the check names the orphan, and a row whose payload is
        // missing is an inconsistency.
        db.write_blocking(|tx| insert(tx, "inline:w/gone.v1.0000000000000001", &[0]))
            .unwrap();
        let c = check::check(&db_path, &blob_dir).unwrap();
        assert_eq!(c.orphan_inline_payloads, 1, "{c:?}");
        let b = new_name("w", "meta", 1);
        let mut without_payload = row(&b, 1, 4);
        without_payload.user_id = "w".into();
        db.write_blocking(move |tx| volumes::put(tx, &without_payload, u64::MAX).map(drop))
            .unwrap();
        let c = check::check(&db_path, &blob_dir).unwrap();
        assert!(!c.is_consistent() && c.missing_blobs == 1, "{c:?}");
    }
}
