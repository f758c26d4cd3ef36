//! The `relay_requests` input format: a request as text, so seeds are real requests, crashes
//! are readable and a crash file pastes straight into a regression test.
//!
//! ```text
//! PUT /api/v2/volumes/meta
//! Authorization: Bearer {tok:sys2}
//! X-Protocol-Version: 2
//!
//! @v2-upload
//! <bytes decoded with `arbitrary` into the upload's fields>
//! ```
//!
//! The first line is `METHOD PATH` (the path may carry a query); a path `@N[/seg…]` is route
//! `N` of the relay's own route table, and a method `@` its own method (see
//! `Harness::route`). Header lines follow until an
//! empty line; the rest is the body. Placeholders such as `{sys1}` (a user id) or `{tok:sys1}`
//! (its session token) are replaced in the path, header values and body by the harness's
//! pre-registered accounts ([`crate::relay`]). A body starting with `@directive` line is built
//! by the harness (with valid signatures over fuzzed fields), see [`Directive`].
//!
//! Parsing never fails: whatever is not a well-formed line is treated as absent.

use crate::split_once;

/// A body the harness builds, signing fuzzed fields with a fixture's key so the handler's
/// checks past the signature are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    /// A v1 upload (`{control_header, encrypted_payload, signature}`) signed by `sys1`.
    V1Upload,
    /// A v2 upload (`{header, signature, payload}`) signed by `sys2`.
    V2Upload,
    /// A v2 grant (`{grant, signature, wrapped_keys}`) signed by `sys2`.
    V2Grant,
    /// A v2 registration with a valid key-binding signature of a fresh key pair.
    V2Register,
    /// A v1 `auth/token` body for `sys1` over a fresh challenge.
    V1Token,
    /// A v2 `auth/token` body for `sys2` over a fresh challenge.
    V2Token,
}

impl Directive {
    fn parse(line: &[u8]) -> Option<Directive> {
        Some(match line {
            b"@v1-upload" => Directive::V1Upload,
            b"@v2-upload" => Directive::V2Upload,
            b"@v2-grant" => Directive::V2Grant,
            b"@v2-register" => Directive::V2Register,
            b"@v1-token" => Directive::V1Token,
            b"@v2-token" => Directive::V2Token,
            _ => return None,
        })
    }
}

/// What the body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    /// Bytes sent as they are (after placeholder substitution).
    Raw(&'a [u8]),
    /// Built by the harness from these fuzzed bytes.
    Built(Directive, &'a [u8]),
}

/// One parsed input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzRequest<'a> {
    /// The method token (any bytes; the harness drops tokens `http` refuses).
    pub method: &'a [u8],
    /// The request target.
    pub path: &'a [u8],
    /// Header lines as `(name, value)`, value with leading spaces trimmed.
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    /// The body.
    pub body: Body<'a>,
}

/// Parses an input (never fails; see the module docs).
pub fn parse(data: &[u8]) -> FuzzRequest<'_> {
    let (head, body) = split_once(data, b"\n\n");
    let mut lines = head.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    let (method, path) = split_once(first, b" ");
    let headers = lines
        .filter_map(|line| {
            let (name, value) = split_once(line, b":");
            (!name.is_empty()).then(|| (name, value.trim_ascii_start()))
        })
        .collect();
    let body = match body.strip_prefix(b"@") {
        Some(_) => {
            let (line, rest) = split_once(body, b"\n");
            match Directive::parse(line) {
                Some(directive) => Body::Built(directive, rest),
                None => Body::Raw(body),
            }
        }
        None => Body::Raw(body),
    };
    FuzzRequest {
        method,
        path,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape() {
        let r =
            parse(b"PUT /api/v2/volumes/meta\nAuthorization: Bearer x\nX-A:1\n\n@v2-upload\nzz");
        assert_eq!(r.method, b"PUT");
        assert_eq!(r.path, b"/api/v2/volumes/meta");
        assert_eq!(
            r.headers,
            vec![(&b"Authorization"[..], &b"Bearer x"[..]), (b"X-A", b"1")]
        );
        assert_eq!(r.body, Body::Built(Directive::V2Upload, b"zz"));
        let r = parse(b"GET /x");
        assert!(r.headers.is_empty());
        assert_eq!(r.body, Body::Raw(b""));
        assert_eq!(parse(b"POST /\n\n@nope\n{}").body, Body::Raw(b"@nope\n{}"));
    }
}
