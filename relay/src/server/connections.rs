//! What actix does not bound on its own: connections per client address, and the time a
//! connection may spend after its first request.
//!
//! actix-web closes a connection whose *first* request head is late (`client_request_timeout`)
//! and one that stays silent for the keep-alive time. It has no deadline for a later request
//! head once one byte of it has arrived (a slowloris client on a kept-alive connection), none
//! for the chunked body of a refused request (which it drains for as long as the client sends
//! it), none for a client that reads a response at 1 byte/s, and no per-address limit. Each of
//! these lets one client hold connection slots without end (docs/adr/0011).
//!
//! So every accepted connection gets, in `on_connect` (after the TLS handshake, the first
//! moment actix shows the relay the socket):
//! - a permit of its address's connection budget ([`PerIpConnections`]); without one the
//!   socket is shut down at once;
//! - a watch ([`ConnWatch`]): the [`track`] middleware reports when a request starts and when
//!   its response has been handed over, `read_body` reports a body that came too late, and a
//!   small task on the connection's worker shuts the socket down when the connection has
//!   overstayed (rules in [`WatchState::deadline`]).
//!
//! "Shut down" is `shutdown(2)` on a duplicate of the socket's descriptor: actix then sees the
//! connection end and drops it like any closed connection.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, Shutdown};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::rt::net::TcpStream;
use actix_web::web::Bytes;
use actix_web::{Error, HttpRequest};
use tokio::sync::Notify;

use crate::config::ServerLimits;

/// The TLS stream type actix hands to `on_connect` for rustls 0.23 listeners.
type RustlsStream = actix_tls::accept::rustls_0_23::TlsStream<TcpStream>;

/// The key of an address's connection budget: the client as rate limits see it (the address,
/// or its /64 for IPv6).
fn budget_key(ip: IpAddr) -> IpAddr {
    crate::limits::client_key(ip)
}

/// Open connections per client address, shared by all workers.
#[derive(Debug)]
pub struct PerIpConnections {
    cap: usize,
    exempt: Vec<IpAddr>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIpConnections {
    /// `cap` connections per address (0 = no cap); `exempt` addresses (trusted proxies) have
    /// no cap.
    pub fn new(cap: usize, exempt: &[IpAddr]) -> Arc<Self> {
        Arc::new(Self {
            cap,
            exempt: exempt.iter().map(|ip| ip.to_canonical()).collect(),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A permit for one more connection from `ip`, or `None` when its budget is spent.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpPermit> {
        if self.cap == 0 || self.exempt.contains(&ip.to_canonical()) {
            return Some(IpPermit { owner: None });
        }
        let key = budget_key(ip);
        // A poisoned lock only means another worker panicked mid-update of a counter; the
        // counts are still usable.
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(IpPermit {
            owner: Some((Arc::clone(self), key)),
        })
    }

    /// Open connections counted for `ip`'s budget.
    #[cfg(test)]
    fn open_for(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&budget_key(ip)).copied().unwrap_or(0)
    }
}

/// One connection's place in its address's budget; given back on drop.
#[derive(Debug)]
pub struct IpPermit {
    owner: Option<(Arc<PerIpConnections>, IpAddr)>,
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        if let Some((owner, key)) = self.owner.take() {
            let mut open = owner.open.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(count) = open.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    open.remove(&key);
                }
            }
        }
    }
}

/// The timeouts the watch enforces, from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// `request_head_timeout_secs`.
    pub head: Duration,
    /// `keep_alive_secs`.
    pub keep_alive: Duration,
    /// `transfer_timeout_secs`.
    pub transfer: Duration,
    /// `min_transfer_rate`, bytes per second (at least 1).
    pub min_rate: u64,
    /// `disconnect_timeout_secs`.
    pub disconnect: Duration,
}

impl Timeouts {
    /// From the configuration.
    pub fn from_config(limits: &ServerLimits) -> Self {
        Self {
            head: Duration::from_secs(limits.request_head_timeout_secs),
            keep_alive: Duration::from_secs(limits.keep_alive_secs),
            transfer: Duration::from_secs(limits.transfer_timeout_secs),
            min_rate: limits.min_transfer_rate.max(1),
            disconnect: Duration::from_secs(limits.disconnect_timeout_secs),
        }
    }

    /// How long `bytes` may take to cross: the transfer timeout plus one second per
    /// `min_rate` bytes.
    pub fn transfer_allowance(&self, bytes: u64) -> Duration {
        self.transfer.saturating_add(self.at_min_rate(bytes))
    }

    /// How long `bytes` take at exactly the minimum rate.
    pub fn at_min_rate(&self, bytes: u64) -> Duration {
        Duration::from_secs_f64(bytes as f64 / self.min_rate as f64)
    }
}

/// What a connection is doing, as far as deadlines go.
#[derive(Debug)]
struct WatchState {
    connected: Instant,
    /// Requests whose response has not been handed over yet.
    active: usize,
    /// Whether a request has been seen at all.
    served: bool,
    /// When the last response was handed over (or the connection opened).
    idle_since: Instant,
    /// The current (or last) response: when the app handed it to actix, and its size.
    response: Option<(Instant, u64)>,
    /// A body came too late: close once its 408 is out.
    poisoned: bool,
}

impl WatchState {
    /// When the connection has overstayed, or `None` while a handler works (its own work is
    /// not the client's fault; `read_body` bounds the body it waits for).
    ///
    /// - before the first request: connected + head timeout (actix answers 408 then) +
    ///   disconnect timeout, as a backstop;
    /// - while a response is in transit: its transfer allowance;
    /// - between requests: the keep-alive time plus the head timeout for the next head (actix
    ///   closes a silent connection at the keep-alive time; this catches one that sends a
    ///   head slowly, or drains a refused chunked body), and never before the last response
    ///   could have crossed at the minimum rate (the kernel may still be sending its tail);
    /// - after a late body: the disconnect timeout, to let its 408 out.
    fn deadline(&self, t: &Timeouts) -> Option<Instant> {
        if self.active > 0 {
            return self
                .response
                .map(|(start, size)| start + t.transfer_allowance(size));
        }
        if self.poisoned {
            return Some(self.idle_since + t.disconnect);
        }
        if !self.served {
            return Some(self.connected + t.head + t.disconnect);
        }
        let next_head = self.idle_since + t.keep_alive + t.head;
        Some(match self.response {
            Some((start, size)) => (start + t.at_min_rate(size)).max(next_head),
            None => next_head,
        })
    }
}

/// One connection's watch: its state, a duplicate of its socket to shut it down, and the
/// wake-up of its watchdog task. Lives on the connection's worker thread.
#[derive(Debug)]
struct ConnWatch {
    state: RefCell<WatchState>,
    timeouts: Timeouts,
    socket: std::net::TcpStream,
    changed: Notify,
    gone: Cell<bool>,
}

impl ConnWatch {
    fn update(&self, f: impl FnOnce(&mut WatchState)) {
        f(&mut self.state.borrow_mut());
        self.changed.notify_one();
    }

    /// Ends the connection: actix reads EOF (or fails to write) and drops it.
    fn shut_down(&self, why: &'static str) {
        tracing::debug!("closing a connection that overstayed: {why}");
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

/// The watchdog: sleeps until the connection's deadline, re-reads it whenever the state
/// changes, shuts the socket down once it has passed. Ends with the connection.
async fn watchdog(watch: Rc<ConnWatch>) {
    loop {
        if watch.gone.get() {
            return;
        }
        let deadline = watch.state.borrow().deadline(&watch.timeouts);
        match deadline {
            Some(at) if at <= Instant::now() => {
                watch.shut_down(if watch.state.borrow().active > 0 {
                    "response transfer too slow"
                } else {
                    "request head or body too slow, or idle too long"
                });
                return;
            }
            Some(at) => {
                tokio::select! {
                    () = actix_web::rt::time::sleep_until(at.into()) => {}
                    () = watch.changed.notified() => {}
                }
            }
            None => watch.changed.notified().await,
        }
    }
}

/// What `on_connect` stores in a connection's extensions: its address permit and its watch.
/// Dropped when actix drops the connection (and every request that referred to it).
#[derive(Debug)]
pub struct ConnGuard {
    _permit: IpPermit,
    watch: Rc<ConnWatch>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.watch.gone.set(true);
        self.watch.changed.notify_one();
    }
}

/// The `on_connect` hook: admits the connection under its address's budget and starts its
/// watch, or shuts it down.
#[derive(Debug, Clone)]
pub struct ConnectionPolicy {
    per_ip: Arc<PerIpConnections>,
    timeouts: Timeouts,
}

impl ConnectionPolicy {
    /// The policy of `limits`; `trusted_proxies` have no per-address cap.
    pub fn new(limits: &ServerLimits, trusted_proxies: &[IpAddr]) -> Self {
        Self {
            per_ip: PerIpConnections::new(limits.max_connections_per_ip, trusted_proxies),
            timeouts: Timeouts::from_config(limits),
        }
    }

    /// For `HttpServer::on_connect`: `io` is the accepted stream (TLS or plain TCP).
    pub fn on_connect(&self, io: &dyn Any, ext: &mut Extensions) {
        let tcp = if let Some(tls) = io.downcast_ref::<RustlsStream>() {
            tls.get_ref().0
        } else if let Some(tcp) = io.downcast_ref::<TcpStream>() {
            tcp
        } else {
            tracing::error!("unknown connection type in on_connect; connection not limited");
            return;
        };
        let socket = match tcp
            .as_fd()
            .try_clone_to_owned()
            .map(std::net::TcpStream::from)
        {
            Ok(socket) => socket,
            Err(err) => {
                // Out of descriptors: refusing is the safe answer.
                tracing::warn!(%err, "cannot watch a new connection; closing it");
                let _ = shutdown_borrowed(tcp);
                return;
            }
        };
        let Some(permit) = tcp.peer_addr().ok().and_then(|peer| {
            let permit = self.per_ip.acquire(peer.ip());
            if permit.is_none() {
                tracing::debug!("connection over the per-address cap; closed");
            }
            permit
        }) else {
            let _ = socket.shutdown(Shutdown::Both);
            return;
        };
        let now = Instant::now();
        let watch = Rc::new(ConnWatch {
            state: RefCell::new(WatchState {
                connected: now,
                active: 0,
                served: false,
                idle_since: now,
                response: None,
                poisoned: false,
            }),
            timeouts: self.timeouts,
            socket,
            changed: Notify::new(),
            gone: Cell::new(false),
        });
        actix_web::rt::spawn(watchdog(Rc::clone(&watch)));
        ext.insert(ConnGuard {
            _permit: permit,
            watch,
        });
    }
}

/// Shuts down a socket actix still owns, through a short-lived duplicate descriptor.
fn shutdown_borrowed(tcp: &TcpStream) -> std::io::Result<()> {
    let dup = tcp.as_fd().try_clone_to_owned()?;
    std::net::TcpStream::from(dup).shutdown(Shutdown::Both)
}

/// Marks the request's connection to be closed as soon as its answer is out: its body came
/// too late, and actix would otherwise drain the rest of a chunked body for as long as the
/// client sends it.
pub fn close_after_response(req: &HttpRequest) {
    if let Some(guard) = req.conn_data::<ConnGuard>() {
        guard.watch.update(|s| s.poisoned = true);
    }
}

/// A request in progress on a watched connection; its drop means the response was handed
/// over (or the request was abandoned).
#[derive(Debug)]
struct InFlight {
    watch: Rc<ConnWatch>,
}

impl InFlight {
    fn start(watch: &Rc<ConnWatch>) -> Self {
        watch.update(|s| {
            s.active += 1;
            s.served = true;
            // The previous response is out (actix starts a request only after handing over
            // the last one); its allowance must not cut this request short.
            s.response = None;
        });
        Self {
            watch: Rc::clone(watch),
        }
    }

    fn responding(&self, size: BodySize) {
        let bytes = match size {
            BodySize::None => 0,
            BodySize::Sized(n) => n,
            // No response of this relay streams; bound one anyway, at the largest upload.
            BodySize::Stream => 1 << 30,
        };
        let now = Instant::now();
        self.watch.update(|s| s.response = Some((now, bytes)));
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.watch.update(|s| {
            s.active = s.active.saturating_sub(1);
            s.idle_since = Instant::now();
        });
    }
}

/// A response body that tells the watch when it has been handed over in full.
struct Tracked {
    inner: BoxBody,
    _in_flight: InFlight,
}

impl MessageBody for Tracked {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_next(cx)
    }
}

/// Middleware (outermost): reports request start, response size and response end of every
/// request to its connection's watch.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let in_flight = req
        .conn_data::<ConnGuard>()
        .map(|guard| InFlight::start(&guard.watch));
    let res = next.call(req).await?.map_into_boxed_body();
    let Some(in_flight) = in_flight else {
        return Ok(res);
    };
    in_flight.responding(res.response().body().size());
    Ok(res.map_body(|_, inner| {
        BoxBody::new(Tracked {
            inner,
            _in_flight: in_flight,
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn per_ip_budget_counts_releases_and_exempts() {
        let budget = PerIpConnections::new(2, &[ip("10.0.0.9")]);
        let a1 = budget.acquire(ip("192.0.2.1")).expect("first");
        let a2 = budget.acquire(ip("192.0.2.1")).expect("second");
        assert!(
            budget.acquire(ip("192.0.2.1")).is_none(),
            "third is over the cap"
        );
        // Another address has its own budget; a mapped IPv4 address is the same address.
        let b = budget.acquire(ip("192.0.2.2")).expect("other address");
        assert!(budget.acquire(ip("::ffff:192.0.2.1")).is_none());
        drop(a1);
        assert_eq!(budget.open_for(ip("192.0.2.1")), 1);
        let a3 = budget
            .acquire(ip("192.0.2.1"))
            .expect("a slot was given back");
        drop((a2, a3, b));
        assert_eq!(budget.open_for(ip("192.0.2.1")), 0);
        assert!(
            budget.open.lock().expect("lock").is_empty(),
            "no empty entries kept"
        );
        // A trusted proxy carries many clients: no cap.
        let proxied: Vec<_> = (0..10)
            .map(|_| budget.acquire(ip("10.0.0.9")).expect("exempt"))
            .collect();
        assert_eq!(proxied.len(), 10);
        assert_eq!(budget.open_for(ip("10.0.0.9")), 0);
    }

    #[test]
    fn ipv6_counts_per_slash_64() {
        let budget = PerIpConnections::new(1, &[]);
        let _one = budget.acquire(ip("2001:db8:1:2::1")).expect("first");
        assert!(
            budget.acquire(ip("2001:db8:1:2:ffff::7")).is_none(),
            "same /64"
        );
        assert!(budget.acquire(ip("2001:db8:1:3::1")).is_some(), "next /64");
    }

    #[test]
    fn no_cap_means_unlimited() {
        let budget = PerIpConnections::new(0, &[]);
        let permits: Vec<_> = (0..100)
            .map(|_| budget.acquire(ip("192.0.2.1")).expect("no cap"))
            .collect();
        assert_eq!(permits.len(), 100);
    }

    fn timeouts() -> Timeouts {
        Timeouts {
            head: Duration::from_secs(10),
            keep_alive: Duration::from_secs(30),
            transfer: Duration::from_secs(20),
            min_rate: 1000,
            disconnect: Duration::from_secs(5),
        }
    }

    #[test]
    fn deadlines_follow_the_connection() {
        let t = timeouts();
        let t0 = Instant::now();
        let secs = Duration::from_secs;
        let mut s = WatchState {
            connected: t0,
            active: 0,
            served: false,
            idle_since: t0,
            response: None,
            poisoned: false,
        };
        assert_eq!(s.deadline(&t), Some(t0 + secs(15)));
        // A handler at work: no deadline.
        s.active = 1;
        s.served = true;
        assert_eq!(s.deadline(&t), None);
        // Its 10,000-byte response may take 20 + 10 s.
        assert_eq!(t.transfer_allowance(10_000), secs(30));
        s.response = Some((t0, 10_000));
        assert_eq!(s.deadline(&t), Some(t0 + secs(30)));
        // Handed over at t0 + 1 s: the next head is due 30 + 10 s later.
        s.active = 0;
        s.idle_since = t0 + secs(1);
        assert_eq!(s.deadline(&t), Some(t0 + secs(41)));
        // A large response's tail is never cut short by the idle rule: 100 kB at 1000 B/s.
        s.response = Some((t0, 100_000));
        assert_eq!(s.deadline(&t), Some(t0 + secs(100)));
        // A late body: out once its 408 had time to go.
        s.poisoned = true;
        assert_eq!(s.deadline(&t), Some(t0 + secs(6)));
    }
}
