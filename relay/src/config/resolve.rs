//! What a configuration file means beyond its values: paths in it are relative to the file's
//! directory (the environment's and the command line's stay relative to the working
//! directory), and `tls.cert`/`tls.key` without a `tls.mode` mean mode `files`.
//! docs/adr/0022-tls-config-honesty-and-reload.md.

use std::path::{Component, Path, PathBuf};

use super::{Config, TlsMode};

/// Whether `table` has `section.key` (or top-level `key` when `section` is empty).
fn has(table: &toml::Table, section: &str, key: &str) -> bool {
    if section.is_empty() {
        return table.contains_key(key);
    }
    table
        .get(section)
        .and_then(toml::Value::as_table)
        .is_some_and(|t| t.contains_key(key))
}

/// `path` relative to `base` when it is relative (`./` parts dropped).
fn under(base: &Path, path: &mut PathBuf) {
    if path.is_relative() {
        let rel: PathBuf = path
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        *path = base.join(rel);
    }
}

impl Config {
    /// Applies what the file's text says beyond the values: whether `tls.mode` was given, and
    /// (with `base`, the file's directory) its relative paths made relative to `base`.
    pub(super) fn apply_file_meaning(&mut self, text: &str, base: Option<&Path>) {
        // The text has parsed as a `Config`, so it parses as a table.
        let table: toml::Table = toml::from_str(text).unwrap_or_default();
        self.tls.mode_given = has(&table, "tls", "mode");
        if let Some(base) = base {
            if has(&table, "", "data_dir") {
                under(base, &mut self.data_dir);
            }
            for (section, key, path) in [
                ("", "database", self.database.as_mut()),
                ("", "blob_dir", self.blob_dir.as_mut()),
                ("tls", "cert", self.tls.cert.as_mut()),
                ("tls", "key", self.tls.key.as_mut()),
                ("storage", "url_file", self.storage.url_file.as_mut()),
                (
                    "blobs",
                    "credentials_file",
                    self.blobs.credentials_file.as_mut(),
                ),
            ] {
                if let Some(path) = path.filter(|_| has(&table, section, key)) {
                    under(base, path);
                }
            }
        }
        self.imply_tls_mode();
    }

    /// `tls.cert`/`tls.key` without a given mode mean mode `files`. A given mode that
    /// contradicts them stays, for [`Config::validate`] to refuse.
    pub fn imply_tls_mode(&mut self) {
        if !self.tls.mode_given && (self.tls.cert.is_some() || self.tls.key.is_some()) {
            self.tls.mode = TlsMode::Files;
        }
    }
}

/// The directory a configuration file's relative paths are relative to: the file's own,
/// made absolute (the working directory when it cannot be).
pub(super) fn file_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    std::path::absolute(&dir).unwrap_or(dir)
}
