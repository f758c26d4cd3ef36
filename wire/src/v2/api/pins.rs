//! `GET /pins`: the SPKI pins of the relay's certificates.

use serde::{Deserialize, Serialize};

/// Answer to `GET /pins`: the pin of the current certificate and, once the operator prepared
/// one, of the next, as `sha256/<base64>` text. Public data (pins are not secrets), and a claim
/// to be believed only over a connection the client already trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pins {
    /// The current certificate's pin (`null` if the relay serves no TLS itself).
    pub current: Option<String>,
    /// The next certificate's pin, if one is prepared.
    pub next: Option<String>,
}
