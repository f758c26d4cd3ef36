//! The runtime check of presented admin tokens against the configuration
//! ([`crate::config::admin`]: a plain token's digest or an Argon2id hash).
//!
//! Argon2 is deliberately slow, and the admin rate limit is per IP, so many addresses could
//! otherwise keep the CPU busy with verifications. Three things bound that: the result for a
//! presented token is cached for [`CACHE_TTL`] (keyed by a salted SHA-256 of the token, never
//! the token), at most [`MAX_CONCURRENT`] verifications run at once on the blocking pool (the
//! rest wait briefly, then are refused with [`VerifyError::Busy`]), and the cache has a fixed
//! size. The Argon2 code itself stays in `config/admin.rs`, the relay's only file that links it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::config::admin::{Admin, verify_hash};

/// How long the outcome for one presented token is remembered.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// Cached outcomes kept at most (then expired ones go, and if none has, all).
const CACHE_CAPACITY: usize = 1024;
/// Argon2 verifications running at the same time.
pub const MAX_CONCURRENT: usize = 2;
/// How long a request waits for a verification slot before it is refused with 429.
const QUEUE_WAIT: Duration = Duration::from_secs(10);
/// What a refused request is told to wait before trying again.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why a presented token could not be checked (a wrong token is `Ok(false)`, not an error).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No verification slot came free in time; answered 429.
    #[error("admin token verifications are busy")]
    Busy {
        /// When to try again.
        retry_after: Duration,
    },
    /// The blocking pool or the slot semaphore is gone (shutting down); answered 500.
    #[error("admin token verification pool unavailable")]
    Unavailable,
}

#[derive(Debug, Clone)]
enum Mode {
    Disabled,
    Digest([u8; 32]),
    Hash(String),
}

/// Verifies presented admin tokens against the configuration.
pub struct AdminVerifier {
    mode: Mode,
    /// Random per process, so the cache keys are not plain SHA-256 digests of tokens.
    salt: [u8; 16],
    cache: Mutex<HashMap<[u8; 32], (bool, Instant)>>,
    slots: tokio::sync::Semaphore,
    /// Argon2 verifications run so far (a metric, and proof in tests that the cache works).
    verifications: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for AdminVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.mode {
            Mode::Disabled => "disabled",
            Mode::Digest(_) => "plain token (digest)",
            Mode::Hash(_) => "argon2id hash",
        };
        f.debug_struct("AdminVerifier")
            .field("mode", &mode)
            .finish_non_exhaustive()
    }
}

impl AdminVerifier {
    /// From the admin settings (validated: at most one of token and hash is set).
    pub fn new(admin: &Admin) -> Self {
        let mode = match (&admin.token_hash, admin.token.digest()) {
            (Some(hash), _) => Mode::Hash(hash.as_str().to_owned()),
            (None, Some(digest)) => Mode::Digest(digest),
            (None, None) => Mode::Disabled,
        };
        Self {
            mode,
            salt: rand::random(),
            cache: Mutex::new(HashMap::new()),
            slots: tokio::sync::Semaphore::new(MAX_CONCURRENT),
            verifications: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many Argon2 verifications have run.
    pub fn verifications(&self) -> u64 {
        self.verifications
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether an admin token is configured at all.
    pub fn is_enabled(&self) -> bool {
        !matches!(self.mode, Mode::Disabled)
    }

    fn cache_key(&self, presented: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(presented);
        h.finalize().into()
    }

    fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(ok, _)| *ok)
    }

    fn remember(&self, key: [u8; 32], ok: bool) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(key, (ok, Instant::now()));
    }

    /// Whether `presented` is the admin token. Argon2 runs on the blocking pool, at most
    /// [`MAX_CONCURRENT`] at a time; a request that cannot get a slot within a few seconds is
    /// refused with [`VerifyError::Busy`] (429 at the edge).
    pub async fn verify(&self, presented: &[u8]) -> Result<bool, VerifyError> {
        let phc = match &self.mode {
            Mode::Disabled => return Ok(false),
            Mode::Digest(expected) => {
                let got: [u8; 32] = Sha256::digest(presented).into();
                return Ok(expected.ct_eq(&got).into());
            }
            Mode::Hash(phc) => phc.clone(),
        };
        let key = self.cache_key(presented);
        if let Some(ok) = self.cached(&key) {
            return Ok(ok);
        }
        let busy = || VerifyError::Busy {
            retry_after: BUSY_RETRY_AFTER,
        };
        let _slot = tokio::time::timeout(QUEUE_WAIT, self.slots.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| VerifyError::Unavailable)?;
        // Another request may have verified the same token while this one waited.
        if let Some(ok) = self.cached(&key) {
            return Ok(ok);
        }
        let token = zeroize::Zeroizing::new(presented.to_vec());
        self.verifications
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ok = tokio::task::spawn_blocking(move || verify_hash(&phc, &token))
            .await
            .map_err(|_| VerifyError::Unavailable)?;
        self.remember(key, ok);
        Ok(ok)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::admin::{AdminToken, AdminTokenHash, quick_hash};

    #[actix_web::test]
    async fn verifier_modes_and_cache() {
        let mut admin = Admin::default();
        assert!(!AdminVerifier::new(&admin).is_enabled());
        assert!(!AdminVerifier::new(&admin).verify(b"").await.unwrap());

        admin.token = AdminToken::from_text("plain");
        let plain = AdminVerifier::new(&admin);
        assert!(plain.verify(b"plain").await.unwrap());
        assert!(!plain.verify(b"plai").await.unwrap());

        let admin = Admin {
            token_hash: Some(AdminTokenHash::parse(&quick_hash(b"s3cret")).unwrap()),
            ..Admin::default()
        };
        let hashed = AdminVerifier::new(&admin);
        assert!(hashed.is_enabled());
        assert!(hashed.verify(b"s3cret").await.unwrap());
        assert!(!hashed.verify(b"wrong").await.unwrap());
        // Both outcomes are cached under salted digests, never the token.
        {
            let cache = hashed.cache.lock().unwrap();
            assert_eq!(cache.len(), 2);
            let key = hashed.cache_key(b"s3cret");
            assert_eq!(cache.get(&key).map(|(ok, _)| *ok), Some(true));
            assert_ne!(key, <[u8; 32]>::from(Sha256::digest(b"s3cret")));
        }
        // Asked again: answered from the cache, without another Argon2 run.
        assert_eq!(hashed.verifications(), 2);
        assert!(hashed.verify(b"s3cret").await.unwrap());
        assert!(!hashed.verify(b"wrong").await.unwrap());
        assert_eq!(hashed.verifications(), 2);
        let debug = format!("{hashed:?}");
        assert!(!debug.contains("argon2id$"), "{debug}");
    }

    #[test]
    fn cache_is_bounded() {
        let admin = Admin {
            token_hash: Some(AdminTokenHash::parse(&quick_hash(b"x")).unwrap()),
            ..Admin::default()
        };
        let v = AdminVerifier::new(&admin);
        for i in 0..(CACHE_CAPACITY + 10) {
            v.remember(v.cache_key(&i.to_le_bytes()), false);
        }
        assert!(v.cache.lock().unwrap().len() <= CACHE_CAPACITY);
    }
}
