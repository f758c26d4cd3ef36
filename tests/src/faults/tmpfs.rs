//! A small tmpfs for disk-full tests: mounted on a fresh temporary directory, resizable while
//! mounted (`mount -o remount,size=`), unmounted on drop (lazily, so a relay still holding a
//! file open cannot make the unmount fail and leak the mount).
//!
//! Mounting needs root. A test that needs it and does not have it fails with how to run it;
//! it never passes silently.

use std::path::Path;
use std::process::Command;

/// Panics with instructions unless the process runs as root (needed for `mount`).
pub fn require_root(what: &str) {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert_eq!(
        uid, "0",
        "{what} mounts a small tmpfs and must run as root (uid is {uid:?}). CI runs it as root; \
         locally: `cargo build -p coffer-relay && sudo -E $(which cargo) test -p coffer-tests \
         --test it -- --ignored faults_disk::`"
    );
}

/// A mounted tmpfs.
#[derive(Debug)]
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount`'s syntax: `4m`, `600k`) on a new directory.
    pub fn mount(size: &str) -> Tmpfs {
        require_root("this test");
        let dir = tempfile::Builder::new()
            .prefix("coffer-tmpfs-")
            .tempdir()
            .expect("create a mount point");
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"))
            .arg("tmpfs")
            .arg(dir.path()));
        Tmpfs { dir }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Changes the size while mounted (files stay).
    pub fn resize(&self, size: &str) {
        run(Command::new("mount")
            .arg("-o")
            .arg(format!("remount,size={size}"))
            .arg(self.dir.path()));
    }

    /// (used, total) bytes, as `df` reports them.
    pub fn usage(&self) -> (u64, u64) {
        let out = Command::new("df")
            .args(["-B1", "--output=used,size"])
            .arg(self.dir.path())
            .output()
            .expect("run df");
        let text = String::from_utf8_lossy(&out.stdout);
        let numbers: Vec<u64> = text
            .lines()
            .nth(1)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        match numbers[..] {
            [used, size] => (used, size),
            _ => panic!("unexpected df output: {text}"),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
