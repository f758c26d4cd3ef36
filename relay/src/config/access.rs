//! Who may use the relay: `[registration]` (open, invite-only or closed, and a user cap) and
//! `[metrics]` (whether `/metrics` needs the admin token). See
//! docs/adr/0024-registration-and-operator-access.md.

use serde::Deserialize;

/// Who may create an account (`registration.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegistrationMode {
    /// Anyone who reaches the relay may register (v1's behaviour; default).
    #[default]
    Open,
    /// A System needs a single-use registration code the operator issued; a Friend needs
    /// either such a code or an open pairing invite code of a System on this relay (each invite
    /// code registers one account). The code goes in the `X-Registration-Code` header.
    InviteOnly,
    /// Nobody may register; existing accounts keep working.
    Closed,
}

impl RegistrationMode {
    /// The configuration text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::InviteOnly => "invite-only",
            Self::Closed => "closed",
        }
    }

    /// Parses the configuration text (`open`, `invite-only`, `closed`).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "open" => Some(Self::Open),
            "invite-only" => Some(Self::InviteOnly),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// Registration settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Registration {
    /// See [`RegistrationMode`].
    pub mode: RegistrationMode,
    /// Most accounts the relay holds (v1 and v2, systems and friends together); a registration
    /// past it is refused with 403 `user_cap_reached`. Unset: no cap.
    pub max_users: Option<u64>,
    /// Lifetime of an operator-issued registration code, hours, when the request names none.
    pub code_lifetime_hours: u64,
}

impl Default for Registration {
    fn default() -> Self {
        Self {
            mode: RegistrationMode::Open,
            max_users: None,
            code_lifetime_hours: 168,
        }
    }
}

/// `/metrics` settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsAccess {
    /// Serve `/metrics` to anyone who reaches the main listener, without the admin token.
    /// Default false: the admin token (`X-Admin-Token`) is needed, or the admin listener.
    pub public: bool,
}
