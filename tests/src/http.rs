//! HTTP over pinned TLS: a reqwest client for ordinary calls, a raw HTTP/1.1 exchange for
//! requests reqwest will not make, and [`Resp`] with the assertions every test needs.

use std::sync::Arc;
use std::time::Duration;

use coffer_certs::{SpkiPin, client_config_pinned};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Per-request ceiling; no test request should come anywhere near it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A reqwest client that trusts exactly the relay's pin, plus the relay's base URL.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    base: String,
    pin: SpkiPin,
}

impl Http {
    /// A client for `base` (`https://127.0.0.1:<port>`) trusting only `pin`.
    pub fn new(base: &str, pin: SpkiPin) -> Http {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(client_config_pinned(pin))
            .timeout(REQUEST_TIMEOUT)
            .http1_only()
            .build()
            .expect("build a reqwest client with the pinned rustls config");
        Http {
            client,
            base: base.trim_end_matches('/').to_owned(),
            pin,
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The pin this client trusts.
    pub fn pin(&self) -> SpkiPin {
        self.pin
    }

    /// A request to `path` (starting with `/`), without any headers.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
    }

    /// Sends and collects the whole answer; panics on a transport error.
    pub async fn send(&self, rb: RequestBuilder) -> Resp {
        match Self::try_send(rb).await {
            Ok(r) => r,
            Err(e) => panic!("request failed at the transport level: {e:?}"),
        }
    }

    /// Sends and collects the whole answer, returning transport errors.
    pub async fn try_send(rb: RequestBuilder) -> Result<Resp, reqwest::Error> {
        let (client, request) = rb.build_split();
        let request = request?;
        let label = format!(
            "{} {}",
            request.method(),
            request.url().path_and_query_str()
        );
        let resp = client.execute(request).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        Ok(Resp::new(label, status, headers, body))
    }
}

trait PathAndQuery {
    fn path_and_query_str(&self) -> String;
}

impl PathAndQuery for reqwest::Url {
    fn path_and_query_str(&self) -> String {
        match self.query() {
            Some(q) => format!("{}?{q}", self.path()),
            None => self.path().to_owned(),
        }
    }
}

/// A complete HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    /// `METHOD /path?query` of the request, for messages.
    pub request: String,
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Raw body bytes.
    pub body: Vec<u8>,
    json: Option<Value>,
}

impl Resp {
    /// Wraps a received answer; parses the body as JSON when it is JSON.
    pub fn new(request: String, status: u16, headers: HeaderMap, body: Vec<u8>) -> Resp {
        let json = serde_json::from_slice(&body).ok();
        Resp {
            request,
            status,
            headers,
            body,
            json,
        }
    }

    /// The body as text (lossy), for messages.
    pub fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        if text.len() > 2000 {
            format!(
                "{}… ({} bytes)",
                &text[..text.floor_char_boundary(2000)],
                text.len()
            )
        } else {
            text.into_owned()
        }
    }

    /// A one-line description for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "{} → {} {:?} body: {}",
            self.request,
            self.status,
            self.header("content-type").unwrap_or("-"),
            self.text()
        )
    }

    /// A header value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The parsed JSON body; panics if the body is not JSON.
    pub fn json(&self) -> &Value {
        self.json
            .as_ref()
            .unwrap_or_else(|| panic!("body is not JSON: {}", self.describe()))
    }

    /// Asserts the status code; returns `self` for chaining.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Resp {
        assert_eq!(
            self.status,
            status,
            "unexpected status: {}",
            self.describe()
        );
        self
    }

    /// Asserts a 2xx/4xx JSON answer with the given status; returns the JSON.
    #[track_caller]
    pub fn expect_json(&self, status: u16) -> &Value {
        self.expect_status(status);
        self.assert_json_content_type();
        self.json()
    }

    /// Asserts `Content-Type: application/json` (parameters such as a charset allowed).
    #[track_caller]
    pub fn assert_json_content_type(&self) {
        let ct = self.header("content-type").unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        assert_eq!(
            mime,
            "application/json",
            "expected Content-Type application/json: {}",
            self.describe()
        );
    }

    /// Asserts an error answer: the status, JSON content type, an object body
    /// `{"error": code, "message": <non-empty text>}`. Returns the body.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> &Value {
        self.expect_status(status);
        self.assert_json_content_type();
        let body = self.json();
        assert_eq!(
            body["error"].as_str(),
            Some(code),
            "wrong error code: {}",
            self.describe()
        );
        let message = body["message"]
            .as_str()
            .unwrap_or_else(|| panic!("error without a message string: {}", self.describe()));
        assert!(
            !message.is_empty(),
            "empty error message: {}",
            self.describe()
        );
        body
    }

    /// Like [`Self::expect_error`], and also checks the exact `message`.
    #[track_caller]
    pub fn expect_error_message(&self, status: u16, code: &str, message: &str) -> &Value {
        let body = self.expect_error(status, code);
        assert_eq!(
            body["message"].as_str(),
            Some(message),
            "wrong error message: {}",
            self.describe()
        );
        body
    }

    /// Asserts the body is byte-for-byte what Flask's `jsonify` would send for the same value:
    /// compact separators, keys sorted alphabetically at every level, a final `\n`, and the
    /// `application/json` content type (v1.md "Observed behaviour" §1–2). Valid for ASCII
    /// content without floats (all v1 answers).
    #[track_caller]
    pub fn assert_flask_json(&self) {
        self.assert_json_content_type();
        let value = self.json();
        assert!(
            self.body.ends_with(b"\n"),
            "JSON body does not end with a newline: {}",
            self.describe()
        );
        // serde_json's Map is a BTreeMap (the workspace never enables `preserve_order`), so this
        // re-serialisation sorts keys by code point, like Python's sort_keys.
        let expected = format!(
            "{}\n",
            serde_json::to_string(value).expect("serialise JSON")
        );
        let got = String::from_utf8_lossy(&self.body);
        if got != expected {
            let at = got
                .bytes()
                .zip(expected.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(expected.len()));
            panic!(
                "body is not compact, key-sorted JSON + \\n (first difference at byte {at}):\n\
                 got:      {got:?}\nexpected: {expected:?}\n{}",
                self.request
            );
        }
    }
}

/// A response read from a raw connection.
#[derive(Debug, Clone)]
pub struct RawResp {
    /// Status code.
    pub status: u16,
    /// Header lines as (lower-case name, value).
    pub headers: Vec<(String, String)>,
    /// Body bytes (de-chunked).
    pub body: Vec<u8>,
}

impl RawResp {
    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Converts into a [`Resp`] (for its assertions).
    pub fn into_resp(self, request: &str) -> Resp {
        let mut headers = HeaderMap::new();
        for (k, v) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(v),
            ) {
                headers.append(name, value);
            }
        }
        Resp::new(request.to_owned(), self.status, headers, self.body)
    }
}

/// Writes `head` (request line + headers, ending in an empty line) and `body` over a new TLS
/// connection trusting only `pin`, then reads one HTTP/1.1 response. The body is written
/// concurrently with reading, so a relay that answers early (e.g. 413 from Content-Length) is
/// seen even if it never reads the body; write errors after that are ignored.
pub async fn raw_exchange(base: &str, pin: SpkiPin, head: &str, body: Vec<u8>) -> RawResp {
    let addr = base
        .strip_prefix("https://")
        .expect("relay URLs are https://")
        .trim_end_matches('/')
        .to_owned();
    let tcp = TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config_pinned(pin)));
    let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).expect("server name");
    let tls = connector
        .connect(name, tcp)
        .await
        .unwrap_or_else(|e| panic!("TLS handshake with {addr}: {e}"));
    let (mut reader, mut writer) = tokio::io::split(tls);
    let head = head.to_owned();
    let writing = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for chunk in body.chunks(16 * 1024) {
            if writer.write_all(chunk).await.is_err() {
                return;
            }
        }
        let _ = writer.flush().await;
        // Keep the write half open: closing it could end the exchange before the answer.
        tokio::time::sleep(REQUEST_TIMEOUT).await;
        drop(writer);
    });

    let result = tokio::time::timeout(REQUEST_TIMEOUT, read_response(&mut reader)).await;
    writing.abort();
    match result {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => panic!("reading the raw response failed: {e}"),
        Err(_) => panic!("no response within {REQUEST_TIMEOUT:?} on a raw connection"),
    }
}

/// Reads one HTTP/1.1 response (Content-Length, chunked or close-delimited body) from `r`.
pub async fn read_response<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> Result<RawResp, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = find(&buf, b"\r\n\r\n") {
            break pos;
        }
        let n = r.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "connection closed before a complete response head ({} bytes: {:?})",
                buf.len(),
                String::from_utf8_lossy(&buf)
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let chunked =
        get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        loop {
            if let Some(body) = dechunk(&rest) {
                break body;
            }
            let n = r.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed inside a chunked body".to_owned());
            }
            rest.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = get("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad content-length {len:?}"))?;
        while rest.len() < len {
            let n = r.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed inside the body".to_owned());
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(len);
        rest
    } else if status == 204 || status == 304 {
        Vec::new()
    } else {
        // Body delimited by connection close.
        loop {
            match r.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
            }
        }
        rest
    };
    Ok(RawResp {
        status,
        headers,
        body,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decodes a complete chunked body, or `None` if more bytes are needed.
fn dechunk(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let line_end = find(&data[pos..], b"\r\n")? + pos;
        let size_text = String::from_utf8_lossy(&data[pos..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        pos = line_end + 2;
        if size == 0 {
            return Some(out);
        }
        if data.len() < pos + size + 2 {
            return None;
        }
        out.extend_from_slice(&data[pos..pos + size]);
        pos += size + 2;
    }
}

/// The test kit's [`coffer_test_kit::Api`] over a pinned client: JSON in and out, no other
/// headers (the v2 apps' requests; the v1 template's go through `client::V1Client`).
impl coffer_test_kit::Api for &Http {
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), coffer_test_kit::KitError> {
        let method: Method = method
            .parse()
            .map_err(|e| coffer_test_kit::KitError(format!("method {method:?}: {e}")))?;
        let mut rb = self.request(method, path);
        if let Some(token) = token {
            rb = rb.bearer_auth(token);
        }
        if let Some(body) = body {
            rb = rb.json(body);
        }
        let resp = self.send(rb).await;
        let json = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        Ok((resp.status, json))
    }

    fn origin(&self) -> String {
        self.base().trim_end_matches('/').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(body: &str, ct: &str) -> Resp {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            reqwest::header::HeaderValue::from_str(ct).expect("header value"),
        );
        Resp::new("GET /x".into(), 200, headers, body.as_bytes().to_vec())
    }

    fn fails(f: impl FnOnce() + std::panic::UnwindSafe) -> bool {
        std::panic::catch_unwind(f).is_err()
    }

    #[test]
    fn flask_json_check_catches_what_it_should() {
        resp(
            "{\"a\":1,\"b\":[{\"c\":\"x\",\"d\":null}]}\n",
            "application/json",
        )
        .assert_flask_json();
        resp("{}\n", "application/json; charset=utf-8").assert_flask_json();
        assert!(fails(
            || resp("{\"b\":1,\"a\":2}\n", "application/json").assert_flask_json()
        ));
        assert!(fails(|| resp(
            "{\"a\":{\"z\":1,\"y\":2}}\n",
            "application/json"
        )
        .assert_flask_json()));
        assert!(fails(
            || resp("{\"a\":1}", "application/json").assert_flask_json()
        ));
        assert!(fails(
            || resp("{\"a\": 1}\n", "application/json").assert_flask_json()
        ));
        assert!(fails(
            || resp("{\"a\":1}\n", "text/html").assert_flask_json()
        ));
    }

    #[test]
    fn error_shape_check() {
        let mut r = resp(
            "{\"error\":\"not_found\",\"message\":\"Not found\"}\n",
            "application/json",
        );
        r.status = 404;
        r.expect_error(404, "not_found");
        let r2 = r.clone();
        assert!(fails(move || {
            r2.expect_error(404, "forbidden");
        }));
        let mut html = resp("<html>404</html>", "text/html");
        html.status = 404;
        assert!(fails(move || {
            html.expect_error(404, "not_found");
        }));
        let mut empty = resp(
            "{\"error\":\"not_found\",\"message\":\"\"}",
            "application/json",
        );
        empty.status = 404;
        assert!(fails(move || {
            empty.expect_error(404, "not_found");
        }));
    }

    #[test]
    fn dechunks() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
            Some(b"abcde".to_vec())
        );
        assert_eq!(dechunk(b"3\r\nabc\r\n"), None);
        assert_eq!(dechunk(b"3\r\nab"), None);
    }
}
