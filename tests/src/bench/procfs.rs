//! What `/proc` says about a server process while a workload runs: memory (VmRSS sampled,
//! VmHWM = the kernel's lifetime peak), CPU time, and what its threads are doing (running,
//! or in uninterruptible sleep = waiting for the disk, which is where `fsync` waits), plus the
//! whole machine's busy time so that CPU used by *other* processes (noise) is visible.
//!
//! Beside the one server process, the monitor can sample named *groups* of processes the tool
//! did not start (`--sample-pids`, `--cluster-dir`: relay instances, PostgreSQL, Garage,
//! HAProxy), each root with all its descendants, so that a PostgreSQL postmaster counts with
//! its backends.
//!
//! Linux only; on error a figure is simply missing. CPU times are in clock ticks of
//! `USER_HZ` = 100 per second, which is what every Linux on x86-64 and arm64 uses (reading it
//! with `sysconf` would need `unsafe`, which this workspace forbids).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Clock ticks per second in `/proc/*/stat` and `/proc/stat`.
pub const TICKS_PER_SEC: f64 = 100.0;

/// How often the monitor samples.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// Groups are sampled every this many samples (100 ms): each sample walks the whole process
/// table for descendants, which costs the load generator more than one process's files.
const GROUP_EVERY: u64 = 5;

/// Memory of a process, KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Resident set now.
    pub rss_kib: u64,
    /// Peak resident set since the process started.
    pub hwm_kib: u64,
}

/// `VmRSS` and `VmHWM` of `pid`.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// The fields of a `stat` line after the command name (which may contain spaces).
fn stat_fields(text: &str) -> Option<Vec<&str>> {
    let after = text.rsplit_once(')')?.1;
    Some(after.split_whitespace().collect())
}

/// User + system CPU ticks of `pid` (all threads, children not included).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f = stat_fields(&text)?;
    // After ")": state(0) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    // utime(11) stime(12).
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// This process's CPU ticks.
pub fn own_cpu_ticks() -> Option<u64> {
    cpu_ticks(std::process::id())
}

/// Machine-wide (busy, total) ticks from `/proc/stat`, summed over all CPUs.
pub fn machine_ticks() -> Option<(u64, u64)> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Waits (up to `limit`) until the machine's busy time over one second is below
/// `max_percent` of one core; returns how long it waited and whether it became idle.
pub fn wait_idle(limit: Duration, max_percent: f64) -> (Duration, bool) {
    let started = Instant::now();
    loop {
        let Some((busy0, _)) = machine_ticks() else {
            return (started.elapsed(), false);
        };
        std::thread::sleep(Duration::from_secs(1));
        let Some((busy1, _)) = machine_ticks() else {
            return (started.elapsed(), false);
        };
        let percent = busy1.saturating_sub(busy0) as f64 / TICKS_PER_SEC * 100.0;
        if percent < max_percent {
            return (started.elapsed(), true);
        }
        if started.elapsed() >= limit {
            return (started.elapsed(), false);
        }
    }
}

/// Online CPUs.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// `/proc/loadavg`'s first three fields.
pub fn loadavg() -> Option<[f64; 3]> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().filter_map(|x| x.parse().ok());
    Some([it.next()?, it.next()?, it.next()?])
}

/// How many threads of `pid` are running (R) and in uninterruptible sleep (D).
fn thread_states(pid: u32) -> Option<(u32, u32)> {
    let (mut running, mut disk) = (0, 0);
    for entry in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let Ok(text) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        match stat_fields(&text).and_then(|f| f.first().copied()) {
            Some("R") => running += 1,
            Some("D") => disk += 1,
            _ => {}
        }
    }
    Some((running, disk))
}

/// The parent PID of `pid`.
fn parent(pid: u32) -> Option<u32> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_fields(&text)?.get(1)?.parse().ok()
}

/// `roots` and all their descendants that run now (one walk over `/proc`).
pub fn process_tree(roots: &[u32]) -> BTreeSet<u32> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = parent(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = BTreeSet::new();
    let mut todo: Vec<u32> = roots
        .iter()
        .copied()
        .filter(|p| fs::metadata(format!("/proc/{p}")).is_ok())
        .collect();
    while let Some(pid) = todo.pop() {
        if out.insert(pid) {
            todo.extend(children.get(&pid).into_iter().flatten().copied());
        }
    }
    out
}

/// Processes sampled together under one name: `roots` and their descendants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupSpec {
    /// `relay`, `postgres`, `garage`, `haproxy`, or the caller's name.
    pub name: String,
    /// The PIDs given or found; their descendants are sampled too.
    pub roots: Vec<u32>,
}

/// What the monitor saw of a group of processes during a window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupFigures {
    /// CPU used by the group, percent of one core.
    pub cpu_percent: f64,
    /// The group's CPU time per completed operation, microseconds.
    pub cpu_us_per_op: f64,
    /// Highest sum of VmRSS over the group's processes sampled during the window, MiB (pages
    /// shared between them, such as PostgreSQL's shared buffers, count once per process).
    pub rss_peak_mib: f64,
    /// Processes of the group seen during the window (roots and descendants).
    pub processes: usize,
}

/// A group's CPU ticks per process: at the window's start and as last seen. A process that
/// starts during the window counts from 0; one that exits counts up to its last sample (at most
/// [`GROUP_EVERY`] samples of its CPU are lost; its parent's `cutime` is not read, so nothing is
/// counted twice).
#[derive(Debug)]
struct GroupState {
    spec: GroupSpec,
    base: BTreeMap<u32, u64>,
    last: BTreeMap<u32, u64>,
    rss_peak_kib: u64,
}

impl GroupState {
    fn start(spec: GroupSpec) -> GroupState {
        let base: BTreeMap<u32, u64> = process_tree(&spec.roots)
            .into_iter()
            .filter_map(|p| Some((p, cpu_ticks(p)?)))
            .collect();
        GroupState {
            last: base.clone(),
            base,
            spec,
            rss_peak_kib: 0,
        }
    }

    fn sample(&mut self) {
        let mut rss = 0;
        for pid in process_tree(&self.spec.roots) {
            if let Some(t) = cpu_ticks(pid) {
                self.last.insert(pid, t);
            }
            rss += memory(pid).map_or(0, |m| m.rss_kib);
        }
        self.rss_peak_kib = self.rss_peak_kib.max(rss);
    }

    fn ticks(&self) -> u64 {
        self.last
            .iter()
            .map(|(pid, t)| t.saturating_sub(self.base.get(pid).copied().unwrap_or(0)))
            .sum()
    }
}

/// What the monitor saw of one process during a window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcessFigures {
    /// CPU used, percent of one core (200 = two cores busy).
    pub cpu_percent: f64,
    /// CPU time per completed operation, microseconds.
    pub cpu_us_per_op: f64,
    /// Highest VmRSS sampled during the window, MiB.
    pub rss_peak_mib: f64,
    /// VmHWM at the end of the window (lifetime peak, start-up included), MiB.
    pub vm_hwm_mib: f64,
    /// Mean number of threads running (state R) per sample.
    pub threads_running_avg: f64,
    /// Mean number of threads waiting for the disk (state D: `fsync`, reads) per sample.
    pub threads_disk_wait_avg: f64,
    /// Share of samples in which at least one thread waited for the disk.
    pub disk_wait_share: f64,
}

/// The whole machine during a window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MachineFigures {
    /// Busy CPU, percent of one core, all processes.
    pub busy_percent: f64,
    /// The load generator's own CPU, percent of one core.
    pub bench_cpu_percent: f64,
    /// CPU used by processes other than the server, the sampled groups and the load generator
    /// (noise: builds, other users), percent of one core. Above ~10 the figures of this window
    /// are suspect.
    pub other_cpu_percent: f64,
}

/// Samples a server process and groups of other processes in a background thread between
/// [`Monitor::start`] and [`Monitor::stop`].
#[derive(Debug)]
pub struct Monitor {
    pid: Option<u32>,
    started: Instant,
    cpu0: Option<u64>,
    own0: Option<u64>,
    machine0: Option<(u64, u64)>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Samples>>,
}

#[derive(Debug, Default)]
struct Samples {
    n: u64,
    rss_peak_kib: u64,
    running: u64,
    disk: u64,
    with_disk: u64,
    groups: Vec<GroupState>,
}

/// What [`Monitor::stop`] returns: the server, the groups by name, the machine.
#[derive(Debug, Default)]
pub struct Window {
    /// The server process, when one was given.
    pub server: Option<ProcessFigures>,
    /// Each group, by name.
    pub groups: BTreeMap<String, GroupFigures>,
    /// The whole machine.
    pub machine: MachineFigures,
}

impl Monitor {
    /// Starts sampling `pid` (the server this tool started, if any) and `groups` (processes
    /// it did not start); the machine is sampled either way.
    pub fn start(pid: Option<u32>, groups: &[GroupSpec]) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let groups: Vec<GroupState> = groups.iter().cloned().map(GroupState::start).collect();
        let thread = (pid.is_some() || !groups.is_empty()).then(|| {
            std::thread::spawn(move || {
                let mut s = Samples {
                    groups,
                    ..Samples::default()
                };
                let mut round: u64 = 0;
                while !flag.load(Ordering::Relaxed) {
                    if let Some(pid) = pid {
                        if let Some(m) = memory(pid) {
                            s.rss_peak_kib = s.rss_peak_kib.max(m.rss_kib);
                        }
                        if let Some((r, d)) = thread_states(pid) {
                            s.n += 1;
                            s.running += u64::from(r);
                            s.disk += u64::from(d);
                            s.with_disk += u64::from(d > 0);
                        }
                    }
                    if round.is_multiple_of(GROUP_EVERY) {
                        s.groups.iter_mut().for_each(GroupState::sample);
                    }
                    round += 1;
                    std::thread::sleep(SAMPLE_EVERY);
                }
                s
            })
        });
        Monitor {
            pid,
            started: Instant::now(),
            cpu0: pid.and_then(cpu_ticks),
            own0: own_cpu_ticks(),
            machine0: machine_ticks(),
            stop,
            thread,
        }
    }

    /// Stops sampling; `ops` completed operations happened in the window.
    pub fn stop(mut self, ops: u64) -> Window {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples = self
            .thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        samples.groups.iter_mut().for_each(GroupState::sample);
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let pct = |ticks: u64| ticks as f64 / TICKS_PER_SEC / secs * 100.0;
        let per_op = |ticks: u64| {
            if ops == 0 {
                0.0
            } else {
                ticks as f64 / TICKS_PER_SEC * 1e6 / ops as f64
            }
        };
        let server_ticks = match (self.pid.and_then(cpu_ticks), self.cpu0) {
            (Some(a), Some(b)) => Some(a.saturating_sub(b)),
            _ => None,
        };
        let group_ticks: u64 = samples.groups.iter().map(GroupState::ticks).sum();
        let groups = samples
            .groups
            .iter()
            .map(|g| {
                let ticks = g.ticks();
                let figures = GroupFigures {
                    cpu_percent: pct(ticks),
                    cpu_us_per_op: per_op(ticks),
                    rss_peak_mib: g.rss_peak_kib as f64 / 1024.0,
                    processes: g.last.len(),
                };
                (g.spec.name.clone(), figures)
            })
            .collect();
        let own_ticks = match (own_cpu_ticks(), self.own0) {
            (Some(a), Some(b)) => a.saturating_sub(b),
            _ => 0,
        };
        let machine = match (machine_ticks(), self.machine0) {
            (Some((busy1, _)), Some((busy0, _))) => {
                let busy = busy1.saturating_sub(busy0);
                MachineFigures {
                    busy_percent: pct(busy),
                    bench_cpu_percent: pct(own_ticks),
                    other_cpu_percent: pct(
                        busy.saturating_sub(own_ticks + server_ticks.unwrap_or(0) + group_ticks)
                    ),
                }
            }
            _ => MachineFigures::default(),
        };
        let process = match (self.pid, server_ticks) {
            (Some(pid), Some(ticks)) => {
                let n = samples.n.max(1) as f64;
                Some(ProcessFigures {
                    cpu_percent: pct(ticks),
                    cpu_us_per_op: per_op(ticks),
                    rss_peak_mib: samples.rss_peak_kib as f64 / 1024.0,
                    vm_hwm_mib: memory(pid).map_or(0.0, |m| m.hwm_kib as f64 / 1024.0),
                    threads_running_avg: samples.running as f64 / n,
                    threads_disk_wait_avg: samples.disk as f64 / n,
                    disk_wait_share: samples.with_disk as f64 / n,
                })
            }
            _ => None,
        };
        Window {
            server: process,
            groups,
            machine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        let m = memory(me).expect("VmRSS and VmHWM of this process");
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
        assert!(cpu_ticks(me).is_some());
        let (busy, total) = machine_ticks().expect("/proc/stat");
        assert!(total >= busy);
        assert!(thread_states(me).is_some());
    }

    /// A group counts its root's descendants: a busy child of a sleeping shell shows up as the
    /// shell's group's CPU, and every process of the tree is counted.
    #[test]
    fn a_group_counts_the_descendants_of_its_root() {
        // sh (sleeps in `wait`) -> a second sh that spins until killed.
        let mut parent = std::process::Command::new("sh")
            .args(["-c", "sh -c 'while :; do :; done' & wait"])
            .spawn()
            .expect("spawn sh");
        let root = parent.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_tree(&[root]).len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let tree = process_tree(&[root]);
        let monitor = Monitor::start(
            None,
            &[GroupSpec {
                name: "tree".into(),
                roots: vec![root],
            }],
        );
        std::thread::sleep(Duration::from_millis(600));
        let window = monitor.stop(10);
        for pid in &tree {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
        let _ = parent.wait();
        assert!(tree.len() >= 2, "no child of sh found: {tree:?}");
        let g = window.groups.get("tree").expect("the group's figures");
        assert!(g.processes >= 2, "{g:?}");
        assert!(g.cpu_percent > 0.0 && g.cpu_us_per_op > 0.0, "{g:?}");
        assert!(g.rss_peak_mib > 0.0, "{g:?}");
        // The root shell only waits: the CPU is its child's.
        assert!(
            cpu_ticks(root).unwrap_or(0) < 5,
            "the root itself should be idle"
        );
    }

    #[test]
    fn stat_fields_skip_a_command_with_spaces() {
        let line = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0";
        let f = stat_fields(line).expect("fields");
        assert_eq!(f[0], "S");
        assert_eq!(f[11], "7");
        assert_eq!(f[12], "3");
    }
}
