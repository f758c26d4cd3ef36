//! coffer-admin's integration tests in one test binary (ADR 0013). One module per suite;
//! `cargo test -p coffer-admin --test it <module>::`.
#![allow(clippy::unwrap_used)]

mod admin_v2;
mod backup_restore;
mod cli;
mod db_errors;
mod migrate_store;
mod operator;
mod registration;
mod support;
mod tls_check;
