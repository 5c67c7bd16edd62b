//! API keys and refresh tokens (shape and checksum, checked against an
//! independent CRC-32 and base62), the scanner that finds them in text, and
//! the references `apikeys show|revoke|rotate` and `sessions show|revoke` take.

use crate::harness::{arbitrary_text, check, error_ok, mutated};
use keyward::crypto::token::{self, Flaw};
use keyward::domain::apikeys::scan;
use keyward::error::ErrorKind;
use keyward::ops::apikeys::{parse_ref, KeyRef};
use keyward::ops::sessions::parse_id;
use proptest::prelude::*;

const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// SPEC §3, written again: CRC-32 (IEEE) of the text, base62, left-padded to 6.
fn spec_checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes());
    let mut out = Vec::new();
    while n > 0 {
        out.push(B62[(n % 62) as usize]);
        n /= 62;
    }
    while out.len() < 6 {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

fn b62(n: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(B62), n)
        .prop_map(|v| String::from_utf8(v).expect("ascii"))
}

fn api_key() -> impl Strategy<Value = String> {
    (b62(8), b62(32)).prop_map(|(id, secret)| {
        let body = format!("kw_{id}_{secret}");
        let sum = spec_checksum(&body);
        format!("{body}{sum}")
    })
}

fn refresh_token() -> impl Strategy<Value = String> {
    b62(32).prop_map(|r| {
        let body = format!("kwr_{r}");
        let sum = spec_checksum(&body);
        format!("{body}{sum}")
    })
}

fn is_b62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The SPEC's verdict on a presented API key.
fn spec_api_key(k: &str) -> Result<(), Flaw> {
    let b = k.as_bytes();
    let shaped = k.is_ascii()
        && b.len() == 50
        && k.starts_with("kw_")
        && b[11] == b'_'
        && is_b62(&k[3..11])
        && is_b62(&k[12..]);
    if !shaped {
        return Err(Flaw::Malformed);
    }
    if spec_checksum(&k[..44]) == k[44..] {
        Ok(())
    } else {
        Err(Flaw::BadChecksum)
    }
}

/// The SPEC's verdict on a presented refresh token.
fn spec_refresh(t: &str) -> Result<(), Flaw> {
    if t.len() != 42 || !t.starts_with("kwr_") || !is_b62(&t[4..]) {
        return Err(Flaw::Malformed);
    }
    if spec_checksum(&t[..36]) == t[36..] {
        Ok(())
    } else {
        Err(Flaw::BadChecksum)
    }
}

#[test]
fn made_tokens_check_and_checksums_follow_the_spec() {
    check(
        "token: make -> check",
        1.0,
        (any::<u32>(), "[ -~]{0,64}"),
        |(_, text)| {
            prop_assert_eq!(token::checksum(&text), spec_checksum(&text));
            let k = token::new_api_key().expect("new key");
            prop_assert_eq!(token::check_api_key(&k.key), Ok(()));
            prop_assert_eq!(spec_api_key(&k.key), Ok(()));
            prop_assert_eq!(token::api_key_prefix(&k.key), Some(k.prefix.as_str()));
            prop_assert!(token::is_api_key_prefix(&k.prefix));
            let family = &text
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(20)
                .collect::<String>();
            let r = token::new_refresh(family).expect("new refresh");
            let head = format!("kwr_{family}");
            prop_assert!(r.starts_with(&head));
            prop_assert_eq!(token::check_refresh(&r), Ok(()));
            prop_assert_eq!(spec_refresh(&r), Ok(()));
            Ok(())
        },
    );
}

#[test]
fn presented_api_keys_get_the_spec_verdict() {
    check(
        "token: mutated API key",
        1.0,
        mutated(api_key()),
        |(good, bad)| {
            prop_assert_eq!(spec_api_key(&good), Ok(()));
            let got = token::check_api_key(&bad);
            prop_assert_eq!(got, spec_api_key(&bad), "{:?}", bad);
            Ok(())
        },
    );
    check("token: arbitrary API key", 1.0, arbitrary_text(), |text| {
        prop_assert_eq!(token::check_api_key(&text), spec_api_key(&text));
        Ok(())
    });
}

#[test]
fn presented_refresh_tokens_get_the_spec_verdict() {
    check(
        "token: mutated refresh token",
        1.0,
        mutated(refresh_token()),
        |(good, bad)| {
            prop_assert_eq!(spec_refresh(&good), Ok(()));
            prop_assert_eq!(token::check_refresh(&bad), spec_refresh(&bad), "{:?}", bad);
            Ok(())
        },
    );
    check(
        "token: arbitrary refresh token",
        1.0,
        arbitrary_text(),
        |text| {
            prop_assert_eq!(token::check_refresh(&text), spec_refresh(&text));
            Ok(())
        },
    );
}

/// Text between tokens: no base62 character, so no token runs into it.
fn gap() -> impl Strategy<Value = String> {
    "[ \\n\\t,;:=\"'()<>é\\-/+.\u{0}\u{2028}]{1,12}"
}

#[test]
fn the_scanner_finds_exactly_the_tokens_in_a_text() {
    let token = prop_oneof![api_key(), refresh_token()];
    let parts = proptest::collection::vec((gap(), token), 0..6);
    check("scan: find_all", 1.0, (parts, gap()), |(parts, tail)| {
        let mut text = String::new();
        let mut want = Vec::new();
        for (g, t) in &parts {
            text.push_str(g);
            want.push((text.len(), t.clone()));
            text.push_str(t);
        }
        text.push_str(&tail);
        let found: Vec<(usize, String)> = scan::find_all(text.as_bytes())
            .iter()
            .map(|m| (m.at, text[m.at..m.at + m.kind.token_len()].to_owned()))
            .collect();
        prop_assert_eq!(found, want);
        Ok(())
    });
    check(
        "scan: arbitrary bytes",
        1.0,
        proptest::collection::vec(any::<u8>(), 0..512),
        |bytes| {
            for m in scan::find_all(&bytes) {
                let t = &bytes[m.at..m.at + m.kind.token_len()];
                prop_assert!(t.starts_with(b"kw"));
            }
            Ok(())
        },
    );
}

#[test]
fn key_references_parse_or_are_refused_without_echoing_a_key() {
    check(
        "apikeys: parse_ref of a mutated key",
        1.0,
        mutated(api_key()),
        |(good, bad)| {
            match parse_ref(&bad) {
                Ok(KeyRef::Prefix(p)) => {
                    prop_assert!(token::is_api_key_prefix(&p) && bad.trim() == p)
                }
                Ok(KeyRef::Id(id)) => prop_assert_eq!(bad.trim().parse::<i64>().ok(), Some(id.0)),
                Err(e) => {
                    error_ok(&e, &[ErrorKind::Invalid], None)?;
                    // The prefix `kw_<8>` is public; no 6 characters of the secret part may show.
                    let secret = &good[12..];
                    for i in 0..secret.len() - 6 {
                        let w = &secret[i..i + 6];
                        prop_assert!(
                            !e.message().contains(w),
                            "shows {:?} of the key: {}",
                            w,
                            e.message()
                        );
                    }
                }
            }
            Ok(())
        },
    );
    let reference = prop_oneof![
        (1i64..i64::MAX).prop_map(|n| n.to_string()),
        b62(8).prop_map(|p| format!("kw_{p}")),
        arbitrary_text(),
    ];
    check("apikeys: parse_ref", 1.0, reference, |text| {
        let t = text.trim();
        let want_id = t
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0 && t.bytes().all(|b| b.is_ascii_digit()));
        match parse_ref(&text) {
            Ok(KeyRef::Prefix(p)) => prop_assert!(token::is_api_key_prefix(&p) && t == p),
            Ok(KeyRef::Id(id)) => prop_assert_eq!(Some(id.0), want_id),
            Err(e) => {
                prop_assert!(want_id.is_none() && !token::is_api_key_prefix(t));
                let secretish = t.len() > 11 || t.to_ascii_lowercase().contains("kw");
                error_ok(&e, &[ErrorKind::Invalid], secretish.then_some(t))?;
            }
        }
        Ok(())
    });
}

#[test]
fn session_ids_parse_or_are_invalid() {
    let id = prop_oneof![any::<i64>().prop_map(|n| n.to_string()), arbitrary_text()];
    check("sessions: parse_id", 1.0, id, |text| {
        let want = text.trim().parse::<i64>().ok().filter(|n| *n > 0);
        match parse_id(&text) {
            Ok(id) => prop_assert_eq!(Some(id.0), want),
            Err(e) => {
                prop_assert!(want.is_none());
                error_ok(&e, &[ErrorKind::Invalid], None)?;
            }
        }
        Ok(())
    });
}
