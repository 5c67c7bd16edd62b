//! Issue 10's "Done when", as a user would try it with the verbs alone: a
//! flag at 25 % in staging and off in production, targeting that overrides
//! the percentage, and every change in `audit list` and `flags show`.

use crate::cli_test;
use crate::util::Env;
use serde_json::Value;

fn eval(env: &Env, environment: &str, user: &str) -> Value {
    env.run(&[
        "--env",
        environment,
        "flags",
        "eval",
        "checkout",
        "--user",
        user,
        "-o",
        "json",
    ])
    .ok()
    .json()
}

cli_test! {
    fn staging_at_25_percent_production_off_targets_override(env) {
        env.init();
        env.run_with_stdin(
            &["users", "add", "ann", "--email", "ann@example.com", "--role", "viewer", "--password-stdin"],
            Some("correct horse battery staple 9\n"),
        )
        .ok();
        env.run(&["flags", "add", "checkout", "--description", "One-page checkout"]).ok();
        env.run(&["--env", "staging", "flags", "enable", "checkout"]).ok();
        env.run(&["--env", "staging", "flags", "set", "checkout", "--percentage", "25"]).ok();

        // 25 % in staging: exactly the users whose bucket is at most 25; off in production.
        let ids: Vec<String> = (0..400).map(|i| format!("user-{i}")).collect();
        let mut on = 0;
        for id in &ids {
            let d = eval(env, "staging", id);
            let bucket = d["bucket"].as_u64().unwrap();
            assert_eq!(d["enabled"], bucket <= 25, "{d}");
            assert_eq!(d["reason"], if bucket <= 25 { "rollout" } else { "not_in_rollout" });
            on += usize::from(bucket <= 25);
            if id.ends_with('0') {
                let p = eval(env, "production", id);
                assert_eq!((p["enabled"].as_bool(), p["reason"].as_str()), (Some(false), Some("disabled")));
                assert_eq!(p["bucket"], d["bucket"], "the bucket depends on the group and user only");
            }
        }
        assert!((60..=140).contains(&on), "about a quarter of 400 users: {on}");

        // Targeting overrides the percentage, in staging only.
        let out = ids.iter().find(|id| eval(env, "staging", id)["enabled"] == false).unwrap().clone();
        env.run(&["--env", "staging", "flags", "target", "checkout", "--user", &out]).ok();
        assert_eq!(eval(env, "staging", &out)["reason"], "targeted_user");
        assert_eq!(eval(env, "production", &out)["reason"], "disabled");
        env.run(&["--env", "staging", "flags", "set", "checkout", "--percentage", "0"]).ok();
        assert_eq!(eval(env, "staging", "ann")["reason"], "not_in_rollout");
        env.run(&["--env", "staging", "flags", "target", "checkout", "--role", "viewer"]).ok();
        assert_eq!(eval(env, "staging", "ann")["reason"], "targeted_role");
        env.run(&["--env", "staging", "flags", "eval", "checkout", "--user", "ann", "--exit-code"]).ok();
        env.run(&["--env", "production", "flags", "eval", "checkout", "--user", "ann", "--exit-code"]).code(5);

        // Every change shows in the audit log and in `flags show`.
        let audit = env.run(&["audit", "list", "--target", "checkout", "-o", "json"]).ok().json();
        let mut actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        actions.sort_unstable();
        assert_eq!(
            actions,
            ["flag.create", "flag.enable", "flag.set_percentage", "flag.set_percentage", "flag.target", "flag.target"],
            "{audit}"
        );
        let show = env.run(&["flags", "show", "checkout", "-o", "json"]).ok().json();
        let staging = &show["environments"]["staging"];
        assert_eq!(staging["enabled"], true);
        assert_eq!(staging["percentage"], 0);
        assert_eq!(staging["target_users"], serde_json::json!([out]));
        assert_eq!(staging["target_roles"], serde_json::json!(["viewer"]));
        assert!(show["environments"].get("production").is_none(), "{show}");
        env.run(&["audit", "verify"]).ok();
    }
}
