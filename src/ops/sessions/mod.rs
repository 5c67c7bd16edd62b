//! Operations of `keyward sessions`: login (the login check of `users
//! check-password`, then TOTP, then a session, in one transaction), refresh,
//! verify, the signing keys; `manage.rs` lists and revokes, `prune.rs` prunes.

pub mod manage;
pub mod prune;

use super::users::{password_step, LoginRequest, PasswordSource, PasswordStep};
use crate::context::Context;
use crate::crypto::{jws, token};
use crate::domain::audit::{self, Event, Stamp};
use crate::domain::sessions::signing::{self, PublishedKey, Rotated};
use crate::domain::sessions::tokens::{self, Policy, Refreshed, TokenResponse, Verified};
use crate::domain::users::{self, totp, LockReason, Lockout, LoginReason};
use crate::error::{Error, Result};
use crate::ident;
use crate::store::{self, Conn};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

pub use crate::domain::sessions::tokens::{RefreshRefusal, VerifyReason};
pub use crate::domain::sessions::{Session, Status};

/// The token policy of the configuration (`auth.*`), with the lifetimes
/// given on the command line, if any, in place of the configured ones.
fn policy(
    auth: &crate::config::AuthConfig,
    ttl: Option<Duration>,
    refresh_ttl: Option<Duration>,
) -> Policy<'_> {
    Policy {
        issuer: &auth.issuer,
        audience: auth.audience.as_deref(),
        access_ttl: ttl.unwrap_or(auth.access_ttl),
        refresh_ttl: refresh_ttl.unwrap_or(auth.refresh_ttl),
    }
}

/// `sessions login`.
pub struct LoginArgs<'a> {
    /// The username.
    pub username: &'a str,
    /// The password, asked once the other arguments are known to be good.
    pub password: PasswordSource<'a>,
    /// `--totp CODE`.
    pub totp: Option<&'a str>,
    /// `--device`.
    pub device: Option<&'a str>,
    /// `--ip`.
    pub ip: Option<&'a str>,
    /// `--ttl`.
    pub ttl: Option<Duration>,
    /// `--refresh-ttl`.
    pub refresh_ttl: Option<Duration>,
}

/// Why a login got no session (`reason` in its JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginDenial {
    /// The password is wrong, or the user does not exist (not told apart).
    WrongPassword,
    /// The account is locked.
    Locked,
    /// The account is disabled.
    Disabled,
    /// TOTP is enabled and no `--totp` code was given.
    TotpRequired,
    /// The TOTP code is wrong.
    InvalidCode,
    /// The TOTP code's time step was already used.
    CodeAlreadyUsed,
}

/// A login refused.
#[derive(Debug, Clone, Serialize)]
pub struct Denied {
    /// The username (a malformed one in its bounded, escaped form).
    pub username: String,
    /// Always false.
    pub valid: bool,
    /// Why.
    pub reason: LoginDenial,
    /// Locked until, when locked.
    #[serde(with = "crate::output::rfc3339::option")]
    pub locked_until: Option<OffsetDateTime>,
    /// Who or what locked it (`operator`, `failed_attempts`).
    pub lock_reason: Option<LockReason>,
}

/// What a login came to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// A session and its tokens.
    Session(TokenResponse),
    /// No session.
    Denied(Denied),
}

fn denied_from(check: &users::LoginCheck) -> Denied {
    Denied {
        username: check.username.clone(),
        valid: false,
        reason: match check.reason {
            LoginReason::Locked => LoginDenial::Locked,
            LoginReason::Disabled => LoginDenial::Disabled,
            LoginReason::WrongPassword | LoginReason::Ok => LoginDenial::WrongPassword,
        },
        locked_until: check.locked_until,
        lock_reason: check.lock_reason,
    }
}

/// Checks the arguments of a login, before the password is asked for;
/// returns `--ip` in its canonical form.
fn check_login_args(args: &LoginArgs<'_>) -> Result<Option<String>> {
    if let Some(d) = args.device {
        crate::domain::sessions::check_device(d)?;
    }
    let ip = args.ip.map(crate::domain::sessions::check_ip).transpose()?;
    if let Some(t) = args.ttl {
        crate::config::check_ttl(t, "--ttl")?;
    }
    if let Some(t) = args.refresh_ttl {
        crate::config::check_ttl(t, "--refresh-ttl")?;
    }
    if let Some(code) = args.totp {
        totp::parse_code(code).map_err(|e| e.context("--totp"))?;
    }
    Ok(ip)
}

#[derive(Serialize)]
struct TotpRequired {
    reason: LoginDenial,
}

/// Logs a user in: the login check of `users check-password` (lockout,
/// rehash, failure counting, the same cost for an unknown user), then the
/// TOTP code when the account has TOTP enabled, then a new session with its
/// tokens. The verdict, the code's step and the session commit together.
pub fn login(ctx: &mut Context, args: &LoginArgs<'_>) -> Result<LoginOutcome> {
    let ip = check_login_args(args)?;
    // The key signs the token: a key problem is told before the password is asked.
    ctx.keyring()?;
    let pw = (args.password)()?;
    let step = password_step(
        ctx,
        &LoginRequest {
            username: args.username,
            password: &pw,
        },
    )?;
    let lockout = Lockout::from(&ctx.config.auth);
    let actor = ctx.actor().to_owned();
    let clock = std::sync::Arc::clone(&ctx.clock);
    let auth = ctx.config.auth.clone();
    let policy = policy(&auth, args.ttl, args.refresh_ttl);
    let (store, ring) = ctx.store_and_keyring()?;
    store::write(store, |c| {
        let stamp = Stamp::new(&actor, &*clock);
        let checked = match &step {
            PasswordStep::Unknown => {
                let check = users::record_unknown_login(c, stamp, args.username)?;
                return Ok(LoginOutcome::Denied(denied_from(&check)));
            }
            PasswordStep::Known(checked) => checked,
        };
        let attempt = checked.attempt(args.username);
        // TOTP is asked only of a right password on a usable account.
        if let Some(denied) = second_factor(c, (ring, stamp), &attempt, (args, lockout))? {
            return Ok(LoginOutcome::Denied(denied));
        }
        let check = users::record_login(c, stamp, &attempt, lockout)?;
        if !check.valid {
            return Ok(LoginOutcome::Denied(denied_from(&check)));
        }
        let login = tokens::Login {
            user: attempt.user,
            username: args.username,
            device: args.device,
            ip_address: ip.as_deref(),
        };
        Ok(LoginOutcome::Session(tokens::start(
            c,
            (ring, stamp),
            &login,
            &policy,
        )?))
    })
}

/// When the password is right and the account usable and TOTP is enabled:
/// checks `--totp` (missing: denied, not counted; wrong or replayed: denied
/// and counted towards the lockout). `None`: go on with the login record.
fn second_factor(
    c: &mut dyn Conn,
    (ring, stamp): (&crate::crypto::Keyring, Stamp<'_>),
    attempt: &users::Attempt<'_>,
    (args, lockout): (&LoginArgs<'_>, Lockout),
) -> Result<Option<Denied>> {
    let Some(current) = users::repo::login_by_id(c, attempt.user)? else {
        return Ok(None);
    };
    let password_ok = attempt.password_ok && current.password_hash == attempt.checked_hash;
    if users::login::decide(&current, stamp.at, password_ok) != users::login::Decision::Accept {
        return Ok(None);
    }
    let enabled = users::repo::totp_by_name(c, args.username)?.is_some_and(|t| t.enabled);
    if !enabled {
        return Ok(None);
    }
    let denied = |reason, check: Option<&totp::TotpCheck>| Denied {
        username: args.username.to_owned(),
        valid: false,
        reason,
        locked_until: check.and_then(|t| t.locked_until),
        lock_reason: check.and_then(|t| t.lock_reason),
    };
    let Some(code) = args.totp else {
        audit::record(
            c,
            stamp,
            Event::new("user.login_denied", "user", args.username).details_of(&TotpRequired {
                reason: LoginDenial::TotpRequired,
            }),
        )?;
        return Ok(Some(denied(LoginDenial::TotpRequired, None)));
    };
    let check = totp::verify(c, stamp, ring, (args.username, code), lockout)?;
    let reason = match check.reason {
        totp::TotpReason::Ok => return Ok(None),
        totp::TotpReason::InvalidCode => LoginDenial::InvalidCode,
        totp::TotpReason::CodeAlreadyUsed => LoginDenial::CodeAlreadyUsed,
        totp::TotpReason::Locked => LoginDenial::Locked,
        totp::TotpReason::Disabled => LoginDenial::Disabled,
    };
    Ok(Some(denied(reason, Some(&check))))
}

/// What a refresh came to, with the refusal as JSON prints it.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshDenied {
    /// Always false.
    pub valid: bool,
    /// Why.
    pub reason: RefreshRefusal,
    /// The session the token belonged to, when known.
    pub session_id: Option<crate::ids::SessionId>,
}

/// Spends a refresh token for new tokens. The token's shape and checksum are
/// checked before the database is opened.
pub fn refresh(
    ctx: &mut Context,
    presented: &str,
    ttl: Option<Duration>,
) -> Result<Result<TokenResponse, RefreshDenied>> {
    let presented = presented.trim();
    if let Err(flaw) = token::check_refresh(presented) {
        let reason = match flaw {
            token::Flaw::Malformed => RefreshRefusal::Malformed,
            token::Flaw::BadChecksum => RefreshRefusal::BadChecksum,
        };
        return Ok(Err(RefreshDenied {
            valid: false,
            reason,
            session_id: None,
        }));
    }
    if let Some(t) = ttl {
        crate::config::check_ttl(t, "--ttl")?;
    }
    let actor = ctx.actor().to_owned();
    let clock = std::sync::Arc::clone(&ctx.clock);
    let auth = ctx.config.auth.clone();
    let policy = policy(&auth, ttl, None);
    let (store, ring) = ctx.store_and_keyring()?;
    let outcome = store::write(store, |c| {
        tokens::refresh(c, (ring, Stamp::new(&actor, &*clock)), presented, &policy)
    })?;
    Ok(match outcome {
        Refreshed::Tokens(t) => Ok(t),
        Refreshed::Refused { reason, session_id } => Err(RefreshDenied {
            valid: false,
            reason,
            session_id,
        }),
    })
}

/// A valid access token, as `verify` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Valid {
    /// Always true.
    pub valid: bool,
    /// The token's claims.
    pub claims: jws::Claims,
    /// Its session.
    pub session: Session,
}

/// A refused access token, as `verify` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Invalid {
    /// Always false.
    pub valid: bool,
    /// Why.
    pub reason: VerifyReason,
}

/// Verifies an access token: shape and algorithm offline, then the key, the
/// signature, the times (30 s leeway), issuer, audience and session.
pub fn verify(ctx: &mut Context, presented: &str) -> Result<Result<Valid, Invalid>> {
    let refuse = |reason| {
        Ok(Err(Invalid {
            valid: false,
            reason,
        }))
    };
    let presented = presented.trim();
    let parsed = match jws::parse(presented) {
        Ok(p) => p,
        Err(r) => return refuse(r.into()),
    };
    let now = ctx.clock.now();
    let auth = ctx.config.auth.clone();
    let policy = policy(&auth, None, None);
    match store::read(ctx.store()?, |c| tokens::verify(c, &parsed, &policy, now))? {
        Verified::Valid { claims, session } => Ok(Ok(Valid {
            valid: true,
            claims,
            session: *session,
        })),
        Verified::Refused(reason) => refuse(reason),
    }
}

/// The published signing keys (`sessions jwks` in a table).
pub fn published_keys(ctx: &mut Context) -> Result<Vec<PublishedKey>> {
    store::read(ctx.store()?, signing::published)
}

/// The JWKS document of the published keys.
pub fn jwks(keys: &[PublishedKey]) -> jws::Jwks {
    signing::jwks(keys)
}

/// Makes a new signing key the signer; the old one stays published until
/// the tokens it signed have expired.
pub fn rotate_signing_key(ctx: &mut Context) -> Result<Rotated> {
    let actor = ctx.actor().to_owned();
    let clock = std::sync::Arc::clone(&ctx.clock);
    let (store, ring) = ctx.store_and_keyring()?;
    store::write(store, |c| {
        signing::rotate(c, ring, Stamp::new(&actor, &*clock))
    })
}

/// Checks a session id given on the command line (exit 2 when not a number).
pub fn parse_id(id: &str) -> Result<crate::ids::SessionId> {
    match id.trim().parse::<i64>() {
        Ok(n) if n > 0 => Ok(crate::ids::SessionId(n)),
        _ => Err(Error::invalid(format!(
            "session id {} is not a session id: use the number `keyward sessions list` shows",
            ident::shown(id)
        ))),
    }
}
