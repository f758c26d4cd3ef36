//! The pairing link (§5): what travels out of band (QR code, message) from the system to the
//! friend, and never through the relay:
//!
//! `coffer://pair?v=2&relay=<origin>&pin=<sha256/…>&code=<code>&secret=<base64url>&fp=<compact>[&also=<origin[ pin]>]…`
//!
//! Parsing is strict: exactly that scheme and host, version 2, only known parameters, each at
//! most once (except `also`, which names the system's other relays, at most 7, in order), every
//! value checked for shape and length. The link holds the invite secret, so
//! its text is returned in a buffer that is wiped on drop and `Debug` redacts the secret.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_certs::SpkiPin;
use zeroize::Zeroizing;

use super::{Fingerprint, InviteSecret, MAX_RELAYS, RelayEntry, V2Error, percent};

const PREFIX: &str = "coffer://pair?";
/// Longest link accepted. One without `also` is well under 400 characters; the longest valid
/// one (eight 262-byte IPv6 origins, every character escaped, with pins) is under 8000
/// (tested), so everything [`InviteLink::to_uri`] writes parses again.
const MAX_LINK_LEN: usize = 8192;
/// Most `also` relays in a link: the link's own relay plus these make a full relay list.
const MAX_ALSO: usize = MAX_RELAYS - 1;
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
    also: Vec<RelayEntry>,
}

/// `https://host[:port]` with a DNS name, IPv4 or bracketed IPv6 host, no user info, path,
/// query or fragment, no trailing slash — and in canonical web-origin form (lower case, no
/// default port 443, no leading zeros in the port), because the friend signs this exact text at
/// login and the relay compares it with its `public_origins`.
pub(super) fn valid_origin(origin: &str) -> bool {
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
            also: Vec::new(),
        })
    }

    /// The same link naming the system's other relays (`also`), in order of preference. A link
    /// carries one pin per relay: an entry with a current and a next pin keeps only the current
    /// one (the friend learns both from the signed relay list, §15).
    ///
    /// # Errors
    /// [`V2Error::InvalidLink`] for more than 7 entries, an entry whose origin is the link's own
    /// relay, or two entries with the same origin.
    pub fn with_also(mut self, also: Vec<RelayEntry>) -> Result<InviteLink, V2Error> {
        if also.len() > MAX_ALSO {
            return Err(V2Error::InvalidLink(
                "a link names at most 7 other relays (also)",
            ));
        }
        let mut kept: Vec<RelayEntry> = Vec::with_capacity(also.len());
        for entry in also {
            if entry.origin() == self.relay_origin {
                return Err(V2Error::InvalidLink(
                    "an also relay is the link's own relay",
                ));
            }
            if kept.iter().any(|e| e.origin() == entry.origin()) {
                return Err(V2Error::InvalidLink("an also relay is named twice"));
            }
            kept.push(RelayEntry::from_link(
                entry.origin(),
                entry.pins().first().copied(),
            ));
        }
        self.also = kept;
        Ok(self)
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
    /// The system's other relays named by the link (`also`), in order; each has at most one pin.
    #[must_use]
    pub fn also(&self) -> &[RelayEntry] {
        &self.also
    }
    /// Every relay the link names: its own relay (with its pin) first, then [`Self::also`].
    #[must_use]
    pub fn relays(&self) -> Vec<RelayEntry> {
        let own = RelayEntry::from_link(&self.relay_origin, self.pin);
        std::iter::once(own)
            .chain(self.also.iter().cloned())
            .collect()
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
        for entry in &self.also {
            out.push_str("&also=");
            out.push_str(&percent::encode(&also_text(entry)));
        }
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
        let mut also_values = Vec::new();
        for part in query.split('&') {
            let (key, value) = part
                .split_once('=')
                .ok_or(V2Error::InvalidLink("parameter without a value"))?;
            let slot = match key {
                "also" => {
                    if also_values.len() == MAX_ALSO {
                        return Err(V2Error::InvalidLink(
                            "a link names at most 7 other relays (also)",
                        ));
                    }
                    also_values.push(value);
                    continue;
                }
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
        let also = also_values
            .into_iter()
            .map(parse_also)
            .collect::<Result<Vec<_>, _>>()?;
        InviteLink::new(&relay, pin, &code, key, fingerprint)?.with_also(also)
    }
}

/// `origin` or `origin SP pin`, before percent-encoding.
fn also_text(entry: &RelayEntry) -> String {
    match entry.pins().first() {
        None => entry.origin().to_owned(),
        Some(pin) => format!("{} {pin}", entry.origin()),
    }
}

/// One `also` value: percent-decoded, then `origin` or `origin SP pin`, both strict.
fn parse_also(value: &str) -> Result<RelayEntry, V2Error> {
    let text =
        percent::decode(value).ok_or(V2Error::InvalidLink("also is not percent-encoded text"))?;
    let (origin, pin) = match text.split_once(' ') {
        None => (text.as_str(), None),
        Some((origin, pin)) => (
            origin,
            Some(pin.parse::<SpkiPin>().map_err(|_| {
                V2Error::InvalidLink("also pin is not sha256/<base64 of 32 bytes>")
            })?),
        ),
    };
    if !valid_origin(origin) {
        return Err(V2Error::InvalidLink(
            "also must be a canonical origin like https://host:port, optionally followed by a space and its pin",
        ));
    }
    RelayEntry::new(origin, pin.into_iter().collect())
        .map_err(|_| V2Error::InvalidLink("also is not a valid relay"))
}

impl fmt::Debug for InviteLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InviteLink")
            .field("relay_origin", &self.relay_origin)
            .field("pin", &self.pin)
            .field("code", &self.code)
            .field("secret", &"<redacted>")
            .field("system_fingerprint", &self.system_fingerprint)
            .field("also", &self.also)
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

    fn pin(b: u8) -> SpkiPin {
        format!(
            "sha256/{}",
            base64::engine::general_purpose::STANDARD.encode([b; 32])
        )
        .parse()
        .expect("valid pin")
    }

    fn base() -> InviteLink {
        InviteLink::new(
            "https://relay.example:8443",
            Some(pin(9)),
            "ABCD2345EFGH",
            InviteSecret::from_bytes([7; 32]),
            Fingerprint::from_bytes([8; 32]),
        )
        .expect("valid")
    }

    fn entry(origin: &str, pins: Vec<SpkiPin>) -> RelayEntry {
        RelayEntry::new(origin, pins).expect("valid")
    }

    #[test]
    fn also_round_trips_in_order() {
        let plain = base().to_uri();
        assert!(!plain.contains("also"));
        let link = base()
            .with_also(vec![
                entry("https://b.example", vec![]),
                entry("https://[::1]:9000", vec![pin(1)]),
            ])
            .expect("valid");
        let uri = link.to_uri();
        // Same bytes as before, then the also parameters.
        assert!(uri.starts_with(plain.as_str()), "{}", *uri);
        assert_eq!(
            &uri[plain.len()..],
            format!(
                "&also=https%3A%2F%2Fb.example&also=https%3A%2F%2F%5B%3A%3A1%5D%3A9000%20{}",
                percent::encode(&pin(1).to_string())
            )
        );
        let parsed = InviteLink::parse(&uri).expect("parses");
        assert_eq!(parsed.also(), link.also());
        assert_eq!(
            parsed.relays(),
            vec![
                entry("https://relay.example:8443", vec![pin(9)]),
                entry("https://b.example", vec![]),
                entry("https://[::1]:9000", vec![pin(1)]),
            ]
        );
        assert_eq!(parsed.to_uri().as_str(), uri.as_str());
        // Unescaped `:` and `/` are read as in the relay parameter.
        let loose = format!("{}&also=https://c.example:1", *plain);
        assert_eq!(
            InviteLink::parse(&loose).expect("parses").also(),
            &[entry("https://c.example:1", vec![])]
        );
        // Without also, relays() is the link's own relay alone.
        let no_pin = InviteLink::new(
            "https://relay.example",
            None,
            "ABC",
            InviteSecret::from_bytes([7; 32]),
            Fingerprint::from_bytes([8; 32]),
        )
        .expect("valid");
        assert_eq!(
            no_pin.relays(),
            vec![entry("https://relay.example", vec![])]
        );
        assert!(no_pin.also().is_empty());
    }

    #[test]
    fn also_keeps_only_the_current_pin() {
        let link = base()
            .with_also(vec![entry("https://b.example", vec![pin(1), pin(2)])])
            .expect("valid");
        assert_eq!(link.also(), &[entry("https://b.example", vec![pin(1)])]);
        let parsed = InviteLink::parse(&link.to_uri()).expect("parses");
        assert_eq!(parsed.also(), link.also());
    }

    #[test]
    fn with_also_refusals() {
        let eight: Vec<RelayEntry> = (0..8)
            .map(|i| entry(&format!("https://r{i}.example"), vec![]))
            .collect();
        assert!(base().with_also(eight[..7].to_vec()).is_ok());
        let refused = [
            eight,
            vec![entry("https://relay.example:8443", vec![])],
            vec![
                entry("https://b.example", vec![]),
                entry("https://b.example", vec![pin(1)]),
            ],
        ];
        for also in refused {
            assert!(
                matches!(base().with_also(also.clone()), Err(V2Error::InvalidLink(_))),
                "{also:?}"
            );
        }
    }

    #[test]
    fn also_parse_refusals() {
        let uri = base().to_uri();
        let p1 = percent::encode(&pin(1).to_string());
        let also = |v: &str| format!("{}&also={v}", *uri);
        let mut bad = vec![
            also(""),
            also("b.example"),
            also("http%3A%2F%2Fb.example"),
            also("https%3A%2F%2FB.example"),
            also("https%3A%2F%2Fb.example%2F"),
            also("https%3A%2F%2Fb.example%3A443"),
            also("https%3A%2F%2Fb.example%3A08443"),
            // The link's own relay.
            also("https%3A%2F%2Frelay.example%3A8443"),
            // Malformed percent-encoding, raw space, plus sign.
            also("https%3A%2F%2Fb.example%2"),
            also("https://b.example sha256/x"),
            also("https://b.example+x"),
            // Pins: wrong shape, missing, two of them, leading or trailing space.
            also("https%3A%2F%2Fb.example%20sha256%2Fabc"),
            also("https%3A%2F%2Fb.example%20"),
            also(&format!("https%3A%2F%2Fb.example%20{p1}%20{p1}")),
            also(&format!("https%3A%2F%2Fb.example%20%20{p1}")),
            also(&format!("%20https%3A%2F%2Fb.example%20{p1}")),
            also(&format!(
                "https%3A%2F%2Fb.example%20{}",
                percent::encode(&format!("sha1/{}", &pin(1).to_string()[7..]))
            )),
            // The same other relay twice.
            format!(
                "{}&also=https%3A%2F%2Fb.example&also=https%3A%2F%2Fb.example%20{p1}",
                *uri
            ),
        ];
        let eight: String = (0..8)
            .map(|i| format!("&also=https%3A%2F%2Fr{i}.example"))
            .collect();
        bad.push(format!("{}{eight}", *uri));
        let seven: String = (0..7)
            .map(|i| format!("&also=https%3A%2F%2Fr{i}.example"))
            .collect();
        assert_eq!(
            InviteLink::parse(&format!("{}{seven}", *uri)).map(|l| l.also().len()),
            Ok(7)
        );
        for b in &bad {
            assert!(
                matches!(InviteLink::parse(b), Err(V2Error::InvalidLink(_))),
                "{b}"
            );
        }
        // Other parameters keep their rules when also is present.
        let with = InviteLink::parse(&also("https%3A%2F%2Fb.example")).expect("valid");
        assert_eq!(with.also().len(), 1);
        assert!(matches!(
            InviteLink::parse(&format!("{}&code=ABC", also("https%3A%2F%2Fb.example"))),
            Err(V2Error::InvalidLink("parameter given twice"))
        ));
        assert!(matches!(
            InviteLink::parse(&format!("{}&also2=x", *uri)),
            Err(V2Error::InvalidLink("unknown parameter"))
        ));
    }

    /// The longest link `to_uri` can write still parses: MAX_LINK_LEN covers it.
    #[test]
    fn the_longest_link_parses() {
        let origin = |i: usize| {
            let host = format!(
                "{i}{}",
                ":".repeat(MAX_ORIGIN_LEN - "https://[]:65535".len() - 1)
            );
            let o = format!("https://[{host}]:65535");
            assert_eq!(o.len(), MAX_ORIGIN_LEN);
            o
        };
        // Standard base64 of 0xfb 0xef 0xbe… is '+', each escaped to three characters (the
        // last character carries two zero bits, so it is '8').
        let plus: SpkiPin = format!("sha256/{}8=", "+".repeat(42))
            .parse()
            .expect("valid");
        let also: Vec<RelayEntry> = (1..=MAX_ALSO)
            .map(|i| entry(&origin(i), vec![plus]))
            .collect();
        let link = InviteLink::new(
            &origin(0),
            Some(plus),
            &"A".repeat(MAX_CODE_LEN),
            InviteSecret::from_bytes([0xff; 32]),
            Fingerprint::from_bytes([0xff; 32]),
        )
        .expect("valid")
        .with_also(also)
        .expect("valid");
        let uri = link.to_uri();
        assert!(uri.len() > 2048 && uri.len() < 8000, "{}", uri.len());
        assert_eq!(
            InviteLink::parse(&uri).expect("parses").relays(),
            link.relays()
        );
        assert!(matches!(
            InviteLink::parse(&format!("{}{}", *uri, "A".repeat(MAX_LINK_LEN))),
            Err(V2Error::InvalidLink("link is too long"))
        ));
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
