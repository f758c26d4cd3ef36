//! Percent-encoding for the values of a pairing link's query (RFC 3986 §2.1), small enough to
//! own instead of adding a dependency.

/// Characters left as they are: RFC 3986 "unreserved".
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Encodes every byte that is not unreserved as `%XX` (upper-case hex).
pub(super) fn encode(text: &str) -> String {
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

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a query value strictly: unreserved characters, `%XX` escapes, and the three
/// characters URL builders commonly leave in query values of an origin (`:`, `/`, `@`). Anything
/// else (`+`, `=`, `&`, `#`, spaces, non-ASCII, a truncated escape) is refused, as is a result
/// that is not UTF-8.
pub(super) fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = hex_value(*bytes.get(i + 1)?)?;
            let lo = hex_value(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else if is_unreserved(b) || matches!(b, b':' | b'/' | b'@') {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refusals() {
        let text = "https://[::1]:8443 sha256/ab+c=/é~";
        let encoded = encode(text);
        assert_eq!(
            encoded,
            "https%3A%2F%2F%5B%3A%3A1%5D%3A8443%20sha256%2Fab%2Bc%3D%2F%C3%A9~"
        );
        assert_eq!(decode(&encoded).as_deref(), Some(text));
        assert_eq!(decode("https://h:1").as_deref(), Some("https://h:1"));
        assert_eq!(decode("%2b%2B").as_deref(), Some("++"));
        for bad in [
            "a+b", "a=b", "a&b", "a b", "%", "%2", "%zz", "é", "%C3", "a#b",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
