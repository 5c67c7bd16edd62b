//! The Unleash export decides as `flags eval` does: for 10,000 user ids and
//! flags covering every kind of state, an evaluator written here from
//! Unleash's documented client semantics, fed the `--format unleash`
//! document, agrees with `flags eval --users-stdin` on every decision.
//!
//! The evaluator is independent of keyward's code: its own MurmurHash3
//! x86_32 (checked against published vectors and Unleash's examples), and
//! Unleash's rules as its client specification states them:
//! - a feature that is off is off; an enabled feature with no strategy is on;
//!   otherwise it is on when any strategy is true, and a strategy is true
//!   when all its constraints hold and its own rule does;
//! - `default`: true; `userWithId`: `userIds` split on `,` and trimmed holds
//!   the context's `userId`; `flexibleRollout` (stickiness `userId`): false
//!   without a `userId`, else `rollout > 0 && normalizedValue <= rollout`,
//!   where `normalizedValue = murmur3("<groupId>:<userId>", 0) % 100 + 1`;
//! - a constraint reads `contextName` from the context's own fields
//!   (`userId`) or its `properties`; a missing field fails `IN` and
//!   `STR_*`; `caseInsensitive` and `inverted` as documented.

use crate::cli_test;
use crate::flags_eval::{add_flag, add_members, run_with_cohort, set_state, St};
use serde_json::Value;
use std::collections::HashMap;

/// MurmurHash3 x86_32, written from Austin Appleby's reference (SMHasher).
fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h = seed;
    let blocks = data.chunks_exact(4);
    let tail = blocks.remainder();
    for b in blocks {
        h ^= mix(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u32, |k, b| (k << 8) | u32::from(*b));
        h ^= mix(k);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Unleash's `normalizedValue` (seed 0), 1 to 100.
fn normalized(group: &str, user: &str) -> u32 {
    murmur3_x86_32(format!("{group}:{user}").as_bytes(), 0) % 100 + 1
}

#[test]
fn the_test_murmur3_matches_published_vectors() {
    let vectors: [(&[u8], u32, u32); 10] = [
        (b"", 0, 0),
        (b"", 1, 0x514e_28b7),
        (b"", 0xffff_ffff, 0x81f1_6f39),
        (b"\0\0\0\0", 0, 0x2362_f9de),
        (b"a", 0x9747_b28c, 0x7fa0_9ea6),
        (b"aaaa", 0x9747_b28c, 0x5a97_808a),
        (b"abc", 0, 0xb3dd_93fa),
        (b"hello", 0, 0x248b_fa47),
        (b"Hello, world!", 0x9747_b28c, 0x2488_4cba),
        (
            b"The quick brown fox jumps over the lazy dog",
            0,
            0x2e4f_f723,
        ),
    ];
    for (data, seed, want) in vectors {
        assert_eq!(murmur3_x86_32(data, seed), want, "{data:?} seed {seed:#x}");
    }
    // Unleash's client specification.
    assert_eq!(normalized("gr1", "123"), 73);
    assert_eq!(normalized("groupX", "999"), 25);
}

/// What an application puts in its Unleash context (see the README).
struct Context<'a> {
    user_id: &'a str,
    properties: HashMap<&'static str, String>,
}

fn context_value<'a>(ctx: &'a Context<'_>, field: &str) -> Option<&'a str> {
    match field {
        "userId" => Some(ctx.user_id),
        other => ctx.properties.get(other).map(String::as_str),
    }
}

fn constraint_holds(c: &Value, ctx: &Context<'_>) -> bool {
    let values: Vec<&str> = (c["values"].as_array().unwrap().iter())
        .map(|v| v.as_str().unwrap())
        .collect();
    let fold = c["caseInsensitive"].as_bool().unwrap_or(false);
    let norm = |s: &str| if fold { s.to_lowercase() } else { s.to_owned() };
    let field = context_value(ctx, c["contextName"].as_str().unwrap());
    let op = c["operator"].as_str().unwrap();
    let result = match (op, field) {
        ("NOT_IN", None) => true,
        (_, None) => false,
        ("IN", Some(v)) => values.iter().any(|x| norm(x) == norm(v)),
        ("NOT_IN", Some(v)) => !values.iter().any(|x| norm(x) == norm(v)),
        ("STR_CONTAINS", Some(v)) => values.iter().any(|x| norm(v).contains(&norm(x))),
        ("STR_STARTS_WITH", Some(v)) => values.iter().any(|x| norm(v).starts_with(&norm(x))),
        ("STR_ENDS_WITH", Some(v)) => values.iter().any(|x| norm(v).ends_with(&norm(x))),
        (other, _) => panic!("operator {other} is not used by keyward's export"),
    };
    result != c["inverted"].as_bool().unwrap_or(false)
}

fn strategy_on(s: &Value, ctx: &Context<'_>) -> bool {
    let constraints = s["constraints"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if !constraints.iter().all(|c| constraint_holds(c, ctx)) {
        return false;
    }
    let p = &s["parameters"];
    match s["name"].as_str().unwrap() {
        "default" => true,
        "userWithId" => {
            (p["userIds"].as_str().unwrap().split(',')).any(|id| id.trim() == ctx.user_id)
        }
        "flexibleRollout" => {
            assert_eq!(p["stickiness"], "userId");
            let rollout: u32 = p["rollout"].as_str().unwrap().parse().unwrap();
            let group = p["groupId"].as_str().unwrap();
            !ctx.user_id.is_empty() && rollout > 0 && normalized(group, ctx.user_id) <= rollout
        }
        other => panic!("strategy {other} is not used by keyward's export"),
    }
}

fn feature_on(f: &Value, ctx: &Context<'_>) -> bool {
    let strategies = f["strategies"].as_array().unwrap();
    f["enabled"].as_bool().unwrap()
        && (strategies.is_empty() || strategies.iter().any(|s| strategy_on(s, ctx)))
}

/// The cohort: application ids of several shapes, targeted ids, and users
/// holding targeted roles in the database.
fn cohort(members: &[(&str, &[&str])]) -> Vec<String> {
    let mut ids: Vec<String> = (0..10_000u32)
        .map(|i| match i % 4 {
            0 => format!("user-{i}"),
            1 => (u64::from(i) * 7919 % 1_000_003).to_string(),
            2 => format!("person{i}@example.com"),
            _ => format!("{:08x}-acct", i.wrapping_mul(2_654_435_761)),
        })
        .collect();
    let special = ["42", "vip@example.com", "a,b", "ann"];
    for (i, id) in special
        .iter()
        .chain(members.iter().map(|(u, _)| u))
        .enumerate()
    {
        ids[i * 97 + 5] = (*id).to_owned();
    }
    ids
}

cli_test! {
    /// 10,000 users × six flags: `flags eval --users-stdin` and the Unleash
    /// export read by an independent evaluator make the same decisions.
    fn unleash_export_decides_like_eval(env) {
        env.init();
        env.run(&["roles", "add", "beta"]).ok();
        env.run(&["roles", "add", "ops"]).ok();
        let members: Vec<(String, Vec<&str>)> = (0..30)
            .map(|i| (format!("member{i:02}"), match i % 4 {
                0 => vec!["beta"],
                1 => vec!["ops", "viewer"],
                2 => vec!["viewer"],
                _ => vec!["beta", "ops"],
            }))
            .collect();
        let members: Vec<(&str, &[&str])> = members.iter().map(|(u, r)| (u.as_str(), r.as_slice())).collect();
        add_members(env, &members);
        let flags: [(&str, Option<&str>, St<'_>); 6] = [
            ("rollout25", None, St { enabled: true, percentage: 25, users: &[], roles: &[] }),
            ("targeted", Some("shared"), St { enabled: true, percentage: 10, users: &["42", "vip@example.com", "a,b"], roles: &["beta", "ops"] }),
            ("switched-off", Some("shared"), St { enabled: false, percentage: 50, users: &["42"], roles: &["beta"] }),
            ("zero", None, St { enabled: true, percentage: 0, users: &[], roles: &[] }),
            ("everyone", None, St { enabled: true, percentage: 100, users: &[], roles: &[] }),
            ("roles-only", None, St { enabled: true, percentage: 0, users: &[], roles: &["ops"] }),
        ];
        for (name, group, state) in &flags {
            add_flag(env, name, *group);
            set_state(env, name, "staging", state);
            // A different production state, to show the export is per environment.
            set_state(env, name, "production", &St { enabled: !state.enabled, percentage: 100 - state.percentage, users: &[], roles: &[] });
        }
        let doc = env.run(&["flags", "export", "--format", "unleash", "--env", "staging"]).ok().json();
        assert_eq!(doc["version"], 2);
        let features: HashMap<&str, &Value> = (doc["features"].as_array().unwrap().iter())
            .map(|f| (f["name"].as_str().unwrap(), f))
            .collect();
        let roles_of: HashMap<&str, &[&str]> = members.iter().copied().collect();
        let ids = cohort(&members);
        let input: String = ids.iter().map(|id| format!("{id}\n")).collect();
        let mut on_counts = Vec::new();
        for (name, _, _) in &flags {
            let out = run_with_cohort(env, &["flags", "eval", name, "--users-stdin", "--env", "staging", "-o", "json"], &input).ok();
            let decisions: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            assert_eq!(decisions.len(), ids.len(), "{name}");
            let mut on = 0;
            for (d, id) in decisions.iter().zip(&ids) {
                assert_eq!(d["user"], id.as_str());
                let roles = roles_of.get(id.as_str()).copied().unwrap_or(&[]);
                let ctx = Context {
                    user_id: id,
                    properties: HashMap::from([("roles", format!(",{},", roles.join(",")))]),
                };
                let unleash = feature_on(features[name], &ctx);
                assert_eq!(d["enabled"], unleash, "{name} for {id:?}: keyward {d}, Unleash {unleash}");
                on += usize::from(unleash);
            }
            on_counts.push(on);
        }
        // The cases are real: some on, some off, targets included.
        let [r25, targeted, off, zero, all, roles_only] = on_counts[..] else { unreachable!() };
        assert!((2300..2700).contains(&r25), "25 % of 10,000: {r25}");
        assert!((900..1300).contains(&targeted), "10 % and the targets: {targeted}");
        assert_eq!((off, zero, all), (0, 0, ids.len()));
        assert_eq!(roles_only, 15, "members holding ops");
    }
}
