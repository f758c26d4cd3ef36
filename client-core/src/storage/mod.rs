//! Persistent key state: the one place a client keeps secrets between runs.
//!
//! The System and Friend clients persist their key state through [`KeyStore`], a small
//! key-value trait that the **app** implements with the platform's protected storage: on
//! Android, files encrypted under a key held by the Android Keystore (hardware-backed where
//! available); on iOS, Keychain items (`kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`); on
//! desktop, the OS keyring or [`FileKeyStore`] in a private directory. [`MemoryKeyStore`] serves
//! tests.
//!
//! What goes in: the identity's secret bytes, per-volume VEKs by epoch, wrapped keys, pinned
//! fingerprints of peers, rollback high-water marks, grant sequences and rotation progress.
//! Every value is treated as secret (loaded into [`Zeroizing`] buffers, never logged, never in
//! an error message); key *names* are not secret and may appear in errors.
//!
//! What must **never** go in: plaintext volume contents. A decrypted volume lives only in
//! memory (design §3 flow 6); persisting it here would put user content on disk under whatever
//! protection the platform store happens to give, outside the threat model.
//!
//! Key names are ASCII: 1–[`MAX_KEY_LEN`] bytes of `[a-z0-9/._-]`, `/`-separated segments that
//! are non-empty and do not start with `.` (so `.`/`..` traversal and hidden files are
//! impossible), e.g. `identity`, `vek/meta/3`, `pin/6f1c…-…`, `hwm/org.example.notes`.
//!
//! The trait is synchronous: platform keystores are synchronous and calls are small. Async
//! callers with a slow backend should call it through `tokio::task::spawn_blocking`.

mod file;
mod memory;

use std::io;
use std::path::PathBuf;

use zeroize::Zeroizing;

pub use file::FileKeyStore;
pub use memory::MemoryKeyStore;

/// Longest key name, in bytes.
pub const MAX_KEY_LEN: usize = 200;

/// Largest value a store accepts or returns (1 MiB): key state is small; anything bigger is a
/// bug or a corrupted file, and refusing it bounds what a load reads into memory.
pub const MAX_VALUE_LEN: usize = 1 << 20;

/// Durable storage of secret key state, implemented by the app (see the module documentation).
///
/// Contract every implementation must keep (the in-crate implementations are tested against it):
/// - `store` is atomic and durable: after it returns `Ok`, a crash or power loss leaves the new
///   value; at no point can `load` observe a partial value.
/// - `load` of a missing key is `Ok(None)`; `delete` of a missing key is `Ok(())`.
/// - `list(prefix)` returns every stored key that starts with `prefix` (a plain string prefix:
///   `"vek/meta"` also matches `"vek/meta.x/1"`; end it with `/` to list one level), sorted.
/// - Key names are checked with [`validate_key`] and prefixes with [`validate_prefix`]; a bad
///   name is [`StorageError::InvalidKey`] and touches nothing.
/// - Values are secret: never log them, keep them only in protected storage.
pub trait KeyStore: Send + Sync {
    /// The value stored under `key`, or `None`.
    fn load(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StorageError>;
    /// Stores `value` under `key` atomically and durably, replacing any previous value.
    fn store(&self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// Removes `key` (durably). Removing a missing key succeeds.
    fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// The stored keys starting with `prefix`, sorted ascending.
    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
}

/// Why a key-state operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A key name or prefix breaks the naming rules (a bug in the caller, never user input).
    #[error("invalid key name {key:?}: {reason}")]
    InvalidKey {
        /// The refused name (key names are not secret).
        key: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A value is larger than [`MAX_VALUE_LEN`] (on store), or a stored value is (on load: a
    /// corrupted or foreign file).
    #[error("value for key {key:?} is larger than the {max} bytes allowed")]
    TooLarge {
        /// The key.
        key: String,
        /// The limit in bytes.
        max: usize,
    },
    /// The platform store is locked or unavailable (e.g. an iOS device before its first unlock).
    /// Retry once the device is unlocked; nothing was changed.
    #[error("the key store is locked or unavailable; unlock the device and try again")]
    Unavailable,
    /// A stored value exists but cannot be read back (the platform's integrity check failed or
    /// its wrapping key is gone). The state under this key is lost; restore from an identity
    /// backup.
    #[error("the stored value for key {key:?} is corrupted or its protection key is gone")]
    Corrupt {
        /// The key.
        key: String,
    },
    /// The store's location is not a usable directory ([`FileKeyStore`]).
    #[error("{} is not a directory; give the key store a private directory of its own", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The file system failed (full disk, permissions, I/O error).
    #[error("key store could not {op} {key:?}: {source}")]
    Io {
        /// What was being done (`"read"`, `"write"`, `"delete"`, `"list"`, `"open"`).
        op: &'static str,
        /// The key, prefix or file involved.
        key: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

/// Checks a key name: 1–[`MAX_KEY_LEN`] bytes of `[a-z0-9/._-]`, `/`-separated non-empty
/// segments, none starting with `.`.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let refuse = |reason| {
        Err(StorageError::InvalidKey {
            key: printable(key),
            reason,
        })
    };
    if key.is_empty() {
        return refuse("it is empty");
    }
    if key.len() > MAX_KEY_LEN {
        return refuse("it is longer than 200 bytes");
    }
    if !key.bytes().all(is_key_byte) {
        return refuse("only a-z 0-9 / . _ - are allowed");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return refuse("it has an empty segment (leading, trailing or double '/')");
        }
        if segment.starts_with('.') {
            return refuse("a segment starts with '.'");
        }
    }
    Ok(())
}

/// Checks a [`KeyStore::list`] prefix: empty (everything), or the start of a valid key name —
/// at most [`MAX_KEY_LEN`] bytes of `[a-z0-9/._-]` whose complete segments follow the key rules
/// (it may end with `/` or in the middle of a segment).
pub fn validate_prefix(prefix: &str) -> Result<(), StorageError> {
    let refuse = |reason| {
        Err(StorageError::InvalidKey {
            key: printable(prefix),
            reason,
        })
    };
    if prefix.len() > MAX_KEY_LEN || !prefix.bytes().all(is_key_byte) {
        return refuse("a prefix is at most 200 bytes of a-z 0-9 / . _ -");
    }
    let segments: Vec<&str> = prefix.split('/').collect();
    let (last, complete) = segments.split_last().unwrap_or((&"", &[]));
    if complete.iter().any(|s| s.is_empty()) {
        return refuse("it has an empty segment (leading or double '/')");
    }
    if complete.iter().chain([last]).any(|s| s.starts_with('.')) {
        return refuse("a segment starts with '.'");
    }
    Ok(())
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'/' | b'.' | b'_' | b'-')
}

/// A refused name as it may appear in an error: bounded, control characters escaped by `{:?}`.
fn printable(name: &str) -> String {
    name.chars().take(MAX_KEY_LEN + 1).collect()
}

fn check_value_len(key: &str, value: &[u8]) -> Result<(), StorageError> {
    if value.len() > MAX_VALUE_LEN {
        return Err(StorageError::TooLarge {
            key: key.to_owned(),
            max: MAX_VALUE_LEN,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
