//! [`InviteLink`]: the pairing link a system shows (as a QR code) and a friend scans.
//!
//! The link carries a one-time secret that the relay never sees (design §3 flow 4): that is
//! what lets each side check the other's keys without trusting the relay. So its text form is
//! a secret too — show it to the friend, never log or upload it. Its `Debug` form redacts it.

use std::fmt;
use std::sync::Arc;

use coffer_client_core::v2::InviteLink as CoreLink;

use crate::error::CofferError;

/// A v2 invite link: relay origin and pin, invite code, the one-time secret, and the system's
/// key fingerprint.
#[derive(uniffi::Object)]
pub struct InviteLink(CoreLink);

impl fmt::Debug for InviteLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl InviteLink {
    pub(crate) fn new(link: CoreLink) -> Arc<Self> {
        Arc::new(InviteLink(link))
    }

    pub(crate) fn core(&self) -> &CoreLink {
        &self.0
    }
}

#[uniffi::export]
impl InviteLink {
    /// Parses a scanned or pasted link strictly.
    ///
    /// Throws `InvalidInput` (with the reason) for anything that is not a valid v2 link.
    #[uniffi::constructor]
    pub fn parse(uri: String) -> Result<Arc<Self>, CofferError> {
        Ok(Self::new(CoreLink::parse(&uri)?))
    }

    /// The link as text, for the QR code. **Contains the invite's secret**: show it to the
    /// friend only; never log, store or send it anywhere else.
    pub fn to_uri(&self) -> String {
        self.0.to_uri().as_str().to_owned()
    }

    /// The relay origin (`https://host[:port]`).
    pub fn relay_url(&self) -> String {
        self.0.relay_origin().to_owned()
    }

    /// The relay's pin, when it uses a self-signed certificate.
    pub fn relay_pin(&self) -> Option<String> {
        self.0.pin().map(|pin| pin.to_string())
    }

    /// The invite code (what the relay knows the invite by; not secret).
    pub fn code(&self) -> String {
        self.0.code().to_owned()
    }

    /// The system's key fingerprint in compact form (43 characters).
    pub fn system_fingerprint(&self) -> String {
        self.0.system_fingerprint().compact()
    }

    /// The system's safety number (twelve groups of five digits), to compare in person.
    pub fn system_safety_number(&self) -> String {
        self.0.system_fingerprint().safety_number()
    }
}
