//! Wire protocol v1 (`docs/protocol-v1.md`): what the existing PluralLog apps speak.

mod header;
mod names;
mod permissions;

pub use header::{ControlHeader, HeaderError, MAX_EVENT_TAG_LEN, MAX_EVENT_TAGS};
pub use names::{UnknownVolumeName, VolumeName};
pub use permissions::{PermissionError, Permissions};

/// v1 plaintexts are zero-padded to a multiple of this many bytes.
pub const PADDING_BLOCK: u64 = 4096;
/// AES-256-GCM nonce (12) + tag (16) around every v1 ciphertext.
pub const AEAD_OVERHEAD: u64 = 28;
/// The protocol version number v1 clients send.
pub const PROTOCOL_VERSION: i64 = 1;

/// Whether an encrypted v1 payload length sits on the padding grid: `28 + 4096·k`, `k ≥ 1`.
pub fn is_on_padding_grid(payload_len: u64) -> bool {
    payload_len > AEAD_OVERHEAD && (payload_len - AEAD_OVERHEAD).is_multiple_of(PADDING_BLOCK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid() {
        assert!(is_on_padding_grid(4124));
        assert!(is_on_padding_grid(8220));
        assert!(!is_on_padding_grid(28));
        assert!(!is_on_padding_grid(4125));
        assert!(!is_on_padding_grid(4096));
        assert!(!is_on_padding_grid(0));
    }
}
