//! Rate limiting with governor token buckets, one keyed limiter per class (v1.md §1.1 classes
//! and defaults). Classes before login key on the client IP, classes after login on the user.
//!
//! On a store several relay instances share (PostgreSQL), the `register`, `auth` and `upload`
//! classes are also taken from a bucket in the shared database ([`RateLimits::check_shared`],
//! docs/adr/0033): the in-memory bucket stays the first, cheap refusal, and the shared one
//! makes the limit hold across instances. The other classes stay per instance.
//!
//! The client IP is the TCP peer, unless the peer is a configured trusted proxy: then the
//! right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Believing the header
//! from anyone would let every request pick its own bucket.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::HttpRequest;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest as _, Sha256};

use crate::config::{Config, Rates};
use crate::storage::rates::{SharedBucket, SharedRates};
use crate::store::StoreError;

/// A request refused by its class's bucket (429 at the HTTP edge, `crate::error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited for {retry_after:?} ({})", limit.hint())]
pub struct RateLimited {
    /// How long until a request of this class and key will be accepted again (at least 1 s).
    pub retry_after: Duration,
    /// The limit that was hit.
    pub limit: Limit,
}

/// A class's configured limit: what a 429 names, so that the person who hits it knows which
/// setting raises it (`Coffer-Rate-Limit` header, docs/adr/0003-rate-limits.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The class.
    pub class: Class,
    /// Its configured rate (and burst).
    pub per_minute: u32,
}

impl Limit {
    /// `auth; limit=30/min; per=address; setting=rate.auth; env=COFFER_RATE_AUTH`: the value of
    /// the `Coffer-Rate-Limit` header of a 429.
    pub fn hint(&self) -> String {
        format!(
            "{}; limit={}/min; per={}; setting=rate.{}; env={}",
            self.class.name(),
            self.per_minute,
            self.class.per(),
            self.class.name(),
            self.class.env_name()
        )
    }
}

/// A rate-limit class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Registration, per IP.
    Register,
    /// Challenge + token, per IP.
    Auth,
    /// Uploads, per user.
    Upload,
    /// Everything else after login, per user.
    General,
    /// Discovery, per user.
    Discovery,
    /// Admin API, per IP.
    Admin,
}

impl Class {
    /// Every class.
    pub const ALL: [Class; 6] = [
        Class::Register,
        Class::Auth,
        Class::Upload,
        Class::General,
        Class::Discovery,
        Class::Admin,
    ];

    /// The class's name (configuration key and metrics label).
    pub const fn name(self) -> &'static str {
        match self {
            Class::Register => "register",
            Class::Auth => "auth",
            Class::Upload => "upload",
            Class::General => "general",
            Class::Discovery => "discovery",
            Class::Admin => "admin",
        }
    }

    /// What a bucket of this class belongs to: a client `address` (IPv6: its /64) or a `user`.
    pub const fn per(self) -> &'static str {
        match self {
            Class::Register | Class::Auth | Class::Admin => "address",
            Class::Upload | Class::General | Class::Discovery => "user",
        }
    }

    /// The environment variable that sets the class's rate (relay/src/config/env.rs).
    pub const fn env_name(self) -> &'static str {
        match self {
            Class::Register => "COFFER_RATE_REGISTER",
            Class::Auth => "COFFER_RATE_AUTH",
            Class::Upload => "COFFER_RATE_UPLOAD",
            Class::General => "COFFER_RATE_GENERAL",
            Class::Discovery => "COFFER_RATE_DISCOVERY",
            Class::Admin => "COFFER_RATE_ADMIN",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }

    /// The class's number in the shared buckets (`rate_buckets.class`), for the classes whose
    /// limit holds across relay instances; `None` for the classes kept per instance. Stable:
    /// stored.
    pub const fn shared_id(self) -> Option<i16> {
        match self {
            Class::Register => Some(1),
            Class::Auth => Some(2),
            Class::Upload => Some(3),
            Class::General | Class::Discovery | Class::Admin => None,
        }
    }
}

/// What identifies one client by address: the address itself, or for IPv6 its /64 (one IPv6
/// host usually holds a whole /64, so a limit per single address would bound nothing: a client
/// could rotate addresses for fresh buckets). IPv4-mapped IPv6 addresses count as IPv4.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// The key of a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A client address.
    Ip(IpAddr),
    /// A user id.
    User(String),
}

impl Key {
    /// The key its bucket is kept under: an address's [`client_key`].
    fn canonical(self) -> Self {
        match self {
            Key::Ip(ip) => Key::Ip(client_key(ip)),
            user => user,
        }
    }

    /// What a shared bucket is stored under: 16 bytes of SHA-256 over a tag and the canonical
    /// key, so no address or user id is written to the shared database in the clear. Not keyed:
    /// whoever reads the database can test a guessed address (docs/adr/0033 says why a key
    /// would not change that); what bounds the exposure is that a row lives only until its
    /// bucket is full again.
    pub fn shared_hash(&self) -> [u8; 16] {
        let mut hash = Sha256::new();
        hash.update(b"coffer rate bucket v1\0");
        match self {
            Key::Ip(IpAddr::V4(v4)) => {
                hash.update([4]);
                hash.update(v4.octets());
            }
            Key::Ip(IpAddr::V6(v6)) => {
                hash.update([6]);
                hash.update(v6.octets());
            }
            Key::User(id) => {
                hash.update([b'u']);
                hash.update(id.as_bytes());
            }
        }
        let digest = hash.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        out
    }
}

/// The limiters.
pub struct RateLimits {
    register: DefaultKeyedRateLimiter<Key>,
    auth: DefaultKeyedRateLimiter<Key>,
    upload: DefaultKeyedRateLimiter<Key>,
    general: DefaultKeyedRateLimiter<Key>,
    discovery: DefaultKeyedRateLimiter<Key>,
    admin: DefaultKeyedRateLimiter<Key>,
    trusted_proxies: Vec<IpAddr>,
    /// The configured rates, per class (for the 429's hint).
    per_minute: [NonZeroU32; 6],
    /// Refusals per class, for `/metrics`.
    refused: [AtomicU64; 6],
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

impl RateLimits {
    /// Builds the limiters from the configured per-minute rates.
    pub fn new(config: &Config) -> Self {
        let Rates {
            register,
            auth,
            upload,
            general,
            discovery,
            admin,
        } = config.rate;
        let keyed = |n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n));
        Self {
            register: keyed(register),
            auth: keyed(auth),
            upload: keyed(upload),
            general: keyed(general),
            discovery: keyed(discovery),
            admin: keyed(admin),
            trusted_proxies: config.trusted_proxies.clone(),
            per_minute: [register, auth, upload, general, discovery, admin],
            refused: Default::default(),
        }
    }

    fn limiter(&self, class: Class) -> &DefaultKeyedRateLimiter<Key> {
        match class {
            Class::Register => &self.register,
            Class::Auth => &self.auth,
            Class::Upload => &self.upload,
            Class::General => &self.general,
            Class::Discovery => &self.discovery,
            Class::Admin => &self.admin,
        }
    }

    /// Takes one token from `key`'s bucket in `class`, or says how long to wait.
    pub fn check(&self, class: Class, key: Key) -> Result<(), RateLimited> {
        self.check_local(class, &key.canonical())
    }

    fn check_local(&self, class: Class, key: &Key) -> Result<(), RateLimited> {
        self.limiter(class).check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.refusal(class, wait)
        })
    }

    fn refusal(&self, class: Class, wait: Duration) -> RateLimited {
        self.refused[class.index()].fetch_add(1, Ordering::Relaxed);
        RateLimited {
            retry_after: wait.max(Duration::from_secs(1)),
            limit: Limit {
                class,
                per_minute: self.per_minute[class.index()].get(),
            },
        }
    }

    /// [`RateLimits::check`], then, for a class whose limit holds across instances
    /// ([`Class::shared_id`]) on a store that shares buckets (`shared`), one token from the
    /// shared bucket too: a client alternating between instances gets the configured budget
    /// once. The in-memory bucket refuses first (no database round trip for a client it
    /// already limits). The outer error is the shared store's failure (a 503 like any other
    /// storage outage: the request would have needed the database anyway).
    pub async fn check_shared(
        &self,
        shared: Option<&dyn SharedRates>,
        class: Class,
        key: Key,
    ) -> Result<Result<(), RateLimited>, StoreError> {
        let key = key.canonical();
        if let Err(limited) = self.check_local(class, &key) {
            return Ok(Err(limited));
        }
        let (Some(shared), Some(id)) = (shared, class.shared_id()) else {
            return Ok(Ok(()));
        };
        let bucket = SharedBucket {
            class: id,
            key: key.shared_hash(),
            per_minute: self.per_minute[class.index()],
        };
        Ok(shared
            .take(bucket)
            .await?
            .map_err(|wait| self.refusal(class, wait)))
    }

    /// Requests refused with 429 so far, per class.
    pub fn refused(&self) -> Vec<(&'static str, u64)> {
        Class::ALL
            .iter()
            .map(|c| (c.name(), self.refused[c.index()].load(Ordering::Relaxed)))
            .collect()
    }

    /// Drops buckets that are full again (memory stays proportional to recent clients).
    pub fn shrink(&self) {
        for class in Class::ALL {
            let limiter = self.limiter(class);
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// The client address of a request (see the module docs).
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for entry in forwarded.iter().rev() {
            match entry.parse::<IpAddr>() {
                Ok(ip) if self.trusted_proxies.contains(&ip) => continue,
                Ok(ip) => return Some(ip),
                // A malformed entry: stop believing the chain here.
                Err(_) => return Some(peer),
            }
        }
        Some(peer)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn limits(proxies: &[&str]) -> RateLimits {
        let mut config = Config::default();
        config.rate.auth = std::num::NonZeroU32::new(2).unwrap();
        config.trusted_proxies = proxies.iter().map(|p| p.parse().unwrap()).collect();
        RateLimits::new(&config)
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        // Auth: 2 per minute (see `limits`).
        let l = limits(&[]);
        let a = |ip: &str| Key::Ip(ip.parse().unwrap());
        assert!(l.check(Class::Auth, a("2001:db8:1:2::1")).is_ok());
        assert!(l.check(Class::Auth, a("2001:db8:1:2::ffff")).is_ok());
        assert!(
            l.check(Class::Auth, a("2001:db8:1:2:dead:beef::7"))
                .is_err(),
            "a third address of the same /64 shares its bucket"
        );
        assert!(
            l.check(Class::Auth, a("2001:db8:1:3::1")).is_ok(),
            "the next /64"
        );
        // An IPv4-mapped address is the IPv4 client.
        assert!(l.check(Class::Auth, a("10.9.9.9")).is_ok());
        assert!(l.check(Class::Auth, a("::ffff:10.9.9.9")).is_ok());
        assert!(l.check(Class::Auth, a("::ffff:10.9.9.9")).is_err());
    }

    #[test]
    fn buckets_are_per_key_and_class() {
        let l = limits(&[]);
        let ip = Key::Ip("10.0.0.1".parse().unwrap());
        assert!(l.check(Class::Auth, ip.clone()).is_ok());
        assert!(l.check(Class::Auth, ip.clone()).is_ok());
        match l.check(Class::Auth, ip.clone()) {
            Err(RateLimited { retry_after, limit }) => {
                assert_eq!(
                    limit.hint(),
                    "auth; limit=2/min; per=address; setting=rate.auth; env=COFFER_RATE_AUTH"
                );
                assert!(retry_after >= Duration::from_secs(1))
            }
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(
            l.check(Class::Auth, Key::Ip("10.0.0.2".parse().unwrap()))
                .is_ok()
        );
        assert!(l.check(Class::Register, ip).is_ok());
    }

    #[test]
    fn a_shared_bucket_key_is_the_canonical_clients_hash() {
        let hash = |k: Key| k.canonical().shared_hash();
        let ip = |s: &str| Key::Ip(s.parse().unwrap());
        // One /64, one IPv4 client however written: one shared bucket.
        assert_eq!(
            hash(ip("2001:db8:1:2::1")),
            hash(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(hash(ip("2001:db8:1:2::1")), hash(ip("2001:db8:1:3::1")));
        assert_eq!(hash(ip("10.9.9.9")), hash(ip("::ffff:10.9.9.9")));
        assert_ne!(hash(ip("10.9.9.9")), hash(ip("10.9.9.8")));
        // A user id whose bytes are an address's is another key.
        assert_ne!(
            hash(ip("10.9.9.9")),
            hash(Key::User(
                String::from_utf8_lossy(&[10, 9, 9, 9]).into_owned()
            ))
        );
        // Not the address in the clear.
        let h = hash(ip("10.9.9.9"));
        assert!(!h.windows(4).any(|w| w == [10, 9, 9, 9]));
    }

    #[tokio::test]
    async fn without_shared_buckets_the_local_ones_are_the_limit() {
        let l = limits(&[]);
        let ip = || Key::Ip("10.0.0.1".parse().unwrap());
        assert_eq!(
            l.check_shared(None, Class::Auth, ip()).await.unwrap(),
            Ok(())
        );
        assert_eq!(
            l.check_shared(None, Class::Auth, ip()).await.unwrap(),
            Ok(())
        );
        let refused = l
            .check_shared(None, Class::Auth, ip())
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.limit.per_minute, 2);
        assert!(l.refused().contains(&("auth", 1)));
    }

    #[test]
    fn refusals_are_counted() {
        let l = limits(&["127.0.0.2"]);
        let ip = Key::Ip("10.0.0.1".parse().unwrap());
        for _ in 0..3 {
            let _ = l.check(Class::Auth, ip.clone());
        }
        assert!(l.refused().contains(&("auth", 1)));
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let untrusted = limits(&[]);
        let req = TestRequest::default()
            .peer_addr("192.0.2.1:1000".parse().unwrap())
            .insert_header(("x-forwarded-for", "203.0.113.9"))
            .to_http_request();
        assert_eq!(
            untrusted.client_ip(&req),
            Some("192.0.2.1".parse().unwrap())
        );

        let trusted = limits(&["192.0.2.1", "192.0.2.2"]);
        assert_eq!(
            trusted.client_ip(&req),
            Some("203.0.113.9".parse().unwrap())
        );
        let chained = TestRequest::default()
            .peer_addr("192.0.2.1:1000".parse().unwrap())
            .insert_header(("x-forwarded-for", "198.51.100.7, 203.0.113.9, 192.0.2.2"))
            .to_http_request();
        // Right-most untrusted entry: the left part of the header is client-controlled.
        assert_eq!(
            trusted.client_ip(&chained),
            Some("203.0.113.9".parse().unwrap())
        );
        let garbage = TestRequest::default()
            .peer_addr("192.0.2.1:1000".parse().unwrap())
            .insert_header(("x-forwarded-for", "nonsense"))
            .to_http_request();
        assert_eq!(
            trusted.client_ip(&garbage),
            Some("192.0.2.1".parse().unwrap())
        );
    }
}
