//! Timestamps and durations: the stored text form, RFC 3339 output, `1h30m` input.

use crate::error::{Error, Result};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

/// The current instant, UTC, truncated to microseconds (what both databases keep).
pub fn now() -> OffsetDateTime {
    truncate(OffsetDateTime::now_utc())
}

/// Truncates an instant to microsecond precision, in UTC.
pub fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    let micros = t.microsecond();
    t.replace_nanosecond(micros * 1_000).unwrap_or(t)
}

/// The fixed-width text form stored in SQLite and hashed in the audit chain:
/// `2026-11-24T12:00:00.000000Z`. Sorts like the instant it names.
pub fn format_stored(t: OffsetDateTime) -> String {
    let t = truncate(t);
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    // Formatting a valid UTC instant with a fixed description cannot fail for
    // years 0..=9999; fall back to RFC 3339 rather than panic.
    t.format(&fmt)
        .unwrap_or_else(|_| t.format(&Rfc3339).unwrap_or_default())
}

/// Parses the stored form (or any RFC 3339 timestamp).
pub fn parse_stored(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map(truncate)
        .map_err(|_| Error::invalid(format!("{s:?} is not an RFC 3339 timestamp")))
}

/// RFC 3339 UTC for output, e.g. `2026-11-24T12:00:00.123456Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    format_stored(t)
}

/// Parses a duration such as `90d`, `1h30m`, `15m`, `45s`, `2w`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || {
        Error::invalid(format!(
            "invalid duration {s:?}: use a number and a unit (s, m, h, d, w), e.g. `15m`, `1h30m`, `90d`"
        ))
    };
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        let unit = match c {
            's' => Duration::seconds(1),
            'm' => Duration::minutes(1),
            'h' => Duration::hours(1),
            'd' => Duration::days(1),
            'w' => Duration::weeks(1),
            _ => return Err(bad()),
        };
        total = unit
            .checked_mul(i32::try_from(n).map_err(|_| bad())?)
            .and_then(|d| total.checked_add(d))
            .ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// Formats a duration back in the input syntax (`1h30m`).
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.whole_seconds();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= len {
            out.push_str(&format!("{}{unit}", secs / len));
            secs %= len;
        }
    }
    out
}

/// `t + d`, or an input error when it leaves the representable range.
pub fn add(t: OffsetDateTime, d: Duration) -> Result<OffsetDateTime> {
    t.checked_add(d)
        .filter(|r| r.year() <= 9999)
        .ok_or_else(|| Error::invalid(format!("duration {} is too long", format_duration(d))))
}

/// `t - d`, or an input error when it leaves the representable range.
pub fn sub(t: OffsetDateTime, d: Duration) -> Result<OffsetDateTime> {
    t.checked_sub(d)
        .filter(|r| r.year() >= 1)
        .ok_or_else(|| Error::invalid(format!("duration {} is too long", format_duration(d))))
}

/// Parses `--since`: a duration back from now (`24h`) or an RFC 3339 instant.
pub fn parse_since(s: &str) -> Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(truncate(t));
    }
    let d = parse_duration(s).map_err(|_| {
        Error::invalid(format!(
            "invalid --since {s:?}: give a duration back from now (`24h`, `7d`) or an RFC 3339 time"
        ))
    })?;
    sub(now(), d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90d").unwrap(), Duration::days(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::minutes(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::minutes(15));
        for bad in ["", "15", "m", "1x", "-1h", "1h30"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::minutes(90)), "1h30m");
        let huge = parse_duration("2147483647w").unwrap();
        assert_eq!(add(now(), huge).unwrap_err().exit_code(), 2);
        assert_eq!(sub(now(), huge).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn stored_form_round_trips_and_is_fixed_width() {
        let t = now();
        let s = format_stored(t);
        assert_eq!(s.len(), 27);
        assert!(s.ends_with('Z'));
        assert_eq!(parse_stored(&s).unwrap(), t);
    }
}
