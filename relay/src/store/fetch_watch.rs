//! Telling the fetch cache (`crate::fetch_cache`) when what it holds may have changed.
//!
//! The same pattern as [`super::auth_watch`]: temporary triggers on the writer connection call
//! a function whenever a row a download's answer depends on is written — a volume (v1 or v2),
//! a tombstone, a v1 sharing relationship, a v2 pairing, grant or wrapped key, or a user
//! deleted (cascades included) — naming the **owner** (the system) the row belongs to. The
//! owners named are collected; after the transaction ends (committed or rolled back), and
//! *before* its callers are answered, each named owner's generation moves on. A row whose owner
//! cannot be named (a grant whose pairing is already gone) moves every owner's generation.
//!
//! Generations are kept per bucket of owners (a hash of the owner id picks one of
//! [`BUCKETS`]), plus one global generation: two owners sharing a bucket only cost each other
//! a re-read. A reader takes the owner's [`FetchGeneration`] *before* it reads the database, so
//! an answer read from the state before a change is always tagged with the old generation,
//! however the read and the commit interleave; the cache serves an entry only while its
//! generation is current.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;

use super::StoreError;

/// The SQL function the triggers call, with the owner's id (or NULL: every owner).
const FUNCTION: &str = "coffer_fetch_changed";

/// Owner buckets.
pub const BUCKETS: usize = 1024;

/// The owner a grant or wrapped key row belongs to (NULL once its pairing is gone; the
/// pairing's own delete trigger names the owner then).
macro_rules! pairing_owner {
    ($row:literal) => {
        concat!(
            "(SELECT system_user_id FROM main.pairings WHERE id = ",
            $row,
            ".pairing_id)"
        )
    };
}

/// Triggers on insert, update and delete of `table`, naming the owner column `owner` (of the
/// old and the new row).
macro_rules! owner_triggers {
    ($table:literal, $old:expr, $new:expr) => {
        concat!(
            "CREATE TEMP TRIGGER IF NOT EXISTS coffer_fetch_",
            $table,
            "_ins AFTER INSERT ON main.",
            $table,
            " BEGIN SELECT coffer_fetch_changed(",
            $new,
            "); END;\n",
            "CREATE TEMP TRIGGER IF NOT EXISTS coffer_fetch_",
            $table,
            "_upd AFTER UPDATE ON main.",
            $table,
            " BEGIN SELECT coffer_fetch_changed(",
            $old,
            "), coffer_fetch_changed(",
            $new,
            "); END;\n",
            "CREATE TEMP TRIGGER IF NOT EXISTS coffer_fetch_",
            $table,
            "_del AFTER DELETE ON main.",
            $table,
            " BEGIN SELECT coffer_fetch_changed(",
            $old,
            "); END;\n",
        )
    };
}

/// The triggers (temporary: they live on the writer connection only, never in the file).
const TRIGGERS: &str = concat!(
    owner_triggers!("volumes", "OLD.user_id", "NEW.user_id"),
    owner_triggers!("volumes_v2", "OLD.user_id", "NEW.user_id"),
    owner_triggers!("tombstones", "OLD.user_id", "NEW.user_id"),
    owner_triggers!("sharing", "OLD.system_user_id", "NEW.system_user_id"),
    owner_triggers!("pairings", "OLD.system_user_id", "NEW.system_user_id"),
    owner_triggers!("grants", pairing_owner!("OLD"), pairing_owner!("NEW")),
    owner_triggers!("grant_keys", pairing_owner!("OLD"), pairing_owner!("NEW")),
    "CREATE TEMP TRIGGER IF NOT EXISTS coffer_fetch_users_del AFTER DELETE ON main.users \
     BEGIN SELECT coffer_fetch_changed(OLD.id); END;\n",
    "CREATE TEMP TRIGGER IF NOT EXISTS coffer_fetch_users_upd AFTER UPDATE OF id ON main.users \
     BEGIN SELECT coffer_fetch_changed(OLD.id), coffer_fetch_changed(NEW.id); END;\n",
);

/// What the running transaction changed.
#[derive(Debug, Default)]
struct Dirty {
    all: bool,
    buckets: Vec<usize>,
}

/// A generation an answer about one owner was read under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchGeneration {
    global: u64,
    bucket: u64,
}

/// The per-owner generations and what the running transaction changed.
#[derive(Debug)]
pub struct FetchWatch {
    dirty: Arc<Mutex<Dirty>>,
    global: AtomicU64,
    buckets: Box<[AtomicU64]>,
}

/// The bucket of an owner id (FNV-1a: fixed, so tests can rely on it; a collision only costs
/// a re-read).
pub fn bucket_of(owner: &str) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in owner.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % BUCKETS as u64) as usize
}

impl FetchWatch {
    fn new() -> Self {
        Self {
            dirty: Arc::default(),
            global: AtomicU64::new(0),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Installs the function and triggers on the writer connection.
    pub(super) fn install(writer: &Connection) -> Result<FetchWatch, StoreError> {
        let watch = FetchWatch::new();
        let dirty = Arc::clone(&watch.dirty);
        writer.create_scalar_function(FUNCTION, 1, FunctionFlags::SQLITE_UTF8, move |ctx| {
            let mut dirty = dirty.lock().unwrap_or_else(PoisonError::into_inner);
            match ctx.get_raw(0) {
                ValueRef::Text(owner) => match std::str::from_utf8(owner) {
                    Ok(owner) => dirty.buckets.push(bucket_of(owner)),
                    Err(_) => dirty.all = true,
                },
                _ => dirty.all = true,
            }
            Ok(0_i64)
        })?;
        writer.execute_batch(TRIGGERS)?;
        Ok(watch)
    }

    /// Called after every transaction on the writer ends (committed or not), before anyone is
    /// told about it.
    pub(super) fn transaction_ended(&self) {
        let mut dirty = self.dirty.lock().unwrap_or_else(PoisonError::into_inner);
        if dirty.all {
            self.global.fetch_add(1, Ordering::SeqCst);
        }
        for bucket in dirty.buckets.drain(..) {
            if let Some(generation) = self.buckets.get(bucket) {
                generation.fetch_add(1, Ordering::SeqCst);
            }
        }
        dirty.all = false;
    }

    /// Generations without triggers, moved by the caller ([`Self::move_owner`],
    /// [`Self::move_all`]): a shared database's notifications (`crate::pg::watch`).
    pub fn detached() -> FetchWatch {
        FetchWatch::new()
    }

    /// Moves `owner`'s generation (and its bucket's).
    pub fn move_owner(&self, owner: &str) {
        if let Some(generation) = self.buckets.get(bucket_of(owner)) {
            generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Moves every owner's generation.
    pub fn move_all(&self) {
        self.global.fetch_add(1, Ordering::SeqCst);
    }

    /// The current generation of `owner`'s answers; take it *before* reading what is to be
    /// cached.
    pub fn generation(&self, owner: &str) -> FetchGeneration {
        FetchGeneration {
            global: self.global.load(Ordering::SeqCst),
            bucket: self
                .buckets
                .get(bucket_of(owner))
                .map_or(u64::MAX, |b| b.load(Ordering::SeqCst)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use super::super::tests::user;
    use super::super::volumes::{self, VolumeRow};
    use super::super::{ClientType, Db, StoreError, sessions, users};

    fn row(owner: &str, version: u64) -> VolumeRow {
        VolumeRow {
            user_id: owner.into(),
            volume_name: "meta".into(),
            version,
            control_header: "{}".into(),
            blob_file: format!("{owner}/meta.v{version}.bin"),
            signature: [0; 64],
            size_bytes: 4124,
            updated_at: 0,
        }
    }

    /// A database with systems `a` and `b`, each with one volume.
    fn two_owners() -> (tempfile::TempDir, Arc<Db>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        db.write_blocking(|tx| {
            for id in ["a", "b"] {
                users::insert(tx, &user(id, id, ClientType::System))?;
                volumes::put(tx, &row(id, 1), u64::MAX)?;
            }
            Ok(())
        })
        .unwrap();
        (dir, db)
    }

    /// Runs `write` and says whether owner `a`'s and `b`'s generations moved.
    fn moves(
        db: &Db,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(), StoreError>,
    ) -> (bool, bool) {
        let before = (db.fetch_generation("a"), db.fetch_generation("b"));
        db.write_blocking(write).unwrap();
        (
            db.fetch_generation("a") != before.0,
            db.fetch_generation("b") != before.1,
        )
    }

    #[test]
    fn buckets_of_the_test_owners_differ() {
        assert_ne!(super::bucket_of("a"), super::bucket_of("b"));
    }

    #[test]
    fn a_write_moves_only_its_owners_generation() {
        let (_d, db) = two_owners();
        assert_eq!(
            moves(&db, |tx| volumes::put(tx, &row("a", 2), u64::MAX).map(drop)),
            (true, false),
            "a's new version"
        );
        assert_eq!(
            moves(&db, |tx| sessions::create(tx, &[9; 32], "b", i64::MAX)),
            (false, false),
            "a login changes no download"
        );
        assert_eq!(
            moves(&db, |tx| users::delete(tx, "b").map(drop)),
            (false, true),
            "b's account (and by cascade its volumes) deleted"
        );
        let before = db.fetch_generation("a");
        let failed = db.write_blocking(|tx| {
            volumes::put(tx, &row("a", 3), u64::MAX)?;
            Err::<(), _>(StoreError::Corrupt("fail after the put"))
        });
        assert!(failed.is_err());
        assert_ne!(
            db.fetch_generation("a"),
            before,
            "a rolled-back write moves it too: safe side"
        );
    }

    #[test]
    fn group_commits_move_it_before_answering() {
        let (_d, db) = two_owners();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let before = db.fetch_generation("a");
        rt.block_on(db.write(|tx| volumes::put(tx, &row("a", 5), u64::MAX).map(drop)))
            .unwrap();
        assert_ne!(db.fetch_generation("a"), before);
    }
}
