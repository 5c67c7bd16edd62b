//! `keyward users`: accounts, passwords, the login check, permissions, TOTP.

use crate::config::Format;
use crate::context::Context;
use crate::crypto::password::{self, Verdict};
use crate::domain::users::{self, NewUser};
use crate::error::{Error, Result};
use crate::output::{Data, Reply};
use crate::{secret, store};
use clap::Subcommand;
use std::io::IsTerminal;

const LIST_COLUMNS: &[&str] = &[
    "username",
    "email",
    "roles",
    "is_active",
    "locked",
    "last_login_at",
];

#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// Create a user (password from a prompt, or one line of stdin with --password-stdin)
    Add {
        /// Username: 3-32 of a-z 0-9 _ . - (starting with a letter or digit)
        username: String,
        /// Email address (stored lowercase)
        #[arg(long)]
        email: String,
        /// Role to assign (repeatable)
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Read the password as one line from stdin
        #[arg(long)]
        password_stdin: bool,
        /// Accept a password that fails the policy (recorded in the audit log)
        #[arg(long)]
        allow_weak: bool,
    },
    /// List users
    List {
        /// Only members of this role
        #[arg(long)]
        role: Option<String>,
        /// Only users locked now
        #[arg(long)]
        locked: bool,
    },
    /// Show one user with roles and permissions
    Show { username: String },
    /// Change a user's email or active flag
    Update {
        username: String,
        /// New email address
        #[arg(long)]
        email: Option<String>,
        /// Enable or disable the account
        #[arg(long, value_name = "true|false")]
        active: Option<bool>,
    },
    /// Set a new password
    Passwd {
        username: String,
        /// Read the password as one line from stdin
        #[arg(long)]
        password_stdin: bool,
        /// Accept a password that fails the policy (recorded in the audit log)
        #[arg(long)]
        allow_weak: bool,
    },
    /// Lock an account (until `unlock`, or for a while with --for)
    Lock {
        username: String,
        /// Lock for this long (`15m`, `2h`, `7d`) instead of until unlocked
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
    },
    /// Unlock an account and clear its failed-login count
    Unlock { username: String },
    /// Delete a user with their sessions, role assignments and API keys
    Delete { username: String },
    /// The login check: exit 0 when the password is right; counts failures and locks
    CheckPassword {
        username: String,
        /// Read the password as one line from stdin
        #[arg(long)]
        password_stdin: bool,
    },
    /// Whether a user may do RESOURCE:ACTION (exit 0 allowed, 5 denied)
    Can {
        username: String,
        /// RESOURCE:ACTION, e.g. settings:write
        permission: String,
    },
    /// Time-based one-time passwords (RFC 6238)
    #[command(subcommand)]
    Totp(TotpCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum TotpCommand {
    /// Make a secret and print its otpauth:// URI (and a QR code on a terminal)
    Enroll { username: String },
    /// Check a code (exit 0 valid, 5 not); the first good code activates enrolment
    Verify {
        username: String,
        /// The 6-digit code
        code: String,
    },
    /// Remove TOTP from the account
    Disable { username: String },
}

pub(crate) fn run(ctx: &mut Context, cmd: UsersCommand) -> Result<Reply> {
    let actor = ctx.actor().to_owned();
    match cmd {
        UsersCommand::Add {
            username,
            email,
            roles,
            password_stdin,
            allow_weak,
        } => {
            users::validate_username(&username)?;
            let email = users::normalize_email(&email)?;
            // Fail on clashes and unknown roles before asking for a password.
            store::read(ctx.store()?, |c| {
                if users::get(c, &username).is_ok() {
                    return Err(Error::conflict(format!("user '{username}' already exists")));
                }
                roles
                    .iter()
                    .try_for_each(|r| crate::domain::roles::role_id(c, r).map(drop))
            })?;
            let pw = secret::new_password(password_stdin, &username)?;
            let weak = users::check_password_policy(&pw, &username, &email, allow_weak)?;
            ctx.warn_before_hashing();
            let hash = password::hash(pw.as_bytes(), ctx.config.auth.pbkdf2_iterations)?;
            let new = NewUser {
                username: &username,
                email: &email,
                roles: &roles,
                password_hash: &hash,
                weak_password_allowed: weak,
            };
            let user = store::write(ctx.store()?, |c| users::add(c, &actor, &new))?;
            let mut msg = format!("created user '{username}'");
            if weak {
                msg.push_str(" (weak password accepted with --allow-weak)");
            }
            Ok(Reply::object(user).with_message(msg).quiet_table())
        }
        UsersCommand::List { role, locked } => {
            let list = store::read(ctx.store()?, |c| users::list(c, role.as_deref(), locked))?;
            Ok(Reply::list(LIST_COLUMNS, list))
        }
        UsersCommand::Show { username } => {
            let (user, perms) = store::read(ctx.store()?, |c| {
                let user = users::get(c, &username)?;
                let perms = users::permissions_of(c, user.id)?;
                Ok((user, perms))
            })?;
            let mut value = serde_json::to_value(&user).map_err(Error::internal)?;
            let mut names: Vec<String> = perms.into_iter().map(|(p, _)| p).collect();
            names.dedup();
            value["permissions"] = serde_json::json!(names);
            Ok(Reply::object(value))
        }
        UsersCommand::Update {
            username,
            email,
            active,
        } => {
            if email.is_none() && active.is_none() {
                return Err(Error::invalid(
                    "nothing to change: pass --email and/or --active true|false",
                ));
            }
            let email = email.as_deref().map(users::normalize_email).transpose()?;
            let user = store::write(ctx.store()?, |c| {
                users::update(c, &actor, &username, email.as_deref(), active)
            })?;
            Ok(Reply::object(user)
                .with_message(format!("updated user '{username}'"))
                .quiet_table())
        }
        UsersCommand::Passwd {
            username,
            password_stdin,
            allow_weak,
        } => {
            let user = store::read(ctx.store()?, |c| users::get(c, &username))?;
            let pw = secret::new_password(password_stdin, &username)?;
            let weak = users::check_password_policy(&pw, &username, &user.email, allow_weak)?;
            ctx.warn_before_hashing();
            let hash = password::hash(pw.as_bytes(), ctx.config.auth.pbkdf2_iterations)?;
            store::write(ctx.store()?, |c| {
                users::set_password(c, &actor, &username, &hash, weak)
            })?;
            Ok(Reply::message(format!("password changed for '{username}'")))
        }
        UsersCommand::Lock { username, duration } => {
            let until = match duration {
                Some(d) => crate::time::add(crate::time::now(), crate::time::parse_duration(&d)?)?,
                None => users::indefinitely(),
            };
            let user = store::write(ctx.store()?, |c| users::lock(c, &actor, &username, until))?;
            let when = if until == users::indefinitely() {
                "until `keyward users unlock`".to_owned()
            } else {
                format!("until {}", crate::time::rfc3339(until))
            };
            Ok(Reply::object(user)
                .with_message(format!("locked '{username}' {when}"))
                .quiet_table())
        }
        UsersCommand::Unlock { username } => {
            let user = store::write(ctx.store()?, |c| users::unlock(c, &actor, &username))?;
            Ok(Reply::object(user)
                .with_message(format!("unlocked '{username}'"))
                .quiet_table())
        }
        UsersCommand::Delete { username } => {
            store::read(ctx.store()?, |c| users::get(c, &username))?;
            ctx.confirm(&format!(
                "delete user '{username}' with their sessions and API keys"
            ))?;
            store::write(ctx.store()?, |c| users::delete(c, &actor, &username))?;
            Ok(
                Reply::object(serde_json::json!({"username": username, "deleted": true}))
                    .with_message(format!("deleted user '{username}'"))
                    .quiet_table(),
            )
        }
        UsersCommand::CheckPassword {
            username,
            password_stdin,
        } => check_password(ctx, &actor, &username, password_stdin),
        UsersCommand::Can {
            username,
            permission,
        } => {
            let answer = store::read(ctx.store()?, |c| users::can(c, &username, &permission))?;
            if answer.allowed {
                let msg = format!(
                    "allowed: {} may {} (via {})",
                    username,
                    answer.permission,
                    answer.granted_by.join(", ")
                );
                Ok(Reply::object(answer).with_message(msg).quiet_table())
            } else {
                let why = answer.reason.clone().unwrap_or_default();
                Ok(Reply::object(answer)
                    .quiet_table()
                    .failing(Error::denied(format!("denied: {why}"))))
            }
        }
        UsersCommand::Totp(t) => totp(ctx, &actor, t),
    }
}

fn check_password(
    ctx: &mut Context,
    actor: &str,
    username: &str,
    from_stdin: bool,
) -> Result<Reply> {
    let pw = secret::password(from_stdin, &format!("Password for {username}: "))?;
    let iterations = ctx.config.auth.pbkdf2_iterations;
    let creds = store::read(ctx.store()?, |c| users::credentials(c, username))?;
    let Some(creds) = creds else {
        // The same work as a real check (hash, then a write), so timing does not tell whether the user exists.
        password::dummy_verify(pw.as_bytes(), iterations);
        let check = store::write(ctx.store()?, |c| {
            users::record_unknown_login(c, actor, username)
        })?;
        return Ok(Reply::object(check)
            .quiet_table()
            .failing(Error::denied(format!(
                "invalid username or password for '{username}'"
            ))));
    };
    let verdict = users::verify_password(&pw, &creds.hash, iterations)?;
    let (ok, rehash) = match verdict {
        Verdict::Valid { needs_rehash: true } => {
            ctx.warn_before_hashing();
            (true, Some(password::hash(pw.as_bytes(), iterations)?))
        }
        Verdict::Valid {
            needs_rehash: false,
        } => (true, None),
        Verdict::Invalid => (false, None),
    };
    let auth = ctx.config.auth.clone();
    let check = store::write(ctx.store()?, |c| {
        users::record_login(c, actor, username, &creds, ok, rehash.as_deref(), &auth)
    })?;
    if check.valid {
        let msg = if check.rehashed {
            format!("password ok for '{username}' (hash upgraded to {iterations} iterations)")
        } else {
            format!("password ok for '{username}'")
        };
        return Ok(Reply::object(check).with_message(msg).quiet_table());
    }
    let why = match check.reason {
        "locked" => format!(
            "account '{username}' is locked until {}: wait, or run `keyward users unlock {username}`",
            check.locked_until.map(crate::time::rfc3339).unwrap_or_default()
        ),
        "disabled" => format!("account '{username}' is disabled"),
        // The same words as for an unknown user: the message does not tell who exists.
        _ => format!("invalid username or password for '{username}'"),
    };
    Ok(Reply::object(check)
        .quiet_table()
        .failing(Error::denied(why)))
}

fn qr_code(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .build(),
    )
}

fn totp(ctx: &mut Context, actor: &str, cmd: TotpCommand) -> Result<Reply> {
    match cmd {
        TotpCommand::Enroll { username } => {
            let (store, ring) = ctx.store_and_keyring()?;
            let uri = store::write(store, |c| users::totp_enroll(c, actor, ring, &username))?;
            let msg = format!(
                "add it to an authenticator app, then confirm with `keyward users totp verify {username} CODE` to activate it"
            );
            if ctx.config.output == Format::Table {
                let mut text = String::new();
                if std::io::stdout().is_terminal() {
                    if let Some(qr) = qr_code(&uri) {
                        text.push_str(&qr);
                        text.push('\n');
                    }
                }
                text.push_str(&uri);
                text.push('\n');
                return Ok(Reply {
                    data: Data::Raw(text),
                    message: Some(msg),
                    ..Reply::default()
                });
            }
            Ok(Reply::object(
                serde_json::json!({"username": username, "uri": uri, "active": false}),
            )
            .with_message(msg))
        }
        TotpCommand::Verify { username, code } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|_| Error::internal("the system clock is before 1970"))?
                .as_secs();
            let auth = ctx.config.auth.clone();
            let (store, ring) = ctx.store_and_keyring()?;
            let check = store::write(store, |c| {
                users::totp_verify(c, actor, ring, &username, &code, now, &auth)
            })?;
            if check.valid {
                let msg = if check.activated {
                    format!("code accepted: TOTP is now active for '{username}'")
                } else {
                    "code accepted".to_owned()
                };
                Ok(Reply::object(check).with_message(msg).quiet_table())
            } else {
                let why = match check.reason {
                    "code_already_used" => "this code was already used",
                    "locked" => "the account is locked after too many failed attempts",
                    _ => "invalid code",
                };
                Ok(Reply::object(check)
                    .quiet_table()
                    .failing(Error::denied(format!("{why} for '{username}'"))))
            }
        }
        TotpCommand::Disable { username } => {
            store::write(ctx.store()?, |c| users::totp_disable(c, actor, &username))?;
            Ok(
                Reply::object(serde_json::json!({"username": username, "totp_enabled": false}))
                    .with_message(format!("TOTP disabled for '{username}'"))
                    .quiet_table(),
            )
        }
    }
}
