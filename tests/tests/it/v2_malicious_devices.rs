//! A malicious relay against device linking and the shared owner state (`docs/protocol-v2.md`
//! §13): it substitutes the joining device's key (the first device refuses: the proof does not
//! match), alters the package (the joining device refuses and stays empty), and replays an
//! older owner state (refused as a rollback). Every test name contains `malicious`.

use std::sync::Arc;
use std::time::Duration;

use coffer_client_core::client::{ClientConfig, ClientError, SystemClient};
use coffer_client_core::storage::KeyStore;
use coffer_tests::malicious::Attack;
use coffer_tests::relay::RelayProcess;
use coffer_tests::v2::{config_for, evil_system, malicious_relay, memory_store, vol};
use coffer_wire::b64::PublicKey32;

async fn start() -> (RelayProcess, ClientConfig) {
    let relay = RelayProcess::start().await;
    let config = config_for(relay.url(), relay.pin());
    (relay, config)
}

fn is_empty(store: &Arc<dyn KeyStore>) -> bool {
    ["identity", "account", "device", "state-key"]
        .iter()
        .all(|k| store.load(k).unwrap().is_none())
}

#[tokio::test]
async fn malicious_relay_substituting_the_joining_device_key_is_detected() {
    let (_relay, config) = start().await;
    let (a, evil) = evil_system(&config).await;
    a.publish(&vol("meta"), b"{}").await.unwrap();
    let relay_key = coffer_client_core::v2::DeviceSecret::generate().public();
    evil.set(Attack::SubstituteDeviceKey {
        with: PublicKey32::from_bytes(relay_key),
    });
    let offer = a.link_device("first").await.unwrap();
    let text = offer.text().to_string();
    let store = memory_store();
    let (joined, confirmed) = tokio::join!(
        SystemClient::join(
            config.clone(),
            Arc::clone(&store),
            &text,
            "phone",
            Duration::from_secs(4)
        ),
        a.confirm_link(&offer, Duration::from_secs(10)),
    );
    assert!(matches!(confirmed, Err(ClientError::DeviceLinkInvalid(_))));
    assert!(evil.fired() > 0);
    assert!(matches!(joined, Err(ClientError::DeviceLinkExpired)));
    assert!(is_empty(&store));
    // The relay's key never made it into the device list.
    assert_eq!(a.devices().unwrap().len(), 1);
}

#[tokio::test]
async fn malicious_relay_altering_the_package_is_detected_by_the_joining_device() {
    let (_relay, config) = start().await;
    let (a, evil) = evil_system(&config).await;
    evil.set(Attack::FlipPackageBit { bit: 400 });
    let offer = a.link_device("first").await.unwrap();
    let text = offer.text().to_string();
    let store = memory_store();
    let (joined, confirmed) = tokio::join!(
        SystemClient::join(
            config.clone(),
            Arc::clone(&store),
            &text,
            "phone",
            Duration::from_secs(10)
        ),
        a.confirm_link(&offer, Duration::from_secs(10)),
    );
    confirmed.unwrap();
    assert_eq!(evil.fired(), 1);
    assert!(matches!(joined, Err(ClientError::DeviceLinkInvalid(_))));
    assert!(is_empty(&store), "a refused package leaves the store empty");
}

#[tokio::test]
async fn malicious_relay_replaying_an_old_owner_state_is_refused() {
    let (_relay, config) = start().await;
    let (a, _) = coffer_tests::v2::system(&config).await;
    let offer = a.link_device("first").await.unwrap();
    let text = offer.text().to_string();
    let store = memory_store();
    let (joined, confirmed) = tokio::join!(
        SystemClient::join(
            config.clone(),
            Arc::clone(&store),
            &text,
            "phone",
            Duration::from_secs(10)
        ),
        a.confirm_link(&offer, Duration::from_secs(10)),
    );
    confirmed.unwrap();
    drop(joined.unwrap());
    // The second device, behind a relay that records and replays owner states.
    let evil = malicious_relay(&config, &store);
    let b = SystemClient::with_relay(evil.clone(), Arc::clone(&store)).unwrap();
    b.publish(&vol("meta"), b"{\"v\":1}").await.unwrap();
    a.publish(&vol("org.example.notes"), b"{\"v\":1}")
        .await
        .unwrap();
    b.publish(&vol("meta"), b"{\"v\":2}").await.unwrap();
    let seen = store.load("owner-state").unwrap().unwrap();
    let seen: serde_json::Value = serde_json::from_slice(&seen).unwrap();
    let latest = seen["version"].as_u64().unwrap();
    assert!(latest >= 3);
    evil.set(Attack::ReplayOwnerState {
        version: latest - 1,
    });
    assert!(matches!(
        b.publish(&vol("meta"), b"{\"v\":3}").await,
        Err(ClientError::OwnerStateRollback)
    ));
    assert_eq!(evil.fired(), 1);
    evil.clear();
    b.publish(&vol("meta"), b"{\"v\":3}").await.unwrap();
}
