//! v2 volume tombstones (`docs/protocol-v2.md` §12): the owner's signed statement that one of
//! its volumes is deleted as of a version. The relay keeps it in place of the volume so that
//! versions never go back, and serves it to the owner and to friends, who verify it under the
//! owner's pinned key: a relay cannot fake a deletion.

use super::reader::{Reader, put_str8};
use super::{Label, VolumeName, labelled};

const MAGIC: &[u8; 4] = b"CFT2";
const FORMAT: u8 = 1;
/// Largest tombstone accepted, bytes: magic and format (5), owner (16), the longest volume
/// name with its length byte (256), epoch (4), version (8) and hour (8).
pub const MAX_TOMBSTONE_BYTES: usize = 5 + 16 + 256 + 4 + 8 + 8;

/// Why tombstone bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TombstoneError {
    /// Not a v2 tombstone (magic or format).
    #[error("not a v2 volume tombstone")]
    NotATombstone,
    /// Ends early or has trailing bytes.
    #[error("volume tombstone has the wrong length")]
    Length,
    /// The volume name is invalid.
    #[error("volume tombstone names an invalid volume")]
    Name,
    /// Epoch 0, version 0, or an hour that is not a multiple of 3600.
    #[error("volume tombstone has an invalid epoch, version or hour")]
    Field,
}

/// A parsed tombstone: `owner` deleted `volume` as of `version` (at key `epoch`) during `hour`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// The owner (who signs the tombstone).
    pub owner: [u8; 16],
    /// The deleted volume.
    pub volume: VolumeName,
    /// Its key epoch (≥ 1).
    pub epoch: u32,
    /// The deletion's version: one above the last published version (≥ 1).
    pub version: u64,
    /// Unix seconds floored to the hour (a multiple of 3600).
    pub hour: u64,
}

impl Tombstone {
    /// The exact tombstone bytes `T`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.extend_from_slice(&self.owner);
        put_str8(&mut out, self.volume.as_str());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.hour.to_be_bytes());
        out
    }

    /// Parses tombstone bytes, refusing anything but the exact canonical encoding.
    pub fn parse(bytes: &[u8]) -> Result<Self, TombstoneError> {
        if bytes.len() > MAX_TOMBSTONE_BYTES {
            return Err(TombstoneError::Length);
        }
        let mut r = Reader::new(bytes);
        if r.take(4) != Some(&MAGIC[..]) || r.u8() != Some(FORMAT) {
            return Err(TombstoneError::NotATombstone);
        }
        let owner = r.array::<16>().ok_or(TombstoneError::Length)?;
        let name = r.str8().ok_or(TombstoneError::Length)?;
        let volume = VolumeName::new(name).map_err(|_| TombstoneError::Name)?;
        let epoch = r.u32().ok_or(TombstoneError::Length)?;
        let version = r.u64().ok_or(TombstoneError::Length)?;
        let hour = r.u64().ok_or(TombstoneError::Length)?;
        if !r.is_empty() {
            return Err(TombstoneError::Length);
        }
        if epoch == 0
            || version == 0
            || version > i64::MAX as u64
            || hour % 3600 != 0
            || hour > i64::MAX as u64
        {
            return Err(TombstoneError::Field);
        }
        Ok(Self {
            owner,
            volume,
            epoch,
            version,
            hour,
        })
    }

    /// What the owner signs: `label("coffer-v2/tombstone") ‖ T`.
    pub fn signed_message(bytes: &[u8]) -> Vec<u8> {
        let mut out = labelled(Label::Tombstone);
        out.extend_from_slice(bytes);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Tombstone {
        Tombstone {
            owner: [1; 16],
            volume: VolumeName::new("org.example.notes").expect("valid"),
            epoch: 3,
            version: 42,
            hour: 1_774_609_200,
        }
    }

    #[test]
    fn round_trip_and_exact_layout() {
        let t = sample();
        let bytes = t.to_bytes();
        assert_eq!(&bytes[..5], b"CFT2\x01");
        assert_eq!(bytes.len(), 5 + 16 + 1 + 17 + 4 + 8 + 8);
        assert_eq!(&bytes[22..39], b"org.example.notes");
        assert_eq!(&bytes[39..43], &3u32.to_be_bytes());
        assert_eq!(Tombstone::parse(&bytes), Ok(t));
        assert!(Tombstone::signed_message(&bytes).starts_with(b"coffer-v2/tombstone\0CFT2"));
    }

    #[test]
    fn refusals() {
        let bytes = sample().to_bytes();
        assert_eq!(
            Tombstone::parse(&bytes[..bytes.len() - 1]),
            Err(TombstoneError::Length)
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(Tombstone::parse(&long), Err(TombstoneError::Length));
        assert_eq!(
            Tombstone::parse(b"CFR2\x01"),
            Err(TombstoneError::NotATombstone)
        );
        assert_eq!(
            Tombstone::parse(&vec![0; MAX_TOMBSTONE_BYTES + 1]),
            Err(TombstoneError::Length)
        );
        for bad in [
            Tombstone {
                epoch: 0,
                ..sample()
            },
            Tombstone {
                version: 0,
                ..sample()
            },
            Tombstone {
                version: u64::MAX,
                ..sample()
            },
            Tombstone {
                hour: 1_774_609_201,
                ..sample()
            },
        ] {
            assert_eq!(
                Tombstone::parse(&bad.to_bytes()),
                Err(TombstoneError::Field)
            );
        }
        let mut bad_name = bytes;
        bad_name[22] = b'A';
        assert_eq!(Tombstone::parse(&bad_name), Err(TombstoneError::Name));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = Tombstone::parse(&bytes);
        }
    }
}
