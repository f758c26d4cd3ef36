//! The user's identity as a foreign-language object: the two private keys stay inside Rust
//! (in `coffer_client_core::identity::Identity`, which wipes them on drop); only the public
//! halves cross the boundary.

use std::fmt;
use std::sync::Arc;

use coffer_client_core::identity::{
    IDENTITY_SECRET_LEN, Identity as CoreIdentity, IdentitySecret, KEY_LEN,
};
use zeroize::Zeroizing;

use crate::error::{CofferError, exact};

/// A user's long-lived key pairs: Ed25519 for signing (login, uploads) and X25519 for key
/// exchange with friends.
///
/// The private keys never leave Rust: this object has no getter for them, and they are wiped
/// when the object is destroyed (Kotlin `close()` / `use {}`, Swift deinit, Python `del`). Its
/// `Debug` form is `Identity(<redacted>)`.
#[derive(uniffi::Object)]
pub struct Identity(CoreIdentity);

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identity(<redacted>)")
    }
}

impl Identity {
    /// The client-core identity, for the binding functions of this crate.
    pub(crate) fn core(&self) -> &CoreIdentity {
        &self.0
    }
}

#[uniffi::export]
impl Identity {
    /// Generates a fresh identity from the operating system's randomness. A v1 app persists it
    /// with [`Identity::danger_export_secret`] (v2 apps never handle identities: the
    /// `SystemClient`/`FriendClient` keep theirs in the app's `KeyStorage`).
    #[uniffi::constructor]
    pub fn generate() -> Arc<Self> {
        Arc::new(Identity(CoreIdentity::generate()))
    }

    /// Rebuilds an identity from its stored secrets: the 32-byte Ed25519 seed (RFC 8032's
    /// "private key") and the 32-byte X25519 secret. Rust wipes its copies of both arguments;
    /// the caller should wipe its own.
    ///
    /// Throws `InvalidInput` unless both are exactly 32 bytes.
    #[uniffi::constructor]
    pub fn from_secret_bytes(
        signing_seed: Vec<u8>,
        exchange_secret: Vec<u8>,
    ) -> Result<Arc<Self>, CofferError> {
        let (signing_seed, exchange_secret) = (
            Zeroizing::new(signing_seed),
            Zeroizing::new(exchange_secret),
        );
        let seed = Zeroizing::new(exact::<KEY_LEN>(&signing_seed, "signing seed")?);
        let secret = Zeroizing::new(exact::<KEY_LEN>(&exchange_secret, "exchange secret")?);
        Ok(Arc::new(Identity(CoreIdentity::from_secret_bytes(
            &seed, &secret,
        ))))
    }

    /// Rebuilds an identity from [`Identity::danger_export_secret`]'s 65 bytes. Rust wipes its
    /// copy of the argument; the caller should wipe its own.
    ///
    /// Throws `InvalidInput` unless the bytes are an exported identity secret.
    #[uniffi::constructor]
    pub fn from_exported_secret(secret: Vec<u8>) -> Result<Arc<Self>, CofferError> {
        let secret = Zeroizing::new(secret);
        let secret = IdentitySecret::from_bytes(&secret).map_err(|_| CofferError::InvalidInput {
            reason: format!(
                "an exported identity secret is {IDENTITY_SECRET_LEN} bytes starting with version 1"
            ),
        })?;
        Ok(Arc::new(Identity(CoreIdentity::from_secret(&secret))))
    }

    /// **Danger:** both private keys in storable form (65 bytes: version, Ed25519 seed, X25519
    /// secret). Whoever holds them *is* this user. It exists because a v1 app must persist its
    /// identity: put the bytes straight into the platform's secure storage (Keychain, Android
    /// Keystore-wrapped storage), wipe the array (`fill(0)`), never log, send or display them.
    pub fn danger_export_secret(&self) -> Vec<u8> {
        self.0.danger_export_secret().to_bytes().to_vec()
    }

    /// The raw 32-byte Ed25519 public key (`public_signing_key` on the wire, after base64).
    pub fn public_signing_key(&self) -> Vec<u8> {
        self.0.public_signing_key().to_vec()
    }

    /// The raw 32-byte X25519 public key (`public_exchange_key` on the wire, after base64).
    pub fn public_exchange_key(&self) -> Vec<u8> {
        self.0.public_exchange_key().to_vec()
    }

    /// The Ed25519 public key as standard padded base64 (44 characters), as v1 registers it.
    pub fn public_signing_key_b64(&self) -> String {
        self.0.public_signing_key_b64()
    }

    /// The X25519 public key as standard padded base64 (44 characters), as v1 registers it.
    pub fn public_exchange_key_b64(&self) -> String {
        self.0.public_exchange_key_b64()
    }
}
