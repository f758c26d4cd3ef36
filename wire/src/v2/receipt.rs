//! v2 fetch receipts (`docs/protocol-v2.md` §14): a friend's signed statement that it fetched
//! and verified one version of an owner's volume in a given hour. The relay stores them for the
//! owner, who verifies them under the friend's pinned key.

use super::reader::{Reader, put_str8};
use super::{Label, VolumeName, labelled};

const MAGIC: &[u8; 4] = b"CFR2";
const FORMAT: u8 = 1;
/// Largest receipt accepted, bytes: magic and format (5), two ids (32), the longest volume
/// name with its length byte (256), epoch (4), version (8) and hour (8).
pub const MAX_RECEIPT_BYTES: usize = 5 + 32 + 256 + 4 + 8 + 8;

/// Why receipt bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not a v2 receipt (magic or format).
    #[error("not a v2 fetch receipt")]
    NotAReceipt,
    /// Ends early or has trailing bytes.
    #[error("fetch receipt has the wrong length")]
    Length,
    /// The volume name is invalid.
    #[error("fetch receipt names an invalid volume")]
    Name,
    /// Epoch 0, version 0, or an hour that is not a multiple of 3600.
    #[error("fetch receipt has an invalid epoch, version or hour")]
    Field,
}

/// A parsed fetch receipt: `friend` fetched and verified `version` (at key `epoch`) of
/// `owner`'s `volume` during `hour`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The system whose volume was read.
    pub owner: [u8; 16],
    /// The friend who read it (and signs the receipt).
    pub friend: [u8; 16],
    /// The volume.
    pub volume: VolumeName,
    /// Its key epoch (≥ 1).
    pub epoch: u32,
    /// The version read (≥ 1).
    pub version: u64,
    /// Unix seconds floored to the hour (a multiple of 3600).
    pub hour: u64,
}

impl Receipt {
    /// The exact receipt bytes `R`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.extend_from_slice(&self.owner);
        out.extend_from_slice(&self.friend);
        put_str8(&mut out, self.volume.as_str());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.hour.to_be_bytes());
        out
    }

    /// Parses receipt bytes, refusing anything but the exact canonical encoding.
    pub fn parse(bytes: &[u8]) -> Result<Self, ReceiptError> {
        if bytes.len() > MAX_RECEIPT_BYTES {
            return Err(ReceiptError::Length);
        }
        let mut r = Reader::new(bytes);
        if r.take(4) != Some(&MAGIC[..]) || r.u8() != Some(FORMAT) {
            return Err(ReceiptError::NotAReceipt);
        }
        let owner = r.array::<16>().ok_or(ReceiptError::Length)?;
        let friend = r.array::<16>().ok_or(ReceiptError::Length)?;
        let name = r.str8().ok_or(ReceiptError::Length)?;
        let volume = VolumeName::new(name).map_err(|_| ReceiptError::Name)?;
        let epoch = r.u32().ok_or(ReceiptError::Length)?;
        let version = r.u64().ok_or(ReceiptError::Length)?;
        let hour = r.u64().ok_or(ReceiptError::Length)?;
        if !r.is_empty() {
            return Err(ReceiptError::Length);
        }
        if epoch == 0
            || version == 0
            || version > i64::MAX as u64
            || hour % 3600 != 0
            || hour > i64::MAX as u64
        {
            return Err(ReceiptError::Field);
        }
        Ok(Self {
            owner,
            friend,
            volume,
            epoch,
            version,
            hour,
        })
    }

    /// What the friend signs: `label("coffer-v2/receipt") ‖ R`.
    pub fn signed_message(bytes: &[u8]) -> Vec<u8> {
        let mut out = labelled(Label::Receipt);
        out.extend_from_slice(bytes);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Receipt {
        Receipt {
            owner: [1; 16],
            friend: [2; 16],
            volume: VolumeName::new("org.example.notes").expect("valid"),
            epoch: 3,
            version: 42,
            hour: 1_774_609_200,
        }
    }

    #[test]
    fn round_trip_and_exact_layout() {
        let r = sample();
        let bytes = r.to_bytes();
        assert_eq!(&bytes[..5], b"CFR2\x01");
        assert_eq!(bytes.len(), 5 + 32 + 1 + 17 + 4 + 8 + 8);
        assert_eq!(Receipt::parse(&bytes), Ok(r));
        assert!(Receipt::signed_message(&bytes).starts_with(b"coffer-v2/receipt\0CFR2"));
    }

    #[test]
    fn refusals() {
        let bytes = sample().to_bytes();
        assert_eq!(
            Receipt::parse(&bytes[..bytes.len() - 1]),
            Err(ReceiptError::Length)
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(Receipt::parse(&long), Err(ReceiptError::Length));
        assert_eq!(Receipt::parse(b"CFH2\x01"), Err(ReceiptError::NotAReceipt));
        for bad in [
            Receipt {
                epoch: 0,
                ..sample()
            },
            Receipt {
                version: 0,
                ..sample()
            },
            Receipt {
                hour: 1_774_609_201,
                ..sample()
            },
        ] {
            assert_eq!(Receipt::parse(&bad.to_bytes()), Err(ReceiptError::Field));
        }
        let mut bad_name = bytes;
        bad_name[37 + 1] = b'A';
        assert_eq!(Receipt::parse(&bad_name), Err(ReceiptError::Name));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = Receipt::parse(&bytes);
        }
    }
}
