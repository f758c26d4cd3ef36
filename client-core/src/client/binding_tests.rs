//! Scan to pair ([`ClientConfig::from_pairing`]) and accounts bound to their relay's key
//! ([`bind`], ADR 0015), without a relay.

use super::state::{ACCOUNT, Account, Role, State};
use super::*;
use crate::storage::MemoryKeyStore;

const PIN_A: &str = "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=";
const PIN_B: &str = "sha256/G8GBPaBpmF7AJ/WiG+hKLR0iTiJeMihFAYSlDaL0GJM=";
const PIN_C: &str = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn pin(text: &str) -> coffer_certs::SpkiPin {
    text.parse().expect("pin")
}

fn config(origin: &str, trust: Trust) -> ClientConfig {
    ClientConfig {
        relay: origin.parse().expect("origin"),
        trust,
        http: RelayHttpConfig::default(),
    }
}

fn account(relay: &str, current: Option<&str>, next: Option<&str>, former: &[&str]) -> Account {
    Account {
        user_id: Uuid::from_bytes([7; 16]),
        role: Role::System,
        relay: relay.to_owned(),
        relay_pin: current.map(str::to_owned),
        relay_next_pin: next.map(str::to_owned),
        relay_former_pins: former.iter().map(|p| (*p).to_owned()).collect(),
    }
}

#[test]
fn a_pairing_string_is_a_config() {
    let with_next =
        coffer_certs::RelayPairing::new("https://192.168.1.50:8443", pin(PIN_A), Some(pin(PIN_B)))
            .expect("pairing")
            .to_string();
    let config = ClientConfig::from_pairing(&with_next).expect("parses");
    assert_eq!(config.relay.as_str(), "https://192.168.1.50:8443");
    assert_eq!(config.trust.pins(), vec![pin(PIN_A), pin(PIN_B)]);
    assert_eq!(config.trust.current_pin(), Some(pin(PIN_A)));
    // Surrounding white space from a paste is tolerated.
    let pasted = format!("  {with_next}\n");
    assert_eq!(
        ClientConfig::from_pairing(&pasted)
            .expect("parses")
            .trust
            .pins(),
        vec![pin(PIN_A), pin(PIN_B)]
    );
    let plain = coffer_certs::RelayPairing::new("https://[::1]:8443", pin(PIN_A), None)
        .expect("pairing")
        .to_string();
    let config = ClientConfig::from_pairing(&plain).expect("parses");
    assert!(matches!(config.trust, Trust::Pinned(p) if p == pin(PIN_A)));
    assert_eq!(config.relay.as_str(), "https://[::1]:8443");
}

#[test]
fn an_invite_link_or_garbage_is_not_a_pairing_string() {
    let invite = "coffer://pair?v=2&relay=https%3A%2F%2Frelay.example&code=ABCD2345EFGH";
    let err = ClientConfig::from_pairing(invite).expect_err("an invite");
    assert_eq!(err, PairingError::InviteLink);
    assert!(err.to_string().contains("invite link"), "{err}");
    assert!(err.to_string().contains("InviteLink.parse"), "{err}");
    for bad in [
        "",
        "https://192.168.1.50:8443",
        "coffer://relay?v=1&relay=https%3A%2F%2Fr.example&pin=x",
        "coffer://relay?v=2&relay=https%3A%2F%2Fr.example",
        "coffer://relay?v=2&relay=http%3A%2F%2Fr.example&pin=sha256%2Fx",
    ] {
        let err = ClientConfig::from_pairing(bad).expect_err(bad);
        assert!(
            matches!(err, PairingError::Invalid { .. }),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains("coffer://relay?v=2"), "{err}");
    }
}

#[test]
fn the_same_key_at_another_address_is_the_same_relay() {
    let stored = account("https://127.0.0.1:8443", Some(PIN_A), None, &[]);
    for origin in [
        "https://localhost:8443",
        "https://[::1]:8443",
        "https://10.0.0.2",
    ] {
        let trust = bind(&config(origin, Trust::Pinned(pin(PIN_A))), &stored).expect(origin);
        assert_eq!(trust.pins(), vec![pin(PIN_A)], "{origin}");
    }
    // With an announced next pin, both are trusted, whichever the configuration names.
    let stored = account("https://127.0.0.1:8443", Some(PIN_A), Some(PIN_B), &[]);
    for offered in [PIN_A, PIN_B] {
        let trust = bind(
            &config("https://localhost:8443", Trust::Pinned(pin(offered))),
            &stored,
        )
        .expect("same relay");
        assert_eq!(trust.pins(), vec![pin(PIN_A), pin(PIN_B)]);
    }
    // A configuration still carrying a pin the relay rotated away from names it too, but
    // only the current key is trusted.
    let stored = account("https://127.0.0.1:8443", Some(PIN_B), None, &[PIN_A]);
    let trust = bind(
        &config("https://localhost:8443", Trust::Pinned(pin(PIN_A))),
        &stored,
    )
    .expect("same relay");
    assert_eq!(trust.pins(), vec![pin(PIN_B)]);
}

#[test]
fn another_key_at_another_address_is_another_relay() {
    let stored = account("https://127.0.0.1:8443", Some(PIN_A), Some(PIN_B), &[]);
    let err = bind(
        &config("https://localhost:8443", Trust::Pinned(pin(PIN_C))),
        &stored,
    )
    .expect_err("another relay");
    assert!(
        err.to_string()
            .contains("the key store belongs to an account on another relay"),
        "{err}"
    );
    // At the account's own address, a new pin is an explicit re-pin: TLS decides.
    let trust = bind(
        &config("https://127.0.0.1:8443", Trust::Pinned(pin(PIN_C))),
        &stored,
    )
    .expect("re-pin");
    assert_eq!(trust.pins(), vec![pin(PIN_C)]);
    // Web PKI accounts stay bound to their name.
    let roots =
        Trust::webpki_from_pem(include_str!("../../../certs/tests/data/ec-sec1.crt").as_bytes())
            .expect("roots");
    let web = account("https://relay.example", None, None, &[]);
    assert!(bind(&config("https://relay.example", roots.clone()), &web).is_ok());
    assert!(bind(&config("https://other.example", roots), &web).is_err());
    assert!(
        bind(
            &config("https://other.example", Trust::Pinned(pin(PIN_A))),
            &web
        )
        .is_err()
    );
}

#[test]
fn a_key_store_written_before_relay_identities_still_opens() {
    // The `account` record as client-core wrote it before ADR 0015 (no next or former pins).
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    State(store.as_ref())
        .store_identity(&Identity::generate())
        .expect("identity");
    let old = format!(
        r#"{{"user_id":"07070707-0707-0707-0707-070707070707","role":"system","relay":"https://127.0.0.1:8443","relay_pin":"{PIN_A}"}}"#
    );
    store.store(ACCOUNT, old.as_bytes()).expect("store");
    let loaded = State(store.as_ref()).account().expect("old format loads");
    assert_eq!(loaded.relay_pin.as_deref(), Some(PIN_A));
    assert_eq!(loaded.relay_next_pin, None);
    assert!(loaded.relay_former_pins.is_empty());
    // It opens at its address and at another address of the same key, and is written back
    // without the empty new fields.
    relay_for(
        &config("https://127.0.0.1:8443", Trust::Pinned(pin(PIN_A))),
        &store,
    )
    .expect("same address");
    relay_for(
        &config("https://localhost:8443", Trust::Pinned(pin(PIN_A))),
        &store,
    )
    .expect("another address of the same relay");
    State(store.as_ref())
        .store_account(&loaded)
        .expect("write back");
    let written = store.load(ACCOUNT).expect("load").expect("present");
    assert_eq!(&written[..], old.as_bytes());
}

#[test]
fn a_corrupt_pin_in_the_account_is_reported() {
    let stored = account("https://127.0.0.1:8443", Some("sha256/nope"), None, &[]);
    let err = bind(
        &config("https://127.0.0.1:8443", Trust::Pinned(pin(PIN_A))),
        &stored,
    )
    .expect_err("corrupt");
    assert!(matches!(err, ClientError::Storage(_)), "{err:?}");
}
