//! Everything a handler needs, passed as actix `Data` — never global, so tests can run several
//! relays with different settings in one process.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Instant;

use actix_web::HttpRequest;
use coffer_certs::SpkiPin;

use crate::admin_token::AdminVerifier;
use crate::anomalies::{AnomalyTracker, Source};
use crate::config::Config;
use crate::fetch_cache::FetchCache;
use crate::ip_policy::IpLabels;
use crate::limits::RateLimits;
use crate::metrics::Metrics;
use crate::request_log::RequestLog;
use crate::session_cache::SessionCache;
use crate::storage::Storage;
use crate::storage::blobs::Blobs;
use crate::store::now;

/// The pins the relay announces: its current key and, once prepared, its next one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pins {
    /// The pin of the certificate being served (`None` without TLS).
    pub current: Option<SpkiPin>,
    /// The pin of the prepared next certificate (`coffer-admin cert next`).
    pub next: Option<SpkiPin>,
}

/// Shared relay state.
#[derive(Debug)]
pub struct AppState {
    /// Effective configuration.
    pub config: Config,
    /// The storage port (docs/adr/0030-storage-port.md): every metadata read and write.
    pub storage: Arc<dyn Storage>,
    /// The blob port (`[blobs] backend`): payloads above `[storage] inline_max`.
    pub blobs: Arc<dyn Blobs>,
    /// Rate limiters.
    pub limits: RateLimits,
    /// Start time, for `uptime_seconds`.
    pub started: Instant,
    /// The origins v2 logins may sign, fixed once the listening port is known.
    pub origins: OnceLock<Vec<String>>,
    /// Checks presented admin tokens.
    pub admin_auth: AdminVerifier,
    /// In-memory anomaly counters.
    pub anomalies: AnomalyTracker,
    /// Request counters for `/metrics`.
    pub metrics: Metrics,
    /// What may be shown of client addresses.
    pub ip_labels: IpLabels,
    /// The announced certificate pins (the current one changes when renewed certificate files
    /// are reloaded; see [`AppState::pins`]).
    pub pins: RwLock<Pins>,
    /// The bound address of the loopback admin listener, when `admin.listen` is set.
    pub admin_listener: OnceLock<SocketAddr>,
    /// Sessions held in memory (checked against the database's auth generation).
    pub sessions: SessionCache,
    /// Download answers held in memory (checked against the owner's fetch generation).
    pub fetch_cache: FetchCache,
    /// The request log (`[request_log]`).
    pub request_log: RequestLog,
}

impl AppState {
    /// Builds the state from its parts.
    pub fn new(
        config: Config,
        storage: Arc<dyn Storage>,
        blobs: Arc<dyn Blobs>,
        ip_labels: IpLabels,
        pins: Pins,
    ) -> Self {
        Self {
            // Caches only where the store's generations are exact (not on PostgreSQL: ADR 0032
            // decision 9); otherwise they would hold answers that can never be served.
            fetch_cache: FetchCache::new(if storage.exact() {
                config.cache.fetch_bytes
            } else {
                0
            }),
            sessions: if storage.exact() {
                SessionCache::default()
            } else {
                SessionCache::off()
            },
            request_log: RequestLog::new(&config.request_log),
            limits: RateLimits::new(&config),
            admin_auth: AdminVerifier::new(&config.admin),
            anomalies: AnomalyTracker::new(config.anomalies.clone(), now()),
            metrics: Metrics::default(),
            config,
            storage,
            blobs,
            started: Instant::now(),
            origins: OnceLock::new(),
            ip_labels,
            pins: RwLock::new(pins),
            admin_listener: OnceLock::new(),
        }
    }

    /// The announced certificate pins now.
    pub fn pins(&self) -> Pins {
        *self.pins.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Announces `current` as the served certificate's pin (after a reload).
    pub fn set_current_pin(&self, current: SpkiPin) {
        self.pins
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .current = Some(current);
    }

    /// Whether a v2 login transcript's origin names this relay.
    pub fn is_own_origin(&self, origin: &str) -> bool {
        self.origins
            .get()
            .is_some_and(|o| o.iter().any(|known| known == origin))
    }

    /// The anomaly tracker's view of a client address.
    pub fn source(&self, ip: Option<IpAddr>) -> Option<Source> {
        ip.map(|ip| Source {
            key: self.ip_labels.tracking_key(ip),
            shown: self.ip_labels.shown(ip),
        })
    }

    /// Whether `req` arrived on the loopback admin listener.
    pub fn on_admin_listener(&self, req: &HttpRequest) -> bool {
        self.admin_listener
            .get()
            .is_some_and(|addr| req.app_config().local_addr() == *addr)
    }

    /// Largest request body for JSON endpoints other than uploads.
    pub const SMALL_BODY_LIMIT: usize = 64 * 1024;
    /// Largest analytics request body.
    pub const AGGREGATE_BODY_LIMIT: usize = 2 * 1024 * 1024;

    /// Largest upload body: a payload of the maximum size in base64, plus room for the header
    /// and signature.
    pub fn upload_body_limit(&self) -> usize {
        let payload_b64 = self.config.limits.max_volume_size.div_ceil(3) * 4;
        usize::try_from(payload_b64 + 16 * 1024).unwrap_or(usize::MAX)
    }
}
