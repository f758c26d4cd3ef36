//! The account backup (P12): the client's whole key state — identity, account, volume keys,
//! pins, marks, grants, kept invite secrets, a rotation in progress — as one file encrypted
//! under a passphrase with [`crate::v2::export_backup`], and its restore into an empty store.
//!
//! Why it exists: the relay cannot reset anything, so a lost phone without a backup is a lost
//! account. [`SystemClient::restore`](super::SystemClient::restore) alone brings back only the
//! identity (a second device without volume keys); a backup also brings back the keys, the
//! pinned friends and their grants.
//!
//! What it must never do: put plaintext of a volume into the backup (the store holds none),
//! accept a backup of the other client type, or leave a half-restored store behind.
//!
//! The encrypted plaintext (inside the `CFBK` container of `docs/protocol-v2.md` §9):
//!
//! ```text
//! "CFKS" | u8 1 | u32 count | count × ( u8 key_len | key | u32 value_len | value )
//! ```
//! Keys are the store names of the scheme in [`super`] (module doc), sorted; values as stored.
//!
//! A backup is a snapshot. Restored after the account moved on (another device published,
//! rotated or re-granted), the client learns versions and epochs from the relay as a second
//! device does; grants it signs with an older sequence are refused by friends as a rollback
//! until a device that knows the newer sequence grants again. Back up after pairing and after
//! each revocation.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::state::{
    ACCOUNT, DEVICE, DEVICES, HWM, IDENTITY, OWNER_STATE, ROTATION, Role, STATE_KEY, State,
};
use super::{ClientConfig, ClientError, FriendClient, SystemClient};
use crate::storage::{KeyStore, MAX_VALUE_LEN, validate_key};
use crate::transport::RelayHttp;
use crate::v2::{BackupError, BackupParams, export_backup, import_backup};

const MAGIC: &[u8; 4] = b"CFKS";
const FORMAT: u8 = 1;
/// The single keys of the scheme, and the prefixes of its families.
/// A restored backup is the same device again (`device`, `state-key`, `owner-state`, §13).
const SINGLE_KEYS: [&str; 9] = [
    IDENTITY,
    super::relay_state::RELAYS,
    ACCOUNT,
    HWM,
    ROTATION,
    DEVICE,
    STATE_KEY,
    OWNER_STATE,
    DEVICES,
];
const PREFIXES: [&str; 5] = ["vek/", "pin/", "grant/", "invite/", "relay-list/"];

/// Every key of the scheme present in `store`, sorted.
fn scheme_keys(store: &dyn KeyStore) -> Result<Vec<String>, ClientError> {
    let mut keys = Vec::new();
    for key in SINGLE_KEYS {
        if store.load(key)?.is_some() {
            keys.push(key.to_owned());
        }
    }
    for prefix in PREFIXES {
        keys.extend(store.list(prefix)?);
    }
    keys.sort();
    Ok(keys)
}

fn in_scheme(key: &str) -> bool {
    SINGLE_KEYS.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p))
}

/// The key state of `store` in the snapshot encoding, wiped on drop.
fn snapshot(store: &dyn KeyStore) -> Result<Zeroizing<Vec<u8>>, ClientError> {
    let keys = scheme_keys(store)?;
    let mut out = Zeroizing::new(Vec::new());
    out.extend_from_slice(MAGIC);
    out.push(FORMAT);
    let mut entries = Vec::with_capacity(keys.len());
    for key in keys {
        // A key listed a moment ago and gone now was deleted meanwhile: not part of the state.
        if let Some(value) = store.load(&key)? {
            entries.push((key, value));
        }
    }
    let count = u32::try_from(entries.len()).map_err(|_| BackupError::TooLarge)?;
    out.extend_from_slice(&count.to_be_bytes());
    for (key, value) in &entries {
        let key_len = u8::try_from(key.len()).map_err(|_| ClientError::Protocol("key name"))?;
        let value_len = u32::try_from(value.len()).map_err(|_| BackupError::TooLarge)?;
        out.push(key_len);
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&value_len.to_be_bytes());
        out.extend_from_slice(value);
    }
    Ok(out)
}

/// A snapshot's entries; every structural problem is [`BackupError::Corrupted`] (the AEAD
/// verified, so this is a file from something else than this library).
fn parse(bytes: &[u8]) -> Result<Vec<(String, &[u8])>, ClientError> {
    const CORRUPTED: ClientError = ClientError::Backup(BackupError::Corrupted);
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], ClientError> {
        if bytes.len() < n {
            return Err(CORRUPTED);
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Ok(head)
    }
    fn be_u32(bytes: &mut &[u8]) -> Result<u32, ClientError> {
        let four = <[u8; 4]>::try_from(take(bytes, 4)?).map_err(|_| CORRUPTED)?;
        Ok(u32::from_be_bytes(four))
    }
    let mut rest = bytes;
    if take(&mut rest, 4)? != MAGIC {
        return Err(CORRUPTED);
    }
    if take(&mut rest, 1)? != [FORMAT] {
        return Err(ClientError::Backup(BackupError::UnsupportedVersion));
    }
    let count = be_u32(&mut rest)?;
    let mut entries: Vec<(String, &[u8])> = Vec::new();
    for _ in 0..count {
        let key_len = usize::from(take(&mut rest, 1)?[0]);
        let key = std::str::from_utf8(take(&mut rest, key_len)?).map_err(|_| CORRUPTED)?;
        if validate_key(key).is_err() || !in_scheme(key) {
            return Err(CORRUPTED);
        }
        let value_len = usize::try_from(be_u32(&mut rest)?).map_err(|_| CORRUPTED)?;
        if value_len > MAX_VALUE_LEN {
            return Err(CORRUPTED);
        }
        let value = take(&mut rest, value_len)?;
        // Sorted and unique, as written: a duplicate would make the restored state ambiguous.
        if entries.last().is_some_and(|(last, _)| last.as_str() >= key) {
            return Err(CORRUPTED);
        }
        entries.push((key.to_owned(), value));
    }
    if !rest.is_empty() {
        return Err(CORRUPTED);
    }
    Ok(entries)
}

/// Encrypts the key state of `store` under `passphrase` (see the module doc).
fn export(
    store: &dyn KeyStore,
    passphrase: &str,
    params: &BackupParams,
) -> Result<Vec<u8>, ClientError> {
    let state = snapshot(store)?;
    Ok(export_backup(&state, passphrase, params)?)
}

/// Decrypts `backup` and writes its key state into `store`, which must hold no key of the
/// scheme, for an account of `role`. On any error after the first write the store is wiped
/// again. Identity and account are written last, so an interrupted restore never leaves a
/// store that opens as an account.
pub(super) fn restore_into(
    store: &dyn KeyStore,
    backup: &[u8],
    passphrase: &str,
    role: Role,
) -> Result<(), ClientError> {
    if !scheme_keys(store)?.is_empty() {
        return Err(ClientError::InvalidInput(
            "restore a backup into an empty key store",
        ));
    }
    let plaintext = import_backup(backup, passphrase)?;
    let entries = parse(&plaintext)?;
    let find = |name: &str| entries.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
    let (Some(_), Some(account)) = (find(IDENTITY), find(ACCOUNT)) else {
        return Err(ClientError::Backup(BackupError::Corrupted));
    };
    let account: super::state::Account =
        serde_json::from_slice(account).map_err(|_| ClientError::Backup(BackupError::Corrupted))?;
    if account.role != role {
        return Err(match role {
            Role::System => ClientError::InvalidInput("this backup is of a friend account"),
            Role::Friend => ClientError::InvalidInput("this backup is of a system account"),
        });
    }
    let write = || -> Result<(), ClientError> {
        let last = [IDENTITY, ACCOUNT];
        for (key, value) in entries.iter().filter(|(k, _)| !last.contains(&k.as_str())) {
            store.store(key, value)?;
        }
        for key in last {
            if let Some(value) = find(key) {
                store.store(key, value)?;
            }
        }
        // The identity must load (a valid secret), or the account is useless.
        State(store).identity().map(drop)
    };
    if let Err(e) = write() {
        if let Err(wipe) = State(store).wipe() {
            tracing::warn!(error = %wipe, "could not wipe a partly restored key store");
        }
        return Err(match e {
            ClientError::Storage(crate::storage::StorageError::Corrupt { .. }) => {
                ClientError::Backup(BackupError::Corrupted)
            }
            other => other,
        });
    }
    Ok(())
}

impl<R: super::RelayApi> SystemClient<R> {
    /// Exports this account's whole key state (identity, volume keys, pinned friends, grants,
    /// rollback marks, kept invite secrets, a rotation in progress) encrypted under
    /// `passphrase`. The file can be
    /// stored anywhere (it is useless without the passphrase); restore it with
    /// [`SystemClient::restore_backup`]. Use [`BackupParams::default`] unless the device
    /// cannot spare 64 MiB.
    ///
    /// # Errors
    /// [`ClientError::Backup`] (empty passphrase, key derivation failed); storage errors.
    pub async fn export_backup(
        &self,
        passphrase: &str,
        params: &BackupParams,
    ) -> Result<Vec<u8>, ClientError> {
        // A consistent snapshot: no operation changes the state meanwhile.
        let _ops = self.ops.lock().await;
        export(self.store.as_ref(), passphrase, params)
    }
}

impl SystemClient<RelayHttp> {
    /// Restores a system account from [`export_backup`](SystemClient::export_backup)'s file
    /// into `store` (which must be empty) and [`open`](SystemClient::open)s it: finishes a
    /// rotation that was in progress when the backup was made and learns the relay's
    /// versions. On any error the store is left empty.
    ///
    /// # Errors
    /// [`ClientError::Backup`] (`WrongPassphrase`, `Corrupted`, `UnsupportedVersion`, ...);
    /// [`ClientError::InvalidInput`] for a non-empty store, a friend account's backup or a
    /// backup of an account on another relay than `config`'s; as [`SystemClient::open`].
    pub async fn restore_backup(
        config: ClientConfig,
        store: Arc<dyn KeyStore>,
        backup: &[u8],
        passphrase: &str,
    ) -> Result<Self, ClientError> {
        restore_into(store.as_ref(), backup, passphrase, Role::System)?;
        let opened = SystemClient::open(config, Arc::clone(&store)).await;
        wiped_on_error(store.as_ref(), opened)
    }
}

impl<R: super::RelayApi> FriendClient<R> {
    /// Exports this account's whole key state (identity, pinned systems, marks) encrypted
    /// under `passphrase`; see [`SystemClient::export_backup`].
    ///
    /// # Errors
    /// [`ClientError::Backup`]; storage errors.
    pub async fn export_backup(
        &self,
        passphrase: &str,
        params: &BackupParams,
    ) -> Result<Vec<u8>, ClientError> {
        self.with_state_locked(|store| export(store, passphrase, params))
            .await
    }
}

impl FriendClient<RelayHttp> {
    /// Restores a friend account from its backup into `store` (which must be empty) and
    /// [`open`](FriendClient::open)s it. On any error the store is left empty.
    ///
    /// # Errors
    /// As [`SystemClient::restore_backup`] (for a system account's backup:
    /// [`ClientError::InvalidInput`]).
    pub async fn restore_backup(
        config: ClientConfig,
        store: Arc<dyn KeyStore>,
        backup: &[u8],
        passphrase: &str,
    ) -> Result<Self, ClientError> {
        restore_into(store.as_ref(), backup, passphrase, Role::Friend)?;
        let opened = FriendClient::open(config, Arc::clone(&store)).await;
        wiped_on_error(store.as_ref(), opened)
    }
}

/// `opened`, after wiping `store` if it is an error: a failed restore leaves the store as it
/// was given, empty.
pub(super) fn wiped_on_error<T>(
    store: &dyn KeyStore,
    opened: Result<T, ClientError>,
) -> Result<T, ClientError> {
    if opened.is_err() {
        State(store).wipe()?;
    }
    opened
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::storage::MemoryKeyStore;

    fn fast() -> BackupParams {
        BackupParams::danger_fast_for_tests()
    }

    /// A store with the shape of a system account's state (written through the same typed
    /// state the clients use).
    fn system_store() -> MemoryKeyStore {
        let store = MemoryKeyStore::new();
        let state = State(&store);
        state
            .store_identity(&Identity::generate())
            .expect("identity");
        state
            .store_account(&super::super::state::Account {
                user_id: uuid::Uuid::from_bytes([7; 16]),
                role: Role::System,
                relay: "https://relay.example:8443".to_owned(),
                relay_pin: None,
                relay_next_pin: None,
                relay_former_pins: Vec::new(),
            })
            .expect("account");
        store.store("vek/meta/1", &[0x11; 32]).expect("vek");
        store.store("vek/journal/2", &[0x22; 32]).expect("vek");
        store.store("hwm", b"{}").expect("hwm");
        store
            .store(
                "grant/00000000-0000-0000-0000-000000000001",
                br#"{"sequence":3,"volumes":["meta"]}"#,
            )
            .expect("grant");
        store
    }

    fn contents(store: &dyn KeyStore) -> Vec<(String, Vec<u8>)> {
        scheme_keys(store)
            .expect("keys")
            .into_iter()
            .map(|k| {
                let v = store.load(&k).expect("load").expect("present").to_vec();
                (k, v)
            })
            .collect()
    }

    #[test]
    fn a_backup_restores_the_whole_key_state() {
        let original = system_store();
        let file = export(&original, "correct horse", &fast()).expect("export");
        let restored = MemoryKeyStore::new();
        restore_into(&restored, &file, "correct horse", Role::System).expect("restore");
        assert_eq!(contents(&restored), contents(&original));
        assert_eq!(contents(&restored).len(), 6);
    }

    #[test]
    fn wrong_passphrase_corruption_and_role_are_refused_and_leave_the_store_empty() {
        let file = export(&system_store(), "correct horse", &fast()).expect("export");
        let target = MemoryKeyStore::new();
        assert!(matches!(
            restore_into(&target, &file, "wrong horse", Role::System),
            Err(ClientError::Backup(BackupError::WrongPassphrase))
        ));
        let mut flipped = file.clone();
        flipped[60] ^= 1;
        assert!(matches!(
            restore_into(&target, &flipped, "correct horse", Role::System),
            Err(ClientError::Backup(BackupError::Corrupted))
        ));
        assert!(matches!(
            restore_into(&target, &file, "correct horse", Role::Friend),
            Err(ClientError::InvalidInput(_))
        ));
        assert!(scheme_keys(&target).expect("keys").is_empty());
    }

    #[test]
    fn a_store_that_holds_state_is_not_overwritten() {
        let file = export(&system_store(), "pw", &fast()).expect("export");
        let target = MemoryKeyStore::new();
        target.store("pin/x", b"{}").expect("store");
        assert!(matches!(
            restore_into(&target, &file, "pw", Role::System),
            Err(ClientError::InvalidInput(_))
        ));
        assert_eq!(contents(&target).len(), 1);
    }

    #[test]
    fn malformed_snapshots_are_corrupted_backups() {
        let good = snapshot(&system_store()).expect("snapshot");
        assert_eq!(parse(&good).expect("parses").len(), 6);
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"CFKT\x01\0\0\0\0".to_vec(),
            good[..good.len() - 1].to_vec(),
            [&good[..], b"x"].concat(),
        ];
        // A key outside the scheme.
        let mut outside = b"CFKS\x01\0\0\0\x01".to_vec();
        outside.push(5);
        outside.extend_from_slice(b"other");
        outside.extend_from_slice(&[0, 0, 0, 0]);
        cases.push(outside);
        // A duplicate key.
        let mut twice = b"CFKS\x01\0\0\0\x02".to_vec();
        for _ in 0..2 {
            twice.push(3);
            twice.extend_from_slice(b"hwm");
            twice.extend_from_slice(&[0, 0, 0, 0]);
        }
        cases.push(twice);
        for case in cases {
            assert!(
                matches!(
                    parse(&case),
                    Err(ClientError::Backup(BackupError::Corrupted))
                ),
                "{case:?}"
            );
        }
        assert!(matches!(
            parse(b"CFKS\x02\0\0\0\0"),
            Err(ClientError::Backup(BackupError::UnsupportedVersion))
        ));
    }

    #[test]
    fn a_backup_without_a_loadable_identity_is_refused() {
        let store = system_store();
        store
            .store(IDENTITY, &[9; 65])
            .expect("bad identity version");
        let file = export(&store, "pw", &fast()).expect("export");
        let target = MemoryKeyStore::new();
        assert!(matches!(
            restore_into(&target, &file, "pw", Role::System),
            Err(ClientError::Backup(BackupError::Corrupted))
        ));
        assert!(scheme_keys(&target).expect("keys").is_empty());
    }
}
