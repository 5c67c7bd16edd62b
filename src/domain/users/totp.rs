//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s, ±1 step): the code rules, and the
//! audited enrolment, check and removal. The secret is sealed under the key
//! ring with `totp:<username>` as associated data; a code's time step is
//! accepted once; bad codes count towards the same lockout as wrong passwords.

use super::login::{count_failure, Failure, FailureKind, LockReason, Lockout};
use super::{locked_at, repo, user_id};
use crate::crypto::envelope;
use crate::crypto::keyring::Keyring;
use crate::domain::audit::{self, Event, Stamp};
use crate::domain::keys;
use crate::error::{Error, Result};
use crate::store::Conn;
use serde::Serialize;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// Seconds per time step.
const PERIOD: u64 = 30;

fn aad(username: &str) -> String {
    crate::crypto::purpose::Aad::Totp { username }.to_string()
}

fn totp_for(secret: Vec<u8>) -> totp_rs::TOTP {
    totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, PERIOD, secret)
}

/// The `otpauth://` URI for a secret.
pub fn uri(username: &str, secret: &[u8]) -> String {
    let encoded = match totp_rs::Secret::Raw(secret.to_vec()).to_encoded() {
        totp_rs::Secret::Encoded(s) => s,
        totp_rs::Secret::Raw(_) => String::new(),
    };
    format!("otpauth://totp/keyward:{username}?secret={encoded}&issuer=keyward&algorithm=SHA1&digits=6&period=30")
}

/// Checks a code's form: 6 digits, surrounding blanks ignored (exit 2 otherwise).
pub fn parse_code(code: &str) -> Result<&str> {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(Error::invalid("a TOTP code is 6 digits"))
    }
}

/// What a code is worth at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeVerdict {
    /// It matches this time step, later than the last one used.
    Valid {
        /// The step it matches.
        step: i64,
    },
    /// It matches no step within ±1 of now.
    Invalid,
    /// It matches a step at or before the last one used (a replay).
    AlreadyUsed,
}

/// Matches `code` against the steps around `now` (±1), refusing any step at or before `last_step`.
pub fn check_code(
    secret: &[u8],
    code: &str,
    now: OffsetDateTime,
    last_step: Option<i64>,
) -> CodeVerdict {
    let totp = totp_for(secret.to_vec());
    let current = u64::try_from(now.unix_timestamp()).unwrap_or(0) / PERIOD;
    let mut matched = None;
    for step in current.saturating_sub(1)..=current + 1 {
        let candidate = totp.generate(step * PERIOD);
        if bool::from(candidate.as_bytes().ct_eq(code.as_bytes())) {
            matched = Some(i64::try_from(step).unwrap_or(i64::MAX));
        }
    }
    match matched {
        None => CodeVerdict::Invalid,
        Some(step) if last_step.is_some_and(|l| step <= l) => CodeVerdict::AlreadyUsed,
        Some(step) => CodeVerdict::Valid { step },
    }
}

/// Starts a TOTP enrolment: a new 20-byte secret, stored sealed, active after
/// a first good code. Returns the `otpauth://` URI (it holds the secret).
pub fn enroll(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    ring: &Keyring,
    username: &str,
) -> Result<String> {
    let user = super::get(conn, username, stamp.at)?;
    if user.totp_enabled {
        return Err(Error::conflict(format!(
            "user '{username}' already has TOTP enabled: run `keyward users totp disable {username}` first"
        )));
    }
    keys::ensure(conn, ring, stamp)?;
    let secret = zeroize::Zeroizing::new(crate::crypto::random::bytes::<20>()?);
    let sealed = envelope::seal(ring.active(), &aad(username), secret.as_ref())?;
    repo::set_totp_secret(conn, user.id, &sealed, stamp.at)?;
    audit::record(
        conn,
        stamp,
        Event::new("user.totp_enroll", "user", username),
    )?;
    Ok(uri(username, secret.as_ref()))
}

/// Why a TOTP check came out as it did (`reason` in its JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TotpReason {
    /// Accepted.
    Ok,
    /// Matches no step around now.
    InvalidCode,
    /// A replay of a step already used.
    CodeAlreadyUsed,
    /// The account is locked (see `lock_reason`).
    Locked,
    /// The account is disabled.
    Disabled,
}

/// The result of `totp verify`.
#[derive(Debug, Clone, Serialize)]
pub struct TotpCheck {
    /// Who.
    pub username: String,
    /// Whether the code is accepted.
    pub valid: bool,
    /// `ok`, `invalid_code`, `code_already_used`, `locked`, `disabled`.
    pub reason: TotpReason,
    /// Whether this code activated the enrolment.
    pub activated: bool,
    /// Locked until, when locked.
    #[serde(with = "crate::output::rfc3339::option")]
    pub locked_until: Option<OffsetDateTime>,
    /// Who or what locked it, when locked (`operator`, `failed_attempts`).
    pub lock_reason: Option<LockReason>,
}

#[derive(Serialize)]
struct Denied {
    reason: TotpReason,
}

/// Checks a code at `stamp.at` (write transaction): ±1 step, never a step at
/// or before the last one used. Bad codes count towards the lockout. A
/// disabled or locked account is refused whatever the code (audited as
/// `user.totp_denied`); it never activates an enrolment.
pub fn verify(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    ring: &Keyring,
    (username, code): (&str, &str),
    policy: Lockout,
) -> Result<TotpCheck> {
    super::validate_username(username)?;
    let code = parse_code(code)?;
    let row = repo::totp_by_name(conn, username)?
        .ok_or_else(|| Error::not_found(format!("user '{username}' not found")))?;
    let Some(sealed) = &row.secret else {
        return Err(Error::not_found(format!(
            "user '{username}' has no TOTP enrolment: run `keyward users totp enroll {username}`"
        )));
    };
    let mut check = TotpCheck {
        username: username.to_owned(),
        valid: false,
        reason: TotpReason::InvalidCode,
        activated: false,
        locked_until: locked_at(row.locked_until, stamp.at),
        lock_reason: None,
    };
    let denied = if !row.is_active {
        Some(TotpReason::Disabled)
    } else if check.locked_until.is_some() {
        check.lock_reason = row.lock_reason;
        Some(TotpReason::Locked)
    } else {
        None
    };
    if let Some(reason) = denied {
        check.reason = reason;
        audit::record(
            conn,
            stamp,
            Event::new("user.totp_denied", "user", username).details_of(&Denied { reason }),
        )?;
        return Ok(check);
    }
    let secret = envelope::open(ring, &aad(username), sealed)?;
    match check_code(&secret, code, stamp.at, row.last_step) {
        CodeVerdict::Valid { step } => {
            repo::use_totp_step(conn, row.id, step)?;
            check.valid = true;
            check.reason = TotpReason::Ok;
            if !row.enabled {
                check.activated = true;
                audit::record(
                    conn,
                    stamp,
                    Event::new("user.totp_enable", "user", username),
                )?;
            }
        }
        verdict => {
            check.reason = if verdict == CodeVerdict::AlreadyUsed {
                TotpReason::CodeAlreadyUsed
            } else {
                TotpReason::InvalidCode
            };
            let failure = Failure {
                user: row.id,
                username,
                failures: row.failed_login_attempts,
                locked_until: row.locked_until,
                kind: FailureKind::TotpCode,
            };
            if let Some(until) = count_failure(conn, stamp, &failure, policy)?.lock_until {
                check.reason = TotpReason::Locked;
                check.locked_until = Some(until);
                check.lock_reason = Some(LockReason::FailedAttempts);
            }
        }
    }
    Ok(check)
}

/// Removes TOTP from an account.
pub fn disable(conn: &mut dyn Conn, stamp: Stamp<'_>, username: &str) -> Result<()> {
    let id = user_id(conn, username)?;
    repo::clear_totp(conn, id, stamp.at)?;
    audit::record(
        conn,
        stamp,
        Event::new("user.totp_disable", "user", username),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_matches_rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1, secret "12345678901234567890", truncated to 6 digits.
        let t = totp_for(b"12345678901234567890".to_vec());
        assert_eq!(t.generate(59), "287082");
        assert_eq!(t.generate(1_111_111_109), "081804");
        assert_eq!(t.generate(2_000_000_000), "279037");
    }

    #[test]
    fn a_step_is_accepted_once() {
        let secret = b"12345678901234567890";
        let now = OffsetDateTime::from_unix_timestamp(59).unwrap();
        let step = 59 / 30;
        assert_eq!(
            check_code(secret, "287082", now, None),
            CodeVerdict::Valid { step }
        );
        assert_eq!(
            check_code(secret, "287082", now, Some(step)),
            CodeVerdict::AlreadyUsed
        );
        assert_eq!(
            check_code(secret, "000000", now, None),
            CodeVerdict::Invalid
        );
        assert!(parse_code(" 123456 ").is_ok());
        assert_eq!(parse_code("12ab").unwrap_err().exit_code(), 2);
    }
}
