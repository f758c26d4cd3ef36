//! # coffer-relay
//!
//! The Coffer relay: an HTTPS server that authenticates users by public-key challenge, stores
//! padded opaque encrypted volumes, enforces per-volume share grants, and shows operators only
//! metadata. It serves wire protocol v1 (`shared/protocol/v1.md`) byte-for-byte for the existing
//! PluralLog apps.
//!
//! **What this crate must never do:** see plaintext, private keys or unwrapped VEKs, or link
//! volume AEAD code. Payloads and wrapped keys are opaque bytes here; the only cryptography is
//! Ed25519 signature *verification*, SHA-256 of session tokens, and TLS.
//!
//! Layout: [`config`] (file + env), [`server`] (TLS, binding, shutdown), [`api`] (the route
//! table and handlers), [`store`] (SQLite + blob files), [`limits`] (rate limits).
#![warn(missing_docs)]

pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod limits;
pub mod paillier;
pub mod server;
pub mod state;
pub mod store;
