//! A whole cluster on this machine for one test (issue 14): PostgreSQL, three Garage nodes,
//! relay instances on the shared database and bucket, HAProxy in front — started by the
//! project's own `scripts/cluster.sh up`, on ports and in a directory of the test's own, and
//! stopped with `down --purge` when dropped.
//!
//! The relays are the binaries of this build (`relay_binary()` and the `coffer-admin` beside
//! it), with the test defaults (rate limits out of the way) and a fresh admin token.

use std::path::{Path, PathBuf};
use std::process::Command;

use coffer_certs::SpkiPin;

use crate::http::Http;
use crate::relay::relay_binary;

/// Ports of a test cluster: PostgreSQL, Garage's base (S3 on base, base+10, base+20; RPC +1,
/// admin +3), the first relay, the front door.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// PostgreSQL.
    pub postgres: u16,
    /// Garage's port base.
    pub garage: u16,
    /// The first relay instance (the others follow).
    pub relays: u16,
    /// HAProxy's front door.
    pub front: u16,
}

/// A running cluster.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    ports: Ports,
    instances: usize,
    admin_token: String,
    extra_env: Vec<(String, String)>,
    /// The front door's `URL PIN`, once `up` printed it.
    door: Option<(String, SpkiPin)>,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

impl Cluster {
    /// Starts `instances` relays (with `env` added to the test defaults) and everything they
    /// need, on `ports`; panics with the script's output when that fails, and when a port is
    /// taken (the test says which, rather than joining someone else's server).
    pub fn up(ports: Ports, instances: usize, env: &[(&str, &str)]) -> Cluster {
        let mut needed = vec![ports.postgres, ports.front];
        for node in 0..3u16 {
            for offset in [0, 1, 3] {
                needed.push(ports.garage + 10 * node + offset);
            }
        }
        for i in 0..instances {
            needed.push(ports.relays + u16::try_from(i).expect("a few instances"));
        }
        for port in needed {
            assert!(
                port_free(port),
                "127.0.0.1:{port} is in use: this test starts a cluster of its own on it \
                 (stop what listens there, e.g. `scripts/cluster.sh down`)"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("coffer-cluster-test-")
            .tempdir()
            .expect("a cluster directory");
        // postgres.sh runs initdb as the postgres user: it must be able to enter the directory.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod the cluster directory");
        let mut cluster = Cluster {
            dir,
            ports,
            instances,
            admin_token: hex::encode(rand::random::<[u8; 24]>()),
            extra_env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            door: None,
        };
        let out = cluster.run("cluster.sh", &["up"]);
        let last = out.lines().last().unwrap_or_default().to_owned();
        let (url, pin) = last
            .split_once(' ')
            .unwrap_or_else(|| panic!("cluster.sh up printed no `URL PIN` last: {out}"));
        let pin = pin
            .parse()
            .unwrap_or_else(|e| panic!("cluster.sh printed pin {pin:?}: {e:?}"));
        cluster.door = Some((url.to_owned(), pin));
        cluster
    }

    /// Runs one of the project's scripts with this cluster's directory, ports and relay
    /// environment; its stdout (panics with both outputs when it fails).
    pub fn run(&self, name: &str, args: &[&str]) -> String {
        let out = self
            .command(name, args)
            .output()
            .expect("run a cluster script");
        assert!(
            out.status.success(),
            "scripts/{name} {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn command(&self, name: &str, args: &[&str]) -> Command {
        let relay = relay_binary();
        let admin = relay.with_file_name("coffer-admin");
        let mut cmd = Command::new("bash");
        cmd.arg(script(name)).args(args);
        for key in coffer_test_kit::relay::scrubbed_vars() {
            cmd.env_remove(key);
        }
        for (key, value) in coffer_test_kit::relay::TEST_ENV {
            cmd.env(key, value);
        }
        cmd.envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .env("COFFER_ADMIN_TOKEN", &self.admin_token)
            .env("COFFER_CLUSTER_DIR", self.dir.path())
            .env("COFFER_CLUSTER_INSTANCES", self.instances.to_string())
            .env("COFFER_RELAY_BIN", &relay)
            .env("COFFER_ADMIN_BIN", &admin)
            .env("COFFER_PG_PORT", self.ports.postgres.to_string())
            .env("COFFER_GARAGE_PORT_BASE", self.ports.garage.to_string())
            .env("COFFER_RELAY_PORT_BASE", self.ports.relays.to_string())
            .env("COFFER_LB_PORT", self.ports.front.to_string());
        cmd
    }

    /// The shared pin of every instance.
    pub fn pin(&self) -> SpkiPin {
        self.door.as_ref().expect("the cluster is up").1
    }

    /// The admin token every instance was given.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// A client of the front door (HAProxy, round robin over the instances).
    pub fn front(&self) -> Http {
        Http::new(
            &self.door.as_ref().expect("the cluster is up").0,
            self.pin(),
        )
    }

    /// A client of instance `i` (1-based) directly.
    pub fn instance(&self, i: usize) -> Http {
        Http::new(
            &format!("https://127.0.0.1:{}", self.relay_port(i)),
            self.pin(),
        )
    }

    fn relay_port(&self, i: usize) -> u16 {
        assert!((1..=self.instances).contains(&i), "no instance {i}");
        self.ports.relays + u16::try_from(i - 1).expect("a few instances")
    }

    /// Instance `i`'s PID (from its PID file).
    pub fn relay_pid(&self, i: usize) -> u32 {
        let file = self
            .dir
            .path()
            .join(format!("relay{i}"))
            .join("coffer-relay.pid");
        std::fs::read_to_string(&file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("no PID in {}", file.display()))
    }

    /// Instance `i`'s log so far.
    pub fn relay_log(&self, i: usize) -> String {
        let file = self
            .dir
            .path()
            .join(format!("relay{i}"))
            .join("coffer-relay.log");
        std::fs::read(&file)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Sends SIGKILL to instance `i` and waits until it is gone.
    pub fn kill_relay(&self, i: usize) {
        let pid = self.relay_pid(i);
        let status = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -KILL {pid}");
        for _ in 0..100 {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("instance {i} (PID {pid}) still runs 5 s after SIGKILL");
    }

    /// `up` again: starts what is not running (a killed instance, a stopped server).
    pub fn up_again(&self) {
        self.run("cluster.sh", &["up"]);
    }

    /// The `COFFER_S3_*` settings of the cluster's bucket (for reading it beside the relays).
    pub fn s3_env(&self) -> Vec<(String, String)> {
        self.run("garage.sh", &["env"])
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// The PostgreSQL URL of the relays' database.
    pub fn postgres_url(&self) -> String {
        self.run("postgres.sh", &["url"]).trim().to_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        match self.command("cluster.sh", &["down", "--purge"]).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "cluster.sh down --purge failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("cluster.sh down --purge: {e}"),
        }
    }
}
