//! Abusive clients for the `abuse_*` tests: raw TLS connections (pinned, from a chosen loopback
//! address) that send what they like when they like, and tell whether the relay closed them.
//!
//! Every address of 127.0.0.0/8 is this machine, so a client bound to 127.0.0.2 is, to the
//! relay, a second host: that is how the tests show that one address's limits leave another's
//! alone.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_certs::{SpkiPin, client_config_pinned};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

use crate::http::{RawResp, read_response};
use crate::relay::RelayProcess;

/// The second "host" of the tests.
pub const OTHER_HOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
/// The usual one.
pub const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// The relay's `127.0.0.1:<port>`.
pub fn relay_addr(relay: &RelayProcess) -> SocketAddr {
    relay
        .url()
        .trim_start_matches("https://")
        .parse()
        .expect("the relay URL is https://127.0.0.1:<port>")
}

/// A TCP connection to `addr` from `from` (any loopback address).
pub async fn tcp_to(addr: SocketAddr, from: IpAddr) -> std::io::Result<TcpStream> {
    tcp_with_window(addr, from, None).await
}

/// A TCP connection whose receive buffer is `recv_buffer` bytes, when given: a client that
/// stops reading then cannot hide it in the kernel's buffers.
async fn tcp_with_window(
    addr: SocketAddr,
    from: IpAddr,
    recv_buffer: Option<u32>,
) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket.bind(SocketAddr::new(from, 0))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A TLS connection to `addr` trusting only `pin`, from `from`.
pub async fn tls_to(
    addr: SocketAddr,
    pin: SpkiPin,
    from: IpAddr,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = tcp_to(addr, from).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config_pinned(pin)));
    let name = rustls::pki_types::ServerName::from(addr.ip());
    connector.connect(name, tcp).await
}

/// A TLS connection to the relay with a small receive buffer (see [`tcp_with_window`]).
pub async fn tls_small_window(
    relay: &RelayProcess,
    recv_buffer: u32,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = tcp_with_window(relay_addr(relay), LOCALHOST, Some(recv_buffer)).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config_pinned(relay.pin())));
    let name = rustls::pki_types::ServerName::from(relay_addr(relay).ip());
    connector.connect(name, tcp).await
}

/// A TCP connection to the relay from `from`.
pub async fn tcp_from(relay: &RelayProcess, from: IpAddr) -> std::io::Result<TcpStream> {
    tcp_to(relay_addr(relay), from).await
}

/// A TLS connection to the relay trusting only its pin, from `from`.
pub async fn tls_from(relay: &RelayProcess, from: IpAddr) -> std::io::Result<TlsStream<TcpStream>> {
    tls_to(relay_addr(relay), relay.pin(), from).await
}

/// How a connection ended from the client's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The relay closed it (EOF or reset) after `after`; `status` is the HTTP status it
    /// answered before closing, if any (e.g. 408).
    Closed {
        /// Time from the start of the wait.
        after: Duration,
        /// The status line's code, when the relay sent an answer first.
        status: Option<u16>,
    },
    /// Still open when the wait ended.
    Open,
}

impl Ending {
    /// Whether the relay closed the connection.
    pub fn is_closed(&self) -> bool {
        matches!(self, Ending::Closed { .. })
    }
}

/// A raw HTTP/1.1-over-TLS client connection.
#[derive(Debug)]
pub struct RawConn {
    stream: TlsStream<TcpStream>,
    host: String,
}

impl RawConn {
    /// Connects from `from` to `relay`; panics if the TLS handshake fails.
    pub async fn open(relay: &RelayProcess, from: IpAddr) -> RawConn {
        let stream = tls_from(relay, from)
            .await
            .unwrap_or_else(|e| panic!("TLS connection from {from} to the relay: {e}"));
        RawConn {
            stream,
            host: relay_addr(relay).to_string(),
        }
    }

    /// Wraps an established TLS stream.
    pub fn from_stream(stream: TlsStream<TcpStream>, relay: &RelayProcess) -> RawConn {
        RawConn {
            stream,
            host: relay_addr(relay).to_string(),
        }
    }

    /// Reads whatever arrives within `limit` (at most `max` bytes), for a client that reads
    /// only the start of an answer.
    pub async fn read_some(&mut self, max: usize, limit: Duration) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let started = Instant::now();
        while out.len() < max {
            let left = limit.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, self.stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        out
    }

    /// Reads until EOF or an error (or `limit`); the number of bytes read and whether the
    /// connection ended (rather than the time running out).
    pub async fn read_to_end(&mut self, limit: Duration) -> (usize, bool) {
        let mut total = 0;
        let mut buf = vec![0u8; 64 * 1024];
        let started = Instant::now();
        loop {
            let left = limit.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (total, true),
                Ok(Ok(n)) => total += n,
                Err(_) => return (total, false),
            }
        }
    }

    /// `Host: <addr>` for request heads.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Writes `bytes`; an error means the relay closed the connection.
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// A complete `GET /api/v1/health` on this connection; returns the status.
    pub async fn health(&mut self) -> std::io::Result<u16> {
        let head = format!(
            "GET /api/v1/health HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\n\r\n",
            self.host
        );
        self.write(head.as_bytes()).await?;
        Ok(self.response(Duration::from_secs(60)).await?.status)
    }

    /// Reads one response (up to `limit`).
    pub async fn response(&mut self, limit: Duration) -> std::io::Result<RawResp> {
        match tokio::time::timeout(limit, read_response(&mut self.stream)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, e)),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no response within {limit:?}"),
            )),
        }
    }

    /// Reads (and discards, noting a status line) until the relay closes the connection, for
    /// at most `limit`.
    pub async fn wait_closed(&mut self, limit: Duration) -> Ending {
        wait_closed(&mut self.stream, limit).await
    }

    /// Sends `head` at once, then `trickle` one byte every `every` until the relay closes the
    /// connection or `limit` passes (then the rest of `trickle` is never sent).
    pub async fn trickle(
        &mut self,
        head: &[u8],
        trickle: &[u8],
        every: Duration,
        limit: Duration,
    ) -> Ending {
        let started = Instant::now();
        if self.write(head).await.is_err() {
            return Ending::Closed {
                after: started.elapsed(),
                status: None,
            };
        }
        for byte in trickle {
            // Between bytes, watch for the relay's answer or close.
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Ending::Open;
            }
            match wait_closed(&mut self.stream, every.min(left)).await {
                Ending::Closed { status, .. } => {
                    return Ending::Closed {
                        after: started.elapsed(),
                        status,
                    };
                }
                Ending::Open => {}
            }
            if self.write(std::slice::from_ref(byte)).await.is_err() {
                // The relay closed; collect what it said before.
                let status = match wait_closed(&mut self.stream, Duration::from_secs(1)).await {
                    Ending::Closed { status, .. } => status,
                    Ending::Open => None,
                };
                return Ending::Closed {
                    after: started.elapsed(),
                    status,
                };
            }
        }
        Ending::Open
    }
}

/// Reads until EOF or a reset within `limit`; remembers the first status code seen.
pub async fn wait_closed<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    limit: Duration,
) -> Ending {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ending::Open;
        }
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return Ending::Open,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Ending::Closed {
                    after: started.elapsed(),
                    status: status_of(&seen),
                };
            }
            Ok(Ok(n)) => {
                if seen.len() < 64 {
                    seen.extend_from_slice(&buf[..n.min(64)]);
                }
            }
        }
    }
}

/// The status code of a response that starts `bytes`.
fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.strip_prefix("HTTP/1.1 ")?;
    line.get(..3)?.parse().ok()
}

/// A reqwest client trusting only `pin` whose connections come from `from`.
pub fn reqwest_from(pin: SpkiPin, from: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(client_config_pinned(pin))
        .local_address(from)
        .timeout(Duration::from_secs(60))
        .http1_only()
        .build()
        .expect("build a pinned reqwest client")
}

/// A value of the Prometheus text exposition `text` (`name` exactly, no labels).
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (key, value) = l.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_metric_parsing() {
        assert_eq!(status_of(b"HTTP/1.1 408 Request Timeout\r\n"), Some(408));
        assert_eq!(status_of(b"garbage"), None);
        let text = "# HELP x y\n# TYPE x gauge\ncoffer_pending_challenges 5\nother{a=\"b\"} 2\n";
        assert_eq!(metric(text, "coffer_pending_challenges"), Some(5.0));
        assert_eq!(metric(text, "other"), None);
        assert_eq!(metric(text, "missing"), None);
    }
}
