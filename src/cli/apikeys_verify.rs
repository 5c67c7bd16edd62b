//! `keyward apikeys verify`.

use crate::context::Context;
use crate::domain::apikeys::Reason;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::apikeys::verify as ops;
use crate::output::Reply;
use crate::secret;
use clap::Args;
use zeroize::Zeroizing;

/// `apikeys verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Read the key as one line from stdin
    #[arg(long)]
    pub key_stdin: bool,
    /// The client's IP address, checked against the key's allowlist
    #[arg(long, value_name = "A")]
    pub ip: Option<String>,
    /// A permission the use needs, RESOURCE:ACTION
    #[arg(long, value_name = "P")]
    pub permission: Option<String>,
}

pub(crate) fn run(ctx: &mut Context, args: VerifyArgs) -> Result<Reply> {
    let flags = ops::check_flags(&ops::VerifyRequest {
        ip: args.ip,
        permission: args.permission,
    })?;
    // What a client sent is checked, not trusted: nothing on the line, a line
    // too long or not UTF-8 is a malformed key (exit 5, with its JSON), not a
    // usage error. Without --key-stdin and a terminal it stays exit 2.
    let key = match secret::token(args.key_stdin, "API key", "--key-stdin") {
        Ok(key) => key,
        Err(e) if args.key_stdin && e.kind() == ErrorKind::Invalid => Zeroizing::new(String::new()),
        Err(e) => return Err(e),
    };
    match ops::verify(ctx, &flags, &key)? {
        Ok(valid) => {
            let owner = match &valid.owner {
                Some(o) => format!("of '{}'", o.username),
                None => "(a service key)".to_owned(),
            };
            let msg = format!(
                "valid: API key {} ({}) {owner}",
                valid.key.key_prefix, valid.key.name
            );
            Ok(Reply::object(valid).with_message(msg))
        }
        Err(refused) => {
            let why = words(&refused);
            Ok(Reply::object(refused)
                .quiet_table()
                .failing(Error::denied(why)))
        }
    }
}

/// The refusal message: the reason word, then what to do. Names the key by
/// its prefix only when the database found one by it.
fn words(refused: &crate::domain::apikeys::verify::Refused) -> String {
    let key = refused
        .prefix
        .as_deref()
        .map(|p| format!("API key {p}"))
        .unwrap_or_else(|| "the key".to_owned());
    let hint = match refused.reason {
        Reason::Malformed => "an API key is kw_, 8 letters or digits, _, then 38 letters and digits, 50 characters in all".to_owned(),
        Reason::BadChecksum => "its checksum does not match: it was mistyped or truncated".to_owned(),
        Reason::Unknown => "no key in this database matches it (a deleted user's keys are deleted with them)".to_owned(),
        Reason::Revoked => format!("{key} was revoked (or rotated and past its grace period): use its replacement"),
        Reason::Expired => format!("{key} has expired: create a new one"),
        Reason::IpNotAllowed => format!("{key} may be used only from its allowed networks, and --ip is not in them (or was not given)"),
        Reason::PermissionAbsent => format!("{key}, or its owner now, does not hold the permission asked for"),
        Reason::OwnerInactive => format!("the owner of {key} is disabled, locked by an operator, or gone"),
        Reason::RateLimited => format!(
            "{key} has used up its verifications for this minute: retry in {} s",
            refused.retry_after.unwrap_or(60)
        ),
    };
    format!("API key refused: {}: {hint}", refused.reason.as_str())
}
