//! The soak: one workload (`mixed` by default) against a relay this tool starts, for a long
//! bounded time in windows, watching what must not grow; then the relay is stopped and its
//! data directory checked.
//!
//! Pass/fail, stated up front and printed with the figures:
//! - **no error**: every operation of every window got an expected status;
//! - **memory**: the relay's peak RSS in the last window is at most [`RSS_SLACK_MIB`] above
//!   its peak in the first (which includes the warm-up: caches filled, connections opened);
//! - **file descriptors**: the relay's open descriptors, counted after each window once its
//!   clients have gone, never exceed the first count by more than [`FD_SLACK`];
//! - **stored state**: after a graceful stop, `coffer_relay::store::check` finds the database
//!   and blob files consistent (integrity and foreign keys, every row's blob present with its
//!   size, quotas adding up) and no temporary file left behind.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use coffer_relay::config::Config;
use coffer_relay::store::check::{Consistency, check};
use serde::Serialize;

use super::conn::{Target, TrustSpec};
use super::runner::{Figures, RunSettings};
use super::setup::World;
use super::workload::Workload;
use super::{Session, progress};

/// Allowed growth of the relay's peak RSS from the first window to the last, MiB.
pub const RSS_SLACK_MIB: f64 = 16.0;
/// Allowed growth of the relay's open file descriptors from the first window's count.
pub const FD_SLACK: u64 = 8;

/// One window of the soak.
#[derive(Debug, Clone, Serialize)]
pub struct SoakWindow {
    /// Seconds since the soak began, at the window's end.
    pub at_s: f64,
    /// Operations and successes.
    pub ops: u64,
    /// Successful operations.
    pub ok_ops: u64,
    /// Successful operations per second.
    pub ops_per_s: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Unexpected statuses by class.
    pub errors: std::collections::BTreeMap<String, u64>,
    /// The relay's peak RSS during the window, MiB.
    pub rss_peak_mib: f64,
    /// The relay's open file descriptors after the window.
    pub open_fds: u64,
}

/// The soak's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// The workload.
    pub workload: String,
    /// Seconds asked for.
    pub seconds: f64,
    /// Window length, seconds.
    pub window_s: f64,
    /// The windows.
    pub windows: Vec<SoakWindow>,
    /// What the data directory check found after the relay stopped.
    pub consistency: Consistency,
    /// Each rule and whether it held.
    pub checks: Vec<SoakCheck>,
    /// All of them.
    pub passed: bool,
}

/// One pass/fail rule.
#[derive(Debug, Clone, Serialize)]
pub struct SoakCheck {
    /// Short name.
    pub name: &'static str,
    /// The rule.
    pub rule: String,
    /// What was seen.
    pub seen: String,
    /// Whether it held.
    pub held: bool,
}

/// The relay's open file descriptors.
fn open_fds(pid: u32) -> anyhow::Result<u64> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))
        .context("list the relay's file descriptors")?
        .count() as u64)
}

impl Session {
    /// Runs the soak (see the module documentation).
    pub(super) async fn soak(
        &self,
        workload: Workload,
        total: Duration,
    ) -> anyhow::Result<SoakReport> {
        let window = Duration::from_secs_f64(self.args.soak_window.clamp(1.0, 3600.0));
        let data = self.work.join("relay");
        let server = self.start_relay(&data, "relay")?;
        let pid = server.pid();
        let trust = TrustSpec::Pinned(server.pin);
        let target = Arc::new(Target::new(&server.url, &trust)?);
        progress(format!("soak: setting up {} pairs", self.pairs));
        let world = Arc::new(World::create(workload.proto, target, &trust, self.pairs).await?);

        let started = Instant::now();
        let mut windows = Vec::new();
        let mut first_window = true;
        while started.elapsed() < total {
            let settings = RunSettings {
                duration: window
                    .min(total.saturating_sub(started.elapsed()))
                    .max(Duration::from_secs(1)),
                warmup: if first_window {
                    self.settings.warmup
                } else {
                    Duration::ZERO
                },
                max_ops: self.settings.max_ops,
            };
            first_window = false;
            let (figures, _) = self
                .run_relay_with(&world, &workload, Some(pid), &[], settings)
                .await?;
            // Clients have closed their connections; give the relay a moment to see it.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let w = window_of(&figures, started.elapsed(), open_fds(pid)?);
            progress(format!(
                "soak: {:.0} s: {:.0} ops/s, p99 {:.1} ms, RSS {:.1} MiB, {} fds, {} errors",
                w.at_s,
                w.ops_per_s,
                w.p99_ms,
                w.rss_peak_mib,
                w.open_fds,
                w.errors.values().sum::<u64>()
            ));
            windows.push(w);
        }
        drop(world);
        server.stop()?;

        let config = Config {
            data_dir: data.clone(),
            ..Config::default()
        };
        let consistency = check(&config.database_path(), &config.blob_path())
            .map_err(|e| anyhow!("checking {}: {e}", data.display()))?;
        let checks = judge(&windows, &consistency, &data);
        Ok(SoakReport {
            workload: workload.name(),
            seconds: total.as_secs_f64(),
            window_s: window.as_secs_f64(),
            passed: checks.iter().all(|c| c.held),
            windows,
            consistency,
            checks,
        })
    }
}

fn window_of(f: &Figures, at: Duration, open_fds: u64) -> SoakWindow {
    SoakWindow {
        at_s: at.as_secs_f64(),
        ops: f.ops,
        ok_ops: f.ok_ops,
        ops_per_s: f.ops_per_s,
        p99_ms: f.latency_ms.p99,
        errors: f.errors.clone(),
        rss_peak_mib: f.server.as_ref().map_or(0.0, |s| s.rss_peak_mib),
        open_fds,
    }
}

fn judge(windows: &[SoakWindow], consistency: &Consistency, data: &Path) -> Vec<SoakCheck> {
    let mut out = Vec::new();
    let failed: u64 = windows.iter().map(|w| w.ops - w.ok_ops).sum();
    let errors: u64 = windows.iter().flat_map(|w| w.errors.values()).sum();
    let total: u64 = windows.iter().map(|w| w.ops).sum();
    out.push(SoakCheck {
        name: "no-errors",
        rule: "every operation of every window got an expected status".into(),
        seen: format!("{total} operations, {failed} failed, {errors} unexpected statuses"),
        held: total > 0 && failed == 0 && errors == 0,
    });
    if let (Some(first), Some(last)) = (windows.first(), windows.last()) {
        let growth = last.rss_peak_mib - first.rss_peak_mib;
        out.push(SoakCheck {
            name: "rss-bounded",
            rule: format!("peak RSS of the last window ≤ the first's + {RSS_SLACK_MIB} MiB"),
            seen: format!(
                "{:.1} MiB → {:.1} MiB ({growth:+.1} MiB; highest window {:.1} MiB)",
                first.rss_peak_mib,
                last.rss_peak_mib,
                windows.iter().map(|w| w.rss_peak_mib).fold(0.0, f64::max)
            ),
            held: growth <= RSS_SLACK_MIB,
        });
        let most = windows.iter().map(|w| w.open_fds).max().unwrap_or(0);
        out.push(SoakCheck {
            name: "fds-bounded",
            rule: format!("open descriptors after each window ≤ the first count + {FD_SLACK}"),
            seen: format!("{} after the first window, at most {most}", first.open_fds),
            held: most <= first.open_fds + FD_SLACK,
        });
    }
    out.push(SoakCheck {
        name: "data-consistent",
        rule: "after a graceful stop: integrity and foreign keys ok, every row's blob present \
               with its size, quotas add up, no temporary file"
            .into(),
        seen: format!(
            "{}: integrity {}, {} rows, {} missing, {} wrong sizes, {} wrong quotas, {} orphans, \
             {} temporary files{}",
            data.display(),
            consistency.integrity,
            consistency.volume_rows,
            consistency.missing_blobs,
            consistency.wrong_sizes,
            consistency.wrong_quotas,
            consistency.orphan_files,
            consistency.temporary_files,
            if consistency.problems.is_empty() {
                String::new()
            } else {
                format!("; {}", consistency.problems.join("; "))
            }
        ),
        held: consistency.is_consistent() && consistency.temporary_files == 0,
    });
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn window(ok: u64, failed: u64, rss: f64, fds: u64) -> SoakWindow {
        SoakWindow {
            at_s: 1.0,
            ops: ok + failed,
            ok_ops: ok,
            ops_per_s: 1.0,
            p99_ms: 1.0,
            errors: Default::default(),
            rss_peak_mib: rss,
            open_fds: fds,
        }
    }

    fn consistent() -> Consistency {
        Consistency {
            integrity: "ok".into(),
            ..Consistency::default()
        }
    }

    fn held(checks: &[SoakCheck]) -> Vec<(&'static str, bool)> {
        checks.iter().map(|c| (c.name, c.held)).collect()
    }

    #[test]
    fn each_rule_can_fail() {
        let dir = Path::new("/data");
        let good = [window(10, 0, 40.0, 30), window(10, 0, 50.0, 34)];
        assert!(judge(&good, &consistent(), dir).iter().all(|c| c.held));

        let failed = [window(10, 0, 40.0, 30), window(9, 1, 41.0, 30)];
        assert_eq!(
            held(&judge(&failed, &consistent(), dir))[0],
            ("no-errors", false)
        );

        let growing = [
            window(10, 0, 40.0, 30),
            window(10, 0, 40.0 + RSS_SLACK_MIB + 1.0, 30),
        ];
        assert_eq!(
            held(&judge(&growing, &consistent(), dir))[1],
            ("rss-bounded", false)
        );

        let leaking = [
            window(10, 0, 40.0, 30),
            window(10, 0, 40.0, 30 + FD_SLACK + 1),
        ];
        assert_eq!(
            held(&judge(&leaking, &consistent(), dir))[2],
            ("fds-bounded", false)
        );

        let torn = Consistency {
            wrong_sizes: 1,
            ..consistent()
        };
        assert_eq!(
            held(&judge(&good, &torn, dir))[3],
            ("data-consistent", false)
        );
        let left_over = Consistency {
            temporary_files: 1,
            ..consistent()
        };
        assert_eq!(
            held(&judge(&good, &left_over, dir))[3],
            ("data-consistent", false)
        );
    }
}
