//! `coffer-relay --check-config` (and, for its TLS part, `coffer-admin config check`): the
//! effective settings as a readable summary (never a secret), the TLS files loaded and checked as
//! the relay would serve them, and every problem found listed.

use std::fmt::Write as _;
use std::path::Path;

use coffer_certs::{CertInfo, TlsMaterial, UtcTime};

use super::{Config, TlsMode};

/// Days before expiry from which a certificate is warned about.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// What a check found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Why the relay would not start (empty: it would).
    pub problems: Vec<String>,
    /// Valid but worth knowing.
    pub warnings: Vec<String>,
    /// The effective settings, label and value.
    pub summary: Vec<(&'static str, String)>,
}

/// The seconds since the Unix epoch now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Loads `cert` and `key` as the relay serves them and checks them at `now`: PEM parses, the key
/// belongs to the certificate, the certificate is within its validity period. The facts of the
/// certificate and any warnings (close to expiry), or the problem.
pub fn check_tls_files(
    cert: &Path,
    key: &Path,
    now: i64,
) -> Result<(CertInfo, Vec<String>), String> {
    load_checked(cert, key, now).map(|(_, info, warnings)| (info, warnings))
}

/// [`check_tls_files`], also giving the loaded pair.
pub fn load_checked(
    cert: &Path,
    key: &Path,
    now: i64,
) -> Result<(TlsMaterial, CertInfo, Vec<String>), String> {
    let material = coffer_certs::load_pem(cert, key).map_err(|e| e.to_string())?;
    let info = CertInfo::of_material(&material)
        .map_err(|e| format!("bad certificate file {}: {e}", cert.display()))?;
    if let Some(problem) = info.validity_problem(now) {
        return Err(format!(
            "the certificate in {} {problem}: renew it (the relay reloads renewed files on \
             SIGHUP or when they change)",
            cert.display()
        ));
    }
    let mut warnings = Vec::new();
    let days_left = (info.not_after - now) / 86_400;
    if days_left < EXPIRY_WARNING_DAYS {
        warnings.push(format!(
            "the certificate in {} expires in {days_left} day(s), on {}",
            cert.display(),
            UtcTime(info.not_after)
        ));
    }
    Ok((material, info, warnings))
}

/// The lines describing a certificate: names, expiry, pin.
pub fn cert_lines(info: &CertInfo) -> [(&'static str, String); 3] {
    [
        ("subject names", info.subject_names()),
        ("expires", UtcTime(info.not_after).to_string()),
        ("pin", info.pin.to_string()),
    ]
}

/// The metadata store as `--check-config` and `coffer-admin config check` show it: SQLite's
/// path, or PostgreSQL's target (never its password) and, having connected once, whether it is
/// reachable and which schema it holds. `Err`: why the relay could not use it (with the
/// database line, still shown).
pub fn storage_state(config: &Config) -> Result<(String, Option<String>), (String, String)> {
    use super::storage::Backend;
    match config.storage.backend {
        Backend::Sqlite => Ok((
            format!("sqlite, {}", config.database_path().display()),
            None,
        )),
        #[cfg(feature = "postgres")]
        Backend::Postgres => {
            let settings = super::storage::postgres_settings(&config.storage)
                .map_err(|problem| ("postgres".to_owned(), problem))?;
            let target = settings.describe();
            let line = format!("postgres, {target} (pool of {})", config.storage.pool_size);
            let probed = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a runtime to reach PostgreSQL: {e}"))
                .and_then(|rt| {
                    rt.block_on(crate::pg::probe(&settings))
                        .map_err(|e| format!("PostgreSQL database {target}: {e}"))
                });
            match probed {
                Ok(state) => Ok((line, Some(state))),
                Err(problem) => Err((line, problem)),
            }
        }
        #[cfg(not(feature = "postgres"))]
        Backend::Postgres => Err((
            "postgres".to_owned(),
            "storage.backend = \"postgres\": this build has no postgres feature".to_owned(),
        )),
    }
}

/// The blob store as `--check-config` and `coffer-admin config check` show it: the blob
/// directory, or the S3 bucket and endpoint (never the key) once a request to it succeeded.
/// `Err`: why the relay could not use it (with the blobs line, still shown).
pub fn blobs_state(config: &Config) -> Result<String, (String, String)> {
    use super::storage::BlobBackend;
    match config.blobs.backend {
        BlobBackend::Files => Ok(format!("files, {}", config.blob_path().display())),
        #[cfg(feature = "s3")]
        BlobBackend::S3 => {
            let settings = super::storage::s3_settings(&config.blobs)
                .map_err(|problem| ("s3".to_owned(), problem))?;
            let target = settings.describe();
            let line = format!("s3, {target}");
            let probed = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a runtime to reach the S3 service: {e}"))
                .and_then(|rt| {
                    rt.block_on(async { crate::s3::S3Blobs::new(&settings)?.probe().await })
                        .map_err(|e| format!("S3 {target}: {e}"))
                });
            match probed {
                Ok(()) => Ok(format!("{line} (reachable; the key may read the bucket)")),
                Err(problem) => Err((line, problem)),
            }
        }
        #[cfg(not(feature = "s3"))]
        BlobBackend::S3 => Err((
            "s3".to_owned(),
            "blobs.backend = \"s3\": this build has no s3 feature".to_owned(),
        )),
    }
}

fn check_blobs(config: &Config, report: &mut CheckReport) {
    match blobs_state(config) {
        Ok(line) => report.summary.push(("blobs", line)),
        Err((line, problem)) => {
            report.summary.push(("blobs", line));
            report.problems.push(problem);
        }
    }
}

fn check_storage(config: &Config, report: &mut CheckReport) {
    match storage_state(config) {
        Ok((line, state)) => {
            report.summary.push(("database", line));
            if let Some(state) = state {
                report.summary.push(("database state", state));
            }
        }
        Err((line, problem)) => {
            report.summary.push(("database", line));
            report.problems.push(problem);
        }
    }
}

/// Checks a configuration that has loaded and validated: its TLS files, and what the summary
/// shows.
pub fn check_config(config: &Config, file: Option<&Path>) -> CheckReport {
    let mut report = CheckReport::default();
    let s = &mut report.summary;
    s.push((
        "config file",
        file.map_or_else(
            || "- (defaults and environment)".to_owned(),
            |f| f.display().to_string(),
        ),
    ));
    let scheme = if config.tls.mode == TlsMode::Off {
        "http"
    } else {
        "https"
    };
    s.push(("listen", format!("{scheme}://{}", config.listen_addr())));
    match (config.tls.mode, &config.tls.cert, &config.tls.key) {
        (TlsMode::Files, Some(cert), Some(key)) => {
            s.push((
                "tls",
                "files (reloaded on SIGHUP and when they change)".to_owned(),
            ));
            s.push(("certificate", cert.display().to_string()));
            s.push(("key", key.display().to_string()));
            match check_tls_files(cert, key, unix_now()) {
                Ok((info, warnings)) => {
                    s.extend(cert_lines(&info));
                    report.warnings.extend(warnings);
                }
                Err(problem) => report.problems.push(problem),
            }
        }
        (TlsMode::Off, ..) => {
            s.push(("tls", "off (plain HTTP)".to_owned()));
            report.warnings.push(
                "tls.mode = \"off\": plain HTTP; only behind a TLS-terminating proxy".to_owned(),
            );
        }
        _ => {
            let dir = config.tls_dir();
            s.push(("tls", format!("self-signed, in {}", dir.display())));
            match coffer_certs::rotation::read_pins(&dir) {
                Ok(pins) => match pins.current {
                    Some(pin) => s.push(("pin", pin.to_string())),
                    None => s.push(("pin", "- (generated on first start)".to_owned())),
                },
                Err(e) => report
                    .warnings
                    .push(format!("cannot read the certificate directory: {e}")),
            }
        }
    }
    s.push(("data", config.data_dir.display().to_string()));
    check_storage(config, &mut report);
    check_blobs(config, &mut report);
    let s = &mut report.summary;
    s.push(("log", config.log.clone()));
    s.push((
        "admin token",
        if config.admin.token_hash.is_some() {
            "argon2id hash"
        } else if config.admin.token.is_set() {
            "plain token (set)"
        } else {
            "disabled"
        }
        .to_owned(),
    ));
    s.push((
        "admin listener",
        config
            .admin
            .listen
            .map_or_else(|| "- (main listener)".to_owned(), |a| a.to_string()),
    ));
    s.push(("ip policy", config.ip_policy.as_str().to_owned()));
    s.push((
        "registration",
        match config.registration.max_users {
            Some(cap) => format!(
                "{}, at most {cap} accounts",
                config.registration.mode.as_str()
            ),
            None => config.registration.mode.as_str().to_owned(),
        },
    ));
    s.push((
        "metrics",
        if config.metrics.public {
            "public (anyone who reaches the relay)"
        } else {
            "admin token, or the admin listener"
        }
        .to_owned(),
    ));
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(", ")
        }
    };
    s.push(("public origins", list(config.public_origins.clone())));
    s.push((
        "trusted proxies",
        list(
            config
                .trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect(),
        ),
    ));
    report
}

impl CheckReport {
    /// For a person: the verdict, the settings, the problems and warnings.
    pub fn human(&self) -> String {
        let mut out = String::new();
        if self.problems.is_empty() {
            out.push_str("configuration is valid\n");
        } else {
            out.push_str("configuration is INVALID:\n");
            for p in &self.problems {
                let _ = writeln!(out, "  - {p}");
            }
        }
        let width = self.summary.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in &self.summary {
            let _ = writeln!(out, "  {k:<width$}  {v}");
        }
        if !self.warnings.is_empty() {
            out.push_str("warnings:\n");
            for w in &self.warnings {
                let _ = writeln!(out, "  - {w}");
            }
        }
        out
    }
}
