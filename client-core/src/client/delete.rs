//! Deleting one volume (§12): the owner signs a tombstone one version above the highest known;
//! readers verify a served tombstone under the pinned owner key before reporting a deletion.

use coffer_wire::b64::Signature64;
use coffer_wire::v2::VolumeName;
use coffer_wire::v2::api::SignedTombstone;
use uuid::Uuid;

use super::state::State;
use super::system::SystemClient;
use super::{ClientError, Fetched, RelayApi, now_unix};
use crate::transport::TransportError;
use crate::v2::{sign_tombstone, verify_tombstone};

/// What [`SystemClient::delete_volume`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeDeleted {
    /// The key epoch of the deleted volume.
    pub epoch: u32,
    /// The tombstone's version (a later publish goes above it).
    pub version: u64,
}

/// A served tombstone, verified under `owner_key` (the pinned owner key, or the own key):
/// signature, owner, volume, and not below the rollback mark, which it then raises. Anything
/// that does not verify is an error ([`ClientError::BadSignature`], …), never a deletion.
pub(super) fn accept_tombstone(
    state: &State<'_>,
    owner_key: &[u8; 32],
    owner: Uuid,
    volume: &VolumeName,
    bytes: &[u8],
    signature: &[u8; 64],
) -> Result<Fetched, ClientError> {
    let t = verify_tombstone(owner_key, owner, volume, bytes, signature)?;
    let mut hwm = state.hwm()?;
    hwm.record_tombstone(owner, &t)?;
    state.store_hwm(&hwm)?;
    Ok(Fetched::Deleted {
        epoch: t.epoch,
        version: t.version,
        hour: t.hour,
    })
}

impl<R: RelayApi> SystemClient<R> {
    /// Deletes `volume` on the relay with a tombstone signed one version above the highest
    /// known (this device's mark). Friends granted the volume see a verified deletion; the
    /// payload is gone and its storage freed. A later [`publish`](Self::publish) of the same
    /// name goes above the tombstone.
    ///
    /// On a conflict (another device published meanwhile) it retries once above the version
    /// the relay can show signed by this identity, like `publish`.
    ///
    /// # Errors
    /// [`ClientError::NotFound`] (no such live volume); [`ClientError::Conflict`] (still stale
    /// after the retry); relay and storage errors.
    pub async fn delete_volume(&self, volume: &VolumeName) -> Result<VolumeDeleted, ClientError> {
        super::system::refuse_reserved(volume)?;
        let _ops = self.ops.lock().await;
        let state = self.state();
        let (mut epoch, mark) = state
            .hwm()?
            .volume_mark(self.user_id, volume)
            .unwrap_or((1, 0));
        let mut version = mark
            .checked_add(1)
            .ok_or(ClientError::Protocol("version overflow"))?;
        let mut retried = false;
        let signed = loop {
            let t = sign_tombstone(
                &self.identity,
                self.user_id,
                volume,
                epoch.max(1),
                version,
                now_unix(),
            )?;
            let body = SignedTombstone {
                tombstone: t.bytes.clone(),
                signature: Signature64::from_bytes(t.signature),
            };
            match self.relay.delete_volume(volume, &body).await {
                Ok(()) => break t,
                Err(TransportError::Conflict { .. }) if !retried => {
                    retried = true;
                    // Not the relay's claim: the newest version it can show signed by us.
                    let (relay_epoch, current) = self.relay_signed_state(volume).await?;
                    version = version.max(
                        current
                            .checked_add(1)
                            .ok_or(ClientError::Protocol("version overflow"))?,
                    );
                    epoch = epoch.max(relay_epoch);
                }
                Err(e) => return Err(e.into()),
            }
        };
        accept_tombstone(
            &state,
            &self.identity.public_signing_key(),
            self.user_id,
            volume,
            &signed.bytes,
            &signed.signature,
        )?;
        Ok(VolumeDeleted {
            epoch: epoch.max(1),
            version,
        })
    }
}
