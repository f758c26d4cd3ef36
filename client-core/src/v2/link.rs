//! The pairing link (§5): what travels out of band (QR code, message) from the system to the
//! friend, and never through the relay:
//!
//! `coffer://pair?v=2&relay=<origin>&pin=<sha256/…>&code=<code>&secret=<base64url>&fp=<compact>`
//!
//! Parsing is strict: exactly that scheme and host, version 2, only known parameters, each at
//! most once, every value checked for shape and length. The link holds the invite secret, so
//! its text is returned in a buffer that is wiped on drop and `Debug` redacts the secret.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_certs::SpkiPin;
use zeroize::Zeroizing;

use super::{Fingerprint, InviteSecret, V2Error, percent};

const PREFIX: &str = "coffer://pair?";
/// Longest link accepted (a valid one is well under 400 characters).
const MAX_LINK_LEN: usize = 2048;
/// Longest relay origin.
const MAX_ORIGIN_LEN: usize = 262;
/// Longest invite code.
const MAX_CODE_LEN: usize = 64;

/// A v2 pairing link. Built by the system ([`InviteLink::new`]), read by the friend
/// ([`InviteLink::parse`]).
pub struct InviteLink {
    relay_origin: String,
    pin: Option<SpkiPin>,
    code: String,
    secret: InviteSecret,
    system_fingerprint: Fingerprint,
}

/// `https://host[:port]` with a DNS name, IPv4 or bracketed IPv6 host, no user info, path,
/// query or fragment, no trailing slash — and in canonical web-origin form (lower case, no
/// default port 443, no leading zeros in the port), because the friend signs this exact text at
/// login and the relay compares it with its `public_origins`.
fn valid_origin(origin: &str) -> bool {
    let Some(authority) = origin.strip_prefix("https://") else {
        return false;
    };
    if origin.len() > MAX_ORIGIN_LEN {
        return false;
    }
    let (host_ok, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return false;
        };
        let ok = !host.is_empty()
            && host.bytes().all(|b| {
                b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b':' || b == b'.'
            });
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(port) => Some(port),
                None => return false,
            },
        };
        (ok, port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let ok = !host.is_empty()
            && !host.starts_with(['.', '-'])
            && host
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        (ok, port)
    };
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && !p.starts_with('0')
            && p.parse::<u16>().is_ok_and(|n| n != 443)
    });
    host_ok && port_ok
}

fn valid_code(code: &str) -> bool {
    (1..=MAX_CODE_LEN).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl InviteLink {
    /// Builds a link.
    ///
    /// # Errors
    /// [`V2Error::InvalidLink`] if the origin is not `https://host[:port]` (no trailing slash)
    /// or the code is not 1–64 characters of `A–Z a–z 0–9 - _`.
    pub fn new(
        relay_origin: &str,
        pin: Option<SpkiPin>,
        code: &str,
        secret: InviteSecret,
        system_fingerprint: Fingerprint,
    ) -> Result<InviteLink, V2Error> {
        if !valid_origin(relay_origin) {
            return Err(V2Error::InvalidLink(
                "relay must be a canonical origin like https://host:port (lower case, no path, no trailing slash, no :443)",
            ));
        }
        if !valid_code(code) {
            return Err(V2Error::InvalidLink(
                "code must be 1-64 characters of A-Z a-z 0-9 - _",
            ));
        }
        Ok(InviteLink {
            relay_origin: relay_origin.to_owned(),
            pin,
            code: code.to_owned(),
            secret,
            system_fingerprint,
        })
    }

    /// The relay's origin (what the friend dials and signs at login).
    #[must_use]
    pub fn relay_origin(&self) -> &str {
        &self.relay_origin
    }
    /// The relay's certificate pin, for a self-signed relay.
    #[must_use]
    pub fn pin(&self) -> Option<SpkiPin> {
        self.pin
    }
    /// The relay-visible invite code.
    #[must_use]
    pub fn code(&self) -> &str {
        &self.code
    }
    /// The invite secret (keys the pairing proof; never sent to the relay).
    #[must_use]
    pub fn secret(&self) -> &InviteSecret {
        &self.secret
    }
    /// The system's fingerprint: the friend checks the system's keys against it.
    #[must_use]
    pub fn system_fingerprint(&self) -> Fingerprint {
        self.system_fingerprint
    }

    /// The link text (contains the secret; wiped on drop).
    #[must_use]
    pub fn to_uri(&self) -> Zeroizing<String> {
        self.to_uri_with(PREFIX)
    }

    /// The same parameters under another scheme prefix (the device link of §13,
    /// `coffer://link-device?`).
    pub(crate) fn to_uri_with(&self, prefix: &str) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(400));
        out.push_str(prefix);
        out.push_str("v=2&relay=");
        out.push_str(&percent::encode(&self.relay_origin));
        if let Some(pin) = &self.pin {
            out.push_str("&pin=");
            out.push_str(&percent::encode(&pin.to_string()));
        }
        out.push_str("&code=");
        out.push_str(&percent::encode(&self.code));
        out.push_str("&secret=");
        let secret = Zeroizing::new(URL_SAFE_NO_PAD.encode(self.secret.expose_secret()));
        out.push_str(&secret);
        out.push_str("&fp=");
        out.push_str(&self.system_fingerprint.compact());
        out
    }

    /// Parses a link strictly (see the module doc).
    ///
    /// # Errors
    /// [`V2Error::InvalidLink`] naming the first problem found; never the secret.
    pub fn parse(uri: &str) -> Result<InviteLink, V2Error> {
        Self::parse_with(uri, PREFIX, "not a coffer://pair? link")
    }

    /// [`Self::parse`] for the same parameters under another scheme prefix.
    pub(crate) fn parse_with(
        uri: &str,
        prefix: &str,
        not_this_kind: &'static str,
    ) -> Result<InviteLink, V2Error> {
        if uri.len() > MAX_LINK_LEN {
            return Err(V2Error::InvalidLink("link is too long"));
        }
        if uri.starts_with("coffer://relay?") {
            return Err(V2Error::InvalidLink(
                "this is a relay pairing string (coffer://relay?…), not an invite link: open the \
                 relay with ClientConfig::from_pairing (bindings: ClientConfig.from_pairing)",
            ));
        }
        let query = uri
            .strip_prefix(prefix)
            .ok_or(V2Error::InvalidLink(not_this_kind))?;
        let [mut v, mut relay, mut pin, mut code, mut secret, mut fp] = [None; 6];
        for part in query.split('&') {
            let (key, value) = part
                .split_once('=')
                .ok_or(V2Error::InvalidLink("parameter without a value"))?;
            let slot = match key {
                "v" => &mut v,
                "relay" => &mut relay,
                "pin" => &mut pin,
                "code" => &mut code,
                "secret" => &mut secret,
                "fp" => &mut fp,
                _ => return Err(V2Error::InvalidLink("unknown parameter")),
            };
            if slot.replace(value).is_some() {
                return Err(V2Error::InvalidLink("parameter given twice"));
            }
        }
        if v.ok_or(V2Error::InvalidLink("missing v"))? != "2" {
            return Err(V2Error::InvalidLink("unsupported link version (need v=2)"));
        }
        let decode = |value: Option<&str>, missing: &'static str, bad: &'static str| {
            percent::decode(value.ok_or(V2Error::InvalidLink(missing))?)
                .map(Zeroizing::new)
                .ok_or(V2Error::InvalidLink(bad))
        };
        let relay = decode(relay, "missing relay", "relay is not percent-encoded text")?;
        let code = decode(code, "missing code", "code is not percent-encoded text")?;
        let secret = decode(secret, "missing secret", "secret is not base64url")?;
        let fp = decode(fp, "missing fp", "fp is not base64url")?;
        let pin = match pin {
            None => None,
            Some(text) => Some(
                percent::decode(text)
                    .and_then(|t| t.parse::<SpkiPin>().ok())
                    .ok_or(V2Error::InvalidLink(
                        "pin is not sha256/<base64 of 32 bytes>",
                    ))?,
            ),
        };
        let secret_bytes = Zeroizing::new(
            (secret.len() == 43)
                .then(|| URL_SAFE_NO_PAD.decode(secret.as_bytes()).ok())
                .flatten()
                .ok_or(V2Error::InvalidLink("secret is not 32 bytes of base64url"))?,
        );
        let mut key = InviteSecret::zeroed();
        if secret_bytes.len() != InviteSecret::LEN {
            return Err(V2Error::InvalidLink("secret is not 32 bytes of base64url"));
        }
        key.bytes_mut().copy_from_slice(&secret_bytes);
        let fingerprint = Fingerprint::from_compact(&fp)
            .map_err(|_| V2Error::InvalidLink("fp is not a compact fingerprint"))?;
        InviteLink::new(&relay, pin, &code, key, fingerprint)
    }
}

impl fmt::Debug for InviteLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InviteLink")
            .field("relay_origin", &self.relay_origin)
            .field("pin", &self.pin)
            .field("code", &self.code)
            .field("secret", &"<redacted>")
            .field("system_fingerprint", &self.system_fingerprint)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for ok in [
            "https://relay.example",
            "https://relay.example:8443",
            "https://192.168.1.20:8443",
            "https://[::1]:8443",
            "https://[fe80::1]",
        ] {
            assert!(valid_origin(ok), "{ok}");
        }
        for bad in [
            "http://relay.example",
            "https://",
            "https://relay.example/",
            "https://relay.example/path",
            "https://user@relay.example",
            "https://relay.example:0",
            "https://relay.example:65536",
            "https://relay.example:",
            "https://relay example",
            "https://[::1",
            "https://[::1]x",
            "https://.relay",
            "HTTPS://relay.example",
            "https://Relay.example",
            "https://relay.example:443",
            "https://relay.example:08443",
            "https://[FE80::1]",
        ] {
            assert!(!valid_origin(bad), "{bad}");
        }
    }

    #[test]
    fn parse_refusals() {
        let link = InviteLink::new(
            "https://relay.example:8443",
            None,
            "ABCD2345EFGH",
            InviteSecret::from_bytes([7; 32]),
            Fingerprint::from_bytes([8; 32]),
        )
        .expect("valid");
        let uri = link.to_uri();
        assert!(InviteLink::parse(&uri).is_ok());
        let bad = [
            uri.replace("coffer://", "cofer://"),
            uri.replace("pair?", "pair/?"),
            uri.replace("v=2", "v=3"),
            uri.replace("v=2&", ""),
            format!("{}&x=1", *uri),
            format!("{}&code=ABC", *uri),
            format!("{}#frag", *uri),
            uri.replace("&code=ABCD2345EFGH", ""),
            uri.replace("ABCD2345EFGH", "AB CD"),
            uri.replace("secret=", "secret=A"),
            uri.replace("fp=", "fp=A"),
            format!("{}&pin=sha256/abc", *uri),
            format!("{}{}", *uri, "A".repeat(3000)),
        ];
        for b in &bad {
            assert!(
                matches!(InviteLink::parse(b), Err(V2Error::InvalidLink(_))),
                "{b}"
            );
        }
    }

    #[test]
    fn a_relay_pairing_string_names_the_api_that_takes_it() {
        let pairing = "coffer://relay?v=2&relay=https%3A%2F%2F192.168.1.50%3A8443\
                       &pin=sha256%2Fir1tJFN1j7T1TgwhD6HnuMNoeDjRx%2BUyULFQr%2BB0iSk%3D";
        let Err(V2Error::InvalidLink(reason)) = InviteLink::parse(pairing) else {
            panic!("a pairing string is not an invite link");
        };
        assert!(reason.contains("ClientConfig::from_pairing"), "{reason}");
    }
}
