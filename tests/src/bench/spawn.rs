//! Starting the servers the benchmark measures: the real `coffer-relay` binary (on a temporary
//! or pre-seeded data directory, listening on 127.0.0.1 only, with rate limits out of the way)
//! and the baseline server (this binary's `serve-baseline` mode). Both print the relay's
//! banner (`url:`, `pin:`), which is how the URL and the certificate pin are learned.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use coffer_certs::SpkiPin;
use coffer_test_kit::relay::Banner;

/// How long a server may take from spawn to a complete banner (a relay on 10^6 volumes sweeps
/// its blob directory first).
const START_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a graceful stop may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Rate limits for a spawned relay: far above anything one machine can send. Every simulated
/// client comes from 127.0.0.1, so the per-address connection cap is off too.
pub const RELAY_ENV: &[(&str, &str)] = &[
    ("COFFER_MAX_CONNECTIONS_PER_IP", "0"),
    ("COFFER_RATE_REGISTER", "100000000"),
    ("COFFER_RATE_AUTH", "100000000"),
    ("COFFER_RATE_UPLOAD", "100000000"),
    ("COFFER_RATE_GENERAL", "100000000"),
    ("COFFER_RATE_DISCOVERY", "100000000"),
    ("COFFER_RATE_ADMIN", "100000000"),
];

/// A running server process.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// The certificate's SPKI pin from the banner.
    pub pin: SpkiPin,
    /// Spawn to complete banner.
    pub startup: Duration,
    /// The server's stderr log file.
    pub log: PathBuf,
}

impl Server {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM (through kill(1): this crate forbids `unsafe`), a bounded wait, then SIGKILL.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        self.child.wait()?;
        bail!("the server did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed it")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The relay binary: `explicit`, else `$COFFER_RELAY_BIN`, else `coffer-relay` next to this
/// executable (`target/<profile>/`).
pub fn relay_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    if let Some(bin) = std::env::var_os("COFFER_RELAY_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().map(Path::to_owned);
    // A test executable lives in target/<profile>/deps/.
    for _ in 0..2 {
        if let Some(d) = &dir {
            let candidate = d.join("coffer-relay");
            if candidate.is_file() {
                return Ok(candidate);
            }
            dir = d.parent().map(Path::to_owned);
        }
    }
    bail!(
        "coffer-relay not found next to {}: build it (cargo build --release -p coffer-relay) \
         or pass --relay-bin / COFFER_RELAY_BIN",
        exe.display()
    )
}

/// Starts `coffer-relay --data-dir <data_dir> --listen 127.0.0.1:0` with [`RELAY_ENV`] plus
/// `extra_env`; its stderr goes to `log`.
pub fn start_relay(
    bin: &Path,
    data_dir: &Path,
    log: &Path,
    extra_env: &BTreeMap<String, String>,
) -> anyhow::Result<Server> {
    let mut cmd = Command::new(bin);
    cmd.arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg("127.0.0.1:0");
    for key in coffer_test_kit::relay::scrubbed_vars() {
        cmd.env_remove(key);
    }
    cmd.envs(RELAY_ENV.iter().copied());
    cmd.envs(extra_env);
    start(cmd, log).with_context(|| format!("start {}", bin.display()))
}

/// Starts this executable's baseline server mode on `dir` (certificate kept there).
pub fn start_baseline(dir: &Path, log: &Path) -> anyhow::Result<Server> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(&exe);
    cmd.arg("serve-baseline").arg("--dir").arg(dir);
    start(cmd, log).context("start the baseline server")
}

fn start(mut cmd: Command, log: &Path) -> anyhow::Result<Server> {
    let stderr = std::fs::File::create(log).with_context(|| format!("create {}", log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr));
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("stdout is piped"))?;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        // Drains stdout for the life of the process, so the pipe never fills.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The relay's banner and the baseline's (which has no data directory): url and pin.
    let mut banner = Banner::default();
    while banner.url.is_none() || banner.pin.is_none() {
        let left = START_TIMEOUT.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => banner.feed(&line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "no complete banner (url/pin) within {START_TIMEOUT:?} or the process exited; \
                     see {}",
                    log.display()
                );
            }
        }
    }
    let url = banner
        .url
        .ok_or_else(|| anyhow!("banner without url"))?
        .trim_end_matches('/')
        .to_owned();
    let pin: SpkiPin = banner
        .pin
        .ok_or_else(|| anyhow!("banner without pin"))?
        .parse()
        .map_err(|e| anyhow!("pin: {e}"))?;
    if !url.starts_with("https://127.0.0.1:") {
        let _ = child.kill();
        bail!("the server listens on {url}, not on 127.0.0.1");
    }
    Ok(Server {
        child,
        url,
        pin,
        startup: started.elapsed(),
        log: log.to_owned(),
    })
}
