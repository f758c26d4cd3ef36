//! Starting a test relay: the binary, the environment it gets, its start-up banner.
//!
//! The spawners themselves stay with their callers (coffer-tests' `RelayProcess` on tokio,
//! coffer-admin's synchronous `Relay`); what they must agree on is here.

use std::path::{Path, PathBuf};

/// Settings every test relay gets unless the test overrides them: rate limits so high that
/// only the dedicated rate-limit tests ever hit them, and a log line per request (which some
/// tests read; the relay's default is a periodic summary).
pub const TEST_ENV: &[(&str, &str)] = &[
    ("COFFER_REQUEST_LOG", "each"),
    ("COFFER_RATE_REGISTER", "100000"),
    ("COFFER_RATE_AUTH", "100000"),
    ("COFFER_RATE_UPLOAD", "100000"),
    ("COFFER_RATE_GENERAL", "100000"),
    ("COFFER_RATE_DISCOVERY", "100000"),
    ("COFFER_RATE_ADMIN", "100000"),
];

/// Whether an inherited environment variable must be removed before starting a relay or a
/// `coffer-admin`, so a developer's shell cannot change what a test does.
pub fn is_scrubbed(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    ["COFFER_", "PLURALLOG_", "POLYLOG_"]
        .iter()
        .any(|p| upper.starts_with(p))
        || upper.ends_with("_PROXY")
}

/// The inherited environment variables [`is_scrubbed`] removes.
pub fn scrubbed_vars() -> Vec<String> {
    std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .filter(|k| is_scrubbed(k))
        .collect()
}

/// Where the relay binary is: `$COFFER_RELAY_BIN`, else `coffer-relay` in the cargo target
/// directory that holds this test executable (`target/<profile>/deps/<test>` → `target/<profile>/`).
///
/// # Panics
/// When there is no such file: a test that needs the relay fails, and says how to build it,
/// rather than passing having checked nothing.
pub fn relay_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("COFFER_RELAY_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the test executable has a path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps/");
    let bin = profile_dir.join("coffer-relay");
    assert!(
        bin.is_file(),
        "relay binary not found at {} — run `cargo build -p coffer-relay` first \
         (or set COFFER_RELAY_BIN)",
        bin.display()
    );
    bin
}

/// The relay's start-up banner, read line by line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Banner {
    /// Every line so far.
    pub lines: Vec<String>,
    /// `url:` — `https://127.0.0.1:<port>`.
    pub url: Option<String>,
    /// `pin:` — the SPKI pin, `sha256/<base64>`.
    pub pin: Option<String>,
    /// `data:` — the data directory.
    pub data: Option<String>,
    /// `admin:` — the admin listener's URL, when one is configured.
    pub admin: Option<String>,
}

impl Banner {
    /// Takes one stdout line.
    pub fn feed(&mut self, line: &str) {
        let trimmed = line.trim();
        for (prefix, field) in [
            ("url:", &mut self.url),
            ("pin:", &mut self.pin),
            ("data:", &mut self.data),
            ("admin:", &mut self.admin),
        ] {
            if field.is_none()
                && let Some(v) = trimmed.strip_prefix(prefix)
            {
                *field = Some(v.trim().to_owned());
            }
        }
        self.lines.push(line.to_owned());
    }

    /// Whether `url`, `pin` and `data` (and `admin` when `want_admin`) have been printed.
    pub fn is_complete(&self, want_admin: bool) -> bool {
        self.url.is_some()
            && self.pin.is_some()
            && self.data.is_some()
            && (!want_admin || self.admin.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_is_complete_once_url_pin_and_data_are_printed() {
        let mut banner = Banner::default();
        banner.feed("coffer-relay 0.1.0");
        banner.feed("  url:  https://127.0.0.1:4433");
        banner.feed("  pin:  sha256/AAAA");
        assert!(!banner.is_complete(false));
        banner.feed("  data: /tmp/x");
        assert!(banner.is_complete(false));
        assert!(!banner.is_complete(true));
        banner.feed("  admin: http://127.0.0.1:9");
        assert!(banner.is_complete(true));
        assert_eq!(banner.url.as_deref(), Some("https://127.0.0.1:4433"));
        assert_eq!(banner.lines.len(), 5);
    }

    #[test]
    fn proxies_and_coffer_settings_are_scrubbed() {
        assert!(is_scrubbed("COFFER_LISTEN"));
        assert!(is_scrubbed("https_proxy"));
        assert!(is_scrubbed("PluralLog_X"));
        assert!(!is_scrubbed("PATH"));
    }
}
