//! `apikeys`: the operations. `manage` creates, lists, shows, revokes and
//! rotates keys; `verify` checks a presented key (offline first, then in one
//! short unaudited write that records its use or failure and counts its rate
//! window); `scan` finds keys and refresh tokens in text.

pub mod manage;
pub mod scan;
pub mod verify;

use crate::crypto::token;
use crate::domain::apikeys::repo::{self, KeyRow};
use crate::error::{Error, Result};
use crate::ident::shown;
use crate::ids::ApiKeyId;
use crate::store::Conn;
use time::OffsetDateTime;

/// A key named on the command line: by id or by prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// `list`'s id.
    Id(ApiKeyId),
    /// `kw_` and 8 characters.
    Prefix(String),
}

impl std::fmt::Display for KeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyRef::Id(id) => write!(f, "API key {id}"),
            KeyRef::Prefix(p) => write!(f, "API key {p}"),
        }
    }
}

/// Parses `ID|PREFIX` (exit 2 otherwise). A whole key is refused without
/// being echoed: it names a key by its secret, which does not belong in argv.
pub fn parse_ref(s: &str) -> Result<KeyRef> {
    let t = s.trim();
    if token::is_api_key_prefix(t) {
        return Ok(KeyRef::Prefix(t.to_owned()));
    }
    match t.parse::<i64>() {
        Ok(n) if n > 0 && t.bytes().all(|b| b.is_ascii_digit()) => {
            return Ok(KeyRef::Id(ApiKeyId(n)))
        }
        _ => {}
    }
    // Anything that might hold a key (longer than a prefix, or with `kw` in
    // it in any case: `"kw_…"`, `Bearer kw_…`, `KW_…`) is refused without
    // being echoed: a key belongs on stdin, not in argv or in a log.
    let lower = t.to_ascii_lowercase();
    if t.len() > token::KEY_PREFIX_LEN || lower.contains("kw") {
        return Err(Error::invalid(format!(
            "that is not an API key id or prefix (not shown, in case it holds a key): name a key by its id or its prefix, the first {} characters (`keyward apikeys list` shows both), never by the key itself; if a key was typed into a shell, treat it as leaked",
            token::KEY_PREFIX_LEN
        )));
    }
    Err(Error::invalid(format!(
        "{} is not an API key id or prefix: give the id or the kw_ prefix `keyward apikeys list` shows",
        shown(t)
    )))
}

/// The key `r` names, as of `now` (exit 3 when there is none).
pub fn find(conn: &mut dyn Conn, r: &KeyRef, now: OffsetDateTime) -> Result<KeyRow> {
    let row = match r {
        KeyRef::Id(id) => repo::by_id(conn, *id, now)?,
        KeyRef::Prefix(p) => repo::by_prefix(conn, p, now)?,
    };
    row.ok_or_else(|| Error::not_found(format!("no {r}: `keyward apikeys list --all` lists them")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_parse() {
        assert_eq!(parse_ref("12").unwrap(), KeyRef::Id(ApiKeyId(12)));
        assert_eq!(
            parse_ref("kw_AbC123xy").unwrap(),
            KeyRef::Prefix("kw_AbC123xy".into())
        );
        let key = token::new_api_key().unwrap();
        let e = parse_ref(&key.key).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(!e.message().contains(&key.key[12..]));
        for bad in ["0", "-1", "+3", "kw_short", "abc", ""] {
            assert_eq!(parse_ref(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
        for wrapped in [
            format!("\"{}\"", &*key.key),
            format!("Bearer {}", &*key.key),
            format!("KW_{}", &key.key[3..]),
        ] {
            let e = parse_ref(&wrapped).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(!e.message().contains(&key.key[12..20]), "{}", e.message());
        }
    }
}
