//! What the relay may show of client IP addresses (design §8): nothing (`off`, the default), a
//! keyed hash (`keyed-hash`), or the address (`full`). The policy governs the request log and
//! the anomaly report; nothing here ever writes an address to the database.
//!
//! The keyed hash is HMAC-SHA-256 under a 32-byte secret kept in `<data_dir>/ip-hash.key`
//! (mode 0600, created on first use), truncated to 64 bits and shown as `h:<16 hex>`. The same
//! address gets the same label across restarts, so an operator can correlate; without the
//! secret a label cannot be turned back into an address (IPv4 is only 2^32 addresses, which is
//! why a plain hash would not do). Deleting the file gives every address a new label.
//!
//! Even with `off`, the anomaly tracker can count per source in memory: under a random key that
//! lives only in this process and is never shown, so the report can say "one source made 500
//! failed logins" without saying which.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::net::IpAddr;
use std::path::Path;

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::config::IpPolicy;

/// Why the keyed-hash secret could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IpKeyError {
    /// Reading or creating the file failed.
    #[error("cannot read or create {path}: {source}")]
    Io {
        /// The key file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file exists but is not 32 bytes.
    #[error(
        "{path} is not a 32-byte key; delete it to create a new one (addresses then get new labels)"
    )]
    Corrupt {
        /// The key file.
        path: String,
    },
}

/// Labels for client addresses under the configured policy.
pub struct IpLabels {
    policy: IpPolicy,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for IpLabels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpLabels")
            .field("policy", &self.policy)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn load_or_create_key(path: &Path) -> Result<Zeroizing<[u8; 32]>, IpKeyError> {
    let io = |source| IpKeyError::Io {
        path: path.display().to_string(),
        source,
    };
    match File::open(path) {
        Ok(file) => {
            let mut bytes = Zeroizing::new(Vec::with_capacity(33));
            file.take(33).read_to_end(&mut bytes).map_err(io)?;
            let mut key = Zeroizing::new([0u8; 32]);
            if bytes.len() != 32 {
                return Err(IpKeyError::Corrupt {
                    path: path.display().to_string(),
                });
            }
            key.copy_from_slice(&bytes);
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::os::unix::fs::OpenOptionsExt as _;
            let key = Zeroizing::new(rand::random::<[u8; 32]>());
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
            file.write_all(&key[..])
                .and_then(|()| file.sync_all())
                .map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

impl IpLabels {
    /// Loads (or creates) the secret for `keyed-hash`; other policies get a key that lives only
    /// in memory.
    pub fn open(policy: IpPolicy, key_path: &Path) -> Result<Self, IpKeyError> {
        let key = match policy {
            IpPolicy::KeyedHash => load_or_create_key(key_path)?,
            IpPolicy::Off | IpPolicy::Full => Zeroizing::new(rand::random()),
        };
        Ok(Self { policy, key })
    }

    /// An in-memory instance for tests.
    pub fn ephemeral(policy: IpPolicy) -> Self {
        Self {
            policy,
            key: Zeroizing::new(rand::random()),
        }
    }

    /// The configured policy.
    pub fn policy(&self) -> IpPolicy {
        self.policy
    }

    fn keyed(&self, ip: IpAddr) -> String {
        // IPv4-mapped IPv6 and IPv4 are the same client.
        let ip = ip.to_canonical();
        let bytes = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.key[..])
            .expect("HMAC accepts a key of any length");
        mac.update(b"coffer-relay/ip-label");
        mac.update(&bytes);
        let tag = mac.finalize().into_bytes();
        format!("h:{}", hex::encode(&tag[..8]))
    }

    /// What logs and reports may show for `ip`: nothing, the keyed hash, or the address.
    pub fn shown(&self, ip: IpAddr) -> Option<String> {
        match self.policy {
            IpPolicy::Off => None,
            IpPolicy::KeyedHash => Some(self.keyed(ip)),
            IpPolicy::Full => Some(ip.to_canonical().to_string()),
        }
    }

    /// A key for counting per source in memory (the shown label, or with `off` a hash under
    /// this process's own key, which is never shown).
    pub fn tracking_key(&self, ip: IpAddr) -> String {
        self.shown(ip).unwrap_or_else(|| self.keyed(ip))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn policies() {
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        let off = IpLabels::ephemeral(IpPolicy::Off);
        assert_eq!(off.shown(ip), None);
        assert!(!off.tracking_key(ip).contains("203"));
        assert_eq!(off.tracking_key(ip), off.tracking_key(mapped));

        let full = IpLabels::ephemeral(IpPolicy::Full);
        assert_eq!(full.shown(mapped).as_deref(), Some("203.0.113.9"));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ip-hash.key");
        let keyed = IpLabels::open(IpPolicy::KeyedHash, &path).unwrap();
        let label = keyed.shown(ip).unwrap();
        assert!(label.starts_with("h:") && label.len() == 18, "{label}");
        assert!(!label.contains("203"));
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // Stable across restarts (same file), different under another key.
        let again = IpLabels::open(IpPolicy::KeyedHash, &path).unwrap();
        assert_eq!(again.shown(ip), Some(label.clone()));
        let other = IpLabels::ephemeral(IpPolicy::KeyedHash);
        assert_ne!(other.shown(ip), Some(label));
        assert!(!format!("{keyed:?}").contains(&hex::encode(&keyed.key[..4])));

        // Only keyed-hash touches the data directory.
        let untouched = dir.path().join("none.key");
        IpLabels::open(IpPolicy::Full, &untouched).unwrap();
        assert!(!untouched.exists());

        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            IpLabels::open(IpPolicy::KeyedHash, &path),
            Err(IpKeyError::Corrupt { .. })
        ));
    }
}
