//! client-core's integration tests in one test binary (ADR 0013). One module per suite;
//! `cargo test -p coffer-client-core --test it <module>::`.
#![allow(clippy::unwrap_used)]

mod clients;
mod clients_long_ops;
mod common;
mod redaction;
mod replicated;
mod v1_known_answers;
mod v1_properties;
mod v2_properties;
mod v2_redaction;
mod v2_vectors;
