//! `keyward users`: accounts, passwords, the login check, permissions, TOTP.

use crate::config::Format;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::ops::users::{self as ops, LoginReason, TotpReason};
use crate::output::{Data, Reply};
use crate::secret;
use clap::Subcommand;
use std::io::IsTerminal;

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
    match cmd {
        UsersCommand::Add {
            username,
            email,
            roles,
            password_stdin,
            allow_weak,
        } => {
            let ask = || secret::new_password(password_stdin, &username);
            add(
                ctx,
                &ops::AddUser {
                    username: &username,
                    email: &email,
                    roles: &roles,
                    allow_weak,
                    password: &ask,
                },
            )
        }
        UsersCommand::List { role, locked } => {
            let filter = ops::ListFilter {
                role,
                locked_only: locked,
            };
            Ok(Reply::rows(ops::list(ctx, &filter)?))
        }
        UsersCommand::Show { username } => Ok(Reply::object(ops::show(ctx, &username)?)),
        UsersCommand::Update {
            username,
            email,
            active,
        } => {
            let req = ops::UpdateUser {
                username,
                email,
                active,
            };
            let updated = ops::update(ctx, &req)?;
            let msg = format!(
                "updated user '{}'{}",
                req.username,
                sessions_ended(updated.sessions_revoked)
            );
            Ok(Reply::object(updated.user).with_message(msg).quiet_table())
        }
        UsersCommand::Passwd {
            username,
            password_stdin,
            allow_weak,
        } => {
            let ask = || secret::new_password(password_stdin, &username);
            let req = ops::SetPassword {
                username: &username,
                allow_weak,
                password: &ask,
            };
            let changed = ops::passwd(ctx, &req)?;
            let mut msg = format!("password changed for '{username}'");
            if changed.weak_password_allowed {
                msg.push_str(" (weak password accepted with --allow-weak)");
            }
            msg.push_str(&sessions_ended(changed.sessions_revoked));
            Ok(Reply::object(changed).with_message(msg).quiet_table())
        }
        UsersCommand::Lock { username, duration } => lock(ctx, username, duration.as_deref()),
        UsersCommand::Unlock { username } => Ok(Reply::object(ops::unlock(ctx, &username)?)
            .with_message(format!("unlocked '{username}'"))
            .quiet_table()),
        UsersCommand::Delete { username } => {
            let deleted = ops::delete(ctx, &username)?;
            let msg = format!(
                "deleted user '{username}'{}",
                sessions_ended(deleted.sessions_revoked)
            );
            Ok(Reply::object(deleted).with_message(msg).quiet_table())
        }
        UsersCommand::CheckPassword {
            username,
            password_stdin,
        } => check_password(ctx, &username, password_stdin),
        UsersCommand::Can {
            username,
            permission,
        } => can(
            ctx,
            ops::CanRequest {
                username,
                permission,
            },
        ),
        UsersCommand::Totp(t) => totp(ctx, t),
    }
}

fn add(ctx: &mut Context, req: &ops::AddUser<'_>) -> Result<Reply> {
    let added = ops::add(ctx, req)?;
    let mut msg = format!("created user '{}'", req.username);
    if added.weak_password_allowed {
        msg.push_str(" (weak password accepted with --allow-weak)");
    }
    Ok(Reply::object(added.user).with_message(msg).quiet_table())
}

fn lock(ctx: &mut Context, username: String, duration: Option<&str>) -> Result<Reply> {
    let duration = duration.map(crate::time::parse_duration).transpose()?;
    let locked = ops::lock(ctx, &ops::LockUser { username, duration })?;
    let when = match locked.until {
        None => "until `keyward users unlock`".to_owned(),
        Some(t) => format!("until {}", crate::time::rfc3339(t)),
    };
    let msg = format!(
        "locked '{}' {when}{}",
        locked.user.username,
        sessions_ended(locked.sessions_revoked)
    );
    Ok(Reply::object(locked.user).with_message(msg).quiet_table())
}

/// The end of a message when a change ended sessions: "; revoked 2 sessions".
fn sessions_ended(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => "; revoked 1 session".to_owned(),
        n => format!("; revoked {n} sessions"),
    }
}

fn can(ctx: &mut Context, req: ops::CanRequest) -> Result<Reply> {
    let answer = ops::can(ctx, &req)?;
    if answer.allowed {
        let msg = format!(
            "allowed: {} may {} (via {})",
            req.username,
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

fn check_password(ctx: &mut Context, username: &str, from_stdin: bool) -> Result<Reply> {
    let who = if crate::ident::is_username(username) {
        username.to_owned()
    } else {
        crate::ident::shown(username)
    };
    let pw = secret::password(from_stdin, &format!("Password for {who}: "))?;
    let check = ops::login_check(
        ctx,
        &ops::LoginRequest {
            username,
            password: &pw,
        },
    )?;
    let why = match check.reason {
        LoginReason::Ok => {
            let msg = if check.rehashed {
                format!(
                    "password ok for '{username}' (hash upgraded to {} iterations)",
                    ctx.config.auth.pbkdf2_iterations
                )
            } else {
                format!("password ok for '{username}'")
            };
            return Ok(Reply::object(check).with_message(msg).quiet_table());
        }
        LoginReason::Locked => format!(
            "account '{username}' is {}: {}run `keyward users unlock {username}`",
            ops::lock_words(check.lock_reason, check.locked_until),
            if check.lock_reason == Some(ops::LockReason::Operator) {
                ""
            } else {
                "wait, or "
            }
        ),
        LoginReason::Disabled => format!("account '{username}' is disabled"),
        // The same words as for an unknown user: the message does not tell who exists
        // (`check.username` is a malformed name's bounded form).
        LoginReason::WrongPassword => {
            format!("invalid username or password for '{}'", check.username)
        }
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

fn totp(ctx: &mut Context, cmd: TotpCommand) -> Result<Reply> {
    match cmd {
        TotpCommand::Enroll { username } => {
            let enrolled = ops::totp_enroll(ctx, &username)?;
            let msg = format!(
                "add it to an authenticator app, then confirm with `keyward users totp verify {username} CODE` to activate it"
            );
            if ctx.config.output == Format::Table {
                let mut text = String::new();
                if std::io::stdout().is_terminal() {
                    if let Some(qr) = qr_code(&enrolled.uri) {
                        text.push_str(&qr);
                        text.push('\n');
                    }
                }
                text.push_str(&enrolled.uri);
                text.push('\n');
                return Ok(Reply {
                    data: Data::Text(text),
                    message: Some(msg),
                    ..Reply::default()
                });
            }
            Ok(Reply::object(enrolled).with_message(msg))
        }
        TotpCommand::Verify { username, code } => {
            let check = ops::totp_verify(ctx, &ops::TotpRequest { username, code })?;
            let username = check.username.clone();
            let why = match check.reason {
                TotpReason::Ok => {
                    let msg = if check.activated {
                        format!("code accepted: TOTP is now active for '{username}'")
                    } else {
                        "code accepted".to_owned()
                    };
                    return Ok(Reply::object(check).with_message(msg).quiet_table());
                }
                TotpReason::CodeAlreadyUsed => {
                    format!("this code was already used for '{username}'")
                }
                TotpReason::Locked => format!(
                    "account '{username}' is {}: the code was not checked",
                    ops::lock_words(check.lock_reason, check.locked_until)
                ),
                TotpReason::Disabled => {
                    format!("account '{username}' is disabled: the code was not checked")
                }
                TotpReason::InvalidCode => format!("invalid code for '{username}'"),
            };
            Ok(Reply::object(check)
                .quiet_table()
                .failing(Error::denied(why)))
        }
        TotpCommand::Disable { username } => Ok(Reply::object(ops::totp_disable(ctx, &username)?)
            .with_message(format!("TOTP disabled for '{username}'"))
            .quiet_table()),
    }
}
