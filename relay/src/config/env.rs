//! The environment variables, as a table: one line per setting, its names (`COFFER_*` first,
//! then the v1 relay's `PLURALLOG_*` aliases; the first name that is set wins), its `--help`
//! text, and how its text becomes the setting.

use std::net::{IpAddr, SocketAddr};

use super::admin::{AdminToken, AdminTokenHash};
use super::error::ConfigError;
use super::{Config, IpPolicy, RegistrationMode, TlsMode};

/// One environment variable: its names (first wins) and how it applies.
struct EnvVar {
    names: &'static [&'static str],
    help: &'static str,
    /// Sets the value; the error is what the value should have been.
    apply: fn(&mut Config, &str) -> Result<(), &'static str>,
}

/// One table line. The last part says how the text becomes the setting:
/// - `field = parse("what")`: `FromStr` of the trimmed text; `what` is named when it fails;
/// - `field = text` / `field = some(text)`: the text as it is (paths, strings);
/// - `field = with(f)`: `f(text)`, a parser below;
/// - `apply(f)`: `f(config, text)`, for a variable that sets more than one field.
macro_rules! var {
    ([$($name:literal),+], $help:literal, $($field:ident).+ = parse($what:literal)) => {
        var!(@ [$($name),+], $help, |c, v| { c.$($field).+ = parse(v, $what)?; Ok(()) })
    };
    ([$($name:literal),+], $help:literal, $($field:ident).+ = text) => {
        var!(@ [$($name),+], $help, |c, v| { c.$($field).+ = v.into(); Ok(()) })
    };
    ([$($name:literal),+], $help:literal, $($field:ident).+ = some(text)) => {
        var!(@ [$($name),+], $help, |c, v| { c.$($field).+ = Some(v.into()); Ok(()) })
    };
    ([$($name:literal),+], $help:literal, $($field:ident).+ = with($f:path)) => {
        var!(@ [$($name),+], $help, |c, v| { c.$($field).+ = $f(v)?; Ok(()) })
    };
    ([$($name:literal),+], $help:literal, apply($f:path)) => {
        var!(@ [$($name),+], $help, $f)
    };
    (@ [$($name:literal),+], $help:literal, $apply:expr) => {
        EnvVar { names: &[$($name),+], help: $help, apply: $apply }
    };
}

/// The environment variables, `COFFER_*` first, then the v1 relay's aliases.
#[rustfmt::skip]
const ENV_VARS: &[EnvVar] = &[
    var!(["COFFER_HOST", "PLURALLOG_HOST"], "listen address", host = parse("an IP address")),
    var!(["COFFER_PORT", "PLURALLOG_PORT"], "listen port", port = parse("a port number")),
    var!(["COFFER_DATA_DIR"], "data directory", data_dir = text),
    var!(["COFFER_DATABASE", "PLURALLOG_DB_PATH"], "SQLite database file", database = some(text)),
    var!(["COFFER_BLOB_DIR", "PLURALLOG_VOLUME_PATH"], "blob directory", blob_dir = some(text)),
    var!(["COFFER_TLS_MODE"], "self-signed | files | off", apply(tls_mode)),
    var!(["COFFER_TLS_CERT", "PLURALLOG_TLS_CERT"], "PEM certificate chain (implies tls mode files; relative: to the working directory)", apply(tls_cert)),
    var!(["COFFER_TLS_KEY", "PLURALLOG_TLS_KEY"], "PEM private key (implies tls mode files; relative: to the working directory)", apply(tls_key)),
    var!(["COFFER_TLS_WATCH_INTERVAL"], "seconds between checks of tls.cert/tls.key for renewed files (0 = only on SIGHUP)", tls.watch_interval_secs = parse("seconds")),
    var!(["COFFER_TLS_HOSTNAMES"], "comma-separated names/IPs for the generated certificate", tls.hostnames = with(list)),
    var!(["COFFER_TRUSTED_PROXIES"], "comma-separated proxy IPs whose X-Forwarded-For is believed", trusted_proxies = with(ip_list)),
    var!(["COFFER_PUBLIC_ORIGINS"], "comma-separated origins (https://host:port) v2 logins may sign, besides loopback, the certificate's names and the interface addresses", public_origins = with(list)),
    var!(["COFFER_LOG"], "log filter, e.g. info or debug", log = text),
    var!(["COFFER_MAX_VOLUME_SIZE", "PLURALLOG_MAX_VOLUME_SIZE"], "largest volume payload, bytes", limits.max_volume_size = parse("a byte count")),
    var!(["COFFER_MAX_USER_STORAGE", "PLURALLOG_MAX_USER_STORAGE"], "per-user storage quota, bytes", limits.max_user_storage = parse("a byte count")),
    var!(["COFFER_SESSION_LIFETIME", "PLURALLOG_SESSION_LIFETIME"], "session lifetime, seconds", limits.session_lifetime_secs = parse("seconds")),
    var!(["COFFER_CHALLENGE_LIFETIME"], "login challenge lifetime, seconds", limits.challenge_lifetime_secs = parse("seconds")),
    var!(["COFFER_INVITE_LIFETIME_HOURS", "PLURALLOG_INVITE_LIFETIME_HOURS"], "invite lifetime, hours", limits.invite_lifetime_hours = parse("hours")),
    var!(["COFFER_RATE_REGISTER", "PLURALLOG_RATE_UNAUTH"], "registrations per minute per IP", rate.register = parse("a positive integer")),
    var!(["COFFER_RATE_AUTH", "PLURALLOG_RATE_AUTH"], "login requests per minute per IP", rate.auth = parse("a positive integer")),
    var!(["COFFER_RATE_UPLOAD", "PLURALLOG_RATE_UPLOAD"], "uploads per minute per user", rate.upload = parse("a positive integer")),
    var!(["COFFER_RATE_GENERAL", "PLURALLOG_RATE_GENERAL"], "other requests per minute per user", rate.general = parse("a positive integer")),
    var!(["COFFER_RATE_DISCOVERY", "PLURALLOG_RATE_DISCOVERY"], "discover requests per minute per user", rate.discovery = parse("a positive integer")),
    var!(["COFFER_RATE_ADMIN"], "admin requests per minute per IP", rate.admin = parse("a positive integer")),
    var!(["COFFER_MIN_PROTOCOL_VERSION", "PLURALLOG_MIN_PROTOCOL_VERSION"], "lowest client protocol version", protocol.min_version = parse("an integer")),
    var!(["COFFER_LATEST_CLIENT_VERSION", "PLURALLOG_LATEST_CLIENT_VERSION"], "advertised newest client version", protocol.latest_client_version = with(non_empty)),
    var!(["COFFER_ADMIN_TOKEN", "PLURALLOG_ADMIN_TOKEN", "POLYLOG_ADMIN_TOKEN"], "admin API token, plain (v1 compatibility; prefer COFFER_ADMIN_TOKEN_HASH)", admin.token = with(admin_token)),
    var!(["COFFER_ADMIN_TOKEN_HASH"], "Argon2id hash of the admin token ($argon2id$…, from `coffer-admin token generate`)", admin.token_hash = with(token_hash)),
    var!(["COFFER_ADMIN_LISTEN"], "address:port of a separate admin listener, e.g. 127.0.0.1:8444 (non-loopback only with COFFER_ADMIN_TOKEN_HASH)", admin.listen = with(optional_addr)),
    var!(["COFFER_REGISTRATION", "PLURALLOG_REGISTRATION"], "open | invite-only | closed: who may register", registration.mode = with(registration_mode)),
    var!(["COFFER_MAX_USERS", "PLURALLOG_MAX_USERS"], "most accounts (v1 and v2) the relay holds; empty = no cap", registration.max_users = with(optional_count)),
    var!(["COFFER_METRICS_PUBLIC"], "true: serve /metrics without the admin token (default false)", metrics.public = parse("true or false")),
    var!(["COFFER_WORKERS"], "worker threads (0 = one per CPU)", server.workers = parse("a count")),
    var!(["COFFER_MAX_CONNECTIONS"], "open connections at once, all clients", server.max_connections = parse("a count")),
    var!(["COFFER_MAX_CONNECTIONS_PER_IP"], "open connections at once per client address (0 = no cap)", server.max_connections_per_ip = parse("a count")),
    var!(["COFFER_MAX_TLS_HANDSHAKES"], "TLS handshakes in progress at once", server.max_tls_handshakes = parse("a count")),
    var!(["COFFER_BACKLOG"], "listen backlog (connections queued by the kernel)", server.backlog = parse("a count")),
    var!(["COFFER_TLS_HANDSHAKE_TIMEOUT"], "seconds to complete the TLS handshake", server.tls_handshake_timeout_secs = parse("seconds")),
    var!(["COFFER_REQUEST_HEAD_TIMEOUT"], "seconds to send a complete request head", server.request_head_timeout_secs = parse("seconds")),
    var!(["COFFER_KEEP_ALIVE"], "seconds an idle connection stays open (0 = close after each response)", server.keep_alive_secs = parse("seconds")),
    var!(["COFFER_TRANSFER_TIMEOUT"], "seconds a body or response may take, plus 1 s per min-transfer-rate bytes", server.transfer_timeout_secs = parse("seconds")),
    var!(["COFFER_MIN_TRANSFER_RATE"], "bytes per second a body or response must average", server.min_transfer_rate = parse("bytes per second")),
    var!(["COFFER_DISCONNECT_TIMEOUT"], "seconds a closing connection may linger", server.disconnect_timeout_secs = parse("seconds")),
    var!(["COFFER_FETCH_CACHE_BYTES"], "bytes of download answers held in memory (0 = off)", cache.fetch_bytes = parse("a byte count")),
    var!(["COFFER_REQUEST_LOG"], "each | errors | summary: how answered requests are logged", request_log.mode = with(request_log_mode)),
    var!(["COFFER_REQUEST_LOG_SUMMARY_SECS"], "seconds between request summaries (request log mode summary)", request_log.summary_secs = parse("seconds")),
    var!(["COFFER_REQUEST_LOG_SLOW_MS"], "milliseconds from which a request is logged as slow (0 = never)", request_log.slow_ms = parse("milliseconds")),
    var!(["COFFER_IP_POLICY"], "off | keyed-hash | full: what logs and the anomaly report may show of client IPs", ip_policy = with(ip_policy)),
    var!(["COFFER_STORAGE_BACKEND"], "sqlite | postgres: the metadata store (default sqlite)", storage.backend = with(storage_backend)),
    var!(["COFFER_POSTGRES_URL"], "PostgreSQL connection URL (with storage backend postgres; never logged)", storage.url = with(database_url)),
    var!(["COFFER_POSTGRES_URL_FILE"], "a file holding the PostgreSQL connection URL (first line)", storage.url_file = some(text)),
    var!(["COFFER_POSTGRES_POOL_SIZE"], "PostgreSQL connections per relay instance", storage.pool_size = parse("a count")),
    var!(["COFFER_BLOBS_BACKEND"], "files | s3: where payloads above the inline size are kept (default files)", blobs.backend = with(blobs_backend)),
    var!(["COFFER_S3_ENDPOINT"], "S3 service URL (blobs backend s3): https://, or http:// to a loopback address", blobs.endpoint = some(text)),
    var!(["COFFER_S3_REGION"], "S3 region name (blobs backend s3)", blobs.region = some(text)),
    var!(["COFFER_S3_BUCKET"], "S3 bucket (blobs backend s3)", blobs.bucket = some(text)),
    var!(["COFFER_S3_CREDENTIALS_FILE"], "file with the S3 access key, AWS shared-credentials format, profile default (blobs backend s3; never logged)", blobs.credentials_file = some(text)),
    var!(["COFFER_INLINE_MAX"], "payloads up to this many bytes are stored in the database, larger ones as files (0 = all files; at most 262144)", storage.inline_max = parse("a byte count")),
];

fn blobs_backend(v: &str) -> Result<super::storage::BlobBackend, &'static str> {
    match v.trim() {
        "files" => Ok(super::storage::BlobBackend::Files),
        "s3" => Ok(super::storage::BlobBackend::S3),
        _ => Err("files or s3"),
    }
}

fn storage_backend(v: &str) -> Result<super::storage::Backend, &'static str> {
    match v.trim() {
        "sqlite" => Ok(super::storage::Backend::Sqlite),
        "postgres" => Ok(super::storage::Backend::Postgres),
        _ => Err("sqlite or postgres"),
    }
}

fn database_url(v: &str) -> Result<super::storage::DatabaseUrl, &'static str> {
    non_empty(v)?;
    Ok(super::storage::DatabaseUrl::new(v.trim()))
}

fn parse<T: std::str::FromStr>(v: &str, what: &'static str) -> Result<T, &'static str> {
    v.trim().parse().map_err(|_| what)
}

fn tls_mode(c: &mut Config, v: &str) -> Result<(), &'static str> {
    c.tls.mode = match v.trim() {
        "self-signed" => TlsMode::SelfSigned,
        "files" => TlsMode::Files,
        "off" => TlsMode::Off,
        _ => return Err("self-signed, files or off"),
    };
    c.tls.mode_given = true;
    Ok(())
}

/// Sets the certificate path; the mode follows in [`Config::imply_tls_mode`] (an explicit
/// contradicting mode is refused by validation, never silently overridden).
fn tls_cert(c: &mut Config, v: &str) -> Result<(), &'static str> {
    c.tls.cert = Some(v.into());
    Ok(())
}

fn tls_key(c: &mut Config, v: &str) -> Result<(), &'static str> {
    c.tls.key = Some(v.into());
    Ok(())
}

/// A comma-separated list; blanks around items and empty items are dropped.
fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn list(v: &str) -> Result<Vec<String>, &'static str> {
    Ok(split_list(v))
}

fn ip_list(v: &str) -> Result<Vec<IpAddr>, &'static str> {
    split_list(v)
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()
        .map_err(|_| "comma-separated IP addresses")
}

fn non_empty(v: &str) -> Result<Option<String>, &'static str> {
    Ok(Some(v.to_owned()).filter(|s| !s.is_empty()))
}

fn admin_token(v: &str) -> Result<AdminToken, &'static str> {
    Ok(AdminToken::from_text(v))
}

fn token_hash(v: &str) -> Result<Option<AdminTokenHash>, &'static str> {
    if v.trim().is_empty() {
        return Ok(None);
    }
    AdminTokenHash::parse(v.trim())
        .map(Some)
        .map_err(|_| "an Argon2id PHC string")
}

fn optional_addr(v: &str) -> Result<Option<SocketAddr>, &'static str> {
    if v.trim().is_empty() {
        Ok(None)
    } else {
        parse(v, "an address:port").map(Some)
    }
}

fn registration_mode(v: &str) -> Result<RegistrationMode, &'static str> {
    RegistrationMode::parse(v).ok_or("open, invite-only or closed")
}

fn optional_count(v: &str) -> Result<Option<u64>, &'static str> {
    if v.trim().is_empty() {
        Ok(None)
    } else {
        parse(v, "a count").map(Some)
    }
}

fn request_log_mode(v: &str) -> Result<super::RequestLogMode, &'static str> {
    super::RequestLogMode::parse(v).ok_or("each, errors or summary")
}

fn ip_policy(v: &str) -> Result<IpPolicy, &'static str> {
    IpPolicy::parse(v).ok_or("off, keyed-hash or full")
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
        self.imply_tls_mode();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name in two lines would make the second one dead; every line has a `COFFER_*` name
    /// first (the v1 aliases come after it) and says what it is for.
    #[test]
    fn the_table_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for var in ENV_VARS {
            assert!(var.names[0].starts_with("COFFER_"), "{:?}", var.names);
            assert!(!var.help.is_empty(), "{:?}", var.names);
            for name in var.names {
                assert!(seen.insert(*name), "{name} appears twice");
            }
        }
        assert_eq!(ENV_VARS.len(), 58);
    }
}
