//! Own sessions (`docs/protocol-v2.md` §11): the device label sent at login, the session list,
//! revocation answers.

use std::borrow::Cow;
use std::fmt;

use serde::de;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::fields::de_list;
use super::{RelayTime, SessionId};

/// Why a device label was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid device label: use 1–64 characters without control characters")]
pub struct DeviceLabelError;

/// A client-chosen name for the device a session belongs to ("Pixel 8", "iPad"): 1–64
/// characters, no control characters. Shown to the account's owner only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceLabel(String);

/// Longest device label, in characters.
pub const MAX_DEVICE_LABEL_CHARS: usize = 64;

impl DeviceLabel {
    /// Validates a label.
    pub fn new(label: &str) -> Result<DeviceLabel, DeviceLabelError> {
        let chars = label.chars().count();
        if (1..=MAX_DEVICE_LABEL_CHARS).contains(&chars) && !label.chars().any(char::is_control) {
            Ok(DeviceLabel(label.to_owned()))
        } else {
            Err(DeviceLabelError)
        }
    }

    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for DeviceLabel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DeviceLabel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(d)?;
        DeviceLabel::new(&text).map_err(de::Error::custom)
    }
}

/// Which protocol's login made a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionProtocol {
    /// `POST /api/v1/auth/token`.
    V1,
    /// `POST /api/v2/auth/token`.
    V2,
    /// A protocol this client does not know (a newer relay).
    #[serde(other)]
    Unknown,
}

/// An entry of `GET /sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The session's public id.
    pub session_id: SessionId,
    /// The label its login sent (`null` when none).
    #[serde(default)]
    pub device_label: Option<DeviceLabel>,
    /// Which login made it.
    pub protocol: SessionProtocol,
    /// When it was made (to the hour).
    pub created_at: RelayTime,
    /// When it was last used (to the hour; updated at most once an hour).
    pub last_used_at: RelayTime,
    /// Whether it is the session of the request that listed it.
    pub current: bool,
}

/// `{"sessions": [...]}`: the answer to `GET /sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionList {
    /// At most [`super::MAX_LIST_ENTRIES`] entries.
    #[serde(deserialize_with = "de_list")]
    pub sessions: Vec<SessionInfo>,
}

/// Answer to `POST /sessions/revoke-others`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsRevoked {
    /// How many sessions were ended.
    pub revoked: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_labels_are_validated_like_handles() {
        assert!(DeviceLabel::new("Pixel 8").is_ok());
        assert!(DeviceLabel::new("é").is_ok(), "one character");
        assert!(DeviceLabel::new(&"ü".repeat(64)).is_ok(), "64 characters");
        assert!(DeviceLabel::new("").is_err());
        assert!(DeviceLabel::new(&"a".repeat(65)).is_err());
        assert!(DeviceLabel::new("a\nb").is_err());
        assert!(DeviceLabel::new("a\u{7f}").is_err());
        assert!(serde_json::from_str::<DeviceLabel>("\"tab\\there\"").is_err());
    }

    #[test]
    fn a_session_entry_reads_what_it_writes() {
        let text = r#"{"session_id":"6f1c2a3b-4d5e-4f60-8172-839405a6b7c8","device_label":null,
            "protocol":"v1","created_at":"2026-03-27T16:00:00+00:00",
            "last_used_at":"2026-03-27T17:00:00+00:00","current":false}"#;
        let entry: SessionInfo = serde_json::from_str(text).expect("parses");
        assert_eq!(entry.protocol, SessionProtocol::V1);
        assert_eq!(entry.device_label, None);
        let again: SessionInfo =
            serde_json::from_value(serde_json::to_value(&entry).expect("writes")).expect("reads");
        assert_eq!(again, entry);
    }
}
