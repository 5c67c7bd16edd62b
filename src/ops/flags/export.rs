//! `flags export`: the environment's flags for applications to evaluate
//! offline, as keyward's own document or as the Unleash client API's
//! features document, built so that an Unleash SDK decides every user as
//! [`crate::domain::flags::decide`] (and so `flags eval`) does.
//!
//! How a state becomes Unleash strategies (any strategy true turns the
//! feature on; a feature that is off is off for everyone):
//! - targeted users: a `userWithId` strategy listing them (`userIds`,
//!   comma-separated); an id that list cannot carry (one holding a comma, or
//!   with spaces at either end, which SDKs trim) goes in a `default` strategy
//!   constrained on `userId` `IN` the ids instead;
//! - targeted roles: a `default` strategy constrained on the context field
//!   `roles` (the application passes the user's roles as `,role1,role2,`)
//!   with `STR_CONTAINS` any of `,role,`, case-sensitive;
//! - always, a `flexibleRollout` with the percentage (`rollout`, even `0`:
//!   an enabled feature without strategies would be on for everyone),
//!   `stickiness: userId` and `groupId` the flag's group.

use crate::context::Context;
use crate::domain::flags::{repo, State};
use crate::error::Result;
use crate::ident::{self, Ident};
use crate::store;
use serde::Serialize;
use serde_json::{Map, Value};

/// `flags export --format`.
// No doc comments on the variants: clap would show them in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ExportFormat {
    #[default]
    Json,
    Unleash,
}

/// `flags export`.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The environment (`--env`).
    pub env: String,
    /// The document's format.
    pub format: ExportFormat,
}

/// keyward's own document (`--format json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagsDocument {
    /// The document's schema version: 1.
    pub version: u32,
    /// The environment the states are from.
    pub environment: String,
    /// Every flag, by name.
    pub flags: Vec<FlagEntry>,
}

/// One flag in [`FlagsDocument`]: its definition and its state in the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagEntry {
    /// The name.
    pub name: String,
    /// What it is for (null when none).
    pub description: Option<String>,
    /// The bucketing group (Unleash's `groupId`).
    pub group: String,
    /// On or off in the environment (off when never configured there).
    pub enabled: bool,
    /// The rollout percentage, 0 to 100.
    pub percentage: u8,
    /// Users it is on for whatever the percentage (sorted).
    pub target_users: Vec<String>,
    /// Roles it is on for whatever the percentage (sorted).
    pub target_roles: Vec<String>,
}

/// The Unleash client API's features document (`--format unleash`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnleashDocument {
    /// The client API version: 2.
    pub version: u32,
    /// One feature per flag.
    pub features: Vec<UnleashFeature>,
}

/// One feature of [`UnleashDocument`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnleashFeature {
    /// The flag's name.
    pub name: String,
    /// Its description (empty when none).
    pub description: String,
    /// On or off in the environment.
    pub enabled: bool,
    /// Always `release`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Always `default`.
    pub project: &'static str,
    /// Always false.
    pub stale: bool,
    /// Always false.
    pub impression_data: bool,
    /// The activation strategies: any one true turns the feature on.
    pub strategies: Vec<Strategy>,
    /// Always empty.
    pub variants: Vec<Value>,
}

/// An Unleash activation strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Strategy {
    /// `userWithId`, `flexibleRollout` or `default`.
    pub name: &'static str,
    /// Its parameters, all strings.
    pub parameters: Map<String, Value>,
    /// Conditions that must all hold for the strategy to count.
    pub constraints: Vec<Constraint>,
}

/// A strategy constraint on one context field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Constraint {
    /// The context field (`userId`, or a custom property such as `roles`).
    pub context_name: &'static str,
    /// `IN` or `STR_CONTAINS`.
    pub operator: &'static str,
    /// The values compared with.
    pub values: Vec<String>,
    /// Always false: names are case-sensitive.
    pub case_insensitive: bool,
    /// Always false.
    pub inverted: bool,
}

/// What `flags export` produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Exported {
    /// `--format json`.
    Keyward(FlagsDocument),
    /// `--format unleash`.
    Unleash(UnleashDocument),
}

/// An export with what the command reports about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// The document.
    pub document: Exported,
    /// How many flags it holds.
    pub flags: usize,
    /// How many of them are configured in the environment (the rest are off there).
    pub configured: usize,
}

/// Every flag with its state in `req.env`, as a document applications load.
pub fn export(ctx: &mut Context, req: &ExportRequest) -> Result<Export> {
    ident::check(&[Ident::Environment(&req.env)])?;
    let all = store::read(ctx.store()?, |c| repo::all_in(c, &req.env))?;
    let configured = all.iter().filter(|(_, s)| s.is_some()).count();
    let entries: Vec<FlagEntry> = all
        .into_iter()
        .map(|(f, s)| {
            let s = s.unwrap_or_default();
            FlagEntry {
                name: f.name,
                description: f.description,
                group: f.group,
                enabled: s.enabled,
                percentage: s.percentage,
                target_users: s.target_users,
                target_roles: s.target_roles,
            }
        })
        .collect();
    let flags = entries.len();
    let document = match req.format {
        ExportFormat::Json => Exported::Keyward(FlagsDocument {
            version: 1,
            environment: req.env.clone(),
            flags: entries,
        }),
        ExportFormat::Unleash => Exported::Unleash(UnleashDocument {
            version: 2,
            features: entries.into_iter().map(unleash_feature).collect(),
        }),
    };
    Ok(Export {
        document,
        flags,
        configured,
    })
}

/// One flag as an Unleash feature.
pub fn unleash_feature(f: FlagEntry) -> UnleashFeature {
    let state = State {
        enabled: f.enabled,
        percentage: f.percentage,
        target_users: f.target_users,
        target_roles: f.target_roles,
    };
    UnleashFeature {
        strategies: strategies(&state, &f.group),
        name: f.name,
        description: f.description.unwrap_or_default(),
        enabled: state.enabled,
        kind: "release",
        project: "default",
        stale: false,
        impression_data: false,
        variants: Vec::new(),
    }
}

/// Whether a user id can go in `userWithId`'s comma-separated list, which
/// SDKs split on commas and trim.
fn listable(user: &str) -> bool {
    !user.is_empty() && !user.contains(',') && user.trim() == user
}

/// The context field the application fills with the user's roles (`,a,b,`).
pub const ROLES_FIELD: &str = "roles";

/// A state's strategies (see the module's documentation).
pub fn strategies(state: &State, group: &str) -> Vec<Strategy> {
    let mut out = Vec::new();
    let (listed, odd): (Vec<&String>, Vec<&String>) =
        state.target_users.iter().partition(|u| listable(u));
    if !listed.is_empty() {
        let ids: Vec<&str> = listed.iter().map(|u| u.as_str()).collect();
        let mut parameters = Map::new();
        parameters.insert("userIds".into(), ids.join(",").into());
        out.push(Strategy {
            name: "userWithId",
            parameters,
            constraints: Vec::new(),
        });
    }
    if !odd.is_empty() {
        out.push(constrained(
            "userId",
            "IN",
            odd.into_iter().cloned().collect(),
        ));
    }
    // A role holding a comma matches no role keyward knows (and no `,role,` needle).
    let needles: Vec<String> = (state.target_roles.iter())
        .filter(|r| !r.is_empty() && !r.contains(','))
        .map(|r| format!(",{r},"))
        .collect();
    if !needles.is_empty() {
        out.push(constrained(ROLES_FIELD, "STR_CONTAINS", needles));
    }
    let mut parameters = Map::new();
    parameters.insert("rollout".into(), state.percentage.to_string().into());
    parameters.insert("stickiness".into(), "userId".into());
    parameters.insert("groupId".into(), group.into());
    out.push(Strategy {
        name: "flexibleRollout",
        parameters,
        constraints: Vec::new(),
    });
    out
}

/// A `default` strategy (always true) gated by one constraint.
fn constrained(field: &'static str, operator: &'static str, values: Vec<String>) -> Strategy {
    Strategy {
        name: "default",
        parameters: Map::new(),
        constraints: vec![Constraint {
            context_name: field,
            operator,
            values,
            case_insensitive: false,
            inverted: false,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    fn names(v: &[Value]) -> Vec<&str> {
        v.iter().map(|s| s["name"].as_str().unwrap()).collect()
    }

    fn strategies_json(s: &State, group: &str) -> Vec<Value> {
        let got = strategies(s, group);
        got.iter()
            .map(|s| serde_json::to_value(s).unwrap())
            .collect()
    }

    #[test]
    fn a_rollout_is_always_there_even_at_zero() {
        let s = State {
            enabled: true,
            ..State::default()
        };
        let got = strategies_json(&s, "g");
        assert_eq!(names(&got), ["flexibleRollout"]);
        assert_eq!(
            got[0]["parameters"],
            json!({"rollout": "0", "stickiness": "userId", "groupId": "g"})
        );
    }

    #[test]
    fn targets_become_strategies() {
        let s = State {
            enabled: true,
            percentage: 25,
            target_users: vec![" pad".into(), "123".into(), "a,b".into(), "ann".into()],
            target_roles: vec!["beta".into(), "ops".into()],
        };
        let got = strategies_json(&s, "checkout");
        assert_eq!(
            names(&got),
            ["userWithId", "default", "default", "flexibleRollout"]
        );
        assert_eq!(got[0]["parameters"]["userIds"], "123,ann");
        assert_eq!(got[1]["constraints"][0]["contextName"], "userId");
        assert_eq!(got[1]["constraints"][0]["operator"], "IN");
        assert_eq!(got[1]["constraints"][0]["values"], json!([" pad", "a,b"]));
        assert_eq!(
            got[2]["constraints"][0],
            json!({"contextName": "roles", "operator": "STR_CONTAINS",
                "values": [",beta,", ",ops,"], "caseInsensitive": false, "inverted": false})
        );
        assert_eq!(got[3]["parameters"]["rollout"], "25");
    }

    #[test]
    fn features_have_the_client_api_fields() {
        let f = unleash_feature(FlagEntry {
            name: "n".into(),
            description: None,
            group: "n".into(),
            enabled: false,
            percentage: 10,
            target_users: vec![],
            target_roles: vec![],
        });
        let v = serde_json::to_value(f).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "name",
                "description",
                "enabled",
                "type",
                "project",
                "stale",
                "impressionData",
                "strategies",
                "variants"
            ]
        );
        assert_eq!(v["description"], "");
        assert_eq!(v["type"], "release");
    }
}
