//! Small text parsers: durations, instants, `--since`, CIDR allowlists and
//! addresses, rate limits, audit anchors, database URLs, value types and
//! identifiers.

use crate::harness::{arbitrary_text, check, error_ok, message_ok, mutated};
use keyward::domain::apikeys::{normalize_networks, parse_ip, parse_network, parse_rate_limit};
use keyward::domain::audit::head::Anchor;
use keyward::domain::settings::ValueType;
use keyward::error::ErrorKind;
use keyward::store::target::{parse_url, DatabaseTarget, SqliteLocation, SslMode};
use keyward::time as kt;
use proptest::prelude::*;
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};

const INVALID: &[ErrorKind] = &[ErrorKind::Invalid];

#[test]
fn durations_format_then_parse() {
    let max = i64::from(i32::MAX) * 86_400;
    check(
        "time: format_duration -> parse_duration",
        1.0,
        0..=max,
        |secs| {
            let d = Duration::seconds(secs);
            let text = kt::format_duration(d);
            prop_assert_eq!(kt::parse_duration(&text).expect("parses"), d, "{}", text);
            Ok(())
        },
    );
}

#[test]
fn durations_parse_to_the_sum_of_their_parts() {
    let unit = proptest::sample::select(vec![
        ('s', 1i128),
        ('m', 60),
        ('h', 3600),
        ('d', 86_400),
        ('w', 604_800),
    ]);
    let parts = proptest::collection::vec((0u64..5_000_000_000, unit), 1..5);
    check(
        "time: parse_duration of parts",
        1.0,
        (parts, "[ \t]{0,2}"),
        |(parts, pad)| {
            let text = format!(
                "{pad}{}{pad}",
                parts
                    .iter()
                    .map(|(n, (u, _))| format!("{n}{u}"))
                    .collect::<String>()
            );
            let fits = parts.iter().all(|(n, _)| *n <= i32::MAX as u64);
            let total: i128 = parts.iter().map(|(n, (_, s))| i128::from(*n) * s).sum();
            match kt::parse_duration(&text) {
                Ok(d) => prop_assert_eq!(i128::from(d.whole_seconds()), total),
                Err(e) => {
                    prop_assert!(!fits || total > i128::from(i64::MAX), "{} refused", text);
                    error_ok(&e, INVALID, None)?;
                }
            }
            Ok(())
        },
    );
    check(
        "time: parse_duration arbitrary",
        1.0,
        mutated("[0-9]{1,4}[smhdw]([0-9]{1,3}[smhdw]){0,2}"),
        |(_, bad)| {
            match kt::parse_duration(&bad) {
                Ok(d) => prop_assert!(!d.is_negative()),
                Err(e) => error_ok(&e, INVALID, None)?,
            }
            let now = kt::parse_stored("2026-11-24T12:00:00Z").expect("now");
            if let Err(e) = kt::parse_since(&bad, now) {
                error_ok(&e, INVALID, None)?;
            }
            Ok(())
        },
    );
}

#[test]
fn stored_instants_format_then_parse() {
    let lo = OffsetDateTime::parse(
        "0001-01-01T00:00:00Z",
        &time::format_description::well_known::Rfc3339,
    )
    .expect("lo")
    .unix_timestamp_nanos();
    let hi = OffsetDateTime::parse(
        "9999-12-31T23:59:59.999999999Z",
        &time::format_description::well_known::Rfc3339,
    )
    .expect("hi")
    .unix_timestamp_nanos();
    check("time: format_stored -> parse_stored", 1.0, lo..=hi, |n| {
        let t = OffsetDateTime::from_unix_timestamp_nanos(n).expect("in range");
        let text = kt::format_stored(t);
        prop_assert_eq!(text.len(), 27);
        prop_assert_eq!(kt::parse_stored(&text).expect("parses"), kt::truncate(t));
        Ok(())
    });
    check(
        "time: parse_stored mutated",
        1.0,
        mutated(Just("2026-11-24T12:00:00.123456Z".to_owned())),
        |(_, bad)| {
            if let Err(e) = kt::parse_stored(&bad) {
                error_ok(&e, INVALID, None)?;
            }
            Ok(())
        },
    );
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u16; 8]>().prop_map(IpAddr::from),
        any::<[u8; 4]>().prop_map(|b| IpAddr::V6(std::net::Ipv4Addr::from(b).to_ipv6_mapped())),
    ]
}

#[test]
fn networks_parse_normalize_and_are_idempotent() {
    let cidr = (ip(), proptest::option::of(0u8..=128)).prop_map(|(a, l)| match l {
        Some(l) => format!("{a}/{l}"),
        None => a.to_string(),
    });
    check("apikeys: parse_network", 1.0, cidr, |text| {
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => (
                a.parse::<IpAddr>().expect("ip"),
                Some(l.parse::<u8>().expect("len")),
            ),
            None => (text.parse::<IpAddr>().expect("ip"), None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        match parse_network(&text) {
            Ok(net) => {
                prop_assert!(len.is_none_or(|l| l <= max));
                let mapped = matches!(addr, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
                if !(mapped && len.is_some_and(|l| l < 96)) {
                    prop_assert!(
                        net.contains(&addr.to_canonical()),
                        "{} not in {}",
                        addr,
                        net
                    );
                }
                prop_assert_eq!(net, net.trunc());
                let again = parse_network(&net.to_string()).expect("normal form parses");
                prop_assert_eq!(again, net);
                let list = normalize_networks(&[text.clone(), net.to_string()]).expect("list");
                prop_assert_eq!(list.clone(), vec![net.to_string()]);
                prop_assert_eq!(normalize_networks(&list).expect("again"), list);
            }
            Err(e) => {
                prop_assert!(len.is_some_and(|l| l > max), "{} refused", text);
                error_ok(&e, INVALID, None)?;
            }
        }
        Ok(())
    });
    check("apikeys: parse_network/parse_ip mutated", 1.0, mutated("[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}/[0-9]{1,2}|[0-9a-f:]{2,39}/[0-9]{1,3}"), |(_, bad)| {
        if let Err(e) = parse_network(&bad) {
            error_ok(&e, INVALID, None)?;
        }
        if let Err(e) = parse_ip(&bad) {
            error_ok(&e, INVALID, None)?;
        }
        Ok(())
    });
}

#[test]
fn rate_limits_and_anchors() {
    check(
        "apikeys: parse_rate_limit",
        1.0,
        (0u64..3_000_000, mutated(Just("600/min".to_owned()))),
        |(n, (_, bad))| {
            let got = parse_rate_limit(&format!("{n}/min"));
            prop_assert_eq!(
                got.as_ref().ok().copied(),
                (1..=1_000_000).contains(&n).then_some(n as u32)
            );
            if let Err(e) = parse_rate_limit(&bad) {
                error_ok(&e, INVALID, None)?;
            }
            Ok(())
        },
    );
    let anchor = (1i64..i64::MAX, "[0-9a-fA-F]{64}").prop_map(|(id, h)| format!("{id}:{h}"));
    check(
        "audit: Anchor::parse",
        1.0,
        mutated(anchor),
        |(good, bad)| {
            let a = Anchor::parse(&good).expect("valid anchor");
            prop_assert_eq!(a.to_string(), good.to_ascii_lowercase());
            prop_assert_eq!(Anchor::parse(&a.to_string()).expect("again"), a);
            if let Err(e) = Anchor::parse(&bad) {
                error_ok(&e, INVALID, None)?;
            }
            Ok(())
        },
    );
}

const PW_SET: &percent_encoding::AsciiSet = percent_encoding::NON_ALPHANUMERIC;

/// A generated PostgreSQL URL and its parts.
#[derive(Debug, Clone)]
struct PgUrl {
    url: String,
    user: String,
    password: String,
    host: String,
    port: u16,
    db: String,
    ssl: Option<&'static str>,
}

fn pg_url() -> impl Strategy<Value = PgUrl> {
    let ssl = proptest::option::of(proptest::sample::select(vec![
        "disable",
        "prefer",
        "require",
        "verify-full",
    ]));
    (
        ("[a-z_][a-z0-9_]{0,15}", prop_oneof![3 => "[!-~]{0,6}[^\\x00]{1,24}", 1 => crate::config::marker()], "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,6}){0,2}|[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}"),
        (1u16.., "[a-z][a-z0-9_]{0,20}", ssl, any::<bool>()),
    )
        .prop_map(|((user, password, host), (port, db, ssl, long_scheme))| {
            let scheme = if long_scheme { "postgresql" } else { "postgres" };
            let pw = percent_encoding::utf8_percent_encode(&password, PW_SET);
            let query = ssl.map(|s| format!("?sslmode={s}")).unwrap_or_default();
            PgUrl {
                url: format!("{scheme}://{user}:{pw}@{host}:{port}/{db}{query}"),
                user,
                password,
                host,
                port,
                db,
                ssl,
            }
        })
}

/// A password that no user, host or database name can hold (so a message
/// that contains it shows the password): 12 characters or more (a marker of
/// random letters and digits, which looks like a name, among them), or 8
/// with a character a name cannot hold.
fn is_secret(p: &str) -> bool {
    p.len() >= 12
        || (p.len() >= 8
            && p.chars()
                .any(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(c))))
}

#[test]
fn database_urls_parse_to_their_parts() {
    check("store: parse_url postgres", 1.0, pg_url(), |u| {
        let t = parse_url(&u.url).map_err(|e| TestCaseError::fail(format!("{}: {e}", u.url)))?;
        let DatabaseTarget::Postgres(pg) = &t else {
            return Err(TestCaseError::fail("not postgres"));
        };
        let c = &pg.config;
        prop_assert_eq!(c.get_user(), Some(u.user.as_str()));
        prop_assert_eq!(c.get_password(), Some(u.password.as_bytes()));
        prop_assert_eq!(c.get_dbname(), Some(u.db.as_str()));
        prop_assert_eq!(c.get_ports(), &[u.port][..]);
        let host_ok =
            matches!(c.get_hosts(), [tokio_postgres::config::Host::Tcp(h)] if *h == u.host);
        prop_assert!(host_ok, "{:?}", c.get_hosts());
        let want = match u.ssl {
            None | Some("prefer") => SslMode::Prefer,
            Some("disable") => SslMode::Disable,
            Some("require") => SslMode::Require,
            _ => SslMode::VerifyFull,
        };
        prop_assert_eq!(pg.ssl_mode, want);
        let shown = format!("{t} {t:?}");
        if is_secret(&u.password) {
            prop_assert!(!shown.contains(&u.password), "password shown: {}", shown);
        }
        Ok(())
    });
    let sqlite = "[^\\x00?]{1,40}".prop_map(|p| {
        (
            format!(
                "sqlite:///{}",
                percent_encoding::utf8_percent_encode(&p, PW_SET)
            ),
            p,
        )
    });
    check("store: parse_url sqlite", 1.0, sqlite, |(url, path)| {
        match parse_url(&url).expect("sqlite url") {
            DatabaseTarget::Sqlite(SqliteLocation::File {
                path: got,
                read_only,
                ..
            }) => {
                prop_assert_eq!(got, std::path::PathBuf::from(format!("/{path}")));
                prop_assert!(!read_only);
            }
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        }
        Ok(())
    });
}

#[test]
fn mutated_database_urls_are_invalid_without_the_password() {
    let s = crate::harness::mutated_text(pg_url().prop_map(|u| (u.password.clone(), u.url)));
    check("store: parse_url mutated", 1.0, s, |(password, _, url)| {
        if let Err(e) = parse_url(&url) {
            error_ok(
                &e,
                INVALID,
                Some(password.as_str()).filter(|p| is_secret(p)),
            )?;
        }
        Ok(())
    });
    check(
        "store: parse_url arbitrary",
        1.0,
        arbitrary_text(),
        |text| {
            if let Err(e) = parse_url(&text) {
                error_ok(&e, &[ErrorKind::Invalid, ErrorKind::Key], None)?;
            }
            Ok(())
        },
    );
}

#[test]
fn value_types_normalize_idempotently() {
    let ty = proptest::sample::select(vec![
        ValueType::String,
        ValueType::Int,
        ValueType::Float,
        ValueType::Bool,
        ValueType::Json,
    ]);
    let raw = prop_oneof![
        arbitrary_text(),
        any::<i64>().prop_map(|n| format!(" {n} ")),
        any::<f64>().prop_map(|f| f.to_string()),
        "(true|false|yes|no|on|off|1|0|TRUE|Yes)",
        "\\{\"[a-z]{0,5}\": ?(1|\"x\"|\\[1, 2\\]|null)\\}",
    ];
    check(
        "settings: ValueType::normalize",
        1.0,
        (ty, raw),
        |(ty, raw)| {
            match ty.normalize("k", &raw) {
                Ok(v) => {
                    prop_assert_eq!(ty.normalize("k", &v).expect("canonical text"), v.clone());
                    let json = ty.to_json(&v);
                    if ty != ValueType::String && ty != ValueType::Json {
                        prop_assert!(!json.is_string(), "{:?} -> {}", ty, json);
                    }
                }
                Err(e) => error_ok(&e, INVALID, Some(&raw))?,
            }
            Ok(())
        },
    );
    let ident = arbitrary_text();
    check("ident: keys, environments, usernames", 1.0, ident, |s| {
        for r in [
            keyward::ident::setting_key(&s),
            keyward::ident::environment(&s),
            keyward::ident::username(&s),
            keyward::domain::settings::vars::validate_var_name(&s),
            ValueType::parse(&s).map(drop),
            SslMode::parse(&s).map(drop),
        ] {
            if let Err(e) = r {
                error_ok(&e, INVALID, None)?;
                message_ok(e.message(), None)?;
            }
        }
        Ok(())
    });
}

#[test]
fn key_names_permissions_and_database_parts() {
    use keyward::domain::apikeys::{check_name, grants};
    use keyward::store::target::{pg_from_parts, PgParts};
    let perm = prop_oneof![
        "[a-z][a-z0-9_]{0,10}:(read|write|delete|admin)",
        arbitrary_text()
    ];
    check(
        "apikeys: check_name, grants; pg_from_parts",
        1.0,
        (arbitrary_text(), perm, arbitrary_text()),
        |(name, perm, part)| {
            if let Err(e) = check_name(&name) {
                error_ok(&e, INVALID, None)?;
            }
            match grants(std::slice::from_ref(&perm), &perm) {
                Ok(g) => prop_assert!(g, "{} does not grant itself", perm),
                Err(e) => error_ok(&e, INVALID, None)?,
            }
            let parts = PgParts {
                port: Some(part.clone()),
                ssl_mode: Some(part.clone()),
                host: Some(part.clone()),
                password: Some(part.clone()),
                ..PgParts::default()
            };
            if let Err(e) = pg_from_parts(&parts) {
                error_ok(&e, INVALID, None)?;
            }
            Ok(())
        },
    );
}
