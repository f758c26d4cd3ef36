//! [`KeyStorage`]: the app's secure storage, implemented in Kotlin / Swift / Python and adapted
//! to client-core's [`KeyStore`].
//!
//! The values are the account's secret key state (identity keys, volume keys, pins, marks):
//! this is the one place where secrets cross the boundary without a `danger_` name, because
//! keeping them in the platform's protected storage (Android Keystore-wrapped files, iOS
//! Keychain items) is the whole point of the interface. Implementations must never log values
//! and must keep them in protected storage only. Key *names* are not secret.
//!
//! The adapter enforces client-core's store contract on the foreign side's behalf (valid key
//! names, value sizes, sorted listings), so a sloppy implementation cannot feed the clients
//! something a conforming store would never return.

use std::fmt;
use std::io;
use std::sync::Arc;

use coffer_client_core::storage::{
    KeyStore, MAX_VALUE_LEN, StorageError, validate_key, validate_prefix,
};
use zeroize::Zeroizing;

/// Why the app's key storage failed. Kotlin: `KeyStorageException`; Swift: `KeyStorageError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum KeyStorageError {
    /// The storage is locked or unavailable (e.g. before the device's first unlock). The
    /// operation is reported to the app as `CofferError.KeyStoreLocked`.
    #[error("the key storage is locked")]
    Locked,
    /// A stored value cannot be read back (its protection key is gone, or it was altered).
    #[error("the stored value is corrupted")]
    Corrupt,
    /// Anything else (I/O, full disk). `reason` must not contain a stored value.
    #[error("key storage failed: {reason}")]
    Failed {
        /// What failed.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for KeyStorageError {
    /// An exception the implementation did not declare (a bug in it).
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        KeyStorageError::Failed { reason: e.reason }
    }
}

/// Durable, protected storage of secret key state, implemented by the app.
///
/// The contract (client-core's `KeyStore`):
/// - `store` is atomic and durable: once it returns, a crash leaves the new value, and a
///   `load` never sees a partial one;
/// - `load` of a missing key returns `null`/`nil`/`None`; `delete` of a missing key succeeds;
/// - `list(prefix)` returns every stored key starting with `prefix` (a plain string prefix);
/// - values are secret: keep them in the platform's protected storage, never log them.
///
/// Calls come from the library's worker threads, never the main thread; they may block
/// briefly (a Keychain call), but should not wait for the user.
#[uniffi::export(with_foreign)]
pub trait KeyStorage: Send + Sync {
    /// The value stored under `key`, or none.
    fn load(&self, key: String) -> Result<Option<Vec<u8>>, KeyStorageError>;
    /// Stores `value` under `key` atomically and durably, replacing any previous value.
    fn store(&self, key: String, value: Vec<u8>) -> Result<(), KeyStorageError>;
    /// Removes `key`; removing a missing key succeeds.
    fn delete(&self, key: String) -> Result<(), KeyStorageError>;
    /// The stored keys starting with `prefix`.
    fn list(&self, prefix: String) -> Result<Vec<String>, KeyStorageError>;
}

/// A [`KeyStorage`] seen as client-core's [`KeyStore`].
pub(crate) struct ForeignKeyStore(Arc<dyn KeyStorage>);

impl ForeignKeyStore {
    pub(crate) fn shared(storage: Arc<dyn KeyStorage>) -> Arc<dyn KeyStore> {
        Arc::new(ForeignKeyStore(storage))
    }
}

impl fmt::Debug for ForeignKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ForeignKeyStore")
    }
}

fn storage_error(err: KeyStorageError, op: &'static str, key: &str) -> StorageError {
    match err {
        KeyStorageError::Locked => StorageError::Unavailable,
        KeyStorageError::Corrupt => StorageError::Corrupt {
            key: key.to_owned(),
        },
        KeyStorageError::Failed { reason } => StorageError::Io {
            op,
            key: key.to_owned(),
            source: io::Error::other(reason),
        },
    }
}

impl KeyStore for ForeignKeyStore {
    fn load(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StorageError> {
        validate_key(key)?;
        let value = self
            .0
            .load(key.to_owned())
            .map_err(|e| storage_error(e, "read", key))?
            .map(Zeroizing::new);
        if value.as_ref().is_some_and(|v| v.len() > MAX_VALUE_LEN) {
            return Err(StorageError::TooLarge {
                key: key.to_owned(),
                max: MAX_VALUE_LEN,
            });
        }
        Ok(value)
    }

    fn store(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        validate_key(key)?;
        if value.len() > MAX_VALUE_LEN {
            return Err(StorageError::TooLarge {
                key: key.to_owned(),
                max: MAX_VALUE_LEN,
            });
        }
        // The copy handed to the foreign side is freed by it; Rust cannot wipe it.
        self.0
            .store(key.to_owned(), value.to_vec())
            .map_err(|e| storage_error(e, "write", key))
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        self.0
            .delete(key.to_owned())
            .map_err(|e| storage_error(e, "delete", key))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        validate_prefix(prefix)?;
        let mut keys: Vec<String> = self
            .0
            .list(prefix.to_owned())
            .map_err(|e| storage_error(e, "list", prefix))?
            .into_iter()
            // Only names a conforming store could hold, and only under the prefix asked for.
            .filter(|k| k.starts_with(prefix) && validate_key(k).is_ok())
            .collect();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;

    /// A sloppy foreign implementation: unsorted listings with foreign names, a lock switch.
    #[derive(Default)]
    struct Sloppy {
        map: Mutex<BTreeMap<String, Vec<u8>>>,
        locked: std::sync::atomic::AtomicBool,
    }

    impl KeyStorage for Sloppy {
        fn load(&self, key: String) -> Result<Option<Vec<u8>>, KeyStorageError> {
            if self.locked.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(KeyStorageError::Locked);
            }
            Ok(self.map.lock().expect("lock").get(&key).cloned())
        }
        fn store(&self, key: String, value: Vec<u8>) -> Result<(), KeyStorageError> {
            self.map.lock().expect("lock").insert(key, value);
            Ok(())
        }
        fn delete(&self, key: String) -> Result<(), KeyStorageError> {
            self.map.lock().expect("lock").remove(&key);
            Ok(())
        }
        fn list(&self, _prefix: String) -> Result<Vec<String>, KeyStorageError> {
            let mut keys: Vec<String> = self.map.lock().expect("lock").keys().cloned().collect();
            keys.reverse();
            keys.push("Not/A/Key".to_owned());
            Ok(keys)
        }
    }

    #[test]
    fn the_adapter_keeps_the_store_contract() {
        let foreign = Arc::new(Sloppy::default());
        let store = ForeignKeyStore::shared(Arc::clone(&foreign) as Arc<dyn KeyStorage>);
        store.store("vek/meta/2", &[2; 32]).expect("store");
        store.store("vek/meta/1", &[1; 32]).expect("store");
        store.store("pin/x", b"{}").expect("store");
        assert_eq!(
            store.list("vek/").expect("list"),
            vec!["vek/meta/1", "vek/meta/2"]
        );
        assert_eq!(
            store
                .load("vek/meta/1")
                .expect("load")
                .as_deref()
                .map(Vec::as_slice),
            Some(&[1u8; 32][..])
        );
        assert!(matches!(
            store.store("../escape", b"x"),
            Err(StorageError::InvalidKey { .. })
        ));
        assert!(foreign.map.lock().expect("lock").get("../escape").is_none());
        assert!(matches!(
            store.store("big", &vec![0; MAX_VALUE_LEN + 1]),
            Err(StorageError::TooLarge { .. })
        ));
        foreign
            .locked
            .store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(matches!(
            store.load("pin/x"),
            Err(StorageError::Unavailable)
        ));
    }

    #[test]
    fn foreign_failures_map_to_storage_errors() {
        assert!(matches!(
            storage_error(KeyStorageError::Corrupt, "read", "hwm"),
            StorageError::Corrupt { key } if key == "hwm"
        ));
        let err = storage_error(
            KeyStorageError::Failed {
                reason: "disk full".into(),
            },
            "write",
            "hwm",
        );
        assert!(err.to_string().contains("disk full"), "{err}");
    }
}
