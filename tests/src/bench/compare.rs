//! `--compare-url`: the same v1 workloads against the Coffer relay and another v1 relay (the
//! PluralLog reference relay, or its stand-in in `bench/reference-relay/`) in one run, back to
//! back, `--rounds` times, and the ratios the issue's goals are stated in.
//!
//! Each round of a workload runs it once against each relay, immediately one after the other;
//! the order alternates from round to round (Coffer first in rounds 1, 3, …), so that a drift of
//! the machine during the run does not always favour the same side. A ratio is always taken
//! between the two runs of the same round, then summarised as min/median/max over the rounds.
//! The compare relay gets its own accounts, pairs and volumes, made the same way (register,
//! log in, invite, redeem, accept, publish) and checked by the same verified read.

use std::fmt::Write as _;

use serde::Serialize;

use super::runner::Figures;

/// One target of the issue, checked.
#[derive(Debug, Serialize)]
pub struct TargetCheck {
    /// Short name.
    pub name: &'static str,
    /// The rule.
    pub rule: &'static str,
    /// The measured value (`None`: the run did not include what it needs).
    pub value: Option<f64>,
    /// Met, missed, or not evaluated (`None`).
    pub met: Option<bool>,
    /// How it was decided.
    pub note: String,
}

/// Minimum, median and maximum of a set of values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Smallest.
    pub min: f64,
    /// Median (the mean of the two middle values for an even count).
    pub median: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when there are none (or one is not a number).
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() || values.iter().any(|v| v.is_nan()) {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Spread {
            min: sorted[0],
            median,
            max: sorted[n - 1],
        })
    }
}

/// `a ÷ b`, or `None` when `b` is not positive.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

/// One round of one workload: a run against each relay.
#[derive(Debug, Serialize)]
pub struct CompareRound {
    /// 1-based.
    pub round: usize,
    /// Whether the Coffer run came first in this round.
    pub coffer_first: bool,
    /// Against the Coffer relay.
    pub coffer: Figures,
    /// Against the compare relay.
    pub compare: Figures,
    /// Coffer ops/s ÷ compare ops/s (`None` when the compare relay completed nothing).
    pub ratio: Option<f64>,
}

/// One workload over all rounds.
#[derive(Debug, Serialize)]
pub struct CompareWorkload {
    /// Workload name.
    pub name: String,
    /// Coffer's successful operations/s over the rounds.
    pub coffer_ops_per_s: Option<Spread>,
    /// The compare relay's.
    pub compare_ops_per_s: Option<Spread>,
    /// Per-round ratio Coffer ÷ compare.
    pub ratio: Option<Spread>,
    /// Coffer's p99 latency, ms.
    pub coffer_p99_ms: Option<Spread>,
    /// The compare relay's p99 latency, ms.
    pub compare_p99_ms: Option<Spread>,
    /// The Coffer relay's CPU per operation, µs (when this tool started it).
    pub coffer_cpu_us_per_op: Option<Spread>,
    /// Every round.
    pub rounds: Vec<CompareRound>,
}

impl CompareWorkload {
    /// Summarises `rounds` of workload `name`.
    pub fn new(name: String, rounds: Vec<CompareRound>) -> CompareWorkload {
        let pick = |f: &dyn Fn(&CompareRound) -> Option<f64>| -> Option<Spread> {
            let values: Option<Vec<f64>> = rounds.iter().map(f).collect();
            values.and_then(|v| Spread::of(&v))
        };
        CompareWorkload {
            coffer_ops_per_s: pick(&|r| Some(r.coffer.ops_per_s)),
            compare_ops_per_s: pick(&|r| Some(r.compare.ops_per_s)),
            ratio: pick(&|r| r.ratio),
            coffer_p99_ms: pick(&|r| Some(r.coffer.latency_ms.p99)),
            compare_p99_ms: pick(&|r| Some(r.compare.latency_ms.p99)),
            coffer_cpu_us_per_op: pick(&|r| r.coffer.server.as_ref().map(|s| s.cpu_us_per_op)),
            name,
            rounds,
        }
    }

    /// The round whose Coffer throughput is the median one (the lower middle for an even
    /// count): the figures shown in the main table.
    pub fn median_round(&self) -> Option<usize> {
        let mut order: Vec<usize> = (0..self.rounds.len()).collect();
        order.sort_by(|&a, &b| {
            self.rounds[a]
                .coffer
                .ops_per_s
                .total_cmp(&self.rounds[b].coffer.ops_per_s)
        });
        order.get(self.rounds.len().saturating_sub(1) / 2).copied()
    }

    /// Requests with unexpected statuses, Coffer and compare, over all rounds.
    pub fn errors(&self) -> (u64, u64) {
        self.rounds.iter().fold((0, 0), |(c, o), r| {
            (
                c + r.coffer.errors.values().sum::<u64>(),
                o + r.compare.errors.values().sum::<u64>(),
            )
        })
    }
}

/// Coffer's fetch throughput as a share of Coffer's own `/health` in the same round.
#[derive(Debug, Serialize)]
pub struct FetchVsHealth {
    /// The fetch workload used.
    pub fetch: String,
    /// Per round: fetch ops/s ÷ health ops/s.
    pub ratio: Spread,
}

/// Everything `--compare-url` adds to the report.
#[derive(Debug, Default, Serialize)]
pub struct CompareReport {
    /// The compare relay's origin.
    pub url: String,
    /// Rounds per workload.
    pub rounds: usize,
    /// Account set-up on the compare relay, seconds.
    pub setup_s: Option<f64>,
    /// The compared workloads, in run order.
    pub workloads: Vec<CompareWorkload>,
    /// Selected workloads not run against the compare relay (v2).
    pub skipped: Vec<String>,
    /// Coffer fetch ÷ Coffer health, when both ran.
    pub fetch_vs_health: Option<FetchVsHealth>,
    /// The issue's goals, checked on this run.
    pub targets: Vec<TargetCheck>,
}

/// The first compared workload whose name starts with `prefix` (`publish:`) or equals it.
fn find<'a>(report: &'a CompareReport, prefix: &str) -> Option<&'a CompareWorkload> {
    report
        .workloads
        .iter()
        .find(|w| w.name == prefix || (prefix.ends_with(':') && w.name.starts_with(prefix)))
}

/// Coffer's fetch ÷ Coffer's health, round by round (rounds paired by index).
pub fn fetch_vs_health(report: &CompareReport) -> Option<FetchVsHealth> {
    let fetch = find(report, "fetch:")?;
    let health = find(report, "health")?;
    let ratios: Option<Vec<f64>> = fetch
        .rounds
        .iter()
        .zip(&health.rounds)
        .map(|(f, h)| ratio(f.coffer.ops_per_s, h.coffer.ops_per_s))
        .collect();
    Some(FetchVsHealth {
        fetch: fetch.name.clone(),
        ratio: Spread::of(&ratios?)?,
    })
}

fn spread_text(s: &Spread, digits: usize) -> String {
    format!(
        "{:.digits$} / {:.digits$} / {:.digits$}",
        s.min, s.median, s.max
    )
}

/// A "Coffer ≥ k × the compare relay" goal for the workload found by `prefix`.
fn versus(
    report: &CompareReport,
    name: &'static str,
    rule: &'static str,
    prefix: &str,
    goal: f64,
) -> TargetCheck {
    let w = find(report, prefix);
    let value = w.and_then(|w| w.ratio).map(|r| r.median);
    TargetCheck {
        name,
        rule,
        value,
        met: value.map(|v| v >= goal),
        note: match w {
            Some(w) => match (w.ratio, w.coffer_ops_per_s, w.compare_ops_per_s) {
                (Some(r), Some(c), Some(o)) => format!(
                    "{}: {:.0} vs {:.0} ops/s (medians); ratio min/med/max {} over {} round(s)",
                    w.name,
                    c.median,
                    o.median,
                    spread_text(&r, 1),
                    w.rounds.len()
                ),
                _ => format!("{}: the compare relay completed no operation", w.name),
            },
            None => format!("needs a {prefix} workload with --compare-url"),
        },
    }
}

/// The issue's goals, as far as this run can tell: `concurrency` is the run's client count;
/// `fetch_4k_cpu` is relay CPU per op ÷ the baseline's for `fetch:4k` when the run had it.
pub fn targets(
    report: &CompareReport,
    concurrency: usize,
    fetch_4k_cpu: Option<f64>,
) -> Vec<TargetCheck> {
    let mut out = vec![
        versus(
            report,
            "publish-vs-reference",
            "publish ≥ 10× the compare (reference) relay",
            "publish:",
            10.0,
        ),
        versus(
            report,
            "fetch-vs-reference",
            "fetch ≥ 20× the compare (reference) relay",
            "fetch:",
            20.0,
        ),
    ];

    let fh = report.fetch_vs_health.as_ref();
    out.push(TargetCheck {
        name: "fetch-vs-own-health",
        rule: "fetch ≥ 0.6× Coffer's own /health",
        value: fh.map(|f| f.ratio.median),
        met: fh.map(|f| f.ratio.median >= 0.6),
        note: match fh {
            Some(f) => format!(
                "{} ÷ health per round, min/med/max {}",
                f.fetch,
                spread_text(&f.ratio, 2)
            ),
            None => "needs a fetch:<size> and the health workload".into(),
        },
    });

    out.push(versus(
        report,
        "mixed-vs-reference",
        "mixed ≥ 10× the compare (reference) relay",
        "mixed",
        10.0,
    ));
    out.push(versus(
        report,
        "login-vs-reference",
        "login ≥ 12× the compare (reference) relay",
        "login",
        12.0,
    ));

    let worst = report
        .workloads
        .iter()
        .filter_map(|w| w.coffer_p99_ms.map(|p| (w.name.as_str(), p.max)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let at64 = concurrency == 64;
    out.push(TargetCheck {
        name: "p99-at-64-every",
        rule: "Coffer p99 < 20 ms at 64 clients for every workload",
        value: worst.map(|(_, p)| p),
        met: worst.filter(|_| at64).map(|(_, p)| p < 20.0),
        note: match worst {
            Some((name, p)) => format!(
                "highest p99 of any round: {p:.1} ms ({name}){}",
                if at64 {
                    String::new()
                } else {
                    format!(" at {concurrency} clients (evaluated only at 64)")
                }
            ),
            None => "needs compared workloads".into(),
        },
    });

    out.push(TargetCheck {
        name: "fetch-4k-cpu-vs-bare",
        rule: "relay CPU per authenticated 4 KiB fetch ≤ 2× the bare stack's (baseline ×cpu)",
        value: fetch_4k_cpu,
        met: fetch_4k_cpu.map(|v| v <= 2.0),
        note: match fetch_4k_cpu {
            Some(v) => format!("fetch:4k ×cpu {v:.1}"),
            None => "needs fetch:4k against a spawned relay with the baseline".into(),
        },
    });
    out
}

fn fmt_spread(s: Option<Spread>, digits: usize) -> String {
    s.map_or("-".into(), |s| format!("{:.digits$}", s.median))
}

/// The comparison as text (appended to the main table).
pub fn table(out: &mut String, c: &CompareReport) {
    let _ = writeln!(
        out,
        "\nagainst {} (--compare-url): {} round(s) per workload, the two relays back to back in \
         each (order alternating); medians over the rounds, ratio = Coffer ÷ {}",
        c.url, c.rounds, c.url
    );
    let _ = writeln!(
        out,
        "{:<16} {:>10} {:>10} {:>20} {:>10} {:>10} {:>12} | errors (Coffer, other)",
        "workload",
        "Coffer/s",
        "other/s",
        "ratio min/med/max",
        "Coffer p99",
        "other p99",
        "Coffer µs/op",
    );
    for w in &c.workloads {
        let (ce, oe) = w.errors();
        let _ = writeln!(
            out,
            "{:<16} {:>10} {:>10} {:>20} {:>10} {:>10} {:>12} | {}",
            w.name,
            fmt_spread(w.coffer_ops_per_s, 0),
            fmt_spread(w.compare_ops_per_s, 0),
            w.ratio.map_or("-".into(), |r| spread_text(&r, 1)),
            fmt_spread(w.coffer_p99_ms, 1),
            fmt_spread(w.compare_p99_ms, 1),
            fmt_spread(w.coffer_cpu_us_per_op, 0),
            if ce + oe == 0 {
                "-".to_owned()
            } else {
                format!("{ce}, {oe}")
            },
        );
    }
    if let Some(f) = &c.fetch_vs_health {
        let _ = writeln!(
            out,
            "{} ÷ health (Coffer's own, same round): min/med/max {}",
            f.fetch,
            spread_text(&f.ratio, 2)
        );
    }
    if !c.skipped.is_empty() {
        let _ = writeln!(
            out,
            "not run against the compare relay (it speaks v1 only): {}",
            c.skipped.join(", ")
        );
    }
    if !c.targets.is_empty() {
        let _ = writeln!(out, "\nissue 17 goals (this run):");
        for t in &c.targets {
            let verdict = match t.met {
                Some(true) => "met   ",
                Some(false) => "MISSED",
                None => "n/a   ",
            };
            let _ = writeln!(out, "  [{verdict}] {:<22} {} — {}", t.name, t.rule, t.note);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::runner::Latency;

    fn figures(ops_per_s: f64, p99: f64) -> Figures {
        Figures {
            ops_per_s,
            latency_ms: Latency {
                p99,
                ..Latency::default()
            },
            ..Figures::default()
        }
    }

    fn workload(name: &str, pairs: &[(f64, f64)], p99: f64) -> CompareWorkload {
        let rounds = pairs
            .iter()
            .enumerate()
            .map(|(i, &(c, o))| CompareRound {
                round: i + 1,
                coffer_first: i % 2 == 0,
                coffer: figures(c, p99),
                compare: figures(o, p99 * 10.0),
                ratio: ratio(c, o),
            })
            .collect();
        CompareWorkload::new(name.to_owned(), rounds)
    }

    #[test]
    fn spreads_take_the_middle() {
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[1.0, f64::NAN]), None);
        assert_eq!(
            Spread::of(&[3.0, 1.0, 2.0]),
            Some(Spread {
                min: 1.0,
                median: 2.0,
                max: 3.0
            })
        );
        assert_eq!(
            Spread::of(&[4.0, 1.0, 2.0, 10.0]).map(|s| s.median),
            Some(3.0)
        );
        assert_eq!(ratio(5.0, 0.0), None);
        assert_eq!(ratio(5.0, 2.0), Some(2.5));
    }

    #[test]
    fn ratios_are_per_round_and_summarised() {
        // Round ratios 10, 15, 12.5: the median is 12.5, not 1100/90 from the medians.
        let w = workload(
            "fetch:8k",
            &[(1000.0, 100.0), (1200.0, 80.0), (500.0, 40.0)],
            5.0,
        );
        let r = w.ratio.expect("ratios");
        assert_eq!((r.min, r.median, r.max), (10.0, 12.5, 15.0));
        assert_eq!(w.coffer_ops_per_s.map(|s| s.median), Some(1000.0));
        assert_eq!(w.median_round(), Some(0));
        assert_eq!(w.compare_p99_ms.map(|s| s.median), Some(50.0));
        // A compare relay that completed nothing gives no ratio at all, not an infinite one.
        let dead = workload("login", &[(1000.0, 0.0), (900.0, 100.0)], 5.0);
        assert_eq!(dead.ratio, None);
    }

    #[test]
    fn the_issue_goals_are_checked_on_medians() {
        let mut report = CompareReport {
            url: "http://127.0.0.1:1".into(),
            rounds: 3,
            workloads: vec![
                workload(
                    "login",
                    &[(1300.0, 100.0), (1250.0, 100.0), (1100.0, 100.0)],
                    8.0,
                ),
                workload(
                    "publish:8k",
                    &[(900.0, 100.0), (1100.0, 100.0), (1000.0, 100.0)],
                    12.0,
                ),
                workload(
                    "fetch:8k",
                    &[(2100.0, 100.0), (1900.0, 100.0), (2000.0, 100.0)],
                    25.0,
                ),
                workload(
                    "mixed",
                    &[(950.0, 100.0), (990.0, 100.0), (999.0, 100.0)],
                    9.0,
                ),
                workload(
                    "health",
                    &[(3000.0, 1.0), (4000.0, 1.0), (3000.0, 1.0)],
                    2.0,
                ),
            ],
            ..CompareReport::default()
        };
        report.fetch_vs_health = fetch_vs_health(&report);
        let f = report
            .fetch_vs_health
            .as_ref()
            .expect("fetch and health ran");
        assert_eq!(f.fetch, "fetch:8k");
        // 2100/3000 = 0.7, 1900/4000 = 0.475, 2000/3000 = 0.667.
        assert!((f.ratio.median - 2000.0 / 3000.0).abs() < 1e-9);

        let checks = targets(&report, 64, Some(2.5));
        let verdict = |name: &str| {
            let t = checks
                .iter()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("{name}"));
            (t.met, t.value)
        };
        assert_eq!(verdict("login-vs-reference"), (Some(true), Some(12.5)));
        assert_eq!(verdict("publish-vs-reference"), (Some(true), Some(10.0)));
        assert_eq!(verdict("fetch-vs-reference"), (Some(true), Some(20.0)));
        assert_eq!(verdict("mixed-vs-reference"), (Some(false), Some(9.9)));
        assert_eq!(verdict("fetch-vs-own-health").0, Some(true));
        assert_eq!(verdict("p99-at-64-every"), (Some(false), Some(25.0)));
        assert_eq!(verdict("fetch-4k-cpu-vs-bare"), (Some(false), Some(2.5)));

        // At another client count the p99 goal is not judged; without runs nothing is.
        let at32 = targets(&report, 32, None);
        let p99 = at32
            .iter()
            .find(|t| t.name == "p99-at-64-every")
            .expect("p99");
        assert_eq!(p99.met, None);
        assert!(p99.note.contains("evaluated only at 64"), "{}", p99.note);
        let empty = targets(&CompareReport::default(), 64, None);
        assert!(empty.iter().all(|t| t.met.is_none()), "{empty:?}");
    }
}
