//! v2 volume names: the eight v1 names or a namespaced custom name such as `org.example.notes`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a volume name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid volume name: use one of the v1 names or a namespaced name like org.example.notes (3–64 bytes of a-z 0-9 . -, not starting with pvsb or bucket)"
)]
pub struct VolumeNameError;

/// A valid v2 volume name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VolumeName(String);

impl VolumeName {
    /// Validates a name.
    pub fn new(name: &str) -> Result<Self, VolumeNameError> {
        if name.parse::<crate::v1::VolumeName>().is_ok() {
            return Ok(Self(name.to_owned()));
        }
        let ok = (3..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && name.contains('.')
            && !name.starts_with('.')
            && !name.ends_with('.')
            && !name.contains("..")
            && !name.starts_with("pvsb")
            && !name.starts_with("bucket");
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(VolumeNameError)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VolumeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for VolumeName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for VolumeName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "meta",
            "vault",
            "org.example.notes",
            "io.plural-log.v2",
            "a.b",
        ] {
            assert!(VolumeName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "notes",
            "Org.example",
            ".a.b",
            "a.b.",
            "a..b",
            "pvsb.x",
            "bucket.y",
            "a/b.c",
            "a b.c",
            &"a.".repeat(40),
        ] {
            assert!(VolumeName::new(bad).is_err(), "{bad}");
        }
    }
}
