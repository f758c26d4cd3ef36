//! Certificate files (`tls.cert`/`tls.key`) with the real binary: given in the file they are
//! served (no silent self-signed), a contradicting mode is refused, `--check-config` loads and
//! checks them and the log filter, relative paths follow the file, and renewed files are
//! reloaded on SIGHUP and on change while open connections keep working
//! (docs/adr/0022-tls-config-honesty-and-reload.md).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use coffer_certs::{SpkiPin, client_config_pinned, generate_self_signed};

/// A certificate and key for localhost, as PEM.
struct Pair {
    cert: String,
    key: String,
    pin: SpkiPin,
}

fn pair() -> Pair {
    let g = generate_self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
    Pair {
        cert: g.cert_pem.clone(),
        key: g.key_pem.to_string(),
        pin: g.pin,
    }
}

/// Writes `pair` to `dir/cert.pem` and `dir/key.pem` (each replaced by a rename, as renewal
/// tools do).
fn install(dir: &Path, pair: &Pair) {
    for (name, text) in [("cert.pem", &pair.cert), ("key.pem", &pair.key)] {
        let tmp = dir.join(format!(".{name}.new"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
}

fn relay_cmd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer-relay"));
    for (key, _) in std::env::vars() {
        if ["COFFER_", "PLURALLOG_", "POLYLOG_", "RUST_LOG"]
            .iter()
            .any(|p| key.starts_with(p))
        {
            cmd.env_remove(key);
        }
    }
    // Relative paths must not depend on where the test runs.
    cmd.current_dir("/");
    cmd
}

fn check(config: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = relay_cmd();
    cmd.arg("--config").arg(config).arg("--check-config");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A config directory with a pair installed and a file naming it by relative paths only.
fn config_dir(pair: &Pair, extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), pair);
    let file = dir.path().join("relay.toml");
    std::fs::write(
        &file,
        format!("data_dir = \"data\"\n{extra}\n[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n"),
    )
    .unwrap();
    (dir, file)
}

struct Relay {
    child: Child,
    port: u16,
    banner_pin: SpkiPin,
    log: PathBuf,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("relay log:\n{}", self.log());
        }
    }
}

impl Relay {
    fn start(config: &Path, env: &[(&str, &str)]) -> Relay {
        let log = config.with_file_name("relay.log");
        let mut cmd = relay_cmd();
        cmd.arg("--config")
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .env("COFFER_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut banner: Vec<String> = Vec::new();
        while !banner.iter().any(|l| l.trim_start().starts_with("data:")) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => banner.push(line),
                Err(_) => panic!(
                    "no banner; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
            }
        }
        let field = |name: &str| {
            banner
                .iter()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
                .unwrap()
        };
        let url = field("url:");
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        let banner_pin = field("pin:").parse().unwrap();
        Relay {
            child,
            port,
            banner_pin,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn hangup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// A TLS connection that trusts only `pin`, or the handshake's error.
    fn connect(&self, pin: SpkiPin) -> Result<Conn, std::io::Error> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(client_config_pinned(pin)), name)
            .map_err(std::io::Error::other)?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(Conn(stream))
    }

    /// Waits until a new connection trusting `pin` succeeds.
    fn wait_for_pin(&self, pin: SpkiPin, within: Duration) {
        let deadline = Instant::now() + within;
        while self.connect(pin).is_err() {
            assert!(
                Instant::now() < deadline,
                "the relay did not serve {pin} within {within:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

struct Conn(rustls::StreamOwned<rustls::ClientConnection, TcpStream>);

impl Conn {
    /// `GET /api/v2/pins` on this connection (kept alive); the body.
    fn pins(&mut self) -> String {
        self.0
            .write_all(b"GET /api/v2/pins HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        self.0.flush().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            self.0.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap();
        let mut body = vec![0u8; len];
        self.0.read_exact(&mut body).unwrap();
        String::from_utf8(body).unwrap()
    }
}

#[test]
fn cert_and_key_in_the_file_are_served_without_a_mode() {
    let a = pair();
    let (dir, file) = config_dir(&a, "");
    let relay = Relay::start(&file, &[]);
    assert_eq!(relay.banner_pin, a.pin);
    let mut conn = relay
        .connect(a.pin)
        .expect("the configured certificate is served");
    assert!(conn.pins().contains(&a.pin.to_string()));
    // Not a self-signed certificate of its own: nothing generated in the data directory,
    // which is relative to the file's directory (the relay runs in /).
    assert!(dir.path().join("data").is_dir());
    assert!(!dir.path().join("data/tls/cert.pem").exists());
}

#[test]
fn a_contradicting_mode_is_refused_naming_the_keys() {
    let a = pair();
    for mode in ["self-signed", "off"] {
        let (_dir, file) = config_dir(&a, "");
        let toml = std::fs::read_to_string(&file).unwrap();
        std::fs::write(
            &file,
            toml.replace("[tls]\n", &format!("[tls]\nmode = \"{mode}\"\n")),
        )
        .unwrap();
        let out = check(&file, &[]);
        assert_eq!(out.status.code(), Some(2), "{mode}: {out:?}");
        let (stdout, stderr) = text(&out);
        assert!(stdout.contains("INVALID"), "{stdout}");
        for needle in [
            format!("tls.mode = \"{mode}\""),
            "tls.cert".into(),
            "tls.key".into(),
        ] {
            assert!(stderr.contains(&needle), "{mode}: {stderr}");
        }
    }
    // `files` with only a certificate names the missing key.
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), &a);
    let file = dir.path().join("relay.toml");
    std::fs::write(&file, "[tls]\nmode = \"files\"\ncert = \"cert.pem\"\n").unwrap();
    let out = check(&file, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("tls.key is missing"), "{out:?}");
    // The same from the environment: an explicit self-signed mode with a certificate.
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, "").unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let out = check(
        &plain,
        &[
            ("COFFER_TLS_MODE", "self-signed"),
            ("COFFER_TLS_CERT", cert.to_str().unwrap()),
            ("COFFER_TLS_KEY", key.to_str().unwrap()),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out).1.contains("contradicts"), "{out:?}");
    // Without a mode the environment's files are used.
    let out = check(
        &plain,
        &[
            ("PLURALLOG_TLS_CERT", cert.to_str().unwrap()),
            ("PLURALLOG_TLS_KEY", key.to_str().unwrap()),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out).0.contains(&a.pin.to_string()));
}

#[test]
fn check_config_summarises_the_certificate_and_resolves_paths_by_the_file() {
    let a = pair();
    let (dir, file) = config_dir(&a, "");
    let out = check(&file, &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("configuration is valid\n"), "{stdout}");
    for needle in [
        a.pin.to_string(),
        "localhost, 127.0.0.1".to_owned(),
        "expires".to_owned(),
        " UTC".to_owned(),
        dir.path().join("cert.pem").display().to_string(),
        // data_dir = "data" in the file, read from /: the file's directory, not the cwd.
        dir.path().join("data").display().to_string(),
    ] {
        assert!(stdout.contains(&needle), "no {needle} in:\n{stdout}");
    }
    // A summary, not a Rust Debug dump; no key material.
    assert!(!stdout.contains("TlsConfig"), "{stdout}");
    assert!(!stdout.contains("PRIVATE KEY"), "{stdout}");
    // A relative path from the environment is relative to the working directory.
    let out = check(&file, &[("COFFER_DATA_DIR", "elsewhere")]);
    let line = text(&out)
        .0
        .lines()
        .find(|l| l.trim_start().starts_with("data "))
        .unwrap()
        .to_owned();
    assert!(line.trim_end().ends_with(" elsewhere"), "{line}");
}

#[test]
fn an_invalid_log_filter_is_refused_by_the_check_and_at_start_up() {
    let a = pair();
    let (_dir, file) = config_dir(&a, "");
    for filter in ["infoo", "coffer_relay=loud"] {
        let out = check(&file, &[("COFFER_LOG", filter)]);
        assert_eq!(out.status.code(), Some(2), "{filter}: {out:?}");
        let (_, stderr) = text(&out);
        assert!(stderr.contains("log"), "{stderr}");
        assert!(stderr.contains(filter), "{stderr}");
    }
    // Starting (not checking) with it fails too, instead of logging at `info`.
    let out = relay_cmd()
        .arg("--config")
        .arg(&file)
        .args(["--listen", "127.0.0.1:0"])
        .env("COFFER_LOG", "infoo")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // The file's `log` key likewise.
    let (_dir, file) = config_dir(&a, "log = \"verbose\"");
    let out = check(&file, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn a_missing_or_foreign_key_is_refused() {
    let a = pair();
    let b = pair();
    let (dir, file) = config_dir(&a, "");
    // B's key with A's certificate.
    std::fs::write(dir.path().join("key.pem"), &b.key).unwrap();
    let out = check(&file, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("INVALID"), "{stdout}");
    assert!(
        stderr.contains(&dir.path().join("key.pem").display().to_string()),
        "{stderr}"
    );
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    // No key file at all.
    std::fs::remove_file(dir.path().join("key.pem")).unwrap();
    let out = check(&file, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        text(&out)
            .1
            .contains(&dir.path().join("key.pem").display().to_string()),
        "{out:?}"
    );
}

#[test]
fn sighup_reloads_renewed_files_and_open_connections_keep_working() {
    let a = pair();
    let b = pair();
    // Watching off: only the signal can have reloaded.
    let (dir, file) = config_dir(&a, "");
    let relay = Relay::start(&file, &[("COFFER_TLS_WATCH_INTERVAL", "0")]);
    let mut kept = relay.connect(a.pin).unwrap();
    assert!(kept.pins().contains(&a.pin.to_string()));

    install(dir.path(), &b);
    relay.hangup();
    relay.wait_for_pin(b.pin, Duration::from_secs(10));
    assert!(relay.connect(a.pin).is_err(), "new connections still get A");
    // The connection made before the reload goes on, and the relay now announces B.
    assert!(kept.pins().contains(&b.pin.to_string()));
    let log = relay.log();
    assert!(
        log.contains("SIGHUP: reloaded the TLS certificate"),
        "{log}"
    );
    assert!(log.contains(&b.pin.to_string()), "{log}");
    assert!(!log.contains("PRIVATE KEY"));

    // A broken renewal (A's certificate, B's key) is refused and B stays served.
    std::fs::write(dir.path().join("cert.pem"), &a.cert).unwrap();
    relay.hangup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !relay.log().contains("were NOT reloaded") {
        assert!(Instant::now() < deadline, "{}", relay.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    relay
        .connect(b.pin)
        .expect("the previous certificate is still served");
}

#[test]
fn changed_files_are_reloaded_without_a_signal() {
    let a = pair();
    let b = pair();
    let (dir, file) = config_dir(&a, "");
    let relay = Relay::start(&file, &[("COFFER_TLS_WATCH_INTERVAL", "1")]);
    let mut kept = relay.connect(a.pin).unwrap();
    assert!(kept.pins().contains(&a.pin.to_string()));
    install(dir.path(), &b);
    relay.wait_for_pin(b.pin, Duration::from_secs(15));
    assert!(kept.pins().contains(&b.pin.to_string()));
    assert!(
        relay
            .log()
            .contains("certificate files changed: reloaded the TLS certificate"),
        "{}",
        relay.log()
    );
}
