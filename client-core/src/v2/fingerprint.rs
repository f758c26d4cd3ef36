//! Who a peer is (§2): the fingerprint of a key pair, its safety number, and a peer's public
//! keys with the checks a client runs on them (key binding, pin).

use std::fmt;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_wire::v2::{Label, key_binding_message, labelled};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256, Sha512};
use subtle::ConstantTimeEq as _;

use super::{V2Error, verify_labelled};

/// Length of the compact form (base64url without padding of 32 bytes).
const COMPACT_LEN: usize = 43;

/// `SHA-256(label(fingerprint) ‖ pk ‖ xpk)`: names a key pair (both keys) in 32 bytes.
///
/// Public, but compared in constant time anyway. `Debug` and serde use the compact form.
#[derive(Clone, Copy, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of an Ed25519 public key and an X25519 public key.
    #[must_use]
    pub fn from_public_keys(signing_key: &[u8; 32], exchange_key: &[u8; 32]) -> Fingerprint {
        let digest = Sha256::new()
            .chain_update(labelled(Label::Fingerprint))
            .chain_update(signing_key)
            .chain_update(exchange_key)
            .finalize();
        Fingerprint(digest.into())
    }

    /// Wraps 32 fingerprint bytes (e.g. from a grant).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Fingerprint {
        Fingerprint(bytes)
    }

    /// The 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The number people compare to authenticate each other: twelve groups of five digits
    /// separated by spaces (`u40(h[5i..5i+5]) mod 100000` of
    /// `h = SHA-512(label(safety-number) ‖ fp)`).
    #[must_use]
    pub fn safety_number(&self) -> String {
        let h = Sha512::new()
            .chain_update(labelled(Label::SafetyNumber))
            .chain_update(self.0)
            .finalize();
        let mut out = String::with_capacity(71);
        for (i, group) in h.chunks_exact(5).take(12).enumerate() {
            let value = group.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)) % 100_000;
            if i > 0 {
                out.push(' ');
            }
            // Writing to a String cannot fail.
            let _ = write!(out, "{value:05}");
        }
        out
    }

    /// The compact form used in links and QR codes: base64url without padding (43 characters).
    #[must_use]
    pub fn compact(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Parses the compact form strictly (exactly 43 characters of canonical base64url, no
    /// padding).
    ///
    /// # Errors
    /// [`V2Error::Malformed`] for anything else.
    pub fn from_compact(text: &str) -> Result<Fingerprint, V2Error> {
        const BAD: V2Error = V2Error::Malformed("fingerprint is not 43 characters of base64url");
        if text.len() != COMPACT_LEN {
            return Err(BAD);
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| BAD)?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(Fingerprint)
            .map_err(|_| BAD)
    }
}

impl PartialEq for Fingerprint {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::hash::Hash for Fingerprint {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.compact())
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.compact())
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Fingerprint::from_compact(&text).map_err(serde::de::Error::custom)
    }
}

/// A peer's two public keys, as the relay serves them (`GET /users/{id}`).
///
/// Keys from the relay are claims: check the key binding ([`Self::verify_key_binding`]) and,
/// after pairing, the pin ([`Self::check_pin`]) before using them.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicIdentity {
    /// Ed25519 public key.
    pub signing_key: [u8; 32],
    /// X25519 public key.
    pub exchange_key: [u8; 32],
}

impl PublicIdentity {
    /// Wraps the two public keys.
    #[must_use]
    pub const fn new(signing_key: [u8; 32], exchange_key: [u8; 32]) -> PublicIdentity {
        PublicIdentity {
            signing_key,
            exchange_key,
        }
    }

    /// The fingerprint of both keys.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::from_public_keys(&self.signing_key, &self.exchange_key)
    }

    /// Checks the key-binding signature (proof that the signing key's owner chose this exchange
    /// key).
    ///
    /// # Errors
    /// [`V2Error::InvalidSigningKey`] or [`V2Error::BadSignature`].
    pub fn verify_key_binding(&self, signature: &[u8; 64]) -> Result<(), V2Error> {
        let message = key_binding_message(&self.signing_key, &self.exchange_key);
        verify_labelled(&self.signing_key, &message, signature)
    }

    /// Checks these keys against the fingerprint pinned at pairing.
    ///
    /// # Errors
    /// [`V2Error::KeyChanged`] if they differ — a hard error, never a warning.
    pub fn check_pin(&self, pinned: &Fingerprint) -> Result<(), V2Error> {
        if self.fingerprint() == *pinned {
            Ok(())
        } else {
            Err(V2Error::KeyChanged)
        }
    }
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicIdentity")
            .field("signing_key", &coffer_wire::b64::encode(&self.signing_key))
            .field(
                "exchange_key",
                &coffer_wire::b64::encode(&self.exchange_key),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_is_strict() {
        let fp = Fingerprint::from_bytes([0xfb; 32]);
        let text = fp.compact();
        assert_eq!(text.len(), 43);
        assert_eq!(Fingerprint::from_compact(&text), Ok(fp));
        for bad in [
            format!("{text}="),
            text[..42].to_owned(),
            text.replace('-', "+").replace('_', "/"),
            format!(" {}", &text[1..]),
            // 43 bytes, but non-canonical trailing bits in the last character.
            format!("{}9", &text[..42]),
            "é".repeat(21) + "a",
        ] {
            assert!(Fingerprint::from_compact(&bad).is_err(), "{bad:?}");
        }
        let json = serde_json::to_string(&fp).expect("serialises");
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).ok(), Some(fp));
    }

    #[test]
    fn safety_number_shape() {
        let number = Fingerprint::from_bytes([1; 32]).safety_number();
        assert_eq!(number.len(), 71);
        let groups: Vec<&str> = number.split(' ').collect();
        assert_eq!(groups.len(), 12);
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
        );
        assert_ne!(number, Fingerprint::from_bytes([2; 32]).safety_number());
    }

    #[test]
    fn pin_and_binding() {
        let a = PublicIdentity::new([1; 32], [2; 32]);
        let b = PublicIdentity::new([1; 32], [3; 32]);
        assert_eq!(a.check_pin(&a.fingerprint()), Ok(()));
        assert_eq!(a.check_pin(&b.fingerprint()), Err(V2Error::KeyChanged));
        assert!(a.verify_key_binding(&[0; 64]).is_err());
    }
}
