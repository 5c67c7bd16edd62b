//! Identifiers: usernames, role names, setting keys, environment names and
//! `resource:action` permissions. Each has one rule, here. Every operation
//! checks the identifiers it is given with [`check`] first, before it opens
//! the database, looks anything up, writes or audits: a malformed name never
//! reaches a query, a row or the audit log. A refused identifier is quoted in
//! messages only in the bounded, escaped form of [`shown`].

use crate::error::{Error, Result};

/// An identifier to check, by kind.
#[derive(Debug, Clone, Copy)]
pub enum Ident<'a> {
    /// `^[a-z0-9][a-z0-9_.-]{2,31}$`.
    Username(&'a str),
    /// 2 to 64 of `a-z 0-9 _ . -`, starting with a letter.
    Role(&'a str),
    /// 1 to 255 of letters, digits, `_ . -`, starting with a letter or digit.
    SettingKey(&'a str),
    /// `^[a-z][a-z0-9_-]{0,31}$`.
    Environment(&'a str),
    /// `resource:action`.
    Permission(&'a str),
    /// A category (of a setting, later of a flag): at most [`CATEGORY_CHARS`] characters.
    Category(&'a str),
    /// A free-text description (of a setting, a role, later a flag or an
    /// API key): at most [`DESCRIPTION_CHARS`] characters.
    Description(&'a str),
}

/// Checks every identifier (exit 2 naming the first bad one).
pub fn check(idents: &[Ident<'_>]) -> Result<()> {
    idents.iter().try_for_each(|i| match *i {
        Ident::Username(s) => username(s),
        Ident::Role(s) => role(s),
        Ident::SettingKey(s) => setting_key(s),
        Ident::Environment(s) => environment(s),
        Ident::Permission(s) => permission(s).map(drop),
        Ident::Category(s) => bounded("category", s, CATEGORY_CHARS),
        Ident::Description(s) => bounded("description", s, DESCRIPTION_CHARS),
    })
}

/// The most characters a category may have.
pub const CATEGORY_CHARS: usize = 64;

/// The most characters a description may have.
pub const DESCRIPTION_CHARS: usize = 1000;

/// Refuses free text longer than `max` characters, by its length only (a
/// description may say anything; it is never quoted back).
fn bounded(what: &str, text: &str, max: usize) -> Result<()> {
    // Counting stops one past the limit: a huge text is not walked whole.
    if text.chars().take(max + 1).count() <= max {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "the {what} is longer than {max} characters ({} bytes): shorten it; nothing changed",
        text.len()
    )))
}

/// At most this many characters of a value are quoted by [`shown`].
pub const SHOWN_CHARS: usize = 40;

/// A value as messages (and audit targets) may quote it: in double quotes,
/// control and bidi characters escaped as tables show them (`\e`, `\u{202e}`), cut
/// after [`SHOWN_CHARS`] characters with its length in bytes.
pub fn shown(value: &str) -> String {
    let mut out = String::with_capacity(SHOWN_CHARS + 16);
    out.push('"');
    let mut chars = value.chars();
    for c in chars.by_ref().take(SHOWN_CHARS) {
        match crate::text::escape(c, false) {
            Some(e) => out.push_str(&e),
            None => out.push(c),
        }
    }
    out.push('"');
    if chars.next().is_some() {
        out.push_str(&format!("… ({} bytes)", value.len()));
    }
    out
}

/// Whether `name` is a well-formed username.
pub fn is_username(name: &str) -> bool {
    (3..=32).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-')
        })
}

/// Checks a username against `^[a-z0-9][a-z0-9_.-]{2,31}$`.
pub fn username(name: &str) -> Result<()> {
    if is_username(name) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid username {}: use 3 to 32 lowercase letters, digits, `_`, `.` or `-`, starting with a letter or digit",
            shown(name)
        )))
    }
}

/// Checks a role name: lowercase letters, digits, `_`, `.`, `-`; 2 to 64, starting with a letter.
pub fn role(name: &str) -> Result<()> {
    let ok = (2..=64).contains(&name.len())
        && name.bytes().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid role name {}: use 2 to 64 lowercase letters, digits, `_`, `.` or `-`, starting with a letter",
            shown(name)
        )))
    }
}

/// Checks a setting key: letters, digits, `_`, `.`, `-`; starting with a letter or digit; at most 255.
pub fn setting_key(key: &str) -> Result<()> {
    let ok = (1..=255).contains(&key.len())
        && key
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid setting key {}: use letters, digits, `_`, `.` or `-`, starting with a letter or digit (at most 255)",
            shown(key)
        )))
    }
}

/// Checks an environment name against `^[a-z][a-z0-9_-]{0,31}$`.
pub fn environment(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid environment name {}: use lowercase letters, digits, `_` or `-`, starting with a letter (at most 32)",
            shown(name)
        )))
    }
}

/// The actions a permission may name.
pub const ACTIONS: [&str; 4] = ["read", "write", "delete", "admin"];

/// Parses `resource:action`, checking both parts.
pub fn permission(s: &str) -> Result<(String, String)> {
    let bad = |why: &str| {
        Error::invalid(format!(
            "invalid permission {}: {why}; expected RESOURCE:ACTION, e.g. settings:read (actions: read, write, delete, admin)",
            shown(s)
        ))
    };
    let (resource, action) = s.split_once(':').ok_or_else(|| bad("no `:`"))?;
    let resource_ok = (1..=64).contains(&resource.len())
        && resource
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
        && resource
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    if !resource_ok {
        return Err(bad(
            "the resource must be lowercase letters, digits or `_`, starting with a letter",
        ));
    }
    if !ACTIONS.contains(&action) {
        return Err(bad(&format!("unknown action {}", shown(action))));
    }
    Ok((resource.to_owned(), action.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_is_bounded_and_escaped() {
        assert_eq!(shown("alice"), "\"alice\"");
        assert_eq!(shown("a\u{1b}[2J\u{202e}"), "\"a\\e[2J\\u{202e}\"");
        let long = "x".repeat(100_000);
        let s = shown(&long);
        assert!(s.len() < 80, "{s}");
        assert!(s.ends_with("… (100000 bytes)"), "{s}");
    }

    #[test]
    fn check_names_the_first_bad_identifier_briefly() {
        check(&[
            Ident::Username("alice"),
            Ident::Role("ops"),
            Ident::SettingKey("smtp.host"),
            Ident::Environment("production"),
            Ident::Permission("settings:read"),
            Ident::Category(&"é".repeat(CATEGORY_CHARS)),
            Ident::Description(&"d".repeat(DESCRIPTION_CHARS)),
        ])
        .unwrap();
        assert!(check(&[Ident::Category(&"c".repeat(CATEGORY_CHARS + 1))]).is_err());
        assert!(check(&[Ident::Description(&"d".repeat(DESCRIPTION_CHARS + 1))]).is_err());
        let huge = "a".repeat(100_000);
        for bad in [
            Ident::Username(&huge),
            Ident::Role(&huge),
            Ident::SettingKey(&huge),
            Ident::Environment(&huge),
            Ident::Permission(&huge),
            Ident::Category(&huge),
            Ident::Description(&huge),
        ] {
            let err = check(&[bad]).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().len() < 400, "{bad:?}: {err}");
        }
    }
}
