//! The real `coffer-relay` binary and client helpers, shared by the client integration tests.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use coffer_client_core::client::{ClientConfig, Fetched, FriendClient, RelayApi, SystemClient};
use coffer_client_core::storage::{KeyStore, MemoryKeyStore};
use coffer_client_core::transport::{RelayHttpConfig, Trust};
use coffer_client_core::v2::InviteLink;
use coffer_wire::v2::VolumeName;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The relay process

/// The relay binary next to this test's profile directory (`target/<profile>/coffer-relay`),
/// built once if missing.
pub fn relay_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("COFFER_RELAY_BIN") {
            return PathBuf::from(bin);
        }
        let exe = std::env::current_exe().expect("test executable path");
        let profile = exe
            .parent()
            .and_then(Path::parent)
            .expect("tests live in target/<profile>/deps");
        let bin = profile.join("coffer-relay");
        if !bin.is_file() {
            let cargo = option_env!("CARGO").unwrap_or("cargo");
            let status = std::process::Command::new(cargo)
                .args(["build", "-p", "coffer-relay"])
                .status()
                .expect("run cargo build -p coffer-relay");
            assert!(status.success(), "cargo build -p coffer-relay failed");
        }
        assert!(bin.is_file(), "relay binary missing at {}", bin.display());
        bin
    })
    .clone()
}

/// A running relay on a fresh data directory; killed on drop.
pub struct Relay {
    _dir: tempfile::TempDir,
    child: Child,
    url: String,
    pin: String,
}

impl Relay {
    pub async fn start() -> Relay {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(relay_binary());
        cmd.arg("--data-dir")
            .arg(dir.path())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("COFFER_")) {
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
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let (mut url, mut pin) = (None, None);
        let banner = async {
            while url.is_none() || pin.is_none() {
                let line = lines
                    .next_line()
                    .await
                    .expect("read relay stdout")
                    .expect("relay exited before its banner");
                let line = line.trim();
                if let Some(v) = line.strip_prefix("url:") {
                    url = Some(v.trim().trim_end_matches('/').to_owned());
                } else if let Some(v) = line.strip_prefix("pin:") {
                    pin = Some(v.trim().to_owned());
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), banner)
            .await
            .expect("relay banner within 60 s");
        // Keep draining stdout so the relay never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Relay {
            _dir: dir,
            child,
            url: url.expect("url"),
            pin: pin.expect("pin"),
        }
    }

    pub fn config(&self) -> ClientConfig {
        let mut http = RelayHttpConfig::default();
        http.proxy_from_env = false;
        ClientConfig {
            relay: self.url.parse().expect("relay url"),
            trust: Trust::Pinned(self.pin.parse().expect("relay pin")),
            http,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

pub fn name(n: &str) -> VolumeName {
    VolumeName::new(n).expect("valid volume name")
}

pub fn memory() -> Arc<dyn KeyStore> {
    Arc::new(MemoryKeyStore::new())
}

/// Fetches and expects new content.
pub async fn read<R: RelayApi>(
    friend: &FriendClient<R>,
    system: Uuid,
    volume: &VolumeName,
) -> (u64, u32, Vec<u8>) {
    match friend.fetch(system, volume).await {
        Ok(Fetched::Updated {
            version,
            epoch,
            plaintext,
        }) => (version, epoch, plaintext.to_vec()),
        other => panic!("expected new content of {volume}, got {other:?}"),
    }
}

/// A friend paired with and approved by `system` for `volumes`.
pub async fn paired_friend(
    relay: &Relay,
    system: &SystemClient,
    volumes: &[VolumeName],
) -> FriendClient {
    let friend = FriendClient::register(relay.config(), memory(), None)
        .await
        .expect("friend registers");
    let link = system.create_invite().await.expect("invite");
    // The link travels as text (QR code).
    let link = InviteLink::parse(&link.to_uri()).expect("link parses");
    friend.redeem(&link).await.expect("redeem");
    system
        .approve(friend.user_id(), volumes, None)
        .await
        .expect("approve");
    friend
}
