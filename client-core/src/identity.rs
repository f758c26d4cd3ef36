//! A user's long-lived identity: an Ed25519 signing key and an X25519 exchange key.
//!
//! The relay only ever sees the two public halves. This module never hands out a way to sign
//! arbitrary bytes: signing is crate-internal, and the protocol modules decide *what* gets
//! signed (a login nonce, an upload), so callers cannot turn an identity into a signing oracle
//! by accident.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey};
use subtle::{Choice, ConstantTimeEq};
use x25519_dalek::{PublicKey, SharedSecret, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::random;
use crate::v2::V2Error;

/// Length of every raw key in this module (Ed25519 seed and public key, X25519 secret and
/// public key).
pub const KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of [`IdentitySecret::to_bytes`]: version (1) ‖ Ed25519 seed (32) ‖ X25519 secret (32).
pub const IDENTITY_SECRET_LEN: usize = 1 + 2 * KEY_LEN;
/// Format version of [`IdentitySecret::to_bytes`].
const IDENTITY_SECRET_VERSION: u8 = 1;

/// A user's key pairs: Ed25519 (RFC 8032, pure) for signing, X25519 (RFC 7748) for key
/// exchange. The two are independent keys; nothing binds one to the other (v1.md W6).
///
/// Secret: both private keys are zeroized on drop, and `Debug` prints `Identity(<redacted>)`.
/// There is deliberately no `Clone`, `PartialEq`, `Display` or serialisation.
pub struct Identity {
    signing: SigningKey,
    exchange: StaticSecret,
}

// Both fields wipe themselves on drop (ed25519-dalek and x25519-dalek with `zeroize`).
impl ZeroizeOnDrop for Identity {}

impl Identity {
    /// Generates a fresh identity from operating-system randomness.
    ///
    /// # Panics
    /// Only if the operating system cannot supply randomness.
    #[must_use]
    pub fn generate() -> Identity {
        let mut rng = random::os_rng();
        Identity {
            signing: SigningKey::generate(&mut rng),
            exchange: StaticSecret::random_from_rng(&mut rng),
        }
    }

    /// Rebuilds an identity from its stored secrets: the 32-byte Ed25519 seed (RFC 8032's
    /// "private key") and the 32-byte X25519 secret scalar (clamped when used, per RFC 7748).
    ///
    /// The caller still owns its copies of the input bytes and should wipe them.
    #[must_use]
    pub fn from_secret_bytes(
        signing_seed: &[u8; KEY_LEN],
        exchange_secret: &[u8; KEY_LEN],
    ) -> Identity {
        Identity {
            signing: SigningKey::from_bytes(signing_seed),
            exchange: StaticSecret::from(*exchange_secret),
        }
    }

    /// The raw Ed25519 public key (`public_signing_key` on the wire).
    #[must_use]
    pub fn public_signing_key(&self) -> [u8; KEY_LEN] {
        self.signing.verifying_key().to_bytes()
    }

    /// The raw X25519 public key (`public_exchange_key` on the wire).
    #[must_use]
    pub fn public_exchange_key(&self) -> [u8; KEY_LEN] {
        PublicKey::from(&self.exchange).to_bytes()
    }

    /// The Ed25519 public key as standard padded base64 (44 characters), as v1 registers it.
    #[must_use]
    pub fn public_signing_key_b64(&self) -> String {
        coffer_wire::b64::encode(&self.public_signing_key())
    }

    /// The X25519 public key as standard padded base64 (44 characters), as v1 registers it.
    #[must_use]
    pub fn public_exchange_key_b64(&self) -> String {
        coffer_wire::b64::encode(&self.public_exchange_key())
    }

    /// Signs `msg` with Ed25519 (RFC 8032, pure, deterministic).
    ///
    /// Crate-internal on purpose: protocol modules choose what is signed (see the module doc).
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signing.sign(msg).to_bytes()
    }

    /// **Exports the private keys** in storable form, for the app's secure storage (Keychain,
    /// Android Keystore-wrapped storage) or the passphrase-encrypted backup
    /// ([`crate::v2::export_backup`]). This is the only way to get private key bytes out of an
    /// identity; whoever holds the result *is* this user. Never log, upload or display it.
    #[must_use]
    pub fn danger_export_secret(&self) -> IdentitySecret {
        // Filled in place, so no copy of the keys is left in a temporary.
        let mut secret = IdentitySecret([0u8; IDENTITY_SECRET_LEN]);
        secret.0[0] = IDENTITY_SECRET_VERSION;
        secret.0[1..=KEY_LEN].copy_from_slice(self.signing.as_bytes());
        secret.0[1 + KEY_LEN..].copy_from_slice(self.exchange.as_bytes());
        secret
    }

    /// Rebuilds an identity from [`Identity::danger_export_secret`]'s output.
    #[must_use]
    pub fn from_secret(secret: &IdentitySecret) -> Identity {
        let (signing, exchange) = secret.keys();
        Identity::from_secret_bytes(signing, exchange)
    }

    /// Raw X25519 with the peer's public key (RFC 7748 §5, scalar clamped). The caller must
    /// reject a non-contributory (all-zero) result where that matters and must not use the
    /// output as a key without a KDF.
    pub(crate) fn x25519(&self, peer_public: &[u8; KEY_LEN]) -> SharedSecret {
        self.exchange.diffie_hellman(&PublicKey::from(*peer_public))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identity(<redacted>)")
    }
}

/// An identity's private keys in storable form (from [`Identity::danger_export_secret`]).
///
/// Secret: zeroized on drop, `Debug` prints `IdentitySecret(<redacted>)`, no `Clone`, `Display`
/// or `Serialize`, constant-time equality; [`Self::to_bytes`] is the one way to read it.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct IdentitySecret([u8; IDENTITY_SECRET_LEN]);

impl IdentitySecret {
    /// `version(1) ‖ Ed25519 seed(32) ‖ X25519 secret(32)`, wiped when dropped. The app stores
    /// these bytes in its secure storage.
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<[u8; IDENTITY_SECRET_LEN]> {
        Zeroizing::new(self.0)
    }

    /// Parses stored bytes. The caller still owns `bytes` and should wipe them.
    ///
    /// # Errors
    /// [`V2Error::Malformed`] unless `bytes` is exactly 65 bytes starting with version 1.
    pub fn from_bytes(bytes: &[u8]) -> Result<IdentitySecret, V2Error> {
        let array = <[u8; IDENTITY_SECRET_LEN]>::try_from(bytes)
            .map_err(|_| V2Error::Malformed("identity secret must be 65 bytes"))?;
        if array[0] != IDENTITY_SECRET_VERSION {
            let mut array = array;
            array.zeroize();
            return Err(V2Error::Malformed("identity secret has an unknown version"));
        }
        Ok(IdentitySecret(array))
    }

    fn keys(&self) -> (&[u8; KEY_LEN], &[u8; KEY_LEN]) {
        let (_, keys) = self.0.split_at(1);
        let (signing, exchange) = keys.split_at(KEY_LEN);
        (
            signing.try_into().expect("65 = 1 + 32 + 32"),
            exchange.try_into().expect("65 = 1 + 32 + 32"),
        )
    }
}

impl ConstantTimeEq for IdentitySecret {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for IdentitySecret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for IdentitySecret {}

impl fmt::Debug for IdentitySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentitySecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{hex_array, hex_vec, rfc_vectors};

    #[test]
    fn rfc8032_tests_1_to_3() {
        let vectors = rfc_vectors();
        let cases = vectors["rfc8032_ed25519"]["tests"]
            .as_array()
            .expect("rfc8032 tests");
        assert_eq!(cases.len(), 3);
        for case in cases {
            let name = case["name"].as_str().expect("name");
            let seed: [u8; 32] = hex_array(&case["secret_key"]);
            let id = Identity::from_secret_bytes(&seed, &[0u8; 32]);
            assert_eq!(
                id.public_signing_key(),
                hex_array::<32>(&case["public_key"]),
                "{name}: public key"
            );
            let sig = id.sign(&hex_vec(&case["message"]));
            assert_eq!(
                sig,
                hex_array::<64>(&case["signature"]),
                "{name}: signature"
            );
        }
    }

    #[test]
    fn rfc7748_scalar_mult() {
        let vectors = rfc_vectors();
        let section = &vectors["rfc7748_x25519"];
        let cases = section["scalar_mult"].as_array().expect("scalar_mult");
        assert_eq!(cases.len(), 2);
        for case in cases {
            let id = Identity::from_secret_bytes(&[0u8; 32], &hex_array(&case["scalar"]));
            let out = id.x25519(&hex_array(&case["u"]));
            assert_eq!(out.as_bytes(), &hex_array::<32>(&case["output"]));
        }

        // §5.2 iterated: k, u start at the base point; each round k' = X25519(k, u), u' = k.
        let iterated = &section["iterated"];
        let mut k: [u8; 32] = hex_array(&iterated["start"]);
        let mut u = k;
        for round in 1..=1000 {
            let next = *Identity::from_secret_bytes(&[0u8; 32], &k)
                .x25519(&u)
                .as_bytes();
            u = k;
            k = next;
            if round == 1 {
                assert_eq!(k, hex_array::<32>(&iterated["after_1"]));
            }
        }
        assert_eq!(k, hex_array::<32>(&iterated["after_1000"]));
    }

    #[test]
    fn rfc7748_diffie_hellman() {
        let vectors = rfc_vectors();
        let dh = &vectors["rfc7748_x25519"]["diffie_hellman"];
        let alice = Identity::from_secret_bytes(&[0u8; 32], &hex_array(&dh["alice_private"]));
        let bob = Identity::from_secret_bytes(&[0u8; 32], &hex_array(&dh["bob_private"]));
        assert_eq!(
            alice.public_exchange_key(),
            hex_array::<32>(&dh["alice_public"])
        );
        assert_eq!(
            bob.public_exchange_key(),
            hex_array::<32>(&dh["bob_public"])
        );
        let shared: [u8; 32] = hex_array(&dh["shared"]);
        assert_eq!(alice.x25519(&bob.public_exchange_key()).as_bytes(), &shared);
        assert_eq!(bob.x25519(&alice.public_exchange_key()).as_bytes(), &shared);
    }

    #[test]
    fn secret_export_round_trips() {
        let id = Identity::generate();
        let secret = id.danger_export_secret();
        let bytes = secret.to_bytes();
        assert_eq!(bytes[0], 1);
        let again = Identity::from_secret(&IdentitySecret::from_bytes(&bytes[..]).expect("valid"));
        assert_eq!(again.public_signing_key(), id.public_signing_key());
        assert_eq!(again.public_exchange_key(), id.public_exchange_key());
        assert_eq!(again.danger_export_secret(), secret);
        assert_eq!(format!("{secret:?}"), "IdentitySecret(<redacted>)");
        assert!(IdentitySecret::from_bytes(&bytes[..64]).is_err());
        let mut other_version = *bytes;
        other_version[0] = 2;
        assert!(IdentitySecret::from_bytes(&other_version).is_err());
    }

    #[test]
    fn generated_identities_differ_and_encode_as_44_chars() {
        let a = Identity::generate();
        let b = Identity::generate();
        assert_ne!(a.public_signing_key(), b.public_signing_key());
        assert_ne!(a.public_exchange_key(), b.public_exchange_key());
        assert_eq!(a.public_signing_key_b64().len(), 44);
        assert_eq!(a.public_exchange_key_b64().len(), 44);
        assert_eq!(
            coffer_wire::b64::decode_exact::<32>(&a.public_exchange_key_b64()),
            Ok(a.public_exchange_key())
        );
    }
}
