//! Several devices of one system (`docs/protocol-v2.md` §13, ADR 0019): linking a device,
//! the owner-only shared key state, and unlinking.
//!
//! Why it exists: every device of a system holds the same identity, but volume keys, grant
//! sequences and pins were per device, so a second device published under a new epoch no
//! friend could read, and signed grants friends refused as rollbacks. Devices now share that
//! state through the **owner state**: one blob per account on the relay, signed by the
//! identity, encrypted under a state key that each linked device receives in its own slot
//! (X25519 to the device's own key, not derivable from the identity key).
//!
//! The serialization rule (deterministic concurrency): a device changes shared key state only
//! by fetching the latest owner state, applying it, making the change, and storing version + 1
//! on the relay *before* using the change (a new volume key, a grant sequence). When the relay
//! refuses the version (another device stored it first), the device fetches the winner,
//! which replaces its shared entries, and the whole operation runs again on top (at most
//! [`ATTEMPTS`] times). So two devices never create two keys for one (volume, epoch) that
//! both get used, and never sign two grants with one sequence.
//!
//! What it must never do: send the identity secret or the state key anywhere the relay can
//! read them; accept an owner state older than one seen (replay); accept a joining device
//! whose proof does not verify, or a package whose identity is not the QR code's.
//!
//! Store keys it adds to the scheme (see [`super`]): `device` (*raw* `id(16) ‖ X25519
//! secret(32) ‖ label`), `state-key` (*raw* `u32 epoch ‖ key(32)`), `owner-state` (the mark:
//! `{version, payload_hash, state_hash}`) and `devices` (the linked devices, shared).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_wire::b64::{PublicKey32, Signature64};
use coffer_wire::v2::api::{
    DeviceJoinRequest, DevicePackage, InviteCode, MAX_DEVICE_LABEL_BYTES, OwnerStateEnvelope,
};
use coffer_wire::v2::{Label, OwnerStateHeader, VolumeName, labelled, owner_state_payload_hash};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::progress::{Cancel, NoProgress};
use super::rotation::Plan;
use super::state::{Account, DEVICE, DEVICES, OWNER_STATE, Role, STATE_KEY, State};
use super::{ClientConfig, ClientError, RelayApi, RotationReport, SystemClient, now_unix};
use crate::identity::Identity;
use crate::storage::{KeyStore, MAX_VALUE_LEN, validate_key};
use crate::transport::{RelayHttp, TransportError};
use crate::v2::{
    DeviceSecret, Fingerprint, InviteLink, InviteSecret, LinkSecret, PackageContents, StateKey,
    link_proof, open_package, open_slot, open_state, seal_package, seal_slot, seal_state,
    split_payload, verify_link_proof,
};

/// The families of store keys the owner state shares (with [`DEVICES`]).
const SHARED_PREFIXES: [&str; 4] = ["vek/", "pin/", "grant/", "invite/"];
/// How many times an operation runs when another device keeps changing the state meanwhile.
pub const ATTEMPTS: usize = 4;
/// How device links start.
const LINK_PREFIX: &str = "coffer://link-device?";
/// How often a link is polled.
const POLL: Duration = Duration::from_millis(300);
const SNAPSHOT_MAGIC: &[u8; 4] = b"CFSS";

/// A linked device, as the owner state lists it ([`SystemClient::devices`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device's id: the first 16 bytes of SHA-256 of its X25519 public key.
    pub id: Uuid,
    /// Its user-chosen label.
    pub label: String,
    /// Its X25519 public key (what its key slot is sealed to).
    pub key: PublicKey32,
    /// When it was linked (Unix seconds, this device's clock).
    pub linked_at: u64,
}

/// The mark of the highest owner state this device saw (rollback detection) and what it held.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Mark {
    version: u64,
    /// SHA-256 of that version's payload (hex): another payload under the same version is a
    /// fork.
    payload_hash: String,
    /// SHA-256 of the shared entries it held (hex): nothing to store while they are unchanged.
    state_hash: String,
}

/// A device link made by [`SystemClient::link_device`]: show [`text`](Self::text) as a QR code
/// to the new device, then call [`SystemClient::confirm_link`].
pub struct DeviceLinkOffer {
    link: InviteLink,
}

impl DeviceLinkOffer {
    /// `coffer://link-device?v=2&relay=…&pin=…&code=…&secret=…&fp=…` (holds the link's secret;
    /// wiped on drop).
    #[must_use]
    pub fn text(&self) -> Zeroizing<String> {
        self.link.to_uri_with(LINK_PREFIX)
    }

    /// The relay-visible code.
    #[must_use]
    pub fn code(&self) -> &str {
        self.link.code()
    }
}

impl std::fmt::Debug for DeviceLinkOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceLinkOffer")
            .field("code", &self.link.code())
            .finish_non_exhaustive()
    }
}

/// Parses a device-link text.
fn parse_link(text: &str) -> Result<InviteLink, ClientError> {
    InviteLink::parse_with(text.trim(), LINK_PREFIX, "not a coffer://link-device? text")
        .map_err(|_| ClientError::InvalidInput("not a valid coffer://link-device? text"))
}

impl ClientConfig {
    /// The relay a device-link text names, trusted by its pin; default timeouts.
    ///
    /// # Errors
    /// [`ClientError::InvalidInput`] for a malformed text.
    pub fn from_device_link(text: &str) -> Result<ClientConfig, ClientError> {
        let link = parse_link(text)?;
        let relay = crate::transport::RelayOrigin::parse(link.relay_origin())
            .map_err(|_| ClientError::InvalidInput("the link's relay origin is invalid"))?;
        let trust =
            crate::transport::Trust::Pinned(link.pin().ok_or(ClientError::InvalidInput(
                "the link names no pin (a Web PKI relay): build the ClientConfig with its roots",
            ))?);
        Ok(ClientConfig {
            relay,
            trust,
            http: crate::transport::RelayHttpConfig::default(),
        })
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The device id of an X25519 public key.
fn device_id(key: &[u8; 32]) -> Uuid {
    let digest = Sha256::digest(key);
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(id)
}

fn corrupt(key: &str) -> ClientError {
    ClientError::Storage(crate::storage::StorageError::Corrupt {
        key: key.to_owned(),
    })
}

fn is_shared(key: &str) -> bool {
    key == DEVICES || SHARED_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// The shared entries of `store`, sorted: `"CFSS" | u8 1 | u32 n | n × (u8 len | key | u32 len | value)`.
fn shared_snapshot(store: &dyn KeyStore) -> Result<Zeroizing<Vec<u8>>, ClientError> {
    let mut keys = Vec::new();
    if store.load(DEVICES)?.is_some() {
        keys.push(DEVICES.to_owned());
    }
    for prefix in SHARED_PREFIXES {
        keys.extend(store.list(prefix)?);
    }
    keys.sort();
    let mut entries = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(value) = store.load(&key)? {
            entries.push((key, value));
        }
    }
    let mut out = Zeroizing::new(Vec::new());
    out.extend_from_slice(SNAPSHOT_MAGIC);
    out.push(1);
    let count = u32::try_from(entries.len()).map_err(|_| ClientError::Protocol("state size"))?;
    out.extend_from_slice(&count.to_be_bytes());
    for (key, value) in &entries {
        let key_len = u8::try_from(key.len()).map_err(|_| ClientError::Protocol("key name"))?;
        let value_len = u32::try_from(value.len()).map_err(|_| ClientError::Protocol("size"))?;
        out.push(key_len);
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&value_len.to_be_bytes());
        out.extend_from_slice(value);
    }
    Ok(out)
}

type Entries = Vec<(String, Zeroizing<Vec<u8>>)>;

/// A snapshot's entries: only shared keys, sorted and unique. The AEAD verified, so a
/// problem here is a client bug or a hostile owner: [`ClientError::Protocol`].
fn parse_snapshot(bytes: &[u8]) -> Result<Entries, ClientError> {
    const BAD: ClientError = ClientError::Protocol("the owner state's contents are malformed");
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], ClientError> {
        if bytes.len() < n {
            return Err(BAD);
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Ok(head)
    }
    fn be_u32(bytes: &mut &[u8]) -> Result<u32, ClientError> {
        let four = <[u8; 4]>::try_from(take(bytes, 4)?).map_err(|_| BAD)?;
        Ok(u32::from_be_bytes(four))
    }
    let mut rest = bytes;
    if take(&mut rest, 4)? != SNAPSHOT_MAGIC || take(&mut rest, 1)? != [1] {
        return Err(BAD);
    }
    let count = be_u32(&mut rest)?;
    let mut entries: Entries = Vec::new();
    for _ in 0..count {
        let key_len = usize::from(take(&mut rest, 1)?[0]);
        let key = std::str::from_utf8(take(&mut rest, key_len)?).map_err(|_| BAD)?;
        if validate_key(key).is_err() || !is_shared(key) {
            return Err(BAD);
        }
        let value_len = usize::try_from(be_u32(&mut rest)?).map_err(|_| BAD)?;
        if value_len > MAX_VALUE_LEN {
            return Err(BAD);
        }
        let value = take(&mut rest, value_len)?;
        if entries.last().is_some_and(|(last, _)| last.as_str() >= key) {
            return Err(BAD);
        }
        entries.push((key.to_owned(), Zeroizing::new(value.to_vec())));
    }
    if !rest.is_empty() {
        return Err(BAD);
    }
    Ok(entries)
}

/// Makes the shared entries of `store` exactly `entries` (the relay-accepted state wins).
fn apply_snapshot(store: &dyn KeyStore, entries: &Entries) -> Result<(), ClientError> {
    let mut local = Vec::new();
    if store.load(DEVICES)?.is_some() {
        local.push(DEVICES.to_owned());
    }
    for prefix in SHARED_PREFIXES {
        local.extend(store.list(prefix)?);
    }
    for key in local {
        if !entries.iter().any(|(k, _)| *k == key) {
            store.delete(&key)?;
        }
    }
    for (key, value) in entries {
        store.store(key, value)?;
    }
    Ok(())
}

/// Typed access to the device entries of a store.
struct Devices<'a>(&'a dyn KeyStore);

impl Devices<'_> {
    fn own(&self) -> Result<Option<(Uuid, DeviceSecret, String)>, ClientError> {
        let Some(value) = self.0.load(DEVICE)? else {
            return Ok(None);
        };
        if value.len() < 48 {
            return Err(corrupt(DEVICE));
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&value[16..48]);
        let id = Uuid::from_slice(&value[..16]).map_err(|_| corrupt(DEVICE))?;
        let label = std::str::from_utf8(&value[48..])
            .map_err(|_| corrupt(DEVICE))?
            .to_owned();
        Ok(Some((id, DeviceSecret::from_bytes(*secret), label)))
    }

    fn store_own(&self, secret: &DeviceSecret, label: &str) -> Result<Uuid, ClientError> {
        let id = device_id(&secret.public());
        let mut value = Zeroizing::new(Vec::with_capacity(48 + label.len()));
        value.extend_from_slice(id.as_bytes());
        value.extend_from_slice(&secret.to_bytes()[..]);
        value.extend_from_slice(label.as_bytes());
        self.0.store(DEVICE, &value)?;
        Ok(id)
    }

    fn state_key(&self) -> Result<Option<(u32, StateKey)>, ClientError> {
        let Some(value) = self.0.load(STATE_KEY)? else {
            return Ok(None);
        };
        if value.len() != 36 {
            return Err(corrupt(STATE_KEY));
        }
        let epoch = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&value[4..]);
        Ok(Some((epoch, StateKey::from_bytes(*key))))
    }

    fn store_state_key(&self, epoch: u32, key: &StateKey) -> Result<(), ClientError> {
        let mut value = Zeroizing::new(Vec::with_capacity(36));
        value.extend_from_slice(&epoch.to_be_bytes());
        value.extend_from_slice(key.expose_secret());
        Ok(self.0.store(STATE_KEY, &value)?)
    }

    fn mark(&self) -> Result<Mark, ClientError> {
        match self.0.load(OWNER_STATE)? {
            None => Ok(Mark::default()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| corrupt(OWNER_STATE)),
        }
    }

    fn store_mark(&self, mark: &Mark) -> Result<(), ClientError> {
        let bytes =
            serde_json::to_vec(mark).map_err(|_| ClientError::Protocol("state encoding"))?;
        Ok(self.0.store(OWNER_STATE, &bytes)?)
    }

    fn list(&self) -> Result<Vec<DeviceInfo>, ClientError> {
        match self.0.load(DEVICES)? {
            None => Ok(Vec::new()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| corrupt(DEVICES)),
        }
    }

    fn store_list(&self, devices: &[DeviceInfo]) -> Result<(), ClientError> {
        let bytes =
            serde_json::to_vec(devices).map_err(|_| ClientError::Protocol("state encoding"))?;
        Ok(self.0.store(DEVICES, &bytes)?)
    }
}

fn valid_label(label: &str) -> Result<(), ClientError> {
    if label.is_empty()
        || label.len() > MAX_DEVICE_LABEL_BYTES
        || label.chars().any(char::is_control)
    {
        return Err(ClientError::InvalidInput(
            "a device label is 1-64 bytes without control characters",
        ));
    }
    Ok(())
}

impl<R: RelayApi> SystemClient<R> {
    fn devices_store(&self) -> Devices<'_> {
        Devices(self.store.as_ref())
    }

    /// Runs `op` again (up to [`ATTEMPTS`] in all) while it fails with
    /// [`ClientError::StateChanged`]: each failure already applied the newer owner state.
    pub(super) async fn retrying<T, F, Fut>(&self, mut op: F) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        for _ in 1..ATTEMPTS {
            match op().await {
                Err(ClientError::StateChanged) => {
                    tracing::debug!("owner state changed by another device; running again");
                }
                other => return other,
            }
        }
        op().await
    }

    /// Fetches the owner state and, when it is newer than the last one seen, replaces the
    /// shared entries with it. Nothing to do on a device that shares no state.
    pub(super) async fn pull_state(&self) -> Result<(), ClientError> {
        let devices = self.devices_store();
        if devices.state_key()?.is_none() {
            return Ok(());
        }
        let mark = devices.mark()?;
        let Some(served) = self.relay.get_owner_state().await? else {
            return if mark.version > 0 {
                Err(ClientError::OwnerStateRollback)
            } else {
                Ok(())
            };
        };
        let header = self.verify_owner_state(&served)?;
        let payload_hash = hex::encode(header.payload_hash);
        if header.version < mark.version
            || (header.version == mark.version && payload_hash != mark.payload_hash)
        {
            return Err(ClientError::OwnerStateRollback);
        }
        if header.version == mark.version {
            return Ok(());
        }
        let (id, secret, _) = devices
            .own()?
            .ok_or(ClientError::Protocol("a shared state without a device key"))?;
        let (slots, body) = split_payload(&served.payload)?;
        let key = open_slot(self.user_id, header.key_epoch, id, &secret, &slots)?
            .ok_or(ClientError::DeviceUnlinked)?;
        let plain = open_state(&key, &header.core(), body)?;
        let entries = parse_snapshot(&plain)?;
        apply_snapshot(self.store.as_ref(), &entries)?;
        devices.store_state_key(header.key_epoch, &key)?;
        devices.store_mark(&Mark {
            version: header.version,
            payload_hash,
            state_hash: sha256_hex(&plain),
        })?;
        tracing::debug!(version = header.version, "owner state applied");
        Ok(())
    }

    /// The header of a served owner state, verified under the own identity: signature, owner,
    /// payload length and hash.
    fn verify_owner_state(
        &self,
        served: &OwnerStateEnvelope,
    ) -> Result<OwnerStateHeader, ClientError> {
        let mut message = labelled(Label::OwnerState);
        message.extend_from_slice(&served.header);
        let key = ed25519_dalek::VerifyingKey::from_bytes(&self.identity.public_signing_key())
            .map_err(|_| ClientError::BadSignature)?;
        let signature = ed25519_dalek::Signature::from_bytes(served.signature.as_bytes());
        key.verify_strict(&message, &signature)
            .map_err(|_| ClientError::BadSignature)?;
        let header = OwnerStateHeader::parse(&served.header)
            .map_err(|_| ClientError::Protocol("a signed owner-state header is malformed"))?;
        if header.owner != *self.user_id.as_bytes() {
            return Err(ClientError::WrongOwner);
        }
        if header.payload_len as usize != served.payload.len()
            || owner_state_payload_hash(&served.payload) != header.payload_hash
        {
            return Err(ClientError::Tampered);
        }
        Ok(header)
    }

    /// Stores the shared entries as the next owner state version when they changed since the
    /// last one: the step before a new key or grant sequence is used. On a conflict the newer
    /// state is applied and [`ClientError::StateChanged`] returned (the caller runs again).
    pub(super) async fn commit_shared(&self) -> Result<(), ClientError> {
        let devices = self.devices_store();
        let Some((epoch, key)) = devices.state_key()? else {
            return Ok(());
        };
        let plain = shared_snapshot(self.store.as_ref())?;
        let mark = devices.mark()?;
        let state_hash = sha256_hex(&plain);
        if mark.state_hash == state_hash {
            return Ok(());
        }
        let version = mark
            .version
            .checked_add(1)
            .ok_or(ClientError::Protocol("owner-state version overflow"))?;
        let slots = devices
            .list()?
            .iter()
            .map(|d| seal_slot(self.user_id, epoch, d.id, d.key.as_bytes(), &key))
            .collect::<Result<Vec<_>, _>>()?;
        let hour = coffer_wire::time::floor_to_hour(i64::try_from(now_unix()).unwrap_or(0));
        let mut header = OwnerStateHeader {
            owner: *self.user_id.as_bytes(),
            key_epoch: epoch,
            version,
            hour: u64::try_from(hour).unwrap_or(0),
            payload_len: 0,
            payload_hash: [0; 32],
        };
        let payload = seal_state(&key, &header.core(), &slots, &plain)?;
        header.payload_len = u32::try_from(payload.len())
            .map_err(|_| ClientError::InvalidInput("the shared key state is too large"))?;
        header.payload_hash = owner_state_payload_hash(&payload);
        let header_bytes = header.to_bytes();
        let mut message = labelled(Label::OwnerState);
        message.extend_from_slice(&header_bytes);
        let envelope = OwnerStateEnvelope {
            header: header_bytes,
            signature: Signature64::from_bytes(self.identity.sign(&message)),
            payload,
        };
        match self.relay.put_owner_state(&envelope).await {
            Ok(()) => {
                devices.store_mark(&Mark {
                    version,
                    payload_hash: hex::encode(header.payload_hash),
                    state_hash,
                })?;
                tracing::debug!(version, "owner state stored");
                Ok(())
            }
            Err(TransportError::Conflict { .. }) => {
                self.pull_state().await?;
                Err(ClientError::StateChanged)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The devices linked to this system (empty while it has never linked one).
    ///
    /// # Errors
    /// Storage errors.
    pub fn devices(&self) -> Result<Vec<DeviceInfo>, ClientError> {
        self.devices_store().list()
    }

    /// This device's id, once it has a device key (after its first link or join).
    ///
    /// # Errors
    /// Storage errors.
    pub fn device_id(&self) -> Result<Option<Uuid>, ClientError> {
        Ok(self.devices_store().own()?.map(|(id, _, _)| id))
    }

    /// Makes this device the first of a shared state if it is none yet: a device key labelled
    /// `label`, the state key of epoch 1, a device list with itself.
    fn ensure_shared(&self, label: &str) -> Result<(), ClientError> {
        let devices = self.devices_store();
        let (id, secret, label) = match devices.own()? {
            Some(own) => own,
            None => {
                let secret = DeviceSecret::generate();
                let id = devices.store_own(&secret, label)?;
                (id, secret, label.to_owned())
            }
        };
        if devices.state_key()?.is_none() {
            let mut list = devices.list()?;
            if !list.iter().any(|d| d.id == id) {
                list.push(DeviceInfo {
                    id,
                    label,
                    key: PublicKey32::from_bytes(secret.public()),
                    linked_at: now_unix(),
                });
            }
            devices.store_list(&list)?;
            devices.store_state_key(1, &StateKey::generate())?;
        }
        Ok(())
    }

    /// Starts linking another device: creates a link on the relay (valid ten minutes) and
    /// returns its text for a QR code. Then call [`confirm_link`](Self::confirm_link). The
    /// first link makes this device the first of the shared key state (labelled
    /// `this_label` if it has no label yet).
    ///
    /// # Errors
    /// Relay and storage errors; [`ClientError::InvalidInput`] for a bad label.
    pub async fn link_device(&self, this_label: &str) -> Result<DeviceLinkOffer, ClientError> {
        valid_label(this_label)?;
        let _ops = self.ops.lock().await;
        self.ensure_shared(this_label)?;
        let link = self.relay.create_device_link().await?;
        let secret = InviteSecret::generate();
        let link = InviteLink::new(
            self.relay.origin().as_str(),
            self.relay_pin(),
            link.code.as_str(),
            secret,
            self.fingerprint(),
        )?;
        Ok(DeviceLinkOffer { link })
    }

    /// Waits (up to `timeout`) for the new device to join `offer`, checks its proof (a relay
    /// that substitutes the device's key cannot forge it), adds it to the owner state with a
    /// key slot, and sends it the package (identity, user id, state key) encrypted to its key.
    ///
    /// # Errors
    /// [`ClientError::DeviceLinkInvalid`] for a proof that does not match;
    /// [`ClientError::DeviceLinkExpired`] if no device joined in time; relay and storage
    /// errors.
    pub async fn confirm_link(
        &self,
        offer: &DeviceLinkOffer,
        timeout: Duration,
    ) -> Result<DeviceInfo, ClientError> {
        let code =
            InviteCode::new(offer.link.code()).map_err(|_| ClientError::Protocol("link code"))?;
        let started = Instant::now();
        let join = loop {
            match self.relay.device_link(&code).await {
                Ok(status) => {
                    if let Some(join) = status.join {
                        break join;
                    }
                }
                Err(TransportError::NotFound) => return Err(ClientError::DeviceLinkExpired),
                Err(e) => return Err(e.into()),
            }
            if started.elapsed() >= timeout {
                return Err(ClientError::DeviceLinkExpired);
            }
            tokio::time::sleep(POLL).await;
        };
        let secret = LinkSecret::from_bytes(*offer.link.secret().expose_secret());
        let device_key = *join.device_key.as_bytes();
        if !verify_link_proof(
            &secret,
            code.as_str(),
            &join.label,
            &device_key,
            &join.proof,
        ) {
            return Err(ClientError::DeviceLinkInvalid(
                "the joining device's proof does not match the key the relay presents",
            ));
        }
        let info = DeviceInfo {
            id: device_id(&device_key),
            label: join.label.clone(),
            key: join.device_key,
            linked_at: now_unix(),
        };
        let (key_epoch, state_key) = self
            .retrying(|| async {
                let mut ops = self.ops.lock().await;
                self.prepare_pub(&mut ops).await?;
                let devices = self.devices_store();
                let mut list = devices.list()?;
                if !list.iter().any(|d| d.id == info.id) {
                    list.push(info.clone());
                    devices.store_list(&list)?;
                }
                self.commit_shared().await?;
                devices
                    .state_key()?
                    .ok_or(ClientError::Protocol("no state key after linking"))
            })
            .await?;
        let package = seal_package(
            &secret,
            code.as_str(),
            &device_key,
            &self.fingerprint(),
            &PackageContents {
                identity: self.identity.danger_export_secret(),
                owner: self.user_id,
                key_epoch,
                state_key,
            },
        )?;
        self.relay
            .put_device_package(&code, &DevicePackage { package })
            .await?;
        Ok(info)
    }

    /// Unlinks `device`: a new state key with slots for the remaining devices only, then every
    /// volume rotated to a new epoch and friends re-granted (as a revocation does), so the
    /// unlinked device — which keeps the identity and the old keys — reads nothing published
    /// afterwards. Its relay sessions (those carrying its label) are revoked first, so its
    /// next request is refused at once. It does not stop that device from logging in again or
    /// signing: the identity is shared (a device in hostile hands needs a new identity).
    ///
    /// # Errors
    /// [`ClientError::NotFound`] for a device not in the list; [`ClientError::InvalidInput`]
    /// for this device; relay and storage errors (an interrupted rotation resumes).
    pub async fn unlink_device(&self, device: Uuid) -> Result<RotationReport, ClientError> {
        self.retrying(|| self.unlink_attempt(device)).await
    }

    async fn unlink_attempt(&self, device: Uuid) -> Result<RotationReport, ClientError> {
        let mut ops = self.ops.lock().await;
        self.prepare_pub(&mut ops).await?;
        let devices = self.devices_store();
        if devices.own()?.is_some_and(|(id, _, _)| id == device) {
            return Err(ClientError::InvalidInput(
                "a device cannot unlink itself; unlink it from another linked device",
            ));
        }
        let mut list = devices.list()?;
        let Some(label) = list
            .iter()
            .find(|d| d.id == device)
            .map(|d| d.label.clone())
        else {
            return Err(ClientError::NotFound);
        };
        // Its sessions end first, while nothing has changed yet: if the relay cannot be told,
        // the unlink fails whole and can be retried.
        self.revoke_device_sessions(&label).await?;
        list.retain(|d| d.id != device);
        let (epoch, _) = devices
            .state_key()?
            .ok_or(ClientError::Protocol("no shared state to unlink from"))?;
        let next = epoch
            .checked_add(1)
            .ok_or(ClientError::Protocol("state key epoch overflow"))?;
        devices.store_list(&list)?;
        devices.store_state_key(next, &StateKey::generate())?;
        self.commit_shared().await?;
        let mut volumes = std::collections::BTreeSet::new();
        for key in self.store.list("vek/")? {
            if let Some(name) = key.strip_prefix("vek/").and_then(|k| k.split('/').next())
                && let Ok(volume) = VolumeName::new(name)
            {
                volumes.insert(volume);
            }
        }
        let plan = Plan::rotate_all(self, &volumes)?;
        self.start_plan(plan, &NoProgress, &Cancel::new()).await
    }
}

impl<R: RelayApi> SystemClient<R> {
    /// Ends the relay sessions that carry `label` (a device logs in with its label: [`join`]
    /// sets it), except this connection's own. How many ended.
    ///
    /// [`join`]: SystemClient::join
    async fn revoke_device_sessions(&self, label: &str) -> Result<u64, ClientError> {
        let mut revoked = 0;
        for session in self.relay.list_sessions().await? {
            let labelled = session
                .device_label
                .as_ref()
                .is_some_and(|l| l.as_str() == label);
            if labelled && !session.current {
                match self.relay.revoke_session(session.session_id).await {
                    // Already gone (expired or revoked meanwhile): nothing left to end.
                    Ok(()) | Err(TransportError::NotFound) => revoked += 1,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(revoked)
    }
}

impl SystemClient<RelayHttp> {
    /// Joins a system as a new device from the text of a device link (scanned from a linked
    /// device, which then runs [`confirm_link`](SystemClient::confirm_link)): generates this
    /// device's key, posts it with a proof keyed by the link's secret, waits up to `timeout`
    /// for the package, opens it, checks the identity against the fingerprint in the text,
    /// and opens the account with the shared state. `store` must be empty; on any error it is
    /// left empty.
    ///
    /// # Errors
    /// [`ClientError::DeviceLinkInvalid`] for a package that does not open or names another
    /// identity; [`ClientError::DeviceLinkExpired`] if the package did not come in time;
    /// [`ClientError::InvalidInput`] for a bad text, label or a non-empty store; relay errors.
    pub async fn join(
        config: ClientConfig,
        store: Arc<dyn KeyStore>,
        link_text: &str,
        label: &str,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        valid_label(label)?;
        let mut config = config;
        if config.http.device_label.is_none() {
            // The device logs in under its label, so unlinking it can end its sessions.
            config.http.device_label = crate::transport::DeviceLabel::new(label).ok();
        }
        let state = State(store.as_ref());
        if state.has_account()? || store.load(DEVICE)?.is_some() {
            return Err(ClientError::InvalidInput(
                "the key store already holds an account; open it instead",
            ));
        }
        let link = parse_link(link_text)?;
        if config.relay.as_str() != link.relay_origin() {
            return Err(ClientError::InvalidInput(
                "the link names another relay than the configuration",
            ));
        }
        let code = InviteCode::new(link.code()).map_err(|_| ClientError::Protocol("code"))?;
        let secret = LinkSecret::from_bytes(*link.secret().expose_secret());
        let device = DeviceSecret::generate();
        let http = RelayHttp::new(config.relay.clone(), &config.trust, config.http.clone())?;
        let proof = link_proof(&secret, code.as_str(), label, &device.public())?;
        http.join_device_link(
            &code,
            &DeviceJoinRequest {
                device_key: PublicKey32::from_bytes(device.public()),
                label: label.to_owned(),
                proof,
            },
        )
        .await?;
        let started = Instant::now();
        let package = loop {
            if let Some(package) = http.device_package(&code).await? {
                break package;
            }
            if started.elapsed() >= timeout {
                return Err(ClientError::DeviceLinkExpired);
            }
            tokio::time::sleep(POLL).await;
        };
        let contents = open_package(
            &secret,
            code.as_str(),
            &device,
            &link.system_fingerprint(),
            &package.package,
        )
        .map_err(|_| {
            ClientError::DeviceLinkInvalid(
                "the package does not open or names another identity than the link",
            )
        })?;
        Self::install_joined(config, store, contents, &device, label).await
    }

    async fn install_joined(
        config: ClientConfig,
        store: Arc<dyn KeyStore>,
        contents: PackageContents,
        device: &DeviceSecret,
        label: &str,
    ) -> Result<Self, ClientError> {
        let state = State(store.as_ref());
        let written = (|| -> Result<(), ClientError> {
            let devices = Devices(store.as_ref());
            devices.store_own(device, label)?;
            devices.store_state_key(contents.key_epoch, &contents.state_key)?;
            state.store_identity(&Identity::from_secret(&contents.identity))?;
            state.store_account(&Account {
                user_id: contents.owner,
                role: Role::System,
                relay: config.relay.as_str().to_owned(),
                relay_pin: super::pin_text(&config.trust),
                relay_next_pin: super::next_pin_text(&config.trust),
                relay_former_pins: Vec::new(),
            })
        })();
        let opened = match written {
            Ok(()) => match super::relay_for(&config, &store)
                .and_then(|relay| SystemClient::with_relay(relay, Arc::clone(&store)))
            {
                Ok(client) => {
                    let mut ops = client.ops.lock().await;
                    let prepared = client.prepare_pub(&mut ops).await;
                    drop(ops);
                    prepared.map(|()| client)
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        if opened.is_err() {
            state.wipe()?;
        }
        opened
    }
}

/// The fingerprint a device-link text names (show it next to the QR code's confirmation).
///
/// # Errors
/// [`ClientError::InvalidInput`] for a malformed text.
pub fn device_link_fingerprint(text: &str) -> Result<Fingerprint, ClientError> {
    Ok(parse_link(text)?.system_fingerprint())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryKeyStore;

    #[test]
    fn snapshots_carry_only_shared_entries_and_apply_exactly() {
        let a = MemoryKeyStore::new();
        a.store("vek/meta/1", &[1; 32]).expect("store");
        a.store("grant/x", b"{}").expect("store");
        a.store(DEVICES, b"[]").expect("store");
        a.store("identity", &[9; 65]).expect("store");
        a.store("hwm", b"{}").expect("store");
        let snap = shared_snapshot(&a).expect("snapshot");
        let entries = parse_snapshot(&snap).expect("parse");
        assert_eq!(
            entries.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["devices", "grant/x", "vek/meta/1"]
        );
        let b = MemoryKeyStore::new();
        b.store("vek/old/1", &[2; 32]).expect("store");
        b.store("hwm", b"{\"x\":1}").expect("store");
        apply_snapshot(&b, &entries).expect("apply");
        assert!(b.load("vek/old/1").expect("load").is_none());
        assert!(
            b.load("hwm").expect("load").is_some(),
            "device-local entries stay"
        );
        assert_eq!(&shared_snapshot(&b).expect("snapshot")[..], &snap[..]);
        let mut outside = b"CFSS\x01\0\0\0\x01".to_vec();
        outside.push(8);
        outside.extend_from_slice(b"identity");
        outside.extend_from_slice(&[0, 0, 0, 0]);
        assert!(parse_snapshot(&outside).is_err());
        assert!(parse_snapshot(&snap[..snap.len() - 1]).is_err());
    }

    #[test]
    fn device_link_texts_round_trip_and_are_not_invites() {
        let link = InviteLink::new(
            "https://relay.example:8443",
            Some(
                "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk="
                    .parse()
                    .expect("pin"),
            ),
            "ABCD",
            InviteSecret::generate(),
            Identity::generate().fingerprint(),
        )
        .expect("link");
        let offer = DeviceLinkOffer { link };
        let text = offer.text();
        assert!(text.starts_with("coffer://link-device?v=2&relay="));
        let parsed = parse_link(&text).expect("parses");
        assert_eq!(parsed.code(), "ABCD");
        assert!(parse_link(&offer.link.to_uri()).is_err());
        assert!(InviteLink::parse(&text).is_err());
        let config = ClientConfig::from_device_link(&text).expect("config");
        assert_eq!(config.relay.as_str(), "https://relay.example:8443");
    }
}
