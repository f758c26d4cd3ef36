//! The relay's integration tests in one test binary (one link of the relay instead of one per
//! suite: ADR 0013). One module per suite; `cargo test -p coffer-relay --test it <module>::`.
#![allow(clippy::unwrap_used)]

mod cli;
mod contract;
mod db_errors;
mod metadata_inventory;
mod openapi;
mod operator;
mod pg;
mod pg_server;
mod s3;
mod tls_files;
