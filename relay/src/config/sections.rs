//! The sections of the configuration file: their types, documented fields and defaults (which
//! `relay/coffer-relay.example.toml` repeats; a test keeps the two equal).

use std::num::NonZeroU32;
use std::path::PathBuf;

use serde::Deserialize;

/// How the relay gets its TLS certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Generate a self-signed certificate on first start, keep it in `<data_dir>/tls/`.
    SelfSigned,
    /// Load `tls.cert` and `tls.key` (PEM), e.g. a CA-signed certificate.
    Files,
    /// Plain HTTP — only behind a TLS-terminating proxy.
    Off,
}

/// TLS settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// See [`TlsMode`]. Not given: `files` when `cert` or `key` is set, else `self-signed`;
    /// given, it must agree with them (docs/adr/0022-tls-config-honesty-and-reload.md).
    pub mode: TlsMode,
    /// PEM certificate chain (implies mode `files`). Relative to the config file's directory.
    /// Reloaded on SIGHUP and when the file changes.
    pub cert: Option<PathBuf>,
    /// PEM private key (implies mode `files`). Relative to the config file's directory.
    pub key: Option<PathBuf>,
    /// Extra DNS names / IP addresses for the generated certificate.
    pub hostnames: Vec<String>,
    /// Mode `files`: seconds between looks at `cert` and `key` for a renewal (size, mtime,
    /// inode); a changed pair is reloaded without a restart. 0 = only on SIGHUP.
    pub watch_interval_secs: u64,
    /// Whether `mode` was given (file or `COFFER_TLS_MODE`) rather than defaulted; not a key.
    #[serde(skip)]
    pub mode_given: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            mode: TlsMode::SelfSigned,
            cert: None,
            key: None,
            hostnames: Vec::new(),
            watch_interval_secs: 2,
            mode_given: false,
        }
    }
}

/// Size and lifetime limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest encrypted volume payload, bytes.
    pub max_volume_size: u64,
    /// Largest total of a user's stored payloads, bytes.
    pub max_user_storage: u64,
    /// Session token lifetime, seconds.
    pub session_lifetime_secs: u64,
    /// Login challenge lifetime, seconds.
    pub challenge_lifetime_secs: u64,
    /// Invite code lifetime, hours.
    pub invite_lifetime_hours: u64,
    /// Unredeemed, unexpired invites a system may hold at once.
    pub max_open_invites: u64,
    /// Outstanding challenges kept per user (older ones are dropped).
    pub max_challenges_per_user: u64,
    /// Maximum `discover` results.
    pub max_discovery_results: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_volume_size: 10_485_760,
            max_user_storage: 52_428_800,
            session_lifetime_secs: 3600,
            challenge_lifetime_secs: 300,
            invite_lifetime_hours: 72,
            max_open_invites: 50,
            max_challenges_per_user: 16,
            max_discovery_results: 10,
        }
    }
}

/// Requests per minute per rate-limit class (token buckets: the burst equals the per-minute rate).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rates {
    /// `POST /register`, per client IP.
    pub register: NonZeroU32,
    /// `POST /auth/challenge` and `/auth/token` together, per client IP.
    pub auth: NonZeroU32,
    /// `PUT /volumes/{name}`, per user.
    pub upload: NonZeroU32,
    /// Other authenticated routes, per user.
    pub general: NonZeroU32,
    /// `GET /discover`, per user.
    pub discovery: NonZeroU32,
    /// Admin API, per client IP.
    pub admin: NonZeroU32,
}

impl Default for Rates {
    fn default() -> Self {
        let n = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        Self {
            register: n(10),
            auth: n(30),
            upload: n(12),
            general: n(60),
            discovery: n(10),
            admin: n(60),
        }
    }
}

/// Protocol settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Protocol {
    /// Lowest `X-Protocol-Version` / registration `protocol_version` accepted (426 below).
    pub min_version: i64,
    /// If set, every response carries `X-Upgrade-Available` naming this client version.
    pub latest_client_version: Option<String>,
}

impl Default for Protocol {
    fn default() -> Self {
        Self {
            min_version: 1,
            latest_client_version: None,
        }
    }
}

/// and to the anomaly report; rate limiting always uses addresses in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IpPolicy {
    /// Addresses are never logged or shown (default).
    #[default]
    Off,
    /// A keyed hash (HMAC-SHA-256 with a per-relay secret in the data directory, truncated) is
    /// logged and shown instead: the same address gives the same label, but the label cannot be
    /// turned back into the address without the secret.
    KeyedHash,
    /// Addresses are logged and shown as they are.
    Full,
}

impl IpPolicy {
    /// The configuration text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::KeyedHash => "keyed-hash",
            Self::Full => "full",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "off" => Some(Self::Off),
            "keyed-hash" => Some(Self::KeyedHash),
            "full" => Some(Self::Full),
            _ => None,
        }
    }
}

/// Thresholds of the anomaly report (`GET /api/v1/admin/anomalies`). Counters live in memory
/// only and cover a sliding window.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyThresholds {
    /// Length of the sliding window, minutes.
    pub window_minutes: u64,
    /// Failed logins per user, or per source, within the window that are reported.
    pub failed_logins: u64,
    /// Login challenges per user, or per source, within the window that are reported.
    pub challenges: u64,
    /// Net storage growth of one user within the window (bytes) that is reported.
    pub storage_growth_bytes: u64,
}

impl Default for AnomalyThresholds {
    fn default() -> Self {
        Self {
            window_minutes: 60,
            failed_logins: 10,
            challenges: 60,
            storage_growth_bytes: 20_971_520,
        }
    }
}

/// Workers, connection limits and timeouts of the HTTP server: what bounds slow, idle and
/// numerous clients (docs/adr/0011-connection-limits-and-timeouts.md). Counts are totals for
/// the whole relay; actix counts per worker, so the relay divides them among the workers
/// (rounding up).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerLimits {
    /// Worker threads serving connections; 0 = one per CPU.
    pub workers: usize,
    /// Open connections at once, all clients together. At the limit the relay stops accepting;
    /// new connections wait in the listen backlog.
    pub max_connections: usize,
    /// Open connections at once from one client address (IPv6: one /64); 0 = no cap. Trusted
    /// proxies are exempt. Over the cap a connection is closed right after the TLS handshake.
    pub max_connections_per_ip: usize,
    /// TLS handshakes in progress at once (the CPU-heavy part of a new connection).
    pub max_tls_handshakes: usize,
    /// Connections the kernel queues while the relay is at `max_connections`.
    pub backlog: u32,
    /// Seconds a client has to complete the TLS handshake.
    pub tls_handshake_timeout_secs: u64,
    /// Seconds a client has to send a complete request head: from connecting for the first
    /// request, from the end of the idle time for later ones (slowloris).
    pub request_head_timeout_secs: u64,
    /// Seconds an idle connection is kept open between requests; 0 = close after each response.
    pub keep_alive_secs: u64,
    /// Seconds every request body and every response may take, plus one second per
    /// `min_transfer_rate` bytes (a body trickled at 1 byte/s cannot hold a connection).
    pub transfer_timeout_secs: u64,
    /// Bytes per second a body or response must average after `transfer_timeout_secs`.
    pub min_transfer_rate: u64,
    /// Seconds a closing connection may linger so the client reads the last answer (e.g. a 413
    /// sent before the body), and a graceful TLS shutdown may take.
    pub disconnect_timeout_secs: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            workers: 0,
            max_connections: 448,
            max_connections_per_ip: 64,
            max_tls_handshakes: 128,
            backlog: 1024,
            tls_handshake_timeout_secs: 5,
            request_head_timeout_secs: 10,
            keep_alive_secs: 30,
            transfer_timeout_secs: 20,
            min_transfer_rate: 1024,
            disconnect_timeout_secs: 5,
        }
    }
}

impl ServerLimits {
    /// The number of workers: configured, else one per CPU.
    pub fn effective_workers(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }
    }

    /// `total` divided among the workers, rounded up (actix's limits are per worker).
    pub fn per_worker(&self, total: usize) -> usize {
        total.div_ceil(self.effective_workers()).max(1)
    }
}

/// In-memory caches (docs/adr/0028-fetch-fast-path-and-request-log.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cache {
    /// Bytes of download answers held in memory (small volumes' pre-encoded bodies, at most
    /// 64 KiB each, and the versions of larger ones for `304`s), so repeated fetches are
    /// answered without a database read; 0 = off. Writers keep it exact: an upload, deletion,
    /// revocation, unpairing or grant change takes effect for the very next request.
    pub fetch_bytes: u64,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            fetch_bytes: 32 * 1024 * 1024,
        }
    }
}

/// How answered requests are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestLogMode {
    /// One line per request (method, route pattern, status, milliseconds).
    Each,
    /// Only errors and slow requests, one line each.
    Errors,
    /// Errors and slow requests one line each, plus per route and status counts with latency
    /// figures every `summary_secs` (default).
    #[default]
    Summary,
}

impl RequestLogMode {
    /// The configuration text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Each => "each",
            Self::Errors => "errors",
            Self::Summary => "summary",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "each" => Some(Self::Each),
            "errors" => Some(Self::Errors),
            "summary" => Some(Self::Summary),
            _ => None,
        }
    }
}

/// The request log (docs/adr/0028-fetch-fast-path-and-request-log.md). Its lines never carry
/// ids, bodies or (unless `ip_policy` allows) client addresses; they are `info` events of the
/// `coffer_relay` target, so the `log` filter still decides whether they are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestLog {
    /// See [`RequestLogMode`].
    pub mode: RequestLogMode,
    /// Seconds between summaries (mode `summary`); a summary names only routes that were
    /// requested in its interval.
    pub summary_secs: u64,
    /// Requests taking at least this many milliseconds are logged one by one (modes `errors`
    /// and `summary`); 0 = none for being slow.
    pub slow_ms: u64,
}

impl Default for RequestLog {
    fn default() -> Self {
        Self {
            mode: RequestLogMode::Summary,
            summary_secs: 60,
            slow_ms: 1000,
        }
    }
}
