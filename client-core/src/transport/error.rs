//! [`TransportError`] and the **one** place that turns relay answers and reqwest failures into
//! it ([`from_status`], [`from_reqwest`]).
//!
//! Nothing here ever holds a token, a request body or a response body: a relay's `message` is
//! kept (bounded and stripped of control characters) only for 400, 403 and 413, where it tells
//! the user what to change; it is untrusted text and must be displayed as such. Network and TLS
//! failures keep their cause (the resolver's or socket's description, the pins expected and
//! presented): addresses and pins are not secrets.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

use serde::Deserialize;

/// `Retry-After` used when a 429 carries none or an unreadable one (the v1 relay's window).
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Longest `Retry-After` honoured: a hostile relay cannot park a client for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Longest relay `message` kept, in characters.
const MAX_MESSAGE_CHARS: usize = 200;

/// Why a relay call failed. Every variant says what the caller can do; [`code`](Self::code)
/// gives a stable machine-readable name (for FFI and logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The relay could not be reached or the connection broke: name resolution, refused or
    /// reset connection, or a timeout. Check the network and the relay address; retry later.
    #[error(
        "cannot reach the relay ({kind}: {detail}); check the network and the relay address, then retry"
    )]
    Network {
        /// What failed.
        kind: NetworkErrorKind,
        /// The lower layers' description (e.g. "Connection refused (os error 111)"); never a
        /// token or a body.
        detail: String,
    },
    /// The TLS handshake failed. With `pin_mismatch`, the relay presented a key other than the
    /// pinned one: the connection may be intercepted or the relay's certificate was replaced.
    /// Do not continue; re-pair only after confirming the new pin with the relay's operator.
    #[error("{}", tls_message(*.pin_mismatch, detail))]
    Tls {
        /// The relay's key does not match the pin (only ever true under `Trust::Pinned`).
        pin_mismatch: bool,
        /// The TLS library's description (certificates are public; no secrets); for a pin
        /// mismatch, the pins expected and the one the relay presented.
        detail: String,
    },
    /// 401: the relay refused the credentials (after one fresh login), or refused a login
    /// itself. The account may have been deleted, or the key is not the registered one.
    #[error("the relay refused the login; the account may no longer exist on this relay")]
    Unauthorized,
    /// An authenticated call on a [`RelayHttp`](super::RelayHttp) that was built without an
    /// `Authenticator`: a client bug (give one with `with_authenticator`). Nothing was sent.
    #[error("this relay connection has no way to log in (no Authenticator was configured)")]
    NoAuthenticator,
    /// 400: the relay considers the request malformed or against a protocol rule (e.g. a
    /// handle it does not allow). Usually a client bug; the message says what the relay
    /// disliked.
    #[error("the relay refused the request: {message}")]
    BadRequest {
        /// The relay's explanation (untrusted, bounded, control characters removed).
        message: String,
    },
    /// 403: authenticated, but not allowed (wrong client type, no pairing or grant, a
    /// signature the relay rejects).
    #[error("the relay does not allow this: {message}")]
    Forbidden {
        /// The relay's explanation (untrusted, bounded, control characters removed).
        message: String,
    },
    /// 404: no such user, volume, invite, pairing or grant.
    #[error("not found on the relay")]
    NotFound,
    /// 409: conflicts with what the relay stores, e.g. a volume version that is not newer than
    /// the stored one. The relay's claims of its current version and epoch (unverified; they
    /// may be missing or lies) help a client resume after a lost local counter.
    #[error(
        "conflicts with the relay's state (current version {current_version:?}, epoch {current_epoch:?})"
    )]
    Conflict {
        /// `current_version` from the relay's answer.
        current_version: Option<u64>,
        /// `current_epoch` from the relay's answer.
        current_epoch: Option<u32>,
    },
    /// 429: rate limited. Wait `retry_after` (the relay's `Retry-After`, at most an hour)
    /// before the next request of this kind.
    #[error("rate limited by the relay; retry in {} s", retry_after.as_secs())]
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
    },
    /// 413: the upload is larger than the relay accepts, or the account's quota is used up.
    #[error("the relay refused the upload as too large or over the account's quota: {message}")]
    PayloadTooLarge {
        /// The relay's explanation, naming its limit (untrusted, bounded, control characters
        /// removed).
        message: String,
    },
    /// 410: an invite that was already used or has expired. Ask for a new invite.
    #[error("this invite was already used or has expired; ask for a new one")]
    Gone,
    /// 410 with a tombstone (§12): the volume was deleted. The tombstone is the relay's
    /// unverified claim until checked under the owner's pinned key.
    #[error("the volume was deleted by its owner")]
    Deleted {
        /// The exact tombstone bytes served.
        tombstone: Vec<u8>,
        /// The signature served with them.
        signature: [u8; 64],
    },
    /// The relay failed (5xx) or answered with a status the v2 protocol does not use (e.g. 405
    /// or 426: probably not a v2 relay). Retry later or contact the relay's operator.
    #[error("the relay failed or is not a Coffer v2 relay (HTTP {status})")]
    Server {
        /// The HTTP status.
        status: u16,
    },
    /// The relay's answer is malformed: bad JSON, wrong base64 or lengths, too large, an
    /// unexpected redirect or 304. A correct relay never does this; treat it as hostile or
    /// broken.
    #[error("malformed answer from the relay: {0}")]
    Protocol(&'static str),
}

/// What part of the network path failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkErrorKind {
    /// The host name could not be resolved.
    Dns,
    /// No connection could be made (unreachable, reset during the handshake).
    Connect,
    /// The relay's address answered, but nothing accepts connections on that port (the relay
    /// is not running, or listens on another port).
    Refused,
    /// The connect or request timeout expired.
    Timeout,
    /// The connection broke while sending or receiving.
    Interrupted,
}

impl fmt::Display for NetworkErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkErrorKind::Dns => "the relay's host name does not resolve",
            NetworkErrorKind::Connect => "connection failed",
            NetworkErrorKind::Refused => "connection refused: is the relay running on that port?",
            NetworkErrorKind::Timeout => "timed out",
            NetworkErrorKind::Interrupted => "connection interrupted",
        })
    }
}

fn tls_message(pin_mismatch: bool, detail: &str) -> String {
    if pin_mismatch {
        format!(
            "the relay's key does not match the pinned key ({detail}): the connection may be \
             intercepted or the relay's certificate was replaced; do not continue, and re-pair \
             only after confirming the new pin with the relay's operator"
        )
    } else {
        format!("TLS handshake with the relay failed: {detail}")
    }
}

impl TransportError {
    /// A stable name of the variant, for bindings and logs.
    pub fn code(&self) -> &'static str {
        match self {
            TransportError::Network { .. } => "network",
            TransportError::Tls {
                pin_mismatch: true, ..
            } => "tls_pin_mismatch",
            TransportError::Tls { .. } => "tls",
            TransportError::Unauthorized => "unauthorized",
            TransportError::NoAuthenticator => "no_authenticator",
            TransportError::BadRequest { .. } => "bad_request",
            TransportError::Forbidden { .. } => "forbidden",
            TransportError::NotFound => "not_found",
            TransportError::Conflict { .. } => "conflict",
            TransportError::RateLimited { .. } => "rate_limited",
            TransportError::PayloadTooLarge { .. } => "payload_too_large",
            TransportError::Gone => "gone",
            TransportError::Deleted { .. } => "volume_deleted",
            TransportError::Server { .. } => "server",
            TransportError::Protocol(_) => "protocol",
        }
    }
}

/// The optional fields of the relay's `{"error", "message", ...}` body that matter here.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    current_version: Option<u64>,
    #[serde(default)]
    current_epoch: Option<u32>,
}

/// Maps a non-success answer (not 2xx, not an expected 304) to an error. **The** place where
/// status codes and error bodies are interpreted.
///
/// `body` is the (bounded) error body; a body that is not the relay's JSON shape is ignored,
/// so an HTML page from a proxy still maps by status.
pub(crate) fn from_status(status: u16, retry_after: Option<&[u8]>, body: &[u8]) -> TransportError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let message = || {
        parsed
            .as_ref()
            .and_then(|b| b.message.as_deref())
            .map(sanitize)
            .unwrap_or_default()
    };
    match status {
        400 => TransportError::BadRequest { message: message() },
        401 => TransportError::Unauthorized,
        403 => TransportError::Forbidden { message: message() },
        404 => TransportError::NotFound,
        409 => TransportError::Conflict {
            current_version: parsed.as_ref().and_then(|b| b.current_version),
            current_epoch: parsed.as_ref().and_then(|b| b.current_epoch),
        },
        410 => match serde_json::from_slice::<coffer_wire::v2::api::VolumeGone>(body) {
            Ok(gone) => TransportError::Deleted {
                tombstone: gone.tombstone,
                signature: *gone.signature.as_bytes(),
            },
            Err(_) => TransportError::Gone,
        },
        413 => TransportError::PayloadTooLarge { message: message() },
        429 => TransportError::RateLimited {
            retry_after: parse_retry_after(retry_after),
        },
        300..=399 => TransportError::Protocol("the relay answered with a redirect"),
        _ => TransportError::Server { status },
    }
}

/// `Retry-After` as delta-seconds (the only form the relay sends), clamped to
/// [1 s, [`MAX_RETRY_AFTER`]]; missing or unreadable (including the HTTP-date form) gives
/// [`DEFAULT_RETRY_AFTER`].
pub(crate) fn parse_retry_after(value: Option<&[u8]>) -> Duration {
    let Some(text) = value.and_then(|v| std::str::from_utf8(v).ok()) else {
        return DEFAULT_RETRY_AFTER;
    };
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return DEFAULT_RETRY_AFTER;
    }
    // All digits: only overflow can fail, and that is "very long".
    let secs = text.parse::<u64>().unwrap_or(u64::MAX);
    Duration::from_secs(secs).clamp(Duration::from_secs(1), MAX_RETRY_AFTER)
}

/// Untrusted relay text made safe to show: control characters dropped, bounded length.
fn sanitize(message: &str) -> String {
    message
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE_CHARS)
        .collect()
}

/// Maps a reqwest failure (no HTTP answer, or a body that broke off) to an error.
///
/// `verifier`: the pin verifier when the connection used pinned trust, the only trust under
/// which rustls' `ApplicationVerificationFailure` means "not the pinned key"; it names the pin
/// the relay presented.
pub(crate) fn from_reqwest(
    err: &reqwest::Error,
    verifier: Option<&coffer_certs::PinnedServerVerifier>,
) -> TransportError {
    if let Some(tls) = find_rustls_error(err) {
        let mismatch = verifier.filter(|_| {
            matches!(
                tls,
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure
                )
            )
        });
        return match mismatch {
            Some(verifier) => TransportError::Tls {
                pin_mismatch: true,
                detail: pin_mismatch_detail(verifier.pins(), verifier.last_refused()),
            },
            None => TransportError::Tls {
                pin_mismatch: false,
                detail: tls.to_string(),
            },
        };
    }
    let io_kind = find_io_kind(err);
    let kind = if err.is_timeout() || io_kind == Some(io::ErrorKind::TimedOut) {
        NetworkErrorKind::Timeout
    } else if io_kind == Some(io::ErrorKind::ConnectionRefused) {
        NetworkErrorKind::Refused
    } else if err.is_connect() {
        if chain_mentions_dns(err) {
            NetworkErrorKind::Dns
        } else {
            NetworkErrorKind::Connect
        }
    } else {
        NetworkErrorKind::Interrupted
    };
    TransportError::Network {
        kind,
        detail: innermost_description(err),
    }
}

/// "expected sha256/A (or sha256/B), the relay presented sha256/C".
pub(crate) fn pin_mismatch_detail(
    expected: &[coffer_certs::SpkiPin],
    presented: Option<coffer_certs::SpkiPin>,
) -> String {
    let expected = expected
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" or ");
    match presented {
        Some(presented) => format!("expected {expected}, the relay presented {presented}"),
        None => format!("expected {expected}"),
    }
}

/// The kind of the first `io::Error` in the source chain.
fn find_io_kind(err: &(dyn StdError + 'static)) -> Option<io::ErrorKind> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(current) = next {
        if let Some(io) = current.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        next = current.source();
    }
    None
}

/// The description of the deepest error in the chain (the resolver's or the socket's words,
/// e.g. "Connection refused (os error 111)"), bounded and without control characters. reqwest
/// puts the URL only in its outermost error, and no layer below it sees a header or a body.
fn innermost_description(err: &(dyn StdError + 'static)) -> String {
    let mut current = err;
    while let Some(source) = current.source() {
        current = source;
    }
    sanitize(&current.to_string())
}

/// The rustls error somewhere in the source chain, if any.
///
/// `io::Error::source()` skips the error it wraps (it returns the *inner error's* source), and
/// tokio-rustls reports handshake failures as `io::Error(InvalidData, rustls::Error)`, so each
/// `io::Error` is opened with `get_ref()` as well.
fn find_rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut next: Option<&'a (dyn StdError + 'static)> = Some(err);
    while let Some(current) = next {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = current
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            && let Some(tls) = find_rustls_error(inner)
        {
            return Some(tls);
        }
        next = current.source();
    }
    None
}

/// hyper-util's connector reports resolver failures as "dns error"; there is no typed way to
/// tell them apart from other connect failures.
fn chain_mentions_dns(err: &(dyn StdError + 'static)) -> bool {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(current) = next {
        if current.to_string().starts_with("dns error") {
            return true;
        }
        next = current.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, body: &str) -> TransportError {
        from_status(status, None, body.as_bytes())
    }

    #[test]
    fn statuses() {
        let json = |msg: &str| format!(r#"{{"error":"x","message":"{msg}"}}"#);
        assert_eq!(
            map(400, &json("Invalid handle")),
            TransportError::BadRequest {
                message: "Invalid handle".into()
            }
        );
        assert_eq!(map(401, &json("nope")), TransportError::Unauthorized);
        assert_eq!(
            map(403, &json("Invalid volume signature")),
            TransportError::Forbidden {
                message: "Invalid volume signature".into()
            }
        );
        assert_eq!(map(404, ""), TransportError::NotFound);
        assert_eq!(map(410, &json("used")), TransportError::Gone);
        assert_eq!(
            map(413, "<html>too big</html>"),
            TransportError::PayloadTooLarge {
                message: String::new()
            }
        );
        let too_large = map(413, &json("Request body exceeds 1048576 bytes"));
        assert_eq!(
            too_large.to_string(),
            "the relay refused the upload as too large or over the account's quota: \
             Request body exceeds 1048576 bytes"
        );
        assert_eq!(
            map(500, &json("boom")),
            TransportError::Server { status: 500 }
        );
        assert_eq!(map(507, ""), TransportError::Server { status: 507 });
        assert_eq!(map(405, ""), TransportError::Server { status: 405 });
        assert_eq!(map(426, ""), TransportError::Server { status: 426 });
        assert!(matches!(map(302, ""), TransportError::Protocol(_)));
        assert!(matches!(map(307, ""), TransportError::Protocol(_)));
        assert_eq!(
            map(429, ""),
            TransportError::RateLimited {
                retry_after: DEFAULT_RETRY_AFTER
            }
        );
    }

    #[test]
    fn conflict_carries_current_state() {
        assert_eq!(
            map(
                409,
                r#"{"error":"conflict","message":"Volume version must be > 7, got 3","current_version":7,"current_epoch":2}"#
            ),
            TransportError::Conflict {
                current_version: Some(7),
                current_epoch: Some(2)
            }
        );
        // v1-style (no epoch), garbage, and hostile values all degrade to `None`, never panic.
        assert_eq!(
            map(409, r#"{"error":"conflict","current_version":3}"#),
            TransportError::Conflict {
                current_version: Some(3),
                current_epoch: None
            }
        );
        for body in [
            "",
            "not json",
            r#"{"current_version":-1}"#,
            r#"{"current_version":"7"}"#,
            r#"{"current_epoch":4294967296}"#,
            "[1,2]",
        ] {
            assert_eq!(
                map(409, body),
                TransportError::Conflict {
                    current_version: None,
                    current_epoch: None
                },
                "{body}"
            );
        }
    }

    #[test]
    fn messages_are_sanitized_and_bounded() {
        let long = "é".repeat(1000);
        let body = format!(r#"{{"error":"x","message":"line\nbreak\u001b[31m{long}"}}"#);
        let TransportError::Forbidden { message } = map(403, &body) else {
            panic!("forbidden expected");
        };
        assert!(message.starts_with("linebreak[31m"), "{message}");
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
        assert!(!message.chars().any(char::is_control));
        // Non-JSON or message-less bodies give an empty message.
        assert_eq!(
            map(400, "<html>"),
            TransportError::BadRequest {
                message: String::new()
            }
        );
        assert_eq!(
            map(403, r#"{"error":"forbidden","message":5}"#),
            TransportError::Forbidden {
                message: String::new()
            }
        );
    }

    #[test]
    fn retry_after() {
        let parse = |v: &str| parse_retry_after(Some(v.as_bytes()));
        assert_eq!(parse("2"), Duration::from_secs(2));
        assert_eq!(parse(" 120 "), Duration::from_secs(120));
        assert_eq!(parse("0"), Duration::from_secs(1));
        assert_eq!(parse("86400"), MAX_RETRY_AFTER);
        assert_eq!(parse("99999999999999999999999"), MAX_RETRY_AFTER);
        for bad in [
            "",
            "-5",
            "1.5",
            "soon",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "+3",
        ] {
            assert_eq!(parse(bad), DEFAULT_RETRY_AFTER, "{bad:?}");
        }
        assert_eq!(parse_retry_after(None), DEFAULT_RETRY_AFTER);
        assert_eq!(parse_retry_after(Some(&[0xff, 0xfe])), DEFAULT_RETRY_AFTER);
        assert_eq!(
            from_status(429, Some(b"7"), b""),
            TransportError::RateLimited {
                retry_after: Duration::from_secs(7)
            }
        );
    }

    #[test]
    fn rustls_errors_are_found_inside_io_errors() {
        #[derive(Debug)]
        struct Outer(io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let mismatch = rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        );
        let wrapped = Outer(io::Error::new(io::ErrorKind::InvalidData, mismatch.clone()));
        assert_eq!(find_rustls_error(&wrapped), Some(&mismatch));
        let plain = Outer(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(find_rustls_error(&plain), None);
    }

    #[test]
    fn codes_are_distinct() {
        let all = [
            TransportError::Network {
                kind: NetworkErrorKind::Dns,
                detail: String::new(),
            },
            TransportError::Tls {
                pin_mismatch: true,
                detail: "expected sha256/A, the relay presented sha256/B".into(),
            },
            TransportError::Tls {
                pin_mismatch: false,
                detail: String::new(),
            },
            TransportError::Unauthorized,
            TransportError::NoAuthenticator,
            TransportError::BadRequest {
                message: String::new(),
            },
            TransportError::Forbidden {
                message: String::new(),
            },
            TransportError::NotFound,
            TransportError::Conflict {
                current_version: None,
                current_epoch: None,
            },
            TransportError::RateLimited {
                retry_after: DEFAULT_RETRY_AFTER,
            },
            TransportError::PayloadTooLarge {
                message: String::new(),
            },
            TransportError::Gone,
            TransportError::Deleted {
                tombstone: Vec::new(),
                signature: [0; 64],
            },
            TransportError::Server { status: 500 },
            TransportError::Protocol("x"),
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(TransportError::code).collect();
        assert_eq!(codes.len(), all.len());
        let pin = all[1].to_string();
        assert!(pin.contains("does not match the pinned key"), "{pin}");
        assert!(
            pin.contains("expected sha256/A, the relay presented sha256/B"),
            "{pin}"
        );
    }

    #[test]
    fn network_causes_are_named() {
        #[derive(Debug)]
        struct Outer(io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let refused = Outer(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ));
        assert_eq!(
            find_io_kind(&refused),
            Some(io::ErrorKind::ConnectionRefused)
        );
        assert_eq!(
            innermost_description(&refused),
            "Connection refused (os error 111)"
        );
        let err = TransportError::Network {
            kind: NetworkErrorKind::Refused,
            detail: innermost_description(&refused),
        };
        assert_eq!(
            err.to_string(),
            "cannot reach the relay (connection refused: is the relay running on that port?: \
             Connection refused (os error 111)); check the network and the relay address, then \
             retry"
        );
        let pin: coffer_certs::SpkiPin = "sha256/ir1tJFN1j7T1TgwhD6HnuMNoeDjRx+UyULFQr+B0iSk="
            .parse()
            .expect("pin");
        assert_eq!(
            pin_mismatch_detail(&[pin], Some(pin)),
            format!("expected {pin}, the relay presented {pin}")
        );
        assert_eq!(
            pin_mismatch_detail(&[pin, pin], None),
            format!("expected {pin} or {pin}")
        );
    }
}
