//! API keys: the rules, once. A key is `kw_<8>_<32><6>` (SPEC §3, made and
//! checked by [`crate::crypto::token`]); only its prefix (`kw_<8>`) and the
//! SHA-256 of the whole key are stored. A key may belong to a user (then it
//! holds only permissions the user has, and works only while the user does)
//! or to nobody (a service key, holding what it was given). It may be
//! limited to IP networks and to a number of successful verifications per
//! minute (a fixed window counted in the database), and it may expire.
//!
//! `revoked_at` may lie in the future: a key rotated with a grace period
//! works until then. Nothing here prints or reads the clock.

pub mod manage;
pub mod repo;
pub mod scan;
pub mod verify;

use crate::domain::roles;
use crate::error::{Error, Result};
use crate::ids::ApiKeyId;
use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};

/// The longest key name, in characters.
pub const MAX_NAME: usize = 100;
/// The highest `--rate-limit`, per minute.
pub const MAX_RATE: u32 = 1_000_000;
/// The most `--permission`s one key holds.
pub const MAX_PERMISSIONS: usize = 64;
/// The most `--allow-ip` networks one key holds.
pub const MAX_NETWORKS: usize = 64;
/// `rotate`'s grace period unless `--grace` says otherwise.
pub const DEFAULT_GRACE: Duration = Duration::hours(24);
/// The longest `--grace`.
pub const MAX_GRACE: Duration = Duration::days(365);

/// Where a key stands at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Verifies (a rotated key within its grace period too).
    Active,
    /// Revoked, or rotated and past its grace period.
    Revoked,
    /// Past `expires_at`.
    Expired,
}

impl Status {
    /// The word in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Revoked => "revoked",
            Status::Expired => "expired",
        }
    }
}

/// A key's status at `now`: revoked when `revoked_at` has come (even when it
/// also expired), expired when `expires_at` has; "has come" includes now.
pub fn status(
    revoked_at: Option<OffsetDateTime>,
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Status {
    if revoked_at.is_some_and(|t| t <= now) {
        Status::Revoked
    } else if expires_at.is_some_and(|t| t <= now) {
        Status::Expired
    } else {
        Status::Active
    }
}

/// Why a key ended (`revoked_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// `apikeys revoke`.
    Revoked,
    /// `apikeys rotate`: replaced, ends with its grace period.
    Rotated,
    /// `apikeys scan --revoke`: found in a file or a stream.
    Leaked,
}

impl RevokeReason {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Revoked => "revoked",
            RevokeReason::Rotated => "rotated",
            RevokeReason::Leaked => "leaked",
        }
    }
}

/// Why `apikeys verify` refused a key (`reason` in its JSON), in the order
/// the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Not `kw_<8>_<38>` in base62 (checked offline).
    Malformed,
    /// The right shape, a wrong checksum: mistyped or truncated (offline).
    BadChecksum,
    /// No key has its prefix, or the one that has is not this key.
    Unknown,
    /// Revoked, or rotated and past its grace period.
    Revoked,
    /// Past its expiry.
    Expired,
    /// The owner is disabled, locked by an operator, or gone.
    OwnerInactive,
    /// `--ip` is not in the key's allowlist (or no `--ip` for a key that has one).
    IpNotAllowed,
    /// The key (or its owner, now) does not hold `--permission`.
    PermissionAbsent,
    /// The key's per-minute limit is used up in this minute.
    RateLimited,
}

impl Reason {
    /// The word in output and in `last_failure_reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::BadChecksum => "bad_checksum",
            Reason::Unknown => "unknown",
            Reason::Revoked => "revoked",
            Reason::Expired => "expired",
            Reason::OwnerInactive => "owner_inactive",
            Reason::IpNotAllowed => "ip_not_allowed",
            Reason::PermissionAbsent => "permission_absent",
            Reason::RateLimited => "rate_limited",
        }
    }
}

/// A key as `list`, `show` and `verify` report it: never the key or its hash.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    /// Row id.
    pub id: ApiKeyId,
    /// Its name (several keys may share one: a rotation keeps it).
    pub name: String,
    /// `kw_<8>`: how people and `scan` name it.
    pub key_prefix: String,
    /// Where it stands now.
    pub status: Status,
    /// The owner's username (none for a service key).
    pub user: Option<String>,
    /// `resource:action` pairs it holds, sorted.
    pub permissions: Vec<String>,
    /// Networks it may be used from (empty: anywhere), normalised, sorted.
    pub allowed_ips: Vec<String>,
    /// Successful verifications allowed per minute (none: no limit).
    pub rate_limit_per_minute: Option<u32>,
    /// When it stops working by itself.
    #[serde(with = "crate::output::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was, or will be (rotation's grace), revoked.
    #[serde(with = "crate::output::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// `revoked`, `rotated` or `leaked`.
    pub revoked_reason: Option<String>,
    /// The key this one replaced (`rotate`).
    pub rotated_from: Option<ApiKeyId>,
    /// That key's prefix.
    pub rotated_from_prefix: Option<String>,
    /// The key that replaced this one.
    pub rotated_to: Option<ApiKeyId>,
    /// That key's prefix.
    pub rotated_to_prefix: Option<String>,
    /// When it was made.
    #[serde(with = "crate::output::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who made it.
    pub created_by: Option<String>,
    /// Its last successful verification.
    #[serde(with = "crate::output::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// The `--ip` of that verification.
    pub last_used_ip: Option<String>,
    /// Verifications refused after its prefix was found.
    pub failure_count: u64,
    /// The last refusal's time.
    #[serde(with = "crate::output::rfc3339::option")]
    pub last_failure_at: Option<OffsetDateTime>,
    /// The last refusal's reason.
    pub last_failure_reason: Option<String>,
}

/// Checks a key name: 1 to [`MAX_NAME`] characters, no control characters,
/// not only spaces.
pub fn check_name(name: &str) -> Result<()> {
    let n = name.chars().count();
    if name.trim().is_empty() || n > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "invalid key name {}: give 1 to {MAX_NAME} characters, no control characters",
            crate::ident::shown(name)
        )));
    }
    Ok(())
}

/// Parses `--rate-limit N/min` (1 to [`MAX_RATE`]).
pub fn parse_rate_limit(s: &str) -> Result<u32> {
    let bad = || {
        Error::invalid(format!(
            "invalid --rate-limit {}: give N/min, N from 1 to {MAX_RATE} (e.g. 600/min)",
            crate::ident::shown(s)
        ))
    };
    let n = s.trim().strip_suffix("/min").ok_or_else(bad)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match n.parse::<u32>() {
        Ok(n) if (1..=MAX_RATE).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

/// Parses one `--allow-ip`: a CIDR network (IPv4 or IPv6) or a bare address
/// (a /32 or /128). Host bits are cleared (`10.1.2.3/8` is `10.0.0.0/8`);
/// an IPv4-mapped IPv6 address or network (`::ffff:10.0.0.0/104`) is the
/// IPv4 one (`10.0.0.0/8`), as `verify --ip` reads a mapped address. The
/// address is read by the standard parser (no octal-looking `010.0.0.0`)
/// and the prefix length is plain decimal.
pub fn parse_network(s: &str) -> Result<IpNet> {
    let bad = || {
        Error::invalid(format!(
            "invalid --allow-ip {}: give an IPv4 or IPv6 address or CIDR network (e.g. 203.0.113.0/24, 2001:db8::/32)",
            crate::ident::shown(s)
        ))
    };
    let t = s.trim();
    let (addr, len) = match t.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (t, None),
    };
    let addr = addr.parse::<IpAddr>().map_err(|_| bad())?;
    let len = match len {
        None => None,
        Some(l)
            if !l.is_empty()
                && l.len() <= 3
                && l.bytes().all(|b| b.is_ascii_digit())
                && (l == "0" || !l.starts_with('0')) =>
        {
            Some(l.parse::<u8>().map_err(|_| bad())?)
        }
        Some(_) => return Err(bad()),
    };
    let net = match (addr, len) {
        (a, None) => IpNet::from(a.to_canonical()),
        (IpAddr::V6(v6), Some(l)) if l >= 96 && v6.to_ipv4_mapped().is_some() => {
            let v4 = v6.to_ipv4_mapped().ok_or_else(bad)?;
            IpNet::new(IpAddr::V4(v4), l - 96).map_err(|_| bad())?
        }
        (a, Some(l)) => IpNet::new(a, l).map_err(|_| bad())?,
    };
    Ok(net.trunc())
}

/// Normalises an allowlist: each network parsed, duplicates dropped, sorted.
pub fn normalize_networks(given: &[String]) -> Result<Vec<String>> {
    if given.len() > MAX_NETWORKS {
        return Err(Error::invalid(format!(
            "too many --allow-ip: at most {MAX_NETWORKS} per key"
        )));
    }
    let mut nets = given
        .iter()
        .map(|s| parse_network(s))
        .collect::<Result<Vec<_>>>()?;
    nets.sort();
    nets.dedup();
    Ok(nets.iter().map(ToString::to_string).collect())
}

/// Parses `verify --ip A` (an address; IPv4-mapped IPv6 is the IPv4 address).
pub fn parse_ip(s: &str) -> Result<IpAddr> {
    s.trim()
        .parse::<IpAddr>()
        .map(|a| a.to_canonical())
        .map_err(|_| {
            Error::invalid(format!(
                "invalid --ip {}: give an IPv4 or IPv6 address",
                crate::ident::shown(s)
            ))
        })
}

/// Whether a key with allowlist `allowed` (stored text) may be used from
/// `ip`: any address when the list is empty, else one the list contains; a
/// key with a list and no `--ip` is refused (nothing proves where it is used
/// from). A stored network that does not parse (a row edited behind
/// keyward's back) is an error naming it.
pub fn ip_allowed(allowed: &[String], ip: Option<IpAddr>) -> Result<bool> {
    if allowed.is_empty() {
        return Ok(true);
    }
    let Some(ip) = ip else { return Ok(false) };
    for stored in allowed {
        let net = stored.parse::<IpNet>().map_err(|_| {
            Error::integrity(format!(
                "stored allowlist entry {} of an API key is not a network: fix the row (or revoke the key)",
                crate::ident::shown(stored)
            ))
        })?;
        if net.contains(&ip) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether `held` (`resource:action` pairs) grants `wanted` (`resource:action`):
/// the pair itself or, for read, write and delete, `resource:admin`.
pub fn grants(held: &[String], wanted: &str) -> Result<bool> {
    let (resource, action) = roles::parse_permission(wanted)?;
    Ok(roles::granting(&resource, &action)
        .iter()
        .any(|p| held.iter().any(|h| h == p)))
}

/// What `verify` decides on, read in its transaction.
#[derive(Debug, Clone)]
pub struct Presented<'a> {
    /// The key's stored state.
    pub revoked_at: Option<OffsetDateTime>,
    /// Its expiry.
    pub expires_at: Option<OffsetDateTime>,
    /// Its allowlist (stored text).
    pub allowed_ips: &'a [String],
    /// Its permissions.
    pub permissions: &'a [String],
    /// Its owner, when it has one: whether the account works now, and the
    /// permissions it has now (`None`: a service key).
    pub owner: Option<(bool, &'a [String])>,
}

/// The first refusal of a key whose hash matched, at `now`, for a use from
/// `ip` needing `permission`, before its rate limit (counted by the write
/// that records the use), in the order: revoked, expired, IP,
/// permission, owner inactive. (IP first also tells someone outside the
/// allowlist nothing about the owner.)
pub fn refusal(
    key: &Presented<'_>,
    ip: Option<IpAddr>,
    permission: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<Reason>> {
    match status(key.revoked_at, key.expires_at, now) {
        Status::Revoked => return Ok(Some(Reason::Revoked)),
        Status::Expired => return Ok(Some(Reason::Expired)),
        Status::Active => {}
    }
    if !ip_allowed(key.allowed_ips, ip)? {
        return Ok(Some(Reason::IpNotAllowed));
    }
    if let Some(p) = permission {
        let held = grants(key.permissions, p)?;
        let owner_has = match key.owner {
            Some((_, now_has)) => grants(now_has, p)?,
            None => true,
        };
        if !(held && owner_has) {
            return Ok(Some(Reason::PermissionAbsent));
        }
    }
    if key.owner.is_some_and(|(works, _)| !works) {
        return Ok(Some(Reason::OwnerInactive));
    }
    Ok(None)
}

/// The start of the rate window `now` falls in (the minute, UTC).
pub fn window_start(now: OffsetDateTime) -> Result<OffsetDateTime> {
    let t = now.unix_timestamp();
    OffsetDateTime::from_unix_timestamp(t - t.rem_euclid(60)).map_err(Error::internal)
}

/// Whole seconds from `now` until the window after `now`'s begins (1 to 60).
pub fn retry_after(now: OffsetDateTime) -> Result<u64> {
    let next = window_start(now)? + Duration::MINUTE;
    let wait = (next - now).as_seconds_f64().ceil();
    Ok((wait as u64).clamp(1, 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn status_revoked_wins_and_now_counts() {
        let now = datetime!(2026-01-01 12:00 UTC);
        assert_eq!(status(None, None, now), Status::Active);
        assert_eq!(status(Some(now), None, now), Status::Revoked);
        assert_eq!(
            status(Some(now + Duration::SECOND), None, now),
            Status::Active
        );
        assert_eq!(status(None, Some(now), now), Status::Expired);
        assert_eq!(status(Some(now), Some(now), now), Status::Revoked);
    }

    #[test]
    fn rate_limits_parse_strictly() {
        assert_eq!(parse_rate_limit("10/min").unwrap(), 10);
        assert_eq!(parse_rate_limit("1000000/min").unwrap(), MAX_RATE);
        for bad in [
            "",
            "10",
            "0/min",
            "-1/min",
            "10/s",
            "/min",
            "1000001/min",
            "1e3/min",
            "+5/min",
        ] {
            assert_eq!(parse_rate_limit(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn networks_normalise() {
        let n = normalize_networks(&[
            "10.1.2.3/8".into(),
            "192.0.2.7".into(),
            "2001:db8::1".into(),
            "2001:db8:0:0:1::/64".into(),
            "::ffff:198.51.100.4".into(),
            "10.0.0.0/8".into(),
            "::ffff:172.16.0.0/108".into(),
            "0.0.0.0/0".into(),
        ])
        .unwrap();
        assert_eq!(
            n,
            [
                "0.0.0.0/0",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.0.2.7/32",
                "198.51.100.4/32",
                "2001:db8::/64",
                "2001:db8::1/128"
            ]
        );
        for bad in [
            "010.0.0.0/8",
            "10.0.0.0/08",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "::ffff:10.0.0.0/95x",
        ] {
            assert_eq!(parse_network(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
        for bad in [
            "",
            "10.0.0.0/33",
            "300.1.1.1",
            "host.example",
            "10.0.0.0/8/8",
        ] {
            assert_eq!(parse_network(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn allowlists_match_addresses() {
        let list = normalize_networks(&["10.0.0.0/8".into(), "2001:db8::/32".into()]).unwrap();
        let ip = |s: &str| Some(parse_ip(s).unwrap());
        assert!(ip_allowed(&list, ip("10.9.8.7")).unwrap());
        assert!(ip_allowed(&list, ip("::ffff:10.9.8.7")).unwrap());
        assert!(ip_allowed(&list, ip("2001:db8:ffff::1")).unwrap());
        assert!(!ip_allowed(&list, ip("11.0.0.1")).unwrap());
        assert!(!ip_allowed(&list, None).unwrap());
        assert!(ip_allowed(&[], None).unwrap());
        assert_eq!(
            ip_allowed(&["nope".into()], ip("1.2.3.4"))
                .unwrap_err()
                .exit_code(),
            8
        );
    }

    #[test]
    fn refusals_come_in_order() {
        let now = datetime!(2026-01-01 12:00 UTC);
        let perms = vec!["settings:read".to_owned()];
        let user_now = vec!["settings:admin".to_owned()];
        let nets = vec!["10.0.0.0/8".to_owned()];
        let key = Presented {
            revoked_at: None,
            expires_at: None,
            allowed_ips: &nets,
            permissions: &perms,
            owner: Some((true, &user_now)),
        };
        let ip = Some(parse_ip("10.0.0.1").unwrap());
        assert_eq!(refusal(&key, ip, Some("settings:read"), now).unwrap(), None);
        assert_eq!(
            refusal(&key, ip, Some("settings:write"), now).unwrap(),
            Some(Reason::PermissionAbsent)
        );
        assert_eq!(
            refusal(&key, None, None, now).unwrap(),
            Some(Reason::IpNotAllowed)
        );
        let gone = Presented {
            owner: Some((true, &[])),
            ..key.clone()
        };
        assert_eq!(
            refusal(&gone, ip, Some("settings:read"), now).unwrap(),
            Some(Reason::PermissionAbsent)
        );
        let off = Presented {
            owner: Some((false, &user_now)),
            ..key.clone()
        };
        assert_eq!(
            refusal(&off, ip, Some("settings:read"), now).unwrap(),
            Some(Reason::OwnerInactive)
        );
        // The allowlist comes before the owner: someone outside it learns
        // nothing about the owner's state.
        assert_eq!(
            refusal(&off, None, None, now).unwrap(),
            Some(Reason::IpNotAllowed)
        );
        let old = Presented {
            expires_at: Some(now),
            ..off.clone()
        };
        assert_eq!(
            refusal(&old, None, None, now).unwrap(),
            Some(Reason::Expired)
        );
        let dead = Presented {
            revoked_at: Some(now),
            ..old
        };
        assert_eq!(
            refusal(&dead, None, None, now).unwrap(),
            Some(Reason::Revoked)
        );
        let service = Presented { owner: None, ..key };
        assert_eq!(
            refusal(&service, ip, Some("settings:read"), now).unwrap(),
            None
        );
    }

    #[test]
    fn windows_are_minutes() {
        let now = datetime!(2026-01-01 12:00:42.5 UTC);
        assert_eq!(window_start(now).unwrap(), datetime!(2026-01-01 12:00 UTC));
        assert_eq!(retry_after(now).unwrap(), 18);
        assert_eq!(retry_after(datetime!(2026-01-01 12:00 UTC)).unwrap(), 60);
        assert_eq!(
            retry_after(datetime!(2026-01-01 12:00:59.9 UTC)).unwrap(),
            1
        );
    }

    #[test]
    fn names_are_bounded_and_printable() {
        assert!(check_name("partner acme (CI)").is_ok());
        for bad in ["", "   ", "a\nb", "\u{1b}[31m", &"x".repeat(101)] {
            assert_eq!(check_name(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }
}
