//! Feature flags: a global definition (name, description, bucketing group)
//! and a state per environment (on or off, rollout percentage, targeted users
//! and roles). The evaluation rule, with Unleash's bucketing, lives here once
//! ([`bucket`], [`decide`]); `keyward flags eval` and the Unleash export both
//! follow it.

pub mod change;
pub mod repo;

use crate::error::{Error, Result};
use serde::Serialize;

/// The longest flag name (`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`).
pub const MAX_NAME: usize = 100;

/// Checks a flag name (or a bucketing group) against
/// `^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`: case-sensitive, as Unleash's names are.
pub fn check_name(name: &str, what: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && name.len() <= MAX_NAME {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "invalid {what} {}: use letters, digits, `_`, `.` or `-`, starting with a letter or digit (at most {MAX_NAME})",
        crate::ident::shown(name)
    )))
}

/// Checks a rollout percentage: 0 to 100.
pub fn check_percentage(p: i64) -> Result<u8> {
    u8::try_from(p)
        .ok()
        .filter(|p| *p <= 100)
        .ok_or_else(|| Error::invalid(format!("--percentage {p} must be from 0 to 100")))
}

/// The longest user id `flags eval` accepts, in bytes.
pub const MAX_USER_ID: usize = 255;

/// Checks a user id given to `flags eval`. An application's user ids need
/// not be keyward usernames (`123`, an email address): any text is accepted
/// except an empty one, one over [`MAX_USER_ID`] bytes, or one holding a
/// control character, or one that starts or ends with a space (lines read
/// with `--users-stdin` are trimmed before they are checked).
pub fn check_user_id(user: &str) -> Result<()> {
    let why = if user.is_empty() {
        "it is empty".to_owned()
    } else if user.len() > MAX_USER_ID {
        format!("it is longer than {MAX_USER_ID} bytes")
    } else if user.chars().any(char::is_control) {
        "it holds a control character".to_owned()
    } else if user.trim() != user {
        "it starts or ends with a space".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::invalid(format!(
        "invalid user id {}: {why}; give the id the application passes to its flag checks",
        crate::ident::shown(user)
    )))
}

/// MurmurHash3 x86_32 of `bytes` with seed 0.
pub fn murmur3_32(bytes: &[u8]) -> u32 {
    // Reading from a byte slice cannot fail.
    murmur3::murmur3_32(&mut std::io::Cursor::new(bytes), 0).unwrap_or(0)
}

/// A user's bucket for a group: `murmur3_x86_32(utf8("<group>:<user>"), 0) % 100 + 1`
/// (Unleash's `normalizedValue`), from 1 to 100.
pub fn bucket(group: &str, user: &str) -> u8 {
    let mut key = String::with_capacity(group.len() + 1 + user.len());
    key.push_str(group);
    key.push(':');
    key.push_str(user);
    // The remainder is below 100: it fits.
    u8::try_from(murmur3_32(key.as_bytes()) % 100).unwrap_or(0) + 1
}

/// A flag's state in one environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct State {
    /// Whether the flag is on there.
    pub enabled: bool,
    /// The rollout percentage, 0 to 100.
    pub percentage: u8,
    /// Usernames the flag is on for, whatever the percentage (sorted).
    pub target_users: Vec<String>,
    /// Role names the flag is on for (sorted).
    pub target_roles: Vec<String>,
}

/// Why a flag is on or off for a user (`reason` in eval's JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The flag is off in the environment (or never configured there).
    Disabled,
    /// The user is targeted.
    TargetedUser,
    /// One of the user's roles is targeted.
    TargetedRole,
    /// The user's bucket is within the percentage.
    Rollout,
    /// The user's bucket is above the percentage (or it is 0).
    NotInRollout,
}

/// A flag's decision for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// On or off.
    pub enabled: bool,
    /// Why.
    pub reason: Reason,
    /// The user's bucket for the flag's group (always computed, for support).
    pub bucket: u8,
}

/// Decides a flag for a user with `roles`, in this order: off → `disabled`;
/// user targeted → `targeted_user`; a role targeted → `targeted_role`; else
/// `rollout` when `percentage > 0 && bucket <= percentage`, `not_in_rollout` otherwise.
pub fn decide(state: &State, group: &str, user: &str, roles: &[String]) -> Decision {
    let bucket = bucket(group, user);
    let (enabled, reason) = if !state.enabled {
        (false, Reason::Disabled)
    } else if state.target_users.iter().any(|u| u == user) {
        (true, Reason::TargetedUser)
    } else if roles.iter().any(|r| state.target_roles.contains(r)) {
        (true, Reason::TargetedRole)
    } else if state.percentage > 0 && bucket <= state.percentage {
        (true, Reason::Rollout)
    } else {
        (false, Reason::NotInRollout)
    };
    Decision {
        enabled,
        reason,
        bucket,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_published_vectors() {
        // SMHasher / Wikipedia vectors for MurmurHash3_x86_32, seed 0.
        assert_eq!(murmur3_32(b""), 0);
        assert_eq!(murmur3_32(b"hello"), 0x248b_fa47);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog"),
            0x2e4f_f723
        );
    }

    #[test]
    fn buckets_match_unleash_examples() {
        // Unleash client specification (normalizedValue, seed 0).
        assert_eq!(bucket("gr1", "123"), 73);
        assert_eq!(bucket("groupX", "999"), 25);
    }

    #[test]
    fn decision_order() {
        let roles = vec!["ops".to_owned()];
        let mut s = State::default();
        assert_eq!(decide(&s, "g", "u", &roles).reason, Reason::Disabled);
        s.enabled = true;
        assert_eq!(decide(&s, "g", "u", &roles).reason, Reason::NotInRollout);
        s.percentage = 100;
        assert_eq!(decide(&s, "g", "u", &roles).reason, Reason::Rollout);
        s.target_roles = vec!["ops".into()];
        assert_eq!(decide(&s, "g", "u", &roles).reason, Reason::TargetedRole);
        s.target_users = vec!["u".into()];
        let d = decide(&s, "g", "u", &roles);
        assert_eq!((d.enabled, d.reason), (true, Reason::TargetedUser));
        // Inclusive at the boundary: bucket 73 is in a 73 % rollout, not in 72 %.
        let s = State {
            enabled: true,
            percentage: 73,
            ..State::default()
        };
        assert_eq!(decide(&s, "gr1", "123", &[]).reason, Reason::Rollout);
        let s = State {
            percentage: 72,
            ..s
        };
        assert_eq!(decide(&s, "gr1", "123", &[]).reason, Reason::NotInRollout);
    }

    #[test]
    fn user_ids_are_any_text_but_bounded() {
        for ok in [
            "ann",
            "123",
            "a@example.com",
            "Ünïcode user",
            &"x".repeat(255),
        ] {
            assert!(check_user_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a\tb", "a\u{1b}[2J", "a\u{85}", &"x".repeat(256)] {
            assert_eq!(check_user_id(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn names_are_unleash_shaped() {
        for ok in ["a", "Checkout.V2", "new-ui_2", &"x".repeat(100)] {
            assert!(check_name(ok, "flag name").is_ok(), "{ok}");
        }
        for bad in ["", "-a", ".a", "a b", "é", &"x".repeat(101)] {
            assert_eq!(
                check_name(bad, "flag name").unwrap_err().exit_code(),
                2,
                "{bad}"
            );
        }
        assert_eq!(check_percentage(100).unwrap(), 100);
        assert!(check_percentage(101).is_err());
        assert!(check_percentage(-1).is_err());
    }
}
