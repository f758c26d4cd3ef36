//! `import-plurallog`: moves a PluralLog (v1 reference) relay's SQLite database and volume
//! directory into a new Coffer data directory (docs/adr/0023-import-from-plurallog.md).
//!
//! **Source.** The reference relay's schema (docs/protocol-v1.md §3): `users`, `volumes`,
//! `sharing`, `invite_codes`, `auth_sessions` (tokens in plaintext), blobs as
//! `<volumes>/<user_id>/<volume_name>.bin`. The source is opened read-only and treated as
//! hostile: every cell is read through [`Cell`] with a length limit, every value is checked as
//! Coffer checks the same value arriving over the wire, and a blob is read only up to the
//! relay's `max_volume_size`. A row that fails is reported with its reason, never dropped
//! silently, and never panics.
//!
//! **What is carried.** Users (ids, handles, client types, feature sets, keys, `created_at`
//! floored to the hour), volumes (the newest version of each, its header, signature and size;
//! the blob verified — size as the row says, on v1's padding grid, and the owner's Ed25519
//! signature over the canonical header ‖ blob — and written into Coffer's blob layout),
//! relationships (pending and active, permissions, wrapped VEKs), open invites, and live
//! sessions, whose plaintext tokens are stored as their SHA-256 digests, so apps stay logged
//! in. Not carried, by design: login challenges (five minutes, single use), revoked
//! relationships (they grant nothing), redeemed or expired invites, expired sessions, and the
//! rate-limit table.
//!
//! **Atomicity.** Everything is planned and verified first (all `--dry-run` does). Without
//! `--allow-partial`, a plan that loses anything writes nothing. Then the database is built
//! under a temporary name in ONE transaction; the blob files are written durably (the relay's
//! own [`BlobStore::write`]) before it commits, and the file is renamed into place last — a
//! relay started on a half-imported directory finds no database. The relay's consistency check
//! then runs on the result.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read as _, Write};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use coffer_relay::store::blobs::BlobStore;
use coffer_relay::store::check::{self, Consistency};
use coffer_relay::store::volumes::{self, PutOutcome, VolumeRow};
use coffer_relay::store::{ClientType, hour, invites, migrations, now, sessions, users};
use coffer_wire::b64;
use coffer_wire::v1::{ControlHeader, Permissions, VolumeName, is_on_padding_grid};
use ed25519_dalek::{Signature, VerifyingKey};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, params};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::backup::DataPaths;
use crate::output::{Align, Table, clean, format_size};
use crate::progress::Progress;

/// Rows read from one source table at most (a hostile file cannot exhaust memory by count).
const MAX_ROWS: u64 = 10_000_000;
/// Bytes of cells read from one source table at most (rows are held in memory).
const MAX_TABLE_BYTES: usize = 1 << 30;
/// Longest id, code or time text read.
const MAX_SHORT: usize = 128;
/// Longest handle text read (Coffer keeps 64 characters after trimming, as v1 does).
const MAX_HANDLE_TEXT: usize = 4096;
/// Longest JSON text read (feature sets, permissions; Coffer's control-header limit too).
const MAX_JSON: usize = 4096;
/// Longest session token read.
const MAX_TOKEN: usize = 512;
/// Longest handle kept, in characters (v1's limit).
const MAX_HANDLE_CHARS: usize = 64;
/// Most feature strings, and longest one (Coffer's registration limits).
const MAX_FEATURES: usize = 32;
const MAX_FEATURE_LEN: usize = 64;
/// Longest invite code Coffer looks up.
const MAX_CODE: usize = 64;

/// The columns the importer reads, per table. Other columns are ignored.
const SCHEMA: [(&str, &[&str]); 5] = [
    (
        "users",
        &[
            "id",
            "public_signing_key",
            "public_exchange_key",
            "handle",
            "client_type",
            "protocol_version",
            "feature_set",
            "created_at",
        ],
    ),
    (
        "volumes",
        &[
            "user_id",
            "volume_name",
            "version",
            "control_header",
            "signature",
            "size_bytes",
            "updated_at",
        ],
    ),
    (
        "sharing",
        &[
            "id",
            "system_user_id",
            "friend_user_id",
            "status",
            "permissions",
            "encrypted_vek_blob",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "invite_codes",
        &[
            "code",
            "system_user_id",
            "created_at",
            "expires_at",
            "redeemed_by",
            "redeemed_at",
        ],
    ),
    ("auth_sessions", &["token", "user_id", "expires_at"]),
];

/// Why an import could not run (a row that cannot be carried is a [`Lost`] item instead).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The target holds data already; nothing was written.
    #[error(
        "{} exists and is not empty: import into a new or empty data directory (nothing was \
         changed; to import again, remove what an earlier attempt left there)",
        path.display()
    )]
    NotEmpty {
        /// The non-empty directory or existing database.
        path: PathBuf,
    },
    /// The source is not a usable PluralLog relay database or volume directory.
    #[error("{}: {reason}", path.display())]
    Source {
        /// The source file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Writing the new Coffer database failed (nothing was kept).
    #[error("writing the Coffer database {}: {reason} (nothing was kept)", path.display())]
    Target {
        /// The database being written.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// Some items could not be carried (listed above) and `--allow-partial` was not given.
    #[error(
        "{lost} item(s) could not be carried (listed above); {} — fix the source, or accept \
         the loss with --allow-partial",
        if *dry_run { "this was a dry run" } else { "nothing was written" }
    )]
    Partial {
        /// How many.
        lost: usize,
        /// Whether it was a dry run.
        dry_run: bool,
    },
    /// The imported data failed the relay's consistency check.
    #[error("the imported data is not consistent ({problems} problem(s), listed above)")]
    Inconsistent {
        /// How many problems.
        problems: u64,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One item that could not be carried: what it is (ids and names, never a token, key or
/// code) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lost {
    /// `user`, `volume`, `relationship`, `invite` or `session`.
    pub kind: &'static str,
    /// Which one: a user id, `<user id>/<volume>`, a relationship id, `invite of <system id>`…
    pub item: String,
    /// Why it could not be carried.
    pub reason: String,
}

/// What was (or, in a dry run, would be) carried.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Carried {
    /// System accounts.
    pub systems: u64,
    /// Friend accounts.
    pub friends: u64,
    /// Volumes (newest version of each, with its blob).
    pub volumes: u64,
    /// Their bytes.
    pub volume_bytes: u64,
    /// Active relationships (with their wrapped VEKs).
    pub active_relationships: u64,
    /// Pending relationships.
    pub pending_relationships: u64,
    /// Unredeemed, unexpired invite codes.
    pub open_invites: u64,
    /// Live sessions (tokens stored as SHA-256 digests).
    pub sessions: u64,
}

/// What was left out by design (nothing a user loses).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Skipped {
    /// Relationships with status `revoked` (they grant nothing).
    pub revoked_relationships: u64,
    /// Invites already redeemed or expired.
    pub closed_invites: u64,
    /// Sessions already expired.
    pub expired_sessions: u64,
    /// Login challenges (five minutes, single use): apps ask for a new one.
    pub challenges: u64,
}

/// What `import-plurallog` did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// `imported` or `dry-run`.
    pub status: &'static str,
    /// The PluralLog database.
    pub source_db: String,
    /// The PluralLog volume directory.
    pub source_volumes: String,
    /// The Coffer data directory.
    pub data_dir: String,
    /// Carried.
    pub carried: Carried,
    /// Left out by design.
    pub skipped: Skipped,
    /// Items that could not be carried, with the reason.
    pub lost: Vec<Lost>,
    /// Carried, but changed (a handle dropped, an unreadable time replaced, over quota).
    pub warnings: Vec<String>,
    /// The relay's consistency check of the result (not in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<Consistency>,
}

impl ImportReport {
    /// Human rendering.
    pub fn human(&self) -> String {
        let c = &self.carried;
        let s = &self.skipped;
        let mut out = if self.status == "dry-run" {
            format!(
                "dry run: nothing was written; importing {} into {} would carry:\n",
                clean(&self.source_db),
                clean(&self.data_dir)
            )
        } else {
            format!(
                "imported {} into {}:\n",
                clean(&self.source_db),
                clean(&self.data_dir)
            )
        };
        let mut t = Table::headless(&[Align::Left, Align::Right]);
        t.row(["systems", &c.systems.to_string()]);
        t.row(["friends", &c.friends.to_string()]);
        t.row([
            "volumes",
            &format!("{} ({})", c.volumes, format_size(c.volume_bytes)),
        ]);
        t.row([
            "relationships",
            &format!(
                "{} active, {} pending",
                c.active_relationships, c.pending_relationships
            ),
        ]);
        t.row(["open invites", &c.open_invites.to_string()]);
        t.row(["sessions", &c.sessions.to_string()]);
        out.push_str(&t.render());
        let _ = writeln!(
            out,
            "left out by design: {} revoked relationship(s), {} redeemed or expired invite(s), \
             {} expired session(s), {} login challenge(s)",
            s.revoked_relationships, s.closed_invites, s.expired_sessions, s.challenges
        );
        if !self.warnings.is_empty() {
            out.push_str("carried with changes:\n");
            for w in &self.warnings {
                let _ = writeln!(out, "  - {}", clean(w));
            }
        }
        if self.lost.is_empty() {
            out.push_str("nothing was lost\n");
        } else {
            let _ = writeln!(out, "NOT CARRIED ({}):", self.lost.len());
            for l in &self.lost {
                let _ = writeln!(
                    out,
                    "  - {} {}: {}",
                    l.kind,
                    clean(&l.item),
                    clean(&l.reason)
                );
            }
        }
        if let Some(check) = &self.check {
            let _ = writeln!(
                out,
                "consistency check: {}",
                if check.is_consistent() {
                    "consistent"
                } else {
                    "NOT CONSISTENT"
                }
            );
            for p in &check.problems {
                let _ = writeln!(out, "  - {}", clean(p));
            }
        }
        if self.status != "dry-run" {
            out.push_str(
                "next: `coffer-admin check-data --data-dir <dir>`, then start coffer-relay with \
                 this data directory (see the README, \"Moving from a PluralLog relay\")\n",
            );
        }
        out
    }
}

/// Where the source is.
#[derive(Debug, Clone)]
pub struct Source {
    /// `plurallog_relay.db`.
    pub db: PathBuf,
    /// `PLURALLOG_VOLUME_PATH` (`volume_storage/`).
    pub volumes: PathBuf,
}

/// How to import.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Plan and verify only; write nothing.
    pub dry_run: bool,
    /// Write even if some items cannot be carried.
    pub allow_partial: bool,
    /// The relay's `limits.max_volume_size`: larger blob files are not read.
    pub max_volume_size: u64,
    /// The relay's `limits.max_user_storage`: accounts above it are carried with a warning.
    pub max_user_storage: u64,
    /// The relay's `limits.session_lifetime_secs`: no carried session outlives it.
    pub session_lifetime_secs: u64,
}

// ---------------------------------------------------------------------------------------------
// reading cells with limits

/// A source cell, read with a length limit.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cell {
    Null,
    Int(i64),
    Text(String),
}

fn cell(row: &rusqlite::Row<'_>, idx: usize, max: usize) -> Result<Cell, String> {
    match row.get_ref(idx).map_err(|e| e.to_string())? {
        ValueRef::Null => Ok(Cell::Null),
        ValueRef::Integer(i) => Ok(Cell::Int(i)),
        ValueRef::Real(_) => Err("a floating-point number".to_owned()),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
            if bytes.len() > max {
                return Err(format!("{} bytes (at most {max})", bytes.len()));
            }
            String::from_utf8(bytes.to_vec())
                .map_err(|_| "not UTF-8 text".to_owned())
                .map(Cell::Text)
        }
    }
}

/// One source row as cells, or why a cell was refused (`column: reason`).
fn cells(row: &rusqlite::Row<'_>, limits: &[usize], names: &[&str]) -> Result<Vec<Cell>, String> {
    limits
        .iter()
        .enumerate()
        .map(|(i, max)| cell(row, i, *max).map_err(|e| format!("{}: {e}", names[i])))
        .collect()
}

fn text<'a>(c: &'a Cell, name: &str) -> Result<&'a str, String> {
    match c {
        Cell::Text(t) => Ok(t),
        Cell::Int(_) => Err(format!("{name}: a number where text was expected")),
        Cell::Null => Err(format!("{name}: missing")),
    }
}

fn int(c: &Cell, name: &str) -> Result<i64, String> {
    match c {
        Cell::Int(i) => Ok(*i),
        Cell::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| format!("{name}: not an integer")),
        Cell::Null => Err(format!("{name}: missing")),
    }
}

/// The item name of a cell, for the report (ids only; shortened and cleaned).
fn item(c: &Cell) -> String {
    match c {
        Cell::Text(t) => t.chars().take(64).collect(),
        Cell::Int(i) => i.to_string(),
        Cell::Null => "(no id)".to_owned(),
    }
}

/// A UUID as Coffer stores ids: lowercase, hyphenated.
fn uuid_text(c: &Cell, name: &str) -> Result<String, String> {
    let t = text(c, name)?.trim();
    let ok = t.len() == 36
        && t.char_indices().all(|(i, ch)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                ch == '-'
            } else {
                ch.is_ascii_hexdigit()
            }
        });
    if !ok {
        return Err(format!("{name}: not a UUID"));
    }
    Ok(t.to_ascii_lowercase())
}

/// Days since 1970-01-01 of a Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A time as the reference relay stores it: ISO 8601 (`2026-03-27T16:57:46.123456`, with or
/// without `+00:00`/`Z`, `T` or a space) or Unix seconds. Naive times are UTC (v1's relay
/// writes `datetime.utcnow()`). The fraction is dropped.
fn parse_time(c: &Cell) -> Option<i64> {
    let t = match c {
        Cell::Int(i) => return Some(*i),
        Cell::Text(t) => t.trim(),
        Cell::Null => return None,
    };
    if let Some(n) = digits(t) {
        return Some(n);
    }
    let b = t.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') {
        return None;
    }
    let (date, rest) = t.split_at(10);
    let (y, mo, d) = (
        digits(date.get(0..4)?)?,
        digits(date.get(5..7)?)?,
        digits(date.get(8..10)?)?,
    );
    let clock = rest.get(1..9)?;
    if clock.as_bytes().get(2) != Some(&b':') || clock.as_bytes().get(5) != Some(&b':') {
        return None;
    }
    let (h, mi, s) = (
        digits(clock.get(0..2)?)?,
        digits(clock.get(3..5)?)?,
        digits(clock.get(6..8)?)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut tail = rest.get(9..)?;
    if let Some(frac) = tail.strip_prefix('.') {
        let end = frac
            .find(|ch: char| !ch.is_ascii_digit())
            .unwrap_or(frac.len());
        if end == 0 {
            return None;
        }
        tail = &frac[end..];
    }
    let offset = match tail {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match tail.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = &tail[1..];
            let (oh, om) = match hm.len() {
                5 if hm.as_bytes()[2] == b':' => (digits(hm.get(0..2)?)?, digits(hm.get(3..5)?)?),
                4 => (digits(hm.get(0..2)?)?, digits(hm.get(2..4)?)?),
                2 => (digits(hm)?, 0),
                _ => return None,
            };
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset)
}

// ---------------------------------------------------------------------------------------------
// the plan

#[derive(Debug)]
struct PlannedUser {
    /// The id as the source spelled it (names the blob directory).
    source_id: String,
    user: users::User,
}

#[derive(Debug)]
struct PlannedVolume {
    row: VolumeRow,
    /// The source blob file.
    file: PathBuf,
}

#[derive(Debug)]
struct PlannedRelationship {
    id: String,
    system: String,
    friend: String,
    status: &'static str,
    permissions: String,
    wrapped_vek: Option<Vec<u8>>,
    created_at: i64,
    updated_at: i64,
}

struct PlannedInvite {
    code: String,
    system: String,
    created_at: i64,
    expires_at: i64,
}

/// Never the code: it redeems a friendship.
impl std::fmt::Debug for PlannedInvite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannedInvite")
            .field("code", &"<redacted>")
            .field("system", &self.system)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

struct PlannedSession {
    token_hash: [u8; 32],
    user: String,
    expires_at: i64,
}

impl std::fmt::Debug for PlannedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannedSession")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Plan {
    users: Vec<PlannedUser>,
    volumes: Vec<PlannedVolume>,
    relationships: Vec<PlannedRelationship>,
    invites: Vec<PlannedInvite>,
    sessions: Vec<PlannedSession>,
    skipped: Skipped,
    lost: Vec<Lost>,
    warnings: Vec<String>,
}

impl Plan {
    fn lose(&mut self, kind: &'static str, item: impl Into<String>, reason: impl Into<String>) {
        self.lost.push(Lost {
            kind,
            item: item.into(),
            reason: reason.into(),
        });
    }
}

fn source_err(path: &Path, reason: impl Into<String>) -> ImportError {
    ImportError::Source {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn open_source(db: &Path) -> Result<Connection, ImportError> {
    if !db.is_file() {
        return Err(source_err(db, "no such database file"));
    }
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| source_err(db, format!("cannot open it: {e}")))?;
    let e = |e: rusqlite::Error| source_err(db, format!("cannot read it: {e}"));
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(e)?;
    if check != "ok" {
        return Err(source_err(
            db,
            format!(
                "SQLite finds it damaged ({}); restore it from a backup first",
                check.chars().take(200).collect::<String>()
            ),
        ));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(e)?;
    if version != 0 {
        return Err(source_err(
            db,
            "this is a Coffer relay database (it has a Coffer schema version), not a PluralLog \
             one: move Coffer relays with `coffer-admin backup` and `restore`",
        ));
    }
    for (table, columns) in SCHEMA {
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .map_err(e)?;
        let found: HashSet<String> = stmt
            .query_map([table], |r| r.get(0))
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        if found.is_empty() {
            return Err(source_err(
                db,
                format!("not a PluralLog relay database: it has no `{table}` table"),
            ));
        }
        for column in columns.iter() {
            if !found.contains(*column) {
                return Err(source_err(
                    db,
                    format!("not a PluralLog relay database: `{table}` has no `{column}` column"),
                ));
            }
        }
        let rows: i64 = conn
            .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
                r.get(0)
            })
            .map_err(e)?;
        if u64::try_from(rows).unwrap_or(u64::MAX) > MAX_ROWS {
            return Err(source_err(
                db,
                format!("`{table}` has {rows} rows, more than the importer reads ({MAX_ROWS})"),
            ));
        }
    }
    Ok(conn)
}

/// Runs `select` on the source and hands each row's cells (or the reason a cell was refused)
/// to `each`.
fn for_rows(
    conn: &Connection,
    db: &Path,
    select: &str,
    limits: &[usize],
    names: &[&str],
    mut each: impl FnMut(Result<Vec<Cell>, String>),
) -> Result<(), ImportError> {
    let e = |e: rusqlite::Error| source_err(db, format!("cannot read it: {e}"));
    let mut stmt = conn.prepare(select).map_err(e)?;
    let mut rows = stmt.query([]).map_err(e)?;
    let mut bytes = 0usize;
    while let Some(row) = rows.next().map_err(e)? {
        let cells = cells(row, limits, names);
        bytes = bytes.saturating_add(match &cells {
            Ok(c) => c
                .iter()
                .map(|c| match c {
                    Cell::Text(t) => t.len(),
                    _ => 8,
                })
                .sum(),
            Err(_) => 64,
        });
        if bytes > MAX_TABLE_BYTES {
            return Err(source_err(
                db,
                format!(
                    "more than {} MiB of rows in one table, more than the importer reads",
                    MAX_TABLE_BYTES >> 20
                ),
            ));
        }
        each(cells);
    }
    Ok(())
}

fn plan_users(conn: &Connection, db: &Path, now: i64, plan: &mut Plan) -> Result<(), ImportError> {
    let names = SCHEMA[0].1;
    let limits = [
        MAX_SHORT,
        MAX_SHORT,
        MAX_SHORT,
        MAX_HANDLE_TEXT,
        MAX_SHORT,
        MAX_SHORT,
        MAX_JSON,
        MAX_SHORT,
    ];
    let mut handles: HashMap<String, String> = HashMap::new();
    let mut ids = HashSet::new();
    let mut rows = Vec::new();
    for_rows(
        conn,
        db,
        "SELECT id, public_signing_key, public_exchange_key, handle, client_type, \
         protocol_version, feature_set, created_at FROM users ORDER BY created_at, id",
        &limits,
        names,
        |r| rows.push(r),
    )?;
    for (n, row) in rows.into_iter().enumerate() {
        let c = match row {
            Ok(c) => c,
            Err(reason) => {
                plan.lose("user", format!("(row {})", n + 1), reason);
                continue;
            }
        };
        let id_item = item(&c[0]);
        let parsed = (|| -> Result<(String, users::User, Option<String>), String> {
            let id = uuid_text(&c[0], "id")?;
            let signing = b64::decode_exact::<32>(text(&c[1], "public_signing_key")?.trim())
                .map_err(|e| format!("public_signing_key: {e}"))?;
            VerifyingKey::from_bytes(&signing)
                .map_err(|_| "public_signing_key is not a valid Ed25519 public key".to_owned())?;
            let exchange = b64::decode_exact::<32>(text(&c[2], "public_exchange_key")?.trim())
                .map_err(|e| format!("public_exchange_key: {e}"))?;
            let handle = match &c[3] {
                Cell::Null => None,
                other => {
                    let raw = text(other, "handle")?;
                    let trimmed: String = raw.trim().chars().take(MAX_HANDLE_CHARS).collect();
                    let trimmed = trimmed.trim_end().to_owned();
                    if trimmed.chars().any(char::is_control) {
                        return Err("handle: contains control characters".to_owned());
                    }
                    Some(trimmed).filter(|h| !h.is_empty())
                }
            };
            let client_type = ClientType::parse(text(&c[4], "client_type")?.trim())
                .ok_or("client_type: neither 'system' nor 'friend'")?;
            let protocol_version = int(&c[5], "protocol_version")?;
            if protocol_version < 1 {
                return Err("protocol_version: below 1".to_owned());
            }
            let features: Value = serde_json::from_str(text(&c[6], "feature_set")?)
                .map_err(|_| "feature_set: not JSON")?;
            let list = features
                .as_array()
                .filter(|a| a.len() <= MAX_FEATURES)
                .ok_or("feature_set: not a list of at most 32 strings")?
                .iter()
                .map(|v| {
                    v.as_str()
                        .filter(|s| s.len() <= MAX_FEATURE_LEN)
                        .map(str::to_owned)
                        .ok_or("feature_set: not a list of short strings")
                })
                .collect::<Result<Vec<_>, _>>()?;
            let feature_set = serde_json::to_string(&list).map_err(|e| e.to_string())?;
            let mut warning = None;
            let created_at = match parse_time(&c[7]) {
                Some(t) => hour(t),
                None => {
                    warning = Some(format!(
                        "user {id}: created_at unreadable; set to the import's hour"
                    ));
                    hour(now)
                }
            };
            Ok((
                c[0].clone().into_text(),
                users::User {
                    id,
                    public_signing_key: signing,
                    public_exchange_key: exchange,
                    handle,
                    client_type,
                    protocol_version,
                    feature_set,
                    storage_used_bytes: 0,
                    created_at,
                    key_binding_signature: None,
                },
                warning,
            ))
        })();
        match parsed {
            Err(reason) => plan.lose("user", id_item, reason),
            Ok((source_id, mut user, warning)) => {
                if !ids.insert(user.id.clone()) {
                    plan.lose("user", id_item, "the same id appears twice");
                    continue;
                }
                if let Some(w) = warning {
                    plan.warnings.push(w);
                }
                if let Some(handle) = user.handle.clone() {
                    let key = handle.to_ascii_lowercase();
                    if let Some(first) = handles.get(&key) {
                        plan.warnings.push(format!(
                            "user {}: handle equal (ignoring case) to user {first}'s, which Coffer \
                             does not allow; carried without a handle (the app can set one)",
                            user.id
                        ));
                        user.handle = None;
                    } else {
                        handles.insert(key, user.id.clone());
                    }
                }
                plan.users.push(PlannedUser {
                    source_id: source_id.trim().to_owned(),
                    user,
                });
            }
        }
    }
    Ok(())
}

impl Cell {
    fn into_text(self) -> String {
        match self {
            Cell::Text(t) => t,
            Cell::Int(i) => i.to_string(),
            Cell::Null => String::new(),
        }
    }
}

/// Reads a regular file of at most `max` bytes.
fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!("blob file {} is missing", path.display()));
        }
        Err(e) => return Err(format!("blob file {}: {e}", path.display())),
    };
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if meta.len() > max {
        return Err(format!(
            "blob file {} has {} bytes, more than the relay's max_volume_size ({max})",
            path.display(),
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(max.saturating_add(1)).read_to_end(&mut bytes))
        .map_err(|e| format!("blob file {}: {e}", path.display()))?;
    Ok(bytes)
}

/// The checks a blob must pass, against its row: the size the row records, v1's padding grid,
/// and the owner's signature over the canonical header ‖ blob.
fn verify_blob(
    bytes: &[u8],
    row: &VolumeRow,
    header: &ControlHeader,
    key: &[u8; 32],
) -> Result<(), String> {
    let len = bytes.len() as u64;
    if len != row.size_bytes {
        return Err(format!(
            "size mismatch: the blob file has {len} bytes, its row says {}",
            row.size_bytes
        ));
    }
    if !is_on_padding_grid(len) {
        return Err(format!(
            "not a well-formed v1 payload: {len} bytes is not 28 + 4096·k"
        ));
    }
    let ok = VerifyingKey::from_bytes(key)
        .map(|k| {
            k.verify_strict(
                &header.signature_input(bytes),
                &Signature::from_bytes(&row.signature),
            )
            .is_ok()
        })
        .unwrap_or(false);
    if !ok {
        return Err("the owner's signature does not verify over its header and blob".to_owned());
    }
    Ok(())
}

fn plan_volumes<W: Write>(
    conn: &Connection,
    source: &Source,
    opts: &Options,
    now: i64,
    plan: &mut Plan,
    progress: &mut Progress<W>,
) -> Result<(), ImportError> {
    let names = SCHEMA[1].1;
    let limits = [
        MAX_SHORT, MAX_SHORT, MAX_SHORT, MAX_JSON, MAX_SHORT, MAX_SHORT, MAX_SHORT,
    ];
    let owners: HashMap<String, (String, ClientType, [u8; 32])> = plan
        .users
        .iter()
        .map(|u| {
            (
                u.user.id.clone(),
                (
                    u.source_id.clone(),
                    u.user.client_type,
                    u.user.public_signing_key,
                ),
            )
        })
        .collect();
    let mut rows = Vec::new();
    for_rows(
        conn,
        &source.db,
        "SELECT user_id, volume_name, version, control_header, signature, size_bytes, \
         updated_at FROM volumes ORDER BY user_id, volume_name",
        &limits,
        names,
        |r| rows.push(r),
    )?;
    let total = rows.len() as u64;
    let mut seen = HashSet::new();
    progress.set_label("import: verifying volumes");
    for (n, row) in rows.into_iter().enumerate() {
        progress.update(n as u64, total);
        let c = match row {
            Ok(c) => c,
            Err(reason) => {
                plan.lose("volume", format!("(row {})", n + 1), reason);
                continue;
            }
        };
        let name_item = format!("{}/{}", item(&c[0]), item(&c[1]));
        let parsed = (|| -> Result<PlannedVolume, String> {
            let user_id = uuid_text(&c[0], "user_id")?;
            let name: VolumeName = text(&c[1], "volume_name")?
                .parse()
                .map_err(|_| "unknown volume name (v1 has exactly eight)".to_owned())?;
            let Some((source_id, client_type, key)) = owners.get(&user_id) else {
                return Err("its owner was not carried (or does not exist)".to_owned());
            };
            if *client_type != ClientType::System {
                return Err("its owner is a friend account; only systems own volumes".to_owned());
            }
            let version = u64::try_from(int(&c[2], "version")?)
                .ok()
                .filter(|v| *v >= 1)
                .ok_or("version: below 1")?;
            let header_value: Value = serde_json::from_str(text(&c[3], "control_header")?)
                .map_err(|_| "control_header: not JSON")?;
            let Value::Object(header_obj) = &header_value else {
                return Err("control_header: not a JSON object".to_owned());
            };
            let header = ControlHeader::from_json_object(header_obj)
                .map_err(|e| format!("control_header: {e}"))?;
            if header.volume_name != name.as_str() || header.version != version {
                return Err(format!(
                    "control_header names {} v{}, the row {} v{version}",
                    header.volume_name.chars().take(32).collect::<String>(),
                    header.version,
                    name.as_str()
                ));
            }
            let signature = b64::decode_exact::<64>(text(&c[4], "signature")?.trim())
                .map_err(|e| format!("signature: {e}"))?;
            let size_bytes =
                u64::try_from(int(&c[5], "size_bytes")?).map_err(|_| "size_bytes: negative")?;
            if header.size_bytes != size_bytes {
                return Err(format!(
                    "control_header.size_bytes is {}, the row's size_bytes {size_bytes}",
                    header.size_bytes
                ));
            }
            let updated_at = hour(parse_time(&c[6]).unwrap_or(now));
            let row = VolumeRow {
                user_id: user_id.clone(),
                volume_name: name.as_str().to_owned(),
                version,
                control_header: serde_json::to_string(&header_value).map_err(|e| e.to_string())?,
                blob_file: String::new(),
                signature,
                size_bytes,
                updated_at,
            };
            let file = source
                .volumes
                .join(source_id)
                .join(format!("{}.bin", name.as_str()));
            let bytes = read_bounded(&file, opts.max_volume_size)?;
            verify_blob(&bytes, &row, &header, key)?;
            Ok(PlannedVolume { row, file })
        })();
        match parsed {
            Err(reason) => plan.lose("volume", name_item, reason),
            Ok(v) => {
                if !seen.insert((v.row.user_id.clone(), v.row.volume_name.clone())) {
                    plan.lose("volume", name_item, "the same volume appears twice");
                    continue;
                }
                plan.volumes.push(v);
            }
        }
    }
    progress.update(total, total);
    progress.finish();
    let mut used: HashMap<&str, u64> = HashMap::new();
    for v in &plan.volumes {
        *used.entry(v.row.user_id.as_str()).or_default() += v.row.size_bytes;
    }
    for (user, bytes) in used {
        if bytes > opts.max_user_storage {
            plan.warnings.push(format!(
                "user {user}: {bytes} bytes stored, above the relay's max_user_storage ({}); \
                 its uploads will be refused until it is under it",
                opts.max_user_storage
            ));
        }
    }
    Ok(())
}

fn plan_sharing(
    conn: &Connection,
    db: &Path,
    now: i64,
    plan: &mut Plan,
) -> Result<(), ImportError> {
    let names = SCHEMA[2].1;
    let limits = [
        MAX_SHORT, MAX_SHORT, MAX_SHORT, MAX_SHORT, MAX_JSON, MAX_SHORT, MAX_SHORT, MAX_SHORT,
    ];
    let types: HashMap<String, ClientType> = plan
        .users
        .iter()
        .map(|u| (u.user.id.clone(), u.user.client_type))
        .collect();
    let mut rows = Vec::new();
    for_rows(
        conn,
        db,
        "SELECT id, system_user_id, friend_user_id, status, permissions, encrypted_vek_blob, \
         created_at, updated_at FROM sharing ORDER BY created_at, id",
        &limits,
        names,
        |r| rows.push(r),
    )?;
    let (mut ids, mut pairs) = (HashSet::new(), HashSet::new());
    for (n, row) in rows.into_iter().enumerate() {
        let c = match row {
            Ok(c) => c,
            Err(reason) => {
                plan.lose("relationship", format!("(row {})", n + 1), reason);
                continue;
            }
        };
        let id_item = item(&c[0]);
        let status = match &c[3] {
            Cell::Text(s) => s.trim().to_owned(),
            _ => String::new(),
        };
        if status == "revoked" {
            plan.skipped.revoked_relationships += 1;
            continue;
        }
        let parsed = (|| -> Result<PlannedRelationship, String> {
            let id = uuid_text(&c[0], "id")?;
            let system = uuid_text(&c[1], "system_user_id")?;
            let friend = uuid_text(&c[2], "friend_user_id")?;
            match (types.get(&system), types.get(&friend)) {
                (Some(ClientType::System), Some(ClientType::Friend)) => {}
                (None, _) | (_, None) => {
                    return Err("dangling: one of its users was not carried (or does not \
                                exist)"
                        .to_owned());
                }
                _ => return Err("its users are not a system and a friend".to_owned()),
            }
            let created_at = hour(parse_time(&c[6]).unwrap_or(now));
            let updated_at = hour(parse_time(&c[7]).unwrap_or(now));
            let (status, permissions, wrapped_vek) = match status.as_str() {
                "pending" => ("pending", "{}".to_owned(), None),
                "active" => {
                    let value: Value = serde_json::from_str(text(&c[4], "permissions")?)
                        .map_err(|_| "permissions: not JSON")?;
                    let flags =
                        Permissions::from_json(&value).map_err(|e| format!("permissions: {e}"))?;
                    let vek = b64::decode_exact::<60>(text(&c[5], "encrypted_vek_blob")?.trim())
                        .map_err(|e| format!("encrypted_vek_blob: {e}"))?;
                    (
                        "active",
                        serde_json::to_string(&flags).map_err(|e| e.to_string())?,
                        Some(vek.to_vec()),
                    )
                }
                _ => return Err("status: not pending, active or revoked".to_owned()),
            };
            Ok(PlannedRelationship {
                id,
                system,
                friend,
                status,
                permissions,
                wrapped_vek,
                created_at,
                updated_at,
            })
        })();
        match parsed {
            Err(reason) => plan.lose("relationship", id_item, reason),
            Ok(r) => {
                if !ids.insert(r.id.clone()) || !pairs.insert((r.system.clone(), r.friend.clone()))
                {
                    plan.lose(
                        "relationship",
                        id_item,
                        "a second relationship with the same id or between the same two users",
                    );
                    continue;
                }
                plan.relationships.push(r);
            }
        }
    }
    Ok(())
}

fn plan_invites(
    conn: &Connection,
    db: &Path,
    now: i64,
    plan: &mut Plan,
) -> Result<(), ImportError> {
    let names = SCHEMA[3].1;
    let limits = [MAX_SHORT; 6];
    let systems: HashSet<&str> = plan
        .users
        .iter()
        .filter(|u| u.user.client_type == ClientType::System)
        .map(|u| u.user.id.as_str())
        .collect();
    let mut rows = Vec::new();
    for_rows(
        conn,
        db,
        "SELECT code, system_user_id, created_at, expires_at, redeemed_by, redeemed_at \
         FROM invite_codes ORDER BY created_at",
        &limits,
        names,
        |r| rows.push(r),
    )?;
    let mut codes = HashSet::new();
    let mut planned = Vec::new();
    let mut lost = Vec::new();
    for (n, row) in rows.into_iter().enumerate() {
        let c = match row {
            Ok(c) => c,
            Err(reason) => {
                lost.push((format!("(row {})", n + 1), reason));
                continue;
            }
        };
        // Codes are bearer secrets: the report names the system, never the code.
        let who = format!("of system {}", item(&c[1]));
        if c[4] != Cell::Null || c[5] != Cell::Null {
            plan.skipped.closed_invites += 1;
            continue;
        }
        let Some(expires_at) = parse_time(&c[3]) else {
            lost.push((who, "expires_at: unreadable".to_owned()));
            continue;
        };
        if expires_at <= now {
            plan.skipped.closed_invites += 1;
            continue;
        }
        let parsed = (|| -> Result<PlannedInvite, String> {
            let code = text(&c[0], "code")?.trim().to_owned();
            if code.is_empty()
                || code.len() > MAX_CODE
                || !code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            {
                return Err(
                    "code: not upper-case letters and digits (no app could redeem it)".to_owned(),
                );
            }
            let system = uuid_text(&c[1], "system_user_id")?;
            if !systems.contains(system.as_str()) {
                return Err("its system was not carried (or does not exist)".to_owned());
            }
            Ok(PlannedInvite {
                code,
                system,
                created_at: hour(parse_time(&c[2]).unwrap_or(now)),
                expires_at,
            })
        })();
        match parsed {
            Err(reason) => lost.push((who, reason)),
            Ok(i) => {
                if !codes.insert(i.code.clone()) {
                    lost.push((who, "the same code appears twice".to_owned()));
                    continue;
                }
                planned.push(i);
            }
        }
    }
    plan.invites = planned;
    for (who, reason) in lost {
        plan.lose("invite", who, reason);
    }
    Ok(())
}

fn plan_sessions(
    conn: &Connection,
    db: &Path,
    now: i64,
    latest_expiry: i64,
    plan: &mut Plan,
) -> Result<(), ImportError> {
    let names = SCHEMA[4].1;
    let limits = [MAX_TOKEN, MAX_SHORT, MAX_SHORT];
    let carried: HashSet<String> = plan.users.iter().map(|u| u.user.id.clone()).collect();
    let mut rows = Vec::new();
    for_rows(
        conn,
        db,
        "SELECT token, user_id, expires_at FROM auth_sessions",
        &limits,
        names,
        |r| rows.push(r),
    )?;
    let mut hashes = HashSet::new();
    for (n, row) in rows.into_iter().enumerate() {
        let c = match row {
            Ok(c) => c,
            Err(reason) => {
                // Never the token's text: a refused cell is named by its row.
                plan.lose("session", format!("(row {})", n + 1), reason);
                continue;
            }
        };
        let who = format!("of user {}", item(&c[1]));
        let Some(expires_at) = parse_time(&c[2]) else {
            plan.lose("session", who, "expires_at: unreadable");
            continue;
        };
        if expires_at <= now {
            plan.skipped.expired_sessions += 1;
            continue;
        }
        let parsed = (|| -> Result<PlannedSession, String> {
            let token = text(&c[0], "token")?;
            if token.is_empty() {
                return Err("token: empty".to_owned());
            }
            let user = uuid_text(&c[1], "user_id")?;
            if !carried.contains(&user) {
                return Err("its user was not carried (or does not exist)".to_owned());
            }
            Ok(PlannedSession {
                token_hash: Sha256::digest(token.as_bytes()).into(),
                user,
                // A corrupt or hostile source cannot mint sessions longer than Coffer's.
                expires_at: expires_at.min(latest_expiry),
            })
        })();
        match parsed {
            Err(reason) => plan.lose("session", who, reason),
            Ok(s) => {
                if !hashes.insert(s.token_hash) {
                    plan.lose("session", who, "the same token appears twice");
                    continue;
                }
                plan.sessions.push(s);
            }
        }
    }
    if let Ok(n) = conn.query_row("SELECT count(*) FROM auth_challenges", [], |r| {
        r.get::<_, i64>(0)
    }) {
        plan.skipped.challenges = u64::try_from(n).unwrap_or(0);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// writing

/// A directory that does not exist, or exists and is empty.
fn ensure_empty(path: &Path) -> Result<(), ImportError> {
    match fs::read_dir(path) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(ImportError::NotEmpty {
                path: path.to_owned(),
            }),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Err(ImportError::NotEmpty {
            path: path.to_owned(),
        }),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn create_dir_0700(path: &Path) -> Result<(), ImportError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io_err(path))
}

fn sync_dir(path: &Path) -> Result<(), ImportError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_err(path))
}

/// A random version-4 UUID (a session's public id).
fn random_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Builds the Coffer database at `tmp` from `plan` in one transaction, writing each blob (and
/// recording its name in `written`) before the commit.
fn write_database<W: Write>(
    tmp: &Path,
    blobs: &BlobStore,
    plan: &Plan,
    max_volume_size: u64,
    written: &mut Vec<String>,
    progress: &mut Progress<W>,
) -> Result<(), String> {
    let mut conn = Connection::open(tmp).map_err(|e| e.to_string())?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .and_then(|()| conn.pragma_update(None, "synchronous", "FULL"))
        .map_err(|e| e.to_string())?;
    migrations::migrate(&mut conn).map_err(|e| e.to_string())?;
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    for u in &plan.users {
        if !users::insert(&tx, &u.user).map_err(|e| e.to_string())? {
            return Err(format!("user {}: handle already taken", u.user.id));
        }
    }
    progress.set_label("import: writing volumes");
    let total = plan.volumes.len() as u64;
    for (n, v) in plan.volumes.iter().enumerate() {
        progress.update(n as u64, total);
        // Read again: the file must still be what was verified.
        let bytes = read_bounded(&v.file, max_volume_size)?;
        let header_obj: serde_json::Map<String, Value> =
            serde_json::from_str(&v.row.control_header).map_err(|e| e.to_string())?;
        let header = ControlHeader::from_json_object(&header_obj).map_err(|e| e.to_string())?;
        let key = plan
            .users
            .iter()
            .find(|u| u.user.id == v.row.user_id)
            .map(|u| u.user.public_signing_key)
            .ok_or("a volume's owner vanished from the plan")?;
        verify_blob(&bytes, &v.row, &header, &key).map_err(|e| {
            format!(
                "{}/{} changed during the import: {e}",
                v.row.user_id, v.row.volume_name
            )
        })?;
        let name = blobs
            .write(&v.row.user_id, &v.row.volume_name, v.row.version, &bytes)
            .map_err(|e| e.to_string())?;
        written.push(name.clone());
        let row = VolumeRow {
            blob_file: name,
            ..v.row.clone()
        };
        match volumes::put(&tx, &row, u64::MAX).map_err(|e| e.to_string())? {
            PutOutcome::Stored { .. } => {}
            _ => return Err(format!("{}/{}: not stored", row.user_id, row.volume_name)),
        }
    }
    progress.update(total, total);
    progress.finish();
    for r in &plan.relationships {
        tx.execute(
            "INSERT INTO sharing (id, system_user_id, friend_user_id, status, permissions, \
             encrypted_vek_blob, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                r.id,
                r.system,
                r.friend,
                r.status,
                r.permissions,
                r.wrapped_vek,
                r.created_at,
                r.updated_at
            ],
        )
        .map_err(|e| format!("relationship {}: {e}", r.id))?;
    }
    for i in &plan.invites {
        invites::create(
            &tx,
            &i.code,
            &i.system,
            i.created_at,
            i.expires_at,
            u64::MAX,
            1,
        )
        .map_err(|e| format!("an invite of system {}: {e}", i.system))?;
    }
    let now = now();
    for s in &plan.sessions {
        let new = sessions::NewSession {
            session_id: random_uuid(),
            device_label: None,
            protocol: sessions::Protocol::V1,
            now,
        };
        sessions::insert(&tx, &s.token_hash, &s.user, s.expires_at, &new)
            .map_err(|e| format!("a session of user {}: {e}", s.user))?;
    }
    tx.commit().map_err(|e| e.to_string())?;
    conn.close().map_err(|(_, e)| e.to_string())?;
    File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Imports the PluralLog relay at `source` into the Coffer data at `paths` (see the module
/// documentation). `Ok` also when items were lost: the caller decides the exit status from
/// [`ImportReport::lost`] (with `--allow-partial` unset, nothing was written then).
pub fn import<W: Write>(
    source: &Source,
    paths: &DataPaths,
    opts: Options,
    progress: &mut Progress<W>,
) -> Result<ImportReport, ImportError> {
    ensure_empty(&paths.data_dir)?;
    ensure_empty(&paths.blob_dir)?;
    if paths.database.exists() {
        return Err(ImportError::NotEmpty {
            path: paths.database.clone(),
        });
    }
    if !source.volumes.is_dir() {
        return Err(source_err(&source.volumes, "no such volume directory"));
    }
    let conn = open_source(&source.db)?;
    let now = now();
    let mut plan = Plan::default();
    plan_users(&conn, &source.db, now, &mut plan)?;
    plan_volumes(&conn, source, &opts, now, &mut plan, progress)?;
    plan_sharing(&conn, &source.db, now, &mut plan)?;
    plan_invites(&conn, &source.db, now, &mut plan)?;
    let latest_expiry =
        now.saturating_add(i64::try_from(opts.session_lifetime_secs).unwrap_or(i64::MAX));
    plan_sessions(&conn, &source.db, now, latest_expiry, &mut plan)?;
    drop(conn);

    let mut carried = Carried::default();
    for u in &plan.users {
        match u.user.client_type {
            ClientType::System => carried.systems += 1,
            ClientType::Friend => carried.friends += 1,
        }
    }
    carried.volumes = plan.volumes.len() as u64;
    carried.volume_bytes = plan.volumes.iter().map(|v| v.row.size_bytes).sum();
    for r in &plan.relationships {
        if r.status == "active" {
            carried.active_relationships += 1;
        } else {
            carried.pending_relationships += 1;
        }
    }
    carried.open_invites = plan.invites.len() as u64;
    carried.sessions = plan.sessions.len() as u64;
    let mut report = ImportReport {
        status: "dry-run",
        source_db: source.db.display().to_string(),
        source_volumes: source.volumes.display().to_string(),
        data_dir: paths.data_dir.display().to_string(),
        carried,
        skipped: std::mem::take(&mut plan.skipped),
        lost: std::mem::take(&mut plan.lost),
        warnings: std::mem::take(&mut plan.warnings),
        check: None,
    };
    if opts.dry_run || (!report.lost.is_empty() && !opts.allow_partial) {
        return Ok(report);
    }

    create_dir_0700(&paths.data_dir)?;
    create_dir_0700(&paths.blob_dir)?;
    if let Some(parent) = paths
        .database
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        create_dir_0700(parent)?;
    }
    let file_name = paths.database.file_name().map_or_else(
        || "coffer.db".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let tmp = paths
        .database
        .with_file_name(format!(".{file_name}.importing"));
    let blobs = BlobStore::open(&paths.blob_dir).map_err(|e| ImportError::Target {
        path: paths.blob_dir.clone(),
        reason: e.to_string(),
    })?;
    let mut written = Vec::new();
    let result = write_database(
        &tmp,
        &blobs,
        &plan,
        opts.max_volume_size,
        &mut written,
        progress,
    )
    .and_then(|()| fs::rename(&tmp, &paths.database).map_err(|e| e.to_string()));
    if let Err(reason) = result {
        // Nothing is kept: the half-built database and every blob written for it.
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let _ = fs::remove_file(format!("{}{suffix}", tmp.display()));
        }
        for name in &written {
            blobs.remove(name);
        }
        for u in &plan.users {
            let _ = fs::remove_dir(paths.blob_dir.join(&u.user.id));
        }
        return Err(ImportError::Target {
            path: paths.database.clone(),
            reason,
        });
    }
    for u in &plan.users {
        let dir = paths.blob_dir.join(&u.user.id);
        if dir.is_dir() {
            sync_dir(&dir)?;
        }
    }
    sync_dir(&paths.blob_dir)?;
    for d in [Some(paths.data_dir.as_path()), paths.database.parent()]
        .into_iter()
        .flatten()
        .filter(|p| !p.as_os_str().is_empty())
    {
        sync_dir(d)?;
    }
    report.status = "imported";
    report.check =
        Some(
            check::check(&paths.database, &paths.blob_dir).map_err(|e| ImportError::Target {
                path: paths.database.clone(),
                reason: format!("the consistency check could not run: {e}"),
            })?,
        );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_the_reference_relay_writes_them() {
        let t = |s: &str| parse_time(&Cell::Text(s.to_owned()));
        assert_eq!(t("2026-03-27T16:57:46.123456"), Some(1_774_630_666));
        assert_eq!(t("2026-03-27T16:57:46+00:00"), Some(1_774_630_666));
        assert_eq!(t("2026-03-27 16:57:46Z"), Some(1_774_630_666));
        assert_eq!(t("2026-03-27T18:57:46+02:00"), Some(1_774_630_666));
        assert_eq!(t("1774630666"), Some(1_774_630_666));
        assert_eq!(parse_time(&Cell::Int(5)), Some(5));
        // Multi-byte text where digits belong is refused, never sliced mid-character.
        assert_eq!(t("2026-03-27T16:57:46+0\u{e9}0"), None);
        assert_eq!(t("2026-03-27T16:57:46+\u{e9}:00"), None);
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00",
            "2026-03-27T16:57",
            "2026-03-27T16:57:46.",
            "2026-03-27T16:57:46+2",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
        assert_eq!(
            coffer_wire::time::isoformat(1_774_630_666, 0),
            "2026-03-27T16:57:46+00:00"
        );
    }

    /// A hostile source: wrong types, oversized cells, broken JSON, bad keys, path tricks.
    /// Every bad row is a lost item with a reason; nothing panics; a dry run writes nothing.
    #[test]
    fn a_hostile_source_is_reported_row_by_row() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("pl.db");
        let conn = Connection::open(&db).expect("db");
        conn.execute_batch(
            "CREATE TABLE users (id, public_signing_key, public_exchange_key, handle, \
             client_type, protocol_version, feature_set, storage_used_bytes, created_at);
             CREATE TABLE volumes (user_id, volume_name, version, control_header, payload_path, \
             signature, size_bytes, updated_at);
             CREATE TABLE sharing (id, system_user_id, friend_user_id, status, permissions, \
             encrypted_vek_blob, created_at, updated_at);
             CREATE TABLE invite_codes (code, system_user_id, created_at, expires_at, \
             redeemed_by, redeemed_at);
             CREATE TABLE auth_sessions (token, user_id, expires_at);
             CREATE TABLE auth_challenges (nonce, user_id, expires_at);",
        )
        .expect("schema");
        let key = b64::encode(&[9u8; 32]);
        let huge = "x".repeat(100_000);
        for (id, sk, handle, ct, fs, created) in [
            (
                "../../etc/passwd",
                key.as_str(),
                "a",
                "system",
                "[]",
                "2026-01-01T00:00:00",
            ),
            (
                "11111111-1111-4111-8111-111111111111",
                "!!",
                "b",
                "system",
                "[]",
                "x",
            ),
            (
                "22222222-2222-4222-8222-222222222222",
                key.as_str(),
                huge.as_str(),
                "system",
                "[]",
                "x",
            ),
            (
                "33333333-3333-4333-8333-333333333333",
                key.as_str(),
                "c",
                "admin",
                "[]",
                "x",
            ),
            (
                "44444444-4444-4444-8444-444444444444",
                key.as_str(),
                "d",
                "friend",
                "{\"a\":",
                "x",
            ),
        ] {
            conn.execute(
                "INSERT INTO users VALUES (?1, ?2, ?2, ?3, ?4, 1, ?5, 0, ?6)",
                params![id, sk, handle, ct, fs, created],
            )
            .expect("user");
        }
        conn.execute(
            "INSERT INTO users VALUES (X'00ff', 1.5, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            [],
        )
        .expect("junk user");
        conn.execute(
            "INSERT INTO volumes VALUES ('11111111-1111-4111-8111-111111111111', 'meta', 1, \
             '{}', '/etc/shadow', 'AA==', 4124, 0)",
            [],
        )
        .expect("volume");
        conn.execute(
            "INSERT INTO auth_sessions VALUES (?1, '11111111-1111-4111-8111-111111111111', \
             '9999-01-01T00:00:00')",
            [huge.as_str()],
        )
        .expect("session");
        drop(conn);
        let volumes = dir.path().join("volumes");
        std::fs::create_dir(&volumes).expect("volumes");
        let target = dir.path().join("target");
        let paths = DataPaths {
            data_dir: target.clone(),
            database: target.join("coffer.db"),
            blob_dir: target.join("blobs"),
            tls_dir: target.join("tls"),
            ip_key: target.join("ip-hash.key"),
        };
        let opts = Options {
            dry_run: true,
            allow_partial: false,
            max_volume_size: 1 << 20,
            max_user_storage: 1 << 30,
            session_lifetime_secs: 3600,
        };
        let mut progress: Progress<Vec<u8>> = Progress::new(None, "x");
        let source = Source {
            db: db.clone(),
            volumes: volumes.clone(),
        };
        let report = import(&source, &paths, opts, &mut progress).expect("a report");
        let text = report.human();
        assert_eq!(report.carried.systems + report.carried.friends, 0, "{text}");
        for needle in [
            "user ../../etc/passwd: id: not a UUID",
            "public_signing_key",
            "handle: 100000 bytes",
            "client_type: neither",
            "feature_set: not JSON",
            "id: not UTF-8 text",
            "volume 11111111-1111-4111-8111-111111111111/meta: its owner was not carried",
            "session (row 1): token: 100000 bytes",
        ] {
            assert!(text.contains(needle), "{needle}:\n{text}");
        }
        assert!(!target.exists());

        // Not a PluralLog database at all: a clear error, not a panic.
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .expect("db")
            .execute_batch("CREATE TABLE users (id);")
            .expect("schema");
        let err = import(&Source { db: other, volumes }, &paths, opts, &mut progress)
            .expect_err("refused");
        assert!(
            err.to_string().contains("not a PluralLog relay database"),
            "{err}"
        );
    }

    #[test]
    fn ids_and_uuids() {
        let id = "0F8FAD5B-D9CB-469F-A165-70867728950E";
        assert_eq!(
            uuid_text(&Cell::Text(id.to_owned()), "id").as_deref(),
            Ok("0f8fad5b-d9cb-469f-a165-70867728950e")
        );
        assert!(uuid_text(&Cell::Text("../../etc".to_owned()), "id").is_err());
        assert!(uuid_text(&Cell::Int(3), "id").is_err());
        let u = random_uuid();
        assert!(uuid_text(&Cell::Text(u.clone()), "id").is_ok(), "{u}");
        assert_eq!(&u[14..15], "4");
    }
}
