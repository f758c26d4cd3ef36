//! Which processes this tool did not start are sampled beside a relay run, by name:
//! `--sample-pids GROUP=PID[,PID…]` (repeatable), and `--cluster-dir DIR`, which reads the PID
//! files `scripts/cluster.sh` and the scripts it runs leave under their `COFFER_CLUSTER_DIR`:
//!
//! | group | PID file(s) |
//! |---|---|
//! | `relay` | `relayN/coffer-relay.pid` (cluster.sh) |
//! | `postgres` | `postgres/data/postmaster.pid`, first line (the postmaster; its backends are its children) |
//! | `garage` | `garage/nodeN/garage.pid` (garage.sh) |
//! | `haproxy` | `haproxy/haproxy.pid`, first line (haproxy.sh) |
//!
//! The sampling itself is [`super::procfs::Monitor`]'s (each PID with its descendants).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};

use super::procfs::GroupSpec;

/// Whether `pid` is a running process.
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name.len() > 32
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        bail!("group name {name:?}: 1 to 32 letters, digits, '-' or '_'");
    }
    Ok(())
}

/// `--sample-pids` items: `GROUP=PID[,PID…]`, each PID running.
pub fn parse_sample_pids(items: &[String]) -> anyhow::Result<Vec<GroupSpec>> {
    let mut out = Vec::new();
    for item in items {
        let (name, pids) = item
            .split_once('=')
            .ok_or_else(|| anyhow!("--sample-pids {item:?}: expected GROUP=PID[,PID…]"))?;
        check_name(name).with_context(|| format!("--sample-pids {item:?}"))?;
        let mut roots = pids
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                let pid: u32 = p
                    .trim()
                    .parse()
                    .map_err(|_| anyhow!("--sample-pids {item:?}: {p:?} is not a PID"))?;
                if !alive(pid) {
                    bail!("--sample-pids {item:?}: no process {pid}");
                }
                Ok(pid)
            })
            .collect::<anyhow::Result<Vec<u32>>>()?;
        roots.sort_unstable();
        roots.dedup();
        if roots.is_empty() {
            bail!("--sample-pids {item:?}: no PID");
        }
        out.push(GroupSpec {
            name: name.to_owned(),
            roots,
        });
    }
    Ok(out)
}

/// The first line of a PID file, when the file exists; an error when it exists but does not
/// name a running process (a stale file: the cluster is not what it says).
fn pid_file(path: &Path) -> anyhow::Result<Option<u32>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    let pid: u32 = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .map_err(|_| anyhow!("{}: the first line is not a PID", path.display()))?;
    if !alive(pid) {
        bail!(
            "{}: process {pid} does not run (is the cluster up?)",
            path.display()
        );
    }
    Ok(Some(pid))
}

/// `DIR/<prefix>N/<file>` for every N, in N's order.
fn numbered(dir: &Path, prefix: &str, file: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut found: BTreeMap<u32, PathBuf> = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("read {}", dir.display())),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path().join(file);
        if path.exists() {
            found.insert(n, path);
        }
    }
    Ok(found.into_values().collect())
}

/// The groups of a `scripts/cluster.sh` directory. The relays must be there; PostgreSQL,
/// Garage and HAProxy are taken when their PID files are (each missing one is named in the
/// returned notes).
pub fn cluster_groups(dir: &Path) -> anyhow::Result<(Vec<GroupSpec>, Vec<String>)> {
    if !dir.is_dir() {
        bail!("--cluster-dir {}: not a directory", dir.display());
    }
    let mut groups = Vec::new();
    let mut notes = Vec::new();
    let many = |paths: Vec<PathBuf>| -> anyhow::Result<Vec<u32>> {
        paths
            .iter()
            .filter_map(|p| pid_file(p).transpose())
            .collect()
    };
    let relays = many(numbered(dir, "relay", "coffer-relay.pid")?)?;
    if relays.is_empty() {
        bail!(
            "--cluster-dir {}: no relayN/coffer-relay.pid (start the cluster with scripts/cluster.sh up, \
             COFFER_CLUSTER_DIR={0})",
            dir.display()
        );
    }
    groups.push(GroupSpec {
        name: "relay".into(),
        roots: relays,
    });
    let garage = many(numbered(&dir.join("garage"), "node", "garage.pid")?)?;
    for (name, roots, file) in [
        (
            "postgres",
            pid_file(&dir.join("postgres/data/postmaster.pid"))?
                .into_iter()
                .collect(),
            "postgres/data/postmaster.pid",
        ),
        ("garage", garage, "garage/nodeN/garage.pid"),
        (
            "haproxy",
            pid_file(&dir.join("haproxy/haproxy.pid"))?
                .into_iter()
                .collect::<Vec<u32>>(),
            "haproxy/haproxy.pid",
        ),
    ] {
        if roots.is_empty() {
            notes.push(format!("{name}: no {file} under {}", dir.display()));
        } else {
            groups.push(GroupSpec {
                name: name.into(),
                roots,
            });
        }
    }
    Ok((groups, notes))
}

/// Both options together: one list, each name and each PID at most once (a process in two
/// groups would be counted twice).
pub fn merge(mut a: Vec<GroupSpec>, b: Vec<GroupSpec>) -> anyhow::Result<Vec<GroupSpec>> {
    a.extend(b);
    let mut names = std::collections::BTreeSet::new();
    let mut pids = BTreeMap::new();
    for g in &a {
        if !names.insert(g.name.as_str()) {
            bail!(
                "group {:?} named twice (--sample-pids, --cluster-dir)",
                g.name
            );
        }
        for &pid in &g.roots {
            if let Some(other) = pids.insert(pid, g.name.as_str()) {
                bail!(
                    "PID {pid} is in groups {other:?} and {:?}: it would be counted twice",
                    g.name
                );
            }
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_groups_and_refuses_bad_items() {
        let me = std::process::id();
        let groups = parse_sample_pids(&[format!("relay={me}"), format!("pg={me},{me}")])
            .expect("valid items");
        assert_eq!(groups[0].name, "relay");
        assert_eq!(groups[0].roots, vec![me]);
        assert_eq!(groups[1].roots, vec![me], "a PID given twice is one root");
        for bad in [
            "relay",
            "=1",
            "relay=",
            "relay=x",
            "a b=1",
            "relay=4294967295",
        ] {
            assert!(
                parse_sample_pids(&[bad.to_owned()]).is_err(),
                "{bad} was accepted"
            );
        }
        assert!(merge(groups.clone(), Vec::new()).is_err(), "one PID twice");
        let one = parse_sample_pids(&[format!("relay={me}")]).expect("valid");
        assert!(merge(one.clone(), one).is_err(), "one name twice");
    }

    /// A directory laid out as cluster.sh, postgres.sh, garage.sh and haproxy.sh leave it.
    #[test]
    fn finds_the_cluster_scripts_pid_files() {
        let me = std::process::id();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let write = |rel: &str, text: String| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        assert!(cluster_groups(dir.path()).is_err(), "no relay");
        write("relay2/coffer-relay.pid", format!("{me}\n"));
        write("relay1/coffer-relay.pid", format!("{me}\n"));
        let (groups, notes) = cluster_groups(dir.path()).expect("relays only");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].roots, vec![me, me]);
        assert_eq!(notes.len(), 3, "{notes:?}");
        write(
            "postgres/data/postmaster.pid",
            format!("{me}\n/tmp/x/data\n1700000000\n"),
        );
        write("garage/node1/garage.pid", format!("{me}\n"));
        write("garage/node3/garage.pid", format!("{me}\n"));
        write("haproxy/haproxy.pid", format!("{me}\n"));
        let (groups, notes) = cluster_groups(dir.path()).expect("everything");
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["relay", "postgres", "garage", "haproxy"]);
        assert_eq!(groups[2].roots, vec![me, me]);
        assert!(notes.is_empty(), "{notes:?}");
        // A stale PID file is an error, not a silent gap.
        write("haproxy/haproxy.pid", "4294967294\n".to_owned());
        assert!(cluster_groups(dir.path()).is_err());
    }
}
