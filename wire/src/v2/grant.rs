//! v2 grants (`docs/protocol-v2.md` §6): owner-signed, sequence-numbered statements of which
//! volumes (at which key epoch) a friend may read.

use super::VolumeName;
use super::reader::{Reader, put_str8};

const MAGIC: &[u8; 4] = b"CFG2";
const FORMAT: u8 = 1;
/// Most entries in one grant.
pub const MAX_GRANT_ENTRIES: usize = 256;
/// Largest grant accepted, bytes (a fixed part plus the largest entry per granted volume).
pub const MAX_GRANT_BYTES: usize = 128 + MAX_GRANT_ENTRIES * 70;

/// Why grant bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// Not a v2 grant.
    #[error("not a v2 grant")]
    NotAGrant,
    /// Ends early, has trailing bytes, or too many entries.
    #[error("grant has the wrong length")]
    Length,
    /// An entry names an invalid volume, epoch 0, or entries are not sorted and unique.
    #[error("grant entries are invalid (names, epochs, or not sorted and unique)")]
    Entries,
    /// Sequence 0.
    #[error("grant sequence must be at least 1")]
    Sequence,
}

/// One granted volume at one key epoch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GrantEntry {
    /// Volume name.
    pub volume: VolumeName,
    /// Key epoch the friend receives a wrapped VEK for.
    pub epoch: u32,
}

/// A parsed grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The system.
    pub owner: [u8; 16],
    /// The friend.
    pub friend: [u8; 16],
    /// The friend's fingerprint, as the owner pinned it.
    pub friend_fingerprint: [u8; 32],
    /// Strictly increasing per (owner, friend).
    pub sequence: u64,
    /// Unix seconds; 0 = never.
    pub expires_at: u64,
    /// Sorted, unique by volume.
    pub entries: Vec<GrantEntry>,
}

impl Grant {
    /// Encodes the grant; entries are sorted and must be unique by volume (checked by `parse`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut entries = self.entries.clone();
        entries.sort();
        let mut out = Vec::with_capacity(96 + entries.len() * 24);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.extend_from_slice(&self.owner);
        out.extend_from_slice(&self.friend);
        out.extend_from_slice(&self.friend_fingerprint);
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        let n = u16::try_from(entries.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        for e in entries.iter().take(usize::from(n)) {
            put_str8(&mut out, e.volume.as_str());
            out.extend_from_slice(&e.epoch.to_be_bytes());
        }
        out
    }

    /// Parses grant bytes, refusing anything but the canonical encoding.
    pub fn parse(bytes: &[u8]) -> Result<Self, GrantError> {
        if bytes.len() > MAX_GRANT_BYTES {
            return Err(GrantError::Length);
        }
        let mut r = Reader::new(bytes);
        if r.take(4) != Some(&MAGIC[..]) || r.u8() != Some(FORMAT) {
            return Err(GrantError::NotAGrant);
        }
        let owner = r.array::<16>().ok_or(GrantError::Length)?;
        let friend = r.array::<16>().ok_or(GrantError::Length)?;
        let friend_fingerprint = r.array::<32>().ok_or(GrantError::Length)?;
        let sequence = r.u64().ok_or(GrantError::Length)?;
        let expires_at = r.u64().ok_or(GrantError::Length)?;
        let n = usize::from(r.u16().ok_or(GrantError::Length)?);
        if n > MAX_GRANT_ENTRIES {
            return Err(GrantError::Length);
        }
        let mut entries: Vec<GrantEntry> = Vec::with_capacity(n);
        for _ in 0..n {
            let name = r.str8().ok_or(GrantError::Length)?;
            let volume = VolumeName::new(name).map_err(|_| GrantError::Entries)?;
            let epoch = r.u32().ok_or(GrantError::Length)?;
            if epoch == 0 || entries.last().is_some_and(|last| last.volume >= volume) {
                return Err(GrantError::Entries);
            }
            entries.push(GrantEntry { volume, epoch });
        }
        if !r.is_empty() {
            return Err(GrantError::Length);
        }
        if sequence == 0 || sequence > i64::MAX as u64 || expires_at > i64::MAX as u64 {
            return Err(GrantError::Sequence);
        }
        Ok(Self {
            owner,
            friend,
            friend_fingerprint,
            sequence,
            expires_at,
            entries,
        })
    }

    /// The epoch this grant gives for `volume`, if any.
    pub fn epoch_of(&self, volume: &str) -> Option<u32> {
        self.entries
            .iter()
            .find(|e| e.volume.as_str() == volume)
            .map(|e| e.epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, epoch: u32) -> GrantEntry {
        GrantEntry {
            volume: VolumeName::new(name).expect("valid"),
            epoch,
        }
    }

    fn sample() -> Grant {
        Grant {
            owner: [1; 16],
            friend: [2; 16],
            friend_fingerprint: [3; 32],
            sequence: 4,
            expires_at: 0,
            entries: vec![entry("members", 2), entry("meta", 1)],
        }
    }

    #[test]
    fn round_trip_sorted() {
        let mut g = sample();
        let bytes = g.to_bytes();
        g.entries.sort();
        assert_eq!(Grant::parse(&bytes), Ok(g.clone()));
        assert_eq!(g.epoch_of("members"), Some(2));
        assert_eq!(g.epoch_of("journal"), None);
    }

    #[test]
    fn refusals() {
        let mut dup = sample();
        dup.entries = vec![entry("meta", 1), entry("meta", 2)];
        assert_eq!(Grant::parse(&dup.to_bytes()), Err(GrantError::Entries));
        let mut zero = sample();
        zero.sequence = 0;
        assert_eq!(Grant::parse(&zero.to_bytes()), Err(GrantError::Sequence));
        let bytes = sample().to_bytes();
        assert_eq!(
            Grant::parse(&bytes[..bytes.len() - 1]),
            Err(GrantError::Length)
        );
        assert_eq!(Grant::parse(b"CFG3"), Err(GrantError::NotAGrant));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = Grant::parse(&bytes);
        }
    }
}
