//! The clients' persisted key state: typed records over the app's [`KeyStore`], one function
//! per key name of the scheme documented in the module doc of [`super`].
//!
//! Everything here is key material or bookkeeping (ids, fingerprints, counters, volume names);
//! nothing here ever holds a volume's plaintext. Records are JSON, except secrets, which are
//! raw bytes so that no copy of them passes through a `String`.

use std::collections::BTreeSet;

use coffer_wire::b64::PublicKey32;
use coffer_wire::v2::VolumeName;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::ClientError;
use crate::identity::{Identity, IdentitySecret};
use crate::storage::{KeyStore, StorageError};
use crate::v2::{Fingerprint, HighWater, InviteSecret, PublicIdentity, VolumeKey};

pub(crate) const IDENTITY: &str = "identity";
pub(crate) const ACCOUNT: &str = "account";
pub(crate) const HWM: &str = "hwm";
pub(crate) const ROTATION: &str = "rotation";
/// This device's own key (§13).
pub(crate) const DEVICE: &str = "device";
/// The owner state's key (§13).
pub(crate) const STATE_KEY: &str = "state-key";
/// The highest owner state seen (§13).
pub(crate) const OWNER_STATE: &str = "owner-state";
/// The linked devices (shared, §13).
pub(crate) const DEVICES: &str = "devices";

/// Which client an account belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    System,
    Friend,
}

/// Most former relay pins remembered (each rotation adds one).
pub(crate) const MAX_FORMER_PINS: usize = 8;

/// `account`: who this store belongs to, and which relay (ADR 0015).
///
/// A pinned account is bound to its relay's key: `relay_pin`, the announced `relay_next_pin`
/// and the `relay_former_pins` it rotated away from name the same relay, whatever address it
/// is reached at; `relay` is only the address last verified. Stores written before ADR 0015
/// have neither of the two newer fields (both default to empty).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Account {
    pub user_id: Uuid,
    pub role: Role,
    /// The relay origin the account was last reached at.
    pub relay: String,
    /// The relay's current SPKI pin (`sha256/…`) when it is self-signed: goes into invite
    /// links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_pin: Option<String>,
    /// The pin the relay announced for its next key (`GET /api/v2/pins`), trusted alongside
    /// the current one so a rotation needs no re-pairing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_next_pin: Option<String>,
    /// Pins the relay rotated away from (newest last, at most [`MAX_FORMER_PINS`]): a
    /// configuration still carrying one names this relay, but is no longer trusted for TLS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relay_former_pins: Vec<String>,
}

/// `pin/<user>`: a peer's keys as pinned at pairing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PinRecord {
    pub fingerprint: Fingerprint,
    pub signing_key: PublicKey32,
    pub exchange_key: PublicKey32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// The relay's id of the pairing (to unpair).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing_id: Option<Uuid>,
}

impl PinRecord {
    pub fn new(
        public: &PublicIdentity,
        handle: Option<String>,
        pairing_id: Option<Uuid>,
    ) -> PinRecord {
        PinRecord {
            fingerprint: public.fingerprint(),
            signing_key: PublicKey32::from_bytes(public.signing_key),
            exchange_key: PublicKey32::from_bytes(public.exchange_key),
            handle,
            pairing_id,
        }
    }

    pub fn public(&self) -> PublicIdentity {
        PublicIdentity::new(*self.signing_key.as_bytes(), *self.exchange_key.as_bytes())
    }
}

/// `grant/<friend>`: what the system granted a friend. The epochs are not stored: a grant
/// always names each volume's current epoch when it is built.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct GrantRecord {
    /// The last sequence used (reserved before the upload, so it never repeats).
    pub sequence: u64,
    pub volumes: BTreeSet<VolumeName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// The typed view of a [`KeyStore`].
#[derive(Clone, Copy)]
pub(crate) struct State<'a>(pub &'a dyn KeyStore);

fn corrupt(key: &str) -> ClientError {
    ClientError::Storage(StorageError::Corrupt {
        key: key.to_owned(),
    })
}

impl State<'_> {
    pub(super) fn load_json<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, ClientError> {
        match self.0.load(key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|_| corrupt(key)),
        }
    }

    pub(super) fn store_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), ClientError> {
        let bytes = Zeroizing::new(
            serde_json::to_vec(value).map_err(|_| ClientError::Protocol("state encoding"))?,
        );
        Ok(self.0.store(key, &bytes)?)
    }

    // identity, account

    pub fn has_account(&self) -> Result<bool, ClientError> {
        Ok(self.0.load(ACCOUNT)?.is_some() || self.0.load(IDENTITY)?.is_some())
    }

    pub fn identity(&self) -> Result<Identity, ClientError> {
        let bytes = self
            .0
            .load(IDENTITY)?
            .ok_or(ClientError::InvalidInput("the key store holds no identity"))?;
        let secret = IdentitySecret::from_bytes(&bytes).map_err(|_| corrupt(IDENTITY))?;
        Ok(Identity::from_secret(&secret))
    }

    pub fn store_identity(&self, identity: &Identity) -> Result<(), ClientError> {
        let secret = identity.danger_export_secret();
        Ok(self.0.store(IDENTITY, &secret.to_bytes()[..])?)
    }

    pub fn account(&self) -> Result<Account, ClientError> {
        self.load_json(ACCOUNT)?
            .ok_or(ClientError::InvalidInput("the key store holds no account"))
    }

    pub fn store_account(&self, account: &Account) -> Result<(), ClientError> {
        self.store_json(ACCOUNT, account)
    }

    // vek/<volume>/<epoch>

    fn vek_key(volume: &VolumeName, epoch: u32) -> String {
        format!("vek/{}/{epoch}", volume.as_str())
    }

    pub fn vek(&self, volume: &VolumeName, epoch: u32) -> Result<Option<VolumeKey>, ClientError> {
        let key = Self::vek_key(volume, epoch);
        match self.0.load(&key)? {
            None => Ok(None),
            Some(bytes) => {
                let array = <[u8; 32]>::try_from(&bytes[..]).map_err(|_| corrupt(&key))?;
                let array = Zeroizing::new(array);
                Ok(Some(VolumeKey::from_bytes(*array)))
            }
        }
    }

    pub fn store_vek(
        &self,
        volume: &VolumeName,
        epoch: u32,
        vek: &VolumeKey,
    ) -> Result<(), ClientError> {
        Ok(self
            .0
            .store(&Self::vek_key(volume, epoch), vek.expose_secret())?)
    }

    pub fn delete_vek(&self, volume: &VolumeName, epoch: u32) -> Result<(), ClientError> {
        Ok(self.0.delete(&Self::vek_key(volume, epoch))?)
    }

    /// Epochs with a stored key, ascending.
    pub fn vek_epochs(&self, volume: &VolumeName) -> Result<Vec<u32>, ClientError> {
        let prefix = format!("vek/{}/", volume.as_str());
        let mut epochs: Vec<u32> = self
            .0
            .list(&prefix)?
            .iter()
            .filter_map(|k| k.strip_prefix(&prefix)?.parse().ok())
            .collect();
        epochs.sort_unstable();
        Ok(epochs)
    }

    // pin/<user>

    fn pin_key(user: Uuid) -> String {
        format!("pin/{}", user.hyphenated())
    }

    pub fn pin(&self, user: Uuid) -> Result<Option<PinRecord>, ClientError> {
        let key = Self::pin_key(user);
        let pin: Option<PinRecord> = self.load_json(&key)?;
        // The record's own fingerprint must name its keys (a half-edited file is not a pin).
        if let Some(p) = &pin
            && p.public().fingerprint() != p.fingerprint
        {
            return Err(corrupt(&key));
        }
        Ok(pin)
    }

    pub fn store_pin(&self, user: Uuid, pin: &PinRecord) -> Result<(), ClientError> {
        self.store_json(&Self::pin_key(user), pin)
    }

    pub fn delete_pin(&self, user: Uuid) -> Result<(), ClientError> {
        Ok(self.0.delete(&Self::pin_key(user))?)
    }

    // hwm

    pub fn hwm(&self) -> Result<HighWater, ClientError> {
        Ok(self.load_json(HWM)?.unwrap_or_default())
    }

    pub fn store_hwm(&self, hwm: &HighWater) -> Result<(), ClientError> {
        self.store_json(HWM, hwm)
    }

    // grant/<friend>

    fn grant_key(friend: Uuid) -> String {
        format!("grant/{}", friend.hyphenated())
    }

    pub fn grant(&self, friend: Uuid) -> Result<Option<GrantRecord>, ClientError> {
        self.load_json(&Self::grant_key(friend))
    }

    pub fn store_grant(&self, friend: Uuid, grant: &GrantRecord) -> Result<(), ClientError> {
        self.store_json(&Self::grant_key(friend), grant)
    }

    pub fn delete_grant(&self, friend: Uuid) -> Result<(), ClientError> {
        Ok(self.0.delete(&Self::grant_key(friend))?)
    }

    /// Every friend with a grant record.
    pub fn granted_friends(&self) -> Result<Vec<Uuid>, ClientError> {
        Ok(self
            .0
            .list("grant/")?
            .iter()
            .filter_map(|k| Uuid::parse_str(k.strip_prefix("grant/")?).ok())
            .collect())
    }

    // invite/<code>: secret(32) ‖ u64 expires_at ‖ code

    fn invite_key(code: &str) -> String {
        format!("invite/{}", code.to_ascii_lowercase())
    }

    pub fn store_invite(
        &self,
        code: &str,
        secret: &InviteSecret,
        expires_at: u64,
    ) -> Result<(), ClientError> {
        let mut value = Zeroizing::new(Vec::with_capacity(40 + code.len()));
        value.extend_from_slice(secret.expose_secret());
        value.extend_from_slice(&expires_at.to_be_bytes());
        value.extend_from_slice(code.as_bytes());
        Ok(self.0.store(&Self::invite_key(code), &value)?)
    }

    /// The invite secret kept for `code` (matched ignoring ASCII case, as the relay does) and
    /// the code exactly as it went into the link.
    pub fn invite(&self, code: &str) -> Result<Option<(InviteSecret, u64, String)>, ClientError> {
        let key = Self::invite_key(code);
        let Some(value) = self.0.load(&key)? else {
            return Ok(None);
        };
        if value.len() < 41 {
            return Err(corrupt(&key));
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&value[..32]);
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&value[32..40]);
        let original = std::str::from_utf8(&value[40..]).map_err(|_| corrupt(&key))?;
        Ok(Some((
            InviteSecret::from_bytes(*secret),
            u64::from_be_bytes(expires),
            original.to_owned(),
        )))
    }

    pub fn delete_invite(&self, code: &str) -> Result<(), ClientError> {
        Ok(self.0.delete(&Self::invite_key(code))?)
    }

    /// Removes the kept secrets of invites that expired before `now`.
    pub fn sweep_invites(&self, now: u64) -> Result<(), ClientError> {
        for key in self.0.list("invite/")? {
            let Some(code) = key.strip_prefix("invite/") else {
                continue;
            };
            match self.invite(code) {
                Ok(Some((_, expires_at, _))) if expires_at > now => {}
                _ => self.0.delete(&key)?,
            }
        }
        Ok(())
    }

    // rotation

    pub fn rotation<T: DeserializeOwned>(&self) -> Result<Option<T>, ClientError> {
        self.load_json(ROTATION)
    }

    pub fn store_rotation<T: Serialize>(&self, plan: &T) -> Result<(), ClientError> {
        self.store_json(ROTATION, plan)
    }

    pub fn delete_rotation(&self) -> Result<(), ClientError> {
        Ok(self.0.delete(ROTATION)?)
    }

    /// Deletes every key of the scheme (account deletion).
    pub fn wipe(&self) -> Result<(), ClientError> {
        for prefix in ["vek/", "pin/", "grant/", "invite/", "relay-list/"] {
            for key in self.0.list(prefix)? {
                self.0.delete(&key)?;
            }
        }
        for key in [
            "relays",
            ROTATION,
            HWM,
            DEVICES,
            OWNER_STATE,
            STATE_KEY,
            DEVICE,
            ACCOUNT,
            IDENTITY,
        ] {
            self.0.delete(key)?;
        }
        Ok(())
    }
}
