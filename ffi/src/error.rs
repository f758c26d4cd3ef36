//! The one error type every binding function throws, and the only place where errors of
//! `coffer-client-core` and `coffer-certs` are converted into it.
//!
//! Variants say what the calling app can do, not which internal check failed. Their names are
//! the stable codes (Kotlin/Swift/Python match on them); their messages are for logs and never
//! contain key bytes, plaintext or ciphertext — only lengths and fixed descriptions.

use coffer_certs::CertError;
use coffer_client_core::legacy::v1::V1Error;

/// Why a Coffer call failed. Kotlin: `CofferException` (a sealed class with one subclass per
/// variant); Swift: `CofferError`; Python: `CofferError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum CofferError {
    /// An argument does not have the shape the call needs: a key, seed, signature or wrapped
    /// key of the wrong length, a blob too short to be a volume, or a plaintext too large to
    /// encrypt. Retrying with the same bytes fails again. If the bytes came from the relay,
    /// treat them as corrupt and do not use them; otherwise this is a bug in the calling code.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong (lengths and fixed text only, never the bytes themselves).
        reason: String,
    },
    /// The data failed authentication: it was altered (by the relay or in transit), or it was
    /// encrypted for another key — another VEK for a volume, another key pair for a wrapped
    /// VEK. Do not use it; fetch it again, and if it keeps failing, check that the right VEK or
    /// the right peer's public key is used.
    #[error("the data was altered or was not encrypted for this key")]
    TamperedOrWrongKey,
    /// The blob is a volume of another name or version than the one asked for: the relay served
    /// a different volume (or an older version) under this name. Do not use it.
    #[error("the blob belongs to another volume name or version than the one expected")]
    WrongVolume,
    /// The upload signature does not verify under the given public signing key: the header or
    /// blob was changed after signing, or someone else signed it. Do not trust the volume.
    #[error("the signature does not verify under the given public key")]
    BadSignature,
    /// A peer's public key cannot be used: a signing key that is not a valid Ed25519 key, or
    /// an exchange key of low order (it would make the shared key public). Refuse this peer's
    /// key; ask for it again through a channel you trust.
    #[error("unusable public key: {reason}")]
    InvalidPublicKey {
        /// Which key and why (fixed text).
        reason: String,
    },
    /// A server pin is not of the form `sha256/` followed by 44 characters of standard base64
    /// with padding. Ask the user to copy or scan the pin again.
    #[error("invalid server pin: {reason}")]
    InvalidPin {
        /// What exactly is wrong with the string and what is expected.
        reason: String,
    },
}

impl From<V1Error> for CofferError {
    fn from(err: V1Error) -> Self {
        // V1Error's messages are documented as free of secrets (lengths and fixed text only).
        match err {
            V1Error::VolumeTooShort { .. } | V1Error::WrappedVekLength { .. } => {
                CofferError::InvalidInput {
                    reason: err.to_string(),
                }
            }
            V1Error::VolumeNonceMismatch => CofferError::WrongVolume,
            V1Error::VolumeAuthentication | V1Error::VekUnwrap => CofferError::TamperedOrWrongKey,
            V1Error::LowOrderExchangeKey | V1Error::InvalidSigningKey => {
                CofferError::InvalidPublicKey {
                    reason: err.to_string(),
                }
            }
            V1Error::BadSignature => CofferError::BadSignature,
        }
    }
}

impl From<CertError> for CofferError {
    fn from(err: CertError) -> Self {
        // CertError's messages never carry key material (its module doc); the pin message says
        // what a valid pin looks like, which is what a user needs to see.
        match err {
            CertError::InvalidPin { .. } => CofferError::InvalidPin {
                reason: err.to_string(),
            },
            // Only pin parsing is bound today; anything else is still the caller's input.
            other => CofferError::InvalidInput {
                reason: other.to_string(),
            },
        }
    }
}

/// Copies `bytes` into an array of exactly `N` bytes, or names the argument whose length is
/// wrong. Callers wrap secret results in `Zeroizing`.
pub(crate) fn exact<const N: usize>(
    bytes: &[u8],
    what: &'static str,
) -> Result<[u8; N], CofferError> {
    <[u8; N]>::try_from(bytes).map_err(|_| CofferError::InvalidInput {
        reason: format!("{what} must be {N} bytes, got {}", bytes.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_v1_error_maps_to_an_actionable_variant() {
        let cases = [
            (
                V1Error::VolumeTooShort { len: 3 },
                "InvalidInput",
                Some("3 bytes"),
            ),
            (
                V1Error::WrappedVekLength { len: 59 },
                "InvalidInput",
                Some("59 bytes"),
            ),
            (V1Error::VolumeNonceMismatch, "WrongVolume", None),
            (V1Error::VolumeAuthentication, "TamperedOrWrongKey", None),
            (V1Error::VekUnwrap, "TamperedOrWrongKey", None),
            (
                V1Error::LowOrderExchangeKey,
                "InvalidPublicKey",
                Some("low-order"),
            ),
            (
                V1Error::InvalidSigningKey,
                "InvalidPublicKey",
                Some("Ed25519"),
            ),
            (V1Error::BadSignature, "BadSignature", None),
        ];
        for (v1, variant, detail) in cases {
            let err = CofferError::from(v1);
            let debug = format!("{err:?}");
            assert!(debug.starts_with(variant), "{v1:?} became {debug}");
            if let Some(detail) = detail {
                assert!(err.to_string().contains(detail), "{err}");
            }
        }
    }

    #[test]
    fn exact_names_the_argument_and_lengths_only() {
        assert_eq!(exact::<2>(&[7, 8], "x"), Ok([7, 8]));
        let err = exact::<32>(&[0xab; 31], "VEK").expect_err("31 bytes");
        assert_eq!(
            err,
            CofferError::InvalidInput {
                reason: "VEK must be 32 bytes, got 31".into()
            }
        );
        assert!(!err.to_string().contains("171"), "{err}");
    }
}
