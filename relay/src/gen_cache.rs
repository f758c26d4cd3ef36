//! A bounded in-memory map whose entries are trusted only under the generation they were read
//! under: the shape of the relay's caches of database rows ([`crate::session_cache`], the
//! login accounts the embedded store keeps, `store::Db::cached_login_account`).
//!
//! An entry is used only while all of these hold: the store's generation is the one it was
//! read under (the writer moves it on, before its callers are answered, whenever what the
//! entry depends on may have changed: `store::auth_watch`); the caller's own check on the value
//! passes (a session's expiry); and it was read less than [`TTL`] ago (a backstop against
//! writes the relay cannot see, such as an operator's `sqlite3` shell). Anything else falls
//! through to the database, whose answer is authoritative.
//!
//! Bounded: at most [`MAX_ENTRIES`]; when full, stale entries are dropped, and if that is not
//! enough the whole map is (it refills from the database).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest an entry is trusted without re-reading the database.
pub const TTL: Duration = Duration::from_secs(60);

/// Most entries held (a few hundred bytes each).
pub const MAX_ENTRIES: usize = 16_384;

#[derive(Debug)]
struct Entry<V> {
    value: V,
    generation: u64,
    read_at: Instant,
}

/// The map.
#[derive(Debug)]
pub struct GenerationCache<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
    /// `false`: holds nothing (a store whose generations are not exact, `Watch::exact`).
    on: bool,
}

impl<K, V> Default for GenerationCache<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            on: true,
        }
    }
}

impl<K: Eq + Hash, V: Clone> GenerationCache<K, V> {
    /// A cache that holds nothing: every lookup reads the database.
    pub fn off() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            on: false,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry<V>>> {
        // Entries are plain values; a panic elsewhere cannot leave the map inconsistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The value held for `key`, if it was read under `generation`, less than [`TTL`] ago, and
    /// `usable` accepts it; otherwise the entry (if any) is dropped and `None` returned.
    pub fn get<Q>(&self, key: &Q, generation: u64, usable: impl FnOnce(&V) -> bool) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let mut entries = self.entries();
        let entry = entries.get(key)?;
        if entry.generation == generation && entry.read_at.elapsed() < TTL && usable(&entry.value) {
            return Some(entry.value.clone());
        }
        entries.remove(key);
        None
    }

    /// Holds `value`, read from the database under `generation` (taken *before* the read).
    pub fn insert(&self, key: K, value: V, generation: u64) {
        if !self.on {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.generation == generation && e.read_at.elapsed() < TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                value,
                generation,
                read_at: Instant::now(),
            },
        );
    }

    /// Changes the value held for `key` in place, if one is held (for a change that does not
    /// move the generation, such as a session's hourly last use).
    pub fn update<Q>(&self, key: &Q, change: impl FnOnce(&mut V))
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Some(entry) = self.entries().get_mut(key) {
            change(&mut entry.value);
        }
    }

    /// Forgets `key`.
    pub fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries().remove(key);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_off_cache_holds_nothing() {
        let cache: GenerationCache<u32, u32> = GenerationCache::off();
        cache.insert(1, 10, 7);
        assert!(cache.is_empty());
        assert!(cache.get(&1, 7, |_| true).is_none());
        let on = GenerationCache::default();
        on.insert(1, 10, 7);
        assert_eq!(on.get(&1, 7, |_| true), Some(10));
    }

    #[test]
    fn an_entry_is_used_only_under_its_generation_and_while_usable() {
        let cache = GenerationCache::default();
        cache.insert(1u32, 10u32, 7);
        assert_eq!(cache.get(&1, 7, |v| *v == 10), Some(10));
        assert!(cache.get(&2, 7, |_| true).is_none(), "another key");
        assert!(
            cache.get(&1, 7, |_| false).is_none(),
            "refused by the caller"
        );
        assert!(cache.is_empty(), "a refused entry is dropped");
        cache.insert(1, 10, 7);
        assert!(
            cache.get(&1, 8, |_| true).is_none(),
            "the generation moved on"
        );
        assert!(
            cache.get(&1, 7, |_| true).is_none(),
            "and the stale entry is gone"
        );
        cache.insert(1, 10, 7);
        cache.update(&1, |v| *v = 11);
        assert_eq!(cache.get(&1, 7, |_| true), Some(11));
        cache.remove(&1);
        assert!(cache.is_empty());
    }

    #[test]
    fn it_stays_bounded() {
        let cache = GenerationCache::default();
        for i in 0..(MAX_ENTRIES + 10) {
            cache.insert(i, (), 1);
        }
        assert!(cache.len() <= MAX_ENTRIES);
    }
}
