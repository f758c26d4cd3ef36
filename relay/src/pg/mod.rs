//! PostgreSQL, the shared metadata database of a relay that runs as several instances
//! (issue 14; docs/adr/0030-storage-port.md, docs/adr/0032-postgresql.md).
//!
//! This module is the foundation of the PostgreSQL adapter of the storage port: the
//! connection settings ([`PgSettings`], whose password never reaches a log), the pool, the
//! versioned schema ([`migrations`]) and the change notifications that keep every instance's
//! caches true ([`watch`]). Everything here is tested against a real PostgreSQL server
//! (`scripts/postgres.sh`; the `pg_*` tests of `relay/tests/it`).

pub mod migrations;
#[cfg(feature = "server")]
pub mod store;
pub mod watch;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, NoTls};

use crate::store::StoreError;

/// How long a request waits for a pooled connection, or for a new one to connect, before it
/// is answered 503: a database that does not answer within this is down for the client.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per relay instance.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// Where the database is and how to log in. The URL holds a password: it is kept out of
/// `Debug`, logs and errors (only host, port, user and database name are ever shown).
#[derive(Clone)]
pub struct PgSettings {
    config: Config,
    pool_size: usize,
}

impl fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSettings")
            .field("target", &self.describe())
            .field(
                "password",
                &self.config.get_password().map(|_| "<redacted>"),
            )
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// Why the settings were refused; never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The URL did not parse (which part, not the URL).
    #[error("the PostgreSQL URL is not valid: {0}")]
    Invalid(String),
    /// A host that is neither loopback nor a Unix socket: the connection would cross a network
    /// in the clear. TLS to PostgreSQL is not offered by this build.
    #[error(
        "the PostgreSQL host {0} is not on this machine: connections to it would not be \
         encrypted. Use a loopback address or a Unix socket (a local pgbouncer or stunnel can \
         carry the connection over TLS)"
    )]
    NotLocal(String),
    /// No host, user or database name.
    #[error("the PostgreSQL URL must name a host, a user and a database")]
    Incomplete,
}

fn is_local(host: &Host) -> bool {
    match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    }
}

impl PgSettings {
    /// Parses a `postgres://user:password@host:port/database` URL (or key=value settings).
    /// Refuses hosts off this machine ([`SettingsError::NotLocal`]).
    pub fn parse(url: &str) -> Result<Self, SettingsError> {
        let mut config: Config = url.trim().parse().map_err(|e: tokio_postgres::Error| {
            // tokio-postgres names the faulty part ("invalid port", "unexpected EOF"),
            // never echoing the URL; keep only that.
            SettingsError::Invalid(e.to_string().replace(url, "<url>"))
        })?;
        if config.get_hosts().is_empty()
            || config.get_user().is_none()
            || config.get_dbname().is_none()
        {
            return Err(SettingsError::Incomplete);
        }
        if let Some(host) = config.get_hosts().iter().find(|h| !is_local(h)) {
            let shown = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            return Err(SettingsError::NotLocal(shown));
        }
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .application_name("coffer-relay");
        Ok(Self {
            config,
            pool_size: DEFAULT_POOL_SIZE,
        })
    }

    /// The same settings with `size` pooled connections (at least one).
    pub fn with_pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// `user@host:port/database`, for logs and `--check-config`.
    pub fn describe(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(name)) => name.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => String::new(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "{}@{host}:{port}/{}",
            self.config.get_user().unwrap_or_default(),
            self.config.get_dbname().unwrap_or_default()
        )
    }

    /// The connection settings, for the notification listener's own connection.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// One connection outside any pool, driven on the caller's runtime: for offline tools
    /// (`coffer-admin migrate-store`), never for the relay's requests. Times out after
    /// [`CONNECT_TIMEOUT`].
    pub async fn connect(
        &self,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), StoreError> {
        let connecting = self.config.connect(NoTls);
        let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| {
                StoreError::Unavailable("PostgreSQL: no connection within the timeout".into())
            })??;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(why = %StoreError::from(e), "a PostgreSQL connection ended");
            }
        });
        Ok((client, driver))
    }

    /// A pool of connections (none is opened until the first use), each opened and driven on
    /// the [`Driver`]'s runtime, never on the (actix worker) runtime that asked for it: a
    /// worker that stops, as each does in a graceful shutdown, must not take with it the
    /// connections its neighbours are using.
    pub fn pool(&self, driver: &Driver) -> Result<Pool, StoreError> {
        let manager = Manager::from_connect(
            self.config.clone(),
            OnDriver(driver.handle()),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Backend(format!("connection pool: {e}")))
    }
}

/// The runtime (one thread, `coffer-pg`) that opens and drives the pool's connections:
/// sockets are registered with the reactor of the runtime that creates them, so connections
/// made on an actix worker's runtime would close when that worker stops.
#[derive(Debug)]
pub struct Driver(crate::driver::Driver);

impl Driver {
    /// Starts the driver thread (`coffer-pg`).
    pub fn start() -> Result<Self, StoreError> {
        crate::driver::Driver::start("coffer-pg")
            .map(Self)
            .map_err(|e| StoreError::Backend(format!("PostgreSQL driver thread: {e}")))
    }

    fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.0.handle()
    }
}

/// [`deadpool_postgres::Connect`] on the [`Driver`]'s runtime.
struct OnDriver(Option<tokio::runtime::Handle>);

impl deadpool_postgres::Connect for OnDriver {
    fn connect(
        &self,
        pg_config: &Config,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<
                        (tokio_postgres::Client, tokio::task::JoinHandle<()>),
                        tokio_postgres::Error,
                    >,
                > + Send
                + '_,
        >,
    > {
        let config = pg_config.clone();
        let driver = self.0.clone();
        Box::pin(async move {
            let opened = match &driver {
                Some(handle) => {
                    let config = config.clone();
                    handle
                        .spawn(async move { config.connect(NoTls).await })
                        .await
                        .ok()
                }
                None => None,
            };
            // The driver gone (the relay is stopping): connect here, so that the error, if
            // any, is the driver's own.
            let (client, connection) = match opened {
                Some(opened) => opened?,
                None => config.connect(NoTls).await?,
            };
            let drive = async move {
                if let Err(e) = connection.await {
                    tracing::debug!(why = %StoreError::from(e), "a PostgreSQL connection ended");
                }
            };
            let task = match &driver {
                Some(handle) => handle.spawn(drive),
                None => tokio::spawn(drive),
            };
            Ok((client, task))
        })
    }
}

/// What `--check-config` and `coffer-admin config check` say of the database: connects once
/// (within [`CONNECT_TIMEOUT`]), reads the schema version, changes nothing.
pub async fn probe(settings: &PgSettings) -> Result<String, StoreError> {
    let (client, connection) = settings.config().connect(NoTls).await?;
    let driver = tokio::spawn(connection);
    let found = migrations::current(&client).await;
    drop(client);
    driver.abort();
    let found = found?;
    let latest = migrations::latest();
    Ok(match found {
        0 => "reachable; no Coffer schema yet (created at the first start)".to_owned(),
        v if v == latest => format!("reachable; schema version {v} (current)"),
        v if v < latest => {
            format!("reachable; schema version {v}, migrated to {latest} at the next start")
        }
        v => {
            return Err(StoreError::TooNew {
                found: v,
                supported: latest,
            });
        }
    })
}

/// A connection from the pool, or [`StoreError::Unavailable`].
pub async fn connection(pool: &Pool) -> Result<deadpool_postgres::Object, StoreError> {
    pool.get().await.map_err(|e| match e {
        deadpool_postgres::PoolError::Backend(e) => StoreError::from(e),
        deadpool_postgres::PoolError::Timeout(_) => {
            StoreError::Unavailable("PostgreSQL: no connection within the timeout".into())
        }
        other => StoreError::Unavailable(format!("PostgreSQL connection pool: {other}")),
    })
}

/// Words for the SQLSTATEs an operator meets while setting a relay up (never a value: the
/// server's own message may quote one).
fn meaning(code: &SqlState) -> Option<&'static str> {
    Some(match code.code() {
        "28P01" => "password authentication failed: check the password in the URL",
        "28000" => {
            "the server refused this user or host (pg_hba.conf): check the user in the URL and \
             the server's client authentication"
        }
        "3D000" => "the database does not exist: create it (createdb) or fix its name in the URL",
        "42501" => {
            "permission denied: the role needs to own the database or be allowed to create \
             tables in its schema"
        }
        _ => return None,
    })
}

impl From<tokio_postgres::Error> for StoreError {
    /// Classifies a PostgreSQL failure: the server gone or unreachable is
    /// [`StoreError::Unavailable`] (503), a full disk [`StoreError::DiskFull`] (507), a
    /// serialization failure or deadlock [`StoreError::Busy`] (503); anything else is
    /// [`StoreError::Backend`] with the SQLSTATE and the constraint or table — never the
    /// message's values (PostgreSQL's DETAIL quotes them).
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(db) = e.as_db_error() else {
            // No server answer: I/O, a closed connection, a timeout, a protocol fault.
            return StoreError::Unavailable(if e.is_closed() {
                "PostgreSQL: the connection was closed".into()
            } else {
                "PostgreSQL: no answer from the server".into()
            });
        };
        let code = db.code();
        if *code == SqlState::DISK_FULL || *code == SqlState::OUT_OF_MEMORY {
            return StoreError::DiskFull;
        }
        if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            return StoreError::Busy;
        }
        let class = &code.code()[..2];
        // 08: connection exception; 57: operator intervention (shutdown, crash recovery);
        // 53: insufficient resources (too many connections).
        if matches!(class, "08" | "57" | "53") {
            return StoreError::Unavailable(format!("PostgreSQL: SQLSTATE {}", code.code()));
        }
        if let Some(meaning) = meaning(code) {
            return StoreError::Backend(format!("{meaning} (SQLSTATE {})", code.code()));
        }
        let what = db.constraint().or(db.table()).unwrap_or("-");
        StoreError::Backend(format!("SQLSTATE {} ({what})", code.code()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn settings_keep_the_password_out_of_sight() {
        let s = PgSettings::parse("postgres://coffer:s3cret-pw@127.0.0.1:55432/coffer").unwrap();
        let shown = format!("{s:?} {}", s.describe());
        assert!(!shown.contains("s3cret-pw"), "{shown}");
        assert_eq!(s.describe(), "coffer@127.0.0.1:55432/coffer");
        let err = PgSettings::parse("postgres://coffer:s3cret-pw@127.0.0.1:notaport/coffer")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret-pw"), "{err}");
    }

    #[test]
    fn only_local_hosts_are_accepted() {
        for ok in [
            "postgres://u:p@localhost/db",
            "postgres://u:p@127.0.0.1:5432/db",
            "postgres://u:p@[::1]:5432/db",
            "host=/run/postgresql user=u dbname=db",
        ] {
            assert!(PgSettings::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            PgSettings::parse("postgres://u:p@db.example.org/db").unwrap_err(),
            SettingsError::NotLocal("db.example.org".into())
        );
        assert_eq!(
            PgSettings::parse("postgres://u:p@10.0.0.5/db").unwrap_err(),
            SettingsError::NotLocal("10.0.0.5".into())
        );
        assert_eq!(
            PgSettings::parse("postgres://127.0.0.1/db").unwrap_err(),
            SettingsError::Incomplete
        );
    }
}
