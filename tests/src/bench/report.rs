//! The report: one JSON document (stable field names; `docs/BENCHMARKS.md` explains them) and
//! the same as text tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

pub use super::compare::TargetCheck;
use super::probe::FsyncProbe;
use super::runner::Figures;
use super::seed::SeedReport;
use super::workload::ShapeBook;

/// The whole report.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// `coffer-bench`.
    pub tool: &'static str,
    /// This tool's version.
    pub version: &'static str,
    /// Unix seconds at start.
    pub started_unix: i64,
    /// The machine.
    pub machine: Machine,
    /// What was asked.
    pub settings: Settings,
    /// The relay of the main run.
    pub relay: RelayInfo,
    /// Processes this tool did not start, sampled in every relay run (`--sample-pids`,
    /// `--cluster-dir`); their figures are each workload's `relay.groups`.
    pub sampled: Vec<super::procfs::GroupSpec>,
    /// One entry per workload.
    pub workloads: Vec<WorkloadReport>,
    /// The disk under the relay's data directory.
    pub fsync_probe: Option<FsyncProbe>,
    /// Growth runs, smallest first.
    pub growth: Vec<GrowthLevel>,
    /// The targets, checked on this run's figures.
    pub targets: Vec<TargetCheck>,
    /// The soak (`--soak`), instead of workloads.
    pub soak: Option<super::soak::SoakReport>,
    /// `replicated-publish:<size>` runs: a System's publish to 1, 2 and 3 relays.
    pub replicated: Vec<super::replicated::ReplicatedReport>,
    /// `--compare-url`: the same v1 workloads against another relay, and the ratios.
    pub compare: Option<super::compare::CompareReport>,
}

/// The machine.
#[derive(Debug, Default, Serialize)]
pub struct Machine {
    /// Online CPUs.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: String,
    /// Load averages (1, 5, 15 min) at the start.
    pub loadavg_start: Option<[f64; 3]>,
    /// Load averages at the end.
    pub loadavg_end: Option<[f64; 3]>,
}

/// The settings of the run.
#[derive(Debug, Default, Serialize)]
pub struct Settings {
    /// Simulated clients.
    pub concurrency: usize,
    /// System/friend pairs.
    pub pairs: usize,
    /// Measured seconds per workload.
    pub duration_s: f64,
    /// Warm-up seconds.
    pub warmup_s: f64,
    /// Operation cap per workload.
    pub max_ops: u64,
    /// Whether the relay was spawned here.
    pub spawned: bool,
    /// Whether baseline runs were made.
    pub baseline: bool,
}

/// The relay.
#[derive(Debug, Default, Serialize)]
pub struct RelayInfo {
    /// Its origin.
    pub url: String,
    /// Spawn to banner, ms (spawned relays).
    pub startup_ms: Option<f64>,
    /// VmHWM at the end (spawned relays), MiB.
    pub vm_hwm_mib_end: Option<f64>,
    /// Account setup time per protocol, seconds.
    pub setup_s: BTreeMap<String, f64>,
}

/// Relay figures divided by the baseline's.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ratios {
    /// Operations/s, relay ÷ baseline (1 = as fast as bare HTTPS).
    pub ops_per_s: f64,
    /// MiB/s (bodies), relay ÷ baseline; `None` when the baseline moved no body bytes (304s).
    pub mib_per_s: Option<f64>,
    /// Median latency, relay ÷ baseline (1 = as fast).
    pub p50: f64,
    /// 95th percentile, relay ÷ baseline.
    pub p95: f64,
    /// 99th percentile, relay ÷ baseline.
    pub p99: f64,
    /// Server CPU per operation, relay ÷ baseline (the relay: the spawned one, else the
    /// sampled group `relay`, all instances together).
    pub server_cpu_per_op: Option<f64>,
    /// Server peak RSS during the run, relay ÷ baseline.
    pub server_rss_peak: Option<f64>,
}

fn div(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

impl Ratios {
    /// `relay` ÷ `base`, figure by figure.
    pub fn of(relay: &Figures, base: &Figures) -> Ratios {
        let server = relay.server.as_ref().zip(base.server.as_ref());
        let relay_cpu = relay
            .server
            .as_ref()
            .map(|s| s.cpu_us_per_op)
            .or_else(|| relay.groups.get("relay").map(|g| g.cpu_us_per_op));
        Ratios {
            ops_per_s: div(relay.ops_per_s, base.ops_per_s),
            mib_per_s: (base.mib_per_s > 0.0).then(|| relay.mib_per_s / base.mib_per_s),
            p50: div(relay.latency_ms.p50, base.latency_ms.p50),
            p95: div(relay.latency_ms.p95, base.latency_ms.p95),
            p99: div(relay.latency_ms.p99, base.latency_ms.p99),
            server_cpu_per_op: relay_cpu
                .zip(base.server.as_ref())
                .map(|(r, b)| div(r, b.cpu_us_per_op)),
            server_rss_peak: server.map(|(r, b)| div(r.rss_peak_mib, b.rss_peak_mib)),
        }
    }
}

/// One workload.
#[derive(Debug, Serialize)]
pub struct WorkloadReport {
    /// Its name (`fetch:4k`, `v2-mixed`, …).
    pub name: String,
    /// Against the relay.
    pub relay: Figures,
    /// Against the baseline, with the relay run's request shapes.
    pub baseline: Option<Figures>,
    /// Relay ÷ baseline.
    pub ratio: Option<Ratios>,
    /// The request shapes the baseline replayed.
    pub shapes: ShapeBook,
}

/// One growth level.
#[derive(Debug, Serialize)]
pub struct GrowthLevel {
    /// Volumes stored before the run.
    pub volumes: u64,
    /// How they were seeded.
    pub seed: SeedReport,
    /// Spawn to banner (includes the start-up orphan sweep over every blob), ms.
    pub startup_ms: f64,
    /// VmHWM right after start-up, MiB.
    pub vm_hwm_after_start_mib: f64,
    /// The workloads.
    pub workloads: Vec<GrowthWorkload>,
}

/// One workload at one growth level.
#[derive(Debug, Serialize)]
pub struct GrowthWorkload {
    /// Name.
    pub name: String,
    /// Figures.
    pub relay: Figures,
    /// Operations/s relative to the same workload at the smallest level.
    pub ops_vs_smallest: f64,
    /// p99 relative to the smallest level.
    pub p99_vs_smallest: f64,
}

fn fmt_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn errors(f: &Figures) -> String {
    if f.errors.is_empty() {
        "-".to_owned()
    } else {
        f.errors
            .iter()
            .map(|(k, v)| format!("{k}×{v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The report as text.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    if let Some(soak) = &report.soak {
        soak_table(&mut out, report, soak);
        return out;
    }
    let _ = writeln!(
        out,
        "coffer-bench {} — {} CPUs, kernel {}, load {:?} → {:?}; {} clients, {} pairs, {} s per workload",
        report.version,
        report.machine.cpus,
        report.machine.kernel,
        report.machine.loadavg_start.unwrap_or_default(),
        report.machine.loadavg_end.unwrap_or_default(),
        report.settings.concurrency,
        report.settings.pairs,
        report.settings.duration_s,
    );
    for r in &report.replicated {
        replicated_table(&mut out, r);
    }
    if report.workloads.is_empty() && !report.replicated.is_empty() {
        return out;
    }
    if !report.sampled.is_empty() {
        let groups: Vec<String> = report
            .sampled
            .iter()
            .map(|g| {
                let pids: Vec<String> = g.roots.iter().map(u32::to_string).collect();
                format!("{} {}", g.name, pids.join(","))
            })
            .collect();
        let _ = writeln!(
            out,
            "sampled (PIDs with their descendants): {}",
            groups.join("; ")
        );
    }
    let _ = writeln!(
        out,
        "relay {} (start-up {} ms, VmHWM at end {} MiB)\n",
        report.relay.url,
        report
            .relay
            .startup_ms
            .map_or("-".into(), |v| format!("{v:.0}")),
        report
            .relay
            .vm_hwm_mib_end
            .map_or("-".into(), |v| format!("{v:.1}")),
    );
    let _ = writeln!(
        out,
        "{:<16} {:>9} {:>8} {:>7} {:>7} {:>7} {:>6} {:>8} {:>7} | {:>9} {:>6} {:>6} {:>6} | errors",
        "workload",
        "ops/s",
        "MiB/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "CPU%",
        "µs/op",
        "RSS MiB",
        "base op/s",
        "×ops",
        "×p99",
        "×cpu",
    );
    for w in &report.workloads {
        let r = &w.relay;
        let s = r.server.as_ref();
        let _ = writeln!(
            out,
            "{:<16} {:>9.0} {:>8.1} {:>7} {:>7} {:>7} {:>6} {:>8} {:>7} | {:>9} {:>6} {:>6} {:>6} | {}",
            w.name,
            r.ops_per_s,
            r.mib_per_s,
            fmt_ms(r.latency_ms.p50),
            fmt_ms(r.latency_ms.p95),
            fmt_ms(r.latency_ms.p99),
            s.map_or("-".into(), |s| format!("{:.0}", s.cpu_percent)),
            s.map_or("-".into(), |s| format!("{:.0}", s.cpu_us_per_op)),
            s.map_or("-".into(), |s| format!("{:.1}", s.rss_peak_mib)),
            w.baseline
                .as_ref()
                .map_or("-".into(), |b| format!("{:.0}", b.ops_per_s)),
            w.ratio
                .as_ref()
                .map_or("-".into(), |x| format!("{:.2}", x.ops_per_s)),
            w.ratio
                .as_ref()
                .map_or("-".into(), |x| format!("{:.2}", x.p99)),
            w.ratio
                .as_ref()
                .and_then(|x| x.server_cpu_per_op)
                .map_or("-".into(), |x| format!("{x:.1}")),
            errors(r),
        );
        if r.by_op.len() > 1 {
            let parts: Vec<String> = r
                .by_op
                .iter()
                .map(|(k, o)| format!("{k} {}/{}", fmt_ms(o.p50), fmt_ms(o.p99)))
                .collect();
            let _ = writeln!(out, "    p50/p99 ms by operation: {}", parts.join(", "));
        }
        if !r.groups.is_empty() {
            let _ = writeln!(out, "    {}", groups_line(r));
        }
    }
    let noisy: Vec<&str> = report
        .workloads
        .iter()
        .filter(|w| {
            w.relay.machine.other_cpu_percent > 10.0
                || w.baseline
                    .as_ref()
                    .is_some_and(|b| b.machine.other_cpu_percent > 10.0)
        })
        .map(|w| w.name.as_str())
        .collect();
    if !noisy.is_empty() {
        let _ = writeln!(
            out,
            "\nwarning: other processes used >10% CPU during: {}",
            noisy.join(", ")
        );
    }
    if let Some(p) = &report.fsync_probe {
        let _ = writeln!(
            out,
            "\nfsync probe (64 KiB write+fsync+rename+dir fsync, one thread): {:.0}/s, file fsync {:.2} ms, dir fsync {:.2} ms",
            p.rounds_per_s, p.file_fsync_ms, p.dir_fsync_ms
        );
    }
    if !report.growth.is_empty() {
        let _ = writeln!(
            out,
            "\ngrowth: {:>9} {:>8} {:>9} {:>9} {:<14} {:>9} {:>7} {:>7} {:>7} {:>7}",
            "volumes",
            "seed s",
            "start ms",
            "HWM MiB",
            "workload",
            "ops/s",
            "p50",
            "p99",
            "×ops",
            "×p99"
        );
        for level in &report.growth {
            for w in &level.workloads {
                let _ = writeln!(
                    out,
                    "        {:>9} {:>8.1} {:>9.0} {:>9.1} {:<14} {:>9.0} {:>7} {:>7} {:>7.2} {:>7.2}",
                    level.volumes,
                    level.seed.seconds,
                    level.startup_ms,
                    level.vm_hwm_after_start_mib,
                    w.name,
                    w.relay.ops_per_s,
                    fmt_ms(w.relay.latency_ms.p50),
                    fmt_ms(w.relay.latency_ms.p99),
                    w.ops_vs_smallest,
                    w.p99_vs_smallest,
                );
            }
        }
    }
    if let Some(c) = &report.compare {
        super::compare::table(&mut out, c);
    }
    if !report.targets.is_empty() {
        let _ = writeln!(out, "\ntargets:");
        for t in &report.targets {
            let verdict = match t.met {
                Some(true) => "met   ",
                Some(false) => "MISSED",
                None => "n/a   ",
            };
            let _ = writeln!(out, "  [{verdict}] {:<22} {} — {}", t.name, t.rule, t.note);
        }
    }
    out
}

/// The sampled groups of one run: CPU µs per operation (CPU %, processes, RSS), their total,
/// and the CPU of everything else on the machine.
pub fn groups_line(f: &Figures) -> String {
    let parts: Vec<String> = f
        .groups
        .iter()
        .map(|(name, g)| {
            format!(
                "{name} {:.0} ({:.0}%, {} proc, {:.0} MiB)",
                g.cpu_us_per_op, g.cpu_percent, g.processes, g.rss_peak_mib
            )
        })
        .collect();
    let total: f64 = f.groups.values().map(|g| g.cpu_us_per_op).sum();
    format!(
        "CPU µs/op by group: {}; total {total:.0}; load generator {:.0}%, other processes {:.0}%",
        parts.join(", "),
        f.machine.bench_cpu_percent,
        f.machine.other_cpu_percent
    )
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// A `replicated-publish` run: one row per relay count, then the ratios to one relay.
fn replicated_table(out: &mut String, r: &super::replicated::ReplicatedReport) {
    let _ = writeln!(
        out,
        "\n{}: {} systems publishing {} B ({} B sealed) through publish_replicated; relays {}",
        r.name,
        r.systems,
        r.size,
        r.sealed_bytes,
        r.relays.join(", "),
    );
    let _ = writeln!(
        out,
        "{:>6} {:>9} {:>7} {:>7} {:>7} {:>10} {:>11} {:>12} {:>9} | errors",
        "relays",
        "ops/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "relay CPU%",
        "relay µs/op",
        "client µs/op",
        "list s",
    );
    for c in &r.configs {
        let f = &c.figures;
        let _ = writeln!(
            out,
            "{:>6} {:>9.0} {:>7} {:>7} {:>7} {:>10} {:>11} {:>12} {:>9.2} | {}",
            c.relays,
            f.ops_per_s,
            fmt_ms(f.latency_ms.p50),
            fmt_ms(f.latency_ms.p95),
            fmt_ms(f.latency_ms.p99),
            fmt_opt(c.relay_cpu_percent, 0),
            fmt_opt(c.relay_cpu_us_per_op, 0),
            fmt_opt(c.client_cpu_us_per_op, 0),
            c.set_relays_s,
            errors(f),
        );
        if let Some(e) = &c.first_error {
            let _ = writeln!(out, "       first error: {e}");
        }
    }
    for x in &r.vs_one {
        let _ = writeln!(
            out,
            "{} relays ÷ 1 relay: ×ops {:.2}, ×p50 {:.2}, ×p99 {:.2}, ×relay CPU/op {}, ×client CPU/op {}",
            x.relays,
            x.ops_per_s,
            x.p50,
            x.p99,
            fmt_opt(x.relay_cpu_per_op, 2),
            fmt_opt(x.client_cpu_per_op, 2),
        );
    }
    if let Some(x) = &r.per_extra_relay {
        let _ = writeln!(
            out,
            "per extra relay: {:+.2} ms p50, {:+.2} ms p99, {} µs relay CPU, {} µs client CPU per publish",
            x.p50_ms,
            x.p99_ms,
            x.relay_cpu_us.map_or("-".into(), |v| format!("{v:+.0}")),
            x.client_cpu_us.map_or("-".into(), |v| format!("{v:+.0}")),
        );
    }
    let noisy: Vec<String> = r
        .configs
        .iter()
        .filter(|c| {
            // The monitor counts the relays other than the first as other processes.
            let others: f64 = c.relay_cpu_percent.unwrap_or(0.0)
                - c.figures.server.as_ref().map_or(0.0, |s| s.cpu_percent);
            c.figures.machine.other_cpu_percent - others.max(0.0) > 10.0
        })
        .map(|c| c.relays.to_string())
        .collect();
    if !noisy.is_empty() {
        let _ = writeln!(
            out,
            "warning: other processes used >10% CPU with {} relay(s)",
            noisy.join(", ")
        );
    }
}

/// The soak's windows and checks.
fn soak_table(out: &mut String, report: &Report, soak: &super::soak::SoakReport) {
    let _ = writeln!(
        out,
        "coffer-bench {} — {} CPUs, load at the end {:?}; {} clients, {} pairs",
        report.version,
        report.machine.cpus,
        report.machine.loadavg_end.unwrap_or_default(),
        report.settings.concurrency,
        report.settings.pairs,
    );
    let _ = writeln!(
        out,
        "soak: {} for {:.0} s in {:.0} s windows",
        soak.workload, soak.seconds, soak.window_s
    );
    let _ = writeln!(
        out,
        "{:>8} {:>10} {:>9} {:>8} {:>8} {:>6} | errors",
        "at s", "ops", "ops/s", "p99 ms", "RSS MiB", "fds"
    );
    for w in &soak.windows {
        let _ = writeln!(
            out,
            "{:>8.0} {:>10} {:>9.0} {:>8.1} {:>8.1} {:>6} | {}",
            w.at_s,
            w.ops,
            w.ops_per_s,
            w.p99_ms,
            w.rss_peak_mib,
            w.open_fds,
            if w.errors.is_empty() {
                "-".to_owned()
            } else {
                format!("{:?}", w.errors)
            }
        );
    }
    for c in &soak.checks {
        let verdict = if c.held { "held  " } else { "FAILED" };
        let _ = writeln!(out, "  [{verdict}] {:<16} {} — {}", c.name, c.rule, c.seen);
    }
    let _ = writeln!(
        out,
        "soak {}",
        if soak.passed { "passed" } else { "FAILED" }
    );
}
