//! Deleting one volume (`docs/protocol-v2.md` §12): the owner's signed tombstone. Friends see
//! it as `FetchResult::Deleted` once it verifies under the owner's pinned key.

use std::sync::Arc;

use coffer_client_core::client as core;

use crate::error::CofferError;
use crate::records;
use crate::runtime::run;
use crate::system::SystemClient;

/// What a deletion stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct VolumeDeleted {
    /// The deleted volume's key epoch.
    pub epoch: u32,
    /// The tombstone's version: a later publish of the same name goes above it.
    pub version: u64,
}

impl From<core::VolumeDeleted> for VolumeDeleted {
    fn from(d: core::VolumeDeleted) -> Self {
        Self {
            epoch: d.epoch,
            version: d.version,
        }
    }
}

#[uniffi::export]
impl SystemClient {
    /// Deletes `volume` on the relay with a tombstone signed by this system: the payload is
    /// gone (storage freed), friends granted it fetch `FetchResult::Deleted`. Publishing the
    /// same name later starts above the tombstone's version.
    ///
    /// Throws `InvalidInput` (bad name), `NotFound` (no such volume), `Conflict` (another
    /// device keeps publishing), relay and storage errors.
    pub async fn delete_volume(
        self: Arc<Self>,
        volume: String,
    ) -> Result<VolumeDeleted, CofferError> {
        let volume = records::volume(&volume)?;
        run(async move { Ok(self.core().await?.delete_volume(&volume).await?.into()) }).await
    }
}
