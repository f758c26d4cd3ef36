//! Counters for `/metrics` (Prometheus text format 0.0.4): requests and latencies per route
//! class, rate-limit refusals per class, and gauges read from the database when scraped
//! (stored bytes, volumes, users, sessions).
//!
//! Everything here is an aggregate: no label ever carries a user id, a handle, an address or a
//! path with an id in it (route *classes*, not routes). Atomics only, no locks on the request
//! path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::http::Method;

/// The route classes: the rate-limit classes, plus the public status routes, `/metrics` itself
/// and requests that matched no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// `/api/v1/health`, `/api/v2/pins`.
    Health,
    /// Registration.
    Register,
    /// Challenge and token.
    Auth,
    /// Volume uploads.
    Upload,
    /// Handle discovery.
    Discovery,
    /// Every other user route.
    General,
    /// The admin API and maintenance.
    Admin,
    /// `/metrics`.
    Metrics,
    /// No route matched (404).
    Unmatched,
}

impl RouteClass {
    /// Every class, in label order.
    pub const ALL: [RouteClass; 9] = [
        Self::Health,
        Self::Register,
        Self::Auth,
        Self::Upload,
        Self::Discovery,
        Self::General,
        Self::Admin,
        Self::Metrics,
        Self::Unmatched,
    ];

    /// The label value.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Health => "health",
            Self::Register => "register",
            Self::Auth => "auth",
            Self::Upload => "upload",
            Self::Discovery => "discovery",
            Self::General => "general",
            Self::Admin => "admin",
            Self::Metrics => "metrics",
            Self::Unmatched => "unmatched",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }

    /// The class of a request from its method and matched route pattern.
    pub fn of(method: &Method, pattern: Option<&str>) -> Self {
        let Some(p) = pattern else {
            return Self::Unmatched;
        };
        match p {
            "/metrics" => Self::Metrics,
            "/api/v1/health" | "/api/v2/pins" => Self::Health,
            "/api/v1/_maintenance" => Self::Admin,
            "/api/v1/discover" | "/api/v2/users/by-handle/{handle}" => Self::Discovery,
            "/api/v1/volumes/{name}" | "/api/v2/volumes/{name}" if method == Method::PUT => {
                Self::Upload
            }
            _ if p.starts_with("/api/v1/admin/") => Self::Admin,
            _ if p.ends_with("/register") => Self::Register,
            _ if p.contains("/auth/") => Self::Auth,
            _ => Self::General,
        }
    }
}

/// Upper bounds of the latency histogram, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is "above every bound".
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Request counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Per class, per status class (1xx … 5xx).
    requests: [[AtomicU64; 5]; RouteClass::ALL.len()],
    latency: [Histogram; RouteClass::ALL.len()],
}

/// Values read when `/metrics` is scraped.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Stored payload bytes, v1 and v2.
    pub storage_bytes: u64,
    /// Stored v1 volumes.
    pub volumes_v1: u64,
    /// Stored v2 volumes.
    pub volumes_v2: u64,
    /// System users.
    pub system_users: u64,
    /// Friend users.
    pub friend_users: u64,
    /// Live sessions.
    pub active_sessions: u64,
    /// Unexpired challenges.
    pub pending_challenges: u64,
    /// Rate-limit refusals per class name.
    pub rate_limited: Vec<(&'static str, u64)>,
    /// Failed logins since start.
    pub failed_logins: u64,
    /// Challenges issued since start.
    pub challenges: u64,
    /// Argon2 admin-token verifications since start.
    pub admin_token_verifications: u64,
    /// Seconds since start.
    pub uptime_seconds: u64,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl Metrics {
    /// Counts one answered request.
    pub fn observe(&self, class: RouteClass, status: u16, elapsed: Duration) {
        let status_class = usize::from((status / 100).clamp(1, 5)) - 1;
        self.requests[class.index()][status_class].fetch_add(1, Ordering::Relaxed);
        self.latency[class.index()].observe(elapsed);
    }

    /// Requests counted for `class` with a status in `status_class` (1 … 5).
    pub fn requests(&self, class: RouteClass, status_class: usize) -> u64 {
        self.requests[class.index()][status_class.clamp(1, 5) - 1].load(Ordering::Relaxed)
    }

    /// The exposition text.
    pub fn render(&self, s: &Snapshot) -> String {
        let mut out = String::with_capacity(8 * 1024);
        family(
            &mut out,
            "coffer_http_requests_total",
            "counter",
            "HTTP requests answered, by route class and status class.",
        );
        for class in RouteClass::ALL {
            for (i, status) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
                let n = self.requests[class.index()][i].load(Ordering::Relaxed);
                if n > 0 || i == 1 {
                    let _ = writeln!(
                        out,
                        "coffer_http_requests_total{{class=\"{}\",status=\"{status}\"}} {n}",
                        class.name()
                    );
                }
            }
        }
        family(
            &mut out,
            "coffer_http_request_duration_seconds",
            "histogram",
            "Time from request to response, by route class.",
        );
        for class in RouteClass::ALL {
            let h = &self.latency[class.index()];
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "coffer_http_request_duration_seconds_bucket{{class=\"{}\",le=\"{bound}\"}} {cumulative}",
                    class.name()
                );
            }
            cumulative += h.buckets[BUCKETS.len()].load(Ordering::Relaxed);
            let name = class.name();
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "coffer_http_request_duration_seconds_bucket{{class=\"{name}\",le=\"+Inf\"}} {cumulative}"
            );
            let _ = writeln!(
                out,
                "coffer_http_request_duration_seconds_sum{{class=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "coffer_http_request_duration_seconds_count{{class=\"{name}\"}} {count}"
            );
        }
        family(
            &mut out,
            "coffer_rate_limited_total",
            "counter",
            "Requests refused with 429, by rate-limit class.",
        );
        for (class, n) in &s.rate_limited {
            let _ = writeln!(out, "coffer_rate_limited_total{{class=\"{class}\"}} {n}");
        }
        let mut gauge = |name: &str, help: &str, lines: &[(&str, u64)]| {
            family(&mut out, name, "gauge", help);
            for (labels, v) in lines {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        gauge(
            "coffer_storage_bytes",
            "Stored (padded, encrypted) payload bytes, v1 and v2 volumes.",
            &[("", s.storage_bytes)],
        );
        gauge(
            "coffer_volumes",
            "Stored volumes, by protocol.",
            &[
                ("{protocol=\"v1\"}", s.volumes_v1),
                ("{protocol=\"v2\"}", s.volumes_v2),
            ],
        );
        gauge(
            "coffer_users",
            "Registered users, by client type.",
            &[
                ("{type=\"system\"}", s.system_users),
                ("{type=\"friend\"}", s.friend_users),
            ],
        );
        gauge(
            "coffer_active_sessions",
            "Live (unexpired) sessions.",
            &[("", s.active_sessions)],
        );
        gauge(
            "coffer_pending_challenges",
            "Unexpired login challenges.",
            &[("", s.pending_challenges)],
        );
        gauge(
            "coffer_uptime_seconds",
            "Seconds since the relay started.",
            &[("", s.uptime_seconds)],
        );
        let mut counter = |name: &str, help: &str, v: u64| {
            family(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {v}");
        };
        counter(
            "coffer_failed_logins_total",
            "Refused login attempts (auth/token) since start.",
            s.failed_logins,
        );
        counter(
            "coffer_login_challenges_total",
            "Login challenges issued since start.",
            s.challenges,
        );
        counter(
            "coffer_admin_token_verifications_total",
            "Argon2id admin-token verifications run since start (cache misses).",
            s.admin_token_verifications,
        );
        family(
            &mut out,
            "coffer_build_info",
            "gauge",
            "The relay's version (always 1).",
        );
        let _ = writeln!(
            out,
            "coffer_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let c = |m: Method, p: &str| RouteClass::of(&m, Some(p));
        assert_eq!(c(Method::PUT, "/api/v1/volumes/{name}"), RouteClass::Upload);
        assert_eq!(
            c(Method::GET, "/api/v2/volumes/{name}"),
            RouteClass::General
        );
        assert_eq!(c(Method::POST, "/api/v2/auth/token"), RouteClass::Auth);
        assert_eq!(c(Method::POST, "/api/v1/register"), RouteClass::Register);
        assert_eq!(
            c(Method::GET, "/api/v1/admin/users/{id}"),
            RouteClass::Admin
        );
        assert_eq!(c(Method::POST, "/api/v1/_maintenance"), RouteClass::Admin);
        assert_eq!(c(Method::GET, "/api/v1/discover"), RouteClass::Discovery);
        assert_eq!(c(Method::GET, "/metrics"), RouteClass::Metrics);
        assert_eq!(RouteClass::of(&Method::GET, None), RouteClass::Unmatched);
    }

    #[test]
    fn exposition_format() {
        let m = Metrics::default();
        m.observe(RouteClass::Auth, 200, Duration::from_millis(3));
        m.observe(RouteClass::Auth, 403, Duration::from_millis(20));
        m.observe(RouteClass::Auth, 429, Duration::from_secs(30));
        let text = m.render(&Snapshot {
            storage_bytes: 4124,
            rate_limited: vec![("auth", 1)],
            ..Snapshot::default()
        });
        for line in [
            "coffer_http_requests_total{class=\"auth\",status=\"2xx\"} 1",
            "coffer_http_requests_total{class=\"auth\",status=\"4xx\"} 2",
            "coffer_http_request_duration_seconds_bucket{class=\"auth\",le=\"0.001\"} 0",
            "coffer_http_request_duration_seconds_bucket{class=\"auth\",le=\"0.005\"} 1",
            "coffer_http_request_duration_seconds_bucket{class=\"auth\",le=\"0.025\"} 2",
            "coffer_http_request_duration_seconds_bucket{class=\"auth\",le=\"10\"} 2",
            "coffer_http_request_duration_seconds_bucket{class=\"auth\",le=\"+Inf\"} 3",
            "coffer_http_request_duration_seconds_count{class=\"auth\"} 3",
            "coffer_rate_limited_total{class=\"auth\"} 1",
            "coffer_storage_bytes 4124",
            "# TYPE coffer_http_request_duration_seconds histogram",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // Every sample line is `name{labels} value` with a numeric value.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        assert_eq!(m.requests(RouteClass::Auth, 4), 2);
    }
}
