use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The eight v1 volume names (v1.md §5.1). Anything else is refused at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VolumeName {
    /// `meta`: always readable by an accepted friend.
    Meta,
    /// `members`.
    Members,
    /// `fronts`.
    Fronts,
    /// `journal`.
    Journal,
    /// `chat`: never readable by a friend.
    Chat,
    /// `polls`.
    Polls,
    /// `analytics`.
    Analytics,
    /// `vault`.
    Vault,
}

/// A volume name outside the v1 set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid volume name")]
pub struct UnknownVolumeName;

impl VolumeName {
    /// All names, in the order the System app uploads them (then `analytics`).
    pub const ALL: [VolumeName; 8] = [
        Self::Meta,
        Self::Members,
        Self::Fronts,
        Self::Journal,
        Self::Chat,
        Self::Polls,
        Self::Vault,
        Self::Analytics,
    ];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Meta => "meta",
            Self::Members => "members",
            Self::Fronts => "fronts",
            Self::Journal => "journal",
            Self::Chat => "chat",
            Self::Polls => "polls",
            Self::Analytics => "analytics",
            Self::Vault => "vault",
        }
    }
}

impl FromStr for VolumeName {
    type Err = UnknownVolumeName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or(UnknownVolumeName)
    }
}

impl fmt::Display for VolumeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for VolumeName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for VolumeName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusal() {
        for name in VolumeName::ALL {
            assert_eq!(name.as_str().parse::<VolumeName>(), Ok(name));
        }
        assert!("Meta".parse::<VolumeName>().is_err());
        assert!("com.example.notes".parse::<VolumeName>().is_err());
        assert!("".parse::<VolumeName>().is_err());
    }
}
