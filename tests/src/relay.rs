//! Starting, stopping and restarting the real `coffer-relay` binary.
//!
//! Each [`RelayProcess`] owns a fresh temporary directory with the relay's data directory in
//! `data/` and its captured stderr in `relay-stderr.log` (kept outside the data directory, so
//! checks on the data directory never see the log). When a test panics while a relay is alive,
//! the relay's stderr and stdout are printed, so a failure shows what the relay logged.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_certs::SpkiPin;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::http::Http;

/// How long a relay may take from spawn to a complete banner.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful shutdown may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

pub use coffer_test_kit::relay::relay_binary;
use coffer_test_kit::relay::{self, Banner};

/// Configures a relay before starting it.
#[derive(Debug, Clone)]
pub struct RelayBuilder {
    env: BTreeMap<String, String>,
    /// `COFFER_TEST_BACKEND=postgres`: whether the relay gets a fresh database of its own
    /// (not when [`RelayBuilder::on_database`] named one).
    own_database: bool,
}

impl RelayBuilder {
    /// Sets an environment variable for the relay (overrides the test defaults).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Removes a variable, including a test default (e.g. a rate limit, to get the relay's
    /// own default).
    pub fn without(mut self, key: &str) -> Self {
        self.env.remove(key);
        self
    }

    /// Runs the relay on the PostgreSQL database `db`, which other relays may share: instances
    /// of one relay (issue 14), whatever `COFFER_TEST_BACKEND` says. The caller keeps `db`
    /// alive while the relays run.
    pub fn on_database(mut self, db: &crate::backend::PgDatabase) -> Self {
        self.own_database = false;
        self.env("COFFER_STORAGE_BACKEND", "postgres")
            .env("COFFER_POSTGRES_URL", db.url())
    }

    /// Starts the relay on a fresh data directory and waits for its banner.
    pub async fn start(self) -> RelayProcess {
        let work = tempfile::Builder::new()
            .prefix("coffer-e2e-")
            .tempdir()
            .expect("create a temporary directory");
        let data_dir = work.path().join("data");
        fs::create_dir(&data_dir).expect("create the data directory");
        let data_dir = data_dir
            .canonicalize()
            .expect("canonical data directory path");
        let mut env = self.env;
        let database = match crate::backend::selected() {
            _ if !self.own_database => None,
            crate::backend::Backend::Sqlite => None,
            crate::backend::Backend::Postgres => {
                let db = crate::backend::PgDatabase::create();
                env.insert("COFFER_STORAGE_BACKEND".to_owned(), "postgres".to_owned());
                env.insert("COFFER_POSTGRES_URL".to_owned(), db.url().to_owned());
                Some(db)
            }
        };
        if crate::backend::blobs() == crate::backend::Blobs::S3 {
            for (key, value) in crate::backend::s3_env() {
                env.entry(key).or_insert(value);
            }
        }
        let mut relay = RelayProcess {
            work,
            data_dir,
            _database: database,
            env,
            child: None,
            url: String::new(),
            pin: None,
            stdout: Arc::new(Mutex::new(Vec::new())),
            starts: 0,
            listen: "127.0.0.1:0".to_owned(),
        };
        relay.spawn().await;
        relay
    }
}

/// A running (or stopped) `coffer-relay` process with its own data directory.
#[derive(Debug)]
pub struct RelayProcess {
    work: tempfile::TempDir,
    /// `COFFER_TEST_BACKEND=postgres`: the relay's database, dropped (`DROP DATABASE … WITH
    /// (FORCE)`) after `Drop for RelayProcess` has killed the relay.
    _database: Option<crate::backend::PgDatabase>,
    data_dir: PathBuf,
    env: BTreeMap<String, String>,
    child: Option<Child>,
    url: String,
    pin: Option<SpkiPin>,
    stdout: Arc<Mutex<Vec<String>>>,
    starts: u32,
    /// `--listen`: port 0 until [`RelayProcess::restart_on_same_port`] pins the port.
    listen: String,
}

impl RelayProcess {
    /// A builder with the test defaults (random admin token, rate limits out of the way).
    pub fn builder() -> RelayBuilder {
        let mut env: BTreeMap<String, String> = relay::TEST_ENV
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.insert(
            "COFFER_ADMIN_TOKEN".to_owned(),
            hex::encode(rand::random::<[u8; 24]>()),
        );
        RelayBuilder {
            env,
            own_database: true,
        }
    }

    /// Starts a relay with the test defaults.
    pub async fn start() -> RelayProcess {
        Self::builder().start().await
    }

    /// `https://127.0.0.1:<port>` of the current process.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The SPKI pin the relay printed (checked against its certificate file).
    pub fn pin(&self) -> SpkiPin {
        self.pin.expect("the relay has started at least once")
    }

    /// The relay's data directory (absolute, canonical).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The database file: `COFFER_DATABASE` if the test set it, else `<data>/coffer.db`.
    pub fn database_path(&self) -> PathBuf {
        self.env
            .get("COFFER_DATABASE")
            .map_or_else(|| self.data_dir.join("coffer.db"), PathBuf::from)
    }

    /// The blob directory: `COFFER_BLOB_DIR` if the test set it, else `<data>/blobs`.
    pub fn blob_dir(&self) -> PathBuf {
        self.env
            .get("COFFER_BLOB_DIR")
            .map_or_else(|| self.data_dir.join("blobs"), PathBuf::from)
    }

    /// The port of the current (or last) process.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the relay has started at least once")
    }

    /// The admin token the relay was started with.
    pub fn admin_token(&self) -> &str {
        ["COFFER_ADMIN_TOKEN", "PLURALLOG_ADMIN_TOKEN"]
            .iter()
            .find_map(|k| self.env.get(*k))
            .map(String::as_str)
            .expect("test relays always get an admin token")
    }

    /// The process id of the running relay.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .and_then(Child::id)
            .expect("the relay is running")
    }

    /// A plain HTTP client pinned to this relay (no template headers, no token).
    pub fn http(&self) -> Http {
        Http::new(&self.url, self.pin())
    }

    /// How many volume rows keep their payload inline and how many in a blob file, read from
    /// whichever back end this relay stores in (read-only; safe beside the running relay).
    pub fn payload_places(&self) -> (u64, u64) {
        match &self._database {
            Some(db) => db.payload_places(),
            None => crate::backend::sqlite_payload_places(&self.database_path()),
        }
    }

    /// The relay's stderr so far (its log).
    pub fn stderr_log(&self) -> String {
        fs::read(self.stderr_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn stderr_path(&self) -> PathBuf {
        self.work.path().join("relay-stderr.log")
    }

    /// The relay's stdout lines so far (banner included).
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().expect("stdout lock").clone()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the relay with SIGKILL (no chance to clean up) and waits for it to die.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("the relay is running");
        child.start_kill().expect("send SIGKILL to the relay");
        child.wait().await.expect("reap the killed relay");
    }

    /// Sends a signal by name (`TERM`, `INT`, …) to the relay with the system `kill` tool
    /// (this crate forbids `unsafe`, so no direct `libc::kill`).
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -{name} failed: {status}");
    }

    /// Sends SIGTERM and waits for the relay to exit on its own; returns its exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        self.stop_with("TERM").await
    }

    /// Sends `signal` and waits (bounded) for the relay to exit on its own.
    pub async fn stop_with(&mut self, signal: &str) -> ExitStatus {
        self.signal(signal);
        let mut child = self.child.take().expect("the relay is running");
        match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
            Ok(status) => status.expect("reap the relay"),
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                panic!(
                    "relay did not exit within {STOP_TIMEOUT:?} of SIG{signal}\n{}",
                    self.diagnostics()
                );
            }
        }
    }

    /// Sets (or with `None` removes) an environment variable for the next start (e.g. a
    /// configuration change across [`Self::restart`]).
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(v) => self.env.insert(key.to_owned(), v.to_owned()),
            None => self.env.remove(key),
        };
    }

    /// Starts the relay again on the same data directory (after [`Self::kill`] or
    /// [`Self::terminate`]). The port changes; the pin must not.
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            self.kill().await;
        }
        let old_pin = self.pin;
        self.spawn().await;
        assert_eq!(
            self.pin, old_pin,
            "the relay's certificate pin changed across a restart on the same data directory"
        );
    }

    /// [`Self::restart`] on the port the relay had, as a real relay restarts: clients that name
    /// the port in their origin (v2 accounts, invite links, pins) keep working unchanged.
    pub async fn restart_on_same_port(&mut self) {
        self.listen = format!("127.0.0.1:{}", self.port());
        self.restart().await;
    }

    /// Everything the relay printed, for failure messages.
    pub fn diagnostics(&self) -> String {
        format!(
            "---- relay stdout ----\n{}\n---- relay stderr ({}) ----\n{}",
            self.stdout_lines().join("\n"),
            self.stderr_path().display(),
            tail(&self.stderr_log(), 400)
        )
    }

    async fn spawn(&mut self) {
        let bin = relay_binary();
        let stderr = File::options()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .expect("open the relay's stderr log");
        self.starts += 1;
        self.stdout
            .lock()
            .expect("stdout lock")
            .push(format!("==== start #{} ====", self.starts));

        let mut cmd = Command::new(&bin);
        cmd.arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(&self.listen)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
        for key in relay::scrubbed_vars() {
            cmd.env_remove(key);
        }
        cmd.envs(&self.env);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));

        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let lines_store = Arc::clone(&self.stdout);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            // Keeps draining stdout for the life of the process, so the pipe never fills.
            while let Ok(Some(line)) = lines.next_line().await {
                lines_store.lock().expect("stdout lock").push(line.clone());
                let _ = tx.send(line);
            }
        });
        self.child = Some(child);

        let mut banner = Banner::default();
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        while !banner.is_complete(false) {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(line)) => banner.feed(&line),
                Ok(None) => {
                    let status = match self.child.as_mut() {
                        Some(c) => tokio::time::timeout(Duration::from_secs(5), c.wait())
                            .await
                            .map(|s| format!("{s:?}"))
                            .unwrap_or_else(|_| "still running".to_owned()),
                        None => "unknown".to_owned(),
                    };
                    panic!(
                        "relay closed stdout before printing its banner (url/pin/data); \
                         exit: {status}\n{}",
                        self.diagnostics()
                    );
                }
                Err(_) => panic!(
                    "relay printed no complete banner within {START_TIMEOUT:?}\n{}",
                    self.diagnostics()
                ),
            }
        }
        let url = banner.url.expect("loop ends with a url");
        let pin_text = banner.pin.expect("loop ends with a pin");
        let data = banner.data.expect("loop ends with a data line");

        assert!(
            url.starts_with("https://127.0.0.1:"),
            "banner url {url:?} is not https://127.0.0.1:<port>"
        );
        let port: u16 = url["https://127.0.0.1:".len()..]
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("banner url {url:?} has no port: {e}"));
        assert_ne!(port, 0, "banner shows port 0 instead of the bound port");
        let pin: SpkiPin = pin_text
            .parse()
            .unwrap_or_else(|e| panic!("banner pin {pin_text:?} does not parse: {e}"));
        assert_eq!(
            Path::new(&data).canonicalize().ok().as_deref(),
            Some(self.data_dir.as_path()),
            "banner data line {data:?} is not the data directory {}",
            self.data_dir.display()
        );
        self.check_tls_files(pin);
        self.url = url.trim_end_matches('/').to_owned();
        self.pin = Some(pin);
    }

    /// The certificate in `<data>/tls/cert.pem` has the printed pin; the key file is 0600.
    fn check_tls_files(&self, pin: SpkiPin) {
        let cert_path = self.data_dir.join("tls").join("cert.pem");
        let first = CertificateDer::pem_file_iter(&cert_path)
            .unwrap_or_else(|e| panic!("read {}: {e:?}", cert_path.display()))
            .next()
            .unwrap_or_else(|| panic!("{} holds no certificate", cert_path.display()))
            .unwrap_or_else(|e| panic!("parse {}: {e:?}", cert_path.display()));
        let file_pin = SpkiPin::from_cert_der(&first).expect("the relay's certificate parses");
        assert_eq!(
            file_pin, pin,
            "the printed pin is not the pin of the first certificate in tls/cert.pem"
        );
        let key_path = self.data_dir.join("tls").join("key.pem");
        let mode = fs::metadata(&key_path)
            .unwrap_or_else(|e| panic!("stat {}: {e}", key_path.display()))
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "tls/key.pem has mode {:o}, expected 0600",
            mode & 0o777
        );
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.diagnostics());
        }
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    let mut out = String::new();
    if start > 0 {
        out.push_str(&format!("[… {start} earlier lines]\n"));
    }
    out.push_str(&lines[start..].join("\n"));
    out
}

/// All regular files below `dir`, recursively (empty if `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// All paths (files and directories) below `dir` whose path text contains `needle`.
pub fn paths_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.to_string_lossy().contains(needle) {
                out.push(path.clone());
            }
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(path);
            }
        }
    }
    out
}
