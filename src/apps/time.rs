//! Marathon's timestamps: ISO 8601 in UTC with milliseconds (`2026-12-03T17:30:00.123Z`), the
//! form of app versions, `startedAt` and health check times.

/// `secs` (unix seconds) as Marathon prints times.
pub fn iso8601(secs: f64) -> String {
    let millis_total = (secs * 1000.0).round().max(0.0) as i64;
    let (days, rem) = (
        millis_total.div_euclid(86_400_000),
        millis_total.rem_euclid(86_400_000),
    );
    let (y, m, d) = civil_from_days(days);
    let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
    let (min, rem) = (rem / 60_000, rem % 60_000);
    let (s, ms) = (rem / 1000, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z")
}

/// The time now, as [`iso8601`].
pub fn now() -> String {
    iso8601(crate::sys::now_secs())
}

/// Howard Hinnant's days-to-civil: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_marathon_does() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400.5), "2000-02-29T00:00:00.500Z");
        assert_eq!(iso8601(1_796_319_000.123), "2026-12-03T17:30:00.123Z");
    }
}
