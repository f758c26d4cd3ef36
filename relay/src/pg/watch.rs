//! The change notifications of a shared database, for every relay instance's caches.
//!
//! The schema's triggers (`schema.sql`) notify `coffer_auth` when sessions or the user columns
//! they carry change, and `coffer_fetch` with the owner's id when a row a download depends on
//! changes; PostgreSQL delivers them at commit, to every listening connection. [`PgWatch`]
//! keeps one listening connection per instance and moves the generations the caches check
//! ([`crate::storage::watch::Watch`]).
//!
//! While the listener is not connected, a notification could be missed: the watch then
//! answers a generation no cached entry can hold (every lookup misses and reads the
//! database), and when it connects again it moves every generation, so nothing cached before
//! the gap is served after it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream;
use tokio_postgres::{AsyncMessage, NoTls};

use super::PgSettings;
use crate::store::fetch_watch::{FetchGeneration, FetchWatch};

/// How long the listener waits before connecting again after losing its connection.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// Generations moved by notifications.
#[derive(Debug)]
pub struct PgWatch {
    connected: AtomicBool,
    auth: AtomicU64,
    /// Moves on every reconnection and while disconnected.
    epoch: AtomicU64,
    fetch: FetchWatch,
}

impl Default for PgWatch {
    fn default() -> Self {
        Self {
            connected: AtomicBool::new(false),
            auth: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            fetch: FetchWatch::detached(),
        }
    }
}

impl PgWatch {
    /// The auth generation (see [`crate::storage::watch::Watch::auth_generation`]).
    pub fn auth_generation(&self) -> u64 {
        if !self.connected.load(Ordering::SeqCst) {
            // A value never seen before: nothing cached matches while deaf.
            return self.epoch.fetch_add(1, Ordering::SeqCst).wrapping_add(1) << 32;
        }
        self.auth
            .load(Ordering::SeqCst)
            .wrapping_add(self.epoch.load(Ordering::SeqCst) << 32)
    }

    /// The fetch generation of `owner` (see
    /// [`crate::storage::watch::Watch::fetch_generation`]).
    pub fn fetch_generation(&self, owner: &str) -> FetchGeneration {
        if !self.connected.load(Ordering::SeqCst) {
            self.fetch.move_all();
        }
        self.fetch.generation(owner)
    }

    /// An auth generation no cached session holds: the session cache reads the database on
    /// every request (the adapter's strict mode, docs/adr/0032 decision 9).
    pub fn uncached_auth_generation(&self) -> u64 {
        self.epoch.fetch_add(1, Ordering::SeqCst).wrapping_add(1) << 32
    }

    /// A fetch generation no cached answer holds (see [`Self::uncached_auth_generation`]).
    pub fn uncached_fetch_generation(&self, owner: &str) -> FetchGeneration {
        self.fetch.move_all();
        self.fetch.generation(owner)
    }

    /// Whether the listener is connected now.
    pub fn is_listening(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    fn connected(&self) {
        // Anything cached before the gap may be stale: move everything, then trust the
        // notifications again.
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.fetch.move_all();
        self.connected.store(true, Ordering::SeqCst);
    }

    fn disconnected(&self) {
        self.connected.store(false, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.fetch.move_all();
    }

    fn notified(&self, channel: &str, payload: &str) {
        match channel {
            "coffer_auth" => {
                self.auth.fetch_add(1, Ordering::SeqCst);
            }
            "coffer_fetch" if payload.is_empty() => self.fetch.move_all(),
            "coffer_fetch" => self.fetch.move_owner(payload),
            _ => {}
        }
    }

    /// Starts the listener on the current Tokio runtime; it runs until `self` is the last
    /// reference left, connecting again whenever the connection is lost.
    pub fn listen(self: &Arc<Self>, settings: PgSettings) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(watch) = weak.upgrade() else { return };
                if let Err(why) = watch.listen_once(&settings).await {
                    tracing::warn!(%why, "PostgreSQL change listener disconnected; caches bypassed until it is back");
                }
                watch.disconnected();
                drop(watch);
                tokio::time::sleep(RECONNECT_AFTER).await;
            }
        });
    }

    async fn listen_once(&self, settings: &PgSettings) -> Result<(), String> {
        let (client, mut connection) = settings
            .config()
            .connect(NoTls)
            .await
            .map_err(|e| crate::store::StoreError::from(e).to_string())?;
        let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
        // The LISTEN statements are answered through the connection, which only makes progress
        // while its messages are polled: issue them while draining it.
        let subscribe = client.batch_execute("LISTEN coffer_auth; LISTEN coffer_fetch");
        tokio::pin!(subscribe);
        loop {
            tokio::select! {
                done = &mut subscribe => {
                    done.map_err(|e| crate::store::StoreError::from(e).to_string())?;
                    break;
                }
                message = messages.next() => match message {
                    Some(Ok(AsyncMessage::Notification(n))) => self.notified(n.channel(), n.payload()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(crate::store::StoreError::from(e).to_string()),
                    None => return Err("connection closed".into()),
                }
            }
        }
        self.connected();
        tracing::info!("PostgreSQL change listener connected");
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => self.notified(n.channel(), n.payload()),
                Ok(_) => {}
                Err(e) => return Err(crate::store::StoreError::from(e).to_string()),
            }
        }
        Err("connection closed".into())
    }
}
