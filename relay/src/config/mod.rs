//! Relay configuration: built-in defaults, then a TOML file, then environment variables
//! (`PLURALLOG_*` names of the v1 relay first, `COFFER_*` names winning over them), then the
//! command line. Every setting is documented in `relay/coffer-relay.example.toml`, which a test
//! parses and checks against [`Config::default`].
//!
//! By concern: [`sections`] (the file's sections, their types and defaults), `env` (the
//! environment variables, one table line each), `validate` (ranges as tables, combinations),
//! [`admin`] (the admin token: plain digest or Argon2id hash), [`ConfigError`]. Nothing here
//! depends on the HTTP server: `coffer-admin` links it without the server stack.

pub mod access;
pub mod admin;
pub mod check;
mod env;
mod error;
mod log_filter;
mod resolve;
pub mod sections;
pub mod storage;
mod validate;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use access::{MetricsAccess, Registration, RegistrationMode};
pub use admin::{Admin, AdminToken, AdminTokenHash, TokenHashError};
pub use env::env_help;
pub use error::ConfigError;
pub use log_filter::log_filter_problem;
pub use sections::{
    AnomalyThresholds, IpPolicy, Limits, Protocol, Rates, ServerLimits, TlsConfig, TlsMode,
};
pub use sections::{Cache, RequestLog, RequestLogMode};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one).
    pub port: u16,
    /// Where the database, blobs and generated certificate live (in the file: relative to the
    /// file's directory).
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
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `coffer_relay=debug`; an invalid
    /// one is refused (`log_filter_problem`), never replaced by `info`.
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
    /// Who may register, and the user cap.
    pub registration: Registration,
    /// Who may read `/metrics`.
    pub metrics: MetricsAccess,
    /// Where payloads are kept: inline in the database up to a size, else blob files.
    pub storage: storage::Storage,
    /// Where blobs are kept: files in the blob directory, or an S3-compatible object store.
    pub blobs: storage::Blobs,
    /// In-memory caches.
    pub cache: Cache,
    /// How answered requests are logged.
    pub request_log: RequestLog,
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
            registration: Registration::default(),
            metrics: MetricsAccess::default(),
            storage: storage::Storage::default(),
            blobs: storage::Blobs::default(),
            cache: Cache::default(),
            request_log: RequestLog::default(),
        }
    }
}
impl Config {
    /// Reads a TOML file over the defaults. Relative paths in it (`data_dir`, `database`,
    /// `blob_dir`, `tls.cert`, `tls.key`, `storage.url_file`, `blobs.credentials_file`) are
    /// relative to the file's directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Self = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.apply_file_meaning(&text, Some(&resolve::file_dir(path)));
        Ok(config)
    }

    /// Parses TOML text over the defaults (relative paths stay relative to the working
    /// directory: there is no file to be relative to).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let mut config: Self = toml::from_str(text).map_err(|e| ConfigError::Toml {
            message: e.to_string(),
        })?;
        config.apply_file_meaning(text, None);
        Ok(config)
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
mod tests;
