//! Every end-to-end suite of coffer-tests in one test binary: each links the relay's store,
//! client-core, actix, rustls and SQLite, and ~20 binaries linking them each dominated CI's time
//! (ADR 0013). One module per suite; `cargo test -p coffer-tests --test it <module>::` runs one.
#![allow(clippy::unwrap_used)]

mod abuse_connections;
mod abuse_cost_smoke;
mod abuse_floods;
mod abuse_slow_clients;
mod access_registration;
mod admin_v2;
mod bench_smoke;
mod cluster;
mod faults_clock;
mod faults_db_lock;
mod faults_disk;
mod faults_maintenance;
mod faults_rotation;
mod fetch_cache;
mod home_client;
mod home_relay;
mod import_plurallog;
mod pg_outage;
mod pg_rate_limits;
mod request_log;
mod v1_accounts;
mod v1_admin;
mod v1_authz;
mod v1_bad_http;
mod v1_bad_input;
mod v1_bad_sharing;
mod v1_bad_support;
mod v1_bad_uploads;
mod v1_crash;
mod v1_discovery;
mod v1_flow;
mod v1_operations;
mod v1_story_support;
mod v1_vectors;
mod v1_volumes;
mod v2_delete;
mod v2_devices;
mod v2_e2e;
mod v2_malicious;
mod v2_malicious_delete;
mod v2_malicious_devices;
mod v2_malicious_owner;
mod v2_malicious_receipts;
mod v2_malicious_relays;
mod v2_multi_relay;
mod v2_owner;
mod v2_payload_digest;
mod v2_receipts;
mod v2_registration_proof;
mod v2_relay_rules;
mod v2_replica_pairing;
mod v2_sessions;
