//! Prometheus's standard `process_*` metrics for `/metrics`, read from `/proc/self` when
//! scraped: CPU time, resident and virtual memory, open and maximum file descriptors, start
//! time and threads. Only figures about the relay process itself, never about a user.
//!
//! Every read is bounded (at most [`MAX_FILE_BYTES`] of a file, at most [`MAX_FDS_COUNTED`]
//! descriptor entries), and a figure that cannot be read is left out rather than guessed. On
//! systems without `/proc` (not Linux) none is written.

use std::fmt::Write as _;
use std::io::Read as _;

/// Largest part of a `/proc` file read.
const MAX_FILE_BYTES: u64 = 64 * 1024;
/// Descriptor entries counted at most (a relay holding more has other problems).
const MAX_FDS_COUNTED: usize = 1_000_000;
/// Clock ticks per second of `/proc/*/stat` times: the kernel's `USER_HZ`, which its ABI fixes
/// at 100 on every architecture Linux reports to user space.
const USER_HZ: f64 = 100.0;

/// The figures that could be read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProcessFigures {
    /// User plus system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<u64>,
    /// Virtual memory size, bytes.
    pub virtual_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit of open file descriptors.
    pub max_fds: Option<u64>,
    /// Start time, Unix seconds.
    pub start_time_seconds: Option<f64>,
    /// Threads.
    pub threads: Option<u64>,
}

fn read_bounded(path: &str) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_FILE_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces and
/// parentheses: everything up to the last `)` is skipped). Index 0 is field 3 (`state`).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().collect())
}

/// A `Name:   <n> kB` line of `/proc/self/status`, in bytes.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    let value = line[name.len()..].trim().strip_suffix("kB")?.trim();
    value.parse::<u64>().ok()?.checked_mul(1024)
}

fn status_number(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].trim().parse().ok()
}

/// Parses the texts of `/proc/self/stat`, `/proc/self/status`, `/proc/self/limits` and
/// `/proc/stat` (any may be missing).
pub fn parse(
    stat: Option<&str>,
    status: Option<&str>,
    limits: Option<&str>,
    system_stat: Option<&str>,
) -> ProcessFigures {
    let fields = stat.and_then(stat_fields);
    // Field n of stat(5) is index n - 3 here.
    let field = |n: usize| -> Option<u64> { fields.as_ref()?.get(n - 3)?.parse().ok() };
    let cpu_seconds = field(14)
        .zip(field(15))
        .map(|(user, system)| user.saturating_add(system) as f64 / USER_HZ);
    let boot_time = system_stat.and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    let start_time_seconds = boot_time
        .zip(field(22))
        .map(|(boot, ticks)| boot as f64 + ticks as f64 / USER_HZ);
    let max_fds = limits.and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("Max open files"))?;
        line["Max open files".len()..]
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    });
    ProcessFigures {
        cpu_seconds,
        resident_bytes: status.and_then(|s| status_kib(s, "VmRSS:")),
        virtual_bytes: status.and_then(|s| status_kib(s, "VmSize:")),
        open_fds: None,
        max_fds,
        start_time_seconds,
        threads: status
            .and_then(|s| status_number(s, "Threads:"))
            .or_else(|| field(20)),
    }
}

/// Open descriptors: the entries of `/proc/self/fd` (the directory's own descriptor, open
/// while counting, is not counted).
fn open_fds() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    let n = entries.take(MAX_FDS_COUNTED).count();
    Some(n.saturating_sub(1) as u64)
}

/// The figures of this process, read now.
pub fn read() -> ProcessFigures {
    if !cfg!(target_os = "linux") {
        return ProcessFigures::default();
    }
    let (stat, status, limits, system) = (
        read_bounded("/proc/self/stat"),
        read_bounded("/proc/self/status"),
        read_bounded("/proc/self/limits"),
        read_bounded("/proc/stat"),
    );
    let mut figures = parse(
        stat.as_deref(),
        status.as_deref(),
        limits.as_deref(),
        system.as_deref(),
    );
    figures.open_fds = open_fds();
    figures
}

/// Appends the `process_*` families that could be read to a Prometheus text body.
pub fn render(out: &mut String, f: &ProcessFigures) {
    let mut family = |name: &str, kind: &str, help: &str, value: Option<String>| {
        if let Some(value) = value {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        }
    };
    let int = |v: Option<u64>| v.map(|v| v.to_string());
    let float = |v: Option<f64>| v.map(|v| format!("{v}"));
    family(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        float(f.cpu_seconds),
    );
    family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        int(f.resident_bytes),
    );
    family(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        int(f.virtual_bytes),
    );
    family(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        int(f.open_fds),
    );
    family(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        int(f.max_fds),
    );
    family(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        float(f.start_time_seconds),
    );
    family(
        "process_threads",
        "gauge",
        "Number of OS threads in the process.",
        int(f.threads),
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (coffer) relay) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 130 0 0 20 0 \
                        7 0 123456 104857600 2560 18446744073709551615";
    const STATUS: &str =
        "Name:\tcoffer-relay\nVmSize:\t  102400 kB\nVmRSS:\t   10240 kB\nThreads:\t7\n";
    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units\n\
                          Max open files            1024                 524288               files\n";

    #[test]
    fn parses_proc_texts() {
        let f = parse(
            Some(STAT),
            Some(STATUS),
            Some(LIMITS),
            Some("cpu  1 2 3\nbtime 1700000000\n"),
        );
        assert_eq!(f.cpu_seconds, Some(3.8));
        assert_eq!(f.resident_bytes, Some(10_485_760));
        assert_eq!(f.virtual_bytes, Some(104_857_600));
        assert_eq!(f.max_fds, Some(1024));
        assert_eq!(f.threads, Some(7));
        assert!((f.start_time_seconds.unwrap() - 1_700_001_234.56).abs() < 1e-3);
        let mut out = String::new();
        render(&mut out, &f);
        assert!(
            out.contains("process_resident_memory_bytes 10485760\n"),
            "{out}"
        );
        assert!(
            out.contains("# TYPE process_cpu_seconds_total counter\n"),
            "{out}"
        );
        // No open_fds read: that family is left out, not written as 0.
        assert!(!out.contains("process_open_fds"), "{out}");
    }

    #[test]
    fn malformed_texts_give_nothing() {
        for junk in [
            "",
            "no paren",
            "1 (x) S",
            "))))",
            "1 (a) S ? ? ? ? ? ? ? ? ? ? x y",
        ] {
            let f = parse(Some(junk), Some(junk), Some(junk), Some(junk));
            assert_eq!(f, ProcessFigures::default(), "{junk:?}");
        }
        let mut out = String::new();
        render(&mut out, &ProcessFigures::default());
        assert!(out.is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let f = read();
        assert!(f.resident_bytes.unwrap() > 0);
        assert!(f.open_fds.unwrap() > 0);
        assert!(f.cpu_seconds.is_some() && f.start_time_seconds.is_some());
    }
}
