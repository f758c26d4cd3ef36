//! Start-up, TLS, serving and graceful shutdown.
//!
//! Start-up order: open the database (migrations), open the blob store and sweep orphans (no
//! upload can be in flight yet), load or generate the certificate, bind, print the banner. On
//! SIGINT/SIGTERM actix stops accepting, lets in-flight requests finish (a write is answered only
//! after it is durable), then the WAL is checkpointed. Both signals stop gracefully (actix's own
//! handling treats SIGINT as a forced stop, so it is disabled and [`stop_on_signal`] does it); a
//! second SIGINT while stopping ends the process at once (exit status 130).
//!
//! The data directory is locked for the life of the process ([`lock`]): a second relay on the
//! same directory exits with an error naming the first one's PID.
//!
//! Every connection limit and timeout comes from `[server]` (applied in [`run`]); what actix
//! does not bound itself is bounded in [`connections`] (docs/adr/0011).

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::KeepAlive;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use coffer_certs::{Provenance, RelayPairing, SpkiPin};

pub mod connections;
pub mod origins;
pub mod reload;

use crate::api;
use crate::config::{Config, ServerLimits, TlsMode};
use crate::ip_policy::{IpKeyError, IpLabels};
use crate::lock;
use crate::state::{AppState, Pins};
use crate::store::blobs::BlobStore;
use crate::store::maintenance::{self, ORPHAN_MIN_AGE};
use crate::store::{Db, StoreError};

/// How often expired rows and orphans are cleaned up while running.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(600);

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Database or blob store.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// The database could not be opened or migrated: path, problem and next step
    /// ([`crate::store::db_errors`]).
    #[error("{0}")]
    Database(String),
    /// The blob store could not be opened or reached (`[blobs]`).
    #[error("{0}")]
    Blobs(String),
    /// Certificate generation or loading.
    #[error("TLS certificate: {0}")]
    Cert(#[from] coffer_certs::CertError),
    /// The configuration is inconsistent (normally caught by `Config::validate`).
    #[error("configuration: {0}")]
    Config(&'static str),
    /// Binding or serving.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("server error: {0}")]
    Serve(std::io::Error),
    /// The keyed-hash secret for `ip_policy = "keyed-hash"` is unusable.
    #[error("IP policy: {0}")]
    IpKey(#[from] IpKeyError),
    /// Another relay uses the data directory, or its lock file is unusable.
    #[error("{0}")]
    Lock(#[from] lock::LockError),
}

fn create_private_dir(path: &Path) -> Result<(), StartError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| StartError::DataDir {
            path: path.to_owned(),
            source,
        })
}

/// What the relay serves TLS with, if anything.
struct Tls {
    config: rustls::ServerConfig,
    pin: SpkiPin,
    /// The prepared next certificate's pin (self-signed mode), announced ahead of a rotation.
    next: Option<SpkiPin>,
    /// The DNS names and IP addresses in the serving certificate.
    names: Vec<String>,
    /// Mode `files`: the files and the resolver their reloads swap into.
    reload: Option<(
        std::path::PathBuf,
        std::path::PathBuf,
        Arc<reload::SwappableCert>,
    )>,
}

/// The names a generated certificate covers: loopback, the listen address, and — on a
/// wildcard listen address — the machine's LAN addresses and host name (`<name>` and
/// `<name>.local`), so that a phone dialling any of them finds them in the certificate. Names
/// that are not valid certificate names are left out rather than failing the start.
fn default_names(config: &Config) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let mut add = |name: String| {
        if !names.contains(&name) && rustls::pki_types::ServerName::try_from(name.as_str()).is_ok()
        {
            names.push(name);
        }
    };
    if config.host.is_unspecified() {
        let reach = origins::Reach {
            listen: Some(config.host),
            interfaces: origins::interface_addresses(),
            ..origins::Reach::default()
        };
        for ip in reach.wildcard_lan_addresses() {
            add(ip.to_string());
        }
        if let Some(host) = origins::host_name() {
            add(format!("{host}.local"));
            add(host);
        }
    } else {
        add(config.host.to_string());
    }
    names
}

/// The pin of `<tls dir>/next-cert.pem`, if a valid next pair is prepared. A broken next pair
/// is not announced (it would fail at rotation) and is logged.
fn next_pin(config: &Config) -> Option<SpkiPin> {
    match coffer_certs::rotation::load_next_pin(&config.tls_dir()) {
        Ok(pin) => pin,
        Err(err) => {
            tracing::warn!(%err, "the prepared next certificate is unusable and is not announced");
            None
        }
    }
}

fn load_tls(config: &Config) -> Result<Option<Tls>, StartError> {
    let material = match config.tls.mode {
        TlsMode::Off => return Ok(None),
        TlsMode::Files => match (&config.tls.cert, &config.tls.key) {
            (Some(cert), Some(key)) => return load_tls_files(cert, key).map(Some),
            _ => {
                return Err(StartError::Config(
                    "tls mode \"files\" needs both tls.cert and tls.key",
                ));
            }
        },
        TlsMode::SelfSigned => {
            let mut names = default_names(config);
            names.extend(
                config
                    .tls
                    .hostnames
                    .iter()
                    .filter(|h| !names.contains(h))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            let (material, provenance) = coffer_certs::load_or_generate(&config.tls_dir(), &names)?;
            if provenance == Provenance::Generated {
                tracing::info!(dir = %config.tls_dir().display(), "generated a self-signed certificate");
            }
            material
        }
    };
    let pin = material.pin;
    let next = match config.tls.mode {
        TlsMode::SelfSigned => next_pin(config),
        _ => None,
    };
    let names = material
        .cert_chain
        .first()
        .map(|der| origins::cert_names(der))
        .unwrap_or_default();
    Ok(Some(Tls {
        config: coffer_certs::server_config(&material)?,
        pin,
        next,
        names,
        reload: None,
    }))
}

/// Mode `files`: the pair served through a [`reload::SwappableCert`], so renewed files are
/// picked up without a restart. An expired or not-yet-valid certificate is logged as an error
/// but served: pinned apps still connect, and `--check-config` refuses it before a deployment.
fn load_tls_files(cert: &Path, key: &Path) -> Result<Tls, StartError> {
    let material = coffer_certs::load_pem(cert, key)?;
    let info = coffer_certs::CertInfo::of_material(&material)?;
    let now = crate::config::check::unix_now();
    if let Some(problem) = info.validity_problem(now) {
        tracing::error!(
            "the certificate in {} {problem}: clients that check dates refuse it; renew it (the \
             relay reloads renewed files on SIGHUP or when they change)",
            cert.display()
        );
    }
    tracing::info!(
        "serving the TLS certificate {}: names {}, expires {}, pin {}",
        cert.display(),
        info.subject_names(),
        coffer_certs::UtcTime(info.not_after),
        info.pin
    );
    let resolver = reload::SwappableCert::new(coffer_certs::certified_key(&material)?);
    let names = material
        .cert_chain
        .first()
        .map(|der| origins::cert_names(der))
        .unwrap_or_default();
    Ok(Tls {
        config: coffer_certs::server_config_with_resolver(Arc::<reload::SwappableCert>::clone(
            &resolver,
        ))?,
        pin: material.pin,
        next: None,
        names,
        reload: Some((cert.to_owned(), key.to_owned(), resolver)),
    })
}

/// TLS for the loopback admin listener: the main certificate, or (with `tls.mode = "off"`,
/// behind a proxy) the self-signed one in the data directory, so the admin token never crosses
/// even loopback in clear and `coffer-admin` can pin it.
fn admin_tls(
    config: &Config,
    main: Option<&Tls>,
) -> Result<(rustls::ServerConfig, SpkiPin), StartError> {
    if let Some(tls) = main {
        return Ok((tls.config.clone(), tls.pin));
    }
    let (material, _) = coffer_certs::load_or_generate(&config.tls_dir(), &default_names(config))?;
    Ok((coffer_certs::server_config(&material)?, material.pin))
}

/// Warns when names the operator configured (`tls.hostnames`, the hosts of `public_origins`)
/// are not in the certificate: clients pin the key, so pinned apps still connect, but tools that
/// check names (a browser, `curl` without `--insecure`, Web PKI clients) refuse them.
fn warn_if_names_missing(config: &Config, reach: &origins::Reach) {
    let missing = reach.names_missing_from_cert();
    if missing.is_empty() {
        return;
    }
    let missing = missing.join(", ");
    match config.tls.mode {
        TlsMode::SelfSigned => {
            let dir = config.tls_dir();
            // The names the certificate has (coffer-admin adds the loopback ones itself), then
            // the missing ones.
            let names: String = reach
                .cert_names
                .iter()
                .filter(|n| !matches!(n.as_str(), "localhost" | "127.0.0.1" | "::1"))
                .cloned()
                .chain(reach.names_missing_from_cert())
                .map(|n| {
                    format!(
                        " --name {}",
                        n.trim_start_matches('[').trim_end_matches(']')
                    )
                })
                .collect();
            tracing::warn!(
                "the certificate in {dir} does not cover {missing}: it was made before these \
                 names were configured, and an existing certificate is never changed. Pinned \
                 apps still connect; tools that check names do not. To add them without \
                 re-pairing every app, rotate: `coffer-admin cert next --dir {dir}{names}`, \
                 restart the relay (it announces the next pin), let the apps see it, then \
                 `coffer-admin cert rotate --dir {dir}` and restart. A new certificate made any \
                 other way (`coffer-admin cert generate`, deleting {dir}) has a NEW PIN: every \
                 app must pair again",
                dir = dir.display()
            );
        }
        _ => tracing::warn!(
            "the certificate in tls.cert does not cover {missing}: clients that check names \
             will refuse it; get a certificate for these names (a certificate with a new key \
             changes the pin pinned apps trust)"
        ),
    }
}

/// Descriptors one connection needs: its socket and the watch's duplicate of it.
const FDS_PER_CONNECTION: u64 = 2;
/// Descriptors for everything else: database and WAL, reader pool, blob files, listeners, logs.
const FDS_RESERVED: u64 = 128;

/// The soft limit on open files, from `/proc/self/limits` (Linux; `None` elsewhere or when
/// unlimited).
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Warns when `max_connections` could exhaust the descriptors: accepting would then pause,
/// and the database and blob files could fail to open (500s) while connections are at the limit.
fn warn_if_descriptors_short(limits: &ServerLimits) {
    let needed = (limits.max_connections as u64)
        .saturating_mul(FDS_PER_CONNECTION)
        .saturating_add(FDS_RESERVED);
    if let Some(soft) = open_files_limit()
        && soft < needed
    {
        // Numbers in the message, not as fields: the log's fields are an inventory of what the
        // relay records (docs/metadata-inventory.md), and these are no one's metadata.
        tracing::warn!(
            "the open-files limit ({soft}) is below what server.max_connections = {} needs \
             ({needed}): raise it (ulimit -n, systemd LimitNOFILE) or lower \
             server.max_connections",
            limits.max_connections
        );
    }
}

/// Opens the metadata store `[storage] backend` names (and the SQLite database, which is
/// checkpointed at shutdown). SQLite: the database in the data
/// directory, then a sweep of orphan blobs of any age (no upload can be in flight before the
/// relay listens). PostgreSQL: connects and migrates; [`run`] sweeps the orphans through the
/// port once the state is built.
async fn open_storage(
    config: &Config,
    files: Option<&BlobStore>,
) -> Result<(Arc<dyn crate::storage::Storage>, Option<Arc<Db>>), StartError> {
    match config.storage.backend {
        crate::config::storage::Backend::Sqlite => {
            let db_path = config.database_path();
            let db = Db::open(&db_path).map_err(|e| {
                StartError::Database(crate::store::db_errors::explain(&db_path, &e))
            })?;
            if let Some(blobs) = files {
                let swept = maintenance::sweep_orphans(&db, blobs, Duration::ZERO)?;
                if swept.files_removed > 0 {
                    tracing::info!(
                        files = swept.files_removed,
                        bytes = swept.bytes_removed,
                        "removed orphan blobs at start-up"
                    );
                }
            }
            let store = crate::store::port::SqliteStore::new(Arc::clone(&db));
            Ok((Arc::new(store), Some(db)))
        }
        #[cfg(feature = "postgres")]
        crate::config::storage::Backend::Postgres => {
            let settings = crate::config::storage::postgres_settings(&config.storage)
                .map_err(StartError::Database)?;
            let target = settings.describe();
            let store = crate::pg::store::PgStore::open(&settings)
                .await
                .map_err(|e| {
                    StartError::Database(format!(
                        "PostgreSQL database {target}: {e}; check that the server runs, the \
                         URL (storage.url_file or COFFER_POSTGRES_URL) and that the role may \
                         create tables in the database"
                    ))
                })?;
            tracing::info!(database = %target, "metadata in PostgreSQL; orphan blobs swept once the state is up");
            Ok((Arc::new(store), None))
        }
        #[cfg(not(feature = "postgres"))]
        crate::config::storage::Backend::Postgres => Err(StartError::Config(
            "storage.backend = \"postgres\" needs a coffer-relay built with the postgres feature",
        )),
    }
}

/// Opens the blob store `[blobs] backend` names: the blob directory (answered twice: as the
/// port, and as files for the SQLite start-up sweep), or the S3 bucket, reached once here so
/// that a wrong endpoint or key stops the start with its reason.
async fn open_blobs(
    config: &Config,
) -> Result<(Arc<dyn crate::storage::blobs::Blobs>, Option<BlobStore>), StartError> {
    match config.blobs.backend {
        crate::config::storage::BlobBackend::Files => {
            let files = BlobStore::open(&config.blob_path())?;
            Ok((Arc::new(files.clone()), Some(files)))
        }
        #[cfg(feature = "s3")]
        crate::config::storage::BlobBackend::S3 => {
            let settings =
                crate::config::storage::s3_settings(&config.blobs).map_err(StartError::Blobs)?;
            let target = settings.describe();
            let store = crate::s3::S3BlobStore::open(&settings)?;
            store.probe().await.map_err(|e| {
                StartError::Blobs(format!(
                    "S3 {target}: {e}; check that the service runs, blobs.endpoint, the bucket \
                     and the key in blobs.credentials_file (read, write and delete on the bucket)"
                ))
            })?;
            tracing::info!(blobs = %target, "blobs in an S3 bucket");
            Ok((Arc::new(store), None))
        }
        #[cfg(not(feature = "s3"))]
        crate::config::storage::BlobBackend::S3 => Err(StartError::Config(
            "blobs.backend = \"s3\" needs a coffer-relay built with the s3 feature",
        )),
    }
}

/// Runs the relay until SIGINT/SIGTERM.
pub async fn run(config: Config) -> Result<(), StartError> {
    create_private_dir(&config.data_dir)?;
    // Before anything touches the database or blobs (the start-up sweep deletes files).
    let _lock = lock::lock(&config.data_dir)?;
    let ip_labels = IpLabels::open(config.ip_policy, &config.ip_hash_key_path())?;
    let (blobs, files) = open_blobs(&config).await?;
    let (storage, sqlite) = open_storage(&config, files.as_ref()).await?;
    let swept_at_open = sqlite.is_some() && files.is_some();
    if config.storage.backend == crate::config::storage::Backend::Postgres && files.is_some() {
        tracing::warn!(
            "metadata in PostgreSQL, blobs in this instance's own directory: run one instance \
             only, or set blobs.backend = \"s3\" so that every instance serves every blob"
        );
    }
    let tls = load_tls(&config)?;
    let addr = config.listen_addr();
    let admin = match config.admin.listen {
        Some(admin_addr) => {
            let listener =
                std::net::TcpListener::bind(admin_addr).map_err(|source| StartError::Bind {
                    addr: admin_addr,
                    source,
                })?;
            Some((listener, admin_tls(&config, tls.as_ref())?))
        }
        None => None,
    };
    let pins = Pins {
        current: tls.as_ref().map(|t| t.pin),
        next: tls.as_ref().and_then(|t| t.next),
    };
    let state = web::Data::new(AppState::new(config, storage, blobs, ip_labels, pins));

    if !swept_at_open {
        // Before anything is served. A blob directory is this instance's own, so a blob no row
        // names (an upload cut off by a crash) or a temporary file is an orphan whatever its
        // age, as in the SQLite start-up sweep. A shared store (S3) may hold a sibling
        // instance's upload between its object and its row: only the minimum age is safe.
        let min_age = if state.blobs.shared() {
            maintenance::ORPHAN_MIN_AGE
        } else {
            Duration::ZERO
        };
        let swept = crate::service::maintenance::sweep_orphans(&state, min_age).await?;
        if swept.files_removed > 0 {
            tracing::info!(
                files = swept.files_removed,
                bytes = swept.bytes_removed,
                "removed orphan blobs at start-up"
            );
        }
    }
    let app_state = state.clone();
    let limits = &state.config.server;
    let secs = Duration::from_secs;
    warn_if_descriptors_short(limits);
    let policy = connections::ConnectionPolicy::new(limits, &state.config.trusted_proxies);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .wrap(from_fn(api::edge))
            // Outermost: sees every request the app answers, early refusals included.
            .wrap(from_fn(connections::track))
            .configure(api::configure)
    })
    .on_connect(move |io, ext| policy.on_connect(io, ext))
    .shutdown_timeout(30)
    // actix counts per worker: the configured totals are divided among the workers.
    .workers(limits.effective_workers())
    .backlog(limits.backlog)
    .max_connections(limits.per_worker(limits.max_connections))
    .max_connection_rate(limits.per_worker(limits.max_tls_handshakes))
    .tls_handshake_timeout(secs(limits.tls_handshake_timeout_secs))
    .client_request_timeout(secs(limits.request_head_timeout_secs))
    .keep_alive(match limits.keep_alive_secs {
        0 => KeepAlive::Disabled,
        n => KeepAlive::Timeout(secs(n)),
    })
    .client_disconnect_timeout(secs(limits.disconnect_timeout_secs))
    // Answers go out in one write per flush; Nagle's algorithm would hold the second segment
    // of one (e.g. a 413 sent before closing) for the client's delayed ACK, ~40 ms.
    .tcp_nodelay(true)
    .disable_signals();
    let server = match &tls {
        Some(tls) => server.bind_rustls_0_23(addr, tls.config.clone()),
        None => server.bind(addr),
    }
    .map_err(|source| StartError::Bind { addr, source })?;
    let bound = server.addrs().first().copied().unwrap_or(addr);
    let reach = origins::Reach {
        public_origins: state.config.public_origins.clone(),
        hostnames: state.config.tls.hostnames.clone(),
        cert_names: tls.as_ref().map(|t| t.names.clone()).unwrap_or_default(),
        listen: Some(state.config.host),
        interfaces: if state.config.host.is_unspecified() {
            origins::interface_addresses()
        } else {
            Vec::new()
        },
        port: bound.port(),
    };
    let _ = state.origins.set(reach.accepted_origins());
    if tls.is_some() {
        warn_if_names_missing(&state.config, &reach);
    }
    let (server, admin_line) = match admin {
        Some((listener, (admin_config, admin_pin))) => {
            let admin_addr = listener.local_addr().map_err(|source| StartError::Bind {
                addr: bound,
                source,
            })?;
            let _ = state.admin_listener.set(admin_addr);
            if !admin_addr.ip().is_loopback() {
                // Allowed only with a hashed admin token (config validation); still say so.
                // The address in the message, not as a field: it is the relay's own.
                tracing::warn!(
                    "the admin listener {admin_addr} is NOT on loopback: the admin API and \
                     /metrics are reachable by anyone who can connect to it (the admin token is \
                     still required for the API); keep it off the internet (firewall, an \
                     internal container network)"
                );
            }
            let server = server
                .listen_rustls_0_23(listener, admin_config)
                .map_err(|source| StartError::Bind {
                    addr: admin_addr,
                    source,
                })?;
            let mut line = format!("  admin: https://{admin_addr}\n");
            if tls.is_none() {
                line.push_str(&format!("  admin pin: {admin_pin}\n"));
            }
            (server, line)
        }
        None => (server, String::new()),
    };

    // Before the banner: from the moment a supervisor sees the relay up, SIGHUP reloads.
    let hangups = reload::hangups();
    match tls.as_ref().and_then(|t| t.reload.clone()) {
        Some((cert, key, resolver)) => {
            let reloader = reload::Reloader::new(cert, key, resolver, state.clone());
            actix_web::rt::spawn(reloader.run(hangups));
        }
        None => {
            let mode = match state.config.tls.mode {
                TlsMode::Off => "off",
                _ => "self-signed",
            };
            actix_web::rt::spawn(reload::ignore_hangups(mode, hangups));
        }
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let data_dir = std::fs::canonicalize(&state.config.data_dir)
        .unwrap_or_else(|_| state.config.data_dir.clone());
    // Every URL that reaches the listener (never 0.0.0.0), then the configured public ones.
    let mut urls: Vec<String> = reach
        .listen_urls()
        .iter()
        .map(|u| u.replacen("https://", &format!("{scheme}://"), 1))
        .collect();
    urls.extend(
        state
            .config
            .public_origins
            .iter()
            .filter(|o| !urls.contains(o))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let mut banner = format!("coffer-relay {}\n", env!("CARGO_PKG_VERSION"));
    for (i, url) in urls.iter().enumerate() {
        banner.push_str(if i == 0 { "  url:  " } else { "  also: " });
        banner.push_str(url);
        banner.push('\n');
    }
    let mut qr = None;
    match &tls {
        Some(tls) => {
            banner.push_str(&format!("  pin:  {}\n", tls.pin));
            if let Some(next) = tls.next {
                banner.push_str(&format!("  next pin: {next}\n"));
            }
            match RelayPairing::new(&reach.pairing_origin(), tls.pin, tls.next) {
                Ok(pairing) => {
                    banner.push_str(&format!("  pair: {pairing}\n"));
                    qr = Some(pairing.to_string());
                }
                Err(err) => tracing::debug!(%err, "no pairing string for this listen address"),
            }
        }
        None => tracing::warn!(
            "TLS is OFF: serving plain HTTP. Only do this behind a TLS-terminating proxy; tokens and metadata cross the network in clear otherwise"
        ),
    }
    banner.push_str(&format!("  data: {}\n", data_dir.display()));
    banner.push_str(&admin_line);
    // A QR code only for a person at a terminal (never into logs or pipes).
    if let Some(text) = qr.filter(|_| std::io::IsTerminal::is_terminal(&std::io::stdout())) {
        match coffer_certs::qr_code(&text, coffer_certs::QrColors::DarkTerminal) {
            Ok(code) => {
                banner.push_str("  scan to trust this relay:\n");
                banner.push_str(&code);
            }
            Err(err) => tracing::debug!(%err, "pairing string too long for a QR code"),
        }
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush());
    drop(stdout);
    tracing::info!(%bound, scheme, "listening");

    let periodic = state.clone();
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(MAINTENANCE_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            match api::admin::run_maintenance(&periodic, ORPHAN_MIN_AGE).await {
                Ok(Some(report)) => tracing::debug!(?report, "periodic maintenance"),
                Ok(None) => {
                    tracing::debug!("periodic maintenance: another instance is running it")
                }
                Err(err) => tracing::warn!(%err, "periodic maintenance failed"),
            }
        }
    });

    if state.request_log.mode() == crate::config::RequestLogMode::Summary {
        let summaries = state.clone();
        let every = Duration::from_secs(state.config.request_log.summary_secs);
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                summaries.request_log.flush();
            }
        });
    }

    let server = server.run();
    let forced = Arc::new(std::sync::atomic::AtomicBool::new(false));
    actix_web::rt::spawn(stop_on_signal(server.handle(), Arc::clone(&forced)));
    server.await.map_err(StartError::Serve)?;
    if forced.load(std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!("stopped by force; requests in flight were cut off");
    } else {
        tracing::info!("stopped accepting; in-flight requests finished");
    }
    // The requests since the last summary.
    state.request_log.flush();
    if let Some(db) = sqlite
        && let Err(err) = db.checkpoint()
    {
        tracing::warn!(%err, "WAL checkpoint at shutdown failed (the WAL is replayed on next start)");
    }
    Ok(())
}

/// Stops the server gracefully on the first SIGINT or SIGTERM: no new connections, in-flight
/// requests answered (up to the 30 s shutdown timeout). A second SIGINT (an impatient Ctrl-C)
/// while stopping ends the process at once (exit status 130).
async fn stop_on_signal(
    handle: actix_web::dev::ServerHandle,
    forced: Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut int, mut term) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(int), Ok(term)) => (int, term),
        (Err(err), _) | (_, Err(err)) => {
            tracing::error!(%err, "cannot install the SIGINT/SIGTERM handlers; stopping");
            forced.store(true, std::sync::atomic::Ordering::Relaxed);
            handle.stop(false).await;
            return;
        }
    };
    let name = tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    };
    tracing::info!(
        "{name}: stopping gracefully; in-flight requests are answered (Ctrl-C again to force)"
    );
    let graceful = handle.stop(true);
    tokio::select! {
        () = graceful => {}
        _ = int.recv() => {
            // actix does not act on a second stop command while a graceful one is under way, so
            // the process ends here. Nothing is lost that a crash would not keep: every answered
            // write is durable, SQLite replays its WAL at the next start, and the kernel releases
            // the data-directory lock. 130 = 128 + SIGINT, as a shell reports an interrupted job.
            tracing::warn!("SIGINT again: stopping now; requests in flight are cut off");
            std::process::exit(130);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_open_files_limit() {
        // Linux only (where the relay runs); the value is whatever the test runner has.
        let limit = open_files_limit().expect("Max open files in /proc/self/limits");
        assert!(limit > 0);
    }
}
