//! Relay pairing strings: what a phone scans (as a QR code) to trust a home relay.
//!
//! `coffer://relay?v=2&relay=<origin>&pin=<sha256/…>[&next=<sha256/…>]`
//!
//! The same family and encoding as the v2 invite link (`coffer://pair?…`, docs/protocol-v2.md
//! §5): query values are percent-encoded (RFC 3986 unreserved characters stay), so the `+`, `/`
//! and `=` of a base64 pin survive any URL parser. The string holds no secret: a pin is public.
//! `next` is the pre-announced pin of the relay's next key, so a client paired now keeps
//! working after the relay rotates.

use std::fmt;
use std::str::FromStr;

use crate::{CertError, SpkiPin};

const PREFIX: &str = "coffer://relay?";
/// Longest pairing string accepted.
const MAX_LEN: usize = 1024;
/// Longest origin.
const MAX_ORIGIN_LEN: usize = 262;

/// A relay's origin and the pins a client should trust for it.
///
/// ```
/// use coffer_certs::{RelayPairing, SpkiPin};
///
/// let pin: SpkiPin = "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=".parse()?;
/// let pairing = RelayPairing::new("https://192.168.1.50:8443", pin, None)?;
/// let text = pairing.to_string();
/// assert_eq!(
///     text,
///     "coffer://relay?v=2&relay=https%3A%2F%2F192.168.1.50%3A8443\
///      &pin=sha256%2Fir1tJFN1j7T1TgwhD6HnuMNoeDjRx%2BUyULFQr%2BB0iSk%3D"
/// );
/// assert_eq!(text.parse::<RelayPairing>()?, pairing);
/// # Ok::<(), coffer_certs::CertError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayPairing {
    origin: String,
    pin: SpkiPin,
    next: Option<SpkiPin>,
}

fn invalid(reason: &'static str) -> CertError {
    CertError::InvalidPairing { reason }
}

/// `https://host[:port]`: a lower-case DNS name, an IPv4 address or a bracketed IPv6 address;
/// no user info, path, query or fragment, no trailing slash.
fn valid_origin(origin: &str) -> bool {
    let Some(authority) = origin.strip_prefix("https://") else {
        return false;
    };
    if origin.len() > MAX_ORIGIN_LEN || authority.is_empty() {
        return false;
    }
    let (host_ok, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return false;
        };
        let ok = host.parse::<std::net::Ipv6Addr>().is_ok();
        match after {
            "" => (ok, None),
            p => match p.strip_prefix(':') {
                Some(port) => (ok, Some(port)),
                None => return false,
            },
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let ok = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        (ok, port)
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty() && !p.starts_with('0') && p.len() <= 5 && p.parse::<u16>().is_ok()
    });
    host_ok && port_ok
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len() * 3);
    for &b in text.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Strict decoding: unreserved characters, `%XX`, and `:`/`/` left raw by some URL builders.
fn decode(text: &str) -> Option<String> {
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else if is_unreserved(b) || matches!(b, b':' | b'/') {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

impl RelayPairing {
    /// A pairing for the relay at `origin` (`https://host[:port]`, lower case) with `pin` and,
    /// if one is prepared, the `next` pin.
    pub fn new(origin: &str, pin: SpkiPin, next: Option<SpkiPin>) -> Result<Self, CertError> {
        if !valid_origin(origin) {
            return Err(invalid(
                "the relay origin must look like https://host:port (lower-case host, no path)",
            ));
        }
        if next == Some(pin) {
            return Err(invalid("the next pin equals the current pin"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            pin,
            next,
        })
    }

    /// The relay's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The pin of the relay's current key.
    pub fn pin(&self) -> SpkiPin {
        self.pin
    }

    /// The pre-announced pin of the relay's next key.
    pub fn next_pin(&self) -> Option<SpkiPin> {
        self.next
    }
}

impl fmt::Display for RelayPairing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}v=2&relay={}&pin={}",
            encode(&self.origin),
            encode(&self.pin.to_string())
        )?;
        if let Some(next) = &self.next {
            write!(f, "&next={}", encode(&next.to_string()))?;
        }
        Ok(())
    }
}

impl FromStr for RelayPairing {
    type Err = CertError;

    /// Strict: exactly that prefix, `v=2`, the known parameters each at most once.
    fn from_str(s: &str) -> Result<Self, CertError> {
        if s.len() > MAX_LEN {
            return Err(invalid("too long"));
        }
        let query = s
            .strip_prefix(PREFIX)
            .ok_or(invalid("not a coffer://relay? string"))?;
        let [mut v, mut relay, mut pin, mut next] = [None; 4];
        for part in query.split('&') {
            let (key, value) = part
                .split_once('=')
                .ok_or(invalid("parameter without a value"))?;
            let slot = match key {
                "v" => &mut v,
                "relay" => &mut relay,
                "pin" => &mut pin,
                "next" => &mut next,
                _ => return Err(invalid("unknown parameter")),
            };
            if slot.replace(value).is_some() {
                return Err(invalid("parameter given twice"));
            }
        }
        if v.ok_or(invalid("missing v"))? != "2" {
            return Err(invalid("unsupported version (need v=2)"));
        }
        let relay = decode(relay.ok_or(invalid("missing relay"))?)
            .ok_or(invalid("relay is not percent-encoded text"))?;
        let parse_pin = |text: &str| {
            decode(text)
                .and_then(|t| t.parse::<SpkiPin>().ok())
                .ok_or(invalid("a pin is not sha256/<base64 of 32 bytes>"))
        };
        let pin = parse_pin(pin.ok_or(invalid("missing pin"))?)?;
        let next = next.map(parse_pin).transpose()?;
        RelayPairing::new(&relay, pin, next)
    }
}

/// How a QR code is drawn in a terminal.
#[cfg(feature = "qr")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QrColors {
    /// Light text on a dark background (most terminals): modules that must be light are drawn
    /// as block characters.
    #[default]
    DarkTerminal,
    /// Dark text on a light background.
    LightTerminal,
}

/// `text` as a QR code (error correction M, with its quiet zone) drawn with Unicode half
/// blocks, two modules per character cell vertically.
#[cfg(feature = "qr")]
pub fn qr_code(text: &str, colors: QrColors) -> Result<String, CertError> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| CertError::Qr {
            detail: e.to_string(),
        })?;
    let (dark, light) = match colors {
        QrColors::DarkTerminal => (Dense1x2::Light, Dense1x2::Dark),
        QrColors::LightTerminal => (Dense1x2::Dark, Dense1x2::Light),
    };
    let mut image = code
        .render::<Dense1x2>()
        .dark_color(dark)
        .light_color(light)
        .quiet_zone(true)
        .build();
    image.push('\n');
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk=";
    const NEXT: &str = "sha256/G8GBPaBpmF7AJ/WiG+hKLR0iTiJeMihFAYSlDaL0GJM=";

    fn pin(s: &str) -> SpkiPin {
        s.parse().expect("pin")
    }

    #[test]
    fn round_trip_with_next_pin() {
        for origin in [
            "https://relay.example",
            "https://relay.lan:8443",
            "https://192.168.1.50:8443",
            "https://[fd00::7]:8443",
        ] {
            let p = RelayPairing::new(origin, pin(PIN), Some(pin(NEXT))).expect(origin);
            let text = p.to_string();
            assert!(
                text.starts_with("coffer://relay?v=2&relay=https%3A%2F%2F"),
                "{text}"
            );
            assert!(!text.contains('+'), "{text}");
            let back: RelayPairing = text.parse().expect("parses");
            assert_eq!(back, p);
            assert_eq!(back.next_pin(), Some(pin(NEXT)));
            assert_eq!(back.origin(), origin);
        }
    }

    #[test]
    fn refuses_bad_input() {
        for bad in [
            "http://relay.example",
            "https://Relay.example",
            "https://relay.example/",
            "https://relay.example:0",
            "https://relay.example:99999",
            "https://user@relay.example",
            "https://relay..example",
            "https://[not-v6]:1",
        ] {
            assert!(RelayPairing::new(bad, pin(PIN), None).is_err(), "{bad}");
        }
        assert!(RelayPairing::new("https://r.example", pin(PIN), Some(pin(PIN))).is_err());
        let good = RelayPairing::new("https://r.example", pin(PIN), None)
            .expect("ok")
            .to_string();
        for bad in [
            good.replace("coffer://relay?", "coffer://pair?"),
            good.replace("v=2", "v=1"),
            format!("{good}&pin=x"),
            format!("{good}&extra=1"),
            good.replace("%2B", "+"),
            format!("{good}&"),
            good.replace("&pin=", "&pinn="),
        ] {
            assert!(bad.parse::<RelayPairing>().is_err(), "{bad}");
        }
    }

    #[cfg(feature = "qr")]
    #[test]
    fn qr_codes_are_square_blocks() {
        let text = RelayPairing::new("https://192.168.1.50:8443", pin(PIN), Some(pin(NEXT)))
            .expect("ok")
            .to_string();
        let qr = qr_code(&text, QrColors::DarkTerminal).expect("fits");
        let lines: Vec<&str> = qr.lines().collect();
        let width = lines[0].chars().count();
        // Two modules per line: height in lines is about half the width in characters.
        assert!(
            lines.len() * 2 >= width && lines.len() * 2 <= width + 2,
            "{qr}"
        );
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert!(
            qr.chars()
                .all(|c| matches!(c, ' ' | '\u{2580}' | '\u{2584}' | '\u{2588}' | '\n'))
        );
        let light = qr_code(&text, QrColors::LightTerminal).expect("fits");
        assert_ne!(qr, light);
        assert!(qr_code(&"x".repeat(5000), QrColors::DarkTerminal).is_err());
    }
}
