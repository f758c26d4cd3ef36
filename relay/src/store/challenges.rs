//! Login challenges: single-use, short-lived. Any attempt consumes the challenge. The embedded
//! back end keeps them in memory ([`Challenges`]); the `auth_challenges` functions are for a
//! back end whose relay processes share one database.

use rusqlite::{Connection, OptionalExtension as _, params};

use super::StoreError;

/// Stores a challenge, keeping at most `max_per_user` outstanding ones for the user (the oldest
/// go first), so a challenge flood cannot grow the table without bound.
pub fn create(
    conn: &Connection,
    nonce: &str,
    user_id: &str,
    expires_at: i64,
    max_per_user: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO auth_challenges (nonce, user_id, expires_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![nonce, user_id, expires_at])?;
    conn.prepare_cached(
        "DELETE FROM auth_challenges WHERE user_id = ?1 AND nonce NOT IN \
         (SELECT nonce FROM auth_challenges WHERE user_id = ?1 ORDER BY expires_at DESC, rowid DESC LIMIT ?2)",
    )?
    .execute(params![user_id, max_per_user as i64])?;
    Ok(())
}

/// Removes a challenge and returns its owner and expiry, if it existed.
pub fn take(conn: &Connection, nonce: &str) -> Result<Option<(String, i64)>, StoreError> {
    let found = conn
        .prepare_cached(
            "DELETE FROM auth_challenges WHERE nonce = ?1 RETURNING user_id, expires_at",
        )?
        .query_row([nonce], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(found)
}

/// Unexpired challenges.
pub fn count_pending(conn: &Connection, now: i64) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM auth_challenges WHERE expires_at > ?1",
        [now],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// The embedded back end's login challenges: in memory, not in the database
/// (docs/adr/0027-inline-small-volumes-and-login-writes.md). A challenge lives a minute or so
/// and is single-use; one lost in a restart only makes its client ask for another, so it need
/// not cost two writes through the group-committed writer per login. The rules are the
/// table's: at most `max_per_user` outstanding per user (the oldest go first), a take consumes
/// whatever happens next, an expired one is refused and forgotten. A back end that shares its
/// database between relay processes keeps them in `auth_challenges` instead (the functions
/// above).
#[derive(Debug, Default)]
pub struct Challenges {
    inner: std::sync::Mutex<Pending>,
}

/// Counts only: a nonce is a live login credential half, and ids are metadata.
impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("challenges", &self.by_nonce.len())
            .field("users", &self.by_user.len())
            .finish()
    }
}

#[derive(Default)]
struct Pending {
    /// Nonce → (user id, expiry).
    by_nonce: std::collections::HashMap<String, (String, i64)>,
    /// User id → that user's outstanding nonces, oldest first.
    by_user: std::collections::HashMap<String, std::collections::VecDeque<String>>,
    /// When to drop every expired challenge again (amortised: at twice the size left by the
    /// last pass), so challenges never taken cannot pile up.
    next_prune: usize,
}

/// The least size at which a prune pass runs.
const PRUNE_AT_LEAST: usize = 1024;

impl Pending {
    fn forget(&mut self, nonce: &str, user: &str) {
        if let Some(list) = self.by_user.get_mut(user) {
            list.retain(|n| n != nonce);
            if list.is_empty() {
                self.by_user.remove(user);
            }
        }
    }

    fn prune(&mut self, now: i64) -> u64 {
        let before = self.by_nonce.len();
        self.by_nonce.retain(|_, (_, expires_at)| *expires_at > now);
        let by_nonce = &self.by_nonce;
        self.by_user.retain(|_, list| {
            list.retain(|n| by_nonce.contains_key(n));
            !list.is_empty()
        });
        self.next_prune = (self.by_nonce.len() * 2).max(PRUNE_AT_LEAST);
        (before - self.by_nonce.len()) as u64
    }
}

impl Challenges {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        // Plain maps, each change complete under the lock: a panic elsewhere cannot leave
        // them inconsistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Issues a challenge, keeping at most `max_per_user` outstanding for the user (the oldest
    /// go first).
    pub fn create(&self, nonce: &str, user_id: &str, expires_at: i64, max_per_user: u64, now: i64) {
        let mut p = self.pending();
        if p.by_nonce.len() >= p.next_prune.max(PRUNE_AT_LEAST) {
            p.prune(now);
        }
        p.by_nonce
            .insert(nonce.to_owned(), (user_id.to_owned(), expires_at));
        let list = p.by_user.entry(user_id.to_owned()).or_default();
        list.push_back(nonce.to_owned());
        let mut dropped = Vec::new();
        while list.len() as u64 > max_per_user.max(1) {
            dropped.extend(list.pop_front());
        }
        for old in dropped {
            p.by_nonce.remove(&old);
        }
    }

    /// Consumes a challenge and returns its owner and expiry, if it was outstanding.
    pub fn take(&self, nonce: &str) -> Option<(String, i64)> {
        let mut p = self.pending();
        let (user, expires_at) = p.by_nonce.remove(nonce)?;
        p.forget(nonce, &user);
        Some((user, expires_at))
    }

    /// Unexpired challenges.
    pub fn count_pending(&self, now: i64) -> u64 {
        self.pending()
            .by_nonce
            .values()
            .filter(|(_, expires_at)| *expires_at > now)
            .count() as u64
    }

    /// Forgets every expired challenge (maintenance); returns how many.
    pub fn expire(&self, now: i64) -> u64 {
        self.pending().prune(now)
    }

    /// Forgets every challenge of a user (account deletion).
    pub fn remove_user(&self, user_id: &str) {
        let mut p = self.pending();
        for nonce in p.by_user.remove(user_id).unwrap_or_default() {
            p.by_nonce.remove(&nonce);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Challenges;

    /// The table's rules, in memory: bounded per user (the newest survive), single-use,
    /// expired ones counted out and pruned, an account's deletion forgets its challenges.
    #[test]
    fn debug_shows_counts_never_nonces_or_users() {
        let c = Challenges::default();
        c.create("nonce-secret-1", "user-id-1", 1000, 16, 0);
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("nonce-secret") && !shown.contains("user-id"),
            "{shown}"
        );
        assert!(shown.contains("challenges: 1"), "{shown}");
    }

    #[test]
    fn challenges_in_memory_are_bounded_single_use_and_expire() {
        let c = Challenges::default();
        for i in 0..40 {
            c.create(&format!("n{i}"), "s", 1000 + i, 16, 0);
        }
        assert_eq!(c.count_pending(0), 16);
        assert_eq!(c.take("n39"), Some(("s".to_owned(), 1039)));
        assert_eq!(c.take("n39"), None, "single use");
        assert_eq!(c.take("n0"), None, "the oldest went first");
        assert_eq!(c.count_pending(1030), 8, "n31..n38: n24..n30 have expired");
        assert_eq!(c.expire(1030), 7);
        assert_eq!(c.count_pending(0), 8);
        c.create("other", "f", 2000, 16, 0);
        c.remove_user("s");
        assert_eq!(c.count_pending(0), 1);
        assert_eq!(c.take("n35"), None);
        assert_eq!(c.take("other"), Some(("f".to_owned(), 2000)));
        assert!(c.pending().by_user.is_empty() && c.pending().by_nonce.is_empty());
    }

    /// Challenges never taken do not pile up: a prune pass runs as the map grows.
    #[test]
    fn untaken_expired_challenges_are_pruned_as_more_come() {
        let c = Challenges::default();
        for i in 0..5000 {
            // Each expires at once (expiry `i`, issued at `i`).
            c.create(&format!("n{i}"), &format!("u{i}"), i, 16, i);
        }
        let p = c.pending();
        assert!(
            p.by_nonce.len() <= 2 * super::PRUNE_AT_LEAST,
            "{}",
            p.by_nonce.len()
        );
        assert_eq!(p.by_user.len(), p.by_nonce.len());
    }
}
