//! Changing one setting: `set`, `delete`, `rollback`. Each decides on the
//! row it reads inside its audited write transaction.

use super::with_ring;
use crate::context::Context;
use crate::domain::keys;
use crate::domain::settings::envs::{self, EmptyEnv};
use crate::domain::settings::{
    self, stays_secret, Change, Desired, Secrecy, Stored, ValueType, Written,
};
use crate::error::Result;
use crate::ident::{self, Ident};
use crate::store::{self, Access};
use zeroize::Zeroizing;

/// `settings set`: the value as given, and what the command line said about the rest.
#[derive(Debug)]
pub struct SetRequest {
    /// Environment.
    pub env: String,
    /// Key.
    pub key: String,
    /// The value as given (checked against the type here).
    pub value: Zeroizing<String>,
    /// `--secret`: store it encrypted. Without it an existing secret stays secret.
    pub secret: bool,
    /// `--type` (default: the current type, else string).
    pub value_type: Option<ValueType>,
    /// `--category` (default: the current one).
    pub category: Option<String>,
    /// `--description` (default: the current one).
    pub description: Option<String>,
    /// `--if-version`: check-and-set.
    pub if_version: Option<i64>,
}

/// What `set` did.
#[derive(Debug)]
pub struct SetOutcome {
    /// The write.
    pub written: Written,
    /// Whether the value was stored as a secret.
    pub secret: bool,
    /// Set when the setting is the first of its environment (a mistyped `--env`?).
    pub new_environment: Option<EmptyEnv>,
}

/// The state `set` writes, from the request and the live row read in the
/// transaction; its canonical value within `max` bytes.
fn desired(req: &SetRequest, current: Option<&Stored>, max: u64) -> Result<Desired> {
    let live = current.and_then(Stored::live);
    let ty = req
        .value_type
        .or(live.map(|c| c.value_type))
        .unwrap_or(ValueType::String);
    let value = Zeroizing::new(ty.normalize(&req.key, &req.value)?);
    settings::check_size(&req.key, &value, max)?;
    Ok(Desired {
        value,
        value_type: ty,
        secret: stays_secret(current, Secrecy::secret_if(req.secret)),
        category: req
            .category
            .clone()
            .or_else(|| live.and_then(|c| c.category.clone())),
        description: req
            .description
            .clone()
            .or_else(|| live.and_then(|c| c.description.clone())),
    })
}

/// Creates or changes a setting (a new version when anything differs).
pub fn set(ctx: &mut Context, req: &SetRequest) -> Result<SetOutcome> {
    ident::check(&[Ident::Environment(&req.env), Ident::SettingKey(&req.key)])?;
    let fields = [
        req.category.as_deref().map(Ident::Category),
        req.description.as_deref().map(Ident::Description),
    ];
    ident::check(&fields.into_iter().flatten().collect::<Vec<_>>())?;
    let max = ctx.config.max_value_size;
    // Refused before any transaction (the canonical value is checked again).
    settings::check_size(&req.key, &req.value, max)?;
    let (env, key) = (req.env.as_str(), req.key.as_str());
    with_ring(ctx, Access::Write, |c, ring, stamp| {
        keys::gate(c, ring.get(), Some(stamp))?;
        let current = settings::find(c, env, key)?;
        let want = desired(req, current.as_ref(), max)?;
        let new_environment = match current.as_ref().and_then(Stored::live) {
            None => envs::empty_environment(c, env)?,
            Some(_) => None,
        };
        ring.require_if(want.secret || current.as_ref().is_some_and(|c| c.secret))?;
        settings::check_version(env, key, current.as_ref(), req.if_version)?;
        let change = Change {
            env,
            key,
            current: current.as_ref(),
            want: &want,
            rollback: false,
        };
        Ok(SetOutcome {
            written: settings::apply_one(c, stamp, ring.get(), change)?,
            secret: want.secret,
            new_environment,
        })
    })
}

/// `settings delete`.
#[derive(Debug, Clone)]
pub struct DeleteRequest {
    /// Environment.
    pub env: String,
    /// Key.
    pub key: String,
    /// `--if-version`: check-and-set.
    pub if_version: Option<i64>,
}

/// Hides a setting (history kept), after confirmation.
pub fn delete(ctx: &mut Context, req: &DeleteRequest) -> Result<Written> {
    ident::check(&[Ident::Environment(&req.env), Ident::SettingKey(&req.key)])?;
    let (env, key) = (req.env.as_str(), req.key.as_str());
    // Only to say "not found" before asking; the write decides on its own read.
    store::read(ctx.store()?, |c| settings::get(c, env, key))?;
    ctx.confirm(&format!("delete setting '{key}' from '{env}'"))?;
    crate::ops::audited(ctx, |c, stamp| {
        settings::delete_one(c, stamp, env, key, req.if_version)
    })
}

/// `settings rollback`.
#[derive(Debug, Clone)]
pub struct RollbackRequest {
    /// Environment.
    pub env: String,
    /// Key.
    pub key: String,
    /// The version whose state is written back.
    pub to_version: i64,
}

/// Writes an earlier version back as a new version (also for a deleted setting).
pub fn rollback(ctx: &mut Context, req: &RollbackRequest) -> Result<Written> {
    ident::check(&[Ident::Environment(&req.env), Ident::SettingKey(&req.key)])?;
    let (env, key) = (req.env.as_str(), req.key.as_str());
    let max = ctx.config.max_value_size;
    with_ring(ctx, Access::Write, |c, ring, stamp| {
        keys::gate(c, ring.get(), Some(stamp))?;
        let versions = settings::history(c, env, key)?;
        let current = settings::find(c, env, key)?;
        ring.require_if(
            versions.iter().any(|v| v.secret) || current.as_ref().is_some_and(|c| c.secret),
        )?;
        let want = settings::state_at(ring.get(), env, key, &versions, req.to_version)?;
        settings::check_size(key, &want.value, max)?;
        let change = Change {
            env,
            key,
            current: current.as_ref(),
            want: &want,
            rollback: true,
        };
        settings::apply_one(c, stamp, ring.get(), change)
    })
}
