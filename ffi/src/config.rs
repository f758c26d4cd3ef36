//! [`ClientConfig`]: where a client finds its relay and how it trusts it — a pinned
//! self-signed certificate (from the invite link or the relay's banner) or Web PKI roots the app
//! supplies. There is no "accept any certificate" option to reach.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use coffer_client_core::client::{ClientConfig as CoreConfig, PairingError};
use coffer_client_core::transport::{RelayHttpConfig, RelayOrigin, Trust};

use crate::error::CofferError;
use crate::link::InviteLink;

/// How to reach a relay. Immutable; the `with…` methods return a changed copy.
#[derive(uniffi::Object)]
pub struct ClientConfig(CoreConfig);

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl ClientConfig {
    /// Wraps a client-core configuration (for constructors in other files of this crate).
    pub(crate) fn from_core(config: CoreConfig) -> Arc<Self> {
        Arc::new(ClientConfig(config))
    }

    /// The client-core configuration, for the binding functions of this crate.
    pub(crate) fn core(&self) -> CoreConfig {
        self.0.clone()
    }

    fn with_http(&self, change: impl FnOnce(&mut RelayHttpConfig)) -> Arc<Self> {
        let mut config = self.0.clone();
        change(&mut config.http);
        Arc::new(ClientConfig(config))
    }
}

fn parse_pin(pin: &str) -> Result<coffer_certs::SpkiPin, CofferError> {
    Ok(pin.parse()?)
}

#[uniffi::export]
impl ClientConfig {
    /// A relay with a self-signed certificate, trusted by its SPKI pin (`sha256/…`, as the
    /// relay prints it and invite links carry it). Only a relay holding that key is accepted.
    ///
    /// Throws `InvalidInput` for an address that is not `https://host[:port]`, `InvalidPin`.
    #[uniffi::constructor]
    pub fn pinned(relay_url: String, pin: String) -> Result<Arc<Self>, CofferError> {
        Ok(Arc::new(ClientConfig(CoreConfig {
            relay: RelayOrigin::parse(&relay_url)?,
            trust: Trust::Pinned(parse_pin(&pin)?),
            http: RelayHttpConfig::default(),
        })))
    }

    /// The relay a scanned pairing string names: what the relay's banner prints (also as a QR
    /// code) and `coffer-admin cert pair --url` gives,
    /// `coffer://relay?v=2&relay=https…&pin=sha256…[&next=sha256…]`. Trusts the relay's pin
    /// and, when the string announces one, its next pin. Enough to register or open an
    /// account (Kotlin `ClientConfig.fromPairing(text)`, Swift
    /// `ClientConfig.fromPairing(text:)`, Python `ClientConfig.from_pairing(text)`).
    ///
    /// Throws `NotAPairingString`, with `isInviteLink` true when the text is an invite link
    /// (`coffer://pair?…`: parse it with `InviteLink.parse` and use `fromInvite`).
    #[uniffi::constructor]
    pub fn from_pairing(text: String) -> Result<Arc<Self>, CofferError> {
        CoreConfig::from_pairing(&text)
            .map(|config| Arc::new(ClientConfig(config)))
            .map_err(|e| CofferError::NotAPairingString {
                is_invite_link: matches!(e, PairingError::InviteLink),
                reason: e.to_string(),
            })
    }

    /// A relay with a CA-signed certificate, trusted through the root certificates in
    /// `roots_pem` (PEM `CERTIFICATE` blocks: the platform's or Mozilla's bundle). The library
    /// ships no roots of its own.
    ///
    /// Throws `InvalidInput` for a bad address or an unusable bundle.
    #[uniffi::constructor]
    pub fn web_pki(relay_url: String, roots_pem: String) -> Result<Arc<Self>, CofferError> {
        Ok(Arc::new(ClientConfig(CoreConfig {
            relay: RelayOrigin::parse(&relay_url)?,
            trust: Trust::webpki_from_pem(roots_pem.as_bytes())?,
            http: RelayHttpConfig::default(),
        })))
    }

    /// The relay an invite link names: pinned when the link carries a pin, otherwise Web PKI
    /// with `web_pki_roots_pem` (then required).
    ///
    /// Throws `InvalidInput` when the link has no pin and no roots are given.
    #[uniffi::constructor(default(web_pki_roots_pem = None))]
    pub fn from_invite(
        link: Arc<InviteLink>,
        web_pki_roots_pem: Option<String>,
    ) -> Result<Arc<Self>, CofferError> {
        let relay = RelayOrigin::parse(link.core().relay_origin())?;
        let trust = match (link.core().pin(), web_pki_roots_pem) {
            (Some(pin), _) => Trust::Pinned(pin),
            (None, Some(pem)) => Trust::webpki_from_pem(pem.as_bytes())?,
            (None, None) => {
                return Err(CofferError::InvalidInput {
                    reason: "the link carries no pin: give Web PKI roots for this relay".to_owned(),
                });
            }
        };
        Ok(Arc::new(ClientConfig(CoreConfig {
            relay,
            trust,
            http: RelayHttpConfig::default(),
        })))
    }

    /// A copy with other timeouts: for connecting (TLS included; default 10 s) and for a whole
    /// request (default 30 s; raise it for large volumes on slow links).
    ///
    /// Throws `InvalidInput` for a zero timeout.
    pub fn with_timeouts(
        &self,
        connect_seconds: u32,
        request_seconds: u32,
    ) -> Result<Arc<Self>, CofferError> {
        if connect_seconds == 0 || request_seconds == 0 {
            return Err(CofferError::InvalidInput {
                reason: "timeouts must be at least one second".to_owned(),
            });
        }
        Ok(self.with_http(|http| {
            http.connect_timeout = Duration::from_secs(connect_seconds.into());
            http.request_timeout = Duration::from_secs(request_seconds.into());
        }))
    }

    /// A copy that does (`true`, the default) or does not use an HTTPS proxy from the
    /// environment (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`). TLS stays end to end either way.
    pub fn with_proxy_from_env(&self, enabled: bool) -> Arc<Self> {
        self.with_http(|http| http.proxy_from_env = enabled)
    }

    /// A copy that names this device at every login ("Pixel 8", "Kitchen iPad"): the account's
    /// session list shows it (`SystemClient.list_sessions`), so a lost phone's session can be
    /// told apart and revoked.
    ///
    /// Throws `InvalidInput` unless it has 1–64 characters and no control characters.
    pub fn with_device_label(&self, label: String) -> Result<Arc<Self>, CofferError> {
        Ok(Arc::new(ClientConfig(
            self.0.clone().with_device_label(&label)?,
        )))
    }

    /// The relay's origin, normalised (`https://host[:port]`).
    pub fn relay_url(&self) -> String {
        self.0.relay.as_str().to_owned()
    }

    /// The pin (of the relay's current key), for a pinned relay.
    pub fn pin(&self) -> Option<String> {
        self.0.trust.current_pin().map(|pin| pin.to_string())
    }

    /// The pin of the key the relay announced it will rotate to, if the pairing string
    /// carried one (it is trusted too, so the rotation needs no re-pairing).
    pub fn next_pin(&self) -> Option<String> {
        match &self.0.trust {
            Trust::PinnedRotating { next, .. } => Some(next.to_string()),
            _ => None,
        }
    }
}
