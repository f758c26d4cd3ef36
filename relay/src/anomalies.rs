//! Anomaly counters for the operator: challenge floods, repeated failed logins, unusual
//! storage growth. `GET /api/v1/admin/anomalies` reports every user or source over a threshold
//! within a sliding window.
//!
//! **In memory only.** Nothing here is written to the database or a log, so the counters add
//! nothing to what a stolen disk reveals (design §8); a restart forgets them. Per-user counters
//! are keyed by user ids the relay already stores, and only for users that exist (a flood of
//! made-up ids cannot fill the maps). Per-source counters are keyed by
//! [`IpLabels::tracking_key`](crate::ip_policy::IpLabels::tracking_key), and the report shows a
//! source only as the IP policy allows. Every map has a fixed capacity; what does not fit is
//! counted as `untracked`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use coffer_wire::time::isoformat;
use serde::Serialize;

use crate::config::{AnomalyThresholds, IpPolicy};

/// Keys kept per counter map.
const MAX_KEYS: usize = 10_000;

/// A source as the tracker sees it: the key it counts under and what the report may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The in-memory counting key.
    pub key: String,
    /// The label the IP policy allows to show (`None`: hidden).
    pub shown: Option<String>,
}

/// Per-minute sums of one key, oldest first.
#[derive(Debug, Default)]
struct Series {
    buckets: VecDeque<(i64, i64)>,
    shown: Option<String>,
}

impl Series {
    fn add(&mut self, minute: i64, value: i64) {
        match self.buckets.back_mut() {
            Some((m, v)) if *m == minute => *v = v.saturating_add(value),
            _ => self.buckets.push_back((minute, value)),
        }
    }

    fn prune(&mut self, oldest: i64) {
        while self.buckets.front().is_some_and(|(m, _)| *m < oldest) {
            self.buckets.pop_front();
        }
    }

    fn sum(&self) -> i64 {
        self.buckets.iter().map(|(_, v)| *v).sum()
    }
}

#[derive(Debug, Default)]
struct Counter {
    map: HashMap<String, Series>,
}

impl Counter {
    /// Adds `value` for `key`; `false` if the map is full and `key` new.
    fn add(
        &mut self,
        key: &str,
        shown: Option<&str>,
        minute: i64,
        oldest: i64,
        value: i64,
    ) -> bool {
        if !self.map.contains_key(key) && self.map.len() >= MAX_KEYS {
            self.prune(oldest);
            if self.map.len() >= MAX_KEYS {
                return false;
            }
        }
        let series = self.map.entry(key.to_owned()).or_default();
        series.prune(oldest);
        if series.shown.is_none() {
            series.shown = shown.map(str::to_owned);
        }
        series.add(minute, value);
        true
    }

    fn prune(&mut self, oldest: i64) {
        self.map.retain(|_, s| {
            s.prune(oldest);
            !s.buckets.is_empty()
        });
    }
}

#[derive(Debug, Clone, Copy)]
enum Which {
    FailedByUser,
    FailedBySource,
    ChallengesByUser,
    ChallengesBySource,
    GrowthByUser,
}

#[derive(Debug, Default)]
struct Inner {
    failed_by_user: Counter,
    failed_by_source: Counter,
    challenges_by_user: Counter,
    challenges_by_source: Counter,
    growth_by_user: Counter,
    totals: HashMap<&'static str, Series>,
    untracked: u64,
}

impl Inner {
    fn counter(&mut self, which: Which) -> &mut Counter {
        match which {
            Which::FailedByUser => &mut self.failed_by_user,
            Which::FailedBySource => &mut self.failed_by_source,
            Which::ChallengesByUser => &mut self.challenges_by_user,
            Which::ChallengesBySource => &mut self.challenges_by_source,
            Which::GrowthByUser => &mut self.growth_by_user,
        }
    }
}

/// What kind of anomaly a row reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Failed logins (`auth/token` refused) at or over the threshold.
    FailedLogins,
    /// Login challenges requested at or over the threshold.
    ChallengeFlood,
    /// Net growth of a user's stored bytes at or over the threshold.
    StorageGrowth,
}

/// One reported anomaly.
#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    /// What was counted.
    pub kind: Kind,
    /// `user` or `source`.
    pub scope: &'static str,
    /// The user (scope `user`).
    pub user_id: Option<String>,
    /// The source as the IP policy allows (scope `source`; `null` when the policy is `off`).
    pub source: Option<String>,
    /// The count (requests) or the bytes (storage growth) within the window.
    pub value: i64,
    /// `requests` or `bytes`.
    pub unit: &'static str,
    /// The threshold it reached.
    pub threshold: u64,
    /// Start of the first minute with activity in the window (ISO 8601, UTC).
    pub first_seen: String,
    /// Start of the last minute with activity in the window.
    pub last_seen: String,
}

/// Window totals, all users and sources together.
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    /// Failed logins.
    pub failed_logins: i64,
    /// Challenges issued.
    pub challenges: i64,
    /// Net growth of stored bytes.
    pub storage_growth_bytes: i64,
}

/// The thresholds in force.
#[derive(Debug, Clone, Serialize)]
pub struct ReportThresholds {
    /// Failed logins.
    pub failed_logins: u64,
    /// Challenges.
    pub challenges: u64,
    /// Storage growth, bytes.
    pub storage_growth_bytes: u64,
}

/// `GET /api/v1/admin/anomalies`.
#[derive(Debug, Clone, Serialize)]
pub struct AnomalyReport {
    /// Everything at or over a threshold, by kind, largest first.
    pub anomalies: Vec<Anomaly>,
    /// The relay's IP policy (`off`, `keyed-hash`, `full`): what `source` may show.
    pub ip_policy: &'static str,
    /// The sliding window, minutes.
    pub window_minutes: u64,
    /// The thresholds.
    pub thresholds: ReportThresholds,
    /// Totals within the window.
    pub totals: Totals,
    /// Since when this relay process has been counting (ISO 8601, UTC): counters are in memory.
    pub tracking_since: String,
    /// Events that could not be attributed because a counter map was full.
    pub untracked: u64,
}

/// The tracker.
#[derive(Debug)]
pub struct AnomalyTracker {
    thresholds: AnomalyThresholds,
    since: i64,
    inner: Mutex<Inner>,
    failed_logins_total: AtomicU64,
    challenges_total: AtomicU64,
}

const TOTAL_FAILED: &str = "failed_logins";
const TOTAL_CHALLENGES: &str = "challenges";
const TOTAL_GROWTH: &str = "storage_growth_bytes";

impl AnomalyTracker {
    /// A tracker with `thresholds`, counting from `now` (Unix seconds).
    pub fn new(thresholds: AnomalyThresholds, now: i64) -> Self {
        Self {
            thresholds,
            since: now,
            inner: Mutex::new(Inner::default()),
            failed_logins_total: AtomicU64::new(0),
            challenges_total: AtomicU64::new(0),
        }
    }

    fn window(&self, now: i64) -> (i64, i64) {
        let minute = now.div_euclid(60);
        let window = i64::try_from(self.thresholds.window_minutes).unwrap_or(i64::MAX);
        (minute, minute.saturating_sub(window) + 1)
    }

    fn record(
        &self,
        now: i64,
        total: &'static str,
        value: i64,
        entries: &[(Which, &str, Option<&str>)],
    ) {
        let (minute, oldest) = self.window(now);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let series = inner.totals.entry(total).or_default();
        series.prune(oldest);
        series.add(minute, value);
        for (which, key, shown) in entries {
            if !inner
                .counter(*which)
                .add(key, *shown, minute, oldest, value)
            {
                inner.untracked += 1;
            }
        }
    }

    /// A refused login (`auth/token`). `user` only if the account exists.
    pub fn failed_login(&self, now: i64, user: Option<&str>, source: Option<&Source>) {
        self.failed_logins_total.fetch_add(1, Ordering::Relaxed);
        let mut entries = Vec::with_capacity(2);
        if let Some(user) = user {
            entries.push((Which::FailedByUser, user, None));
        }
        if let Some(s) = source {
            entries.push((Which::FailedBySource, s.key.as_str(), s.shown.as_deref()));
        }
        self.record(now, TOTAL_FAILED, 1, &entries);
    }

    /// An issued login challenge. `user` only if the account exists.
    pub fn challenge(&self, now: i64, user: Option<&str>, source: Option<&Source>) {
        self.challenges_total.fetch_add(1, Ordering::Relaxed);
        let mut entries = Vec::with_capacity(2);
        if let Some(user) = user {
            entries.push((Which::ChallengesByUser, user, None));
        }
        if let Some(s) = source {
            entries.push((
                Which::ChallengesBySource,
                s.key.as_str(),
                s.shown.as_deref(),
            ));
        }
        self.record(now, TOTAL_CHALLENGES, 1, &entries);
    }

    /// A stored upload changed `user`'s storage by `delta` bytes.
    pub fn storage_growth(&self, now: i64, user: &str, delta: i64) {
        self.record(
            now,
            TOTAL_GROWTH,
            delta,
            &[(Which::GrowthByUser, user, None)],
        );
    }

    /// Failed logins since start (for `/metrics`).
    pub fn failed_logins_total(&self) -> u64 {
        self.failed_logins_total.load(Ordering::Relaxed)
    }

    /// Challenges issued since start (for `/metrics`).
    pub fn challenges_total(&self) -> u64 {
        self.challenges_total.load(Ordering::Relaxed)
    }

    /// Drops empty series (called by maintenance; the report prunes as it reads too).
    pub fn prune(&self, now: i64) {
        let (_, oldest) = self.window(now);
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *guard;
        for counter in [
            &mut inner.failed_by_user,
            &mut inner.failed_by_source,
            &mut inner.challenges_by_user,
            &mut inner.challenges_by_source,
            &mut inner.growth_by_user,
        ] {
            counter.prune(oldest);
        }
    }

    /// Everything at or over a threshold within the window ending at `now`.
    pub fn report(&self, now: i64, policy: IpPolicy) -> AnomalyReport {
        let (_, oldest) = self.window(now);
        let t = &self.thresholds;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let minute_iso = |m: i64| isoformat(m.saturating_mul(60), 0);
        let mut anomalies = Vec::new();
        let mut collect =
            |counter: &mut Counter, kind: Kind, scope: &'static str, threshold: u64| {
                counter.prune(oldest);
                let unit = if kind == Kind::StorageGrowth {
                    "bytes"
                } else {
                    "requests"
                };
                let mut rows: Vec<Anomaly> = counter
                    .map
                    .iter()
                    .filter_map(|(key, series)| {
                        let value = series.sum();
                        if value < i64::try_from(threshold).unwrap_or(i64::MAX) {
                            return None;
                        }
                        let first = series.buckets.front().map_or(0, |(m, _)| *m);
                        let last = series.buckets.back().map_or(0, |(m, _)| *m);
                        let (user_id, source) = if scope == "user" {
                            (Some(key.clone()), None)
                        } else {
                            (None, series.shown.clone())
                        };
                        Some(Anomaly {
                            kind,
                            scope,
                            user_id,
                            source,
                            value,
                            unit,
                            threshold,
                            first_seen: minute_iso(first),
                            last_seen: minute_iso(last),
                        })
                    })
                    .collect();
                rows.sort_by(|a, b| {
                    b.value
                        .cmp(&a.value)
                        .then_with(|| a.user_id.cmp(&b.user_id))
                        .then_with(|| a.source.cmp(&b.source))
                });
                anomalies.extend(rows);
            };
        collect(
            &mut inner.failed_by_user,
            Kind::FailedLogins,
            "user",
            t.failed_logins,
        );
        collect(
            &mut inner.failed_by_source,
            Kind::FailedLogins,
            "source",
            t.failed_logins,
        );
        collect(
            &mut inner.challenges_by_user,
            Kind::ChallengeFlood,
            "user",
            t.challenges,
        );
        collect(
            &mut inner.challenges_by_source,
            Kind::ChallengeFlood,
            "source",
            t.challenges,
        );
        collect(
            &mut inner.growth_by_user,
            Kind::StorageGrowth,
            "user",
            t.storage_growth_bytes,
        );
        let mut total = |name| {
            inner.totals.get_mut(name).map_or(0, |s| {
                s.prune(oldest);
                s.sum()
            })
        };
        let totals = Totals {
            failed_logins: total(TOTAL_FAILED),
            challenges: total(TOTAL_CHALLENGES),
            storage_growth_bytes: total(TOTAL_GROWTH),
        };
        AnomalyReport {
            anomalies,
            ip_policy: policy.as_str(),
            window_minutes: t.window_minutes,
            thresholds: ReportThresholds {
                failed_logins: t.failed_logins,
                challenges: t.challenges,
                storage_growth_bytes: t.storage_growth_bytes,
            },
            totals,
            tracking_since: isoformat(self.since, 0),
            untracked: inner.untracked,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000;

    fn tracker() -> AnomalyTracker {
        AnomalyTracker::new(AnomalyThresholds::default(), T0)
    }

    fn source(key: &str, shown: Option<&str>) -> Source {
        Source {
            key: key.to_owned(),
            shown: shown.map(str::to_owned),
        }
    }

    #[test]
    fn failed_logins_over_the_threshold_are_reported() {
        let t = tracker();
        let s = source("k1", Some("203.0.113.9"));
        for i in 0..20 {
            t.failed_login(T0 + i * 10, Some("u1"), Some(&s));
        }
        for _ in 0..9 {
            t.failed_login(T0, Some("u2"), None);
        }
        let r = t.report(T0 + 200, IpPolicy::Full);
        let rows: Vec<_> = r
            .anomalies
            .iter()
            .filter(|a| a.kind == Kind::FailedLogins)
            .collect();
        assert_eq!(rows.len(), 2, "{r:?}");
        assert_eq!(rows[0].user_id.as_deref(), Some("u1"));
        assert_eq!(rows[0].value, 20);
        assert_eq!(rows[1].scope, "source");
        assert_eq!(rows[1].source.as_deref(), Some("203.0.113.9"));
        assert_eq!(r.totals.failed_logins, 29);
        assert_eq!(t.failed_logins_total(), 29);
        // u2 (9 < 10) is not reported.
        assert!(
            !r.anomalies
                .iter()
                .any(|a| a.user_id.as_deref() == Some("u2"))
        );
    }

    #[test]
    fn the_window_slides() {
        let t = tracker();
        for _ in 0..15 {
            t.challenge(T0, Some("u1"), None);
        }
        for _ in 0..60 {
            t.challenge(T0, None, Some(&source("k", None)));
        }
        let r = t.report(T0 + 60, IpPolicy::Off);
        assert_eq!(r.anomalies.len(), 1, "{r:?}");
        assert_eq!(r.anomalies[0].kind, Kind::ChallengeFlood);
        assert_eq!(r.anomalies[0].source, None, "hidden under ip_policy off");
        assert_eq!(r.ip_policy, "off");
        // An hour later everything has left the window.
        let later = t.report(T0 + 3600 + 60, IpPolicy::Off);
        assert!(later.anomalies.is_empty(), "{later:?}");
        assert_eq!(later.totals.challenges, 0);
        assert_eq!(t.challenges_total(), 75);
    }

    #[test]
    fn storage_growth_is_net() {
        let t = tracker();
        t.storage_growth(T0, "u1", 15 << 20);
        t.storage_growth(T0 + 60, "u1", 10 << 20);
        t.storage_growth(T0, "u2", 15 << 20);
        t.storage_growth(T0 + 60, "u2", -10 << 20);
        let r = t.report(T0 + 120, IpPolicy::Off);
        assert_eq!(r.anomalies.len(), 1, "{r:?}");
        let a = &r.anomalies[0];
        assert_eq!(
            (a.kind, a.user_id.as_deref()),
            (Kind::StorageGrowth, Some("u1"))
        );
        assert_eq!(a.value, 25 << 20);
        assert_eq!(a.unit, "bytes");
        assert_eq!(a.first_seen, isoformat(T0 / 60 * 60, 0));
        assert_eq!(r.totals.storage_growth_bytes, 30 << 20);
    }

    #[test]
    fn maps_are_bounded() {
        let t = tracker();
        for i in 0..(MAX_KEYS + 5) {
            t.challenge(T0, Some(&format!("user-{i}")), None);
        }
        let r = t.report(T0, IpPolicy::Off);
        assert_eq!(r.untracked, 5);
        // After the window, room again.
        t.challenge(T0 + 7200, Some("late"), None);
        assert_eq!(t.report(T0 + 7200, IpPolicy::Off).untracked, 5);
        t.prune(T0 + 7200);
    }
}
