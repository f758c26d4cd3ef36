//! # coffer-relay
//!
//! The Coffer relay: an HTTPS server that authenticates users by public-key challenge, stores
//! padded opaque encrypted volumes, enforces per-volume share grants, and shows operators only
//! metadata. It serves wire protocol v1 (`docs/protocol-v1.md`) byte-for-byte for the existing
//! PluralLog apps.
//!
//! **What this crate must never do:** see plaintext, private keys or unwrapped VEKs, or link
//! volume AEAD code. Payloads and wrapped keys are opaque bytes here; the only cryptography is
//! Ed25519 signature *verification*, SHA-256 of session tokens, TLS, HMAC-SHA-256 for the
//! optional keyed IP labels, and Argon2id for the operator's admin token only
//! ([`config::admin`]).
//!
//! Layout: [`config`] (file + env), [`store`] (SQLite + blob files), and with the `server`
//! feature (default) [`server`] (TLS, binding, the loopback admin listener, shutdown), [`api`]
//! (the route table and handlers), `service` (what v1 and v2 handlers share), `limits` (rate
//! limits), `admin_token` (checking presented admin tokens), `response` (JSON bodies), `error`
//! (the HTTP edge error), `metrics` (`/metrics`); and for the operator [`anomalies`]
//! (in-memory anomaly counters), [`ip_policy`] (what may be shown of client addresses). What
//! the relay stores and logs is listed, and checked by a test, in `docs/metadata-inventory.md`.
//!
//! Without the `server` feature the crate is the library `coffer-admin` links for its offline
//! commands: configuration, schema and store check, admin-token hashing — no actix-web,
//! governor or jemalloc (docs/adr/0009-backup-and-restore.md).
#![warn(missing_docs)]

#[cfg(feature = "server")]
pub mod admin_token;
pub mod anomalies;
#[cfg(feature = "server")]
pub mod api;
pub mod cli;
pub mod config;
#[cfg(any(feature = "postgres", feature = "s3"))]
pub mod driver;
#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod fetch_cache;
pub mod gen_cache;
pub mod ip_policy;
#[cfg(feature = "server")]
pub mod limits;
pub mod lock;
#[cfg(feature = "server")]
pub mod metrics;
pub mod paillier;
#[cfg(feature = "postgres")]
pub mod pg;
#[cfg(feature = "server")]
pub mod process_metrics;
#[cfg(feature = "server")]
pub mod request_log;
#[cfg(feature = "server")]
pub mod response;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod service;
pub mod session_cache;
#[cfg(feature = "server")]
pub mod state;
#[cfg(feature = "server")]
pub mod storage;
pub mod store;
