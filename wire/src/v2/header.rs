//! The v2 volume header (`docs/protocol-v2.md` §4): exact bytes, signed by the owner, stored and
//! served verbatim, and (without its hash) the AEAD associated data of the payload. Its trailing
//! `payload_hash` is [`super::volume_payload_hash`] of the payload (BLAKE3 with a label,
//! `docs/adr/0029-v2-payload-digest.md`), which the relay recomputes for every upload.

use super::VolumeName;
use super::reader::{Reader, put_str8};

const MAGIC: &[u8; 4] = b"CFH2";
const FORMAT: u8 = 1;
/// Largest header accepted, bytes: the one definition of the limit ([`Header::parse`], the
/// relay's upload check and the client's strict JSON parsing all use it).
pub const MAX_HEADER_BYTES: usize = 512;
/// Length of the trailing payload hash.
pub const HEADER_HASH_LEN: usize = 32;

/// Why header bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Not a v2 header (magic or format).
    #[error("not a v2 volume header")]
    NotAHeader,
    /// Ends early or has trailing bytes.
    #[error("volume header has the wrong length")]
    Length,
    /// The volume name is invalid.
    #[error("volume header names an invalid volume")]
    Name,
    /// Version 0, epoch 0, or an hour that is not a multiple of 3600.
    #[error("volume header has an invalid epoch, version or hour")]
    Field,
}

/// A parsed v2 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Owner's user id.
    pub owner: [u8; 16],
    /// Volume name.
    pub volume: VolumeName,
    /// Key epoch (≥ 1).
    pub epoch: u32,
    /// Version (≥ 1).
    pub version: u64,
    /// Unix seconds, multiple of 3600.
    pub hour: u64,
    /// Payload length.
    pub payload_len: u64,
    /// `BLAKE3(label(volume-payload) ‖ payload)`: [`super::volume_payload_hash`]
    /// (ADR 0029; SHA-256 of the payload until then, before v2 had users).
    pub payload_hash: [u8; 32],
}

impl Header {
    /// The bytes without the trailing hash (`H_core`, the AEAD associated data).
    pub fn core_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.extend_from_slice(&self.owner);
        put_str8(&mut out, self.volume.as_str());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.hour.to_be_bytes());
        out.extend_from_slice(&self.payload_len.to_be_bytes());
        out
    }

    /// The full header bytes (`H`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.core_bytes();
        out.extend_from_slice(&self.payload_hash);
        out
    }

    /// Parses header bytes, refusing anything but the exact canonical encoding.
    pub fn parse(bytes: &[u8]) -> Result<Self, HeaderError> {
        if bytes.len() > MAX_HEADER_BYTES {
            return Err(HeaderError::Length);
        }
        let mut r = Reader::new(bytes);
        if r.take(4) != Some(&MAGIC[..]) || r.u8() != Some(FORMAT) {
            return Err(HeaderError::NotAHeader);
        }
        let owner = r.array::<16>().ok_or(HeaderError::Length)?;
        let volume = r.str8().ok_or(HeaderError::Length)?;
        let volume = VolumeName::new(volume).map_err(|_| HeaderError::Name)?;
        let epoch = r.u32().ok_or(HeaderError::Length)?;
        let version = r.u64().ok_or(HeaderError::Length)?;
        let hour = r.u64().ok_or(HeaderError::Length)?;
        let payload_len = r.u64().ok_or(HeaderError::Length)?;
        let payload_hash = r.array::<32>().ok_or(HeaderError::Length)?;
        if !r.is_empty() {
            return Err(HeaderError::Length);
        }
        if epoch == 0
            || version == 0
            || version > i64::MAX as u64
            || hour % 3600 != 0
            || hour > i64::MAX as u64
        {
            return Err(HeaderError::Field);
        }
        Ok(Self {
            owner,
            volume,
            epoch,
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

    fn sample() -> Header {
        Header {
            owner: [7; 16],
            volume: VolumeName::new("meta").expect("valid"),
            epoch: 2,
            version: 9,
            hour: 1_774_609_200,
            payload_len: 1052,
            payload_hash: [9; 32],
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let h = sample();
        let bytes = h.to_bytes();
        assert_eq!(bytes.len(), 4 + 1 + 16 + 1 + 4 + 4 + 8 + 8 + 8 + 32);
        assert_eq!(&bytes[..5], b"CFH2\x01");
        assert_eq!(Header::parse(&bytes), Ok(h.clone()));
        assert_eq!(&bytes[..bytes.len() - 32], &h.core_bytes()[..]);
    }

    #[test]
    fn refusals() {
        let bytes = sample().to_bytes();
        assert_eq!(
            Header::parse(&bytes[..bytes.len() - 1]),
            Err(HeaderError::Length)
        );
        assert_eq!(
            Header::parse(&[bytes.clone(), vec![0]].concat()),
            Err(HeaderError::Length)
        );
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(Header::parse(&bad), Err(HeaderError::NotAHeader));
        let mut h = sample();
        h.hour += 1;
        assert_eq!(Header::parse(&h.to_bytes()), Err(HeaderError::Field));
        let mut h = sample();
        h.version = 0;
        assert_eq!(Header::parse(&h.to_bytes()), Err(HeaderError::Field));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = Header::parse(&bytes);
        }
    }
}
