//! `keyward sessions`: login, signed access tokens, rotating refresh tokens,
//! revocation, pruning, and the public signing keys.

use crate::config::Format;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::ops::sessions::{self as ops, manage, LoginDenial, LoginOutcome};
use crate::output::{Data, Reply};
use crate::secret;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum SessionsCommand {
    /// Log a user in (the login check of check-password, then TOTP) and print tokens
    Login {
        username: String,
        /// Read the password as one line from stdin
        #[arg(long)]
        password_stdin: bool,
        /// The current TOTP code, when the account has TOTP enabled
        #[arg(long, value_name = "CODE")]
        totp: Option<String>,
        /// A label for the device or client (shown by list and show)
        #[arg(long, value_name = "D")]
        device: Option<String>,
        /// The client's IP address (IPv4 or IPv6)
        #[arg(long, value_name = "A")]
        ip: Option<String>,
        /// Access token lifetime [default: auth.access_ttl, 15m]
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
        /// Session (refresh token) lifetime [default: auth.refresh_ttl, 7d]
        #[arg(long, value_name = "DURATION")]
        refresh_ttl: Option<String>,
    },
    /// Check an access token read from stdin (exit 0 valid, 5 with a reason)
    Verify {
        /// Read the token as one line from stdin
        #[arg(long)]
        token_stdin: bool,
    },
    /// Spend a refresh token read from stdin for new tokens (reuse revokes the session)
    Refresh {
        /// Read the refresh token as one line from stdin
        #[arg(long)]
        token_stdin: bool,
        /// Access token lifetime [default: auth.access_ttl, 15m]
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
    },
    /// List sessions, newest first: active ones, or all kept with --all (never a token)
    List {
        /// Only this user's sessions
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Include revoked and expired sessions
        #[arg(long)]
        all: bool,
    },
    /// Show one session with its user's current roles
    Show {
        /// The session id (as `list` shows it)
        id: String,
    },
    /// Revoke one session: its access and refresh tokens stop working
    Revoke {
        /// The session id (as `list` shows it)
        id: String,
    },
    /// Revoke every active session of a user
    RevokeAll { username: String },
    /// Print the public signing keys as a JWKS document (RFC 7517)
    Jwks,
    /// Make a new key the signer (the old one stays published until its tokens expire)
    RotateSigningKey,
    /// Delete expired and revoked sessions in short batches (safe from cron on several hosts)
    Prune {
        /// Keep sessions that ended or were revoked less than this long ago [default: 0s]
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
        /// Count what would be deleted, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Sessions deleted per transaction, 1 to 100000 [default: 5000]
        #[arg(long, value_name = "N")]
        batch_size: Option<u64>,
    },
}

pub(crate) fn run(ctx: &mut Context, cmd: SessionsCommand) -> Result<Reply> {
    match cmd {
        SessionsCommand::Login {
            username,
            password_stdin,
            totp,
            device,
            ip,
            ttl,
            refresh_ttl,
        } => {
            let who = if crate::ident::is_username(&username) {
                username.clone()
            } else {
                crate::ident::shown(&username)
            };
            let ask = move || secret::password(password_stdin, &format!("Password for {who}: "));
            let args = ops::LoginArgs {
                username: &username,
                password: &ask,
                totp: totp.as_deref(),
                device: device.as_deref(),
                ip: ip.as_deref(),
                ttl: ttl.as_deref().map(duration("--ttl")).transpose()?,
                refresh_ttl: refresh_ttl
                    .as_deref()
                    .map(duration("--refresh-ttl"))
                    .transpose()?,
            };
            login(ctx, &args)
        }
        SessionsCommand::Verify { token_stdin } => {
            let token = presented(token_stdin, "access token")?;
            verify(ctx, &token)
        }
        SessionsCommand::Refresh { token_stdin, ttl } => {
            let ttl = ttl.as_deref().map(duration("--ttl")).transpose()?;
            let token = presented(token_stdin, "refresh token")?;
            match ops::refresh(ctx, &token, ttl)? {
                Ok(tokens) => {
                    let msg = format!(
                        "refreshed session {}: the refresh token given is now spent",
                        tokens.session_id
                    );
                    Ok(Reply::object(tokens).with_message(msg))
                }
                Err(denied) => {
                    let why = refresh_words(&denied);
                    Ok(Reply::object(denied)
                        .quiet_table()
                        .failing(Error::denied(why)))
                }
            }
        }
        SessionsCommand::List { user, all } => Ok(Reply::rows(manage::list(
            ctx,
            &manage::ListRequest { user, all },
        )?)),
        SessionsCommand::Show { id } => Ok(Reply::object(manage::show(ctx, &id)?)),
        SessionsCommand::Revoke { id } => revoke(ctx, &id),
        SessionsCommand::RevokeAll { username } => revoke_all(ctx, &username),
        SessionsCommand::Jwks => jwks(ctx),
        SessionsCommand::RotateSigningKey => {
            let rotated = ops::rotate_signing_key(ctx)?;
            let msg = match &rotated.retired_kid {
                Some(old) => format!(
                    "signing key {} now signs; {old} stays in the JWKS until the tokens it signed expire, then `keyward sessions prune` removes it",
                    rotated.kid
                ),
                None => format!("signing key {} now signs", rotated.kid),
            };
            Ok(Reply::object(rotated).with_message(msg).quiet_table())
        }
        SessionsCommand::Prune {
            older_than,
            dry_run,
            batch_size,
        } => {
            let req = ops::prune::PruneRequest {
                older_than: older_than
                    .as_deref()
                    .map(duration("--older-than"))
                    .transpose()?,
                dry_run,
                batch_size,
            };
            prune(ctx, &req)
        }
    }
}

fn prune(ctx: &mut Context, req: &ops::prune::PruneRequest) -> Result<Reply> {
    let done = ops::prune::prune(ctx, req)?;
    let n = grouped;
    let s = |v: u64| if v == 1 { "" } else { "s" };
    let keys = match done.signing_keys_removed {
        0 => String::new(),
        k => format!(" and {} retired signing key{}", n(k), s(k)),
    };
    let msg = if done.dry_run {
        format!(
            "dry run: would prune {} session{} in {} batch{}{keys} (ended or revoked before {}); nothing was changed",
            n(done.deleted),
            s(done.deleted),
            n(done.batches),
            if done.batches == 1 { "" } else { "es" },
            crate::time::rfc3339(done.cutoff)
        )
    } else if done.deleted == 0 && done.signing_keys_removed == 0 {
        format!(
            "nothing to prune: no session ended or was revoked before {}",
            crate::time::rfc3339(done.cutoff)
        )
    } else {
        format!(
            "pruned {} session{} in {} batch{}{keys}",
            n(done.deleted),
            s(done.deleted),
            n(done.batches),
            if done.batches == 1 { "" } else { "es" },
        )
    };
    Ok(Reply::object(done).with_message(msg).quiet_table())
}

/// A token a client presented, from stdin with `--token-stdin`. What the
/// client sent is judged, not a usage error: nothing on the line, a line too
/// long for a token or not UTF-8 comes back empty, which the check refuses
/// as `malformed` (exit 5). Without the flag and a terminal: exit 2.
fn presented(from_stdin: bool, what: &str) -> Result<zeroize::Zeroizing<String>> {
    match secret::token(from_stdin, what, "--token-stdin") {
        Err(e) if from_stdin && e.kind() == crate::error::ErrorKind::Invalid => {
            Ok(zeroize::Zeroizing::new(String::new()))
        }
        other => other,
    }
}

/// Parses a duration flag.
fn duration(flag: &'static str) -> impl Fn(&str) -> Result<time::Duration> {
    move |s| crate::time::parse_duration(s).map_err(|e| e.context(flag))
}

fn login(ctx: &mut Context, args: &ops::LoginArgs<'_>) -> Result<Reply> {
    match ops::login(ctx, args)? {
        LoginOutcome::Session(tokens) => {
            let msg = format!(
                "logged in '{}': session {}, access token valid until {}",
                args.username,
                tokens.session_id,
                crate::time::rfc3339(tokens.expires_at)
            );
            Ok(Reply::object(tokens).with_message(msg))
        }
        LoginOutcome::Denied(denied) => {
            let name = &denied.username;
            let why = match denied.reason {
                LoginDenial::WrongPassword => format!("invalid username or password for '{name}'"),
                LoginDenial::Locked => format!(
                    "account '{name}' is {}: no session",
                    ops_users_lock_words(&denied)
                ),
                LoginDenial::Disabled => format!("account '{name}' is disabled: no session"),
                LoginDenial::TotpRequired => format!(
                    "account '{name}' has TOTP enabled: pass --totp CODE with the current code"
                ),
                LoginDenial::InvalidCode => format!("invalid TOTP code for '{name}'"),
                LoginDenial::CodeAlreadyUsed => {
                    format!("this TOTP code was already used for '{name}': wait for the next one")
                }
            };
            Ok(Reply::object(denied)
                .quiet_table()
                .failing(Error::denied(why)))
        }
    }
}

fn ops_users_lock_words(denied: &ops::Denied) -> String {
    crate::ops::users::lock_words(denied.lock_reason, denied.locked_until)
}

fn refresh_words(denied: &ops::RefreshDenied) -> String {
    use ops::RefreshRefusal as R;
    let session = denied
        .session_id
        .map(|id| format!("session {id}"))
        .unwrap_or_else(|| "the session".to_owned());
    match denied.reason {
        R::Malformed => "refresh token refused (malformed): a refresh token is kwr_ followed by 38 letters and digits".to_owned(),
        R::BadChecksum => "refresh token refused (bad_checksum): it was mistyped or truncated".to_owned(),
        R::Unknown => "refresh token refused (unknown): no session has it (pruned, or never issued here)".to_owned(),
        R::Revoked => format!("refresh token refused (revoked): {session} was revoked"),
        R::Expired => format!("refresh token refused (expired): {session} has ended; log in again"),
        R::RefreshReuse => format!(
            "refresh token refused (refresh_reuse): it was already spent, so it may have been stolen; {session} is now revoked"
        ),
        R::UserInactive => format!(
            "refresh token refused (user_inactive): the account of {session} is disabled or locked"
        ),
    }
}

fn verify(ctx: &mut Context, token: &str) -> Result<Reply> {
    match ops::verify(ctx, token)? {
        Ok(valid) => {
            let msg = format!(
                "valid: session {} of '{}', expires {}",
                valid.session.id,
                valid.claims.sub,
                time::OffsetDateTime::from_unix_timestamp(valid.claims.exp)
                    .map(crate::time::rfc3339)
                    .unwrap_or_default()
            );
            Ok(Reply::object(valid).with_message(msg))
        }
        Err(invalid) => {
            let reason = serde_json::to_value(invalid.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            Ok(Reply::object(invalid)
                .quiet_table()
                .failing(Error::denied(format!("access token refused: {reason}"))))
        }
    }
}

fn revoke(ctx: &mut Context, id: &str) -> Result<Reply> {
    let done = manage::revoke_one(ctx, id)?;
    let s = &done.session;
    let msg = if done.already_revoked {
        format!(
            "session {} of '{}' was already revoked ({}{}): nothing changed",
            s.id,
            s.username,
            s.revoked_reason.as_deref().unwrap_or("revoked"),
            s.revoked_at
                .map(|t| format!(", at {}", crate::time::rfc3339(t)))
                .unwrap_or_default()
        )
    } else {
        format!(
            "revoked session {} of '{}': its tokens no longer verify or refresh",
            s.id, s.username
        )
    };
    Ok(Reply::object(done).with_message(msg).quiet_table())
}

fn revoke_all(ctx: &mut Context, username: &str) -> Result<Reply> {
    let done = manage::revoke_all(ctx, username)?;
    let msg = match done.revoked {
        0 => format!("'{username}' has no active session: nothing revoked"),
        n => {
            let s = if n == 1 { "" } else { "s" };
            let ids: Vec<String> = done.session_ids.iter().map(ToString::to_string).collect();
            format!(
                "revoked {n} session{s} of '{username}' (id{s} {})",
                ids.join(", ")
            )
        }
    };
    Ok(Reply::object(done).with_message(msg).quiet_table())
}

fn jwks(ctx: &mut Context) -> Result<Reply> {
    let keys = ops::published_keys(ctx)?;
    let doc = ops::jwks(&keys);
    let msg = if keys.is_empty() {
        "no signing key yet: the first login makes one (or run `keyward sessions rotate-signing-key`)".to_owned()
    } else {
        format!(
            "{} public key{} ({})",
            keys.len(),
            if keys.len() == 1 { "" } else { "s" },
            keys.iter()
                .map(|k| format!("{} {}", k.kid, k.state))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if ctx.config.output == Format::Table {
        // The document itself: what an application or a gateway is given.
        let text = serde_json::to_string_pretty(&doc).map_err(Error::internal)?;
        return Ok(Reply {
            data: Data::Raw(format!("{text}\n")),
            message: Some(msg),
            ..Reply::default()
        });
    }
    Ok(Reply::object(doc).with_message(msg))
}

/// `900000` as `900,000`.
fn grouped(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(super::grouped(0), "0");
        assert_eq!(super::grouped(999), "999");
        assert_eq!(super::grouped(1000), "1,000");
        assert_eq!(super::grouped(900_000), "900,000");
        assert_eq!(super::grouped(1_234_567), "1,234,567");
    }
}
