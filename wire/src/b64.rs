//! Strict standard base64 (RFC 4648 §4, with `=` padding), the encoding of every binary field on
//! the wire (v1 and v2). Strict means: no URL-safe alphabet, no missing padding, no whitespace,
//! no non-canonical trailing bits, and — for keys and signatures — an exact decoded length.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a base64 field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum B64Error {
    /// The text is not canonical standard base64 with padding.
    #[error("not valid standard base64 (with '=' padding)")]
    Malformed,
    /// The text decodes, but to the wrong number of bytes.
    #[error("expected {expected} bytes, got {actual}")]
    WrongLength {
        /// Bytes the field must have.
        expected: usize,
        /// Bytes it had.
        actual: usize,
    },
    /// The text is longer than the caller allows (checked before decoding).
    #[error("longer than the {max} bytes allowed")]
    TooLong {
        /// The largest decoded size allowed.
        max: usize,
    },
}

/// Encodes bytes as standard padded base64.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes strict standard padded base64 of any length.
pub fn decode_strict(text: &str) -> Result<Vec<u8>, B64Error> {
    STANDARD.decode(text).map_err(|_| B64Error::Malformed)
}

/// Decodes strict base64 whose decoded size must not exceed `max` bytes. The length is checked
/// on the text, before any allocation proportional to it.
pub fn decode_bounded(text: &str, max: usize) -> Result<Vec<u8>, B64Error> {
    if decoded_len_upper_bound(text.len()) > max.saturating_add(2) {
        return Err(B64Error::TooLong { max });
    }
    let bytes = decode_strict(text)?;
    if bytes.len() > max {
        return Err(B64Error::TooLong { max });
    }
    Ok(bytes)
}

/// Decodes strict base64 that must be exactly `N` bytes long.
pub fn decode_exact<const N: usize>(text: &str) -> Result<[u8; N], B64Error> {
    // 4 characters per 3 bytes, rounded up: anything else cannot be N bytes.
    if text.len() != N.div_ceil(3) * 4 {
        let actual = if text.len() > 4 * N + 8 {
            decoded_len_upper_bound(text.len())
        } else {
            decode_strict(text)?.len()
        };
        return Err(B64Error::WrongLength {
            expected: N,
            actual,
        });
    }
    let bytes = decode_strict(text)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| B64Error::WrongLength {
        expected: N,
        actual: bytes.len(),
    })
}

/// The largest number of bytes a base64 text of `chars` characters can decode to.
pub fn decoded_len_upper_bound(chars: usize) -> usize {
    chars.div_ceil(4) * 3
}

/// Fixed-length binary values that travel as base64 text: public keys, signatures, wrapped keys.
/// They parse at deserialisation, so a handler never sees a wrong-length key.
macro_rules! fixed_b64 {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Wraps raw bytes.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Parses strict base64 of exactly the right length.
            pub fn from_b64(text: &str) -> Result<Self, B64Error> {
                decode_exact::<$len>(text).map(Self)
            }

            /// The standard base64 text.
            pub fn to_b64(&self) -> String {
                encode(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_b64())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_b64())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::from_b64(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

fixed_b64!(
    /// A 32-byte public key (Ed25519 or X25519). Public data; printed in full by `Debug`.
    PublicKey32,
    32
);
fixed_b64!(
    /// A 64-byte Ed25519 signature.
    Signature64,
    64
);
fixed_b64!(
    /// A v1 wrapped VEK: `nonce(12) ‖ AES-256-GCM(FKEK, VEK)(32) ‖ tag(16)`. Opaque to the relay.
    WrappedVek60,
    60
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_lengths() {
        let key = encode(&[7u8; 32]);
        assert_eq!(key.len(), 44);
        assert_eq!(decode_exact::<32>(&key), Ok([7u8; 32]));
        assert_eq!(
            decode_exact::<32>(&encode(&[7u8; 31])),
            Err(B64Error::WrongLength {
                expected: 32,
                actual: 31
            })
        );
        assert!(matches!(
            decode_exact::<32>(&encode(&[7u8; 33])),
            Err(B64Error::WrongLength { .. })
        ));
        assert_eq!(encode(&[1u8; 64]).len(), 88);
        assert_eq!(encode(&[1u8; 60]).len(), 80);
    }

    #[test]
    fn refuses_lenient_forms() {
        let std = encode(&[0xfb; 32]);
        let url = std.replace('+', "-").replace('/', "_");
        assert_ne!(std, url);
        assert_eq!(decode_exact::<32>(&url), Err(B64Error::Malformed));
        let unpadded = std.trim_end_matches('=').to_owned();
        assert!(decode_exact::<32>(&unpadded).is_err());
        assert!(decode_strict(&format!(" {std}")).is_err());
        assert!(decode_strict(&format!("{std}\n")).is_err());
        // Non-canonical trailing bits ("AB==" has bits set that "AA==" does not) are refused.
        assert!(decode_strict("AB==").is_err());
        assert_eq!(decode_strict("AA==").map(|v| v.len()), Ok(1));
    }

    #[test]
    fn bounded_checks_before_decoding() {
        let big = "A".repeat(4000);
        assert_eq!(
            decode_bounded(&big, 100),
            Err(B64Error::TooLong { max: 100 })
        );
        assert_eq!(
            decode_bounded(&encode(&[1; 100]), 100).map(|v| v.len()),
            Ok(100)
        );
        assert_eq!(
            decode_bounded(&encode(&[1; 101]), 100),
            Err(B64Error::TooLong { max: 100 })
        );
    }

    #[test]
    fn serde_newtypes() {
        let json = format!("\"{}\"", encode(&[3u8; 32]));
        let key: PublicKey32 = serde_json::from_str(&json).expect("valid key");
        assert_eq!(key.as_bytes(), &[3u8; 32]);
        assert_eq!(serde_json::to_string(&key).expect("serialises"), json);
        assert!(
            serde_json::from_str::<PublicKey32>(&format!("\"{}\"", encode(&[3u8; 31]))).is_err()
        );
        assert!(serde_json::from_str::<Signature64>("5").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in ".{0,200}") {
            let _ = decode_strict(&text);
            let _ = decode_exact::<32>(&text);
            let _ = decode_bounded(&text, 10);
        }

        #[test]
        fn round_trip(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            proptest::prop_assert_eq!(decode_strict(&encode(&bytes)), Ok(bytes));
        }
    }
}
