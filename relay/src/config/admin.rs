//! The operator's admin token in the configuration: a plain token (v1 compatibility, held only
//! as its SHA-256) or an Argon2id hash, checked here when the configuration is read.
//!
//! This is the **only** file of the relay that links Argon2 (CI checks it), and it hashes
//! nothing but the operator's admin token: the relay still never derives or uses a key for
//! volume data (docs/adr/0007-operator-access.md). The runtime check of presented tokens, with
//! its cache and concurrency bound, is `crate::admin_token` (server builds only); it calls
//! [`verify_hash`] here.
//!
//! - **Hash** (`admin.token_hash = "$argon2id$…"`, from `coffer-admin token generate`): the relay
//!   holds only the PHC string; a leaked configuration does not reveal the token.
//! - **Plain** (`admin.token`, `PLURALLOG_ADMIN_TOKEN`): kept for v1 deployments; held only as its
//!   SHA-256 and compared in constant time.

use std::fmt;
use std::net::SocketAddr;

use argon2::{Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why an admin-token hash (`admin.token_hash`) was refused. The text says what is wrong,
/// never the string itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenHashError {
    /// Not a PHC string at all.
    #[error(
        "not a PHC string; expected $argon2id$v=19$m=…,t=…,p=…$<salt>$<hash> as printed by \
         `coffer-admin token generate`"
    )]
    NotPhc,
    /// Another algorithm than Argon2id.
    #[error("the hash must use argon2id")]
    NotArgon2id,
    /// Another Argon2 version than 19.
    #[error("the hash must be Argon2 version 19 (v=19)")]
    Version,
    /// Salt or hash missing.
    #[error("the PHC string has no salt or no hash")]
    Incomplete,
    /// The m, t, p parameters do not parse.
    #[error("invalid Argon2 parameters (m, t, p)")]
    Params,
    /// The parameters exceed the relay's bounds.
    #[error("Argon2 parameters too large (at most m={max_m}, t={max_t}, p={max_p})")]
    TooCostly {
        /// Largest memory cost (KiB).
        max_m: u32,
        /// Largest time cost.
        max_t: u32,
        /// Largest parallelism.
        max_p: u32,
    },
    /// Hashing failed (`hash_token`).
    #[error("cannot hash the token: {0}")]
    Hashing(String),
}

/// Largest accepted Argon2 memory cost (KiB): a configuration cannot make every verification
/// allocate gigabytes.
const MAX_M_COST: u32 = 256 * 1024;
/// Largest accepted Argon2 time cost.
const MAX_T_COST: u32 = 16;
/// Largest accepted Argon2 parallelism.
const MAX_P_COST: u32 = 8;

/// Checks that `text` is an Argon2id PHC string with a salt, a hash and bounded parameters.
/// The error says what is wrong, never the string.
pub fn check_phc(text: &str) -> Result<(), TokenHashError> {
    let hash = PasswordHash::new(text).map_err(|_| TokenHashError::NotPhc)?;
    if hash.algorithm.as_str() != "argon2id" {
        return Err(TokenHashError::NotArgon2id);
    }
    if hash.version != Some(0x13) {
        return Err(TokenHashError::Version);
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(TokenHashError::Incomplete);
    }
    let params = Params::try_from(&hash).map_err(|_| TokenHashError::Params)?;
    if params.m_cost() > MAX_M_COST || params.t_cost() > MAX_T_COST || params.p_cost() > MAX_P_COST
    {
        return Err(TokenHashError::TooCostly {
            max_m: MAX_M_COST,
            max_t: MAX_T_COST,
            max_p: MAX_P_COST,
        });
    }
    Ok(())
}

/// Hashes an admin token to an Argon2id PHC string (m = 19 MiB, t = 2, p = 1, random salt):
/// what `coffer-admin token generate` prints for `admin.token_hash`.
pub fn hash_token(token: &[u8]) -> Result<String, TokenHashError> {
    Argon2::default()
        .hash_password(token)
        .map(|h| h.to_string())
        .map_err(|e| TokenHashError::Hashing(e.to_string()))
}

/// Whether `token` matches the PHC string `phc` (slow: call it on the blocking pool).
pub fn verify_hash(phc: &str, token: &[u8]) -> bool {
    Argon2::default().verify_password(token, phc).is_ok()
}

/// The admin token, held only as its SHA-256 digest. Never printed.
#[derive(Clone, Default)]
pub struct AdminToken(Option<[u8; 32]>);

impl AdminToken {
    /// From the configured text; empty means "admin API disabled".
    pub fn from_text(text: &str) -> Self {
        if text.is_empty() {
            Self(None)
        } else {
            Self(Some(Sha256::digest(text.as_bytes()).into()))
        }
    }

    /// The SHA-256 of the configured token.
    pub fn digest(&self) -> Option<[u8; 32]> {
        self.0
    }

    /// Whether an admin token is configured.
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Constant-time check of a presented token (digests compared, so length leaks nothing).
    pub fn matches(&self, presented: &[u8]) -> bool {
        match &self.0 {
            None => false,
            Some(expected) => {
                let got: [u8; 32] = Sha256::digest(presented).into();
                expected.ct_eq(&got).into()
            }
        }
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() {
            "AdminToken(<set>)"
        } else {
            "AdminToken(<unset>)"
        })
    }
}

impl<'de> Deserialize<'de> for AdminToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Self::from_text(&text))
    }
}

/// The Argon2id hash (PHC string) of the admin token, as `coffer-admin token generate` prints
/// it. Parsed and range-checked when the configuration is read, so a typo stops start-up
/// instead of locking the operator out. `Debug` shows the parameters, not the hash.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminTokenHash(String);

impl AdminTokenHash {
    /// Checks `text` with [`check_phc`].
    pub fn parse(text: &str) -> Result<Self, TokenHashError> {
        check_phc(text)?;
        Ok(Self(text.to_owned()))
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AdminTokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`: the first four fields are parameters.
        let params: Vec<&str> = self.0.split('$').take(4).collect();
        write!(f, "AdminTokenHash({}$<redacted>)", params.join("$"))
    }
}

impl<'de> Deserialize<'de> for AdminTokenHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Admin API settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// The plain `X-Admin-Token` value (v1 compatibility); empty disables it. Prefer
    /// [`Admin::token_hash`].
    pub token: AdminToken,
    /// The Argon2id hash of the admin token (preferred: the relay never holds the token).
    pub token_hash: Option<AdminTokenHash>,
    /// A separate listener for the admin API and `/metrics`. When set, the admin token is
    /// accepted only on it, and the public listener answers admin routes with 403. Loopback,
    /// or any address when the token is configured as [`Admin::token_hash`] (a dashboard in its
    /// own container; the relay warns at start-up).
    pub listen: Option<SocketAddr>,
}

/// Cheap parameters so tests run fast (still a valid argon2id PHC string).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn quick_hash(token: &[u8]) -> String {
    let params = Params::new(64, 1, 1, None).unwrap();
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(token)
        .unwrap()
        .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_checked() {
        let phc = hash_token(b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        check_phc(&phc).unwrap();
        check_phc(&quick_hash(b"x")).unwrap();
        assert!(verify_hash(&phc, b"correct horse"));
        assert!(!verify_hash(&phc, b"correct horse "));
        assert_ne!(hash_token(b"correct horse").unwrap(), phc, "random salt");

        for bad in [
            "",
            "plain-token",
            "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=19456,t=2,p=1",
            "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=19456,t=100,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            let err = check_phc(bad).unwrap_err().to_string();
            assert!(!err.contains("c2FsdHNhbHQ"), "{err}");
        }
    }
}
