//! `settings promote`: settings copied from one environment to another, as
//! audited changes there, decided on rows read in the writing transaction.

use super::{with_ring, Ring};
use crate::context::Context;
use crate::domain::keys;
use crate::domain::settings::{
    self, stays_secret, Action, Change, Changes, Desired, Journal, Secrecy,
};
use crate::error::Result;
use crate::ident::{self, Ident};
use crate::output::TableRow;
use crate::store::{Access, Conn};
use serde::Serialize;

/// `settings promote`.
#[derive(Debug, Clone)]
pub struct PromoteRequest {
    /// Keys to copy.
    pub keys: Vec<String>,
    /// Source environment.
    pub from: String,
    /// Target environment.
    pub to: String,
    /// Plan only.
    pub dry_run: bool,
}

/// What promoting one key does (or, in a dry run, would do) in the target.
#[derive(Debug, Clone, Serialize)]
pub struct PromoteRow {
    /// Key.
    pub key: String,
    /// `create`, `update` or `unchanged`.
    pub action: Action,
    /// The fields that change.
    pub fields: Changes,
    /// The target's version after it.
    pub version: i64,
}

impl TableRow for PromoteRow {
    const COLUMNS: &'static [&'static str] = &["key", "action", "fields", "version"];
}

/// Copies `keys` from one environment to another (or plans it, with `dry_run`).
pub fn promote(ctx: &mut Context, req: &PromoteRequest) -> Result<Vec<PromoteRow>> {
    ident::check(&[Ident::Environment(&req.from), Ident::Environment(&req.to)])?;
    req.keys
        .iter()
        .try_for_each(|k| ident::check(&[Ident::SettingKey(k)]))?;
    let access = if req.dry_run {
        Access::Read
    } else {
        Access::Write
    };
    let max = ctx.config.max_value_size;
    with_ring(ctx, access, |c, ring, stamp| {
        let stamp = (!req.dry_run).then_some(stamp);
        keys::gate(c, ring.get(), stamp)?;
        ring.require_if(settings::repo::any_secret(c, &req.from, &req.to)?)?;
        let mut journal = stamp.map(|s| Journal::new(c, s)).transpose()?;
        let rows = req
            .keys
            .iter()
            .map(|key| one(c, ring, journal.as_mut(), req, key, max))
            .collect::<Result<Vec<_>>>()?;
        if let Some(mut j) = journal {
            j.flush(c)?;
        }
        Ok(rows)
    })
}

/// Plans (and, with a journal, writes) one key.
fn one(
    c: &mut dyn Conn,
    ring: &Ring<'_>,
    journal: Option<&mut Journal<'_>>,
    req: &PromoteRequest,
    key: &str,
    max: u64,
) -> Result<PromoteRow> {
    let (from, to) = (req.from.as_str(), req.to.as_str());
    let src = settings::get(c, from, key)?;
    let value = settings::plaintext(
        ring.get(),
        from,
        key,
        src.secret,
        src.value.as_deref().unwrap_or_default(),
    )?;
    settings::check_size(key, &value, max)?;
    let target = settings::find(c, to, key)?;
    let want = Desired {
        secret: stays_secret(target.as_ref(), Secrecy::secret_if(src.secret)),
        ..Desired::of(&src, value)
    };
    let fields = settings::changed_fields(ring.get(), target.as_ref(), &want)?;
    let current_version = target.as_ref().map_or(0, |t| t.version);
    // What the change makes (or, in a dry run, would have made).
    let mut version = if fields.is_unchanged() {
        current_version
    } else {
        current_version + 1
    };
    if let (Some(j), false) = (journal, fields.is_unchanged()) {
        let change = Change {
            env: to,
            key,
            current: target.as_ref(),
            want: &want,
            rollback: false,
        };
        version = settings::apply(c, j, ring.get(), change)?.version;
    }
    Ok(PromoteRow {
        key: key.to_owned(),
        action: Action::of(&fields),
        fields,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_their_columns() {
        let row = PromoteRow {
            key: "a".into(),
            action: Action::Unchanged,
            fields: Changes::Fields(vec![]),
            version: 3,
        };
        crate::output::assert_columns(&row);
        assert_eq!(
            serde_json::to_value(&row).unwrap(),
            serde_json::json!({"key": "a", "action": "unchanged", "fields": [], "version": 3})
        );
    }
}
