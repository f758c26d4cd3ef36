//! Runs workers at a fixed concurrency for a bounded time and operation count, and turns what
//! they saw into figures.
//!
//! Closed loop: each simulated client sends its next operation when the previous one is
//! answered, so the latency is the service time under this load (an open-loop generator would
//! also count the queueing of requests that a slow server delays). A warm-up (connections
//! opened, caches filled) is run first and not counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde::Serialize;

use super::conn::{Client, Target};
use super::procfs::{GroupFigures, GroupSpec, MachineFigures, Monitor, ProcessFigures};
use super::workload::{OpRecord, ShapeAcc, ShapeBook, Worker};

/// How long and how much.
#[derive(Debug, Clone, Copy)]
pub struct RunSettings {
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time first.
    pub warmup: Duration,
    /// At most this many measured operations (all workers together).
    pub max_ops: u64,
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// Latency of one kind of operation, ms.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OpLatency {
    /// Successful operations of this kind.
    pub ops: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// What one run of one workload against one server showed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// Operations completed in the measured window (failed ones included).
    pub ops: u64,
    /// Operations whose every request got an expected status.
    pub ok_ops: u64,
    /// Measured seconds.
    pub seconds: f64,
    /// Successful operations per second.
    pub ops_per_s: f64,
    /// Latency by kind of operation (`login` for challenge + token, else the request class).
    pub by_op: BTreeMap<String, OpLatency>,
    /// Request plus response body bytes per second, MiB.
    pub mib_per_s: f64,
    /// Request body bytes.
    pub bytes_up: u64,
    /// Response body bytes.
    pub bytes_down: u64,
    /// Latency of successful operations (all their requests), ms.
    pub latency_ms: Latency,
    /// Requests by class and status (`poll-fronts 304`).
    pub statuses: BTreeMap<String, u64>,
    /// Requests with an unexpected status, by class and status (`io` = transport error).
    pub errors: BTreeMap<String, u64>,
    /// Connections opened (one per client, more if the server closed some).
    pub connects: u64,
    /// The server process, when this tool started it.
    pub server: Option<ProcessFigures>,
    /// Groups of processes it did not start (`--sample-pids`, `--cluster-dir`), by name.
    pub groups: BTreeMap<String, GroupFigures>,
    /// The machine.
    pub machine: MachineFigures,
    /// Remarks (uploads signed during the timed run, …).
    pub notes: Vec<String>,
}

/// Per-worker accumulation.
struct Stats {
    hist: Histogram<u64>,
    by_op: BTreeMap<&'static str, Histogram<u64>>,
    ops: u64,
    ok_ops: u64,
    up: u64,
    down: u64,
    statuses: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    shapes: ShapeAcc,
}

/// Latencies up to 10 minutes, in microseconds.
const MAX_US: u64 = 600_000_000;

/// 1 µs to 10 min at 3 significant digits.
fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_US, 3).context("histogram bounds")
}

impl Stats {
    fn new() -> anyhow::Result<Stats> {
        Ok(Stats {
            hist: new_histogram()?,
            by_op: BTreeMap::new(),
            ops: 0,
            ok_ops: 0,
            up: 0,
            down: 0,
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            shapes: ShapeAcc::default(),
        })
    }

    fn record(&mut self, op: &OpRecord, latency: Duration) {
        self.ops += 1;
        for r in &op.reqs {
            self.up += r.up;
            self.down += r.down;
            let status = if r.status == 0 {
                "io".to_owned()
            } else {
                r.status.to_string()
            };
            let key = format!("{} {status}", r.class);
            if r.ok {
                self.shapes.add(r);
                *self.statuses.entry(key).or_default() += 1;
            } else {
                *self.errors.entry(key).or_default() += 1;
            }
        }
        if op.ok() {
            self.ok_ops += 1;
            let us = u64::try_from(latency.as_micros())
                .unwrap_or(u64::MAX)
                .clamp(1, MAX_US);
            let _ = self.hist.record(us);
            let kind = match op.reqs.first().map(|r| r.class) {
                Some("challenge") => "login",
                Some(class) => class,
                None => "none",
            };
            if let Some(h) = self.by_op.get_mut(kind) {
                let _ = h.record(us);
            } else if let Ok(mut h) = new_histogram() {
                let _ = h.record(us);
                self.by_op.insert(kind, h);
            }
        }
    }

    fn merge(&mut self, other: Stats) {
        let _ = self.hist.add(&other.hist);
        for (k, h) in other.by_op {
            match self.by_op.get_mut(k) {
                Some(mine) => {
                    let _ = mine.add(&h);
                }
                None => {
                    self.by_op.insert(k, h);
                }
            }
        }
        self.ops += other.ops;
        self.ok_ops += other.ok_ops;
        self.up += other.up;
        self.down += other.down;
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.shapes.merge(other.shapes);
    }
}

/// A run's figures and the shapes of its requests (for the baseline to replay).
#[derive(Debug)]
pub struct RunOutput {
    /// Figures.
    pub figures: Figures,
    /// Request shapes by class.
    pub shapes: ShapeBook,
}

/// Runs `workers` (one connection each) against `target`; samples `pid` if given, and
/// `groups`.
pub async fn run<W: Worker>(
    target: Arc<Target>,
    workers: Vec<W>,
    settings: RunSettings,
    pid: Option<u32>,
    groups: &[GroupSpec],
) -> anyhow::Result<(RunOutput, Vec<W>)> {
    let start = Instant::now();
    let warm_end = start + settings.warmup;
    let end = warm_end + settings.duration;
    let started_ops = Arc::new(AtomicU64::new(0));
    let groups = groups.to_vec();
    let monitor = tokio::spawn(async move {
        tokio::time::sleep_until(warm_end.into()).await;
        Monitor::start(pid, &groups)
    });
    let mut tasks = Vec::with_capacity(workers.len());
    for mut worker in workers {
        let target = Arc::clone(&target);
        let started_ops = Arc::clone(&started_ops);
        let max = settings.max_ops;
        tasks.push(tokio::spawn(async move {
            let mut client = Client::new(target);
            let mut stats = Stats::new()?;
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let measured = now >= warm_end;
                if measured && started_ops.fetch_add(1, Ordering::Relaxed) >= max {
                    break;
                }
                let t = Instant::now();
                let record = worker.op(&mut client).await;
                if measured {
                    stats.record(&record, t.elapsed());
                }
            }
            anyhow::Ok((stats, worker, client.connects))
        }));
    }
    let mut total = Stats::new()?;
    let mut workers = Vec::with_capacity(tasks.len());
    let mut connects = 0;
    for task in tasks {
        let (stats, worker, c) = task.await.context("worker task")??;
        total.merge(stats);
        workers.push(worker);
        connects += c;
    }
    let seconds = Instant::now()
        .saturating_duration_since(warm_end)
        .as_secs_f64()
        .max(1e-9);
    let window = monitor.await.context("monitor task")?.stop(total.ok_ops);
    let h = &total.hist;
    let ms = |us: u64| us as f64 / 1000.0;
    let figures = Figures {
        ops: total.ops,
        ok_ops: total.ok_ops,
        seconds,
        ops_per_s: total.ok_ops as f64 / seconds,
        mib_per_s: (total.up + total.down) as f64 / seconds / f64::from(1u32 << 20),
        bytes_up: total.up,
        bytes_down: total.down,
        latency_ms: if h.is_empty() {
            Latency::default()
        } else {
            Latency {
                p50: ms(h.value_at_quantile(0.50)),
                p95: ms(h.value_at_quantile(0.95)),
                p99: ms(h.value_at_quantile(0.99)),
                max: ms(h.max()),
                mean: h.mean() / 1000.0,
            }
        },
        by_op: total
            .by_op
            .iter()
            .map(|(k, h)| {
                (
                    (*k).to_owned(),
                    OpLatency {
                        ops: h.len(),
                        p50: ms(h.value_at_quantile(0.50)),
                        p99: ms(h.value_at_quantile(0.99)),
                        max: ms(h.max()),
                    },
                )
            })
            .collect(),
        statuses: total.statuses,
        errors: total.errors,
        connects,
        server: window.server,
        groups: window.groups,
        machine: window.machine,
        notes: Vec::new(),
    };
    Ok((
        RunOutput {
            figures,
            shapes: total.shapes.book(),
        },
        workers,
    ))
}
