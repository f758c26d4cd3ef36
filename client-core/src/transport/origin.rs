//! [`RelayOrigin`]: the `https://host[:port]` a client dials, in the one text form the v2 login
//! transcript signs.

use std::fmt;
use std::str::FromStr;

use reqwest::Url;

/// Longest origin accepted, in bytes (far below the `u16` length of the login transcript).
pub const MAX_ORIGIN_LEN: usize = 300;

/// A relay's origin: scheme `https`, a host, and a port; no user info, path, query or fragment.
///
/// Normalised as a web origin (RFC 6454 / WHATWG URL "ASCII serialisation"): scheme and host in
/// lower case, internationalised names in punycode, IPv6 in brackets, the default port 443
/// omitted, no trailing slash. The v2 login signature covers this text, so the relay's
/// `public_origins` must list it in the same form.
///
/// ```
/// use coffer_client_core::transport::RelayOrigin;
///
/// let origin: RelayOrigin = "https://Relay.Example.org:443/".parse()?;
/// assert_eq!(origin.to_string(), "https://relay.example.org");
/// let lan: RelayOrigin = "https://192.168.1.20:8443".parse()?;
/// assert_eq!(lan.as_str(), "https://192.168.1.20:8443");
/// assert!("http://relay.example.org".parse::<RelayOrigin>().is_err());
/// # Ok::<(), coffer_client_core::transport::OriginError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RelayOrigin {
    url: Url,
    text: String,
}

/// Why a relay address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid relay address: {reason}; expected https://host or https://host:port")]
pub struct OriginError {
    /// Which rule it breaks.
    pub reason: &'static str,
}

impl RelayOrigin {
    /// Parses and normalises a relay address (see the type documentation). One trailing `/` is
    /// tolerated; any other path is refused.
    pub fn parse(text: &str) -> Result<RelayOrigin, OriginError> {
        let refuse = |reason| Err(OriginError { reason });
        if text.len() > MAX_ORIGIN_LEN {
            return refuse("it is longer than 300 bytes");
        }
        if text.trim() != text || text.chars().any(char::is_control) {
            return refuse("it contains spaces or control characters");
        }
        // The URL parser would silently fix `https:relay` or `https:/relay`; the address must
        // be written out.
        if !text
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
        {
            return refuse("it must start with https:// (plain HTTP is not supported)");
        }
        if text[8..].starts_with(['/', '\\']) {
            return refuse("it has no host");
        }
        let Ok(url) = Url::parse(text) else {
            return refuse("it is not a valid URL");
        };
        if url.scheme() != "https" {
            return refuse("it must start with https://");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return refuse("it must not contain a user name or password");
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return refuse("it must not contain a path, query or fragment");
        }
        if url.host_str().is_none_or(str::is_empty) {
            return refuse("it has no host");
        }
        let text = url.origin().ascii_serialization();
        if text.len() > MAX_ORIGIN_LEN {
            return refuse("it is longer than 300 bytes");
        }
        Ok(RelayOrigin { url, text })
    }

    /// The normalised origin, e.g. `https://relay.example.org` or `https://10.0.0.2:8443`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The host as it appears in the origin (bracketed for IPv6).
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The port dialled (443 unless given).
    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(443)
    }

    /// The URL of an API path: `segments` are appended after `/api/v2`, each percent-encoded
    /// as one path segment.
    pub(crate) fn api_url(&self, segments: &[&str]) -> Url {
        self.versioned_url("v2", segments)
    }

    fn versioned_url(&self, version: &str, segments: &[&str]) -> Url {
        let mut url = self.url.clone();
        url.path_segments_mut()
            .expect("an https URL with a host always has path segments")
            .clear()
            .extend(["api", version])
            .extend(segments);
        url
    }
}

impl fmt::Display for RelayOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for RelayOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelayOrigin({})", self.text)
    }
}

impl FromStr for RelayOrigin {
    type Err = OriginError;

    fn from_str(s: &str) -> Result<RelayOrigin, OriginError> {
        RelayOrigin::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        let cases = [
            ("https://relay.example.org", "https://relay.example.org"),
            ("https://relay.example.org/", "https://relay.example.org"),
            (
                "HTTPS://Relay.EXAMPLE.org:443/",
                "https://relay.example.org",
            ),
            (
                "https://relay.example.org:8443",
                "https://relay.example.org:8443",
            ),
            ("https://127.0.0.1:8443/", "https://127.0.0.1:8443"),
            ("https://[::1]:8443", "https://[::1]:8443"),
            ("https://[0:0::1]", "https://[::1]"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
            (
                "https://relay.example.org:08443",
                "https://relay.example.org:8443",
            ),
        ];
        for (input, expected) in cases {
            let origin = RelayOrigin::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(origin.as_str(), expected, "{input}");
            assert_eq!(origin.to_string(), expected);
            assert!(!origin.to_string().ends_with('/'));
            // Normalisation is idempotent.
            assert_eq!(RelayOrigin::parse(expected), Ok(origin));
        }
        let origin = RelayOrigin::parse("https://[::1]:8443").expect("valid");
        assert_eq!((origin.host(), origin.port()), ("[::1]", 8443));
        assert_eq!(
            RelayOrigin::parse("https://r.example")
                .expect("valid")
                .port(),
            443
        );
    }

    #[test]
    fn refuses() {
        for bad in [
            "",
            "relay.example.org",
            "http://relay.example.org",
            "ftp://relay.example.org",
            "https:relay.example.org",
            "https:/relay.example.org",
            "https://",
            "https:///path",
            "https://relay.example.org/api",
            "https://relay.example.org/api/v2/",
            "https://relay.example.org//",
            "https://relay.example.org?x=1",
            "https://relay.example.org/?",
            "https://relay.example.org#frag",
            "https://user@relay.example.org",
            "https://user:pw@relay.example.org",
            "https://relay.example.org:99999",
            "https://relay.example.org:-1",
            " https://relay.example.org",
            "https://relay.example.org\n",
            "https://rel ay.example.org",
            "https://[::1",
            &format!("https://{}.org", "a".repeat(400)),
        ] {
            assert!(RelayOrigin::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let err = RelayOrigin::parse("http://x").expect_err("http");
        assert!(err.to_string().contains("https://"), "{err}");
    }

    #[test]
    fn api_urls_encode_segments() {
        let origin = RelayOrigin::parse("https://relay.example.org:8443").expect("valid");
        assert_eq!(
            origin.api_url(&["volumes", "org.example.notes"]).as_str(),
            "https://relay.example.org:8443/api/v2/volumes/org.example.notes"
        );
        assert_eq!(
            origin
                .api_url(&["users", "by-handle", "a/b?c#d%e f"])
                .as_str(),
            "https://relay.example.org:8443/api/v2/users/by-handle/a%2Fb%3Fc%23d%25e%20f"
        );
        assert_eq!(
            origin.api_url(&[]).as_str(),
            "https://relay.example.org:8443/api/v2"
        );
    }
}
