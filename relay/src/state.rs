//! Everything a handler needs, passed as actix `Data` — never global, so tests can run several
//! relays with different settings in one process.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::limits::RateLimits;
use crate::store::Db;
use crate::store::blobs::BlobStore;

/// Shared relay state.
#[derive(Debug)]
pub struct AppState {
    /// Effective configuration.
    pub config: Config,
    /// Metadata database.
    pub db: Arc<Db>,
    /// Blob files.
    pub blobs: BlobStore,
    /// Rate limiters.
    pub limits: RateLimits,
    /// Start time, for `uptime_seconds`.
    pub started: Instant,
    /// The origins v2 logins may sign, fixed once the listening port is known.
    pub origins: std::sync::OnceLock<Vec<String>>,
}

impl AppState {
    /// Whether a v2 login transcript's origin names this relay.
    pub fn is_own_origin(&self, origin: &str) -> bool {
        self.origins
            .get()
            .is_some_and(|o| o.iter().any(|known| known == origin))
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
