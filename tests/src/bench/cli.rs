//! `coffer-bench`'s command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The default workloads: every operation of both protocols at the sizes the targets name.
pub const DEFAULT_WORKLOADS: &str = "login,publish:4k,publish:64k,publish:1m,fetch:4k,fetch:64k,\
    fetch:1m,fetch304:4k,mixed,v2-login,v2-publish:64k,v2-fetch:4k,v2-fetch304:4k,v2-mixed";

/// Load generator and benchmark for Coffer relays (and any relay that speaks PluralLog v1).
///
/// Registers pairs of systems and friends, logs them in, pairs them, and runs named workloads
/// at a fixed concurrency for a bounded time, printing operations/s, MiB/s, latency
/// percentiles and errors by status. With `--spawn` (the default without `--url`) it starts
/// the relay itself on a temporary data directory, samples its CPU, RSS and threads, and runs
/// every workload a second time against a baseline server (the same HTTP and TLS stack with a
/// fixed body, no auth, no storage) to report each figure also as a ratio to it.
///
/// Only point it at a relay you operate: it registers accounts and writes volumes.
#[derive(Debug, Parser)]
#[command(name = "coffer-bench", version)]
pub struct Cli {
    /// Internal modes.
    #[command(subcommand)]
    pub mode: Option<Mode>,
    /// Benchmark options.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Internal modes.
#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Serve the baseline (started by coffer-bench itself; prints `url:` and `pin:`).
    ServeBaseline {
        /// Directory for the baseline's certificate.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// Benchmark options.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Relay origin (https://host:port). Without it, the relay is spawned (`--spawn`).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// SHA-256 SPKI pin of the relay (`sha256/…`, as the relay prints it), for `--url`.
    #[arg(long, value_name = "PIN")]
    pub pin: Option<String>,
    /// Web PKI instead of a pin: PEM bundle of the CA roots to trust, for `--url`.
    #[arg(long, value_name = "FILE")]
    pub ca_pem: Option<PathBuf>,
    /// Allow a `--url` or `--compare-url` that is not a loopback address (you operate that relay, and know this
    /// registers accounts and uploads data there).
    #[arg(long)]
    pub allow_remote: bool,
    /// Another v1 relay to compare with (e.g. the PluralLog reference relay, or its stand-in
    /// from `scripts/reference-relay.sh up`): every selected v1 workload runs against the Coffer
    /// relay and against this one, back to back, `--rounds` times, and the ratios are printed.
    /// `http://host:port` (plain HTTP, as the reference relay serves) or `https://host:port`
    /// with `--compare-pin`. Loopback only unless `--allow-remote`. v2 workloads are not run
    /// against it.
    #[arg(long, value_name = "URL")]
    pub compare_url: Option<String>,
    /// SHA-256 SPKI pin of an `https://` `--compare-url`.
    #[arg(long, value_name = "PIN")]
    pub compare_pin: Option<String>,
    /// With `--compare-url`: rounds per workload, each one run against both relays (the order
    /// alternating from round to round); ratios are reported as min/median/max over the rounds.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub rounds: usize,
    /// Start the relay binary on a temporary data directory (127.0.0.1, rate limits raised).
    #[arg(long)]
    pub spawn: bool,
    /// The relay binary for `--spawn` (default: $COFFER_RELAY_BIN, else coffer-relay next to
    /// this executable).
    #[arg(long, value_name = "PATH")]
    pub relay_bin: Option<PathBuf>,
    /// Also sample processes this tool did not start during every measured run against the
    /// relay, as a named group: GROUP=PID[,PID…] (repeatable), each PID with all its
    /// descendants (a PostgreSQL postmaster with its backends). Each group's CPU (% of a core,
    /// µs per operation) and summed RSS are reported beside the relay's figures, and its CPU is
    /// not counted as other processes'. E.g. `--sample-pids relay=4101,4102 --sample-pids
    /// postgres=3990`.
    #[arg(long = "sample-pids", value_name = "GROUP=PID,…")]
    pub sample_pids: Vec<String>,
    /// Sample what `scripts/cluster.sh up` started with COFFER_CLUSTER_DIR=DIR, found by its
    /// PID files, as the groups relay, postgres, garage and haproxy (as --sample-pids).
    #[arg(long, value_name = "DIR")]
    pub cluster_dir: Option<PathBuf>,
    /// Extra environment for the spawned relay (KEY=VALUE, repeatable), e.g. COFFER_LOG=warn.
    #[arg(long = "relay-env", value_name = "KEY=VALUE")]
    pub relay_env: Vec<String>,
    /// Comma-separated workloads: login, publish:<size>, fetch:<size>, fetch304:<size>, mixed,
    /// each optionally prefixed with v2- (sizes: 4k, 64k, 1m or bytes); health (v1's
    /// unauthenticated `GET /api/v1/health`); and
    /// replicated-publish:<size>, which starts 3 relays of its own and measures a System's
    /// publish to 1, 2 and 3 of them (one system per client; needs --spawn).
    #[arg(long, default_value = DEFAULT_WORKLOADS, value_name = "LIST")]
    pub workloads: String,
    /// Simulated clients, each with its own connection.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// System/friend pairs registered (default: one per client). Workers share pairs beyond
    /// that; at most 8 clients per pair.
    #[arg(long)]
    pub pairs: Option<usize>,
    /// Measured seconds per workload.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Unmeasured warm-up seconds before each workload.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// At most this many measured operations per workload.
    #[arg(long, default_value_t = 5_000_000)]
    pub max_ops: u64,
    /// Skip the baseline runs.
    #[arg(long)]
    pub no_baseline: bool,
    /// Growth runs: comma-separated counts of stored volumes to seed, each on a fresh relay,
    /// e.g. 1000,10000,100000,1000000 (needs --spawn).
    #[arg(long, value_name = "LIST")]
    pub growth: Option<String>,
    /// Workloads of the growth runs.
    #[arg(long, default_value = "fetch:4k,mixed", value_name = "LIST")]
    pub growth_workloads: String,
    /// Seconds a seconds-long presigning phase may take per publish workload (v1 signs the
    /// whole blob; signing during the run would compete with the relay for CPU).
    #[arg(long, default_value_t = 4.0)]
    pub presign_seconds: f64,
    /// Before each measured run, wait up to this many seconds for the machine to be idle
    /// (other processes below 15% of one core over a second), so that builds or other users do
    /// not end up in the figures. 0 = do not wait. The CPU other processes used during each run
    /// is reported either way (`machine.other_cpu_percent`).
    #[arg(long, default_value_t = 0.0, value_name = "SECS")]
    pub wait_idle: f64,
    /// Soak instead of benchmarking: run `--soak-workload` for this many seconds against a
    /// relay started here, in windows of `--soak-window` seconds, then stop the relay and check
    /// its data. Fails (exit 1) on any error, RSS or file-descriptor growth past the stated
    /// bounds, or inconsistent stored data (see docs/BENCHMARKS.md).
    #[arg(long, value_name = "SECS")]
    pub soak: Option<f64>,
    /// Window length of `--soak`, seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub soak_window: f64,
    /// Workload of `--soak`.
    #[arg(long, default_value = "mixed", value_name = "NAME")]
    pub soak_workload: String,
    /// Write the report as JSON to this file (`-` = stdout, then no table is printed).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Where temporary data directories go (default: the system's temporary directory).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Keep the temporary directories (relay logs, databases) for inspection.
    #[arg(long)]
    pub keep: bool,
}
