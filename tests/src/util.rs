//! Small helpers shared by the test files: hashing, ISO timestamps, JSON walking.

use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Parses a UTC ISO-8601 time as Python's `isoformat()` writes it
/// (`YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`, also accepting a `Z` suffix) into Unix seconds and
/// microseconds. `None` if it is not of that form.
pub fn parse_iso_utc(text: &str) -> Option<(i64, u32)> {
    let rest = text
        .strip_suffix("+00:00")
        .or_else(|| text.strip_suffix('Z'))?;
    let (date, time) = rest.split_once('T')?;
    let mut d = date.split('-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    if d.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (hms, frac) = match time.split_once('.') {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (time, None),
    };
    let mut t = hms.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let m: i64 = t.next()?.parse().ok()?;
    let s: i64 = t.next()?.parse().ok()?;
    if t.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let micros = match frac {
        Some(f) if !f.is_empty() && f.len() <= 6 && f.bytes().all(|b| b.is_ascii_digit()) => {
            f.parse::<u32>().ok()? * 10u32.pow(6 - f.len() as u32)
        }
        Some(_) => return None,
        None => 0,
    };
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + m * 60 + s, micros))
}

/// Asserts `value` is an ISO UTC time on a whole hour (`…T14:00:00+00:00`) no later than now
/// and no earlier than an hour before (i.e. "now, floored to the hour").
#[track_caller]
pub fn assert_whole_hour_now(value: &Value, what: &str) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"));
    let (secs, micros) =
        parse_iso_utc(text).unwrap_or_else(|| panic!("{what} {text:?} is not an ISO UTC time"));
    assert!(
        secs % 3600 == 0 && micros == 0,
        "{what} {text:?} is not rounded down to the hour"
    );
    let now = crate::client::now_unix();
    assert!(
        secs <= now && now - secs < 3600 + 5,
        "{what} {text:?} is not the current hour (now = {now})"
    );
}

/// Asserts `value` is an ISO UTC time (any precision).
#[track_caller]
pub fn assert_iso(value: &Value, what: &str) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"));
    parse_iso_utc(text)
        .unwrap_or_else(|| panic!("{what} {text:?} is not an ISO UTC time"))
        .0
}

/// Every string anywhere inside `value` (keys and values).
pub fn all_strings(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(value, &mut out);
    out
}

fn walk(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                walk(v, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_python_isoformat() {
        assert_eq!(parse_iso_utc("1970-01-01T00:00:00+00:00"), Some((0, 0)));
        assert_eq!(
            parse_iso_utc("2026-03-27T16:37:46.123456+00:00"),
            Some((1_774_629_466, 123_456))
        );
        assert_eq!(
            parse_iso_utc("2026-03-27T11:00:00+00:00"),
            Some((1_774_609_200, 0))
        );
        assert_eq!(
            parse_iso_utc("2000-02-29T00:00:00.5Z"),
            Some((951_782_400, 500_000))
        );
        assert_eq!(parse_iso_utc("2026-03-27 11:00:00"), None);
        assert_eq!(parse_iso_utc("2026-03-27T11:00:00+01:00"), None);
    }
}
