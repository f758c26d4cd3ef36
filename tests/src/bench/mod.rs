//! `coffer-bench`: the relay's speed, its cost as data grows, and a baseline to compare with.
//! See `docs/BENCHMARKS.md` for the commands, the figures of a reference run and how to read
//! them; `coffer-bench --help` for every option.
//!
//! Layout: [`cli`] (options), [`conn`] (the lean HTTPS client), [`setup`] (accounts, pairing,
//! real volumes), [`workload`] (the named workloads and the simulated clients), [`runner`]
//! (concurrency, time and count bounds, histograms), [`procfs`] (CPU, RSS, thread states of
//! the server), [`spawn`] (starting the relay and the baseline), [`baseline`] (the baseline
//! server), [`seed`] (growth data), [`probe`] (the disk's fsync rate), [`report`] (JSON and
//! tables), [`replicated`] (a System's publish to 1, 2 and 3 relays), [`compare`] (the same v1
//! workloads against another v1 relay, `--compare-url`), [`sampled`] (processes it did not
//! start, sampled beside the relay: `--sample-pids`, `--cluster-dir`).
//!
//! What it must never do: send load to a relay nobody asked for. Without `--url` it only
//! talks to servers it started itself on 127.0.0.1; with a non-loopback `--url` it refuses to
//! run unless `--allow-remote` is given; the same holds for `--compare-url`.

pub mod baseline;
pub mod cli;
pub mod compare;
pub mod conn;
pub mod probe;
pub mod procfs;
pub mod replicated;
pub mod report;
pub mod runner;
pub mod sampled;
pub mod seed;
pub mod setup;
pub mod soak;
pub mod spawn;
pub mod workload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

use self::cli::RunArgs;
use self::compare::{CompareReport, CompareRound, CompareWorkload};
use self::conn::{Target, TrustSpec};
use self::procfs::GroupSpec;
use self::report::{
    GrowthLevel, GrowthWorkload, Machine, Ratios, RelayInfo, Report, Settings, TargetCheck,
    WorkloadReport,
};
use self::runner::{Figures, RunSettings};
use self::setup::{Proto, World, v1_resign};
use self::spawn::Server;
use self::workload::{BaselineWorker, Kind, RelayWorker, Workload};

/// Prints a progress line to stderr.
fn progress(text: impl AsRef<str>) {
    eprintln!("coffer-bench: {}", text.as_ref());
}

fn parse_list(text: &str) -> anyhow::Result<Vec<Workload>> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Workload::parse)
        .collect()
}

fn seconds(s: f64, what: &str) -> anyhow::Result<Duration> {
    if !(s.is_finite() && (0.0..=3600.0).contains(&s)) {
        bail!("{what} must be between 0 and 3600 seconds");
    }
    Ok(Duration::from_secs_f64(s))
}

/// Everything one benchmark session holds.
struct Session {
    args: RunArgs,
    settings: RunSettings,
    pairs: usize,
    work: PathBuf,
    _work_guard: Option<tempfile::TempDir>,
    relay_bin: Option<PathBuf>,
    relay_env: BTreeMap<String, String>,
    /// `--sample-pids` and `--cluster-dir`: sampled in every measured run against the relay.
    groups: Vec<GroupSpec>,
}

/// Splits `--workloads` into the ordinary workloads and the sizes of `replicated-publish`.
fn parse_workloads(text: &str) -> anyhow::Result<(Vec<Workload>, Vec<usize>)> {
    let mut workloads = Vec::new();
    let mut replicated = Vec::new();
    for item in text.split(',').filter(|s| !s.trim().is_empty()) {
        match replicated::parse(item)? {
            Some(size) => replicated.push(size),
            None => workloads.push(Workload::parse(item)?),
        }
    }
    Ok((workloads, replicated))
}

/// Runs a benchmark as `args` says and returns its report.
pub async fn run(args: RunArgs) -> anyhow::Result<Report> {
    let (workloads, replicated) = parse_workloads(&args.workloads)?;
    let growth_workloads = parse_list(&args.growth_workloads)?;
    let growth_levels: Vec<u64> = match &args.growth {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().replace('_', "").parse::<u64>())
            .collect::<Result<_, _>>()
            .context("--growth: comma-separated volume counts")?,
    };
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if !(1..=100).contains(&args.rounds) {
        bail!("--rounds must be between 1 and 100");
    }
    if args.compare_url.is_none() && (args.rounds != 1 || args.compare_pin.is_some()) {
        bail!("--rounds and --compare-pin go with --compare-url");
    }
    if args.compare_url.is_some() && args.soak.is_some() {
        bail!("--compare-url compares workloads; it does not apply to --soak");
    }
    let pairs = args.pairs.unwrap_or(args.concurrency).max(1);
    if args.concurrency > pairs * setup::NAMES.len() {
        bail!(
            "--concurrency {} needs at least {} pairs (8 clients per pair at most)",
            args.concurrency,
            args.concurrency.div_ceil(setup::NAMES.len())
        );
    }
    let spawned = args.url.is_none() || args.spawn;
    if !spawned && !growth_levels.is_empty() {
        bail!("--growth seeds a relay's database before starting it: it needs --spawn");
    }
    if !spawned && !replicated.is_empty() {
        bail!(
            "{}<size> starts its own relays: it needs --spawn",
            replicated::PREFIX
        );
    }
    let settings = RunSettings {
        duration: seconds(args.duration, "--duration")?,
        warmup: seconds(args.warmup, "--warmup")?,
        max_ops: args.max_ops,
    };
    let (work, guard) = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            let t = tempfile::Builder::new()
                .prefix("coffer-bench-")
                .tempdir_in(dir)?;
            (t.path().to_owned(), Some(t))
        }
        None => {
            let t = tempfile::Builder::new().prefix("coffer-bench-").tempdir()?;
            (t.path().to_owned(), Some(t))
        }
    };
    let guard = if args.keep {
        guard.map(tempfile::TempDir::keep);
        progress(format!("keeping {}", work.display()));
        None
    } else {
        guard
    };
    let mut groups = sampled::parse_sample_pids(&args.sample_pids)?;
    if let Some(dir) = &args.cluster_dir {
        let (found, notes) = sampled::cluster_groups(dir)?;
        for note in notes {
            progress(format!("--cluster-dir: not sampled: {note}"));
        }
        groups = sampled::merge(groups, found)?;
    }
    for g in &groups {
        progress(format!(
            "sampling {} (PIDs {} and their descendants)",
            g.name,
            g.roots
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    if !groups.is_empty() && (args.soak.is_some() || !growth_levels.is_empty()) {
        bail!("--sample-pids and --cluster-dir go with the workloads, not --soak or --growth");
    }
    let mut relay_env = BTreeMap::new();
    for kv in &args.relay_env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("--relay-env {kv:?}: expected KEY=VALUE"))?;
        relay_env.insert(k.to_owned(), v.to_owned());
    }
    let session = Session {
        relay_bin: spawned
            .then(|| spawn::relay_binary(args.relay_bin.as_deref()))
            .transpose()?,
        args,
        settings,
        pairs,
        work,
        _work_guard: guard,
        relay_env,
        groups,
    };
    if let Some(seconds) = session.args.soak {
        return session.run_soak(seconds).await;
    }
    session
        .run(
            spawned,
            &workloads,
            &replicated,
            &growth_workloads,
            &growth_levels,
        )
        .await
}

impl Session {
    async fn run(
        &self,
        spawned: bool,
        workloads: &[Workload],
        replicated: &[usize],
        growth_workloads: &[Workload],
        growth_levels: &[u64],
    ) -> anyhow::Result<Report> {
        let mut report = Report {
            tool: "coffer-bench",
            version: env!("CARGO_PKG_VERSION"),
            started_unix: setup::now_unix(),
            machine: Machine {
                cpus: procfs::cpus(),
                kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_default(),
                loadavg_start: procfs::loadavg(),
                loadavg_end: None,
            },
            settings: Settings {
                concurrency: self.args.concurrency,
                pairs: self.pairs,
                duration_s: self.settings.duration.as_secs_f64(),
                warmup_s: self.settings.warmup.as_secs_f64(),
                max_ops: self.settings.max_ops,
                spawned,
                baseline: false,
            },
            sampled: self.groups.clone(),
            ..Report::default()
        };

        // Replicated publishes first, on relays of their own, while nothing else runs.
        for &size in replicated {
            let run = self
                .replicated(size)
                .await
                .with_context(|| replicated::name(size))?;
            report.replicated.push(run);
        }
        if workloads.is_empty() && growth_levels.is_empty() && !replicated.is_empty() {
            report.machine.loadavg_end = procfs::loadavg();
            return Ok(report);
        }

        // The relay of the main run.
        let (relay, trust, target) = if spawned {
            let data = self.work.join("relay");
            let server = self.start_relay(&data, "relay")?;
            let trust = TrustSpec::Pinned(server.pin);
            let target = Arc::new(Target::new(&server.url, &trust)?);
            (Some(server), trust, target)
        } else {
            let url = self.args.url.clone().ok_or_else(|| anyhow!("--url"))?;
            let trust = match (&self.args.pin, &self.args.ca_pem) {
                (Some(pin), None) => {
                    TrustSpec::Pinned(pin.parse().map_err(|e| anyhow!("--pin: {e}"))?)
                }
                (None, Some(pem)) => TrustSpec::WebPkiPem(
                    std::fs::read(pem).with_context(|| format!("read {}", pem.display()))?,
                ),
                _ => bail!("with --url, give exactly one of --pin and --ca-pem"),
            };
            let target = Arc::new(Target::new(&url, &trust)?);
            if !target.is_loopback() && !self.args.allow_remote {
                bail!(
                    "{} is not a loopback address: pass --allow-remote if you operate that relay",
                    target.origin
                );
            }
            (None, trust, target)
        };
        report.relay = RelayInfo {
            url: target.origin.clone(),
            startup_ms: relay.as_ref().map(|s| s.startup.as_secs_f64() * 1000.0),
            ..RelayInfo::default()
        };
        let pid = relay.as_ref().map(Server::pid);

        // The baseline: only beside a local server, so that both run on the same machine.
        let baseline = if !self.args.no_baseline && target.is_loopback() && !workloads.is_empty() {
            let dir = self.work.join("baseline");
            std::fs::create_dir_all(&dir)?;
            let server = spawn::start_baseline(&dir, &self.work.join("baseline-stderr.log"))?;
            let base_target = Arc::new(Target::new(&server.url, &TrustSpec::Pinned(server.pin))?);
            Some((server, base_target))
        } else {
            None
        };
        report.settings.baseline = baseline.is_some();

        // The relay to compare with: v1 only, with accounts and volumes of its own.
        let mut compared = CompareReport::default();
        let compare_target = match &self.args.compare_url {
            Some(url) => Some(self.compare_target(url)?),
            None => None,
        };
        let compare_world = match &compare_target {
            Some(t) if workloads.iter().any(|w| w.proto == Proto::V1) => {
                let started = Instant::now();
                progress(format!(
                    "setting up {} v1 pairs on the compare relay {}",
                    self.pairs, t.origin
                ));
                let world = World::create(Proto::V1, Arc::clone(t), &trust, self.pairs)
                    .await
                    .context("set-up on the compare relay")?;
                world.publish_all("members", 4096).await?;
                world
                    .verify_read("members", 4096)
                    .await
                    .context("the verified read on the compare relay")?;
                compared.setup_s = Some(started.elapsed().as_secs_f64());
                Some(Arc::new(world))
            }
            _ => None,
        };

        let mut worlds: BTreeMap<&'static str, Arc<World>> = BTreeMap::new();
        for w in workloads {
            let key = proto_key(w.proto);
            if !worlds.contains_key(key) {
                let started = Instant::now();
                progress(format!("setting up {} {key} pairs", self.pairs));
                let world = World::create(w.proto, Arc::clone(&target), &trust, self.pairs).await?;
                world.publish_all("members", 4096).await?;
                world
                    .verify_read("members", 4096)
                    .await
                    .context("the verified read after setup")?;
                report
                    .relay
                    .setup_s
                    .insert(key.to_owned(), started.elapsed().as_secs_f64());
                worlds.insert(key, Arc::new(world));
            }
        }

        for w in workloads {
            let world = Arc::clone(&worlds[proto_key(w.proto)]);
            let (relay_figures, shapes) = match (&compare_world, w.proto) {
                (Some(other), Proto::V1) => {
                    let (rounds, figures, shapes) =
                        self.compare_rounds(&world, other, w, pid).await?;
                    compared.workloads.push(rounds);
                    (figures, shapes)
                }
                (Some(_), Proto::V2) => {
                    progress(format!(
                        "{}: not run against the compare relay (it speaks v1 only)",
                        w.name()
                    ));
                    compared.skipped.push(w.name());
                    self.run_relay(&world, w, pid).await?
                }
                (None, _) => self.run_relay(&world, w, pid).await?,
            };
            let base_figures = match &baseline {
                Some((server, base_target)) => {
                    progress(format!("{}: baseline", w.name()));
                    self.wait_idle().await;
                    let book = Arc::new(shapes.clone());
                    let workers = (0..self.args.concurrency)
                        .map(|i| BaselineWorker::new(*w, Arc::clone(&book), i, self.pairs))
                        .collect();
                    let (out, _) = runner::run(
                        Arc::clone(base_target),
                        workers,
                        self.settings,
                        Some(server.pid()),
                        &[],
                    )
                    .await?;
                    Some(out.figures)
                }
                None => None,
            };
            let ratio = base_figures.as_ref().map(|b| Ratios::of(&relay_figures, b));
            report.workloads.push(WorkloadReport {
                name: w.name(),
                relay: relay_figures,
                baseline: base_figures,
                ratio,
                shapes,
            });
        }

        if let Some(relay) = relay {
            report.relay.vm_hwm_mib_end =
                procfs::memory(relay.pid()).map(|m| m.hwm_kib as f64 / 1024.0);
            report.fsync_probe = probe::fsync_probe(&self.work.join("relay")).ok();
            relay.stop()?;
        }
        if let Some((server, _)) = baseline {
            server.stop()?;
        }
        drop(worlds);
        drop(compare_world);
        if let Some(t) = &compare_target {
            compared.url.clone_from(&t.origin);
            compared.rounds = self.args.rounds;
            compared.fetch_vs_health = compare::fetch_vs_health(&compared);
            let fetch_4k_cpu = report
                .workloads
                .iter()
                .find(|w| w.name == "fetch:4k")
                .and_then(|w| w.ratio.as_ref())
                .and_then(|r| r.server_cpu_per_op);
            compared.targets = compare::targets(&compared, self.args.concurrency, fetch_4k_cpu);
            report.compare = Some(compared);
        }

        let mut smallest: BTreeMap<String, Figures> = BTreeMap::new();
        for &volumes in growth_levels {
            let level = self
                .growth_level(volumes, growth_workloads, &mut smallest)
                .await
                .with_context(|| format!("growth level {volumes}"))?;
            report.growth.push(level);
        }
        report.machine.loadavg_end = procfs::loadavg();
        report.targets = targets(&report);
        Ok(report)
    }

    /// The `--compare-url` target: plain HTTP, or HTTPS with `--compare-pin`; loopback only
    /// unless `--allow-remote`.
    fn compare_target(&self, url: &str) -> anyhow::Result<Arc<Target>> {
        let target = if url.starts_with("http://") {
            if self.args.compare_pin.is_some() {
                bail!("--compare-pin is for an https:// --compare-url");
            }
            Target::plain(url).context("--compare-url")?
        } else {
            let pin = self
                .args
                .compare_pin
                .as_ref()
                .ok_or_else(|| anyhow!("an https:// --compare-url needs --compare-pin"))?;
            let pin = pin.parse().map_err(|e| anyhow!("--compare-pin: {e}"))?;
            Target::new(url, &TrustSpec::Pinned(pin)).context("--compare-url")?
        };
        if !target.is_loopback() && !self.args.allow_remote {
            bail!(
                "--compare-url {} is not a loopback address: pass --allow-remote if you operate \
                 that relay",
                target.origin
            );
        }
        Ok(Arc::new(target))
    }

    /// `--rounds` rounds of `w`, each against the Coffer relay and the compare relay back to
    /// back (Coffer first in odd rounds); the summary, and the Coffer figures and request
    /// shapes of the round with the median Coffer throughput (for the main table and the
    /// baseline).
    async fn compare_rounds(
        &self,
        world: &Arc<World>,
        other: &Arc<World>,
        w: &Workload,
        pid: Option<u32>,
    ) -> anyhow::Result<(CompareWorkload, Figures, workload::ShapeBook)> {
        let total = self.args.rounds;
        let mut rounds = Vec::with_capacity(total);
        let mut books = Vec::with_capacity(total);
        for r in 0..total {
            let coffer_first = r % 2 == 0;
            let mut coffer = None;
            let mut compare = None;
            let order = if coffer_first {
                [true, false]
            } else {
                [false, true]
            };
            for coffer_side in order {
                if coffer_side {
                    progress(format!("{}: round {}/{total}: Coffer", w.name(), r + 1));
                    coffer = Some(self.run_relay(world, w, pid).await?);
                } else {
                    progress(format!(
                        "{}: round {}/{total}: the compare relay",
                        w.name(),
                        r + 1
                    ));
                    compare = Some(
                        self.run_relay_with(other, w, None, &[], self.settings)
                            .await
                            .with_context(|| format!("{} on the compare relay", w.name()))?,
                    );
                }
            }
            let (coffer, book) = coffer.ok_or_else(|| anyhow!("no Coffer run"))?;
            let (compare, _) = compare.ok_or_else(|| anyhow!("no compare run"))?;
            books.push(book);
            rounds.push(CompareRound {
                round: r + 1,
                coffer_first,
                ratio: compare::ratio(coffer.ops_per_s, compare.ops_per_s),
                coffer,
                compare,
            });
        }
        let summary = CompareWorkload::new(w.name(), rounds);
        let median = summary.median_round().ok_or_else(|| anyhow!("no rounds"))?;
        let figures = summary.rounds[median].coffer.clone();
        let book = books.swap_remove(median);
        Ok((summary, figures, book))
    }

    /// `--soak`: the soak instead of the workloads.
    async fn run_soak(&self, secs: f64) -> anyhow::Result<Report> {
        if self.relay_bin.is_none() {
            bail!(
                "--soak starts the relay itself and checks its data afterwards: it needs --spawn"
            );
        }
        let workload = Workload::parse(&self.args.soak_workload)?;
        let total = seconds(secs, "--soak")?;
        let soak = self.soak(workload, total).await?;
        Ok(Report {
            tool: "coffer-bench",
            version: env!("CARGO_PKG_VERSION"),
            started_unix: setup::now_unix(),
            machine: Machine {
                cpus: procfs::cpus(),
                loadavg_end: procfs::loadavg(),
                ..Machine::default()
            },
            settings: Settings {
                concurrency: self.args.concurrency,
                pairs: self.pairs,
                duration_s: secs,
                warmup_s: self.settings.warmup.as_secs_f64(),
                max_ops: self.settings.max_ops,
                spawned: true,
                baseline: false,
            },
            soak: Some(soak),
            ..Report::default()
        })
    }

    fn start_relay(&self, data: &Path, label: &str) -> anyhow::Result<Server> {
        let bin = self
            .relay_bin
            .as_deref()
            .ok_or_else(|| anyhow!("no relay binary"))?;
        progress(format!("starting {} on {}", bin.display(), data.display()));
        spawn::start_relay(
            bin,
            data,
            &self.work.join(format!("{label}-stderr.log")),
            &self.relay_env,
        )
    }

    /// Prepares and runs one workload against the relay; returns its figures and shapes.
    async fn run_relay(
        &self,
        world: &Arc<World>,
        w: &Workload,
        pid: Option<u32>,
    ) -> anyhow::Result<(Figures, workload::ShapeBook)> {
        self.run_relay_with(world, w, pid, &self.groups, self.settings)
            .await
    }

    /// [`Self::run_relay`] with other sampled groups and other time and count bounds.
    async fn run_relay_with(
        &self,
        world: &Arc<World>,
        w: &Workload,
        pid: Option<u32>,
        groups: &[GroupSpec],
        settings: RunSettings,
    ) -> anyhow::Result<(Figures, workload::ShapeBook)> {
        progress(format!("{}: preparing", w.name()));
        let budget = self.presign_budget(world, w)?;
        let per_worker = workload::prepare(world, w, self.args.concurrency, budget).await?;
        let workers = build_workers(world, *w, self.args.concurrency, per_worker);
        self.wait_idle().await;
        progress(format!(
            "{}: running {} clients for {:.0} s (+{:.0} s warm-up)",
            w.name(),
            self.args.concurrency,
            settings.duration.as_secs_f64(),
            settings.warmup.as_secs_f64()
        ));
        let (out, workers) =
            runner::run(Arc::clone(&world.target), workers, settings, pid, groups).await?;
        let mut figures = out.figures;
        let inline: u64 = workers.iter().map(RelayWorker::inline_signed).sum();
        if per_worker > 0 {
            figures.notes.push(format!(
                "{} uploads presigned per publishing client; {inline} signed during the run",
                per_worker
            ));
        }
        Ok((figures, out.shapes))
    }

    /// Waits for an idle machine if `--wait-idle` asks for it.
    async fn wait_idle(&self) {
        if self.args.wait_idle <= 0.0 {
            return;
        }
        let limit = Duration::from_secs_f64(self.args.wait_idle.min(3600.0));
        let waited = tokio::task::spawn_blocking(move || procfs::wait_idle(limit, 15.0)).await;
        if let Ok((took, idle)) = waited
            && (took > Duration::from_secs(2) || !idle)
        {
            progress(format!(
                "waited {:.0} s for an idle machine{}",
                took.as_secs_f64(),
                if idle {
                    ""
                } else {
                    " (still busy; measuring anyway)"
                }
            ));
        }
    }

    /// How many v1 uploads to sign before a publishing workload runs: enough for the run at
    /// 3,000 uploads/s, at most what `--presign-seconds` of all cores can sign, at most the
    /// operation cap.
    fn presign_budget(&self, world: &World, w: &Workload) -> anyhow::Result<usize> {
        let size = match w.kind {
            Kind::Publish(s) => s,
            Kind::Mixed => workload::MIXED_FRONTS,
            _ => return Ok(0),
        };
        if world.proto != Proto::V1 {
            return Ok(0);
        }
        // Time one signature over a blob of this size.
        let template = setup::V1Template {
            header: coffer_wire::v1::ControlHeader {
                volume_name: "journal".into(),
                version: 1,
                modified_at: 0,
                size_bytes: size as u64 + 28,
                event_tags: vec!["journal".into()],
            },
            blob: Arc::new(vec![0u8; size + 28]),
            blob_b64: Arc::from(""),
        };
        let account = &world
            .pairs
            .first()
            .ok_or_else(|| anyhow!("no pairs"))?
            .system;
        let t = Instant::now();
        for v in 0..4 {
            let _ = v1_resign(account, &template, v + 1);
        }
        let per = t.elapsed().as_secs_f64() / 4.0;
        let by_time = (self.args.presign_seconds * procfs::cpus() as f64 / per.max(1e-9)) as u64;
        let wanted = ((self.settings.duration + self.settings.warmup).as_secs_f64()
            * 3000.0
            * w.publish_share())
        .ceil() as u64;
        Ok(wanted.min(by_time).min(self.settings.max_ops) as usize)
    }

    async fn growth_level(
        &self,
        volumes: u64,
        workloads: &[Workload],
        smallest: &mut BTreeMap<String, Figures>,
    ) -> anyhow::Result<GrowthLevel> {
        let dir = self.work.join(format!("growth-{volumes}"));
        progress(format!("growth {volumes}: seeding"));
        let seed_report = seed::seed(&dir.join("data"), &dir.join("templates"), volumes)?;
        progress(format!(
            "growth {volumes}: seeded in {:.1} s ({:.0} MiB database)",
            seed_report.seconds, seed_report.db_mib
        ));
        let server = self.start_relay(&dir.join("data"), &format!("growth-{volumes}"))?;
        let startup_ms = server.startup.as_secs_f64() * 1000.0;
        let hwm = procfs::memory(server.pid()).map_or(0.0, |m| m.hwm_kib as f64 / 1024.0);
        let trust = TrustSpec::Pinned(server.pin);
        let target = Arc::new(Target::new(&server.url, &trust)?);
        let mut worlds: BTreeMap<&'static str, Arc<World>> = BTreeMap::new();
        let mut out = Vec::new();
        for w in workloads {
            let key = proto_key(w.proto);
            if !worlds.contains_key(key) {
                let world = World::create(w.proto, Arc::clone(&target), &trust, self.pairs).await?;
                worlds.insert(key, Arc::new(world));
            }
            let world = Arc::clone(&worlds[key]);
            let (figures, _) = self.run_relay(&world, w, Some(server.pid())).await?;
            let name = w.name();
            let first = smallest
                .entry(name.clone())
                .or_insert_with(|| figures.clone());
            out.push(GrowthWorkload {
                ops_vs_smallest: report::Ratios::of(&figures, first).ops_per_s,
                p99_vs_smallest: report::Ratios::of(&figures, first).p99,
                name,
                relay: figures,
            });
        }
        drop(worlds);
        server.stop()?;
        if !self.args.keep {
            seed::remove(&dir);
        }
        Ok(GrowthLevel {
            volumes,
            seed: seed_report,
            startup_ms,
            vm_hwm_after_start_mib: hwm,
            workloads: out,
        })
    }
}

fn proto_key(proto: Proto) -> &'static str {
    match proto {
        Proto::V1 => "v1",
        Proto::V2 => "v2",
    }
}

/// Builds the workers (presigning uploads on all cores).
fn build_workers(
    world: &Arc<World>,
    w: Workload,
    concurrency: usize,
    presign: usize,
) -> Vec<RelayWorker> {
    let threads = procfs::cpus().max(1);
    let mut slots: Vec<Option<RelayWorker>> = (0..concurrency).map(|_| None).collect();
    std::thread::scope(|scope| {
        for (t, chunk) in slots.chunks_mut(concurrency.div_ceil(threads)).enumerate() {
            let world = Arc::clone(world);
            let base = t * concurrency.div_ceil(threads);
            scope.spawn(move || {
                for (i, slot) in chunk.iter_mut().enumerate() {
                    *slot = Some(RelayWorker::new(Arc::clone(&world), w, base + i, presign));
                }
            });
        }
    });
    slots.into_iter().flatten().collect()
}

/// The targets, as far as this run can tell.
fn targets(report: &Report) -> Vec<TargetCheck> {
    let find = |name: &str| report.workloads.iter().find(|w| w.name == name);
    let mut out = Vec::new();

    let fetch = find("fetch:4k");
    let value = fetch.and_then(|w| w.ratio.as_ref()).map(|r| r.ops_per_s);
    out.push(TargetCheck {
        name: "fetch-4k-vs-baseline",
        rule: "authenticated 4 KiB fetch ≥ 50% of the baseline's requests/s",
        value,
        met: value.map(|v| v >= 0.5),
        note: match (fetch, value) {
            (Some(w), Some(v)) => format!(
                "{:.0} vs {:.0} ops/s = {:.0}%",
                w.relay.ops_per_s,
                w.baseline.as_ref().map_or(0.0, |b| b.ops_per_s),
                v * 100.0
            ),
            _ => "needs fetch:4k with a baseline".into(),
        },
    });

    let publish = find("publish:64k");
    let cpus = report.machine.cpus.max(1) as f64;
    let verdict = publish.and_then(|w| w.relay.server.as_ref()).map(|s| {
        let cpu_share = s.cpu_percent / (cpus * 100.0);
        (cpu_share, cpu_share < 0.5 && s.disk_wait_share >= 0.5, s)
    });
    out.push(TargetCheck {
        name: "publish-64k-fsync-bound",
        rule: "publish of 64 KiB volumes limited by fsync, not CPU",
        value: verdict.map(|(share, _, _)| share),
        met: verdict.map(|(_, met, _)| met),
        note: match (publish, verdict) {
            (Some(w), Some((share, _, s))) => format!(
                "{:.0} ops/s; relay CPU {:.0}% of the machine; a relay thread waited for the disk \
                 in {:.0}% of samples (mean {:.2} threads in D state, {:.2} running){}",
                w.relay.ops_per_s,
                share * 100.0,
                s.disk_wait_share * 100.0,
                s.threads_disk_wait_avg,
                s.threads_running_avg,
                report
                    .fsync_probe
                    .as_ref()
                    .map_or(String::new(), |p| format!(
                        "; disk alone: {:.0} blob writes/s, fsync {:.2} ms",
                        p.rounds_per_s, p.file_fsync_ms
                    ))
            ),
            _ => "needs publish:64k against a spawned relay".into(),
        },
    });

    let mixed = find("mixed");
    let value = mixed.map(|w| w.relay.latency_ms.p99);
    let at64 = report.settings.concurrency == 64;
    out.push(TargetCheck {
        name: "mixed-p99-at-64",
        rule: "p99 < 20 ms at 64 concurrent clients for mixed",
        value,
        met: value.filter(|_| at64).map(|v| v < 20.0),
        note: match value {
            Some(v) if at64 => format!("p99 {v:.1} ms"),
            Some(v) => format!(
                "p99 {v:.1} ms at {} clients (evaluated only at 64)",
                report.settings.concurrency
            ),
            None => "needs mixed".into(),
        },
    });

    let value = mixed
        .and_then(|w| w.relay.server.as_ref())
        .map(|s| s.rss_peak_mib);
    out.push(TargetCheck {
        name: "mixed-rss",
        rule: "relay RSS < 100 MB during mixed",
        value,
        met: value.map(|v| v * 1.048_576 < 100.0),
        note: match (value, mixed.and_then(|w| w.relay.server.as_ref())) {
            (Some(v), Some(s)) => format!(
                "peak VmRSS sampled during mixed {v:.1} MiB ({:.1} MB); VmHWM so far {:.1} MiB",
                v * 1.048_576,
                s.vm_hwm_mib
            ),
            _ => "needs mixed against a spawned relay".into(),
        },
    });

    let growth = report.growth.first().zip(report.growth.last());
    let check = growth.and_then(|(first, last)| {
        let w = last
            .workloads
            .iter()
            .find(|w| w.name == "mixed")
            .or_else(|| last.workloads.first())?;
        Some((first.volumes, last.volumes, w))
    });
    out.push(TargetCheck {
        name: "growth-throughput",
        rule: "throughput at 10^6 stored volumes ≥ 80% of that at 10^3",
        value: check.map(|(_, _, w)| w.ops_vs_smallest),
        met: check
            .filter(|(a, b, _)| *a == 1_000 && *b == 1_000_000)
            .map(|(_, _, w)| w.ops_vs_smallest >= 0.8),
        note: match check {
            Some((a, b, w)) => format!(
                "{}: {:.0}% of the {a}-volume throughput at {b} volumes{}",
                w.name,
                w.ops_vs_smallest * 100.0,
                if a == 1_000 && b == 1_000_000 {
                    ""
                } else {
                    " (the rule needs levels 1000 and 1000000)"
                }
            ),
            None => "needs --growth".into(),
        },
    });
    out
}

/// Runs the baseline server (blocking).
pub fn serve_baseline(dir: &Path) -> anyhow::Result<()> {
    baseline::serve(dir)
}
