//! The request log (`[request_log]`, docs/adr/0028-fetch-fast-path-and-request-log.md): one
//! line per request (`each`), only errors and slow requests (`errors`), or those plus a summary
//! per route and status every `summary_secs` (`summary`, the default).
//!
//! A line per request cost its formatting and a write to stderr on every request — a
//! measurable share of a cached download. In `summary` mode a request only adds to counters
//! under a lock (no formatting, no allocation for a route already seen); the summary is written
//! by a periodic task ([`RequestLog::flush`]). Lines carry the route *pattern*, never a path
//! with its ids.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::http::Method;

use crate::config::{RequestLog as Settings, RequestLogMode};

/// Whether a status is logged one by one outside mode `each`: every 5xx, and every 4xx but the
/// answers a working client gets in normal use (401 expired session, 404 no such volume, 409
/// stale version, 410 deleted volume, 429 rate limited — counted in the summary).
pub fn is_error(status: u16) -> bool {
    status >= 500 || (status >= 400 && !matches!(status, 401 | 404 | 409 | 410 | 429))
}

/// Latency histogram slots: four per power of two of microseconds.
const SLOTS: usize = 4 * 40;

/// The slot of `micros`.
fn slot(micros: u64) -> usize {
    if micros < 4 {
        return usize::try_from(micros).unwrap_or(0);
    }
    let octave = 63 - u64::from(micros.leading_zeros());
    let quarter = (micros >> (octave - 2)) & 3;
    usize::try_from(octave * 4 + quarter)
        .unwrap_or(SLOTS - 1)
        .min(SLOTS - 1)
}

/// The upper bound of a slot, microseconds.
fn slot_upper(slot: usize) -> u64 {
    // Slots 4 to 7 are never used (4 µs is slot 8).
    if slot < 8 {
        return slot.min(3) as u64;
    }
    let (octave, quarter) = ((slot / 4) as u32, (slot % 4) as u64);
    let low = (4 + quarter) << (octave - 2);
    low + (1u64 << (octave - 2)) - 1
}

/// What one route with one method saw in an interval.
#[derive(Debug)]
struct RouteStats {
    method: Method,
    statuses: Vec<(u16, u64)>,
    count: u64,
    max_micros: u64,
    slots: Box<[u64; SLOTS]>,
}

impl RouteStats {
    fn new(method: Method) -> Self {
        Self {
            method,
            statuses: Vec::new(),
            count: 0,
            max_micros: 0,
            slots: Box::new([0; SLOTS]),
        }
    }

    fn add(&mut self, status: u16, micros: u64) {
        match self.statuses.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => self.statuses.push((status, 1)),
        }
        self.count += 1;
        self.max_micros = self.max_micros.max(micros);
        self.slots[slot(micros)] += 1;
    }

    /// The latency below which `share` of the requests fall, microseconds (a slot's upper
    /// bound: within 25%).
    fn quantile(&self, share: f64) -> u64 {
        let rank = ((self.count as f64) * share).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.slots.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return slot_upper(i).min(self.max_micros);
            }
        }
        self.max_micros
    }
}

/// One summary line's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryLine {
    /// HTTP method.
    pub method: String,
    /// Route pattern.
    pub route: String,
    /// `status:count` pairs, by status.
    pub statuses: String,
    /// Requests.
    pub count: u64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Slowest, milliseconds.
    pub max_ms: f64,
}

/// The request log of one relay (in `AppState`).
#[derive(Debug)]
pub struct RequestLog {
    mode: RequestLogMode,
    slow: Option<Duration>,
    routes: Mutex<HashMap<String, Vec<RouteStats>>>,
}

impl RequestLog {
    /// The log `settings` ask for.
    pub fn new(settings: &Settings) -> Self {
        Self {
            mode: settings.mode,
            slow: (settings.slow_ms > 0).then(|| Duration::from_millis(settings.slow_ms)),
            routes: Mutex::default(),
        }
    }

    /// The mode.
    pub fn mode(&self) -> RequestLogMode {
        self.mode
    }

    fn routes(&self) -> MutexGuard<'_, HashMap<String, Vec<RouteStats>>> {
        // Counters only; a panic elsewhere cannot leave them inconsistent.
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one answered request (mode `summary`) and says whether it gets a line of its own.
    pub fn record(&self, method: &Method, route: &str, status: u16, elapsed: Duration) -> bool {
        match self.mode {
            RequestLogMode::Each => return true,
            RequestLogMode::Errors => {}
            RequestLogMode::Summary => {
                let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
                let mut routes = self.routes();
                let methods = match routes.get_mut(route) {
                    Some(methods) => methods,
                    None => routes.entry(route.to_owned()).or_default(),
                };
                let stats = match methods.iter().position(|s| s.method == method) {
                    Some(i) => &mut methods[i],
                    None => {
                        methods.push(RouteStats::new(method.clone()));
                        let last = methods.len() - 1;
                        &mut methods[last]
                    }
                };
                stats.add(status, micros);
            }
        }
        is_error(status) || self.slow.is_some_and(|slow| elapsed >= slow)
    }

    /// Takes the figures counted since the last call (empty outside mode `summary`).
    pub fn take_summary(&self) -> Vec<SummaryLine> {
        let routes = std::mem::take(&mut *self.routes());
        let mut lines: Vec<SummaryLine> = routes
            .into_iter()
            .flat_map(|(route, methods)| {
                methods.into_iter().map(move |mut stats| {
                    stats.statuses.sort_unstable();
                    let statuses = stats
                        .statuses
                        .iter()
                        .map(|(s, n)| format!("{s}:{n}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    let ms = |micros: u64| (micros as f64 / 100.0).round() / 10.0;
                    SummaryLine {
                        method: stats.method.to_string(),
                        route: route.clone(),
                        statuses,
                        count: stats.count,
                        p50_ms: ms(stats.quantile(0.5)),
                        p99_ms: ms(stats.quantile(0.99)),
                        max_ms: ms(stats.max_micros),
                    }
                })
            })
            .collect();
        lines.sort_by(|a, b| (&a.route, &a.method).cmp(&(&b.route, &b.method)));
        lines
    }

    /// Writes the summary of the requests counted since the last call: one line per route and
    /// method that was requested.
    pub fn flush(&self) {
        for line in self.take_summary() {
            tracing::info!(
                method = %line.method,
                route = %line.route,
                statuses = %line.statuses,
                count = line.count,
                p50_ms = line.p50_ms,
                p99_ms = line.p99_ms,
                max_ms = line.max_ms,
                "requests summary"
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn log(mode: RequestLogMode) -> RequestLog {
        RequestLog::new(&Settings {
            mode,
            summary_secs: 60,
            slow_ms: 500,
        })
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn each_logs_every_request_and_counts_nothing() {
        let log = log(RequestLogMode::Each);
        assert!(log.record(&Method::GET, "/api/v1/health", 200, MS(1)));
        assert!(log.take_summary().is_empty());
    }

    #[test]
    fn errors_logs_only_errors_and_slow_requests() {
        let log = log(RequestLogMode::Errors);
        assert!(!log.record(&Method::GET, "/a", 200, MS(1)));
        assert!(!log.record(&Method::GET, "/a", 304, MS(1)));
        assert!(!log.record(&Method::GET, "/a", 404, MS(1)));
        assert!(!log.record(&Method::GET, "/a", 429, MS(1)));
        assert!(log.record(&Method::GET, "/a", 400, MS(1)));
        assert!(log.record(&Method::GET, "/a", 403, MS(1)));
        assert!(log.record(&Method::GET, "/a", 500, MS(1)));
        assert!(log.record(&Method::GET, "/a", 200, MS(500)), "slow");
        assert!(log.take_summary().is_empty());
    }

    #[test]
    fn summary_counts_per_route_method_and_status() {
        let log = log(RequestLogMode::Summary);
        for i in 0..100 {
            assert!(!log.record(&Method::GET, "/v/{name}", 200, MS(i % 10 + 1)));
        }
        assert!(!log.record(&Method::GET, "/v/{name}", 304, MS(1)));
        assert!(!log.record(&Method::PUT, "/v/{name}", 200, MS(20)));
        assert!(log.record(&Method::GET, "/w", 500, MS(2)));
        let lines = log.take_summary();
        assert_eq!(lines.len(), 3, "{lines:?}");
        let get = &lines[0];
        assert_eq!(
            (get.method.as_str(), get.route.as_str()),
            ("GET", "/v/{name}")
        );
        assert_eq!(get.count, 101);
        assert_eq!(get.statuses, "200:100,304:1");
        assert!(get.p50_ms >= 5.0 && get.p50_ms <= 7.0, "{get:?}");
        assert!((get.p99_ms - 10.0).abs() < 0.01, "{get:?}");
        assert!((get.max_ms - 10.0).abs() < 0.01, "{get:?}");
        assert_eq!(lines[1].method, "PUT");
        assert_eq!(lines[2].statuses, "500:1");
        assert!(log.take_summary().is_empty(), "taken once");
    }

    #[test]
    fn slots_bound_their_values() {
        for micros in [0, 1, 3, 4, 5, 7, 8, 100, 1000, 123_456, 10_000_000] {
            let s = slot(micros);
            assert!(slot_upper(s) >= micros, "{micros}");
            assert!(s == 0 || slot_upper(s - 1) < micros, "{micros}");
        }
    }
}
