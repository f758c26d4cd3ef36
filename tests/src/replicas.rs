//! Helpers for the multi-relay suites (issue 16): three real relays on loopback, the
//! [`RelayEntry`] of each, direct connections to one relay as a given account (what a test may
//! check that a client would not show), and a [`Connector`] that puts a [`MaliciousRelay`] in
//! front of every relay a friend's [`Replicated`] connects to, one of them under the test's
//! control.

use std::sync::Arc;

use coffer_client_core::client::{
    ClientConfig, ClientError, Connector, FriendClient, HttpConnector, Replicated, SystemClient,
    authenticator,
};
use coffer_client_core::storage::KeyStore;
use coffer_client_core::transport::{Fetched, RelayHttp, RelayHttpConfig, Trust};
use coffer_client_core::v2::RelayEntry;
use coffer_wire::v2::{Header, VolumeName};

use crate::malicious::MaliciousRelay;
use crate::relay::RelayProcess;

/// A friend whose every relay connection goes through a [`MaliciousRelay`].
pub type EvilReplicatedFriend = FriendClient<Replicated<MaliciousRelay<RelayHttp>>>;

/// Starts three relays with the test defaults, concurrently.
pub async fn three_relays() -> (RelayProcess, RelayProcess, RelayProcess) {
    tokio::join!(
        RelayProcess::start(),
        RelayProcess::start(),
        RelayProcess::start()
    )
}

/// A new System account on `relay`, as a relay set of one, its keys in `store`.
pub async fn system_on(
    relay: &RelayProcess,
    store: Arc<dyn KeyStore>,
) -> SystemClient<Replicated<RelayHttp>> {
    SystemClient::register_replicated(crate::v2::config_for(relay.url(), relay.pin()), store, None)
        .await
        .unwrap_or_else(|e| panic!("a system registers on {}: {e}", relay.url()))
}

/// A new friend account on `relay`, as a relay set of one, its keys in `store`.
pub async fn friend_on(
    relay: &RelayProcess,
    store: Arc<dyn KeyStore>,
) -> FriendClient<Replicated<RelayHttp>> {
    FriendClient::register_replicated(crate::v2::config_for(relay.url(), relay.pin()), store, None)
        .await
        .unwrap_or_else(|e| panic!("a friend registers on {}: {e}", relay.url()))
}

/// The relay-list entry of `relay`: its origin, pinned to the key it printed.
pub fn entry(relay: &RelayProcess) -> RelayEntry {
    RelayEntry::new(relay.url(), vec![relay.pin()])
        .unwrap_or_else(|e| panic!("{} is a valid relay entry: {e}", relay.url()))
}

/// The HTTP settings of the test clients (no proxy from the environment).
pub fn http_config() -> RelayHttpConfig {
    let mut http = RelayHttpConfig::default();
    http.proxy_from_env = false;
    http
}

/// The trust of `entry`: its pins (current, then announced next), or Web PKI without any.
fn trust_of(entry: &RelayEntry) -> Result<Trust, ClientError> {
    match entry.pins() {
        [current] => Ok(Trust::Pinned(*current)),
        [current, next, ..] => Ok(Trust::PinnedRotating {
            current: *current,
            next: *next,
        }),
        [] => Err(ClientError::InvalidInput(
            "the test relays are all pinned; a Web PKI entry is not one of them",
        )),
    }
}

/// A connection to `entry` that logs in as the account in `store` (user ids are the same on
/// every relay, so one login serves all of them).
pub fn connection(entry: &RelayEntry, store: &Arc<dyn KeyStore>) -> Result<RelayHttp, ClientError> {
    let origin = entry
        .origin()
        .parse()
        .map_err(|_| ClientError::InvalidInput("relay entry origin"))?;
    let http = RelayHttp::new(origin, &trust_of(entry)?, http_config())?;
    Ok(http.with_authenticator(authenticator(store)?))
}

/// The version of `volume` the relay of `entry` holds for the owner in `store`, read through the
/// owner's own session (`None`: the relay does not hold it).
pub async fn stored_version(
    entry: &RelayEntry,
    store: &Arc<dyn KeyStore>,
    volume: &VolumeName,
) -> Option<u64> {
    let relay = connection(entry, store).expect("a connection to the relay");
    match relay.get_volume(volume, None).await {
        Ok(Fetched::Modified(v)) => Some(
            Header::parse(&v.header)
                .expect("the relay stores the owner's header")
                .version,
        ),
        Ok(Fetched::NotModified) => unreachable!("an unconditional GET is never 304"),
        Err(coffer_client_core::transport::TransportError::NotFound) => None,
        Err(e) => panic!("read {volume} from {}: {e}", entry.origin()),
    }
}

/// A [`Connector`] for a friend's [`Replicated`]: every relay (reached by the real
/// [`HttpConnector`]) behind a [`MaliciousRelay`], honest unless it is the one the test holds
/// (`evil`, for the relay at `evil_origin`), which lies whenever the test switches an attack on.
#[derive(Debug)]
pub struct EvilConnector {
    http: HttpConnector,
    evil_origin: String,
    evil: MaliciousRelay<RelayHttp>,
}

impl EvilConnector {
    /// Connects as the account in `store` with `config`'s settings; connections to
    /// `evil_origin` are `evil`.
    pub fn new(
        config: &ClientConfig,
        store: Arc<dyn KeyStore>,
        evil_origin: &str,
        evil: MaliciousRelay<RelayHttp>,
    ) -> EvilConnector {
        EvilConnector {
            http: HttpConnector::new(config, store),
            evil_origin: evil_origin.to_owned(),
            evil,
        }
    }
}

impl Connector<MaliciousRelay<RelayHttp>> for EvilConnector {
    fn connect(&self, entry: &RelayEntry) -> Result<MaliciousRelay<RelayHttp>, ClientError> {
        if entry.origin() == self.evil_origin {
            return Ok(self.evil.clone());
        }
        Ok(MaliciousRelay::new(self.http.connect(entry)?))
    }
}

/// A friend client over [`Replicated`] whose connection to `evil_entry` (the friend's own,
/// primary relay, where `store`'s account was registered) is `evil` — or, with `None`, a new
/// [`MaliciousRelay`]. Returns the client and the test's handle on the lies. Calling it again
/// with the same handle is an app restart: a fresh session, the same store and relay.
pub fn evil_replicated_friend(
    evil_entry: &RelayEntry,
    store: &Arc<dyn KeyStore>,
    evil: Option<&MaliciousRelay<RelayHttp>>,
) -> (EvilReplicatedFriend, MaliciousRelay<RelayHttp>) {
    let evil = match evil {
        Some(evil) => evil.clone(),
        None => MaliciousRelay::new(connection(evil_entry, store).expect("a connection")),
    };
    let connector = evil_connector(evil_entry, store, &evil);
    let relay = Replicated::new(evil_entry.clone(), evil.clone(), Arc::new(connector));
    let friend =
        FriendClient::with_relay(relay, Arc::clone(store)).expect("open the friend over replicas");
    (friend, evil)
}

/// An app restart of the friend in `store` with all the relays it joined
/// ([`Replicated::for_store`]), each behind [`EvilConnector`]: connections to `evil_entry`
/// are `evil`.
pub fn restarted_evil_friend_on_all_relays(
    evil_entry: &RelayEntry,
    store: &Arc<dyn KeyStore>,
    evil: &MaliciousRelay<RelayHttp>,
) -> EvilReplicatedFriend {
    let connector = evil_connector(evil_entry, store, evil);
    let relay =
        Replicated::for_store(store, Arc::new(connector)).expect("the stored relays reconnect");
    FriendClient::with_relay(relay, Arc::clone(store)).expect("open the friend over replicas")
}

/// An [`EvilConnector`] for the account in `store`: connections to `evil_entry` are `evil`.
fn evil_connector(
    evil_entry: &RelayEntry,
    store: &Arc<dyn KeyStore>,
    evil: &MaliciousRelay<RelayHttp>,
) -> EvilConnector {
    let config = ClientConfig {
        relay: evil_entry
            .origin()
            .parse()
            .expect("test relay URLs are valid origins"),
        trust: trust_of(evil_entry).expect("a pinned test relay"),
        http: http_config(),
    };
    EvilConnector::new(
        &config,
        Arc::clone(store),
        evil_entry.origin(),
        evil.clone(),
    )
}
