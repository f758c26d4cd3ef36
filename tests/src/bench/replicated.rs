//! `replicated-publish:<size>`: what each extra relay of a System costs a publish (issue 16).
//!
//! Starts [`RELAYS`] relay processes (the same binary, each on its own temporary data
//! directory on 127.0.0.1, like the main run's relay), registers `--concurrency` systems
//! through client-core's `SystemClient::register_replicated` on the first, and then, in one
//! run, for 1, 2 and 3 relays in the system's list (`set_relays`, which also registers the
//! account on a new relay and repairs it): every system publishes its own volume of `size`
//! plaintext bytes through `publish_replicated` in a closed loop for `--duration` seconds
//! (after `--warmup`, at most `--max-ops` operations). One operation is one whole replicated
//! publish as an app sees it: seal and sign once, then the same signed bytes to every relay of
//! the list concurrently; it succeeds when every relay stored it.
//!
//! Per configuration: operations/s, latency percentiles, the CPU of all relays together per
//! publish (their `/proc/<pid>/stat` ticks over the measured window) and the load generator's
//! own CPU per publish (the client's seal, signature and TLS); then each figure of 2 and 3
//! relays divided by that of 1 relay, and the cost per extra relay. Figures only: nothing is
//! asserted about them.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use coffer_client_core::client::{ReplicaStatus, Replicated, SystemClient};
use coffer_client_core::storage::{KeyStore, MemoryKeyStore};
use coffer_client_core::transport::RelayHttp;
use coffer_client_core::v2::RelayEntry;
use coffer_wire::v2::{AEAD_OVERHEAD, VolumeName, padded_len};
use http::Method;
use serde::Serialize;

use super::conn::{Client, Target, TrustSpec};
use super::runner::{self, Figures};
use super::setup::{self, filler};
use super::spawn::Server;
use super::workload::{OpRecord, ReqRecord, Worker};
use super::{Session, procfs, progress};

/// The workload's name before its size.
pub const PREFIX: &str = "replicated-publish:";
/// Relays started; the configurations are 1..=RELAYS of them.
pub const RELAYS: usize = 3;
/// Systems registered or re-listed at once during set-up.
const SETUP_PARALLEL: usize = 8;
/// The volume every system publishes.
const VOLUME: &str = "journal";
/// Request classes of the relays of a list, in list order (the first is the primary).
const CLASSES: [&str; RELAYS] = ["relay-1", "relay-2", "relay-3"];

/// A system whose relay is the replicating decorator over client-core's HTTP transport.
type System = SystemClient<Replicated<RelayHttp>>;

/// `Some(size)` for a `replicated-publish:<size>` workload name, `None` for any other name.
///
/// # Errors
/// A replicated workload with a bad size.
pub fn parse(text: &str) -> anyhow::Result<Option<usize>> {
    let Some(size) = text.trim().strip_prefix(PREFIX) else {
        return Ok(None);
    };
    let size = super::workload::parse_size(size)?;
    if size == 0 || size > 8 << 20 {
        bail!("workload {text:?}: size must be 1 byte to 8 MiB");
    }
    Ok(Some(size))
}

/// The canonical name of the workload for `size`.
pub fn name(size: usize) -> String {
    format!("{PREFIX}{}", super::workload::size_label(size))
}

/// One run of the workload: every configuration and the comparisons.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicatedReport {
    /// `replicated-publish:<size>`.
    pub name: String,
    /// Plaintext bytes per publish.
    pub size: usize,
    /// Sealed payload bytes sent to each relay per publish (padded frame + nonce + tag).
    pub sealed_bytes: u64,
    /// Systems publishing concurrently (one operation at a time each).
    pub systems: usize,
    /// The relays' origins, in list order.
    pub relays: Vec<String>,
    /// With 1, 2, 3 relays in the list.
    pub configs: Vec<ReplicaConfig>,
    /// Each configuration with more than one relay against the one-relay configuration.
    pub vs_one: Vec<ReplicaRatios>,
    /// What each relay beyond the first adds to a publish: (3 relays − 1 relay) ÷ 2.
    pub per_extra_relay: Option<ExtraRelay>,
}

/// One configuration.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaConfig {
    /// Relays in the list.
    pub relays: usize,
    /// How long `set_relays` took for all systems together, seconds (accounts registered on
    /// the new relay, the list volume published, the new relay repaired).
    pub set_relays_s: f64,
    /// The publishes (the `server` figures are the first relay's alone).
    pub figures: Figures,
    /// CPU of all relays together per successful publish, µs.
    pub relay_cpu_us_per_op: Option<f64>,
    /// CPU of all relays together, percent of one core.
    pub relay_cpu_percent: Option<f64>,
    /// CPU of each relay per successful publish, µs, in list order (all started relays).
    pub relay_cpu_us_per_op_each: Vec<f64>,
    /// The load generator's own CPU per successful publish (seal, sign, TLS to every relay), µs.
    pub client_cpu_us_per_op: Option<f64>,
    /// The first error a publish returned, if any (the figures count them).
    pub first_error: Option<String>,
}

/// A configuration's figures divided by the one-relay configuration's.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaRatios {
    /// Relays in the list.
    pub relays: usize,
    /// Operations/s.
    pub ops_per_s: f64,
    /// Median latency.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// All relays' CPU per publish.
    pub relay_cpu_per_op: Option<f64>,
    /// The client's CPU per publish.
    pub client_cpu_per_op: Option<f64>,
}

/// The cost of one more relay per publish.
#[derive(Debug, Clone, Serialize)]
pub struct ExtraRelay {
    /// Median latency added, ms.
    pub p50_ms: f64,
    /// 99th percentile added, ms.
    pub p99_ms: f64,
    /// Relay CPU added (all relays), µs.
    pub relay_cpu_us: Option<f64>,
    /// Client CPU added, µs.
    pub client_cpu_us: Option<f64>,
}

fn div(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// The ratios and the per-relay cost of `configs` (ordered by relay count, the first with one).
fn compare(configs: &[ReplicaConfig]) -> (Vec<ReplicaRatios>, Option<ExtraRelay>) {
    let Some(one) = configs.iter().find(|c| c.relays == 1) else {
        return (Vec::new(), None);
    };
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| div(a, b));
    let ratios = configs
        .iter()
        .filter(|c| c.relays > 1)
        .map(|c| ReplicaRatios {
            relays: c.relays,
            ops_per_s: div(c.figures.ops_per_s, one.figures.ops_per_s),
            p50: div(c.figures.latency_ms.p50, one.figures.latency_ms.p50),
            p99: div(c.figures.latency_ms.p99, one.figures.latency_ms.p99),
            relay_cpu_per_op: ratio(c.relay_cpu_us_per_op, one.relay_cpu_us_per_op),
            client_cpu_per_op: ratio(c.client_cpu_us_per_op, one.client_cpu_us_per_op),
        })
        .collect();
    let extra = configs
        .iter()
        .filter(|c| c.relays > 1)
        .max_by_key(|c| c.relays)
        .map(|most| {
            let n = (most.relays - 1) as f64;
            let per = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (a - b) / n);
            ExtraRelay {
                p50_ms: (most.figures.latency_ms.p50 - one.figures.latency_ms.p50) / n,
                p99_ms: (most.figures.latency_ms.p99 - one.figures.latency_ms.p99) / n,
                relay_cpu_us: per(most.relay_cpu_us_per_op, one.relay_cpu_us_per_op),
                client_cpu_us: per(most.client_cpu_us_per_op, one.client_cpu_us_per_op),
            }
        });
    (ratios, extra)
}

/// The status a relay's answer is recorded under: 200 stored, 304 nothing to do, 404 no
/// account, 0 unreachable, else the HTTP status the refusal names (500 if none or unknown).
fn status_of(status: &ReplicaStatus) -> (u16, bool) {
    match status {
        ReplicaStatus::Stored => (200, true),
        ReplicaStatus::UpToDate => (304, true),
        ReplicaStatus::NoAccount => (404, false),
        ReplicaStatus::Unreachable { .. } => (0, false),
        ReplicaStatus::Refused { reason } => (leading_status(reason).unwrap_or(500), false),
        _ => (500, false),
    }
}

/// The first three-digit number 100..=599 in `text` (a refusal's HTTP status).
fn leading_status(text: &str) -> Option<u16> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|w| w.len() == 3)
        .filter_map(|w| w.parse::<u16>().ok())
        .find(|s| (100..=599).contains(s))
}

/// One system publishing its volume in a loop.
struct PublishWorker {
    system: Arc<System>,
    volume: VolumeName,
    plaintext: Arc<Vec<u8>>,
    sealed_bytes: u64,
    first_error: Arc<Mutex<Option<String>>>,
}

impl PublishWorker {
    fn note_error(&self, text: String) {
        let mut slot = self
            .first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(text);
        }
    }
}

impl Worker for PublishWorker {
    async fn op(&mut self, _client: &mut Client) -> OpRecord {
        let mut record = OpRecord::default();
        match self
            .system
            .publish_replicated(&self.volume, &self.plaintext)
            .await
        {
            Ok(replication) => {
                for (i, result) in replication.relays.iter().enumerate() {
                    let (status, ok) = status_of(&result.status);
                    if !ok {
                        self.note_error(format!("{}: {:?}", result.relay, result.status));
                    }
                    record.reqs.push(ReqRecord {
                        class: CLASSES.get(i).copied().unwrap_or("relay-n"),
                        method: Method::PUT,
                        up: self.sealed_bytes,
                        status,
                        down: 0,
                        ok,
                    });
                }
                if replication.relays.is_empty() {
                    self.note_error("no relay answered".into());
                    record.reqs.push(failed("publish"));
                }
            }
            Err(e) => {
                self.note_error(e.to_string());
                record.reqs.push(failed("publish"));
            }
        }
        record
    }
}

fn failed(class: &'static str) -> ReqRecord {
    ReqRecord {
        class,
        method: Method::PUT,
        up: 0,
        status: 0,
        down: 0,
        ok: false,
    }
}

/// CPU ticks of the relays and of this process at one moment.
#[derive(Debug, Clone)]
struct Ticks {
    relays: Vec<Option<u64>>,
    own: Option<u64>,
    at: Instant,
}

impl Ticks {
    fn now(pids: &[u32]) -> Ticks {
        Ticks {
            relays: pids.iter().map(|p| procfs::cpu_ticks(*p)).collect(),
            own: procfs::own_cpu_ticks(),
            at: Instant::now(),
        }
    }
}

/// Per successful operation, µs, of `ticks` clock ticks.
fn us_per_op(ticks: u64, ops: u64) -> f64 {
    if ops == 0 {
        0.0
    } else {
        ticks as f64 / procfs::TICKS_PER_SEC * 1e6 / ops as f64
    }
}

/// What every configuration of one run shares.
#[derive(Clone, Copy)]
struct Fixture<'a> {
    name: &'a str,
    clients: &'a [Arc<System>],
    volume: &'a VolumeName,
    plaintext: &'a Arc<Vec<u8>>,
    sealed_bytes: u64,
    target: &'a Arc<Target>,
    pids: &'a [u32],
}

impl Session {
    /// Runs `replicated-publish:<size>` on [`RELAYS`] relays started here.
    pub(super) async fn replicated(&self, size: usize) -> anyhow::Result<ReplicatedReport> {
        let name = name(size);
        let systems = self.args.concurrency;
        let mut servers: Vec<Server> = Vec::with_capacity(RELAYS);
        for i in 0..RELAYS {
            let label = format!("replicated-{}", i + 1);
            servers.push(self.start_relay(&self.work.join(&label), &label)?);
        }
        let entries: Vec<RelayEntry> = servers
            .iter()
            .map(|s| RelayEntry::new(&s.url, vec![s.pin]).map_err(|e| anyhow!("{}: {e}", s.url)))
            .collect::<anyhow::Result<_>>()?;
        let pids: Vec<u32> = servers.iter().map(Server::pid).collect();
        let first = servers.first().ok_or_else(|| anyhow!("no relay started"))?;
        let trust = TrustSpec::Pinned(first.pin);
        let target = Arc::new(Target::new(&first.url, &trust)?);
        let config = setup::client_config(&target, &trust)?;

        progress(format!(
            "{name}: registering {systems} systems on {}",
            first.url
        ));
        let mut clients: Vec<Arc<System>> = Vec::with_capacity(systems);
        for chunk in (0..systems).collect::<Vec<_>>().chunks(SETUP_PARALLEL) {
            let made = futures_util::future::join_all(chunk.iter().map(|_| {
                let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
                System::register_replicated(config.clone(), store, None)
            }))
            .await;
            for system in made {
                clients.push(Arc::new(system.context("register_replicated")?));
            }
        }

        let volume = VolumeName::new(VOLUME).map_err(|e| anyhow!("volume name: {e}"))?;
        let plaintext = Arc::new(filler(size));
        let sealed_bytes = padded_len(size as u64 + 4) + AEAD_OVERHEAD;
        let mut configs = Vec::with_capacity(RELAYS);
        for count in 1..=RELAYS {
            let list = entries[..count].to_vec();
            let started = Instant::now();
            progress(format!("{name}: {count} relay(s) in every system's list"));
            for chunk in clients.chunks(SETUP_PARALLEL) {
                let done = futures_util::future::join_all(
                    chunk.iter().map(|s| s.set_relays(list.clone())),
                )
                .await;
                for replication in done {
                    let replication = replication.context("set_relays")?;
                    if let Some(bad) = replication.relays.iter().find(|r| !status_of(&r.status).1) {
                        bail!("set_relays: {}: {:?}", bad.relay, bad.status);
                    }
                }
            }
            let set_relays_s = started.elapsed().as_secs_f64();
            for s in &clients {
                let listed = s.relays();
                if listed != list {
                    bail!(
                        "set_relays left {} relays in the list, not {count}",
                        listed.len()
                    );
                }
            }
            let run = Fixture {
                name: &name,
                clients: &clients,
                volume: &volume,
                plaintext: &plaintext,
                sealed_bytes,
                target: &target,
                pids: &pids,
            };
            configs.push(self.replicated_config(&run, count, set_relays_s).await?);
        }
        drop(clients);
        for server in servers {
            server.stop()?;
        }
        let (vs_one, per_extra_relay) = compare(&configs);
        Ok(ReplicatedReport {
            name,
            size,
            sealed_bytes,
            systems,
            relays: entries.iter().map(|e| e.origin().to_owned()).collect(),
            configs,
            vs_one,
            per_extra_relay,
        })
    }

    /// One configuration's measured run (`count` relays in every list).
    async fn replicated_config(
        &self,
        run: &Fixture<'_>,
        count: usize,
        set_relays_s: f64,
    ) -> anyhow::Result<ReplicaConfig> {
        let Fixture {
            name,
            clients,
            volume,
            plaintext,
            sealed_bytes,
            target,
            pids,
        } = *run;
        let first_error = Arc::new(Mutex::new(None));
        let workers: Vec<PublishWorker> = clients
            .iter()
            .map(|system| PublishWorker {
                system: Arc::clone(system),
                volume: volume.clone(),
                plaintext: Arc::clone(plaintext),
                sealed_bytes,
                first_error: Arc::clone(&first_error),
            })
            .collect();
        self.wait_idle().await;
        progress(format!(
            "{name}: {count} relay(s): running {} systems for {:.0} s (+{:.0} s warm-up)",
            clients.len(),
            self.settings.duration.as_secs_f64(),
            self.settings.warmup.as_secs_f64()
        ));
        // The relays' CPU over the measured window: sampled when the warm-up ends (as the
        // runner's own monitor does) and when the run returns.
        let warmup = self.settings.warmup;
        let owned_pids = pids.to_vec();
        let at_start = tokio::spawn(async move {
            tokio::time::sleep(warmup).await;
            Ticks::now(&owned_pids)
        });
        let (out, _) = runner::run(
            Arc::clone(target),
            workers,
            self.settings,
            pids.first().copied(),
            &[],
        )
        .await?;
        let end = Ticks::now(pids);
        let start = at_start.await.context("CPU sampling task")?;
        let figures = out.figures;
        let ops = figures.ok_ops;
        let seconds = end
            .at
            .saturating_duration_since(start.at)
            .max(Duration::from_millis(1))
            .as_secs_f64();
        let each: Vec<Option<u64>> = start
            .relays
            .iter()
            .zip(&end.relays)
            .map(|(a, b)| a.zip(*b).map(|(a, b)| b.saturating_sub(a)))
            .collect();
        let relay_ticks: Option<u64> = each.iter().copied().sum();
        let own_ticks = start.own.zip(end.own).map(|(a, b)| b.saturating_sub(a));
        let first_error = first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        Ok(ReplicaConfig {
            relays: count,
            set_relays_s,
            relay_cpu_us_per_op: relay_ticks.map(|t| us_per_op(t, ops)),
            relay_cpu_percent: relay_ticks
                .map(|t| t as f64 / procfs::TICKS_PER_SEC / seconds * 100.0),
            relay_cpu_us_per_op_each: each
                .iter()
                .map(|t| t.map_or(0.0, |t| us_per_op(t, ops)))
                .collect(),
            client_cpu_us_per_op: own_ticks.map(|t| us_per_op(t, ops)),
            first_error,
            figures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(parse("replicated-publish:4k").expect("4k"), Some(4096));
        assert_eq!(
            parse(" replicated-publish:65536").expect("bytes"),
            Some(65536)
        );
        assert_eq!(parse("publish:4k").expect("other"), None);
        assert_eq!(parse("v2-publish:4k").expect("other"), None);
        assert!(parse("replicated-publish:0").is_err());
        assert!(parse("replicated-publish:9m").is_err());
        assert!(parse("replicated-publish:").is_err());
        assert_eq!(name(64 << 10), "replicated-publish:64k");
    }

    #[test]
    fn refusal_statuses() {
        assert_eq!(leading_status("HTTP 409: conflict"), Some(409));
        assert_eq!(leading_status("status 503 after 1200 ms"), Some(503));
        assert_eq!(leading_status("no number"), None);
        assert_eq!(
            status_of(&ReplicaStatus::Refused {
                reason: "refused".into()
            }),
            (500, false)
        );
        assert_eq!(status_of(&ReplicaStatus::Stored), (200, true));
        assert_eq!(
            status_of(&ReplicaStatus::Unreachable { reason: "x".into() }),
            (0, false)
        );
    }

    fn config(relays: usize, ops_per_s: f64, p50: f64, p99: f64, cpu: f64) -> ReplicaConfig {
        let mut figures = Figures {
            ops_per_s,
            ..Figures::default()
        };
        figures.latency_ms.p50 = p50;
        figures.latency_ms.p99 = p99;
        ReplicaConfig {
            relays,
            set_relays_s: 0.0,
            figures,
            relay_cpu_us_per_op: Some(cpu),
            relay_cpu_percent: None,
            relay_cpu_us_per_op_each: Vec::new(),
            client_cpu_us_per_op: None,
            first_error: None,
        }
    }

    #[test]
    fn ratios_against_one_relay() {
        let configs = [
            config(1, 100.0, 10.0, 20.0, 1000.0),
            config(2, 80.0, 12.0, 30.0, 2000.0),
            config(3, 50.0, 16.0, 40.0, 3000.0),
        ];
        let (ratios, extra) = compare(&configs);
        assert_eq!(ratios.len(), 2);
        assert_eq!(ratios[0].relays, 2);
        assert!((ratios[0].ops_per_s - 0.8).abs() < 1e-9);
        assert!((ratios[1].p50 - 1.6).abs() < 1e-9);
        assert!((ratios[1].p99 - 2.0).abs() < 1e-9);
        assert_eq!(ratios[1].relay_cpu_per_op, Some(3.0));
        assert_eq!(ratios[1].client_cpu_per_op, None);
        let extra = extra.expect("per extra relay");
        assert!((extra.p50_ms - 3.0).abs() < 1e-9);
        assert!((extra.p99_ms - 10.0).abs() < 1e-9);
        assert_eq!(extra.relay_cpu_us, Some(1000.0));
        assert!(compare(&configs[1..]).0.is_empty());
    }
}
