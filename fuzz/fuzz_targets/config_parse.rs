//! The relay's configuration: TOML over the defaults, environment overrides, validation, and
//! what start-up builds from a valid configuration (rate limiters, the admin-token verifier, the
//! anomaly tracker, paths and the listen address), plus the `--check-config` printout.
//!
//! Input: TOML text, optionally followed by a line `%%env` and `NAME=value` lines that play the
//! process environment. Asserts: no panic anywhere; `--check-config`'s `Debug` printout never
//! contains the admin token given in the environment.

#![no_main]

use coffer_fuzz::split_once;
use coffer_relay::admin_token::AdminVerifier;
use coffer_relay::anomalies::AnomalyTracker;
use coffer_relay::config::Config;
use coffer_relay::limits::RateLimits;
use libfuzzer_sys::fuzz_target;

const ADMIN_TOKEN_VARS: [&str; 3] = [
    "COFFER_ADMIN_TOKEN",
    "PLURALLOG_ADMIN_TOKEN",
    "POLYLOG_ADMIN_TOKEN",
];

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (toml, env) = split_once(input.as_bytes(), b"\n%%env\n");
    let (Ok(toml), Ok(env)) = (std::str::from_utf8(toml), std::str::from_utf8(env)) else {
        return;
    };
    let vars: Vec<(&str, &str)> = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    let lookup = |name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    };

    let Ok(mut config) = Config::from_toml(toml) else {
        return;
    };
    if config.apply_env(lookup).is_err() {
        return;
    }
    let printed = format!("{config:#?}");
    if let Some(token) = ADMIN_TOKEN_VARS.iter().find_map(|name| lookup(name)) {
        // Long enough not to occur by chance in the printout's own words and numbers.
        if token.len() >= 12 {
            assert!(
                !printed.contains(&token),
                "the admin token appears in the printout"
            );
        }
    }
    if config.validate().is_err() {
        return;
    }
    // What `server::run` builds from a valid configuration before it binds.
    let _ = config.listen_addr();
    let _ = config.database_path();
    let _ = config.blob_path();
    let _ = config.tls_dir();
    let _ = config.ip_hash_key_path();
    let _ = config.admin_enabled();
    let limits = RateLimits::new(&config);
    let _ = limits.refused();
    let _ = AdminVerifier::new(&config.admin);
    // The anomaly tracker's windows with the configured thresholds, around a fixed time.
    let now = 1_774_609_200;
    let tracker = AnomalyTracker::new(config.anomalies.clone(), now);
    tracker.failed_login(now, Some("user"), None);
    tracker.challenge(now + 60, Some("user"), None);
    // Growth steps are bounded by the largest volume the configuration allows.
    let step = i64::try_from(config.limits.max_volume_size).unwrap_or(i64::MAX);
    tracker.storage_growth(now + 120, "user", step);
    tracker.storage_growth(now + 180, "user", -step);
    tracker.prune(now + 3600);
    let _ = tracker.report(now + 3600, config.ip_policy);
});
