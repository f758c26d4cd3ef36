//! Moving the wall clock of a running relay: libfaketime preloaded into the relay process, its
//! offset read from a file the test rewrites (`FAKETIME_TIMESTAMP_FILE`, re-read on every call
//! with `FAKETIME_NO_CACHE=1`).
//!
//! Only the wall clock moves, as when NTP steps a server's clock: monotonic clocks (timeouts,
//! rate-limit buckets, uptime) are left alone (`FAKETIME_DONT_FAKE_MONOTONIC=1`), and file
//! times are the kernel's (`NO_FAKE_STAT=1`), so a blob written before a jump keeps its real
//! modification time. The test process itself keeps the real clock.
//!
//! The tests install nothing: without the library (Debian package `faketime`) they fail and say
//! so.

use std::path::{Path, PathBuf};

use crate::relay::RelayProcess;

/// Where distributions put `libfaketime.so.1`.
const SEARCH: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/lib64/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
];

/// The libfaketime library: `$COFFER_LIBFAKETIME`, else the usual places; panics with how to
/// install it when it is missing.
pub fn libfaketime() -> PathBuf {
    if let Some(path) = std::env::var_os("COFFER_LIBFAKETIME") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "COFFER_LIBFAKETIME={} is not a file",
            path.display()
        );
        return path;
    }
    SEARCH
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "libfaketime is not installed (looked in {SEARCH:?}); the clock-jump tests need \
                 it: `apt-get install -y faketime` (Debian/Ubuntu), or set COFFER_LIBFAKETIME to \
                 the path of libfaketime.so.1"
            )
        })
}

/// A wall-clock offset for one relay process, changeable while it runs.
#[derive(Debug)]
pub struct FakeClock {
    dir: tempfile::TempDir,
    lib: PathBuf,
    offset: i64,
}

impl FakeClock {
    /// A clock at real time + `offset` seconds; panics if libfaketime is missing.
    pub fn starting_at(offset: i64) -> FakeClock {
        let lib = libfaketime();
        let dir = tempfile::Builder::new()
            .prefix("coffer-clock-")
            .tempdir()
            .expect("create the clock directory");
        let clock = FakeClock { dir, lib, offset };
        clock.write(offset);
        clock
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("offset")
    }

    fn write(&self, offset: i64) {
        // Written aside and renamed, so the relay never reads a half-written offset.
        let tmp = self.dir.path().join("offset.new");
        std::fs::write(&tmp, format!("{offset:+}\n")).expect("write the clock offset");
        std::fs::rename(&tmp, self.file()).expect("move the clock offset into place");
    }

    /// The environment that puts a relay on this clock.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LD_PRELOAD", path_text(&self.lib)),
            ("FAKETIME_TIMESTAMP_FILE", path_text(&self.file())),
            ("FAKETIME_NO_CACHE", "1".to_owned()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
            ("NO_FAKE_STAT", "1".to_owned()),
        ]
    }

    /// Sets the relay's wall clock to real time + `offset` seconds (a step, at once).
    pub fn set(&mut self, offset: i64) {
        self.offset = offset;
        self.write(offset);
    }

    /// Moves the relay's wall clock by `delta` seconds (negative: backwards).
    pub fn jump(&mut self, delta: i64) {
        self.set(self.offset + delta);
    }

    /// The current offset, seconds.
    pub fn offset(&self) -> i64 {
        self.offset
    }
}

fn path_text(path: &Path) -> String {
    path.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", path.display()))
        .to_owned()
}

/// The relay's wall clock, from the `Date` header of `GET /api/v1/health` (no database write,
/// so it works while the database is locked; the server refreshes it twice a second).
pub async fn relay_clock(relay: &RelayProcess) -> i64 {
    let resp = relay
        .http()
        .send(relay.http().request(reqwest::Method::GET, "/api/v1/health"))
        .await;
    let date = resp
        .header("date")
        .unwrap_or_else(|| panic!("no Date header: {}", resp.describe()));
    parse_http_date(date).unwrap_or_else(|| panic!("unreadable Date header {date:?}"))
}

/// Unix seconds of an HTTP date (`Wed, 02 Dec 2026 07:37:28 GMT`, RFC 9110's IMF-fixdate).
pub fn parse_http_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|n| n.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms[..] else {
        return None;
    };
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::parse_http_date;

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Wed, 02 Dec 2026 07:37:28 GMT"),
            Some(1_796_197_048)
        );
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(1_835_481_599)
        );
        assert_eq!(parse_http_date("Wed, 02 Dec 2026 07:37:28 UTC"), None);
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
