//! A home relay as a phone uses it (issue 12, client side): the account is opened from the
//! pairing string the relay printed, survives another address of the same relay, refuses a
//! relay with another key, and survives the documented certificate rotation
//! (`coffer-admin cert next` → restart → `coffer-admin cert rotate` → restart) without
//! re-pairing (ADR 0015).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use coffer_certs::SpkiPin;
use coffer_client_core::client::{ClientConfig, ClientError, FriendClient, SystemClient};
use coffer_client_core::storage::KeyStore;
use coffer_tests::relay::{RelayProcess, relay_binary};
use coffer_tests::v2::{friend, pair, plaintext, system, vol};

/// The pairing string (`coffer://relay?…`) in what a relay printed.
fn pairing_in(lines: &[String]) -> String {
    lines
        .iter()
        .rev()
        .find_map(|line| {
            line.find("coffer://relay?").map(|at| {
                line[at..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
        })
        .unwrap_or_else(|| panic!("the relay printed no pairing string:\n{}", lines.join("\n")))
}

/// A client configuration from a scanned pairing string, without proxies from the environment.
fn scanned(pairing: &str) -> ClientConfig {
    let mut config = ClientConfig::from_pairing(pairing).expect("the relay's pairing string");
    config.http.proxy_from_env = false;
    config
}

/// The same configuration at another address of the relay.
fn at(config: &ClientConfig, origin: &str) -> ClientConfig {
    let mut moved = config.clone();
    moved.relay = origin.parse().expect("origin");
    moved
}

/// The `account` record of a key store, as JSON.
fn account_of(store: &Arc<dyn KeyStore>) -> serde_json::Value {
    let bytes = store.load("account").expect("load").expect("an account");
    serde_json::from_slice(&bytes).expect("account JSON")
}

fn doc(text: &str) -> Vec<u8> {
    format!(r#"{{"text":"{text}"}}"#).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_opened_at_one_address_reopens_at_another_of_the_same_relay() {
    let relay = RelayProcess::start().await;
    let port = relay.port();
    let pairing = pairing_in(&relay.stdout_lines());
    let by_ip = scanned(&pairing);
    assert_eq!(by_ip.relay.as_str(), format!("https://127.0.0.1:{port}"));
    assert_eq!(by_ip.trust.current_pin(), Some(relay.pin()));

    // Scanning the pairing string is enough to register and pair.
    let (owner, owner_store) = system(&by_ip).await;
    owner
        .publish(&vol("meta"), &doc("one"))
        .await
        .expect("publish");
    let (reader, reader_store) = friend(&by_ip).await;
    pair(&owner, &reader, &[vol("meta")]).await;
    drop((owner, reader));

    // The same relay by name (its DHCP address changed, or the app was set up by name).
    let by_name = at(&by_ip, &format!("https://localhost:{port}"));
    let owner = SystemClient::open(by_name.clone(), Arc::clone(&owner_store))
        .await
        .expect("same key, other address");
    assert_eq!(
        owner
            .publish(&vol("meta"), &doc("two"))
            .await
            .expect("publish")
            .version,
        2
    );
    assert_eq!(
        account_of(&owner_store)["relay"],
        format!("https://localhost:{port}"),
        "the address reached, verified by the relay's key, is the account's address now"
    );
    let reader = FriendClient::open(by_name, Arc::clone(&reader_store))
        .await
        .expect("same key, other address");
    assert_eq!(
        plaintext(reader.fetch(owner.user_id(), &vol("meta")).await),
        (2, 1, doc("two"))
    );
    drop((owner, reader));

    // And back: the account follows the relay, not a URL string.
    let _owner = SystemClient::open(by_ip, Arc::clone(&owner_store))
        .await
        .expect("back to the first address");
    assert_eq!(
        account_of(&owner_store)["relay"],
        format!("https://127.0.0.1:{port}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_with_another_key_is_refused() {
    let home = RelayProcess::start().await;
    let stranger = RelayProcess::start().await;
    assert_ne!(home.pin(), stranger.pin());
    let config = scanned(&pairing_in(&home.stdout_lines()));
    let (owner, owner_store) = system(&config).await;
    drop(owner);

    // Another relay's pairing string (other address, other key): not this account's relay.
    let other = scanned(&pairing_in(&stranger.stdout_lines()));
    let err = SystemClient::open(other, Arc::clone(&owner_store))
        .await
        .expect_err("another relay");
    assert!(matches!(err, ClientError::InvalidInput(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("the key store belongs to an account on another relay"),
        "{err}"
    );

    // The account's pin at the other relay's address: the relay actually reached is checked,
    // and the error names both keys.
    let err = SystemClient::open(at(&config, stranger.url()), Arc::clone(&owner_store))
        .await
        .expect_err("the relay reached has another key");
    let ClientError::Tls {
        pin_mismatch: true,
        detail,
    } = &err
    else {
        panic!("a pin mismatch expected, got {err:?}");
    };
    assert_eq!(
        detail,
        &format!(
            "expected {}, the relay presented {}",
            home.pin(),
            stranger.pin()
        )
    );
    assert_eq!(
        account_of(&owner_store)["relay"],
        home.url(),
        "an address that failed the pin check is not recorded"
    );

    // The home relay still opens.
    SystemClient::open(config, owner_store)
        .await
        .expect("the account's own relay");
}

/// A relay process on a data directory of the test's own, so its key may change between
/// starts (the shared helper asserts it does not).
struct OwnRelay {
    child: Child,
    lines: Vec<String>,
}

impl OwnRelay {
    fn start(data_dir: &Path, listen: &str) -> OwnRelay {
        let mut cmd = Command::new(relay_binary());
        cmd.arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(listen)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (key, _) in std::env::vars_os() {
            if let Some(key) = key.to_str()
                && (key.starts_with("COFFER_") || key.starts_with("PLURALLOG_"))
            {
                cmd.env_remove(key);
            }
        }
        for class in [
            "REGISTER",
            "AUTH",
            "UPLOAD",
            "GENERAL",
            "DISCOVERY",
            "ADMIN",
        ] {
            cmd.env(format!("COFFER_RATE_{class}"), "100000");
        }
        let mut child = cmd.spawn().expect("spawn coffer-relay");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Keeps draining after the banner, so the relay never blocks on a full pipe.
                let _ = tx.send(line);
            }
        });
        let mut lines = Vec::new();
        while !lines
            .iter()
            .any(|l: &String| l.trim_start().starts_with("data:"))
        {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => lines.push(line),
                Err(e) => panic!("no banner from the relay ({e}):\n{}", lines.join("\n")),
            }
        }
        OwnRelay { child, lines }
    }

    fn banner(&self, key: &str) -> Option<String> {
        self.lines.iter().find_map(|line| {
            line.trim()
                .strip_prefix(key)
                .map(|value| value.trim().to_owned())
        })
    }

    fn url(&self) -> String {
        self.banner("url:").expect("url line")
    }

    fn pin(&self) -> SpkiPin {
        self.banner("pin:")
            .expect("pin line")
            .parse()
            .expect("a pin")
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// `coffer-admin`, built beside the relay binary (`$COFFER_ADMIN_BIN` overrides).
fn admin_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("COFFER_ADMIN_BIN") {
        return PathBuf::from(bin);
    }
    let bin = relay_binary().with_file_name("coffer-admin");
    assert!(
        bin.is_file(),
        "coffer-admin not found at {} — run `cargo build -p coffer-admin` first (or set \
         COFFER_ADMIN_BIN)",
        bin.display()
    );
    bin
}

/// `coffer-admin cert <args…> --dir <data>/tls`, which must succeed.
fn cert(data_dir: &Path, args: &[&str]) {
    let out = Command::new(admin_binary())
        .arg("cert")
        .args(args)
        .arg("--dir")
        .arg(data_dir.join("tls"))
        .env_remove("COFFER_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run coffer-admin");
    assert!(
        out.status.success(),
        "coffer-admin cert {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_rotation_needs_no_re_pairing() {
    let work = tempfile::tempdir().expect("temporary directory");
    let data = work.path().join("data");
    std::fs::create_dir(&data).expect("data directory");

    let relay = OwnRelay::start(&data, "127.0.0.1:0");
    let url = relay.url();
    let listen = url.trim_start_matches("https://").to_owned();
    let first_pin = relay.pin();
    let config = scanned(&pairing_in(&relay.lines));
    let (owner, owner_store) = system(&config).await;
    owner
        .publish(&vol("meta"), &doc("before"))
        .await
        .expect("publish");
    let (reader, reader_store) = friend(&config).await;
    pair(&owner, &reader, &[vol("meta")]).await;
    drop((owner, reader));

    // 1. The operator prepares the next key and restarts: the relay announces it.
    cert(&data, &["next"]);
    relay.stop();
    let relay = OwnRelay::start(&data, &listen);
    assert_eq!(relay.pin(), first_pin);
    let next_pin: SpkiPin = relay
        .banner("next pin:")
        .expect("the banner announces the next pin")
        .parse()
        .expect("a pin");

    // Existing clients open as usual and remember the announced pin.
    let owner = SystemClient::open(config.clone(), Arc::clone(&owner_store))
        .await
        .expect("open");
    let reader = FriendClient::open(config.clone(), Arc::clone(&reader_store))
        .await
        .expect("open");
    for store in [&owner_store, &reader_store] {
        assert_eq!(
            account_of(store)["relay_next_pin"],
            next_pin.to_string(),
            "the client read GET /api/v2/pins"
        );
    }
    drop((owner, reader));

    // 2. The operator rotates and restarts: the relay now presents the next key.
    cert(&data, &["rotate"]);
    relay.stop();
    let relay = OwnRelay::start(&data, &listen);
    assert_eq!(
        relay.pin(),
        next_pin,
        "the rotated relay presents the next key"
    );

    // The apps still hold the configuration from the first pairing string: no re-pairing.
    let owner = SystemClient::open(config.clone(), Arc::clone(&owner_store))
        .await
        .expect("open after the rotation");
    assert_eq!(
        owner
            .publish(&vol("meta"), &doc("after"))
            .await
            .expect("publish after the rotation")
            .version,
        2
    );
    let reader = FriendClient::open(config.clone(), Arc::clone(&reader_store))
        .await
        .expect("open after the rotation");
    assert_eq!(
        plaintext(reader.fetch(owner.user_id(), &vol("meta")).await),
        (2, 1, doc("after"))
    );
    let account = account_of(&owner_store);
    assert_eq!(account["relay_pin"], next_pin.to_string());
    assert_eq!(account["relay_former_pins"][0], first_pin.to_string());
    drop((owner, reader));

    // The first pairing string still names this relay, but only the current key is trusted
    // for the connection.
    let first = scanned(
        &coffer_certs::RelayPairing::new(&url, first_pin, None)
            .expect("pairing")
            .to_string(),
    );
    let owner = SystemClient::open(first, Arc::clone(&owner_store))
        .await
        .expect("the retired pin still names this relay");
    assert_eq!(
        owner
            .publish(&vol("meta"), &doc("later"))
            .await
            .expect("publish")
            .version,
        3
    );
    assert_eq!(owner.relay().trusted_pins(), &[next_pin]);
    relay.stop();
}
