//! The one error type of the v1 crypto module.

/// Why a v1 crypto operation failed.
///
/// Messages name the failed check only: they never contain key bytes, plaintext or
/// ciphertext, so they are safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum V1Error {
    /// The encrypted volume is shorter than its 12-byte nonce plus 16-byte tag.
    #[error("encrypted volume is {len} bytes, shorter than the 28-byte nonce and tag")]
    VolumeTooShort {
        /// Length of the blob that was given.
        len: usize,
    },
    /// The blob's nonce is not `SHA-256("name|version")[..12]` for the name and version the
    /// reader expected: the relay served a blob under another name or version (v1.md W4), or
    /// the writer did not follow v1.
    #[error("volume nonce does not match the expected volume name and version")]
    VolumeNonceMismatch,
    /// AES-GCM refused the volume: wrong VEK, or the blob was altered.
    #[error("volume failed authentication (wrong key or altered data)")]
    VolumeAuthentication,
    /// A wrapped VEK must be exactly 60 bytes (nonce 12 ‖ ciphertext 32 ‖ tag 16).
    #[error("wrapped VEK is {len} bytes, expected 60")]
    WrappedVekLength {
        /// Length of the wrapped key that was given.
        len: usize,
    },
    /// AES-GCM refused the wrapped VEK: wrong key pair (FKEK), or the blob was altered.
    #[error("wrapped VEK failed authentication (wrong key pair or altered data)")]
    VekUnwrap,
    /// The peer's X25519 public key is a low-order point: the shared secret is all zeros and
    /// the derived key would be public knowledge.
    #[error("peer exchange key is low-order (all-zero shared secret)")]
    LowOrderExchangeKey,
    /// The public signing key does not decode to a valid Ed25519 point.
    #[error("public signing key is not a valid Ed25519 key")]
    InvalidSigningKey,
    /// The Ed25519 signature over the upload does not verify under the given key.
    #[error("upload signature does not verify")]
    BadSignature,
    /// A login signature was asked for a text that is not a v1 challenge nonce (44 characters
    /// of standard base64 of 32 bytes): v1 login signatures have no domain separation, so
    /// nothing else is signed.
    #[error("not a v1 challenge nonce: expected 44 characters of standard base64 of 32 bytes")]
    NotANonce,
}
