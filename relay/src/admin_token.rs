//! The admin token check: an Argon2id hash (preferred) or a plain token (v1 compatibility).
//!
//! This is the **only** module of the relay that links Argon2, and it hashes nothing but the
//! operator's admin token: the relay still never derives or uses a key for volume data.
//!
//! - **Hash** (`admin.token_hash = "$argon2id$…"`, from `coffer-admin token generate`): the relay
//!   holds only the PHC string; a leaked configuration does not reveal the token.
//! - **Plain** (`admin.token`, `PLURALLOG_ADMIN_TOKEN`): kept for v1 deployments; held only as its
//!   SHA-256 and compared in constant time.
//!
//! Argon2 is deliberately slow, and the admin rate limit is per IP, so many addresses could
//! otherwise keep the CPU busy with verifications. Three things bound that: the result for a
//! presented token is cached for [`CACHE_TTL`] (keyed by a salted SHA-256 of the token, never
//! the token), at most [`MAX_CONCURRENT`] verifications run at once on the blocking pool (the
//! rest wait briefly, then get a 429), and the cache has a fixed size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::{Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::config::Admin;
use crate::error::ApiError;

/// How long the outcome for one presented token is remembered.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// Cached outcomes kept at most (then expired ones go, and if none has, all).
const CACHE_CAPACITY: usize = 1024;
/// Argon2 verifications running at the same time.
pub const MAX_CONCURRENT: usize = 2;
/// How long a request waits for a verification slot before it is refused with 429.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Largest accepted Argon2 memory cost (KiB): a configuration cannot make every verification
/// allocate gigabytes.
const MAX_M_COST: u32 = 256 * 1024;
/// Largest accepted Argon2 time cost.
const MAX_T_COST: u32 = 16;
/// Largest accepted Argon2 parallelism.
const MAX_P_COST: u32 = 8;

/// Checks that `text` is an Argon2id PHC string with a salt, a hash and bounded parameters.
/// The error says what is wrong, never the string.
pub fn check_phc(text: &str) -> Result<(), String> {
    let hash = PasswordHash::new(text).map_err(|_| {
        "not a PHC string; expected $argon2id$v=19$m=…,t=…,p=…$<salt>$<hash> as printed by \
         `coffer-admin token generate`"
            .to_owned()
    })?;
    if hash.algorithm.as_str() != "argon2id" {
        return Err("the hash must use argon2id".to_owned());
    }
    if hash.version != Some(0x13) {
        return Err("the hash must be Argon2 version 19 (v=19)".to_owned());
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err("the PHC string has no salt or no hash".to_owned());
    }
    let params =
        Params::try_from(&hash).map_err(|_| "invalid Argon2 parameters (m, t, p)".to_owned())?;
    if params.m_cost() > MAX_M_COST || params.t_cost() > MAX_T_COST || params.p_cost() > MAX_P_COST
    {
        return Err(format!(
            "Argon2 parameters too large (at most m={MAX_M_COST}, t={MAX_T_COST}, p={MAX_P_COST})"
        ));
    }
    Ok(())
}

/// Hashes an admin token to an Argon2id PHC string (m = 19 MiB, t = 2, p = 1, random salt):
/// what `coffer-admin token generate` prints for `admin.token_hash`.
pub fn hash_token(token: &[u8]) -> Result<String, String> {
    Argon2::default()
        .hash_password(token)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the token: {e}"))
}

/// Whether `token` matches the PHC string `phc` (slow: call it on the blocking pool).
pub fn verify_hash(phc: &str, token: &[u8]) -> bool {
    Argon2::default().verify_password(token, phc).is_ok()
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
    /// answered 429.
    pub async fn verify(&self, presented: &[u8]) -> Result<bool, ApiError> {
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
        let busy = || ApiError::RateLimited {
            retry_after: Duration::from_secs(1),
        };
        let _slot = tokio::time::timeout(QUEUE_WAIT, self.slots.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| ApiError::Internal)?;
        // Another request may have verified the same token while this one waited.
        if let Some(ok) = self.cached(&key) {
            return Ok(ok);
        }
        let token = zeroize::Zeroizing::new(presented.to_vec());
        self.verifications
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ok = actix_web::web::block(move || verify_hash(&phc, &token))
            .await
            .map_err(|_| ApiError::Internal)?;
        self.remember(key, ok);
        Ok(ok)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::{AdminToken, AdminTokenHash};

    /// Cheap parameters so the tests run fast (still a valid argon2id PHC string).
    fn quick_hash(token: &[u8]) -> String {
        let params = Params::new(64, 1, 1, None).unwrap();
        Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(token)
            .unwrap()
            .to_string()
    }

    #[test]
    fn hashes_verify_and_are_checked() {
        let phc = hash_token(b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        check_phc(&phc).unwrap();
        assert!(verify_hash(&phc, b"correct horse"));
        assert!(!verify_hash(&phc, b"correct horse "));
        assert_ne!(hash_token(b"correct horse").unwrap(), phc, "random salt");

        for bad in [
            "",
            "plain-token",
            "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=19456,t=2,p=1",
            "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=19456,t=100,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            let err = check_phc(bad).unwrap_err();
            assert!(!err.contains("c2FsdHNhbHQ"), "{err}");
        }
    }

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
