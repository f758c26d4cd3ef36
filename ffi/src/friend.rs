//! [`FriendClient`]: the read-only companion — redeem an invite, read what was granted, back up.
//! Each method converts its arguments and calls the same-named `coffer_client_core` method on
//! the library's runtime.

use std::fmt;
use std::sync::Arc;

use coffer_client_core::client::{FriendClient as CoreClient, Replicated};
use coffer_client_core::transport::RelayHttp;
use coffer_client_core::v2::{BackupParams, Fingerprint};
use tokio::sync::{RwLock, RwLockReadGuard};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::config::ClientConfig;
use crate::error::CofferError;
use crate::link::InviteLink;
use crate::records::{self, FetchResult, GrantView, PairedSystem, VolumeInfo};
use crate::runtime::run;
use crate::storage::{ForeignKeyStore, KeyStorage};

/// The client-core client behind [`FriendClient`]: reads from the relays each system lists.
pub(crate) type Core = CoreClient<Replicated<RelayHttp>>;

/// A friend's client: read-only access to what systems granted, verified against the keys
/// pinned at pairing. Decrypted volumes are returned in memory only: never write them to disk.
///
/// Threading and lifetime as for `SystemClient`.
#[derive(uniffi::Object)]
pub struct FriendClient {
    /// `None` once the account was deleted.
    inner: RwLock<Option<Core>>,
    user_id: Uuid,
    fingerprint: Fingerprint,
}

impl fmt::Debug for FriendClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FriendClient")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl FriendClient {
    fn wrap(core: Core) -> Arc<Self> {
        Arc::new(FriendClient {
            user_id: core.user_id(),
            fingerprint: core.fingerprint(),
            inner: RwLock::new(Some(core)),
        })
    }

    /// The client, unless the account was deleted.
    pub(crate) async fn core(&self) -> Result<RwLockReadGuard<'_, Core>, CofferError> {
        RwLockReadGuard::try_map(self.inner.read().await, Option::as_ref)
            .map_err(|_| CofferError::Closed)
    }
}

#[uniffi::export]
impl FriendClient {
    /// Creates a new friend account on the relay (build `config` with
    /// `ClientConfig.fromInvite(link)` to use the relay of a scanned link); the identity is
    /// generated here and stored in `storage`, which must not hold an account yet.
    #[uniffi::constructor(default(handle = None))]
    pub async fn register(
        config: Arc<ClientConfig>,
        storage: Arc<dyn KeyStorage>,
        handle: Option<String>,
    ) -> Result<Arc<Self>, CofferError> {
        run(async move {
            let store = ForeignKeyStore::shared(storage);
            Ok(Self::wrap(
                Core::register_replicated(config.core(), store, handle).await?,
            ))
        })
        .await
    }

    /// Opens the friend account in `storage` (no network until the first call).
    #[uniffi::constructor]
    pub async fn open(
        config: Arc<ClientConfig>,
        storage: Arc<dyn KeyStorage>,
    ) -> Result<Arc<Self>, CofferError> {
        run(async move {
            let store = ForeignKeyStore::shared(storage);
            Ok(Self::wrap(
                Core::open_replicated(config.core(), store).await?,
            ))
        })
        .await
    }

    /// Restores a friend account from its backup into the empty `storage` of a new device:
    /// identity and pinned systems come back. If the restore fails, `storage` is left empty.
    ///
    /// `config` may name any relay of the account's list (an account whose first relay is gone
    /// for good is restored through another); the account is opened over all of its relays.
    #[uniffi::constructor]
    pub async fn restore_backup(
        config: Arc<ClientConfig>,
        storage: Arc<dyn KeyStorage>,
        backup: Vec<u8>,
        passphrase: String,
    ) -> Result<Arc<Self>, CofferError> {
        let passphrase = Zeroizing::new(passphrase);
        run(async move {
            let store = ForeignKeyStore::shared(storage);
            Ok(Self::wrap(
                Core::restore_backup_replicated(config.core(), store, &backup, &passphrase).await?,
            ))
        })
        .await
    }

    /// This account's user id.
    pub fn user_id(&self) -> String {
        self.user_id.hyphenated().to_string()
    }

    /// This account's key fingerprint, compact form (what the system pins).
    pub fn fingerprint(&self) -> String {
        self.fingerprint.compact()
    }

    /// This account's safety number, for the system's user to compare in person.
    pub fn safety_number(&self) -> String {
        self.fingerprint.safety_number()
    }

    /// Redeems an invite link: proves this account's keys with the link's secret, checks that
    /// the system's keys are the ones the link names, and pins them. The system still has to
    /// approve.
    ///
    /// Throws `InviteGone`, `KeyChanged` / `BadSignature` (the relay substitutes keys: do not
    /// retry), `InvalidInput` (a link to another relay), `Conflict` (already paired).
    pub async fn redeem(
        self: Arc<Self>,
        link: Arc<InviteLink>,
    ) -> Result<PairedSystem, CofferError> {
        run(async move { Ok(self.core().await?.redeem(link.core()).await?.into()) }).await
    }

    /// The system's current grant, verified; `null`/`nil`/`None` while not approved, or after
    /// a revocation.
    pub async fn grant(
        self: Arc<Self>,
        system_id: String,
    ) -> Result<Option<GrantView>, CofferError> {
        let system = records::user_id(&system_id)?;
        run(async move { Ok(self.core().await?.grant(system).await?.map(Into::into)) }).await
    }

    /// The system's volumes this account may read, from their verified headers.
    pub async fn list(self: Arc<Self>, system_id: String) -> Result<Vec<VolumeInfo>, CofferError> {
        let system = records::user_id(&system_id)?;
        run(async move {
            let list = self.core().await?.list(system).await?;
            Ok(list.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Downloads, verifies and decrypts `volume` of a system if it changed since the last
    /// version this client returned. Tries the system's relays in order (see
    /// `fetch_replicated`, which also says which relay answered).
    ///
    /// Throws `Forbidden` (not granted, or revoked), `NotPaired`, `Tampered`, `BadSignature`,
    /// `Rollback`, `WrongVolume`, `WrongOwner` (the relay served altered or stale data: keep
    /// what you showed before), `NoKeyForEpoch`, `GrantExpired`, relay errors.
    pub async fn fetch(
        self: Arc<Self>,
        system_id: String,
        volume: String,
    ) -> Result<FetchResult, CofferError> {
        let (system, volume) = (records::user_id(&system_id)?, records::volume(&volume)?);
        run(async move {
            let core = self.core().await?;
            Ok(core.fetch_replicated(system, &volume).await?.fetched.into())
        })
        .await
    }

    /// Ends the pairing with a system and forgets its keys.
    pub async fn unpair(self: Arc<Self>, system_id: String) -> Result<(), CofferError> {
        let system = records::user_id(&system_id)?;
        run(async move { Ok(self.core().await?.unpair(system).await?) }).await
    }

    /// Exports the account's key state encrypted under `passphrase`; see
    /// `SystemClient.exportBackup`.
    pub async fn export_backup(
        self: Arc<Self>,
        passphrase: String,
    ) -> Result<Vec<u8>, CofferError> {
        let passphrase = Zeroizing::new(passphrase);
        run(async move {
            let core = self.core().await?;
            Ok(core
                .export_backup(&passphrase, &BackupParams::default())
                .await?)
        })
        .await
    }

    /// Deletes the account on the relay and its keys in `storage`; afterwards (also when it
    /// fails) this object is closed, as for `SystemClient.deleteAccount`.
    pub async fn delete_account(self: Arc<Self>) -> Result<(), CofferError> {
        run(async move {
            let core = self.inner.write().await.take().ok_or(CofferError::Closed)?;
            Ok(core.delete_account().await?)
        })
        .await
    }
}
