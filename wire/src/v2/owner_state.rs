//! The owner state's signed header (`docs/protocol-v2.md` §13): what the relay checks before it
//! stores a system's encrypted, owner-only key state, and what every device of the system
//! verifies before it opens one.
//!
//! ```text
//! "CFOS" | u8 1 | owner(16) | u32 key_epoch | u64 version | u64 hour | u32 payload_len | payload_hash(32)
//! ```
//! signed as `Ed25519(sk_identity, label("coffer-v2/owner-state") ‖ header)`, where
//! `payload_hash = BLAKE3(label("coffer-v2/owner-state-payload") ‖ payload)`. The payload
//! (key slots and the encrypted state) is opaque here.

use super::reader::Reader;

const MAGIC: &[u8; 4] = b"CFOS";
const FORMAT: u8 = 1;
/// The exact length of an owner-state header.
pub const OWNER_STATE_HEADER_LEN: usize = 4 + 1 + 16 + 4 + 8 + 8 + 4 + 32;
/// Largest owner-state payload accepted (slots plus the padded, encrypted state).
pub const MAX_OWNER_STATE_BYTES: usize = 1 << 20;

/// Why owner-state header bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnerStateError {
    /// Not an owner-state header.
    #[error("not a v2 owner-state header")]
    NotAHeader,
    /// Wrong length.
    #[error("owner-state header has the wrong length")]
    Length,
    /// Version or key epoch 0, a version above 2^63 − 1, or a payload over the limit.
    #[error("owner-state header fields are out of range")]
    Range,
}

/// A parsed owner-state header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerStateHeader {
    /// The system account.
    pub owner: [u8; 16],
    /// The epoch of the state key (moves up when a device is unlinked).
    pub key_epoch: u32,
    /// Strictly increasing per owner.
    pub version: u64,
    /// Unix seconds, floored to the hour.
    pub hour: u64,
    /// Payload length in bytes.
    pub payload_len: u32,
    /// `BLAKE3(label(owner-state-payload) ‖ payload)`: [`super::owner_state_payload_hash`].
    pub payload_hash: [u8; 32],
}

impl OwnerStateHeader {
    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(OWNER_STATE_HEADER_LEN);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.extend_from_slice(&self.owner);
        out.extend_from_slice(&self.key_epoch.to_be_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.hour.to_be_bytes());
        out.extend_from_slice(&self.payload_len.to_be_bytes());
        out.extend_from_slice(&self.payload_hash);
        out
    }

    /// The header without its payload fields (`owner ‖ key_epoch ‖ version`): the associated
    /// data the payload's encryption binds to.
    pub fn core(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(28);
        out.extend_from_slice(&self.owner);
        out.extend_from_slice(&self.key_epoch.to_be_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out
    }

    /// Parses header bytes, refusing anything but the canonical encoding.
    pub fn parse(bytes: &[u8]) -> Result<Self, OwnerStateError> {
        if bytes.len() != OWNER_STATE_HEADER_LEN {
            return Err(OwnerStateError::Length);
        }
        let mut r = Reader::new(bytes);
        if r.take(4) != Some(&MAGIC[..]) || r.u8() != Some(FORMAT) {
            return Err(OwnerStateError::NotAHeader);
        }
        let owner = r.array::<16>().ok_or(OwnerStateError::Length)?;
        let key_epoch = r.u32().ok_or(OwnerStateError::Length)?;
        let version = r.u64().ok_or(OwnerStateError::Length)?;
        let hour = r.u64().ok_or(OwnerStateError::Length)?;
        let payload_len = r.u32().ok_or(OwnerStateError::Length)?;
        let payload_hash = r.array::<32>().ok_or(OwnerStateError::Length)?;
        if !r.is_empty() {
            return Err(OwnerStateError::Length);
        }
        if key_epoch == 0
            || version == 0
            || version > i64::MAX as u64
            || hour > i64::MAX as u64
            || payload_len as usize > MAX_OWNER_STATE_BYTES
        {
            return Err(OwnerStateError::Range);
        }
        Ok(Self {
            owner,
            key_epoch,
            version,
            hour,
            payload_len,
            payload_hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> OwnerStateHeader {
        OwnerStateHeader {
            owner: [1; 16],
            key_epoch: 2,
            version: 7,
            hour: 3600,
            payload_len: 100,
            payload_hash: [9; 32],
        }
    }

    #[test]
    fn round_trips_and_refuses_non_canonical_bytes() {
        let bytes = header().to_bytes();
        assert_eq!(bytes.len(), OWNER_STATE_HEADER_LEN);
        assert_eq!(OwnerStateHeader::parse(&bytes), Ok(header()));
        assert_eq!(
            OwnerStateHeader::parse(&bytes[..bytes.len() - 1]),
            Err(OwnerStateError::Length)
        );
        let mut other = bytes.clone();
        other[0] = b'X';
        assert_eq!(
            OwnerStateHeader::parse(&other),
            Err(OwnerStateError::NotAHeader)
        );
        for bad in [
            OwnerStateHeader {
                version: 0,
                ..header()
            },
            OwnerStateHeader {
                key_epoch: 0,
                ..header()
            },
            OwnerStateHeader {
                version: u64::MAX,
                ..header()
            },
            OwnerStateHeader {
                payload_len: u32::MAX,
                ..header()
            },
        ] {
            assert_eq!(
                OwnerStateHeader::parse(&bad.to_bytes()),
                Err(OwnerStateError::Range)
            );
        }
        assert_eq!(header().core().len(), 28);
    }
}
