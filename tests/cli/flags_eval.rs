//! `keyward flags eval` and `flags export`: reasons, roles from the database
//! and `--role`, `--exit-code`, environments, cohorts on stdin, and the
//! exported documents. Flags are written as rows (`env.sql`), so these tests
//! stand on eval and export alone. The Unleash export is checked against an
//! evaluator written here from Unleash's documented semantics
//! (`flags_unleash.rs`), with its own MurmurHash3.

use crate::cli_test;
use crate::util::{Env, Run};
use serde_json::{json, Value};

/// A stored timestamp both backends accept.
const T: &str = "'2030-01-01T00:00:00.000000Z'";

/// Adds a flag's definition (group NULL: the flag's name).
pub fn add_flag(env: &Env, name: &str, group: Option<&str>) {
    let group = group.map_or("NULL".to_owned(), |g| format!("'{g}'"));
    env.sql(&format!(
        "INSERT INTO feature_flags (name, description, group_id, created_at, updated_at) \
         VALUES ('{name}', 'about {name}', {group}, {T}, {T})"
    ))
    .unwrap();
}

/// A flag's state in one environment.
pub struct St<'a> {
    pub enabled: bool,
    pub percentage: u8,
    pub users: &'a [&'a str],
    pub roles: &'a [&'a str],
}

/// A list of names in its stored form: a sorted JSON array, quoted for SQL.
fn names(names: &[&str]) -> String {
    let mut v = names.to_vec();
    v.sort_unstable();
    serde_json::to_string(&v).unwrap().replace('\'', "''")
}

/// Sets a flag's state in `environment`.
pub fn set_state(env: &Env, name: &str, environment: &str, s: &St<'_>) {
    let (users, roles) = (names(s.users), names(s.roles));
    let enabled = if s.enabled { "TRUE" } else { "FALSE" };
    env.sql(&format!(
        "INSERT INTO feature_flag_states (flag_id, environment, enabled, percentage, target_users, \
         target_roles, created_at, updated_at) SELECT id, '{environment}', {enabled}, {}, '{users}', \
         '{roles}', {T}, {T} FROM feature_flags WHERE name = '{name}'",
        s.percentage
    ))
    .unwrap();
}

/// Adds users (as rows) holding the given roles (which must exist).
pub fn add_members(env: &Env, members: &[(&str, &[&str])]) {
    let users: Vec<String> = (members.iter())
        .map(|(u, _)| format!("('{u}', '{u}@example.com', 'not-a-hash', {T}, {T})"))
        .collect();
    env.sql(&format!(
        "INSERT INTO users (username, email, password_hash, created_at, updated_at) VALUES {}",
        users.join(", ")
    ))
    .unwrap();
    let pairs: Vec<String> = (members.iter())
        .flat_map(|(u, roles)| roles.iter().map(move |r| format!("'{u}:{r}'")))
        .collect();
    if !pairs.is_empty() {
        env.sql(&format!(
            "INSERT INTO user_roles (user_id, role_id, assigned_at) SELECT u.id, r.id, {T} \
             FROM users u, roles r WHERE u.username || ':' || r.name IN ({})",
            pairs.join(", ")
        ))
        .unwrap();
    }
}

/// Runs keyward with `input` as stdin from a file: a cohort's output fills a
/// pipe long before its input is all written.
pub fn run_with_cohort(env: &Env, args: &[&str], input: &str) -> Run {
    let path = env.home.path().join("cohort.txt");
    std::fs::write(&path, input).unwrap();
    let out = env
        .command(args)
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .expect("keyward runs");
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `flags eval` for one user, parsed.
fn eval(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["flags", "eval"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    env.run(&all).ok().json()
}

cli_test! {
    /// Each reason, in each environment; the bucket is Unleash's (`gr1:123` → 73, `groupX:999` → 25).
    fn reasons_per_environment(env) {
        env.init();
        add_flag(env, "checkout", Some("gr1"));
        set_state(env, "checkout", "staging", &St { enabled: true, percentage: 73, users: &["vip@example.com"], roles: &["beta"] });
        set_state(env, "checkout", "production", &St { enabled: false, percentage: 100, users: &["123"], roles: &[] });
        env.run(&["roles", "add", "beta"]).ok();
        add_members(env, &[("ann", &["beta"])]);

        let e = eval(env, &["checkout", "--user", "123", "--env", "staging"]);
        assert_eq!(e, json!({"user": "123", "flag": "checkout", "environment": "staging",
            "enabled": true, "reason": "rollout", "bucket": 73}));
        assert_eq!(eval(env, &["checkout", "--user", "vip@example.com", "--env", "staging"])["reason"], "targeted_user");
        assert_eq!(eval(env, &["checkout", "--user", "ann", "--env", "staging"])["reason"], "targeted_role");
        // Targeted in production, but the flag is off there: off for everyone.
        let e = eval(env, &["checkout", "--user", "123", "--env", "production"]);
        assert_eq!((e["enabled"].clone(), e["reason"].clone(), e["bucket"].clone()), (json!(false), json!("disabled"), json!(73)));
        // Never configured in development: off.
        assert_eq!(eval(env, &["checkout", "--user", "123"])["reason"], "disabled");
        assert_eq!(eval(env, &["checkout", "--user", "123"])["environment"], "development");
        // KEYWARD_ENV chooses the environment as --env does.
        env.vars.push(("KEYWARD_ENV".into(), "staging".into()));
        assert_eq!(eval(env, &["checkout", "--user", "123"])["reason"], "rollout");
        env.vars.clear();
        // The boundary is inclusive: bucket 73 is out of a 72 % rollout.
        env.sql("UPDATE feature_flag_states SET percentage = 72 WHERE environment = 'staging'").unwrap();
        let e = eval(env, &["checkout", "--user", "123", "--env", "staging"]);
        assert_eq!((e["enabled"].clone(), e["reason"].clone()), (json!(false), json!("not_in_rollout")));
        // The group, not the name, is hashed: `groupX:999` → 25.
        add_flag(env, "other", Some("groupX"));
        set_state(env, "other", "staging", &St { enabled: true, percentage: 25, users: &[], roles: &[] });
        let e = eval(env, &["other", "--user", "999", "--env", "staging"]);
        assert_eq!((e["bucket"].clone(), e["reason"].clone()), (json!(25), json!("rollout")));
        // Several users: an array, in the order given; the table names the columns.
        let many = eval(env, &["other", "--user", "999", "--user", "ann", "--user", "999", "--env", "staging"]);
        let users: Vec<&str> = many.as_array().unwrap().iter().map(|e| e["user"].as_str().unwrap()).collect();
        assert_eq!(users, ["999", "ann", "999"]);
        let table = env.run(&["flags", "eval", "other", "--user", "999", "--user", "ann", "--env", "staging"]).ok().stdout;
        assert!(table.contains("REASON") && table.contains("rollout"), "{table}");
    }
}

cli_test! {
    /// A user's roles come from the database when the user exists, plus --role.
    fn roles_from_the_database_and_the_command_line(env) {
        env.init();
        add_flag(env, "beta-ui", None);
        set_state(env, "beta-ui", "development", &St { enabled: true, percentage: 0, users: &[], roles: &["beta"] });
        env.run(&["roles", "add", "beta"]).ok();
        env.run_with_stdin(&["users", "add", "ann", "--email", "ann@example.com", "--password-stdin"], Some("correct horse battery staple 9\n")).ok();
        assert_eq!(eval(env, &["beta-ui", "--user", "ann"])["reason"], "not_in_rollout");
        env.run(&["roles", "assign", "beta", "ann"]).ok();
        assert_eq!(eval(env, &["beta-ui", "--user", "ann"])["reason"], "targeted_role");
        assert_eq!(eval(env, &["beta-ui", "--user", "ann", "--role", "viewer"])["reason"], "targeted_role");
        // Someone keyward does not know: only --role counts.
        assert_eq!(eval(env, &["beta-ui", "--user", "42"])["reason"], "not_in_rollout");
        assert_eq!(eval(env, &["beta-ui", "--user", "42", "--role", "beta"])["reason"], "targeted_role");
        assert_eq!(eval(env, &["beta-ui", "--user", "42", "--role", "viewer", "--role", "beta"])["reason"], "targeted_role");
        // Holding a role that is not targeted does nothing.
        env.run(&["roles", "unassign", "beta", "ann"]).ok();
        env.run(&["roles", "assign", "viewer", "ann"]).ok();
        assert_eq!(eval(env, &["beta-ui", "--user", "ann"])["reason"], "not_in_rollout");
        // A malformed --role is refused before anything is read.
        env.run(&["flags", "eval", "beta-ui", "--user", "ann", "--role", "Bad Role"]).code(2).stderr_has("role");
    }
}

cli_test! {
    /// --exit-code: 0 when on (for every user given), 5 otherwise; the decisions print either way.
    fn exit_code(env) {
        env.init();
        add_flag(env, "f", Some("gr1"));
        set_state(env, "f", "development", &St { enabled: true, percentage: 73, users: &[], roles: &[] });
        // `gr1:123` is in bucket 73: in a 73 % rollout, out of a 72 % one.
        env.run(&["flags", "eval", "f", "--user", "123", "--exit-code"]).ok();
        env.sql("UPDATE feature_flag_states SET percentage = 72").unwrap();
        let off = env.run(&["flags", "eval", "f", "--user", "123", "--exit-code", "-o", "json"]);
        assert_eq!(off.json()["reason"], "not_in_rollout");
        let off = off.code(5);
        assert!(off.stderr.is_empty(), "a decision is not an error: {}", off.stderr);
        // Several users: 0 only when the flag is on for all of them.
        env.sql("UPDATE feature_flag_states SET target_users = '[\"ann\"]'").unwrap();
        env.run(&["flags", "eval", "f", "--user", "ann", "--user", "123", "--exit-code"]).code(5);
        env.run(&["flags", "eval", "f", "--user", "ann", "--user", "ann", "--exit-code"]).ok();
        // Without --exit-code a flag that is off still exits 0.
        env.sql("UPDATE feature_flag_states SET enabled = FALSE").unwrap();
        env.run(&["flags", "eval", "f", "--user", "123"]).ok();
        env.run(&["flags", "eval", "f", "--user", "123", "--exit-code"]).code(5);
        env.run_with_stdin(&["flags", "eval", "f", "--users-stdin", "--exit-code", "-o", "json"], Some("123\n")).code(5);
        env.sql("UPDATE feature_flag_states SET enabled = TRUE, percentage = 100").unwrap();
        env.run_with_stdin(&["flags", "eval", "f", "--users-stdin", "--exit-code", "-o", "json"], Some("123\nann\n")).ok();
    }
}

cli_test! {
    /// Unknown flags exit 3; malformed names, environments and user ids exit 2;
    /// an application's ids (numbers, emails, any text) are accepted.
    fn unknown_flag_and_bad_input(env) {
        env.init();
        add_flag(env, "f", None);
        env.run(&["flags", "eval", "nope", "--user", "ann"]).code(3).stderr_has("nope");
        env.run_with_stdin(&["flags", "eval", "nope", "--users-stdin"], Some("ann\n")).code(3);
        env.run(&["flags", "eval", "bad name", "--user", "ann"]).code(2);
        env.run(&["flags", "eval", "f", "--user", "ann", "--env", "Prod!"]).code(2);
        env.run(&["flags", "eval", "f"]).code(2);
        env.run_with_stdin(&["flags", "eval", "f", "--user", "ann", "--users-stdin"], Some("bob\n")).code(2);
        for bad in ["", "a\u{1b}[2Jb", "tab\there", &"x".repeat(256)] {
            env.run(&["flags", "eval", "f", "--user", bad]).code(2).stderr_has("user id");
        }
        let long = "é".repeat(127);
        for ok in ["123", "ann@example.com", "Mixed Case ID", long.as_str()] {
            assert_eq!(eval(env, &["f", "--user", ok])["user"], ok);
        }
    }
}

cli_test! {
    /// --users-stdin: one JSON object per line, in input order, blank lines
    /// skipped, ids trimmed; the same decisions as --user; a bad line stops it
    /// with exit 2 naming the line.
    fn users_stdin_streams_json_lines(env) {
        env.init();
        add_flag(env, "f", None);
        set_state(env, "f", "staging", &St { enabled: true, percentage: 30, users: &["u7"], roles: &["beta"] });
        env.run(&["roles", "add", "beta"]).ok();
        add_members(env, &[("u11", &["beta"]), ("u12", &["viewer"])]);
        let ids: Vec<String> = (0..3000).map(|i| format!("u{i}")).collect();
        let mut input = String::new();
        for (i, id) in ids.iter().enumerate() {
            input.push_str(match i % 3 { 0 => "", 1 => "  ", _ => "\t" });
            input.push_str(id);
            input.push_str(if i % 2 == 0 { "\n" } else { " \r\n" });
            if i % 100 == 0 {
                input.push_str("\n   \n");
            }
        }
        let run = run_with_cohort(env, &["flags", "eval", "f", "--users-stdin", "--env", "staging", "-o", "json"], &input).ok();
        let lines: Vec<Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), ids.len());
        for (l, id) in lines.iter().zip(&ids) {
            assert_eq!(l["user"], id.as_str());
            assert_eq!(l["flag"], "f");
            assert_eq!(l["environment"], "staging");
        }
        assert_eq!(lines[7]["reason"], "targeted_user");
        assert_eq!(lines[11]["reason"], "targeted_role");
        let rollout = lines.iter().filter(|l| l["reason"] == "rollout").count();
        assert!((700..1100).contains(&rollout), "about 30 % of 3000: {rollout}");
        for i in [0usize, 7, 11, 12, 99, 2999] {
            let one = eval(env, &["f", "--user", &ids[i], "--env", "staging"]);
            assert_eq!(lines[i], one, "stdin and --user agree for {}", ids[i]);
        }
        // Tables for people, a page at a time.
        let table = env.run_with_stdin(&["flags", "eval", "f", "--users-stdin", "--env", "staging"], Some("u1\nu7\n")).ok().stdout;
        assert!(table.contains("USER") && table.contains("targeted_user"), "{table}");
        // Nothing on stdin: nothing printed.
        let none = env.run_with_stdin(&["flags", "eval", "f", "--users-stdin", "-o", "json"], Some("\n\n")).ok();
        assert_eq!(none.stdout, "");
        // A bad line stops the cohort there, naming it.
        let bad = env.run_with_stdin(&["flags", "eval", "f", "--users-stdin", "-o", "json"], Some("a\nb\nc\u{7}d\ne\n")).code(2).stderr_has("line 3");
        assert_eq!(bad.stdout.lines().count(), 2);
        let long = format!("a\n{}\n", "x".repeat(5000));
        env.run_with_stdin(&["flags", "eval", "f", "--users-stdin"], Some(&long)).code(2).stderr_has("line 2");
    }
}

cli_test! {
    /// `flags export`: keyward's document (every flag, its state in --env, off where never
    /// configured) and Unleash's (version 2, one feature per flag, with its strategies).
    fn export_documents(env) {
        env.init();
        let empty = env.run(&["flags", "export"]).ok().json();
        assert_eq!(empty, json!({"version": 1, "environment": "development", "flags": []}));
        add_flag(env, "beta", Some("shared"));
        add_flag(env, "alpha", None);
        set_state(env, "beta", "staging", &St { enabled: true, percentage: 25, users: &["ann", "123"], roles: &["ops"] });
        set_state(env, "alpha", "production", &St { enabled: true, percentage: 100, users: &[], roles: &[] });
        let doc = env.run(&["flags", "export", "--env", "staging", "-o", "yaml"]).ok().json();
        assert_eq!(doc, json!({"version": 1, "environment": "staging", "flags": [
            {"name": "alpha", "description": "about alpha", "group": "alpha", "enabled": false,
             "percentage": 0, "target_users": [], "target_roles": []},
            {"name": "beta", "description": "about beta", "group": "shared", "enabled": true,
             "percentage": 25, "target_users": ["123", "ann"], "target_roles": ["ops"]},
        ]}));
        let doc = env.run(&["flags", "export", "--env", "staging", "--format", "unleash"]).ok().json();
        assert_eq!(doc["version"], 2);
        let features = doc["features"].as_array().unwrap();
        assert_eq!(features.len(), 2);
        let beta = &features[1];
        assert_eq!(beta["name"], "beta");
        assert_eq!(beta["enabled"], true);
        for (k, v) in [("type", json!("release")), ("project", json!("default")), ("stale", json!(false)), ("impressionData", json!(false)), ("description", json!("about beta"))] {
            assert_eq!(beta[k], v, "{k}");
        }
        assert_eq!(beta["strategies"], json!([
            {"name": "userWithId", "parameters": {"userIds": "123,ann"}, "constraints": []},
            {"name": "default", "parameters": {}, "constraints": [{"contextName": "roles",
                "operator": "STR_CONTAINS", "values": [",ops,"], "caseInsensitive": false, "inverted": false}]},
            {"name": "flexibleRollout", "parameters": {"rollout": "25", "stickiness": "userId", "groupId": "shared"},
                "constraints": []},
        ]));
        // Off in staging (never configured): disabled, and a 0 % rollout, never "no strategy".
        assert_eq!(features[0]["enabled"], false);
        assert_eq!(features[0]["strategies"][0]["parameters"]["rollout"], "0");
        // An environment where nothing is configured is said so on stderr.
        env.run(&["flags", "export", "--env", "qa"]).ok().stderr_has("no flag is configured");
        env.run(&["flags", "export", "--env", "Bad"]).code(2);
        env.run(&["flags", "export", "--format", "xml"]).code(2);
    }
}

cli_test! {
    /// A cohort stops when its reader goes away (`| head`), however much input is left.
    fn cohort_stops_when_the_reader_goes_away(env) {
        use std::io::{BufRead, Write};
        use std::process::Stdio;
        env.init();
        add_flag(env, "f", None);
        let mut child = env
            .command(&["flags", "eval", "f", "--users-stdin", "-o", "json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        // Endless input, as from `yes`: ends only when keyward stops reading.
        let writer = std::thread::spawn(move || {
            let block = "someone\n".repeat(1000);
            while input.write_all(block.as_bytes()).is_ok() {}
        });
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&first).unwrap()["user"], "someone");
        drop(out);
        let (done, waited) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(child.wait_with_output()));
        let status = waited
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("keyward stops once its output is closed")
            .unwrap();
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        writer.join().unwrap();
    }
}
