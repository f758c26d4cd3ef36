//! Sessions held in memory, so that an authenticated request does not wait for the blocking
//! pool just to learn who is asking.
//!
//! Keyed by the token's SHA-256 digest (what the database stores; the token itself is never
//! kept). An entry is used only while all of these hold: the database's *auth generation* is
//! the one it was read under (any deleted or changed session, deleted user, or changed
//! user column a session carries moves it on — `store::auth_watch`, before the writer's
//! callers are answered, so "expire all sessions" or an account deletion takes effect for the
//! very next request); the session has not expired; and it was read less than [`TTL`] ago (a
//! backstop against writes the relay cannot see, such as an operator's `sqlite3` shell).
//! Anything else falls through to the database, whose answer is authoritative.
//!
//! Bounded ([`MAX_ENTRIES`]); the map and its rules are [`crate::gen_cache`]'s.

use crate::gen_cache::GenerationCache;
pub use crate::gen_cache::{MAX_ENTRIES, TTL};
use crate::store::sessions::SessionUser;

/// The cache (one per relay, in `AppState`).
#[derive(Debug, Default)]
pub struct SessionCache {
    entries: GenerationCache<[u8; 32], SessionUser>,
}

impl SessionCache {
    /// A cache that holds nothing: every lookup reads the database.
    pub fn off() -> Self {
        Self {
            entries: GenerationCache::off(),
        }
    }

    /// The live session of `digest`, if held and still trustworthy at `now` (Unix seconds)
    /// under `generation`.
    pub fn get(&self, digest: &[u8; 32], now: i64, generation: u64) -> Option<SessionUser> {
        self.entries
            .get(digest, generation, |user| user.expires_at > now)
    }

    /// Holds `user`, read from the database under `generation` (taken before the read).
    pub fn insert(&self, digest: [u8; 32], user: SessionUser, generation: u64) {
        self.entries.insert(digest, user, generation);
    }

    /// Notes that the session of `digest` was recorded as used in `hour` (that write does not
    /// move the auth generation: it changes nothing a request is authorised by).
    pub fn touch(&self, digest: &[u8; 32], hour: i64) {
        self.entries.update(digest, |user| {
            user.last_used_at = user.last_used_at.max(hour);
        });
    }

    /// Forgets `digest` (its session was found expired and deleted).
    pub fn remove(&self, digest: &[u8; 32]) {
        self.entries.remove(digest);
    }

    /// Sessions held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::ClientType;

    fn user(expires_at: i64) -> SessionUser {
        SessionUser {
            user_id: "u".into(),
            client_type: ClientType::Friend,
            feature_set: "[]".into(),
            is_v2: false,
            expires_at,
            session_id: None,
            last_used_at: 0,
        }
    }

    #[test]
    fn an_off_cache_holds_nothing() {
        let cache = SessionCache::off();
        cache.insert([1; 32], user(i64::MAX), 7);
        assert!(cache.is_empty());
        assert!(cache.get(&[1; 32], 0, 7).is_none());
        let on = SessionCache::default();
        on.insert([1; 32], user(i64::MAX), 7);
        assert!(on.get(&[1; 32], 0, 7).is_some());
    }

    #[test]
    fn an_entry_is_used_only_under_its_generation_and_before_expiry() {
        let cache = SessionCache::default();
        cache.insert([1; 32], user(100), 7);
        assert!(cache.get(&[1; 32], 99, 7).is_some());
        assert!(cache.get(&[2; 32], 99, 7).is_none(), "another digest");
        assert!(cache.get(&[1; 32], 100, 7).is_none(), "expired at 100");
        assert!(cache.is_empty(), "an expired entry is dropped");
        cache.insert([1; 32], user(100), 7);
        assert!(
            cache.get(&[1; 32], 50, 8).is_none(),
            "the generation moved on"
        );
        assert!(
            cache.get(&[1; 32], 50, 7).is_none(),
            "and the stale entry is gone"
        );
    }

    #[test]
    fn it_stays_bounded() {
        let cache = SessionCache::default();
        for i in 0..(MAX_ENTRIES + 10) {
            let mut digest = [0u8; 32];
            digest[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.insert(digest, user(i64::MAX), 1);
        }
        assert!(cache.len() <= MAX_ENTRIES);
    }
}
