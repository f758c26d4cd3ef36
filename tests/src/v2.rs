//! Helpers for the v2 suites: client configurations for a test relay, System and Friend clients
//! (honest, or behind a [`MaliciousRelay`]), the whole pairing flow, and access to what a test
//! may know that a relay does not (a client's identity, from its own key store).

use std::sync::Arc;

use coffer_certs::SpkiPin;
use coffer_client_core::client::{
    ClientConfig, ClientError, Fetched, FriendClient, PairedSystem, RelayApi, Restored,
    SystemClient, relay_for,
};
use coffer_client_core::identity::{Identity, IdentitySecret};
use coffer_client_core::storage::{KeyStore, MemoryKeyStore};
use coffer_client_core::transport::{RelayHttp, RelayHttpConfig, SharedVolume, Trust, UserId};
use coffer_wire::b64::WrappedVek60;
use coffer_wire::v2::VolumeName;
use uuid::Uuid;

use crate::malicious::MaliciousRelay;

/// A friend client whose relay lies on demand, and the test's handle on the lies.
pub type EvilFriend = FriendClient<MaliciousRelay<RelayHttp>>;
/// A system client whose relay lies on demand.
pub type EvilSystem = SystemClient<MaliciousRelay<RelayHttp>>;

/// A volume name that is known to be valid.
pub fn vol(name: &str) -> VolumeName {
    VolumeName::new(name).unwrap_or_else(|e| panic!("{name:?}: {e}"))
}

/// A client configuration for `url`, trusting exactly `pin`, ignoring proxy variables.
pub fn config_for(url: &str, pin: SpkiPin) -> ClientConfig {
    let mut http = RelayHttpConfig::default();
    http.proxy_from_env = false;
    ClientConfig {
        relay: url.parse().expect("test relay URLs are valid origins"),
        trust: Trust::Pinned(pin),
        http,
    }
}

/// A fresh in-memory key store.
pub fn memory_store() -> Arc<dyn KeyStore> {
    Arc::new(MemoryKeyStore::new())
}

/// Registers a system on the relay of `config`.
pub async fn system(config: &ClientConfig) -> (SystemClient, Arc<dyn KeyStore>) {
    let store = memory_store();
    let client = SystemClient::register(config.clone(), Arc::clone(&store), None)
        .await
        .expect("register a system");
    (client, store)
}

/// Registers a friend on the relay of `config`.
pub async fn friend(config: &ClientConfig) -> (FriendClient, Arc<dyn KeyStore>) {
    let store = memory_store();
    let client = FriendClient::register(config.clone(), Arc::clone(&store), None)
        .await
        .expect("register a friend");
    (client, store)
}

/// A [`MaliciousRelay`] in front of the real relay, logging in as the account in `store`.
pub fn malicious_relay(
    config: &ClientConfig,
    store: &Arc<dyn KeyStore>,
) -> MaliciousRelay<RelayHttp> {
    MaliciousRelay::new(relay_for(config, store).expect("a relay for the stored account"))
}

/// Registers a friend whose relay is malicious; returns the client, the relay's handle and the
/// friend's key store (to restart the app on it).
pub async fn evil_friend(
    config: &ClientConfig,
) -> (EvilFriend, MaliciousRelay<RelayHttp>, Arc<dyn KeyStore>) {
    let (_, store) = friend(config).await;
    let relay = malicious_relay(config, &store);
    let client =
        FriendClient::with_relay(relay.clone(), Arc::clone(&store)).expect("open the friend");
    (client, relay, store)
}

/// Registers a system whose relay is malicious; returns the client and the relay's handle.
pub async fn evil_system(config: &ClientConfig) -> (EvilSystem, MaliciousRelay<RelayHttp>) {
    let (_, store) = system(config).await;
    let relay = malicious_relay(config, &store);
    let client = SystemClient::with_relay(relay.clone(), store).expect("open the system");
    (client, relay)
}

/// The whole pairing flow: invite link (through its URI text, as a QR code carries it), redeem,
/// the system checks the proof and approves `volumes`. Returns what the friend pinned.
pub async fn pair<S: RelayApi, F: RelayApi>(
    system: &SystemClient<S>,
    friend: &FriendClient<F>,
    volumes: &[VolumeName],
) -> PairedSystem {
    let link = system.create_invite().await.expect("create an invite");
    let link = coffer_client_core::v2::InviteLink::parse(&link.to_uri()).expect("link round trip");
    let paired = friend.redeem(&link).await.expect("redeem the invite");
    assert_eq!(paired.system_id, system.user_id());
    assert_eq!(paired.fingerprint, system.fingerprint());
    let requests = system.pending_requests().await.expect("pending requests");
    let request = requests
        .iter()
        .find(|r| r.friend_id == friend.user_id())
        .expect("the friend's request is pending");
    assert!(request.proof_valid, "honest pairing has a valid proof");
    assert_eq!(request.fingerprint, friend.fingerprint());
    system
        .approve(friend.user_id(), volumes, None)
        .await
        .expect("approve the friend");
    paired
}

/// The identity in a client's key store (the test may read the device; a relay cannot).
pub fn identity_of(store: &Arc<dyn KeyStore>) -> Identity {
    let bytes = store
        .load("identity")
        .expect("read the store")
        .expect("the store holds an identity");
    Identity::from_secret(&IdentitySecret::from_bytes(&bytes).expect("identity bytes"))
}

/// The identity secret in a client's key store.
pub fn identity_secret_of(store: &Arc<dyn KeyStore>) -> IdentitySecret {
    let bytes = store
        .load("identity")
        .expect("read the store")
        .expect("the store holds an identity");
    IdentitySecret::from_bytes(&bytes).expect("identity bytes")
}

/// `UserId` of a client's UUID.
pub fn uid(id: Uuid) -> UserId {
    UserId::from_uuid(id)
}

/// What the relay stores for the system's own `volume` (the operator reads it from disk; the
/// test reads it through the system's own session), dressed as a shared-volume answer with
/// `wrapped_key`.
pub async fn stored_volume<R: RelayApi>(
    owner_relay: &R,
    volume: &VolumeName,
    wrapped_key: WrappedVek60,
) -> SharedVolume {
    match owner_relay
        .get_volume(volume, None)
        .await
        .expect("the owner reads its volume")
    {
        coffer_client_core::transport::Fetched::Modified(v) => SharedVolume {
            header: v.header,
            signature: v.signature,
            payload: v.payload,
            wrapped_key,
        },
        coffer_client_core::transport::Fetched::NotModified => {
            unreachable!("an unconditional GET is never 304")
        }
    }
}

/// What a restore read back, one line per volume: `volume epoch/version text`, or
/// `volume epoch/version key missing`.
pub fn restored_lines(restored: &[Restored]) -> Vec<String> {
    restored
        .iter()
        .map(|r| match r {
            Restored::Volume {
                volume,
                epoch,
                version,
                plaintext,
            } => format!(
                "{volume} {epoch}/{version} {}",
                String::from_utf8_lossy(plaintext)
            ),
            Restored::KeyMissing {
                volume,
                epoch,
                version,
            } => format!("{volume} {epoch}/{version} key missing"),
        })
        .collect()
}

/// The plaintext of an `Updated` fetch; panics on anything else.
pub fn plaintext(fetched: Result<Fetched, ClientError>) -> (u64, u32, Vec<u8>) {
    match fetched {
        Ok(Fetched::Updated {
            version,
            epoch,
            plaintext,
        }) => (version, epoch, plaintext.to_vec()),
        other => panic!("expected an updated volume, got {other:?}"),
    }
}
