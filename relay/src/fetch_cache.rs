//! Download answers held in memory, so that a repeated fetch of a small volume — a friend's
//! poll, an owner's second device, a `304 Not Modified` — is answered on the async worker
//! without a trip to the blocking pool (docs/adr/0028-fetch-fast-path-and-request-log.md).
//!
//! An entry is one route's answer to one caller about one volume of one owner: the version it
//! holds and, for payloads small enough, the complete pre-encoded `200` body (the exact bytes
//! the database path answers). Nothing is held that the relay does not already store: opaque
//! padded payloads and their signed headers, the wrapped keys it serves, and ids.
//!
//! An entry is used only while all of these hold:
//! - the owner's *fetch generation* is the one it was read under (`store::fetch_watch`: every
//!   write to a volume, tombstone, relationship, pairing, grant or wrapped key of the owner, and
//!   the deletion of an account, moves it before the writer's caller is answered; the reader
//!   takes it *before* its read, so an answer read before a change can never be served after
//!   it, whichever way the read and the commit interleave);
//! - a v2 grant it was authorised by has not expired;
//! - it was read less than [`TTL`] ago (a backstop against writes the relay cannot see, such
//!   as an operator's `sqlite3` shell).
//!
//! Who the caller is comes from the session, checked before the cache is consulted
//! (`session_cache`: a revoked session, an expired one or a deleted account is refused first).
//!
//! Bounded by total bytes (`[cache] fetch_bytes`); a body larger than [`MAX_BODY`] is not held
//! (its version still is, for `304`s). When full, entries past their time-to-live go first, then
//! arbitrary ones until a quarter of the budget is free.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;

use crate::storage::watch::FetchGeneration;

/// Longest an entry is trusted without re-reading the database.
pub const TTL: Duration = Duration::from_secs(60);

/// Largest body held, bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// Bytes counted per entry besides its body and ids (map slot, times, lengths).
const ENTRY_OVERHEAD: usize = 128;

/// The download routes whose answers are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET /api/v1/volumes/{name}/download`.
    V1Own,
    /// `GET /api/v1/shared/{system}/volumes/{name}`.
    V1Shared,
    /// `GET /api/v2/volumes/{name}`.
    V2Own,
    /// `GET /api/v2/shared/{owner}/volumes/{name}`.
    V2Shared,
}

/// What an answer is about: the route, the caller, the owner and the volume.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FetchKey {
    route: Route,
    caller: String,
    owner: String,
    volume: String,
}

impl FetchKey {
    /// The key of `caller`'s fetch of `owner`'s `volume` through `route`.
    pub fn new(route: Route, caller: &str, owner: &str, volume: &str) -> Self {
        Self {
            route,
            caller: caller.to_owned(),
            owner: owner.to_owned(),
            volume: volume.to_owned(),
        }
    }

    /// The volume's owner (whose fetch generation the answer depends on).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn size(&self) -> usize {
        self.caller.len() + self.owner.len() + self.volume.len()
    }
}

/// A held answer.
#[derive(Debug)]
struct Entry {
    generation: FetchGeneration,
    version: u64,
    body: Option<Bytes>,
    /// Unix seconds the authorising grant expires at (0: never).
    expires_at: u64,
    read_at: Instant,
    size: usize,
}

/// What the cache answers a fetch with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    /// The client's `If-None-Match` version is current: `304`.
    NotModified,
    /// The complete `200` body.
    Body(Bytes),
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<FetchKey, Entry>,
    bytes: usize,
}

impl Inner {
    fn remove(&mut self, key: &FetchKey) {
        if let Some(old) = self.entries.remove(key) {
            self.bytes -= old.size;
        }
    }
}

/// The cache (one per relay, in `AppState`).
#[derive(Debug)]
pub struct FetchCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
    /// Fetches answered from the cache (200 or 304).
    hits: AtomicU64,
    /// Fetches that went to the database.
    misses: AtomicU64,
}

impl FetchCache {
    /// A cache of at most `max_bytes` (0: nothing is held).
    pub fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
            inner: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Entries are plain values; a panic elsewhere cannot leave the map inconsistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The held answer for `key` when it is still exact under `generation` (the owner's,
    /// taken now) at `now` (Unix seconds), for a client holding version `since`.
    pub fn get(
        &self,
        key: &FetchKey,
        generation: FetchGeneration,
        since: Option<u64>,
        now: i64,
    ) -> Option<Hit> {
        let hit = self.lookup(key, generation, since, now);
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    fn lookup(
        &self,
        key: &FetchKey,
        generation: FetchGeneration,
        since: Option<u64>,
        now: i64,
    ) -> Option<Hit> {
        if self.max_bytes == 0 {
            return None;
        }
        let mut inner = self.inner();
        let entry = inner.entries.get(key)?;
        let live = entry.generation == generation
            && (entry.expires_at == 0 || i64::try_from(entry.expires_at).is_ok_and(|e| e > now))
            && entry.read_at.elapsed() < TTL;
        if !live {
            inner.remove(key);
            return None;
        }
        if since.is_some_and(|seen| seen >= entry.version) {
            return Some(Hit::NotModified);
        }
        entry.body.clone().map(Hit::Body)
    }

    /// Holds the answer read under `generation` (taken *before* the read): `version`, and the
    /// `200` body when one was built (`None` after a `304`). A body over [`MAX_BODY`] is not
    /// held. `expires_at`: when the authorising grant expires (0: never).
    pub fn insert(
        &self,
        key: FetchKey,
        generation: FetchGeneration,
        version: u64,
        body: Option<Bytes>,
        expires_at: u64,
    ) {
        if self.max_bytes == 0 {
            return;
        }
        let mut body = body.filter(|b| b.len() <= MAX_BODY);
        let mut inner = self.inner();
        if let Some(old) = inner.entries.get(&key) {
            // A 304 read learns nothing new about an entry of the same version and generation:
            // keep its body.
            if body.is_none() && old.generation == generation && old.version == version {
                body.clone_from(&old.body);
            }
        }
        inner.remove(&key);
        let size = ENTRY_OVERHEAD + key.size() + body.as_ref().map_or(0, Bytes::len);
        if size > self.max_bytes {
            return;
        }
        if inner.bytes + size > self.max_bytes {
            inner.entries.retain(|_, e| e.read_at.elapsed() < TTL);
            inner.bytes = inner.entries.values().map(|e| e.size).sum();
            let target = self.max_bytes - self.max_bytes / 4;
            if inner.bytes + size > target {
                let mut bytes = inner.bytes;
                inner.entries.retain(|_, e| {
                    if bytes + size <= target {
                        return true;
                    }
                    bytes -= e.size;
                    false
                });
                inner.bytes = bytes;
            }
        }
        inner.bytes += size;
        inner.entries.insert(
            key,
            Entry {
                generation,
                version,
                body,
                expires_at,
                read_at: Instant::now(),
                size,
            },
        );
    }

    /// Answers held.
    pub fn len(&self) -> usize {
        self.inner().entries.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held (bodies, ids and a per-entry overhead).
    pub fn bytes(&self) -> usize {
        self.inner().bytes
    }

    /// Appends the cache's `/metrics` families (aggregates only) to `out`.
    pub fn render(&self, out: &mut String) {
        let (entries, bytes) = {
            let inner = self.inner();
            (inner.entries.len(), inner.bytes)
        };
        let lines = [
            (
                "coffer_fetch_cache_lookups_total",
                "counter",
                "Downloads looked up in the fetch cache, by result (hit: answered from memory).",
                format!(
                    "coffer_fetch_cache_lookups_total{{result=\"hit\"}} {}\n\
                     coffer_fetch_cache_lookups_total{{result=\"miss\"}} {}",
                    self.hits.load(Ordering::Relaxed),
                    self.misses.load(Ordering::Relaxed)
                ),
            ),
            (
                "coffer_fetch_cache_entries",
                "gauge",
                "Download answers held in the fetch cache.",
                format!("coffer_fetch_cache_entries {entries}"),
            ),
            (
                "coffer_fetch_cache_bytes",
                "gauge",
                "Bytes held by the fetch cache (cache.fetch_bytes bounds it).",
                format!("coffer_fetch_cache_bytes {bytes}"),
            ),
        ];
        for (name, kind, help, samples) in lines {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{samples}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::Db;

    /// Two distinct generations of owner `s`, from a real database (they are opaque).
    fn generations() -> (tempfile::TempDir, FetchGeneration, FetchGeneration) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let first = db.fetch_generation("s");
        db.write_blocking(|tx| {
            tx.execute(
                "INSERT INTO users (id, public_signing_key, public_exchange_key, client_type, \
                 protocol_version, feature_set, storage_used_bytes, created_at) \
                 VALUES ('s', zeroblob(32), zeroblob(32), 'system', 1, '[]', 0, 0)",
                [],
            )?;
            tx.execute("DELETE FROM users WHERE id = 's'", [])?;
            Ok(())
        })
        .unwrap();
        let second = db.fetch_generation("s");
        assert_ne!(first, second);
        (dir, first, second)
    }

    fn key(volume: &str) -> FetchKey {
        FetchKey::new(Route::V1Shared, "f", "s", volume)
    }

    #[test]
    fn an_entry_is_used_only_under_its_generation() {
        let (_d, g1, g2) = generations();
        let cache = FetchCache::new(1 << 20);
        cache.insert(key("meta"), g1, 3, Some(Bytes::from_static(b"{}")), 0);
        assert_eq!(
            cache.get(&key("meta"), g1, None, 0),
            Some(Hit::Body(Bytes::from_static(b"{}")))
        );
        assert_eq!(
            cache.get(&key("meta"), g1, Some(3), 0),
            Some(Hit::NotModified)
        );
        assert!(cache.get(&key("meta"), g1, Some(2), 0).is_some());
        assert_eq!(cache.get(&key("other"), g1, None, 0), None);
        assert_eq!(cache.get(&key("meta"), g2, None, 0), None, "moved on");
        assert!(cache.is_empty(), "and the stale entry is gone");
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn a_stale_insert_is_never_served() {
        // read under g1 -> the writer commits and moves the generation to g2 -> the reader
        // inserts what it read: a lookup under g2 must not serve it.
        let (_d, g1, g2) = generations();
        let cache = FetchCache::new(1 << 20);
        cache.insert(key("meta"), g1, 1, Some(Bytes::from_static(b"old")), 0);
        assert_eq!(cache.get(&key("meta"), g2, None, 0), None);
    }

    #[test]
    fn a_grant_expiry_ends_an_entry() {
        let (_d, g1, _) = generations();
        let cache = FetchCache::new(1 << 20);
        cache.insert(key("meta"), g1, 1, Some(Bytes::from_static(b"x")), 100);
        assert!(cache.get(&key("meta"), g1, None, 99).is_some());
        assert_eq!(cache.get(&key("meta"), g1, None, 100), None);
    }

    #[test]
    fn a_304_keeps_the_body_and_large_bodies_hold_only_the_version() {
        let (_d, g1, _) = generations();
        let cache = FetchCache::new(1 << 20);
        cache.insert(key("meta"), g1, 1, Some(Bytes::from_static(b"x")), 0);
        cache.insert(key("meta"), g1, 1, None, 0);
        assert!(matches!(
            cache.get(&key("meta"), g1, None, 0),
            Some(Hit::Body(_))
        ));
        let large = Bytes::from(vec![b'a'; MAX_BODY + 1]);
        cache.insert(key("big"), g1, 7, Some(large), 0);
        assert_eq!(cache.get(&key("big"), g1, None, 0), None);
        assert_eq!(
            cache.get(&key("big"), g1, Some(7), 0),
            Some(Hit::NotModified)
        );
    }

    #[test]
    fn it_stays_within_its_bytes_and_zero_disables_it() {
        let (_d, g1, _) = generations();
        let cache = FetchCache::new(100 * 1024);
        for i in 0..200 {
            let body = Bytes::from(vec![b'a'; 4096]);
            cache.insert(key(&format!("v{i}")), g1, 1, Some(body), 0);
            assert!(cache.bytes() <= 100 * 1024);
        }
        assert!(!cache.is_empty());
        let off = FetchCache::new(0);
        off.insert(key("meta"), g1, 1, Some(Bytes::from_static(b"x")), 0);
        assert_eq!(off.get(&key("meta"), g1, None, 0), None);
    }
}
