//! Seeding a relay data directory with many stored volumes, fast, for the growth runs.
//!
//! Method: before the relay starts, the relay's own store functions (`coffer_relay::store`:
//! `Db::open` with its migrations, `users::insert`, `volumes::put`) write the rows straight
//! into its SQLite database, in transactions of a few thousand users. v1 volumes are one per
//! (user, name), so `n` volumes are `n / 8` systems with all 8 names. Each row points at its
//! own blob file name, as an upload would leave it (`<user>/<name>.v1.<random>.bin`), but the
//! files are **hard links** of a few template files (ext4 allows 65,000 links per inode, so a
//! new template is made every 60,000 links): one real sealed v1 volume of 4 KiB per name,
//! signed by one seeding identity. Nothing on disk differs from real uploads except that the
//! bytes repeat; the relay's start-up sweep keeps every file because every file is referenced.
//! Seeded accounts have no sessions and no friends; the benchmark's own accounts come on top.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use coffer_client_core::identity::Identity;
use coffer_client_core::legacy::v1::{self as crypto, Vek};
use coffer_relay::config::Config;
use coffer_relay::store::users::User;
use coffer_relay::store::volumes::{PutOutcome, VolumeRow};
use coffer_relay::store::{ClientType, Db, hour, now, users, volumes};
use coffer_wire::v1::VolumeName;
use serde::Serialize;
use serde_json::Value;

use super::setup::filler;

/// Links per template file (ext4's limit is 65,000).
const LINKS_PER_TEMPLATE: u64 = 60_000;
/// Users per transaction.
const USERS_PER_TX: usize = 2_000;

/// What seeding did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeedReport {
    /// Volume rows (and blob files).
    pub volumes: u64,
    /// System accounts.
    pub users: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Database file size after a checkpoint, MiB.
    pub db_mib: f64,
    /// Template files the blob links point at.
    pub templates: u64,
}

struct Template {
    name: VolumeName,
    header_text: String,
    signature: [u8; 64],
    size: u64,
    file: std::path::PathBuf,
    links: u64,
    copies: u64,
}

/// Seeds `data_dir` (a relay data directory that does not exist yet or is empty) with
/// `count` volumes; template files go to `scratch` (same file system, outside the data dir).
pub fn seed(data_dir: &Path, scratch: &Path, count: u64) -> anyhow::Result<SeedReport> {
    let started = Instant::now();
    std::fs::create_dir_all(data_dir)?;
    std::fs::create_dir_all(scratch)?;
    let config = Config {
        data_dir: data_dir.to_owned(),
        ..Config::default()
    };
    let db = Db::open(&config.database_path()).context("open the relay database")?;
    let blob_root = config.blob_path();
    std::fs::create_dir_all(&blob_root)?;

    let identity = Identity::generate();
    let vek = Vek::generate();
    let plaintext = filler(4096);
    let created = hour(now());
    let mut templates = Vec::new();
    for name in VolumeName::ALL {
        let sealed = crypto::seal_volume(&identity, &vek, name, 1, created, &plaintext);
        // Stored as the relay stores it: the header object re-serialised with sorted keys.
        let header: Value = serde_json::from_str(&sealed.header.canonical_json())?;
        let file = scratch.join(format!("{}.0.bin", name.as_str()));
        std::fs::write(&file, &sealed.blob)?;
        templates.push(Template {
            name,
            header_text: serde_json::to_string(&header)?,
            signature: sealed.signature,
            size: sealed.blob.len() as u64,
            file,
            links: 0,
            copies: 1,
        });
    }

    let users_needed = count.div_ceil(VolumeName::ALL.len() as u64);
    let mut left = count;
    let mut made_users = 0u64;
    while made_users < users_needed {
        let batch = (users_needed - made_users).min(USERS_PER_TX as u64);
        let mut rows: Vec<(User, Vec<VolumeRow>)> = Vec::with_capacity(batch as usize);
        for _ in 0..batch {
            let id = uuid::Uuid::new_v4().to_string();
            let user_dir = blob_root.join(&id);
            std::fs::create_dir(&user_dir)?;
            let mut vols = Vec::new();
            for t in &mut templates {
                if left == 0 {
                    break;
                }
                left -= 1;
                if t.links >= LINKS_PER_TEMPLATE {
                    let copy = scratch.join(format!("{}.{}.bin", t.name.as_str(), t.copies));
                    std::fs::copy(&t.file, &copy)?;
                    t.file = copy;
                    t.copies += 1;
                    t.links = 0;
                }
                let suffix = hex::encode(rand::random::<[u8; 8]>());
                let file_name = format!("{}.v1.{suffix}.bin", t.name.as_str());
                std::fs::hard_link(&t.file, user_dir.join(&file_name))
                    .with_context(|| format!("hard link into {}", user_dir.display()))?;
                t.links += 1;
                vols.push(VolumeRow {
                    user_id: id.clone(),
                    volume_name: t.name.as_str().to_owned(),
                    version: 1,
                    control_header: t.header_text.clone(),
                    blob_file: format!("{id}/{file_name}"),
                    signature: t.signature,
                    size_bytes: t.size,
                    updated_at: created,
                });
            }
            let user = User {
                id,
                public_signing_key: identity.public_signing_key(),
                public_exchange_key: identity.public_exchange_key(),
                handle: None,
                client_type: ClientType::System,
                protocol_version: 1,
                feature_set: "[]".to_owned(),
                storage_used_bytes: 0,
                created_at: created,
                key_binding_signature: None,
            };
            rows.push((user, vols));
        }
        db.write_blocking(|tx| {
            for (user, vols) in &rows {
                users::insert(tx, user)?;
                for row in vols {
                    match volumes::put(tx, row, u64::MAX)? {
                        PutOutcome::Stored { .. } => {}
                        _ => {
                            return Err(coffer_relay::store::StoreError::Corrupt(
                                "a seeded volume was refused",
                            ));
                        }
                    }
                }
            }
            Ok(())
        })
        .map_err(|e| anyhow!("seed transaction: {e}"))?;
        made_users += batch;
    }
    db.checkpoint().map_err(|e| anyhow!("checkpoint: {e}"))?;
    drop(db);
    let db_mib = std::fs::metadata(config.database_path())
        .map_or(0.0, |m| m.len() as f64 / f64::from(1u32 << 20));
    Ok(SeedReport {
        volumes: count,
        users: made_users,
        seconds: started.elapsed().as_secs_f64(),
        db_mib,
        templates: templates.iter().map(|t| t.copies).sum(),
    })
}

/// Removes a seeded directory tree (best effort, bounded by what is there).
pub fn remove(dir: &Path) -> Duration {
    let t = Instant::now();
    let _ = std::fs::remove_dir_all(dir);
    t.elapsed()
}
