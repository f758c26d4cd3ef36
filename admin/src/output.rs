//! Human output: aligned plain-text tables, sizes in KiB/MiB, and the rendering of each admin
//! answer. `--json` output does not come through here.
//!
//! Every string that came from the relay (handles, feature strings, error messages) is passed
//! through [`clean`] first: user-chosen text must never reach the operator's terminal as escape
//! sequences or bidirectional overrides.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::model::{
    AnomalyReport, Deleted, ExpiredSessions, Health, MaintenanceReport, SessionStats, ShareList,
    Stats, User, UserDetail, UserList, VolumeList,
};

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text, padded on the right.
    Left,
    /// Numbers, padded on the left.
    Right,
}

/// A plain-text table: columns separated by two spaces, widths from the widest cell, no
/// trailing spaces. Widths count characters (`char`s), which is right for the ASCII this tool
/// mostly prints; wide CJK characters in a handle shift that row a little.
///
/// ```
/// use coffer_admin::output::{Align, Table};
///
/// let mut t = Table::new(&[("NAME", Align::Left), ("SIZE", Align::Right)]);
/// t.row(["members", "4.0 KiB"]);
/// t.row(["vault", "512 B"]);
/// assert_eq!(t.render(), "NAME        SIZE\nmembers  4.0 KiB\nvault      512 B\n");
/// ```
#[derive(Debug, Clone)]
pub struct Table {
    header: Option<Vec<String>>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
    footer: Option<Vec<String>>,
}

impl Table {
    /// A table with a header row.
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            header: Some(columns.iter().map(|(h, _)| (*h).to_owned()).collect()),
            align: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
            footer: None,
        }
    }

    /// A table without a header row (key/value blocks).
    pub fn headless(align: &[Align]) -> Table {
        Table {
            header: None,
            align: align.to_vec(),
            rows: Vec::new(),
            footer: None,
        }
    }

    fn cells<I, S>(&self, cells: I) -> Vec<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut row: Vec<String> = cells
            .into_iter()
            .take(self.align.len())
            .map(|c| clean(c.as_ref()).into_owned())
            .collect();
        row.resize(self.align.len(), String::new());
        row
    }

    /// Adds a row; missing cells are empty, extra cells are dropped, every cell is [`clean`]ed.
    pub fn row<I, S>(&mut self, cells: I) -> &mut Table
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let row = self.cells(cells);
        self.rows.push(row);
        self
    }

    /// Sets a totals row, printed under a rule.
    pub fn footer<I, S>(&mut self, cells: I) -> &mut Table
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.footer = Some(self.cells(cells));
        self
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, each ending in `\n`.
    pub fn render(&self) -> String {
        let width = |s: &String| s.chars().count();
        let mut widths = vec![0; self.align.len()];
        let all = self
            .header
            .iter()
            .chain(&self.rows)
            .chain(self.footer.iter());
        for row in all {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let line = |row: &[String]| {
            let mut out = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                let pad = widths[i] - width(cell);
                match self.align[i] {
                    Align::Left => {
                        out.push_str(cell);
                        out.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        out.extend(std::iter::repeat_n(' ', pad));
                        out.push_str(cell);
                    }
                }
            }
            let mut out = out.trim_end().to_owned();
            out.push('\n');
            out
        };
        let mut out = String::new();
        if let Some(header) = &self.header {
            out.push_str(&line(header));
        }
        for row in &self.rows {
            out.push_str(&line(row));
        }
        if let Some(footer) = &self.footer {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&line(&rule));
            out.push_str(&line(footer));
        }
        out
    }
}

/// `bytes` in binary units with one decimal: `512 B`, `1.5 KiB`, `20.0 MiB`, ... up to EiB.
///
/// ```
/// use coffer_admin::output::format_size;
///
/// assert_eq!(format_size(1023), "1023 B");
/// assert_eq!(format_size(1536), "1.5 KiB");
/// assert_eq!(format_size(5 * 1024 * 1024), "5.0 MiB");
/// ```
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let bytes = u128::from(bytes);
    let (mut unit, mut i) = (1024u128, 0);
    loop {
        // Tenths of this unit, rounded half up; move on when rounding reaches 1024.0.
        let tenths = (bytes * 10 + unit / 2) / unit;
        if tenths < 10_240 || i == UNITS.len() - 1 {
            return format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[i]);
        }
        unit *= 1024;
        i += 1;
    }
}

/// A duration in seconds as `42s`, `5m 03s`, `2h 05m` or `3d 04h`.
pub fn format_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if secs < 60 {
        format!("{s}s")
    } else if secs < 3600 {
        format!("{m}m {s:02}s")
    } else if secs < 86_400 {
        format!("{h}h {m:02}m")
    } else {
        format!("{d}d {h:02}h")
    }
}

/// `2026-03-27T16:00:00+00:00` (any fraction) as `2026-03-27 16:00`; anything else unchanged.
pub fn format_time(iso: &str) -> Cow<'_, str> {
    let b = iso.as_bytes();
    let shaped = b.len() >= 16
        && b[10] == b'T'
        && b[..16].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => true,
            13 => *c == b':',
            _ => c.is_ascii_digit(),
        })
        && (iso.ends_with("+00:00") || iso.ends_with('Z'));
    if shaped {
        Cow::Owned(format!("{} {}", &iso[..10], &iso[11..16]))
    } else {
        Cow::Borrowed(iso)
    }
}

/// Makes relay-supplied text safe for a terminal: control characters (escape sequences, line
/// breaks) and bidirectional-override characters are replaced by `\u{..}` escapes.
///
/// ```
/// use coffer_admin::output::clean;
///
/// assert_eq!(clean("alice"), "alice");
/// assert_eq!(clean("\u{1b}[31mred"), "\\u{1b}[31mred");
/// ```
pub fn clean(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A v1 feature set (JSON text of a list of strings) as `members:1, fronts:1`; `-` when empty;
/// the raw text if it is not such a list.
pub fn format_features(json_text: Option<&str>) -> String {
    let Some(text) = json_text else {
        return "-".to_owned();
    };
    match serde_json::from_str::<Vec<String>>(text) {
        Ok(list) if list.is_empty() => "-".to_owned(),
        Ok(list) => list.join(", "),
        Err(_) => text.to_owned(),
    }
}

/// v1 permission flags (JSON text of an object of booleans) as the dashboard shows them: the
/// keys that are `true`, without `share_`, e.g. `members, front_status`; `none` when no flag is
/// set; the raw text if it is not an object.
pub fn format_permissions(json_text: Option<&str>) -> String {
    let Some(text) = json_text else {
        return "-".to_owned();
    };
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
        Ok(map) => {
            let on: Vec<&str> = map
                .iter()
                .filter(|(_, v)| v.as_bool() == Some(true))
                .map(|(k, _)| k.strip_prefix("share_").unwrap_or(k))
                .collect();
            if on.is_empty() {
                "none".to_owned()
            } else {
                on.join(", ")
            }
        }
        Err(_) => text.to_owned(),
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn key_values(pairs: &[(&str, String)]) -> String {
    let mut t = Table::headless(&[Align::Left, Align::Left]);
    for (k, v) in pairs {
        t.row([*k, v.as_str()]);
    }
    t.render()
}

/// `health`.
pub fn health(h: &Health) -> String {
    key_values(&[
        ("status", h.status.clone()),
        ("version", h.version.clone()),
        (
            "uptime",
            format!(
                "{} ({} s)",
                format_duration(h.uptime_seconds),
                h.uptime_seconds
            ),
        ),
        ("min protocol version", h.min_protocol_version.to_string()),
    ])
}

/// `stats`: an overview, then the per-volume-name breakdown with a totals row.
pub fn stats(s: &Stats) -> String {
    let mut out = key_values(&[
        (
            "users",
            format!(
                "{} ({} system, {} friend)",
                s.system_users + s.friend_users,
                s.system_users,
                s.friend_users
            ),
        ),
        (
            "registrations",
            format!("{} in the last 30 days", s.recent_registrations_30d),
        ),
        (
            "volumes",
            format!(
                "{}, {}",
                plural(s.total_volumes, "volume", "volumes"),
                format_size(s.total_storage_bytes)
            ),
        ),
        (
            "shares",
            format!("{} active, {} pending", s.active_shares, s.pending_shares),
        ),
    ]);
    if let Some(rows) = s.by_protocol.as_deref().filter(|r| !r.is_empty()) {
        let mut t = Table::new(&[
            ("PROTO", Align::Right),
            ("USERS", Align::Right),
            ("VOLUMES", Align::Right),
            ("SIZE", Align::Right),
        ]);
        for p in rows {
            t.row([
                p.protocol.to_string(),
                p.users.to_string(),
                p.volumes.to_string(),
                format_size(p.storage_bytes),
            ]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    if s.volume_breakdown.is_empty() {
        return out;
    }
    let mut t = Table::new(&[
        ("VOLUME", Align::Left),
        ("COUNT", Align::Right),
        ("SIZE", Align::Right),
    ]);
    for b in &s.volume_breakdown {
        t.row([
            b.volume_name.clone(),
            b.count.to_string(),
            format_size(b.total_bytes),
        ]);
    }
    t.footer([
        "total".to_owned(),
        s.total_volumes.to_string(),
        format_size(s.total_storage_bytes),
    ]);
    out.push('\n');
    out.push_str(&t.render());
    out
}

/// A user's protocol: the account's (`protocol`, v2 = registered with a key-binding proof) when
/// the relay reports it, else the announced `protocol_version`.
fn user_protocol(u: &User) -> String {
    u.protocol.map_or(u.protocol_version, i64::from).to_string()
}

/// A row's protocol, `-` when the relay did not say.
fn protocol(p: Option<u8>) -> String {
    p.map_or_else(|| "-".to_owned(), |p| p.to_string())
}

/// The line under a page of a list: which rows of how many, and the next `--offset`. Empty
/// when the list is complete (no paging asked, or an older relay that does not page).
fn page_note(shown: usize, total: Option<u64>, next_offset: Option<u64>) -> String {
    match (total, next_offset) {
        (Some(total), _) if total == shown as u64 && next_offset.is_none() => String::new(),
        (Some(total), Some(next)) => {
            format!("{shown} of {total} shown; next page: --offset {next}\n")
        }
        (Some(total), None) => format!("{shown} of {total} shown (last page)\n"),
        (None, _) => String::new(),
    }
}

fn user_row(u: &User) -> [String; 7] {
    [
        u.id.clone(),
        u.handle.clone().unwrap_or_else(|| "-".to_owned()),
        u.client_type.clone(),
        user_protocol(u),
        format_size(u.storage_used_bytes),
        format_time(&u.created_at).into_owned(),
        format_features(u.feature_set.as_deref()),
    ]
}

/// `users list`: one row per user, then counts and total storage.
pub fn users(list: &UserList) -> String {
    if list.users.is_empty() {
        return format!("no users\n{}", page_note(0, list.total, list.next_offset));
    }
    let mut t = Table::new(&[
        ("ID", Align::Left),
        ("HANDLE", Align::Left),
        ("TYPE", Align::Left),
        ("PROTO", Align::Right),
        ("STORAGE", Align::Right),
        ("CREATED (UTC)", Align::Left),
        ("FEATURES", Align::Left),
    ]);
    for u in &list.users {
        t.row(user_row(u));
    }
    let count = |kind: &str| list.users.iter().filter(|u| u.client_type == kind).count();
    let bytes: u64 = list.users.iter().map(|u| u.storage_used_bytes).sum();
    let mut out = t.render();
    let _ = writeln!(
        out,
        "\n{} ({} system, {} friend), {} stored",
        plural(list.users.len() as u64, "user", "users"),
        count("system"),
        count("friend"),
        format_size(bytes)
    );
    out.push_str(&page_note(list.users.len(), list.total, list.next_offset));
    out
}

/// `users show`: the user, then their volumes.
pub fn user_detail(d: &UserDetail) -> String {
    let u = &d.user;
    let mut out = key_values(&[
        ("id", u.id.clone()),
        ("handle", u.handle.clone().unwrap_or_else(|| "-".to_owned())),
        ("type", u.client_type.clone()),
        ("protocol version", user_protocol(u)),
        ("storage", format_size(u.storage_used_bytes)),
        ("created (UTC)", format_time(&u.created_at).into_owned()),
        ("features", format_features(u.feature_set.as_deref())),
    ]);
    out.push('\n');
    if d.volumes.is_empty() {
        out.push_str("no volumes\n");
        return out;
    }
    let with_proto = d.volumes.iter().any(|v| v.protocol.is_some());
    let mut columns = vec![("VOLUME", Align::Left)];
    if with_proto {
        columns.push(("PROTO", Align::Right));
    }
    columns.extend([
        ("VERSION", Align::Right),
        ("SIZE", Align::Right),
        ("UPDATED (UTC)", Align::Left),
    ]);
    let mut t = Table::new(&columns);
    for v in &d.volumes {
        let mut row = vec![clean(&v.volume_name).into_owned()];
        if with_proto {
            row.push(protocol(v.protocol));
        }
        row.extend([
            v.version.to_string(),
            format_size(v.size_bytes),
            format_time(&v.updated_at).into_owned(),
        ]);
        t.row(row);
    }
    let total: u64 = d.volumes.iter().map(|v| v.size_bytes).sum();
    let mut footer = vec![plural(d.volumes.len() as u64, "volume", "volumes")];
    if with_proto {
        footer.push(String::new());
    }
    footer.extend([String::new(), format_size(total), String::new()]);
    t.footer(footer);
    out.push_str(&t.render());
    out
}

/// `users delete`: one line.
pub fn deleted(id: &str, d: &Deleted) -> String {
    format!(
        "{} user {}: volumes, sharing relationships and sessions removed\n",
        clean(d.status.as_deref().unwrap_or("deleted")),
        clean(id)
    )
}

/// `volumes`: one row per volume and a totals row.
pub fn volumes(list: &VolumeList) -> String {
    if list.volumes.is_empty() {
        return format!("no volumes\n{}", page_note(0, list.total, list.next_offset));
    }
    // The protocol column appears when the relay reports it (older relays list v1 only).
    let with_proto = list.volumes.iter().any(|v| v.protocol.is_some());
    let mut columns = vec![("USER", Align::Left), ("VOLUME", Align::Left)];
    if with_proto {
        columns.push(("PROTO", Align::Right));
    }
    columns.extend([
        ("VERSION", Align::Right),
        ("SIZE", Align::Right),
        ("UPDATED (UTC)", Align::Left),
    ]);
    let mut t = Table::new(&columns);
    for v in &list.volumes {
        let mut row = vec![v.user_id.clone(), clean(&v.volume_name).into_owned()];
        if with_proto {
            row.push(protocol(v.protocol));
        }
        row.extend([
            v.version.to_string(),
            format_size(v.size_bytes),
            format_time(&v.updated_at).into_owned(),
        ]);
        t.row(row);
    }
    let total: u64 = list.volumes.iter().map(|v| v.size_bytes).sum();
    let mut footer = vec![
        plural(list.volumes.len() as u64, "volume", "volumes"),
        String::new(),
    ];
    if with_proto {
        footer.push(String::new());
    }
    footer.extend([String::new(), format_size(total), String::new()]);
    t.footer(footer);
    let mut out = t.render();
    out.push_str(&page_note(list.volumes.len(), list.total, list.next_offset));
    out
}

/// `sharing`: one row per relationship, then counts by status.
pub fn sharing(list: &ShareList) -> String {
    if list.sharing.is_empty() {
        return format!(
            "no sharing relationships\n{}",
            page_note(0, list.total, list.next_offset)
        );
    }
    // Protocol and expiry columns appear when the relay reports them (older relays: v1 only).
    let with_proto = list.sharing.iter().any(|s| s.protocol.is_some());
    let mut columns = vec![
        ("ID", Align::Left),
        ("SYSTEM", Align::Left),
        ("FRIEND", Align::Left),
    ];
    if with_proto {
        columns.push(("PROTO", Align::Right));
    }
    columns.extend([
        ("STATUS", Align::Left),
        ("PERMISSIONS", Align::Left),
        ("CREATED (UTC)", Align::Left),
    ]);
    if with_proto {
        columns.push(("EXPIRES (UTC)", Align::Left));
    }
    let mut t = Table::new(&columns);
    for s in &list.sharing {
        let mut row = vec![
            s.id.clone(),
            s.system_user_id.clone(),
            s.friend_user_id.clone(),
        ];
        if with_proto {
            row.push(protocol(s.protocol));
        }
        row.extend([
            clean(&s.status).into_owned(),
            clean(&format_permissions(s.permissions.as_deref())).into_owned(),
            format_time(&s.created_at).into_owned(),
        ]);
        if with_proto {
            row.push(
                s.expires_at
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), |t| format_time(t).into_owned()),
            );
        }
        t.row(row);
    }
    let count = |status: &str| list.sharing.iter().filter(|s| s.status == status).count();
    let mut out = t.render();
    let (expired, revoked) = (count("expired"), count("revoked"));
    let mut others = String::new();
    if expired > 0 {
        let _ = write!(others, ", {expired} expired");
    }
    if revoked > 0 {
        let _ = write!(others, ", {revoked} revoked");
    }
    let _ = writeln!(
        out,
        "\n{} ({} active, {} pending{others})",
        plural(list.sharing.len() as u64, "relationship", "relationships"),
        count("active"),
        count("pending")
    );
    out.push_str(&page_note(list.sharing.len(), list.total, list.next_offset));
    out
}

/// `sessions`.
pub fn sessions(s: &SessionStats) -> String {
    key_values(&[
        ("active sessions", s.active_sessions.to_string()),
        ("pending challenges", s.pending_challenges.to_string()),
        ("active invites", s.active_invites.to_string()),
        ("redeemed invites", s.redeemed_invites.to_string()),
    ])
}

/// `sessions expire-all`.
pub fn expired(e: &ExpiredSessions) -> String {
    let what = match e.sessions_expired {
        Some(n) => plural(n, "session", "sessions"),
        None => "all sessions".to_owned(),
    };
    format!("expired {what}; every client logs in again on its next sync\n")
}

/// `maintenance`: what was removed (the counts the relay reported).
pub fn maintenance(r: &MaintenanceReport) -> String {
    let n = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let mut out = String::from("maintenance done\n");
    let mut pairs = vec![
        ("expired challenges", n(r.expired_challenges)),
        ("expired sessions", n(r.expired_sessions)),
        ("expired invites", n(r.expired_invites)),
        (
            "orphan blobs",
            match (r.orphan_blobs, r.orphan_bytes) {
                (Some(files), Some(bytes)) => format!("{files} ({})", format_size(bytes)),
                (files, _) => n(files),
            },
        ),
    ];
    if let Some(dirs) = r.user_directories {
        pairs.push(("user directories", dirs.to_string()));
    }
    out.push_str(&key_values(&pairs));
    out
}

fn signed_size(bytes: i64) -> String {
    if bytes < 0 {
        format!("-{}", format_size(bytes.unsigned_abs()))
    } else {
        format_size(bytes.unsigned_abs())
    }
}

/// `anomalies`: the window and policy, totals, then one row per anomaly.
pub fn anomalies(r: &AnomalyReport) -> String {
    let policy = match r.ip_policy.as_str() {
        "off" => "off (sources are counted, not shown)".to_owned(),
        other => other.to_owned(),
    };
    let mut out = key_values(&[
        ("ip policy", policy),
        (
            "window",
            format!(
                "{} min (counting since {} UTC)",
                r.window_minutes,
                format_time(&r.tracking_since)
            ),
        ),
        (
            "totals",
            format!(
                "{}, {}, {} net growth",
                plural(
                    r.totals.failed_logins.max(0) as u64,
                    "failed login",
                    "failed logins"
                ),
                plural(r.totals.challenges.max(0) as u64, "challenge", "challenges"),
                signed_size(r.totals.storage_growth_bytes)
            ),
        ),
    ]);
    if r.untracked > 0 {
        let _ = writeln!(
            out,
            "untracked             {} events (counter maps full)",
            r.untracked
        );
    }
    out.push('\n');
    if r.anomalies.is_empty() {
        out.push_str("no anomalies in the window\n");
        return out;
    }
    let mut t = Table::new(&[
        ("KIND", Align::Left),
        ("SCOPE", Align::Left),
        ("SUBJECT", Align::Left),
        ("VALUE", Align::Right),
        ("THRESHOLD", Align::Right),
        ("FIRST (UTC)", Align::Left),
        ("LAST (UTC)", Align::Left),
    ]);
    for a in &r.anomalies {
        let kind = match a.kind.as_str() {
            "failed_logins" => "failed logins",
            "challenge_flood" => "challenge flood",
            "storage_growth" => "storage growth",
            other => other,
        };
        let subject = a
            .user_id
            .clone()
            .or_else(|| a.source.clone())
            .unwrap_or_else(|| "(hidden by ip_policy)".to_owned());
        let (value, threshold) = if a.unit == "bytes" {
            (signed_size(a.value), format_size(a.threshold))
        } else {
            (a.value.to_string(), a.threshold.to_string())
        };
        t.row([
            kind.to_owned(),
            a.scope.clone(),
            subject,
            value,
            threshold,
            format_time(&a.first_seen).into_owned(),
            format_time(&a.last_seen).into_owned(),
        ]);
    }
    out.push_str(&t.render());
    out
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
