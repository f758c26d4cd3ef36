//! The offline commands: they work on files on this machine and never talk to a relay —
//! admin tokens, configuration checks, backups, certificates.
//!
//! Each returns a report with a stable JSON shape (`--json`) and a human rendering. The relay's
//! own library parses configurations and hashes tokens here, so `coffer-admin` and the relay
//! cannot disagree about either.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use coffer_certs::rotation::{self, Pins};
use coffer_certs::{QrColors, RelayPairing, SpkiPin};
use coffer_relay::config::{Config, IpPolicy, TlsMode};
use coffer_relay::store::check::Consistency;
use serde::Serialize;

use crate::backup::DataPaths;
use crate::cli::RelayPaths;
use crate::client::RelayUrl;
use crate::error::AdminError;
use crate::output::{Align, Table, clean, format_size};
use crate::token::{self, AdminToken};

/// The relay's environment variables that name the admin token: `coffer-admin` reads
/// `COFFER_ADMIN_TOKEN` for itself, so they are not applied when resolving data paths.
const TOKEN_VARS: [&str; 4] = [
    "COFFER_ADMIN_TOKEN",
    "PLURALLOG_ADMIN_TOKEN",
    "POLYLOG_ADMIN_TOKEN",
    "COFFER_ADMIN_TOKEN_HASH",
];

fn key_values(pairs: &[(&str, String)]) -> String {
    let mut t = Table::headless(&[Align::Left, Align::Left]);
    for (k, v) in pairs {
        t.row([*k, v.as_str()]);
    }
    t.render()
}

// ---------------------------------------------------------------------------------------------
// token

/// `token generate` / `token hash`.
#[derive(Debug, Serialize)]
pub struct TokenReport {
    /// The new token (only `token generate` without `--out`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Where the new token was written (`token generate --out`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// The Argon2id PHC string for `admin.token_hash`.
    pub token_hash: String,
}

impl TokenReport {
    /// Human rendering: the values, then where each goes.
    pub fn human(&self) -> String {
        let mut out = String::new();
        if let Some(token) = &self.token {
            let _ = writeln!(out, "admin token:  {token}");
        }
        if let Some(file) = &self.token_file {
            let _ = writeln!(out, "admin token:  written to {} (mode 0600)", clean(file));
        }
        let _ = writeln!(out, "token hash:   {}", self.token_hash);
        let _ = write!(
            out,
            "\nFor the relay, either in its configuration file:\n  [admin]\n  token_hash = \"{}\"\n\
             or in its environment:\n  COFFER_ADMIN_TOKEN_HASH='{}'\n",
            self.token_hash, self.token_hash
        );
        if self.token.is_some() || self.token_file.is_some() {
            out.push_str(
                "For coffer-admin: --token-file PATH or COFFER_ADMIN_TOKEN (the token, not the \
                 hash).\nThe token is shown only now; the relay keeps only the hash.\n",
            );
        }
        out
    }
}

/// `token generate [--out PATH]`.
pub fn token_generate(out: Option<&Path>) -> Result<TokenReport, AdminError> {
    let generated = token::generate();
    let token_hash = generated.hash_for_relay()?;
    match out {
        Some(path) => {
            token::write_new_file(&generated, path)?;
            Ok(TokenReport {
                token: None,
                token_file: Some(path.display().to_string()),
                token_hash,
            })
        }
        None => Ok(TokenReport {
            token: token::reveal_generated(&generated).map(str::to_owned),
            token_file: None,
            token_hash,
        }),
    }
}

/// `token hash`: the hash of the token coffer-admin already uses.
pub fn token_hash(token: &AdminToken) -> Result<TokenReport, AdminError> {
    Ok(TokenReport {
        token: None,
        token_file: None,
        token_hash: token.hash_for_relay()?,
    })
}

// ---------------------------------------------------------------------------------------------
// configuration

/// Loads a relay configuration as the relay does: `file` over the defaults, then (when `env`
/// gives a lookup) the environment, then `data_dir`, then validation.
fn load_config(
    file: Option<&Path>,
    data_dir: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, AdminError> {
    let cli = coffer_relay::cli::Cli {
        config: file.map(Path::to_owned),
        data_dir: data_dir.map(Path::to_owned),
        listen: None,
        check_config: false,
        command: None,
    };
    coffer_relay::cli::load(&cli, env).map_err(|e| AdminError::InvalidConfig {
        message: e.to_string(),
    })
}

/// The relay's data paths from `--config` and/or `--data-dir` (environment applied as the relay
/// would, except the admin-token variables, which name coffer-admin's own token too).
pub fn data_paths(relay: &RelayPaths) -> Result<DataPaths, AdminError> {
    let config = relay_config(relay)?;
    embedded_only(&config)?;
    Ok(DataPaths::from_config(&config))
}

/// The offline commands (backup, restore, check, import) work on the embedded store: a relay
/// whose metadata is in PostgreSQL is refused with the procedure that does apply.
pub fn embedded_only(config: &Config) -> Result<(), AdminError> {
    if config.blobs.backend == coffer_relay::config::storage::BlobBackend::S3 {
        return Err(AdminError::Database(
            "this relay keeps its blobs in an S3 bucket (blobs.backend = \"s3\"): this \
             command works on the embedded data directory (SQLite and blob files) only. For a \
             backup, copy the relay into a data directory with `coffer-admin migrate-store \
             --to-data-dir DIR` and back that up, or back up the metadata (pg_dump) and then \
             the bucket with the object store's own tools (README, \"Moving data between \
             back ends\")"
                .to_owned(),
        ));
    }
    match config.storage.backend {
        coffer_relay::config::storage::Backend::Sqlite => Ok(()),
        coffer_relay::config::storage::Backend::Postgres => Err(AdminError::Database(
            "this relay keeps its metadata in PostgreSQL (storage.backend = \"postgres\"): \
             this command works on the embedded SQLite data directory only. For a backup, copy \
             the relay into a data directory with `coffer-admin migrate-store --to-data-dir \
             DIR` and back that up, or use pg_dump (custom format) and then the blob \
             directory (README, \"Moving data between back ends\")"
                .to_owned(),
        )),
    }
}

/// The relay's configuration from `--config` and/or `--data-dir`, as [`data_paths`] reads it.
pub fn relay_config(relay: &RelayPaths) -> Result<Config, AdminError> {
    if relay.config.is_none() && relay.data_dir.is_none() {
        return Err(AdminError::InvalidConfig {
            message: "say where the relay's data is: --data-dir DIR and/or --config FILE"
                .to_owned(),
        });
    }
    let config = load_config(relay.config.as_deref(), relay.data_dir.as_deref(), |name| {
        if TOKEN_VARS.contains(&name) {
            None
        } else {
            std::env::var(name).ok()
        }
    })?;
    Ok(config)
}

/// A relay's configuration from its file and/or data directory alone, without the
/// environment (`migrate-store`: one environment would apply to both sides).
pub fn config_alone(
    file: Option<&Path>,
    data_dir: Option<&Path>,
    which: &str,
) -> Result<Config, AdminError> {
    if file.is_none() && data_dir.is_none() {
        return Err(AdminError::InvalidConfig {
            message: format!("say where {which}"),
        });
    }
    load_config(file, data_dir, |_| None)
}

/// `check-data`: the relay's own consistency check of its database against its blob files.
pub fn check_data(paths: &DataPaths) -> Result<Consistency, AdminError> {
    if !paths.database.exists() {
        return Err(AdminError::InvalidConfig {
            message: format!("no relay database at {}", paths.database.display()),
        });
    }
    refuse_foreign(&paths.database)?;
    coffer_relay::store::check::check(&paths.database, &paths.blob_dir).map_err(|e| {
        AdminError::Database(format!(
            "cannot check: {}",
            coffer_relay::store::db_errors::explain(&paths.database, &e)
        ))
    })
}

/// Refuses a database that is not Coffer's (a PluralLog relay's points at `import-plurallog`),
/// as the relay itself does at start.
pub fn refuse_foreign(database: &Path) -> Result<(), AdminError> {
    use coffer_relay::store::foreign;
    let conn = rusqlite::Connection::open_with_flags(
        database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        AdminError::Database(coffer_relay::store::db_errors::explain_sqlite(database, &e))
    })?;
    match foreign::identify(&conn) {
        Ok(Some(kind)) => Err(AdminError::Database(foreign::refusal(kind, database))),
        Ok(None) => Ok(()),
        Err(e) => Err(AdminError::Database(
            coffer_relay::store::db_errors::explain_sqlite(database, &e),
        )),
    }
}

/// `check-data` for a person.
pub fn consistency_human(c: &Consistency) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "integrity check:        {}", c.integrity);
    let _ = writeln!(out, "foreign key violations: {}", c.foreign_key_violations);
    let _ = writeln!(
        out,
        "volume rows:            {} ({} of them stored inline in the database)",
        c.volume_rows, c.inline_rows
    );
    let _ = writeln!(out, "missing payloads:       {}", c.missing_blobs);
    let _ = writeln!(out, "payloads of the wrong size: {}", c.wrong_sizes);
    let _ = writeln!(
        out,
        "users whose storage does not add up: {}",
        c.wrong_quotas
    );
    let _ = writeln!(
        out,
        "orphan files: {}, temporary files: {} (harmless: the relay sweeps them at start-up)",
        c.orphan_files, c.temporary_files
    );
    if c.orphan_inline_payloads > 0 {
        let _ = writeln!(
            out,
            "inline payloads no row names: {} (harmless)",
            c.orphan_inline_payloads
        );
    }
    for p in &c.problems {
        let _ = writeln!(out, "  - {}", clean(p));
    }
    let _ = writeln!(
        out,
        "{}",
        if c.is_consistent() {
            "consistent"
        } else {
            "NOT CONSISTENT: restore from a backup, or see docs/adr/0002 for what each problem means"
        }
    );
    out
}

/// The settings `config check` shows (never a secret).
#[derive(Debug, Serialize)]
pub struct Settings {
    /// `https://…` or `http://…` and the listen address.
    pub listen: String,
    /// `self-signed`, `files` or `off`.
    pub tls_mode: &'static str,
    /// Data directory.
    pub data_dir: String,
    /// The metadata store: `sqlite, PATH` or `postgres, user@host:port/db (pool of N)`.
    pub database: String,
    /// PostgreSQL: reachable, and its schema version (connected to once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_state: Option<String>,
    /// Blob directory, or for `[blobs] backend = "s3"`: `s3, bucket B at ENDPOINT (reachable…)`.
    pub blob_dir: String,
    /// `argon2id-hash`, `plain-token` or `disabled`.
    pub admin_token: &'static str,
    /// The loopback admin listener, if any.
    pub admin_listen: Option<String>,
    /// `off`, `keyed-hash` or `full`.
    pub ip_policy: &'static str,
    /// `open`, `invite-only` or `closed`.
    pub registration: &'static str,
    /// The cap on accounts, if any.
    pub max_users: Option<u64>,
    /// Whether `/metrics` is served without the admin token (`metrics.public`).
    pub metrics_public: bool,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// Requests per minute per rate-limit class.
    pub rates: BTreeMap<&'static str, u32>,
    /// Largest volume, bytes.
    pub max_volume_size: u64,
    /// Per-user quota, bytes.
    pub max_user_storage: u64,
    /// Pins of the certificate files, when they exist (`current`, `next`).
    pub pins: BTreeMap<&'static str, String>,
    /// `tls.mode = "files"`: the certificate's names and expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
}

/// The certificate of `tls.mode = "files"`, as `config check` shows it.
#[derive(Debug, Serialize)]
pub struct Certificate {
    /// Subject alternative names (else the common name).
    pub names: String,
    /// End of validity, `YYYY-MM-DD HH:MM:SS UTC`.
    pub expires: String,
}

/// What [`inspect`] found: warnings, pins, the certificate of mode `files`.
type Inspection = (
    Vec<String>,
    BTreeMap<&'static str, String>,
    Option<Certificate>,
);

/// `config check`.
#[derive(Debug, Serialize)]
pub struct ConfigReport {
    /// Whether the relay would accept the configuration.
    pub valid: bool,
    /// The file checked.
    pub file: String,
    /// Why it is invalid (`valid = false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Risky but valid settings.
    pub warnings: Vec<String>,
    /// The effective settings (`valid = true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<Settings>,
}

impl ConfigReport {
    /// Human rendering.
    pub fn human(&self) -> String {
        let mut out = String::new();
        match (&self.settings, &self.error) {
            (Some(s), _) => {
                let _ = writeln!(out, "configuration is valid: {}", clean(&self.file));
                let rates = s
                    .rates
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let pins = if s.pins.is_empty() {
                    "-".to_owned()
                } else {
                    s.pins
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                out.push_str(&key_values(&[
                    ("listen", s.listen.clone()),
                    ("tls", s.tls_mode.to_owned()),
                    ("pins", pins),
                    (
                        "certificate",
                        s.certificate.as_ref().map_or_else(
                            || "-".to_owned(),
                            |c| format!("{}, expires {}", c.names, c.expires),
                        ),
                    ),
                    ("data", s.data_dir.clone()),
                    ("database", s.database.clone()),
                    (
                        "database state",
                        s.database_state.clone().unwrap_or_else(|| "-".to_owned()),
                    ),
                    ("blobs", s.blob_dir.clone()),
                    ("admin token", s.admin_token.to_owned()),
                    (
                        "admin listener",
                        s.admin_listen
                            .clone()
                            .unwrap_or_else(|| "- (main listener)".into()),
                    ),
                    ("ip policy", s.ip_policy.to_owned()),
                    (
                        "registration",
                        s.max_users.map_or_else(
                            || s.registration.to_owned(),
                            |cap| format!("{}, at most {cap} accounts", s.registration),
                        ),
                    ),
                    (
                        "metrics",
                        if s.metrics_public {
                            "public (anyone who reaches the relay)"
                        } else {
                            "admin token, or the admin listener"
                        }
                        .to_owned(),
                    ),
                    ("rates (/min)", rates),
                    (
                        "limits",
                        format!(
                            "volume {}, user {}",
                            format_size(s.max_volume_size),
                            format_size(s.max_user_storage)
                        ),
                    ),
                ]));
            }
            (None, error) => {
                let _ = writeln!(
                    out,
                    "configuration is INVALID: {}\n  {}",
                    clean(&self.file),
                    clean(error.as_deref().unwrap_or("unknown error"))
                );
            }
        }
        if !self.warnings.is_empty() {
            out.push_str("\nwarnings:\n");
            for w in &self.warnings {
                let _ = writeln!(out, "  - {}", clean(w));
            }
        }
        out
    }
}

/// Checks beyond the relay's own validation: certificate files that must load, and warnings.
fn inspect(config: &Config) -> Result<Inspection, String> {
    let mut warnings = Vec::new();
    let mut pins = BTreeMap::new();
    let mut certificate = None;
    match config.tls.mode {
        TlsMode::Files => {
            if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
                // As the relay loads and checks them (PEM, key matches, validity dates).
                let (info, soon) = coffer_relay::config::check::check_tls_files(
                    cert,
                    key,
                    coffer_relay::config::check::unix_now(),
                )?;
                pins.insert("current", info.pin.to_string());
                certificate = Some(Certificate {
                    names: info.subject_names(),
                    expires: coffer_certs::UtcTime(info.not_after).to_string(),
                });
                warnings.extend(soon);
            }
        }
        TlsMode::SelfSigned => match rotation::read_pins(&config.tls_dir()) {
            Ok(Pins { current, next }) => {
                if let Some(p) = current {
                    pins.insert("current", p.to_string());
                }
                if let Some(p) = next {
                    pins.insert("next", p.to_string());
                    if let Err(e) = rotation::load_next_pin(&config.tls_dir()) {
                        warnings.push(format!(
                            "the prepared next certificate is unusable and will not be announced: {e}"
                        ));
                    }
                }
            }
            Err(e) => warnings.push(format!("cannot read the certificate directory: {e}")),
        },
        TlsMode::Off => warnings.push(
            "tls.mode = \"off\": plain HTTP; only behind a TLS-terminating proxy (set \
             trusted_proxies to it)"
                .to_owned(),
        ),
    }
    if config.admin.token.is_set() {
        warnings.push(
            "admin.token holds the admin token in plain text; prefer admin.token_hash \
             (`coffer-admin token hash` prints it for the current token)"
                .to_owned(),
        );
    }
    if !config.admin_enabled() {
        warnings.push(
            "no admin token: the admin API and /metrics (outside the admin listener) are disabled"
                .to_owned(),
        );
    }
    if config.admin_enabled() && config.admin.listen.is_none() && !config.host.is_loopback() {
        warnings.push(format!(
            "the admin API is served on {} (not loopback); consider admin.listen = \
             \"127.0.0.1:8444\" to restrict the admin token to a loopback listener",
            config.host
        ));
    }
    if let Some(listen) = config.admin.listen.filter(|l| !l.ip().is_loopback()) {
        warnings.push(format!(
            "admin.listen = {listen} is not loopback: keep that port on an internal network \
             (the relay warns about it at start-up too)"
        ));
    }
    if config.metrics.public {
        warnings.push(
            "metrics.public = true: /metrics is served to anyone who reaches the relay".to_owned(),
        );
    }
    if config.ip_policy == IpPolicy::Full {
        warnings.push(
            "ip_policy = \"full\": client IP addresses appear in logs and anomaly reports; \
             list this in your privacy notice (docs/metadata-inventory.md)"
                .to_owned(),
        );
    }
    if !config.data_dir.exists() {
        warnings.push(format!(
            "the data directory {} does not exist yet (the relay creates it on first start)",
            config.data_dir.display()
        ));
    }
    Ok((warnings, pins, certificate))
}

/// `config check FILE [--env]`.
pub fn config_check(file: &Path, with_env: bool) -> ConfigReport {
    let invalid = |error: String, warnings: Vec<String>| ConfigReport {
        valid: false,
        file: file.display().to_string(),
        error: Some(error),
        warnings,
        settings: None,
    };
    let loaded = if with_env {
        load_config(Some(file), None, |name| std::env::var(name).ok())
    } else {
        load_config(Some(file), None, |_| None)
    };
    let config = match loaded {
        Ok(c) => c,
        Err(err) => {
            let error = match err {
                AdminError::InvalidConfig { message } => message,
                other => other.to_string(),
            };
            return invalid(error, Vec::new());
        }
    };
    let (warnings, pins, certificate) = match inspect(&config) {
        Ok(x) => x,
        Err(error) => {
            return invalid(error, Vec::new());
        }
    };
    let (database, database_state) = match coffer_relay::config::check::storage_state(&config) {
        Ok(found) => found,
        Err((_, error)) => {
            return invalid(error, warnings);
        }
    };
    let blob_dir = match coffer_relay::config::check::blobs_state(&config) {
        Ok(_) if config.blobs.backend == coffer_relay::config::storage::BlobBackend::Files => {
            config.blob_path().display().to_string()
        }
        Ok(line) => line,
        Err((_, error)) => {
            return invalid(error, warnings);
        }
    };
    let scheme = if config.tls.mode == TlsMode::Off {
        "http"
    } else {
        "https"
    };
    let r = &config.rate;
    let settings = Settings {
        listen: format!("{scheme}://{}", config.listen_addr()),
        tls_mode: match config.tls.mode {
            TlsMode::SelfSigned => "self-signed",
            TlsMode::Files => "files",
            TlsMode::Off => "off",
        },
        data_dir: config.data_dir.display().to_string(),
        database,
        database_state,
        blob_dir,
        admin_token: if config.admin.token_hash.is_some() {
            "argon2id-hash"
        } else if config.admin.token.is_set() {
            "plain-token"
        } else {
            "disabled"
        },
        admin_listen: config.admin.listen.map(|a| a.to_string()),
        ip_policy: config.ip_policy.as_str(),
        registration: config.registration.mode.as_str(),
        max_users: config.registration.max_users,
        metrics_public: config.metrics.public,
        trusted_proxies: config
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect(),
        rates: [
            ("register", r.register.get()),
            ("auth", r.auth.get()),
            ("upload", r.upload.get()),
            ("general", r.general.get()),
            ("discovery", r.discovery.get()),
            ("admin", r.admin.get()),
        ]
        .into_iter()
        .collect(),
        max_volume_size: config.limits.max_volume_size,
        max_user_storage: config.limits.max_user_storage,
        pins,
        certificate,
    };
    ConfigReport {
        valid: true,
        file: file.display().to_string(),
        error: None,
        warnings,
        settings: Some(settings),
    }
}

// ---------------------------------------------------------------------------------------------
// backup / restore renderings

impl crate::backup::BackupReport {
    /// Human rendering.
    pub fn human(&self) -> String {
        let mut out = format!("backup written to {}\n", clean(&self.backup));
        out.push_str(&key_values(&[
            ("schema version", self.schema_version.to_string()),
            ("users", self.users.to_string()),
            ("volumes", self.volumes.to_string()),
            (
                "blobs",
                format!("{} ({})", self.blobs, format_size(self.blob_bytes)),
            ),
            ("database", format_size(self.database_bytes)),
            (
                "tls files",
                if self.tls_files == 0 {
                    "none (a restored relay gets a new certificate and pin)".to_owned()
                } else {
                    format!(
                        "{} (private keys included: keep the backup safe)",
                        self.tls_files
                    )
                },
            ),
            (
                "ip hash key",
                if self.ip_hash_key { "yes" } else { "no" }.to_owned(),
            ),
            ("snapshots", self.snapshots.to_string()),
        ]));
        out
    }
}

impl crate::backup::RestoreReport {
    /// Human rendering.
    pub fn human(&self) -> String {
        let mut out = format!("restored and verified into {}\n", clean(&self.data_dir));
        out.push_str(&key_values(&[
            ("database", self.database.clone()),
            ("blobs", self.blob_dir.clone()),
            ("schema version", self.schema_version.to_string()),
            ("users", self.users.to_string()),
            ("volumes", self.volumes.to_string()),
            (
                "blob files",
                format!("{} ({})", self.blobs, format_size(self.blob_bytes)),
            ),
            ("tls files", self.tls_files.to_string()),
            (
                "ip hash key",
                if self.ip_hash_key { "yes" } else { "no" }.to_owned(),
            ),
        ]));
        out.push_str(
            "start the relay with this data directory; it upgrades the schema if needed\n",
        );
        out
    }
}

// ---------------------------------------------------------------------------------------------
// certificates

/// The names every generated certificate covers (as the relay's own).
const DEFAULT_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

fn with_default_names(names: &[String]) -> Vec<String> {
    let mut all: Vec<String> = DEFAULT_NAMES.iter().map(|s| (*s).to_owned()).collect();
    for name in names {
        if !all.contains(name) {
            all.push(name.clone());
        }
    }
    all
}

/// What a `cert` command did or found.
#[derive(Debug, Serialize)]
pub struct CertReport {
    /// What happened: `generated`, `pin`, `next-prepared`, `rotated`.
    pub action: &'static str,
    /// The certificate directory or file.
    pub path: String,
    /// The current pin (after the action).
    pub pin: Option<String>,
    /// The next pin, if one is prepared.
    pub next_pin: Option<String>,
    /// The pin that was current before `rotate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_pin: Option<String>,
    /// Names in a generated certificate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

impl CertReport {
    /// Human rendering.
    pub fn human(&self) -> String {
        let dash = |p: &Option<String>| p.clone().unwrap_or_else(|| "-".to_owned());
        let mut pairs = vec![("path", clean(&self.path).into_owned())];
        if !self.names.is_empty() {
            pairs.push(("names", self.names.join(", ")));
        }
        if let Some(prev) = &self.previous_pin {
            pairs.push(("previous pin", prev.clone()));
        }
        pairs.push(("pin", dash(&self.pin)));
        if self.action != "pin" {
            pairs.push(("next pin", dash(&self.next_pin)));
        }
        let mut out = match self.action {
            "generated" => "generated a self-signed certificate (key.pem mode 0600)\n".to_owned(),
            "next-prepared" => "prepared the next certificate\n".to_owned(),
            "rotated" => "rotated: the next certificate is now current\n".to_owned(),
            _ => String::new(),
        };
        out.push_str(&key_values(&pairs));
        match self.action {
            "next-prepared" => out.push_str(
                "\nRestart the relay: it then announces the next pin (banner, GET /api/v2/pins) \
                 so clients can trust it ahead of time. Rotate with `coffer-admin cert rotate` \
                 once they have.\n",
            ),
            "rotated" => out.push_str(
                "\nRestart the relay to serve the new certificate. Clients that did not learn \
                 the pin in advance must pair again.\n",
            ),
            _ => {}
        }
        out
    }
}

/// `cert generate`.
pub fn cert_generate(dir: &Path, names: &[String]) -> Result<CertReport, AdminError> {
    let names = with_default_names(names);
    let pin = rotation::generate_current(dir, &names)?;
    Ok(CertReport {
        action: "generated",
        path: dir.display().to_string(),
        pin: Some(pin.to_string()),
        next_pin: None,
        previous_pin: None,
        names,
    })
}

/// `cert pin FILE`.
pub fn cert_pin(file: &Path) -> Result<CertReport, AdminError> {
    Ok(CertReport {
        action: "pin",
        path: file.display().to_string(),
        pin: Some(coffer_certs::pin_of_cert_file(file)?.to_string()),
        next_pin: None,
        previous_pin: None,
        names: Vec::new(),
    })
}

/// `cert next`.
pub fn cert_next(dir: &Path, names: &[String], replace: bool) -> Result<CertReport, AdminError> {
    let names = with_default_names(names);
    let next = rotation::generate_next(dir, &names, replace)?;
    let current = rotation::read_pins(dir)?.current;
    Ok(CertReport {
        action: "next-prepared",
        path: dir.display().to_string(),
        pin: current.map(|p| p.to_string()),
        next_pin: Some(next.to_string()),
        previous_pin: None,
        names,
    })
}

/// `cert rotate`.
pub fn cert_rotate(dir: &Path) -> Result<CertReport, AdminError> {
    let rotation = rotation::rotate(dir)?;
    Ok(CertReport {
        action: "rotated",
        path: dir.display().to_string(),
        pin: Some(rotation.current.to_string()),
        next_pin: None,
        previous_pin: rotation.previous.map(|p| p.to_string()),
        names: Vec::new(),
    })
}

/// `cert pair`.
#[derive(Debug, Serialize)]
pub struct PairReport {
    /// The pairing string.
    pub pairing: String,
    /// The relay origin in it.
    pub origin: String,
    /// The current pin in it.
    pub pin: String,
    /// The next pin in it, if any.
    pub next_pin: Option<String>,
    /// The QR code (not in `--json`).
    #[serde(skip)]
    pub qr: Option<String>,
}

impl PairReport {
    /// Human rendering: the string, then the QR code.
    pub fn human(&self) -> String {
        let mut out = format!("{}\n", self.pairing);
        if let Some(qr) = &self.qr {
            out.push('\n');
            out.push_str(qr);
        }
        out
    }
}

/// `cert pair`: pins from `dir`, or `pin`; the origin from `url`.
pub fn cert_pair(
    url: &RelayUrl,
    dir: Option<&PathBuf>,
    pin: Option<SpkiPin>,
    qr: Option<QrColors>,
) -> Result<PairReport, AdminError> {
    let (current, next) = match dir {
        Some(dir) => {
            let pins = rotation::read_pins(dir)?;
            (pins.current, pins.next)
        }
        None => (pin, None),
    };
    let current = current.ok_or(AdminError::PairingNeedsPin)?;
    let origin = url.origin();
    let pairing = RelayPairing::new(&origin, current, next)?;
    let text = pairing.to_string();
    let qr = qr
        .map(|colors| coffer_certs::qr_code(&text, colors))
        .transpose()?;
    Ok(PairReport {
        pairing: text,
        origin,
        pin: current.to_string(),
        next_pin: next.map(|p| p.to_string()),
        qr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relay_on_postgresql_is_checked_there_and_refused_by_the_sqlite_tools() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("pg.toml");
        std::fs::write(
            &file,
            format!(
                "data_dir = \"{}\"\n[storage]\nbackend = \"postgres\"\n\
                 url = \"postgres://coffer:pw-hunter2@127.0.0.1:1/coffer\"\n",
                dir.path().join("data").display()
            ),
        )
        .expect("write");
        // config check connects: nothing answers on port 1.
        let report = config_check(&file, false);
        assert!(!report.valid, "{report:?}");
        let error = report.error.clone().unwrap_or_default();
        assert!(
            error.contains("coffer@127.0.0.1:1/coffer") && error.contains("no answer"),
            "{error}"
        );
        assert!(!format!("{report:?}").contains("hunter2"));
        // backup, restore and import work on SQLite data directories only (check-data on both).
        // (The file alone: the caller's COFFER_* environment must not decide this test.)
        let config = load_config(Some(&file), None, |_| None).expect("a valid file");
        let refused = embedded_only(&config).expect_err("refused").to_string();
        assert!(
            refused.contains("PostgreSQL") && refused.contains("pg_dump"),
            "{refused}"
        );
    }

    #[test]
    fn config_check_reports_validity_and_warnings() {
        let dir = tempfile::tempdir().expect("tmp");
        let good = dir.path().join("good.toml");
        std::fs::write(
            &good,
            format!(
                "host = \"0.0.0.0\"\ndata_dir = \"{}\"\nip_policy = \"full\"\n[admin]\ntoken = \"x\"\n",
                dir.path().join("data").display()
            ),
        )
        .expect("write");
        let report = config_check(&good, false);
        assert!(report.valid, "{report:?}");
        let s = report.settings.as_ref().expect("settings");
        assert_eq!(s.admin_token, "plain-token");
        assert_eq!(s.ip_policy, "full");
        let warnings = report.warnings.join("\n");
        for needle in ["token_hash", "admin.listen", "ip_policy", "does not exist"] {
            assert!(warnings.contains(needle), "{needle}: {warnings}");
        }
        assert!(
            !serde_json::to_string(&report)
                .expect("json")
                .contains("\"x\"")
        );

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[admin]\nlisten = \"0.0.0.0:8444\"\n").expect("write");
        let report = config_check(&bad, false);
        assert!(!report.valid);
        assert!(
            report
                .error
                .as_deref()
                .is_some_and(|e| e.contains("loopback")),
            "{report:?}"
        );
        assert!(report.human().contains("INVALID"));
    }

    #[test]
    fn cert_commands() {
        let dir = tempfile::tempdir().expect("tmp");
        let tls = dir.path().join("tls");
        let generated = cert_generate(&tls, &["relay.lan".to_owned()]).expect("generate");
        assert!(generated.names.contains(&"relay.lan".to_owned()));
        assert_eq!(generated.names[..3], DEFAULT_NAMES.map(str::to_owned));
        let pin = cert_pin(&tls.join("cert.pem")).expect("pin");
        assert_eq!(pin.pin, generated.pin);
        let next = cert_next(&tls, &[], false).expect("next");
        assert_eq!(next.pin, generated.pin);
        let url: RelayUrl = "https://relay.lan:8443".parse().expect("url");
        let pair = cert_pair(&url, Some(&tls), None, Some(QrColors::DarkTerminal)).expect("pair");
        assert_eq!(pair.origin, "https://relay.lan:8443");
        assert_eq!(pair.next_pin, next.next_pin);
        assert!(pair.qr.is_some() && pair.human().contains('\u{2588}'));
        let parsed: RelayPairing = pair.pairing.parse().expect("parses");
        assert_eq!(Some(parsed.pin().to_string()), generated.pin);
        let rotated = cert_rotate(&tls).expect("rotate");
        assert_eq!(rotated.pin, next.next_pin);
        assert_eq!(rotated.previous_pin, generated.pin);
        assert!(matches!(
            cert_pair(&url, None, None, None),
            Err(AdminError::PairingNeedsPin)
        ));
    }
}
