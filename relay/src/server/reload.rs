//! Reloading renewed certificate files (`tls.mode = "files"`) without a restart: on SIGHUP, and
//! when the files change (their size, modification time or inode, polled every
//! `tls.watch_interval_secs`; a change is acted on once it has been stable for one interval, so
//! a pair written one file after the other is not tried half-written; a renewal tool that replaces or rewrites them, or a symlink moved to new
//! files, is noticed). The new pair is loaded and checked as at start-up (PEM, key matches,
//! validity) and only then swapped in, for new handshakes: open connections keep the
//! certificate they were made with. A bad pair is logged as an error and the old one kept.
//! Self-signed mode has nothing to reload (the relay manages its own certificate; rotation is
//! `coffer-admin cert next`/`rotate` and a restart). docs/adr/0022-tls-config-honesty-and-reload.md.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use actix_web::web;
use coffer_certs::UtcTime;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::signal::unix::Signal;

use crate::config::check::{load_checked, unix_now};
use crate::state::AppState;

/// The certificate new handshakes get: one pair, swapped whole on reload.
pub struct SwappableCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl SwappableCert {
    /// Starts with `key`.
    pub fn new(key: CertifiedKey) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(Arc::new(key)),
        })
    }

    fn swap(&self, key: CertifiedKey) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
    }
}

impl fmt::Debug for SwappableCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key: only that there is one.
        f.debug_struct("SwappableCert").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for SwappableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

/// What identifies one version of a file: a renewal changes at least one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    dev: u64,
    ino: u64,
}

/// The stamp of the file `path` names (following symlinks); `None` when it cannot be read.
fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

/// Watches one certificate/key pair and swaps it into `resolver`.
#[derive(Debug)]
pub struct Reloader {
    cert: PathBuf,
    key: PathBuf,
    resolver: Arc<SwappableCert>,
    state: web::Data<AppState>,
    /// The stamps of the pair last loaded (or last tried).
    loaded: (Option<Stamp>, Option<Stamp>),
    /// How often the files are looked at (`None`: only on SIGHUP).
    every: Option<Duration>,
}

impl Reloader {
    /// A reloader of `cert`/`key`, whose current version is being served by `resolver`.
    pub fn new(
        cert: PathBuf,
        key: PathBuf,
        resolver: Arc<SwappableCert>,
        state: web::Data<AppState>,
    ) -> Self {
        let loaded = (stamp(&cert), stamp(&key));
        let every = match state.config.tls.watch_interval_secs {
            0 => None,
            n => Some(Duration::from_secs(n)),
        };
        Self {
            cert,
            key,
            resolver,
            state,
            loaded,
            every,
        }
    }

    /// Loads, checks and swaps in the pair; on failure keeps the served one. `why`: what
    /// prompted it (for the log).
    fn reload(&mut self, why: &'static str) {
        self.loaded = (stamp(&self.cert), stamp(&self.key));
        let loaded = load_checked(&self.cert, &self.key, unix_now()).and_then(
            |(material, info, warnings)| {
                let key = coffer_certs::certified_key(&material).map_err(|e| e.to_string())?;
                Ok((info, key, warnings))
            },
        );
        match loaded {
            Ok((info, key, warnings)) => {
                self.resolver.swap(key);
                self.state.set_current_pin(info.pin);
                // Names, dates and the pin are public; the key never appears.
                tracing::info!(
                    "{why}: reloaded the TLS certificate {}: names {}, expires {}, pin {}; new \
                     connections get it, open ones keep theirs",
                    self.cert.display(),
                    info.subject_names(),
                    UtcTime(info.not_after),
                    info.pin
                );
                for warning in warnings {
                    tracing::warn!("{warning}");
                }
            }
            Err(problem) => tracing::error!(
                "{why}: the TLS certificate files were NOT reloaded, the previous certificate is \
                 still served: {problem}"
            ),
        }
    }

    /// Runs until the process ends: reloads on SIGHUP and when the files have changed (and
    /// then stayed the same for one poll).
    pub async fn run(mut self, mut hup: Option<Signal>) {
        let mut tick = self.every.map(actix_web::rt::time::interval);
        if let Some(t) = tick.as_mut() {
            t.tick().await;
        }
        let mut previous = self.loaded;
        loop {
            let hangup = async {
                let received = match hup.as_mut() {
                    Some(h) => h.recv().await.is_some(),
                    None => false,
                };
                if !received {
                    // No handler, or a stream that ended: only the files are watched.
                    std::future::pending::<()>().await;
                }
            };
            let looked = async {
                match tick.as_mut() {
                    Some(t) => t.tick().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = hangup => self.reload("SIGHUP"),
                _ = looked => {
                    let now = (stamp(&self.cert), stamp(&self.key));
                    if now != self.loaded && now == previous {
                        self.reload("certificate files changed");
                    }
                    previous = now;
                }
            }
        }
    }
}

/// The SIGHUP stream, installed before the relay announces itself (from then on a SIGHUP
/// never ends the process); `None`, logged, when it cannot be installed.
pub fn hangups() -> Option<Signal> {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(hup) => Some(hup),
        Err(err) => {
            tracing::warn!(%err, "cannot install the SIGHUP handler; certificate files are still reloaded when they change");
            None
        }
    }
}

/// For modes without files: SIGHUP is acknowledged, nothing reloaded.
pub async fn ignore_hangups(mode: &'static str, hup: Option<Signal>) {
    let Some(mut hup) = hup else {
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!(
            "SIGHUP: nothing to reload with tls.mode = \"{mode}\" (certificate reload is for \
             tls.cert/tls.key files)"
        );
    }
}
