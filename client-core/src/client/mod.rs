//! The System and Friend clients: the state machines an app embeds (design §3, flows 1–8).
//!
//! Why this module exists: the crypto core ([`crate::v2`]) is pure and the transport
//! ([`crate::transport`]) only moves bytes; something has to remember keys, pins, counters and
//! half-finished rotations between runs, and apply every check of `docs/protocol-v2.md` §7 in
//! the right order. [`SystemClient`] publishes volumes, invites, approves, narrows and revokes
//! friends (rotating keys, P8); [`FriendClient`] redeems invites and reads what it was granted.
//! The long operations (rotation, publish) have `*_with` variants that report [`Progress`] and
//! stop on a [`Cancel`] token without losing resumability; both clients export their whole key
//! state as a passphrase-encrypted backup and restore it on a new device (`export_backup`,
//! `restore_backup`, P12).
//!
//! What it must never do:
//! - write plaintext anywhere: decrypted volumes exist only in memory ([`Fetched::Updated`]
//!   holds them in a buffer wiped on drop); the [`KeyStore`] receives key state only;
//! - trust the relay for keys, grants or versions: peers' keys are checked against the
//!   fingerprint pinned at pairing (P5), everything served is verified under a pinned key,
//!   and rollback marks only move up (P7);
//! - sign a login challenge twice ([`ClientError::ChallengeReplayed`]);
//! - upload under a new key epoch before the rotation plan and its keys are on disk.
//!
//! # Persisted state
//!
//! Everything goes through the app's [`KeyStore`] under these names (values are JSON unless
//! marked *raw*; the store protects them, see [`crate::storage`]):
//!
//! | Key | Side | Value |
//! |---|---|---|
//! | `identity` | both | *raw* 65 bytes of [`IdentitySecret`](crate::identity::IdentitySecret) |
//! | `account` | both | `{user_id, role: "system"\|"friend", relay: origin, relay_pin?}` |
//! | `vek/<volume>/<epoch>` | system | *raw* 32-byte volume key of that epoch |
//! | `pin/<user>` | both | peer pinned at pairing: `{fingerprint, signing_key, exchange_key, handle?, pairing_id?}` |
//! | `hwm` | both | [`HighWater`](crate::v2::HighWater): highest (epoch, version) per (owner, volume) and grant sequence per (owner, friend) |
//! | `grant/<friend>` | system | `{sequence, volumes, expires_at?}`: last grant sequence used and the volumes granted |
//! | `invite/<code>` | system | *raw* `secret(32) ‖ u64 expires_at ‖ code`: the invite secret, kept until the friend is approved or the invite expires |
//! | `rotation` | system | the rotation plan in progress (see [`SystemClient::resume_rotation`]) |
//! | `device` | system | *raw* `id(16) ‖ X25519 secret(32) ‖ label`: this device's own key (§13) |
//! | `state-key` | system | *raw* `u32 epoch ‖ key(32)`: the owner state's key (§13) |
//! | `owner-state` | system | `{version, payload_hash, state_hash}`: the highest owner state seen (rollback mark) |
//! | `devices` | system | the linked devices `[{id, label, key, linked_at}]` (shared through the owner state) |
//!
//! `<user>` and `<friend>` are hyphenated UUIDs, `<code>` the invite code in lower case. A
//! store belongs to one account and one client instance at a time. Restarting the app
//! (`open` on the same store) resumes everything, including version numbering and an
//! interrupted rotation. A second device of a system joins through a device link
//! ([`SystemClient::link_device`], [`SystemClient::join`]) and then shares `devices`, `vek/…`,
//! `pin/…`, `grant/…` and `invite/…` with the other devices through the owner state (§13);
//! `hwm`, `rotation` and the device's own keys stay local. A device set up with only
//! `identity` and `account` ([`SystemClient::restore`]) has none of the volume keys, so its
//! first publish of each volume starts a new key epoch.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use coffer_client_core::client::{ClientConfig, Fetched, FriendClient, SystemClient};
//! use coffer_client_core::storage::MemoryKeyStore;
//! use coffer_client_core::transport::{RelayHttpConfig, Trust};
//! use coffer_wire::v2::VolumeName;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ClientConfig {
//!     relay: "https://relay.example.org:8443".parse()?,
//!     trust: Trust::Pinned("sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=".parse()?),
//!     http: RelayHttpConfig::default(),
//! };
//! let meta = VolumeName::new("meta")?;
//! let system = SystemClient::register(config.clone(), Arc::new(MemoryKeyStore::new()), None).await?;
//! system.publish(&meta, br#"{"schema_version":2}"#).await?;
//! let link = system.create_invite().await?; // shown as a QR code
//!
//! let friend = FriendClient::register(config, Arc::new(MemoryKeyStore::new()), None).await?;
//! let paired = friend.redeem(&link).await?;
//! for request in system.pending_requests().await? {
//!     if request.proof_valid {
//!         system.approve(request.friend_id, &[meta.clone()], None).await?;
//!     }
//! }
//! if let Fetched::Updated { plaintext, .. } = friend.fetch(paired.system_id, &meta).await? {
//!     assert_eq!(&plaintext[..], br#"{"schema_version":2}"#);
//! }
//! # Ok(())
//! # }
//! ```

mod backup;
mod delete;
mod devices;
mod error;
mod friend;
mod login;
mod owner;
mod progress;
mod receipts;
mod relay;
mod relay_state;
mod relays;
mod replicated;
mod rotation;
mod sessions;
mod state;
mod system;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_wire::b64::{PublicKey32, Signature64};
use coffer_wire::v2::VolumeName;
use uuid::Uuid;
use zeroize::Zeroizing;

pub use delete::VolumeDeleted;
pub use devices::{ATTEMPTS, DeviceInfo, DeviceLinkOffer, device_link_fingerprint};
pub use error::ClientError;
pub use friend::FriendClient;
pub use login::{GuardedSigner, IdentityLogin, REMEMBERED_NONCES, SignRefused};
pub use owner::{FriendGrant, FriendInfo, FriendStatus, OwnVolume, Restored};
pub use progress::{Cancel, NoProgress, Progress};
pub use receipts::{ReadReceipt, ReceiptRejection, Receipts, RejectedReceipt};
pub use relay::RelayApi;
pub use relays::{FetchedFrom, FollowReport, RelayRefusal, RelayRepair, RepairReport};
pub use replicated::{
    Connector, HttpConnector, ReplicaResult, ReplicaStatus, Replicated, Replication,
};
pub use system::SystemClient;

use self::state::{Account, Role, State};
use crate::identity::Identity;
use crate::storage::KeyStore;
use crate::transport::{
    Authenticator, ClientType, Handle, RegisterRequest, RelayHttp, RelayHttpConfig, RelayOrigin,
    Trust, UserId,
};
use crate::v2::Fingerprint;

/// Where and how a client reaches its relay.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The relay's origin (`https://host:port`): what is dialled and signed at login.
    pub relay: RelayOrigin,
    /// How the relay's certificate is checked (a pin for a self-signed relay, or Web PKI).
    pub trust: Trust,
    /// Timeouts and limits.
    pub http: RelayHttpConfig,
}

impl ClientConfig {
    /// The relay a scanned pairing string names (`coffer://relay?v=2&relay=…&pin=…[&next=…]`,
    /// printed by the relay's banner and `coffer-admin cert pair --url`), trusted by its pin
    /// and, when announced, its next pin; default timeouts and limits. Enough to register or
    /// open an account.
    ///
    /// ```
    /// use coffer_client_core::client::ClientConfig;
    /// use coffer_client_core::transport::Trust;
    ///
    /// let config = ClientConfig::from_pairing(
    ///     "coffer://relay?v=2&relay=https%3A%2F%2F192.168.1.50%3A8443\
    ///      &pin=sha256%2Fir1tJFN1j7T1TgwhD6HnuMNoeDjRx%2BUyULFQr%2BB0iSk%3D",
    /// )?;
    /// assert_eq!(config.relay.as_str(), "https://192.168.1.50:8443");
    /// assert!(matches!(config.trust, Trust::Pinned(_)));
    /// # Ok::<(), coffer_client_core::client::PairingError>(())
    /// ```
    ///
    /// # Errors
    /// [`PairingError`]: not a relay pairing string (an invite link is named as such), or a
    /// malformed one.
    pub fn from_pairing(text: &str) -> Result<ClientConfig, PairingError> {
        let text = text.trim();
        if text.starts_with(INVITE_PREFIX) {
            return Err(PairingError::InviteLink);
        }
        let pairing: coffer_certs::RelayPairing = text.parse().map_err(|e| match e {
            coffer_certs::CertError::InvalidPairing { reason } => PairingError::Invalid { reason },
            _ => PairingError::Invalid {
                reason: "not a relay pairing string",
            },
        })?;
        let relay = RelayOrigin::parse(pairing.origin())
            .map_err(|e| PairingError::Invalid { reason: e.reason })?;
        let trust = match pairing.next_pin() {
            Some(next) => Trust::PinnedRotating {
                current: pairing.pin(),
                next,
            },
            None => Trust::Pinned(pairing.pin()),
        };
        Ok(ClientConfig {
            relay,
            trust,
            http: RelayHttpConfig::default(),
        })
    }
}

/// How v2 invite links start (`docs/protocol-v2.md` §5).
const INVITE_PREFIX: &str = "coffer://pair?";
/// How relay pairing strings start.
pub const RELAY_PAIRING_PREFIX: &str = "coffer://relay?";

/// Why [`ClientConfig::from_pairing`] refused a text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PairingError {
    /// The text is an invite link (`coffer://pair?…`, from another user's device), not the
    /// relay's pairing string. Give it to `FriendClient::redeem` (bindings: `InviteLink.parse`
    /// then `ClientConfig.fromInvite`).
    #[error(
        "this is an invite link (coffer://pair?…), not a relay pairing string: redeem it as an \
         invite (InviteLink.parse, ClientConfig.from_invite)"
    )]
    InviteLink,
    /// Not a valid `coffer://relay?v=2&relay=…&pin=…` string.
    #[error(
        "not a relay pairing string ({reason}); expected coffer://relay?v=2&relay=…&pin=… as the \
         relay prints it (banner, coffer-admin cert pair --url)"
    )]
    Invalid {
        /// What is wrong.
        reason: &'static str,
    },
}

/// A [`RelayHttp`] for `config` that logs in as the account persisted in `store` (its
/// [`IdentityLogin`]). Wrap it (tests: a tampering decorator) and hand it to
/// [`SystemClient::with_relay`] / [`FriendClient::with_relay`].
///
/// A pinned account is bound to its relay's key, not to an address (ADR 0015): `config` may
/// name another address of the same relay when its pin is the account's current, announced
/// next or a former pin of that relay; the connection then trusts the account's current and
/// next pins. A pin the account does not know is accepted only at the account's own address
/// (an explicit re-pin, e.g. after the operator replaced the key), and TLS then decides.
///
/// # Errors
/// [`ClientError::InvalidInput`] if the store holds no account, or one on another relay
/// (neither the address nor the key match); [`ClientError::Storage`].
pub fn relay_for(
    config: &ClientConfig,
    store: &Arc<dyn KeyStore>,
) -> Result<RelayHttp, ClientError> {
    let account = State(store.as_ref()).account()?;
    let trust = bind(config, &account)?;
    let http = RelayHttp::new(config.relay.clone(), &trust, config.http.clone())?;
    Ok(http.with_authenticator(authenticator(store)?))
}

/// The refusal when `config` names another relay than the account's.
const ANOTHER_RELAY: &str = "the key store belongs to an account on another relay: neither the \
     address nor the pin matches the relay this account was paired with (a new address of the \
     same relay needs its pin, e.g. from its pairing string)";

/// The trust a connection for the account needs under `config` (see [`relay_for`]).
fn bind(config: &ClientConfig, account: &Account) -> Result<Trust, ClientError> {
    let corrupt = || {
        ClientError::Storage(crate::storage::StorageError::Corrupt {
            key: state::ACCOUNT.to_owned(),
        })
    };
    let parse = |pin: &String| pin.parse::<coffer_certs::SpkiPin>().map_err(|_| corrupt());
    let same_address = account.relay == config.relay.as_str();
    let current = account.relay_pin.as_ref().map(parse).transpose()?;
    let offered = config.trust.pins();
    let (Some(current), false) = (current, offered.is_empty()) else {
        // Web PKI on either side: the name is the identity, as before ADR 0015.
        return if same_address {
            Ok(config.trust.clone())
        } else {
            Err(ClientError::InvalidInput(ANOTHER_RELAY))
        };
    };
    let next = account.relay_next_pin.as_ref().map(parse).transpose()?;
    let mut known = vec![current];
    known.extend(next);
    for former in &account.relay_former_pins {
        known.push(parse(former)?);
    }
    if offered.iter().any(|pin| known.contains(pin)) {
        return Ok(match next {
            Some(next) => Trust::PinnedRotating { current, next },
            None => Trust::Pinned(current),
        });
    }
    if same_address {
        Ok(config.trust.clone())
    } else {
        Err(ClientError::InvalidInput(ANOTHER_RELAY))
    }
}

/// After a verified contact through `http` (its TLS trust vouched for the relay): records the
/// address it reached as the account's, and the relay's current and announced next pin from
/// `GET /api/v2/pins` when the current one is among the pins `http` trusted (ADR 0015).
async fn refresh_relay(http: &RelayHttp, store: &Arc<dyn KeyStore>) -> Result<(), ClientError> {
    let (current, next) = http.pins().await?;
    let state = State(store.as_ref());
    let mut account = state.account()?;
    let before =
        serde_json::to_vec(&account).map_err(|_| ClientError::Protocol("state encoding"))?;
    account.relay = http.origin().as_str().to_owned();
    if let Some(current) = current.filter(|c| http.trusted_pins().contains(c)) {
        let current_text = current.to_string();
        if let Some(old) = account.relay_pin.take()
            && old != current_text
            && !account.relay_former_pins.contains(&old)
        {
            account.relay_former_pins.push(old);
        }
        let next_text = next.filter(|n| *n != current).map(|n| n.to_string());
        account
            .relay_former_pins
            .retain(|p| *p != current_text && Some(p) != next_text.as_ref());
        let excess = account
            .relay_former_pins
            .len()
            .saturating_sub(state::MAX_FORMER_PINS);
        account.relay_former_pins.drain(..excess);
        account.relay_pin = Some(current_text);
        account.relay_next_pin = next_text;
    }
    let after =
        serde_json::to_vec(&account).map_err(|_| ClientError::Protocol("state encoding"))?;
    if before != after {
        tracing::debug!(relay = %account.relay, "relay address and pins recorded");
        state.store_account(&account)?;
    }
    Ok(())
}

/// [`refresh_relay`] where the relay may be unreachable (open, register): its transport errors
/// are left for the first real call to report.
async fn refresh_relay_if_reachable(
    http: &RelayHttp,
    store: &Arc<dyn KeyStore>,
) -> Result<(), ClientError> {
    match refresh_relay(http, store).await {
        Err(e @ ClientError::Storage(_)) => Err(e),
        Err(e) => {
            tracing::debug!(error = %e, "relay pins not refreshed");
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// The login of the account persisted in `store`, for building a [`RelayHttp`] by hand
/// (`RelayHttp::with_authenticator`): an [`IdentityLogin`], which refuses replayed challenges.
///
/// # Errors
/// [`ClientError::InvalidInput`] if the store holds no account; [`ClientError::Storage`].
pub fn authenticator(store: &Arc<dyn KeyStore>) -> Result<Arc<dyn Authenticator>, ClientError> {
    let state = State(store.as_ref());
    let account = state.account()?;
    let identity = Arc::new(state.identity()?);
    Ok(Arc::new(IdentityLogin::new(account.user_id, identity)))
}

/// What [`SystemClient::publish`] stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The key epoch it was sealed under.
    pub epoch: u32,
    /// Its version.
    pub version: u64,
}

/// A friend's redeemed invite, waiting for the system's approval ([`SystemClient::pending_requests`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingRequest {
    /// The relay's id of the pairing.
    pub pairing_id: Uuid,
    /// The friend's user id.
    pub friend_id: Uuid,
    /// The friend's public handle, if any (relay-supplied, unauthenticated text).
    pub handle: Option<String>,
    /// The fingerprint of the keys the relay presents for the friend.
    pub fingerprint: Fingerprint,
    /// Its safety number, for comparing with the friend's screen.
    pub safety_number: String,
    /// Whether the friend's pairing proof (keyed by the invite secret this device kept) and key
    /// binding match these keys. `false`: do not approve (the relay may substitute keys).
    pub proof_valid: bool,
}

/// What a revocation, narrowing or grant change did (P8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// Each rotated volume with its new key epoch.
    pub rotated: Vec<(VolumeName, u32)>,
    /// Every friend that received a new grant (with wrapped keys of the new epochs).
    pub friends_regranted: Vec<Uuid>,
    /// How long this run took (a resumed rotation reports the resuming run).
    pub elapsed: Duration,
}

/// The system a friend paired with ([`FriendClient::redeem`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedSystem {
    /// The system's user id.
    pub system_id: Uuid,
    /// Its fingerprint, checked against the link and pinned.
    pub fingerprint: Fingerprint,
    /// Its safety number.
    pub safety_number: String,
}

/// A verified grant, as the friend sees it ([`FriendClient::grant`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantView {
    /// Granted volumes with their key epochs.
    pub volumes: Vec<(VolumeName, u32)>,
    /// When the grant expires (Unix seconds), if it does.
    pub expires_at: Option<u64>,
    /// The grant's sequence number.
    pub sequence: u64,
}

/// A shared volume in a listing, from its verified header ([`FriendClient::list`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    /// The volume.
    pub volume: VolumeName,
    /// Its current key epoch.
    pub epoch: u32,
    /// Its current version.
    pub version: u64,
}

/// The result of [`FriendClient::fetch`].
pub enum Fetched {
    /// A version newer than the last one this client returned, verified and decrypted.
    Updated {
        /// The version.
        version: u64,
        /// Its key epoch.
        epoch: u32,
        /// The plaintext, in memory only (wiped on drop). Never write it to disk.
        plaintext: Zeroizing<Vec<u8>>,
    },
    /// Nothing newer than the last version this client returned.
    NotModified,
    /// The owner deleted the volume (§12): a tombstone verified under the owner's pinned key,
    /// not older than anything this client accepted (the rollback mark is raised to it).
    Deleted {
        /// The tombstone's version (a republished volume comes above it).
        version: u64,
        /// The deleted volume's key epoch.
        epoch: u32,
        /// When it was deleted (Unix seconds, floored to the hour by the owner).
        hour: u64,
    },
}

impl fmt::Debug for Fetched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fetched::Updated { version, epoch, .. } => f
                .debug_struct("Updated")
                .field("version", version)
                .field("epoch", epoch)
                .field("plaintext", &"<redacted>")
                .finish(),
            Fetched::NotModified => f.write_str("NotModified"),
            Fetched::Deleted {
                version,
                epoch,
                hour,
            } => f
                .debug_struct("Deleted")
                .field("version", version)
                .field("epoch", epoch)
                .field("hour", hour)
                .finish(),
        }
    }
}

/// Unix seconds now (0 before 1970, which only makes grants look unexpired).
fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The relay pin of `trust`, as text for `account`.
fn pin_text(trust: &Trust) -> Option<String> {
    trust.current_pin().map(|pin| pin.to_string())
}

/// The announced next pin of `trust`, as text for `account`.
fn next_pin_text(trust: &Trust) -> Option<String> {
    match trust {
        Trust::PinnedRotating { next, .. } => Some(next.to_string()),
        Trust::Pinned(_) | Trust::WebPki(_) => None,
    }
}

/// Registers a new account of `role` on the relay and persists `identity` and `account`.
async fn register_account(
    config: &ClientConfig,
    store: &Arc<dyn KeyStore>,
    handle: Option<String>,
    role: Role,
) -> Result<(), ClientError> {
    let state = State(store.as_ref());
    if state.has_account()? {
        return Err(ClientError::InvalidInput(
            "the key store already holds an account; open it instead",
        ));
    }
    let handle = handle.map(|h| Handle::new(&h)).transpose().map_err(|_| {
        ClientError::InvalidInput("a handle is 2-64 characters without control characters")
    })?;
    let identity = Identity::generate();
    let http = RelayHttp::new(config.relay.clone(), &config.trust, config.http.clone())?;
    let client_type = match role {
        Role::System => ClientType::System,
        Role::Friend => ClientType::Friend,
    };
    // Bound to the origin dialled, the type and the handle (§3: nobody else can squat these keys).
    let origin = http.origin().as_str().to_owned();
    let registration_signature = identity
        .sign_registration_v2(&origin, client_type, handle.as_ref())
        .map_err(|_| ClientError::InvalidInput("the relay origin cannot be signed"))?;
    let registered = http
        .register(&RegisterRequest {
            client_type,
            handle,
            public_signing_key: PublicKey32::from_bytes(identity.public_signing_key()),
            public_exchange_key: PublicKey32::from_bytes(identity.public_exchange_key()),
            key_binding_signature: Signature64::from_bytes(identity.key_binding_signature()),
            origin,
            registration_signature: Signature64::from_bytes(registration_signature),
        })
        .await?;
    // The id is derived from the keys (§3): the same on every relay. A relay handing out
    // another one is not a relay of this protocol, and would split the account (ADR 0026).
    let derived = UserId::derive(
        &identity.public_signing_key(),
        &identity.public_exchange_key(),
    );
    if registered.user_id != derived {
        return Err(ClientError::Protocol(
            "the relay assigned another user id than the one the keys derive",
        ));
    }
    state.store_identity(&identity)?;
    state.store_account(&Account {
        user_id: *registered.user_id.as_uuid(),
        role,
        relay: config.relay.as_str().to_owned(),
        relay_pin: pin_text(&config.trust),
        relay_next_pin: next_pin_text(&config.trust),
        relay_former_pins: Vec::new(),
    })?;
    refresh_relay_if_reachable(&http, store).await
}

/// Loads identity and account of `role`, for `with_relay`.
fn load_account(store: &Arc<dyn KeyStore>, role: Role) -> Result<(Identity, Account), ClientError> {
    let state = State(store.as_ref());
    let account = state.account()?;
    if account.role != role {
        return Err(match role {
            Role::System => ClientError::InvalidInput("the key store belongs to a friend account"),
            Role::Friend => ClientError::InvalidInput("the key store belongs to a system account"),
        });
    }
    Ok((state.identity()?, account))
}

#[cfg(test)]
#[path = "binding_tests.rs"]
mod binding_tests;
