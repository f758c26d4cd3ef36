//! Checks of ranges and combinations, run after the file, the environment and the flags are
//! applied. Plain ranges are tables (`key, value, min, max`); what cannot be said as a range
//! (combinations, origins, the admin listener) is code.

use super::error::ConfigError;
use super::{Config, TlsMode};

/// One range: the setting's key, its value, and the inclusive bounds.
type Range = (&'static str, u64, u64, u64);

/// Largest count of the `[limits]` counters (lifetimes, result and queue sizes).
const MAX_COUNT: u64 = 10_000_000;

fn invalid(key: &'static str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.to_owned(),
    }
}

/// The first value of `ranges` outside its bounds.
fn check_ranges(ranges: &[Range]) -> Result<(), ConfigError> {
    for &(key, value, min, max) in ranges {
        if value < min || value > max {
            return Err(ConfigError::Invalid {
                key,
                message: format!("must be between {min} and {max}"),
            });
        }
    }
    Ok(())
}

/// The first value of `minimums` below 1.
fn check_positive(minimums: &[(&'static str, u64)]) -> Result<(), ConfigError> {
    match minimums.iter().find(|(_, value)| *value == 0) {
        Some((key, _)) => Err(invalid(key, "must be at least 1")),
        None => Ok(()),
    }
}

impl Config {
    /// `[storage]`: the backend's settings are given, once, and only for it.
    fn validate_storage(&self) -> Result<(), ConfigError> {
        use super::storage::{Backend, POOL_SIZE_LIMIT};
        let s = &self.storage;
        match s.backend {
            Backend::Sqlite => {
                if s.url.get().is_some() || s.url_file.is_some() {
                    return Err(invalid(
                        "storage.backend",
                        "is sqlite, but a PostgreSQL URL is set (storage.url, storage.url_file, \
                         COFFER_POSTGRES_URL or COFFER_POSTGRES_URL_FILE): set storage.backend = \
                         \"postgres\" to use it, or remove it",
                    ));
                }
            }
            Backend::Postgres => {
                if cfg!(not(feature = "postgres")) {
                    return Err(invalid(
                        "storage.backend",
                        "is postgres, but this coffer-relay was built without the postgres \
                         feature",
                    ));
                }
                match (s.url.get().is_some(), s.url_file.is_some()) {
                    (false, false) => {
                        return Err(invalid(
                            "storage.url_file",
                            "is needed with storage.backend = \"postgres\" (a file holding \
                             the connection URL), or set COFFER_POSTGRES_URL",
                        ));
                    }
                    (true, true) => {
                        return Err(invalid(
                            "storage.url",
                            "and storage.url_file are both set: give the URL once",
                        ));
                    }
                    _ => {}
                }
                if s.pool_size == 0 || s.pool_size > POOL_SIZE_LIMIT {
                    return Err(ConfigError::Invalid {
                        key: "storage.pool_size",
                        message: format!("must be between 1 and {POOL_SIZE_LIMIT}"),
                    });
                }
                #[cfg(feature = "postgres")]
                if let Some(url) = s.url.get() {
                    crate::pg::PgSettings::parse(url).map_err(|e| ConfigError::Invalid {
                        key: "storage.url",
                        message: e.to_string(),
                    })?;
                }
            }
        }
        Ok(())
    }

    /// `[blobs]`: the S3 settings are given, all of them, and only for `s3`.
    fn validate_blobs(&self) -> Result<(), ConfigError> {
        use super::storage::BlobBackend;
        let b = &self.blobs;
        match b.backend {
            BlobBackend::Files => {
                if let Some((key, _)) = b.s3_parts().into_iter().find(|(_, set)| *set) {
                    return Err(ConfigError::Invalid {
                        key,
                        message: "is set, but blobs.backend is files: set blobs.backend = \
                                  \"s3\" (COFFER_BLOBS_BACKEND=s3) to use it, or remove it"
                            .to_owned(),
                    });
                }
            }
            BlobBackend::S3 => {
                if cfg!(not(feature = "s3")) {
                    return Err(invalid(
                        "blobs.backend",
                        "is s3, but this coffer-relay was built without the s3 feature",
                    ));
                }
                if let Some((key, _)) = b.s3_parts().into_iter().find(|(_, set)| !*set) {
                    return Err(ConfigError::Invalid {
                        key,
                        message: "is needed with blobs.backend = \"s3\" (endpoint, region, \
                                  bucket and credentials_file; env COFFER_S3_ENDPOINT, \
                                  COFFER_S3_REGION, COFFER_S3_BUCKET, COFFER_S3_CREDENTIALS_FILE)"
                            .to_owned(),
                    });
                }
                if self.blob_dir.is_some() {
                    return Err(invalid(
                        "blob_dir",
                        "is set, but blobs.backend is s3: blobs are in the bucket; remove \
                         blob_dir (COFFER_BLOB_DIR)",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks ranges and combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_tls()?;
        if let Some(problem) = super::log_filter_problem(&self.log) {
            return Err(ConfigError::Invalid {
                key: "log",
                message: format!("(file key log, env COFFER_LOG) {problem}"),
            });
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
        self.validate_storage()?;
        self.validate_blobs()?;
        check_ranges(&[(
            "storage.inline_max",
            self.storage.inline_max,
            0,
            super::storage::INLINE_MAX_LIMIT,
        )])?;
        let l = &self.limits;
        #[rustfmt::skip]
        let ranges: [Range; 6] = [
            ("limits.session_lifetime_secs", l.session_lifetime_secs, 1, MAX_COUNT),
            ("limits.challenge_lifetime_secs", l.challenge_lifetime_secs, 1, MAX_COUNT),
            ("limits.invite_lifetime_hours", l.invite_lifetime_hours, 1, MAX_COUNT),
            ("limits.max_discovery_results", l.max_discovery_results, 1, MAX_COUNT),
            ("limits.max_challenges_per_user", l.max_challenges_per_user, 1, MAX_COUNT),
            ("limits.max_open_invites", l.max_open_invites, 1, MAX_COUNT),
        ];
        check_ranges(&ranges)?;
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
        self.validate_admin()?;
        self.validate_registration()?;
        self.validate_server()?;
        check_ranges(&[
            ("cache.fetch_bytes", self.cache.fetch_bytes, 0, 1 << 40),
            (
                "request_log.summary_secs",
                self.request_log.summary_secs,
                1,
                86_400,
            ),
            (
                "request_log.slow_ms",
                self.request_log.slow_ms,
                0,
                3_600_000,
            ),
        ])?;
        let a = &self.anomalies;
        if a.window_minutes == 0 || a.window_minutes > 7 * 24 * 60 {
            return Err(invalid(
                "anomalies.window_minutes",
                "must be between 1 and 10080 (one week)",
            ));
        }
        check_positive(&[
            ("anomalies.failed_logins", a.failed_logins),
            ("anomalies.challenges", a.challenges),
            ("anomalies.storage_growth_bytes", a.storage_growth_bytes),
        ])
    }

    /// `[tls]`: `cert` and `key` together, and a mode that agrees with them (a certificate is
    /// never ignored in favour of a self-signed one).
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let t = &self.tls;
        check_ranges(&[("tls.watch_interval_secs", t.watch_interval_secs, 0, 3600)])?;
        let mode = match t.mode {
            TlsMode::SelfSigned => "self-signed",
            TlsMode::Files => "files",
            TlsMode::Off => "off",
        };
        match (t.mode, t.cert.is_some(), t.key.is_some()) {
            (TlsMode::Files, true, true) | (TlsMode::SelfSigned | TlsMode::Off, false, false) => {
                Ok(())
            }
            (TlsMode::Files, cert, _) => Err(invalid(
                "tls",
                &format!(
                    "tls.mode = \"files\" needs both tls.cert and tls.key (env COFFER_TLS_CERT, \
                     COFFER_TLS_KEY); {} is missing",
                    if cert { "tls.key" } else { "tls.cert" }
                ),
            )),
            _ => Err(invalid(
                "tls",
                &format!(
                    "tls.mode = \"{mode}\" contradicts tls.cert/tls.key (file or env \
                     COFFER_TLS_CERT, COFFER_TLS_KEY): the certificate would not be served. \
                     Remove tls.mode (cert and key alone mean \"files\"), set it to \"files\", \
                     or remove tls.cert and tls.key"
                ),
            )),
        }
    }

    /// `[admin]`: one way to give the token, and a loopback listener of its own.
    fn validate_admin(&self) -> Result<(), ConfigError> {
        if self.admin.token.is_set() && self.admin.token_hash.is_some() {
            return Err(invalid(
                "admin",
                "set either admin.token (plain, e.g. PLURALLOG_ADMIN_TOKEN) or admin.token_hash, \
                 not both; remove the plain token once the hash is configured",
            ));
        }
        if let Some(listen) = self.admin.listen {
            // Off loopback (a dashboard in its own container), whoever reaches the address
            // can try tokens: only a hashed token, so a leaked configuration is not the key
            // (docs/adr/0024-registration-and-operator-access.md).
            if !listen.ip().is_loopback() && self.admin.token_hash.is_none() {
                return Err(invalid(
                    "admin.listen",
                    "a non-loopback admin listener needs the admin token configured as a hash \
                     (admin.token_hash / COFFER_ADMIN_TOKEN_HASH, from `coffer-admin token \
                     generate`), not a plain token or none; or use a loopback address \
                     (127.0.0.1:PORT or [::1]:PORT) and an SSH tunnel",
                ));
            }
            if listen.port() != 0 && listen == self.listen_addr() {
                return Err(invalid(
                    "admin.listen",
                    "must differ from the main listen address",
                ));
            }
        }
        Ok(())
    }

    /// `[registration]`: a cap of at least one account (0 would be `mode = "closed"`).
    fn validate_registration(&self) -> Result<(), ConfigError> {
        let r = &self.registration;
        if r.max_users == Some(0) {
            return Err(invalid(
                "registration.max_users",
                "must be at least 1; to refuse every registration set registration.mode = \"closed\"",
            ));
        }
        check_ranges(&[(
            "registration.code_lifetime_hours",
            r.code_lifetime_hours,
            1,
            24 * 366,
        )])
    }

    /// Ranges of `[server]`: no limit may be switched off by accident (a zero timeout would
    /// mean "wait forever" to actix).
    fn validate_server(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        #[rustfmt::skip]
        let ranges: [Range; 11] = [
            ("server.workers", s.workers as u64, 0, 1024),
            ("server.max_connections", s.max_connections as u64, 1, 1_000_000),
            ("server.max_connections_per_ip", s.max_connections_per_ip as u64, 0, 1_000_000),
            ("server.max_tls_handshakes", s.max_tls_handshakes as u64, 1, 1_000_000),
            ("server.backlog", u64::from(s.backlog), 1, 65_535),
            ("server.tls_handshake_timeout_secs", s.tls_handshake_timeout_secs, 1, 300),
            ("server.request_head_timeout_secs", s.request_head_timeout_secs, 1, 300),
            ("server.keep_alive_secs", s.keep_alive_secs, 0, 3600),
            ("server.transfer_timeout_secs", s.transfer_timeout_secs, 1, 3600),
            ("server.min_transfer_rate", s.min_transfer_rate, 1, 1_000_000_000),
            ("server.disconnect_timeout_secs", s.disconnect_timeout_secs, 1, 300),
        ];
        check_ranges(&ranges)
    }
}
