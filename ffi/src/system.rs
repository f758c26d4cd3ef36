//! [`SystemClient`]: the data owner's client — publish, invite, approve, grant, revoke, back up.
//! Each method converts its arguments and calls the same-named `coffer_client_core` method on
//! the library's runtime.

use std::fmt;
use std::sync::Arc;

use coffer_client_core::client::{Replicated, SystemClient as CoreClient};
use coffer_client_core::transport::RelayHttp;
use coffer_client_core::v2::{BackupParams, Fingerprint};
use tokio::sync::{RwLock, RwLockReadGuard};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::config::ClientConfig;
use crate::error::CofferError;
use crate::link::InviteLink;
use crate::progress::{CancellationToken, ForeignProgress, ProgressListener, cancel_of};
use crate::records::{self, PairingRequest, Published, RotationReport};
use crate::runtime::run;
use crate::storage::{ForeignKeyStore, KeyStorage};

/// The client-core client behind [`SystemClient`]: replicated over the system's relays (one
/// relay until `set_relays` adds others).
pub(crate) type Core = CoreClient<Replicated<RelayHttp>>;

/// The data owner's client (a "system"): one account, its keys in the app's [`KeyStorage`].
///
/// Every network method is `async` (Kotlin `suspend`, Swift `async`, Python `async def`) and
/// runs on the library's own threads. Operations are serialised internally; calling several
/// at once is safe. Release the object when done (Kotlin `close()`/`use {}`, Swift: drop the
/// last reference, Python: `del`): its keys are wiped from memory once running operations end.
#[derive(uniffi::Object)]
pub struct SystemClient {
    /// `None` once the account was deleted.
    inner: RwLock<Option<Core>>,
    user_id: Uuid,
    fingerprint: Fingerprint,
}

impl fmt::Debug for SystemClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemClient")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl SystemClient {
    pub(crate) fn wrap(core: Core) -> Arc<Self> {
        Arc::new(SystemClient {
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
impl SystemClient {
    /// Creates a new system account on the relay; its identity is generated here and stored in
    /// `storage`, which must not hold an account yet. `handle`: an optional public name
    /// (2–64 characters).
    ///
    /// Throws `InvalidInput` (storage already holds an account, bad handle), relay errors
    /// (`Network`, `TlsPinMismatch`, `RateLimited`, …), key storage errors.
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

    /// Opens the account in `storage` (an app restart): finishes an interrupted rotation and
    /// learns the relay's versions (both postponed to the next operation when offline).
    ///
    /// Throws `InvalidInput` (no system account in `storage`, or one on another relay), relay
    /// errors other than `Network`, key storage errors.
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

    /// Restores a system account from a backup ([`SystemClient::export_backup`]) into the empty
    /// `storage` of a new device and opens it: identity, volume keys, pinned friends and their
    /// grants come back. If the restore fails, `storage` is left empty.
    ///
    /// Throws `WrongPassphrase`, `BackupCorrupted`, `BackupUnsupported`, `InvalidInput` (storage
    /// not empty, a friend's backup, another relay), and as [`SystemClient::open`].
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

    /// This account's key fingerprint, compact form (what invite links carry).
    pub fn fingerprint(&self) -> String {
        self.fingerprint.compact()
    }

    /// This account's safety number, for friends to compare in person.
    pub fn safety_number(&self) -> String {
        self.fingerprint.safety_number()
    }

    /// Publishes a new version of `volume` (a v1 name such as `meta`, or a namespaced name
    /// such as `org.example.notes`). Friends granted the volume can fetch it at once.
    ///
    /// `listener` receives `seal:<volume>`, `upload:<volume>`, `done`; `cancel` abandons the
    /// operation (`Cancelled`; publish again later).
    ///
    /// Throws `InvalidInput` (bad name, too large), `Conflict` (another device keeps
    /// publishing), `TooLarge` (relay quota), `Cancelled`, relay and storage errors.
    #[uniffi::method(default(listener = None, cancel = None))]
    pub async fn publish(
        self: Arc<Self>,
        volume: String,
        plaintext: Vec<u8>,
        listener: Option<Arc<dyn ProgressListener>>,
        cancel: Option<Arc<CancellationToken>>,
    ) -> Result<Published, CofferError> {
        let volume = records::volume(&volume)?;
        let plaintext = Zeroizing::new(plaintext);
        run(async move {
            let (progress, cancel) = (ForeignProgress::new(listener), cancel_of(cancel));
            let core = self.core().await?;
            let published = core
                .publish_with(&volume, &plaintext, &progress, &cancel)
                .await?;
            Ok(published.into())
        })
        .await
    }

    /// Creates an invite; show [`InviteLink::to_uri`] to the friend as a QR code. The link's
    /// secret is kept in `storage` until the friend is approved or the invite expires. It
    /// names this system's other relays too (`InviteLink::also`), so a friend on any of them
    /// can pair.
    pub async fn create_invite(self: Arc<Self>) -> Result<Arc<InviteLink>, CofferError> {
        run(async move { Ok(InviteLink::new(self.core().await?.create_invite().await?)) }).await
    }

    /// Redeemed invites waiting for approval, each with the check of the friend's proof.
    pub async fn pending_requests(self: Arc<Self>) -> Result<Vec<PairingRequest>, CofferError> {
        run(async move {
            let requests = self.core().await?.pending_requests().await?;
            Ok(requests.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Approves a friend's redeemed invite and grants it `volumes` (until `expires_at`, Unix
    /// seconds, if given). Calling it again may add volumes; to take some away use
    /// [`SystemClient::set_grant`].
    ///
    /// Throws `PairingProofInvalid` / `KeyChanged` (do not retry: the relay may substitute
    /// keys), `NotPaired`, `InvalidInput`, relay and storage errors.
    #[uniffi::method(default(expires_at = None))]
    pub async fn approve(
        self: Arc<Self>,
        friend_id: String,
        volumes: Vec<String>,
        expires_at: Option<u64>,
    ) -> Result<(), CofferError> {
        let (friend, volumes) = (records::user_id(&friend_id)?, records::volumes(&volumes)?);
        run(async move {
            let core = self.core().await?;
            Ok(core.approve(friend, &volumes, expires_at).await?)
        })
        .await
    }

    /// Changes what a friend may read. Volumes taken away are rotated (new key epoch, latest
    /// version re-encrypted, other friends re-granted) so the friend's old keys open nothing
    /// written afterwards. Progress and cancellation as for [`SystemClient::revoke`].
    #[uniffi::method(default(expires_at = None, listener = None, cancel = None))]
    pub async fn set_grant(
        self: Arc<Self>,
        friend_id: String,
        volumes: Vec<String>,
        expires_at: Option<u64>,
        listener: Option<Arc<dyn ProgressListener>>,
        cancel: Option<Arc<CancellationToken>>,
    ) -> Result<RotationReport, CofferError> {
        let (friend, volumes) = (records::user_id(&friend_id)?, records::volumes(&volumes)?);
        run(async move {
            let (progress, cancel) = (ForeignProgress::new(listener), cancel_of(cancel));
            let core = self.core().await?;
            let report = core
                .set_grant_with(friend, &volumes, expires_at, &progress, &cancel)
                .await?;
            Ok(report.into())
        })
        .await
    }

    /// Revokes a friend: the relay stops serving it at once, then every volume it could read
    /// is rotated and the remaining friends are re-granted.
    ///
    /// `listener` receives `unpair`, `rotate:<volume>` per volume, `regrant` per remaining
    /// friend and `done`. `cancel` stops the rotation at its next step with `Cancelled`; the
    /// friend stays revoked once `unpair` is done, and the rest is finished by
    /// [`SystemClient::resume_rotation`] or before the next operation that changes key state.
    ///
    /// Throws `NotPaired`, `Cancelled`, relay and storage errors (the rotation resumes).
    #[uniffi::method(default(listener = None, cancel = None))]
    pub async fn revoke(
        self: Arc<Self>,
        friend_id: String,
        listener: Option<Arc<dyn ProgressListener>>,
        cancel: Option<Arc<CancellationToken>>,
    ) -> Result<RotationReport, CofferError> {
        let friend = records::user_id(&friend_id)?;
        run(async move {
            let (progress, cancel) = (ForeignProgress::new(listener), cancel_of(cancel));
            let core = self.core().await?;
            Ok(core.revoke_with(friend, &progress, &cancel).await?.into())
        })
        .await
    }

    /// Finishes an interrupted or cancelled rotation; `null`/`nil`/`None` if none was pending.
    /// Steps finished before count as done in the progress reports.
    #[uniffi::method(default(listener = None, cancel = None))]
    pub async fn resume_rotation(
        self: Arc<Self>,
        listener: Option<Arc<dyn ProgressListener>>,
        cancel: Option<Arc<CancellationToken>>,
    ) -> Result<Option<RotationReport>, CofferError> {
        run(async move {
            let (progress, cancel) = (ForeignProgress::new(listener), cancel_of(cancel));
            let core = self.core().await?;
            let report = core.resume_rotation_with(&progress, &cancel).await?;
            Ok(report.map(Into::into))
        })
        .await
    }

    /// Exports the account's whole key state encrypted under `passphrase` (Argon2id, 64 MiB;
    /// normalise the passphrase to Unicode NFC first). The result is safe to store anywhere;
    /// restore it with [`SystemClient::restore_backup`]. Back up after pairing and revoking.
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

    /// Deletes the account on the relay (volumes, pairings, grants), then its keys in
    /// `storage`. Waits for running operations; afterwards — **also when it fails** — this
    /// object is closed (`Closed`): after a failure, open the account again and retry.
    pub async fn delete_account(self: Arc<Self>) -> Result<(), CofferError> {
        run(async move {
            let core = self.inner.write().await.take().ok_or(CofferError::Closed)?;
            Ok(core.delete_account().await?)
        })
        .await
    }
}
