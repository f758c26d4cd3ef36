//! Several devices of one system (`docs/protocol-v2.md` §13): link a device by the text of a
//! QR code, join from it, list and unlink devices. Each call converts its arguments and calls
//! the same-named `coffer_client_core` method on the library's runtime.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use coffer_client_core::client::{
    ClientConfig as CoreConfig, DeviceInfo as CoreDevice, DeviceLinkOffer as CoreOffer,
    SystemClient as CoreClient,
};
use coffer_client_core::transport::RelayHttp;

use crate::config::ClientConfig;
use crate::error::CofferError;
use crate::records::{self, RotationReport};
use crate::runtime::run;
use crate::storage::{ForeignKeyStore, KeyStorage};
use crate::system::SystemClient;

/// A device linked to a system.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceInfo {
    /// The device's id (hyphenated UUID).
    pub id: String,
    /// Its user-chosen label.
    pub label: String,
    /// When it was linked, Unix seconds.
    pub linked_at: u64,
}

impl From<CoreDevice> for DeviceInfo {
    fn from(d: CoreDevice) -> Self {
        DeviceInfo {
            id: d.id.hyphenated().to_string(),
            label: d.label,
            linked_at: d.linked_at,
        }
    }
}

/// A device link in progress ([`SystemClient::link_device`]): show [`text`](Self::text) as a
/// QR code to the new device, then call [`SystemClient::confirm_link`].
#[derive(uniffi::Object)]
pub struct DeviceLinkOffer(CoreOffer);

impl fmt::Debug for DeviceLinkOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[uniffi::export]
impl DeviceLinkOffer {
    /// The QR text `coffer://link-device?v=2&…` (it holds the link's secret: show it only on
    /// screen, never log it).
    pub fn text(&self) -> String {
        self.0.text().to_string()
    }

    /// The relay-visible code (for display only).
    pub fn code(&self) -> String {
        self.0.code().to_owned()
    }
}

#[uniffi::export]
impl ClientConfig {
    /// The relay a device-link text names, trusted by its pin.
    ///
    /// Throws `InvalidInput` for a text that is not a `coffer://link-device?` text (or names
    /// no pin).
    #[uniffi::constructor]
    pub fn from_device_link(text: String) -> Result<Arc<Self>, CofferError> {
        Ok(ClientConfig::from_core(CoreConfig::from_device_link(
            &text,
        )?))
    }
}

fn timeout(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[uniffi::export]
impl SystemClient {
    /// Joins a system as a new device from the text of a device link scanned from a linked
    /// device (which then calls `confirm_link`): waits up to `timeout_ms` for it, checks
    /// everything, and opens the account over all of the system's relays. `storage` must be
    /// empty; if joining fails it is left empty (if only the final opening fails, it holds the
    /// joined account: `open` it).
    ///
    /// Throws `DeviceLinkInvalid` (the package was altered or names another identity),
    /// `DeviceLinkExpired` (not confirmed in time), `InvalidInput` (bad text or label, storage
    /// not empty), relay errors.
    #[uniffi::constructor]
    pub async fn join(
        config: Arc<ClientConfig>,
        storage: Arc<dyn KeyStorage>,
        link_text: String,
        label: String,
        timeout_ms: u64,
    ) -> Result<Arc<Self>, CofferError> {
        let link_text = zeroize::Zeroizing::new(link_text);
        run(async move {
            let store = ForeignKeyStore::shared(storage);
            let config = config.core();
            let joined = CoreClient::<RelayHttp>::join(
                config.clone(),
                store,
                &link_text,
                &label,
                timeout(timeout_ms),
            )
            .await?;
            // Over all the account's relays (the signed list it published), keeping the
            // connection `join` logged in with under the device's label.
            Ok(Self::wrap(joined.into_replicated(&config).await?))
        })
        .await
    }

    /// Starts linking another device (a link valid ten minutes); `this_label` names this
    /// device if it has no label yet. Show the offer's `text()` as a QR code, then call
    /// `confirm_link`.
    pub async fn link_device(
        self: Arc<Self>,
        this_label: String,
    ) -> Result<Arc<DeviceLinkOffer>, CofferError> {
        run(async move {
            let core = self.core().await?;
            Ok(Arc::new(DeviceLinkOffer(
                core.link_device(&this_label).await?,
            )))
        })
        .await
    }

    /// Waits up to `timeout_ms` for the new device to join `offer`, checks its proof, adds it
    /// to the shared key state and sends it its encrypted package.
    ///
    /// Throws `DeviceLinkInvalid` (the relay substituted the device's key: do not link),
    /// `DeviceLinkExpired`, relay errors.
    pub async fn confirm_link(
        self: Arc<Self>,
        offer: Arc<DeviceLinkOffer>,
        timeout_ms: u64,
    ) -> Result<DeviceInfo, CofferError> {
        run(async move {
            let core = self.core().await?;
            Ok(core
                .confirm_link(&offer.0, timeout(timeout_ms))
                .await?
                .into())
        })
        .await
    }

    /// The devices linked to this system (empty until it links one).
    pub async fn devices(self: Arc<Self>) -> Result<Vec<DeviceInfo>, CofferError> {
        run(async move {
            let core = self.core().await?;
            Ok(core.devices()?.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// This device's id, once it linked or joined (`null`/`nil`/`None` before).
    pub async fn device_id(self: Arc<Self>) -> Result<Option<String>, CofferError> {
        run(async move {
            let core = self.core().await?;
            Ok(core.device_id()?.map(|id| id.hyphenated().to_string()))
        })
        .await
    }

    /// Unlinks the device `device_id`: a new shared key for the remaining devices, every
    /// volume rotated and friends re-granted, so it reads nothing published afterwards. It can
    /// still log in with the shared identity: a device in hostile hands needs a new identity.
    ///
    /// Throws `NotFound` (no such linked device), `InvalidInput` (this device), relay errors.
    pub async fn unlink_device(
        self: Arc<Self>,
        device_id: String,
    ) -> Result<RotationReport, CofferError> {
        let device = records::user_id(&device_id)?;
        run(async move {
            let core = self.core().await?;
            Ok(core.unlink_device(device).await?.into())
        })
        .await
    }
}
