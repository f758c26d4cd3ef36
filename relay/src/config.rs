//! Relay configuration: built-in defaults, then a TOML file, then environment variables
//! (`PLURALLOG_*` names of the v1 relay first, `COFFER_*` names winning over them), then the
//! command line. Every setting is documented in `relay/coffer-relay.example.toml`, which a test
//! parses and checks against [`Config::default`].

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's explanation (line, column, key).
        message: String,
    },
    /// An environment variable has a value that does not parse.
    #[error("environment variable {name} has an invalid value: expected {expected}")]
    Env {
        /// The variable.
        name: String,
        /// What it should hold.
        expected: &'static str,
    },
    /// A value is out of range or settings contradict each other.
    #[error("invalid setting {key}: {message}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

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
    /// See [`TlsMode`].
    pub mode: TlsMode,
    /// PEM certificate chain (mode `files`).
    pub cert: Option<PathBuf>,
    /// PEM private key (mode `files`).
    pub key: Option<PathBuf>,
    /// Extra DNS names / IP addresses for the generated certificate.
    pub hostnames: Vec<String>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            mode: TlsMode::SelfSigned,
            cert: None,
            key: None,
            hostnames: Vec::new(),
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
            auth: n(6),
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

/// The admin token, held only as its SHA-256 digest. Never printed.
#[derive(Clone, Default)]
pub struct AdminToken(Option<[u8; 32]>);

impl AdminToken {
    /// From the configured text; empty means "admin API disabled".
    pub fn from_text(text: &str) -> Self {
        if text.is_empty() {
            Self(None)
        } else {
            Self(Some(Sha256::digest(text.as_bytes()).into()))
        }
    }

    /// The SHA-256 of the configured token.
    pub fn digest(&self) -> Option<[u8; 32]> {
        self.0
    }

    /// Whether an admin token is configured.
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Constant-time check of a presented token (digests compared, so length leaks nothing).
    pub fn matches(&self, presented: &[u8]) -> bool {
        match &self.0 {
            None => false,
            Some(expected) => {
                let got: [u8; 32] = Sha256::digest(presented).into();
                expected.ct_eq(&got).into()
            }
        }
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() {
            "AdminToken(<set>)"
        } else {
            "AdminToken(<unset>)"
        })
    }
}

impl<'de> Deserialize<'de> for AdminToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Self::from_text(&text))
    }
}

/// The Argon2id hash (PHC string) of the admin token, as `coffer-admin token generate` prints
/// it. Parsed and range-checked when the configuration is read, so a typo stops start-up
/// instead of locking the operator out. `Debug` shows the parameters, not the hash.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminTokenHash(String);

impl AdminTokenHash {
    /// Checks `text` with [`crate::admin_token::check_phc`].
    pub fn parse(text: &str) -> Result<Self, String> {
        crate::admin_token::check_phc(text)?;
        Ok(Self(text.to_owned()))
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AdminTokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`: the first four fields are parameters.
        let params: Vec<&str> = self.0.split('$').take(4).collect();
        write!(f, "AdminTokenHash({}$<redacted>)", params.join("$"))
    }
}

impl<'de> Deserialize<'de> for AdminTokenHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Admin API settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// The plain `X-Admin-Token` value (v1 compatibility); empty disables it. Prefer
    /// [`Admin::token_hash`].
    pub token: AdminToken,
    /// The Argon2id hash of the admin token (preferred: the relay never holds the token).
    pub token_hash: Option<AdminTokenHash>,
    /// A separate loopback listener for the admin API and `/metrics`. When set, the admin token
    /// is accepted only on it, and the public listener answers admin routes with 403.
    pub listen: Option<SocketAddr>,
}

/// What the relay may keep about client IP addresses (design §8). Applies to the request log
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

    fn parse(text: &str) -> Option<Self> {
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

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one).
    pub port: u16,
    /// Where the database, blobs and generated certificate live.
    pub data_dir: PathBuf,
    /// SQLite database file (default `<data_dir>/coffer.db`).
    pub database: Option<PathBuf>,
    /// Blob directory (default `<data_dir>/blobs`).
    pub blob_dir: Option<PathBuf>,
    /// Peers whose `X-Forwarded-For` header is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Origins clients dial this relay by (`https://host:port`), which v2 logins must sign.
    /// Empty: `https://` + 127.0.0.1, localhost, [::1], the listen address and `tls.hostnames`,
    /// each with the bound port.
    pub public_origins: Vec<String>,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `coffer_relay=debug`.
    pub log: String,
    /// TLS.
    pub tls: TlsConfig,
    /// Limits.
    pub limits: Limits,
    /// Rate limits.
    pub rate: Rates,
    /// Protocol.
    pub protocol: Protocol,
    /// Admin API.
    pub admin: Admin,
    /// What is kept about client IP addresses.
    pub ip_policy: IpPolicy,
    /// Anomaly report thresholds.
    pub anomalies: AnomalyThresholds,
    /// Workers, connection limits and timeouts.
    pub server: ServerLimits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8443,
            data_dir: PathBuf::from("./coffer-data"),
            database: None,
            blob_dir: None,
            trusted_proxies: Vec::new(),
            public_origins: Vec::new(),
            log: "info".into(),
            tls: TlsConfig::default(),
            limits: Limits::default(),
            rate: Rates::default(),
            protocol: Protocol::default(),
            admin: Admin::default(),
            ip_policy: IpPolicy::Off,
            anomalies: AnomalyThresholds::default(),
            server: ServerLimits::default(),
        }
    }
}

/// One environment variable: its names (first wins) and how it applies.
struct EnvVar {
    names: &'static [&'static str],
    help: &'static str,
    apply: fn(&mut Config, &str) -> Result<(), &'static str>,
}

fn parse<T: std::str::FromStr>(v: &str, what: &'static str) -> Result<T, &'static str> {
    v.trim().parse().map_err(|_| what)
}

/// The environment variables, `COFFER_*` first, then the v1 relay's aliases.
const ENV_VARS: &[EnvVar] = &[
    EnvVar {
        names: &["COFFER_HOST", "PLURALLOG_HOST"],
        help: "listen address",
        apply: |c, v| {
            c.host = parse(v, "an IP address")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_PORT", "PLURALLOG_PORT"],
        help: "listen port",
        apply: |c, v| {
            c.port = parse(v, "a port number")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_DATA_DIR"],
        help: "data directory",
        apply: |c, v| {
            c.data_dir = v.into();
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_DATABASE", "PLURALLOG_DB_PATH"],
        help: "SQLite database file",
        apply: |c, v| {
            c.database = Some(v.into());
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_BLOB_DIR", "PLURALLOG_VOLUME_PATH"],
        help: "blob directory",
        apply: |c, v| {
            c.blob_dir = Some(v.into());
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_TLS_MODE"],
        help: "self-signed | files | off",
        apply: |c, v| {
            c.tls.mode = match v.trim() {
                "self-signed" => TlsMode::SelfSigned,
                "files" => TlsMode::Files,
                "off" => TlsMode::Off,
                _ => return Err("self-signed, files or off"),
            };
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_TLS_CERT", "PLURALLOG_TLS_CERT"],
        help: "PEM certificate chain (implies tls mode files)",
        apply: |c, v| {
            c.tls.cert = Some(v.into());
            c.tls.mode = TlsMode::Files;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_TLS_KEY", "PLURALLOG_TLS_KEY"],
        help: "PEM private key (implies tls mode files)",
        apply: |c, v| {
            c.tls.key = Some(v.into());
            c.tls.mode = TlsMode::Files;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_TLS_HOSTNAMES"],
        help: "comma-separated names/IPs for the generated certificate",
        apply: |c, v| {
            c.tls.hostnames = split_list(v);
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_TRUSTED_PROXIES"],
        help: "comma-separated proxy IPs whose X-Forwarded-For is believed",
        apply: |c, v| {
            c.trusted_proxies = split_list(v)
                .iter()
                .map(|s| s.parse())
                .collect::<Result<_, _>>()
                .map_err(|_| "comma-separated IP addresses")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_LOG"],
        help: "log filter, e.g. info or debug",
        apply: |c, v| {
            c.log = v.into();
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_MAX_VOLUME_SIZE", "PLURALLOG_MAX_VOLUME_SIZE"],
        help: "largest volume payload, bytes",
        apply: |c, v| {
            c.limits.max_volume_size = parse(v, "a byte count")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_MAX_USER_STORAGE", "PLURALLOG_MAX_USER_STORAGE"],
        help: "per-user storage quota, bytes",
        apply: |c, v| {
            c.limits.max_user_storage = parse(v, "a byte count")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_SESSION_LIFETIME", "PLURALLOG_SESSION_LIFETIME"],
        help: "session lifetime, seconds",
        apply: |c, v| {
            c.limits.session_lifetime_secs = parse(v, "seconds")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_CHALLENGE_LIFETIME"],
        help: "login challenge lifetime, seconds",
        apply: |c, v| {
            c.limits.challenge_lifetime_secs = parse(v, "seconds")?;
            Ok(())
        },
    },
    EnvVar {
        names: &[
            "COFFER_INVITE_LIFETIME_HOURS",
            "PLURALLOG_INVITE_LIFETIME_HOURS",
        ],
        help: "invite lifetime, hours",
        apply: |c, v| {
            c.limits.invite_lifetime_hours = parse(v, "hours")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_RATE_REGISTER", "PLURALLOG_RATE_UNAUTH"],
        help: "registrations per minute per IP",
        apply: |c, v| {
            c.rate.register = parse(v, "a positive integer")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_RATE_AUTH", "PLURALLOG_RATE_AUTH"],
        help: "login requests per minute per IP",
        apply: |c, v| {
            c.rate.auth = parse(v, "a positive integer")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_RATE_UPLOAD", "PLURALLOG_RATE_UPLOAD"],
        help: "uploads per minute per user",
        apply: |c, v| {
            c.rate.upload = parse(v, "a positive integer")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_RATE_GENERAL", "PLURALLOG_RATE_GENERAL"],
        help: "other requests per minute per user",
        apply: |c, v| {
            c.rate.general = parse(v, "a positive integer")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_RATE_DISCOVERY", "PLURALLOG_RATE_DISCOVERY"],
        help: "discover requests per minute per user",
        apply: |c, v| {
            c.rate.discovery = parse(v, "a positive integer")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_RATE_ADMIN"],
        help: "admin requests per minute per IP",
        apply: |c, v| {
            c.rate.admin = parse(v, "a positive integer")?;
            Ok(())
        },
    },
    EnvVar {
        names: &[
            "COFFER_MIN_PROTOCOL_VERSION",
            "PLURALLOG_MIN_PROTOCOL_VERSION",
        ],
        help: "lowest client protocol version",
        apply: |c, v| {
            c.protocol.min_version = parse(v, "an integer")?;
            Ok(())
        },
    },
    EnvVar {
        names: &[
            "COFFER_LATEST_CLIENT_VERSION",
            "PLURALLOG_LATEST_CLIENT_VERSION",
        ],
        help: "advertised newest client version",
        apply: |c, v| {
            c.protocol.latest_client_version = Some(v.into()).filter(|s: &String| !s.is_empty());
            Ok(())
        },
    },
    EnvVar {
        names: &[
            "COFFER_ADMIN_TOKEN",
            "PLURALLOG_ADMIN_TOKEN",
            "POLYLOG_ADMIN_TOKEN",
        ],
        help: "admin API token, plain (v1 compatibility; prefer COFFER_ADMIN_TOKEN_HASH)",
        apply: |c, v| {
            c.admin.token = AdminToken::from_text(v);
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_ADMIN_TOKEN_HASH"],
        help: "Argon2id hash of the admin token ($argon2id$…, from `coffer-admin token generate`)",
        apply: |c, v| {
            c.admin.token_hash = if v.trim().is_empty() {
                None
            } else {
                Some(AdminTokenHash::parse(v.trim()).map_err(|_| "an Argon2id PHC string")?)
            };
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_ADMIN_LISTEN"],
        help: "loopback address:port of a separate admin listener, e.g. 127.0.0.1:8444",
        apply: |c, v| {
            c.admin.listen = if v.trim().is_empty() {
                None
            } else {
                Some(parse(v, "an address:port")?)
            };
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_WORKERS"],
        help: "worker threads (0 = one per CPU)",
        apply: |c, v| {
            c.server.workers = parse(v, "a count")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_MAX_CONNECTIONS"],
        help: "open connections at once, all clients",
        apply: |c, v| {
            c.server.max_connections = parse(v, "a count")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_MAX_CONNECTIONS_PER_IP"],
        help: "open connections at once per client address (0 = no cap)",
        apply: |c, v| {
            c.server.max_connections_per_ip = parse(v, "a count")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_MAX_TLS_HANDSHAKES"],
        help: "TLS handshakes in progress at once",
        apply: |c, v| {
            c.server.max_tls_handshakes = parse(v, "a count")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_BACKLOG"],
        help: "listen backlog (connections queued by the kernel)",
        apply: |c, v| {
            c.server.backlog = parse(v, "a count")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_TLS_HANDSHAKE_TIMEOUT"],
        help: "seconds to complete the TLS handshake",
        apply: |c, v| {
            c.server.tls_handshake_timeout_secs = parse(v, "seconds")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_REQUEST_HEAD_TIMEOUT"],
        help: "seconds to send a complete request head",
        apply: |c, v| {
            c.server.request_head_timeout_secs = parse(v, "seconds")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_KEEP_ALIVE"],
        help: "seconds an idle connection stays open (0 = close after each response)",
        apply: |c, v| {
            c.server.keep_alive_secs = parse(v, "seconds")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_TRANSFER_TIMEOUT"],
        help: "seconds a body or response may take, plus 1 s per min-transfer-rate bytes",
        apply: |c, v| {
            c.server.transfer_timeout_secs = parse(v, "seconds")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_MIN_TRANSFER_RATE"],
        help: "bytes per second a body or response must average",
        apply: |c, v| {
            c.server.min_transfer_rate = parse(v, "bytes per second")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_DISCONNECT_TIMEOUT"],
        help: "seconds a closing connection may linger",
        apply: |c, v| {
            c.server.disconnect_timeout_secs = parse(v, "seconds")?;
            Ok(())
        },
    },
    EnvVar {
        names: &["COFFER_IP_POLICY"],
        help: "off | keyed-hash | full: what logs and the anomaly report may show of client IPs",
        apply: |c, v| {
            c.ip_policy = IpPolicy::parse(v).ok_or("off, keyed-hash or full")?;
            Ok(())
        },
    },
];

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Help text listing every environment variable, for `--help`.
pub fn env_help() -> String {
    let mut out = String::from(
        "Environment variables (override the config file; COFFER_* wins over the v1 PLURALLOG_* aliases):\n",
    );
    for var in ENV_VARS {
        out.push_str(&format!("  {:<34} {}\n", var.names.join(" | "), var.help));
    }
    out
}

impl Config {
    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text over the defaults.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Applies environment overrides from `lookup` (a function, so tests need not touch the
    /// process environment). For each setting the first name that is set wins.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        for var in ENV_VARS {
            if let Some((name, value)) = var.names.iter().find_map(|n| lookup(n).map(|v| (*n, v))) {
                (var.apply)(self, &value).map_err(|expected| ConfigError::Env {
                    name: name.to_owned(),
                    expected,
                })?;
            }
        }
        Ok(())
    }

    /// Checks ranges and combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| ConfigError::Invalid {
            key,
            message: message.to_owned(),
        };
        if self.tls.mode == TlsMode::Files && (self.tls.cert.is_none() || self.tls.key.is_none()) {
            return Err(invalid(
                "tls",
                "mode \"files\" needs both tls.cert and tls.key",
            ));
        }
        if self.limits.max_volume_size == 0 || self.limits.max_volume_size > 1 << 30 {
            return Err(invalid(
                "limits.max_volume_size",
                "must be between 1 byte and 1 GiB",
            ));
        }
        if self.limits.max_user_storage < self.limits.max_volume_size {
            return Err(invalid(
                "limits.max_user_storage",
                "must be at least limits.max_volume_size",
            ));
        }
        for (key, value) in [
            (
                "limits.session_lifetime_secs",
                self.limits.session_lifetime_secs,
            ),
            (
                "limits.challenge_lifetime_secs",
                self.limits.challenge_lifetime_secs,
            ),
            (
                "limits.invite_lifetime_hours",
                self.limits.invite_lifetime_hours,
            ),
            (
                "limits.max_discovery_results",
                self.limits.max_discovery_results,
            ),
            (
                "limits.max_challenges_per_user",
                self.limits.max_challenges_per_user,
            ),
            ("limits.max_open_invites", self.limits.max_open_invites),
        ] {
            if value == 0 || value > 10_000_000 {
                return Err(invalid(key, "must be between 1 and 10000000"));
            }
        }
        for origin in &self.public_origins {
            let ok = origin.starts_with("https://")
                && !origin.ends_with('/')
                && origin.len() <= 255
                && !origin[8..].contains('/');
            if !ok {
                return Err(invalid(
                    "public_origins",
                    "each origin must look like https://host:port (no path, no trailing slash)",
                ));
            }
        }
        if self.protocol.min_version < 1 {
            return Err(invalid("protocol.min_version", "must be at least 1"));
        }
        if self.admin.token.is_set() && self.admin.token_hash.is_some() {
            return Err(invalid(
                "admin",
                "set either admin.token (plain, e.g. PLURALLOG_ADMIN_TOKEN) or admin.token_hash, \
                 not both; remove the plain token once the hash is configured",
            ));
        }
        if let Some(listen) = self.admin.listen {
            if !listen.ip().is_loopback() {
                return Err(invalid(
                    "admin.listen",
                    "must be a loopback address (127.0.0.1:PORT or [::1]:PORT); reach it \
                     remotely through an SSH tunnel",
                ));
            }
            if listen.port() != 0 && listen == self.listen_addr() {
                return Err(invalid(
                    "admin.listen",
                    "must differ from the main listen address",
                ));
            }
        }
        self.validate_server()?;
        let a = &self.anomalies;
        if a.window_minutes == 0 || a.window_minutes > 7 * 24 * 60 {
            return Err(invalid(
                "anomalies.window_minutes",
                "must be between 1 and 10080 (one week)",
            ));
        }
        for (key, value) in [
            ("anomalies.failed_logins", a.failed_logins),
            ("anomalies.challenges", a.challenges),
            ("anomalies.storage_growth_bytes", a.storage_growth_bytes),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        Ok(())
    }

    /// Ranges of `[server]`: no limit may be switched off by accident (a zero timeout would
    /// mean "wait forever" to actix).
    fn validate_server(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        let ranges: [(&'static str, u64, u64, u64); 11] = [
            ("server.workers", s.workers as u64, 0, 1024),
            (
                "server.max_connections",
                s.max_connections as u64,
                1,
                1_000_000,
            ),
            (
                "server.max_connections_per_ip",
                s.max_connections_per_ip as u64,
                0,
                1_000_000,
            ),
            (
                "server.max_tls_handshakes",
                s.max_tls_handshakes as u64,
                1,
                1_000_000,
            ),
            ("server.backlog", u64::from(s.backlog), 1, 65_535),
            (
                "server.tls_handshake_timeout_secs",
                s.tls_handshake_timeout_secs,
                1,
                300,
            ),
            (
                "server.request_head_timeout_secs",
                s.request_head_timeout_secs,
                1,
                300,
            ),
            ("server.keep_alive_secs", s.keep_alive_secs, 0, 3600),
            (
                "server.transfer_timeout_secs",
                s.transfer_timeout_secs,
                1,
                3600,
            ),
            (
                "server.min_transfer_rate",
                s.min_transfer_rate,
                1,
                1_000_000_000,
            ),
            (
                "server.disconnect_timeout_secs",
                s.disconnect_timeout_secs,
                1,
                300,
            ),
        ];
        for (key, value, min, max) in ranges {
            if value < min || value > max {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!("must be between {min} and {max}"),
                });
            }
        }
        Ok(())
    }

    /// Whether the admin API is enabled (a plain token or a token hash is configured).
    pub fn admin_enabled(&self) -> bool {
        self.admin.token.is_set() || self.admin.token_hash.is_some()
    }

    /// Where the per-relay secret of the keyed IP hash lives.
    pub fn ip_hash_key_path(&self) -> PathBuf {
        self.data_dir.join("ip-hash.key")
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.database
            .clone()
            .unwrap_or_else(|| self.data_dir.join("coffer.db"))
    }

    /// The blob directory.
    pub fn blob_path(&self) -> PathBuf {
        self.blob_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs"))
    }

    /// Where a generated certificate lives.
    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }

    /// The socket address to bind.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
