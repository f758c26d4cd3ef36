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
//! ([`admin_token`]).
//!
//! Layout: [`config`] (file + env), [`server`] (TLS, binding, the loopback admin listener,
//! shutdown), [`api`] (the route table and handlers), [`store`] (SQLite + blob files),
//! [`limits`] (rate limits), and for the operator [`admin_token`] (hashed admin token),
//! [`anomalies`] (in-memory anomaly counters), [`metrics`] (`/metrics`), [`ip_policy`] (what may
//! be shown of client addresses). What the relay stores and logs is listed, and checked by a
//! test, in `docs/metadata-inventory.md`.
#![warn(missing_docs)]

pub mod admin_token;
pub mod anomalies;
pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod ip_policy;
pub mod limits;
pub mod metrics;
pub mod paillier;
pub mod server;
pub mod session_cache;
pub mod state;
pub mod store;
