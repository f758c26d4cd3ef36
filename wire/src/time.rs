//! Timestamps as the v1 wire shows them: Python's `datetime.isoformat()` of a UTC time, e.g.
//! `2026-03-27T16:57:46.123456+00:00` (the fraction is omitted when it is zero, as Python does).

/// Seconds in an hour: the resolution of every time the relay keeps about content.
pub const HOUR: i64 = 3600;

/// Floors Unix seconds to the start of their hour.
pub fn floor_to_hour(unix_seconds: i64) -> i64 {
    unix_seconds.saturating_sub(unix_seconds.rem_euclid(HOUR))
}

/// Formats Unix time (seconds + microseconds) like Python's `datetime.isoformat()` in UTC.
pub fn isoformat(unix_seconds: i64, micros: u32) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs_of_day = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (
        secs_of_day / 3600,
        (secs_of_day / 60) % 60,
        secs_of_day % 60,
    );
    let micros = micros % 1_000_000;
    if micros == 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}+00:00")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{micros:06}+00:00")
    }
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both casts are in range by construction: day ∈ 1..=31, month ∈ 1..=12.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_isoformat() {
        assert_eq!(isoformat(0, 0), "1970-01-01T00:00:00+00:00");
        // datetime.fromtimestamp(1774629466.123456, timezone.utc).isoformat()
        assert_eq!(
            isoformat(1_774_629_466, 123_456),
            "2026-03-27T16:37:46.123456+00:00"
        );
        assert_eq!(isoformat(1_774_609_200, 0), "2026-03-27T11:00:00+00:00");
        assert_eq!(
            isoformat(951_782_400, 5),
            "2000-02-29T00:00:00.000005+00:00"
        );
        assert_eq!(isoformat(-1, 0), "1969-12-31T23:59:59+00:00");
    }

    #[test]
    fn floors() {
        assert_eq!(floor_to_hour(1_774_609_200), 1_774_609_200);
        assert_eq!(floor_to_hour(1_774_612_799), 1_774_609_200);
        assert_eq!(floor_to_hour(-1), -3600);
    }
}
