//! What the disk under the relay's data directory can do on its own: the durable-write sequence
//! of one upload's blob (write 64 KiB, `fsync`, rename, `fsync` the directory), one after the
//! other, as fast as possible. If `publish` runs near this rate while the relay's CPU is mostly
//! idle, publishing is limited by `fsync`, not by the relay.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

/// At most this long, or this many rounds.
const PROBE_TIME: Duration = Duration::from_secs(2);
const PROBE_ROUNDS: u32 = 1000;

/// The probe's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FsyncProbe {
    /// Bytes written per round.
    pub bytes: usize,
    /// Rounds done.
    pub rounds: u32,
    /// Rounds per second (one thread).
    pub rounds_per_s: f64,
    /// Mean time of one file `fsync`, ms.
    pub file_fsync_ms: f64,
    /// Mean time of one directory `fsync`, ms.
    pub dir_fsync_ms: f64,
}

/// Runs the probe in a fresh subdirectory of `dir` (removed afterwards).
pub fn fsync_probe(dir: &Path) -> std::io::Result<FsyncProbe> {
    let work = dir.join(".coffer-bench-fsync-probe");
    fs::create_dir_all(&work)?;
    let data = vec![0x5a_u8; 64 << 10];
    let started = Instant::now();
    let (mut file_sync, mut dir_sync) = (Duration::ZERO, Duration::ZERO);
    let mut rounds = 0;
    while rounds < PROBE_ROUNDS && started.elapsed() < PROBE_TIME {
        let tmp = work.join(".tmp");
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&data)?;
        let t = Instant::now();
        f.sync_all()?;
        file_sync += t.elapsed();
        drop(f);
        fs::rename(&tmp, work.join(format!("{}.bin", rounds % 4)))?;
        let t = Instant::now();
        File::open(&work)?.sync_all()?;
        dir_sync += t.elapsed();
        rounds += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = fs::remove_dir_all(&work);
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(rounds.max(1));
    Ok(FsyncProbe {
        bytes: data.len(),
        rounds,
        rounds_per_s: f64::from(rounds) / secs,
        file_fsync_ms: per(file_sync),
        dir_fsync_ms: per(dir_sync),
    })
}
