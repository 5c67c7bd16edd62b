//! Time: the [`Clock`] operations read the instant from, the stored text
//! form, RFC 3339 output, `1h30m` input.
//!
//! Domain code never reads the system time itself: operations take a
//! `&dyn Clock` (the [`SystemClock`] in the binary, a [`FixedClock`] in tests),
//! so expiry, lockout, grace periods and rate windows are tested by setting
//! the clock, not by sleeping.

use crate::error::{Error, Result};
use std::sync::Mutex;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

/// Where operations read the current instant from.
pub trait Clock: Send + Sync {
    /// The current instant, UTC, truncated to microseconds (what both databases keep).
    fn now(&self) -> OffsetDateTime;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one reader of the system time
    fn now(&self) -> OffsetDateTime {
        truncate(OffsetDateTime::now_utc())
    }
}

/// A clock that stands still until it is set or advanced (tests; `KEYWARD_TEST_NOW` in debug builds).
#[derive(Debug)]
pub struct FixedClock(Mutex<OffsetDateTime>);

impl FixedClock {
    /// A clock showing `at`.
    pub fn at(at: OffsetDateTime) -> Self {
        FixedClock(Mutex::new(truncate(at)))
    }

    /// Sets the instant it shows.
    pub fn set(&self, at: OffsetDateTime) {
        let mut t = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *t = truncate(at);
    }

    /// Moves it forward (or, with a negative duration, back).
    pub fn advance(&self, by: Duration) {
        let mut t = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *t = t.saturating_add(by);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
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
        .map_err(|_| {
            Error::invalid(format!(
                "{} is not an RFC 3339 timestamp",
                crate::ident::shown(s)
            ))
        })
}

/// RFC 3339 UTC for output, e.g. `2026-11-24T12:00:00.123456Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    format_stored(t)
}

/// Parses a duration such as `90d`, `1h30m`, `15m`, `45s`, `2w`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || {
        Error::invalid(format!(
            "invalid duration {}: use a number and a unit (s, m, h, d, w), e.g. `15m`, `1h30m`, `90d`", crate::ident::shown(s)))
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

/// Parses `--since`: a duration back from `now` (`24h`) or an RFC 3339 instant.
pub fn parse_since(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(truncate(t));
    }
    let d = parse_duration(s).map_err(|_| {
        Error::invalid(format!(
            "invalid --since {}: give a duration back from now (`24h`, `7d`) or an RFC 3339 time",
            crate::ident::shown(s)
        ))
    })?;
    sub(now, d)
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
        assert_eq!(add(SystemClock.now(), huge).unwrap_err().exit_code(), 2);
        assert_eq!(sub(SystemClock.now(), huge).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn a_fixed_clock_moves_only_when_told() {
        let start = parse_stored("2026-01-01T00:00:00Z").unwrap();
        let clock = FixedClock::at(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::minutes(15));
        assert_eq!(clock.now(), start + Duration::minutes(15));
        clock.set(start);
        assert_eq!(clock.now(), start);
        let since = parse_since("24h", clock.now()).unwrap();
        assert_eq!(since, start - Duration::hours(24));
    }

    #[test]
    fn stored_form_round_trips_and_is_fixed_width() {
        let t = SystemClock.now();
        let s = format_stored(t);
        assert_eq!(s.len(), 27);
        assert!(s.ends_with('Z'));
        assert_eq!(parse_stored(&s).unwrap(), t);
    }
}
