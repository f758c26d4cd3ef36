//! `coffer-abuse-cost`: what refusing abusive requests costs the relay, next to what serving a
//! cheap request costs it. See `docs/abuse.md` for the figures of a reference run.
//!
//! Each scenario runs on a fresh relay it spawns itself (127.0.0.1 only, `bench::spawn`), for a
//! fixed time at a fixed concurrency, and reads the relay's CPU time from `/proc/<pid>/stat`
//! (`bench::procfs`) before and after. Reported: requests/s, statuses, and the relay's
//! CPU-seconds per 1,000 requests, also as a ratio to the accepted reference (`health`, one
//! kept-alive connection per client; `health-new-conn`, a TLS handshake per request, for the
//! scenarios in which the relay closes the connection after every refusal). A figure, never a
//! verdict: nothing here asserts a speed.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use clap::Parser;
use coffer_certs::SpkiPin;
use coffer_tests::abuse::{LOCALHOST, tls_to};
use coffer_tests::bench::conn::{Client, Req, Target, TrustSpec};
use coffer_tests::bench::procfs::{Monitor, TICKS_PER_SEC, cpu_ticks};
use coffer_tests::bench::spawn::{self, Server};
use coffer_tests::http::read_response;
use http::{HeaderName, Method};
use serde::Serialize;
use serde_json::json;
use tokio::io::AsyncWriteExt as _;

/// Measures what refused floods, oversized and malformed requests cost a Coffer relay.
///
/// Starts the relay binary (127.0.0.1, temporary data directory) once per scenario and sends
/// it one kind of request as fast as `--concurrency` clients can for `--seconds`.
#[derive(Debug, Parser)]
#[command(name = "coffer-abuse-cost", version)]
struct Cli {
    /// The relay binary (default: $COFFER_RELAY_BIN, else coffer-relay next to this one).
    #[arg(long, value_name = "PATH")]
    relay_bin: Option<PathBuf>,
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Comma-separated scenarios (default: all): health, health-new-conn, challenge-flood,
    /// challenge-flood-no-body, register-flood, oversized, malformed-json.
    #[arg(long, value_name = "LIST")]
    scenarios: Option<String>,
    /// Extra environment for the relays (KEY=VALUE, repeatable), e.g. COFFER_LOG=warn.
    #[arg(long = "relay-env", value_name = "KEY=VALUE")]
    relay_env: Vec<String>,
    /// Also write the report as JSON to this file (`-` = stdout, then no table).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// One kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// `GET /api/v1/health` on kept-alive connections (accepted).
    Health,
    /// `GET /api/v1/health`, a new TLS connection per request (accepted).
    HealthNewConn,
    /// `POST /api/v1/auth/challenge` past the `auth` bucket (429). The relay refuses before
    /// reading the body, so actix closes the connection: a TLS handshake per request.
    ChallengeFlood,
    /// The same without a body: the connection stays open, so this is the refusal alone.
    ChallengeFloodNoBody,
    /// `POST /api/v1/register` past the `register` bucket (429).
    RegisterFlood,
    /// `POST /api/v1/register` declaring 10 MiB + 1, head only (413; the relay closes).
    Oversized,
    /// `POST /api/v1/auth/challenge` with a truncated JSON body (400).
    MalformedJson,
}

impl Scenario {
    const ALL: [Scenario; 7] = [
        Scenario::Health,
        Scenario::HealthNewConn,
        Scenario::ChallengeFlood,
        Scenario::ChallengeFloodNoBody,
        Scenario::RegisterFlood,
        Scenario::Oversized,
        Scenario::MalformedJson,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Health => "health",
            Scenario::HealthNewConn => "health-new-conn",
            Scenario::ChallengeFlood => "challenge-flood",
            Scenario::ChallengeFloodNoBody => "challenge-flood-no-body",
            Scenario::RegisterFlood => "register-flood",
            Scenario::Oversized => "oversized",
            Scenario::MalformedJson => "malformed-json",
        }
    }

    fn parse(text: &str) -> anyhow::Result<Scenario> {
        Scenario::ALL
            .into_iter()
            .find(|s| s.name() == text.trim())
            .ok_or_else(|| anyhow!("unknown scenario {text:?}"))
    }

    /// The status a request of this scenario is meant to get.
    fn expected(self) -> u16 {
        match self {
            Scenario::Health | Scenario::HealthNewConn => 200,
            Scenario::ChallengeFlood | Scenario::ChallengeFloodNoBody | Scenario::RegisterFlood => {
                429
            }
            Scenario::Oversized => 413,
            Scenario::MalformedJson => 400,
        }
    }

    /// The relay's settings: the default rate limits where the scenario is about them.
    fn env(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Scenario::ChallengeFlood | Scenario::ChallengeFloodNoBody => {
                vec![("COFFER_RATE_AUTH", "6")]
            }
            Scenario::RegisterFlood => vec![("COFFER_RATE_REGISTER", "10")],
            _ => Vec::new(),
        }
    }
}

/// The figures of one scenario.
#[derive(Debug, Serialize)]
struct Figures {
    scenario: &'static str,
    expected_status: u16,
    requests: u64,
    /// Requests answered with the expected status.
    as_expected: u64,
    statuses: BTreeMap<String, u64>,
    /// Transport failures (connection refused or reset before an answer).
    transport_errors: u64,
    seconds: f64,
    requests_per_s: f64,
    /// TLS connections the clients opened.
    connections: u64,
    relay_cpu_seconds: f64,
    /// Relay CPU-seconds per 1,000 requests.
    relay_cpu_s_per_1000: f64,
    /// The same, divided by the `health` scenario's.
    ratio_to_health: Option<f64>,
    /// The same, divided by the `health-new-conn` scenario's.
    ratio_to_health_new_conn: Option<f64>,
    /// CPU other processes used meanwhile, percent of one core (noise; above ~10 suspect).
    other_cpu_percent: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(&cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("coffer-abuse-cost: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    if !(cli.seconds.is_finite() && (0.1..=600.0).contains(&cli.seconds)) {
        bail!("--seconds must be between 0.1 and 600");
    }
    if cli.concurrency == 0 || cli.concurrency > 512 {
        bail!("--concurrency must be between 1 and 512");
    }
    let scenarios = match &cli.scenarios {
        Some(list) => list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Scenario::parse)
            .collect::<anyhow::Result<Vec<_>>>()?,
        None => Scenario::ALL.to_vec(),
    };
    let mut extra_env = BTreeMap::new();
    for kv in &cli.relay_env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("--relay-env {kv:?}: expected KEY=VALUE"))?;
        extra_env.insert(k.to_owned(), v.to_owned());
    }
    let bin = spawn::relay_binary(cli.relay_bin.as_deref())?;
    let work = tempfile::Builder::new()
        .prefix("coffer-abuse-cost-")
        .tempdir()?;
    let duration = Duration::from_secs_f64(cli.seconds);

    let mut all = Vec::new();
    for scenario in scenarios {
        let mut env = extra_env.clone();
        for (k, v) in scenario.env() {
            env.insert(k.to_owned(), v.to_owned());
        }
        let dir = work.path().join(scenario.name());
        std::fs::create_dir_all(&dir)?;
        let server = spawn::start_relay(&bin, &dir.join("data"), &dir.join("relay.log"), &env)?;
        eprintln!(
            "coffer-abuse-cost: {} for {:.1} s at concurrency {}",
            scenario.name(),
            cli.seconds,
            cli.concurrency
        );
        let figures = measure(&server, scenario, cli.concurrency, duration).await;
        server.stop()?;
        all.push(figures?);
    }
    let per = |name: &str| {
        all.iter()
            .find(|f| f.scenario == name && f.requests > 0)
            .map(|f| f.relay_cpu_s_per_1000)
    };
    let (health, health_new) = (per("health"), per("health-new-conn"));
    for f in &mut all {
        f.ratio_to_health = health
            .filter(|h| *h > 0.0)
            .map(|h| f.relay_cpu_s_per_1000 / h);
        f.ratio_to_health_new_conn = health_new
            .filter(|h| *h > 0.0)
            .map(|h| f.relay_cpu_s_per_1000 / h);
    }

    let report = json!({
        "tool": "coffer-abuse-cost",
        "cpus": coffer_tests::bench::procfs::cpus(),
        "seconds_per_scenario": cli.seconds,
        "concurrency": cli.concurrency,
        "scenarios": all,
    });
    match cli.json.as_deref() {
        Some(path) if path.as_os_str() == "-" => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report)?;
            out.write_all(b"\n")?;
        }
        other => {
            print!("{}", table(&all));
            if let Some(path) = other {
                std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")?;
            }
        }
    }
    Ok(())
}

/// The figures as a text table.
fn table(all: &[Figures]) -> String {
    let mut out = format!(
        "{:<24} {:>6} {:>9} {:>9} {:>8} {:>8} {:>13} {:>8} {:>10} {:>6}\n",
        "scenario",
        "status",
        "requests",
        "expected",
        "req/s",
        "conns",
        "cpu-s/1000req",
        "×health",
        "×new-conn",
        "noise%"
    );
    for f in all {
        let ratio = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
        out.push_str(&format!(
            "{:<24} {:>6} {:>9} {:>9} {:>8.0} {:>8} {:>13.4} {:>8} {:>10} {:>6.1}\n",
            f.scenario,
            f.expected_status,
            f.requests,
            f.as_expected,
            f.requests_per_s,
            f.connections,
            f.relay_cpu_s_per_1000,
            ratio(f.ratio_to_health),
            ratio(f.ratio_to_health_new_conn),
            f.other_cpu_percent
        ));
    }
    out
}

/// What the clients send, prepared once.
#[derive(Debug, Clone)]
enum Work {
    /// A request on a kept-alive connection.
    KeptAlive(Req),
    /// Raw bytes on a new connection per request.
    Raw(Bytes),
}

/// Prepares the scenario (e.g. an account to ask challenges for) and its request.
async fn prepare(
    server: &Server,
    target: &Arc<Target>,
    scenario: Scenario,
) -> anyhow::Result<Work> {
    let host = server.url.trim_start_matches("https://");
    let json_post = |path: &str, body: String| -> anyhow::Result<Req> {
        Req::new(Method::POST, path, body)
            .header(HeaderName::from_static("x-protocol-version"), "1")
    };
    Ok(match scenario {
        Scenario::Health => Work::KeptAlive(Req::new(Method::GET, "/api/v1/health", Bytes::new())),
        Scenario::HealthNewConn => Work::Raw(Bytes::from(format!(
            "GET /api/v1/health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        ))),
        Scenario::ChallengeFloodNoBody => {
            Work::KeptAlive(json_post("/api/v1/auth/challenge", String::new())?)
        }
        Scenario::ChallengeFlood | Scenario::MalformedJson => {
            let mut client = Client::new(Arc::clone(target));
            let registered = client
                .send(&json_post(
                    "/api/v1/register",
                    registration_body(Some("flooded"))?,
                )?)
                .await?
                .expect(201)?;
            let user_id = registered["user_id"]
                .as_str()
                .ok_or_else(|| anyhow!("registration without a user_id"))?;
            let body = if scenario == Scenario::MalformedJson {
                format!("{{\"user_id\": \"{user_id}\", ")
            } else {
                json!({ "user_id": user_id }).to_string()
            };
            Work::KeptAlive(json_post("/api/v1/auth/challenge", body)?)
        }
        Scenario::RegisterFlood => {
            Work::KeptAlive(json_post("/api/v1/register", registration_body(None)?)?)
        }
        Scenario::Oversized => Work::Raw(Bytes::from(format!(
            "POST /api/v1/register HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             X-Protocol-Version: 1\r\nContent-Length: {}\r\n\r\n",
            10 * 1024 * 1024 + 1
        ))),
    })
}

/// A valid v1 registration (fresh keys; the signing key is a real Ed25519 point).
fn registration_body(handle: Option<&str>) -> anyhow::Result<String> {
    let account = coffer_test_kit::V1Account::new(coffer_test_kit::Kind::System)
        .with_handle(handle)
        .with_features(&[]);
    Ok(serde_json::to_string(&account.register_body())?)
}

/// One client's tally.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    statuses: HashMap<u16, u64>,
    transport_errors: u64,
    connections: u64,
}

async fn measure(
    server: &Server,
    scenario: Scenario,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let target = Arc::new(Target::new(&server.url, &TrustSpec::Pinned(server.pin))?);
    let work = prepare(server, &target, scenario).await?;
    let addr: std::net::SocketAddr = server
        .url
        .trim_start_matches("https://")
        .parse()
        .context("the relay's address")?;
    // The burst of a rate-limited scenario is spent before measuring, so that only refusals
    // are counted.
    if let Work::KeptAlive(req) = &work
        && scenario.expected() == 429
    {
        let mut client = Client::new(Arc::clone(&target));
        for _ in 0..100 {
            if client.send(req).await?.status == 429 {
                break;
            }
        }
    }

    let monitor = Monitor::start(Some(server.pid()), &[]);
    let cpu0 = cpu_ticks(server.pid());
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (work, target) = (work.clone(), Arc::clone(&target));
        let pin = server.pin;
        tasks.push(tokio::spawn(async move {
            client_loop(work, target, addr, pin, deadline).await
        }));
    }
    let mut total = Tally::default();
    for t in tasks {
        let tally = t.await?;
        total.requests += tally.requests;
        total.transport_errors += tally.transport_errors;
        total.connections += tally.connections;
        for (status, n) in tally.statuses {
            *total.statuses.entry(status).or_insert(0) += n;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_ticks = match (cpu_ticks(server.pid()), cpu0) {
        (Some(b), Some(a)) => b.saturating_sub(a),
        _ => bail!("cannot read the relay's CPU time from /proc"),
    };
    let machine = monitor.stop(total.requests).machine;
    let relay_cpu_seconds = cpu_ticks as f64 / TICKS_PER_SEC;
    let requests = total.requests.max(1) as f64;
    Ok(Figures {
        scenario: scenario.name(),
        expected_status: scenario.expected(),
        requests: total.requests,
        as_expected: total
            .statuses
            .get(&scenario.expected())
            .copied()
            .unwrap_or(0),
        statuses: total
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect(),
        transport_errors: total.transport_errors,
        seconds,
        requests_per_s: total.requests as f64 / seconds,
        connections: total.connections,
        relay_cpu_seconds,
        relay_cpu_s_per_1000: relay_cpu_seconds / requests * 1000.0,
        ratio_to_health: None,
        ratio_to_health_new_conn: None,
        other_cpu_percent: machine.other_cpu_percent,
    })
}

async fn client_loop(
    work: Work,
    target: Arc<Target>,
    addr: std::net::SocketAddr,
    pin: SpkiPin,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut client = Client::new(target);
    while Instant::now() < deadline {
        let status = match &work {
            Work::KeptAlive(req) => client.send(req).await.map(|r| r.status).ok(),
            Work::Raw(bytes) => {
                tally.connections += 1;
                raw_once(addr, pin, bytes).await.ok()
            }
        };
        tally.requests += 1;
        match status {
            Some(status) => *tally.statuses.entry(status).or_insert(0) += 1,
            None => tally.transport_errors += 1,
        }
    }
    tally.connections += client.connects;
    tally
}

/// One request on a new TLS connection; the status of the answer.
async fn raw_once(addr: std::net::SocketAddr, pin: SpkiPin, bytes: &[u8]) -> anyhow::Result<u16> {
    let exchange = async {
        let mut tls = tls_to(addr, pin, LOCALHOST).await?;
        tls.write_all(bytes).await?;
        tls.flush().await?;
        let resp = read_response(&mut tls).await.map_err(|e| anyhow!(e))?;
        anyhow::Ok(resp.status)
    };
    tokio::time::timeout(Duration::from_secs(60), exchange)
        .await
        .map_err(|_| anyhow!("no answer within 60 s"))?
}
