//! The seven v1 permission flags and the volumes they unlock (v1.md §5.3).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::VolumeName;

/// Why a permissions value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    /// `permissions` is not a JSON object.
    #[error("permissions must be an object of booleans")]
    NotAnObject,
    /// A known flag has a non-boolean value.
    #[error("permissions.{0} must be a boolean")]
    NotABoolean(String),
}

/// The seven `share_*` flags. On the relay a missing flag grants nothing (v1.md §5.3 note).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::struct_excessive_bools)] // the wire format is seven independent booleans
pub struct Permissions {
    /// Unlocks `fronts`.
    pub share_front_status: bool,
    /// Unlocks `members`.
    pub share_members: bool,
    /// Unlocks `fronts` (the same volume as front status).
    pub share_front_history: bool,
    /// Unlocks `journal`.
    pub share_journal: bool,
    /// Unlocks `analytics` and the aggregate endpoint.
    pub share_mood_trends: bool,
    /// Unlocks `polls`.
    pub share_polls: bool,
    /// Unlocks `vault`.
    pub share_vault: bool,
}

impl Permissions {
    /// The flag names, in the order the System app sends them.
    pub const FLAGS: [&'static str; 7] = [
        "share_front_status",
        "share_members",
        "share_front_history",
        "share_journal",
        "share_mood_trends",
        "share_polls",
        "share_vault",
    ];

    /// Parses a `permissions` value: an object whose known keys are booleans. Unknown keys are
    /// ignored (as v1 relays do); a missing key is `false`.
    pub fn from_json(value: &Value) -> Result<Self, PermissionError> {
        let Value::Object(map) = value else {
            return Err(PermissionError::NotAnObject);
        };
        Self::from_map(map)
    }

    fn from_map(map: &Map<String, Value>) -> Result<Self, PermissionError> {
        let flag = |name: &str| match map.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(PermissionError::NotABoolean(name.to_owned())),
        };
        Ok(Self {
            share_front_status: flag("share_front_status")?,
            share_members: flag("share_members")?,
            share_front_history: flag("share_front_history")?,
            share_journal: flag("share_journal")?,
            share_mood_trends: flag("share_mood_trends")?,
            share_polls: flag("share_polls")?,
            share_vault: flag("share_vault")?,
        })
    }

    /// Whether these flags let a friend read `volume`.
    pub fn allows(&self, volume: VolumeName) -> bool {
        match volume {
            VolumeName::Meta => true,
            VolumeName::Members => self.share_members,
            VolumeName::Fronts => self.share_front_status || self.share_front_history,
            VolumeName::Journal => self.share_journal,
            VolumeName::Polls => self.share_polls,
            VolumeName::Analytics => self.share_mood_trends,
            VolumeName::Vault => self.share_vault,
            VolumeName::Chat => false,
        }
    }

    /// The volumes these flags unlock.
    pub fn volumes(&self) -> Vec<VolumeName> {
        VolumeName::ALL
            .into_iter()
            .filter(|v| self.allows(*v))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mapping() {
        let none = Permissions::default();
        assert_eq!(none.volumes(), vec![VolumeName::Meta]);
        let defaults = Permissions::from_json(&json!({
            "share_front_status": true, "share_members": true, "share_front_history": false,
            "share_journal": false, "share_mood_trends": false, "share_polls": false, "share_vault": false
        }))
        .expect("valid");
        assert_eq!(
            defaults.volumes(),
            vec![VolumeName::Meta, VolumeName::Members, VolumeName::Fronts]
        );
        let all = Permissions::from_json(&json!({
            "share_front_status": true, "share_members": true, "share_front_history": true,
            "share_journal": true, "share_mood_trends": true, "share_polls": true, "share_vault": true,
            "share_chat": true, "unknown": 5
        }))
        .expect("unknown keys ignored");
        assert!(!all.allows(VolumeName::Chat));
        assert_eq!(all.volumes().len(), 7);
    }

    #[test]
    fn refusals() {
        assert_eq!(
            Permissions::from_json(&json!(["share_vault"])),
            Err(PermissionError::NotAnObject)
        );
        assert_eq!(
            Permissions::from_json(&json!({"share_vault": "true"})),
            Err(PermissionError::NotABoolean("share_vault".into()))
        );
    }

    #[test]
    fn serialises_all_seven_flags() {
        let text = serde_json::to_string(&Permissions::default()).expect("serialises");
        for flag in Permissions::FLAGS {
            assert!(text.contains(flag));
        }
    }
}
