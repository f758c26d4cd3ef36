//! Ids and names that travel as JSON text, parsed at deserialisation: user and pairing ids
//! (UUIDs), handles, invite codes, and the two small enumerations of the API.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::de;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// From the 16 raw bytes (as inside signed structures).
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }

            /// The UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// The 16 raw bytes (as inside signed structures).
            pub const fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, uuid::Error> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A user's id on a relay (hyphenated UUID text in JSON, 16 raw bytes inside signed
    /// structures). A v2 account's id is derived from its keys ([`UserId::derive`]), so it is
    /// the same on every relay; v1 accounts keep random ids.
    UserId
);

impl UserId {
    /// The id of the v2 account with these keys, on every relay (`docs/protocol-v2.md` §3):
    /// the first 16 bytes of `SHA-256(label("coffer-v2/user-id") ‖ pk ‖ xpk)`, as a UUID of
    /// version 8 with the RFC 9562 variant.
    pub fn derive(public_signing_key: &[u8; 32], public_exchange_key: &[u8; 32]) -> UserId {
        UserId::from_bytes(crate::v2::user_id_bytes(
            public_signing_key,
            public_exchange_key,
        ))
    }
}
uuid_id!(
    /// A pairing (relationship) id.
    PairingId
);
uuid_id!(
    /// A session's public id (`sessions.rs`): random, chosen by the relay at login, never
    /// derived from the token (knowing it lets its owner revoke it, nothing else).
    SessionId
);

/// Why a handle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid handle: use 2–64 characters without control characters")]
pub struct HandleError;

/// A public handle: 2–64 characters, no control characters, not `..` (which could not be
/// addressed as a URL path segment).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Handle(String);

impl Handle {
    /// Validates a handle.
    pub fn new(handle: &str) -> Result<Handle, HandleError> {
        let chars = handle.chars().count();
        if (2..=64).contains(&chars) && !handle.chars().any(char::is_control) && handle != ".." {
            Ok(Handle(handle.to_owned()))
        } else {
            Err(HandleError)
        }
    }

    /// The handle.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Handle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Handle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(d)?;
        Handle::new(&text).map_err(de::Error::custom)
    }
}

/// Why an invite code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid invite code: expected 1–64 letters, digits, '-' or '_'")]
pub struct InviteCodeError;

/// The relay-visible half of an invite (the pairing secret never leaves the link): 1–64 ASCII
/// letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InviteCode(String);

impl InviteCode {
    /// Validates a code.
    pub fn new(code: &str) -> Result<InviteCode, InviteCodeError> {
        let ok = (1..=64).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(InviteCode(code.to_owned()))
        } else {
            Err(InviteCodeError)
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for InviteCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for InviteCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(d)?;
        InviteCode::new(&text).map_err(de::Error::custom)
    }
}

/// Which app an account belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// The data owner's app: publishes volumes, invites and grants.
    System,
    /// A read-only companion app.
    Friend,
}

/// A pairing's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairingStatus {
    /// Redeemed, no grant yet.
    Pending,
    /// A grant has been uploaded.
    Active,
    /// A state this client does not know (a newer relay); treat as not active.
    #[serde(other)]
    Unknown,
}
