//! [`MemoryKeyStore`]: an in-memory [`KeyStore`] for tests and ephemeral sessions.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use zeroize::Zeroizing;

use super::{KeyStore, StorageError, check_value_len, validate_key, validate_prefix};

/// A [`KeyStore`] that keeps everything in memory (values zeroized when replaced, deleted or
/// dropped) and applies the same naming rules as every other store. Nothing survives the
/// process.
#[derive(Default)]
pub struct MemoryKeyStore {
    entries: Mutex<BTreeMap<String, Zeroizing<Vec<u8>>>>,
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> MemoryKeyStore {
        MemoryKeyStore::default()
    }

    fn entries(&self) -> MutexGuard<'_, BTreeMap<String, Zeroizing<Vec<u8>>>> {
        // A panic while holding the lock cannot leave a half-written entry (every operation is
        // a single map call), so the data is still consistent.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKeyStore")
            .field("keys", &self.entries().len())
            .finish_non_exhaustive()
    }
}

impl KeyStore for MemoryKeyStore {
    fn load(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StorageError> {
        validate_key(key)?;
        Ok(self.entries().get(key).cloned())
    }

    fn store(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        validate_key(key)?;
        check_value_len(key, value)?;
        self.entries()
            .insert(key.to_owned(), Zeroizing::new(value.to_vec()));
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        self.entries().remove(key);
        Ok(())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        validate_prefix(prefix)?;
        Ok(self
            .entries()
            .range(prefix.to_owned()..)
            .map(|(key, _)| key)
            .take_while(|key| key.starts_with(prefix))
            .cloned()
            .collect())
    }
}
