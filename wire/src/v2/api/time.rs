//! Times the relay states (expiry of a challenge, session or invite; when a pairing was made).

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A time the relay states (expiry of a challenge, session or invite), in Unix seconds.
///
/// Read from an integer or from an ISO-8601 / RFC 3339 text with a numeric or `Z` offset, as v1
/// relays write it (`2026-03-27T16:57:46.123456+00:00`); fractions of a second are dropped.
/// Written as the v1 text in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelayTime(i64);

impl RelayTime {
    /// From Unix seconds.
    pub const fn from_unix_seconds(seconds: i64) -> RelayTime {
        RelayTime(seconds)
    }

    /// Unix seconds.
    pub const fn unix_seconds(&self) -> i64 {
        self.0
    }

    /// Parses the ISO-8601 text form (see the type documentation).
    pub fn parse_iso(text: &str) -> Option<RelayTime> {
        let b = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = b.get(range)?;
            if part.iter().all(u8::is_ascii_digit) {
                std::str::from_utf8(part).ok()?.parse().ok()
            } else {
                None
            }
        };
        let sep = |i: usize, c: u8| b.get(i) == Some(&c);
        if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
            return None;
        }
        let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        let mut rest = b.get(19..)?;
        if let Some(fraction) = rest.strip_prefix(b".") {
            let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=9).contains(&n) {
                return None;
            }
            rest = &fraction[n..];
        }
        let offset = match rest {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]
                if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) =>
            {
                let two = |a: u8, b: u8| i64::from(a - b'0') * 10 + i64::from(b - b'0');
                let (hh, mm) = (two(*h1, *h2), two(*m1, *m2));
                if hh > 23 || mm > 59 {
                    return None;
                }
                let secs = hh * 3600 + mm * 60;
                if *sign == b'+' { secs } else { -secs }
            }
            _ => return None,
        };
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_days = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        let max_day = *month_days.get(usize::try_from(month - 1).ok()?)?;
        if day < 1 || day > max_day || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(RelayTime(
            days * 86_400 + hour * 3600 + minute * 60 + second - offset,
        ))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Serialize for RelayTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::time::isoformat(self.0, 0))
    }
}

impl<'de> Deserialize<'de> for RelayTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RelayTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Unix seconds or an ISO-8601 time")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RelayTime, E> {
                i64::try_from(v)
                    .map(RelayTime)
                    .map_err(|_| E::custom("time out of range"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RelayTime, E> {
                Ok(RelayTime(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RelayTime, E> {
                RelayTime::parse_iso(v).ok_or_else(|| E::custom("not an ISO-8601 time"))
            }
        }
        d.deserialize_any(V)
    }
}
