//! Lists streamed a page at a time: `audit list`'s default of the newest 100,
//! `--limit`, `--all`; `settings list` over more than one page.

use crate::cli_test;
use crate::util::Env;

/// Creates `n` settings (one audit entry each) with one import.
fn import_settings(env: &Env, n: usize, secret_every: usize) {
    let mut file = String::from("settings:\n");
    // Written in reverse: the list's order is the key's, not the file's.
    for i in (0..n).rev() {
        if secret_every > 0 && i % secret_every == 0 {
            file.push_str(&format!(
                "  app.k{i:05}: {{value: \"s{i}\", secret: true}}\n"
            ));
        } else {
            file.push_str(&format!("  app.k{i:05}: \"v{i}\"\n"));
        }
    }
    env.run_with_stdin(&["settings", "import", "-f", "-"], Some(&file))
        .ok();
}

fn ids(run: &crate::util::Run) -> Vec<i64> {
    let list = run.json();
    let list = list.as_array().expect("a JSON array");
    list.iter()
        .map(|e| e["id"].as_i64().expect("an id"))
        .collect()
}

cli_test! {
    /// Without --limit or --all, `audit list` shows the newest 100 (oldest
    /// first) and says on stderr how many there are; --all shows every entry,
    /// --limit N the newest N.
    fn audit_list_shows_the_newest_100_unless_limit_or_all(env) {
        env.init();
        let before = env.run(&["audit", "list", "-o", "json"]).ok();
        let start = ids(&before).len() as i64;
        assert!(!before.stderr.contains("showing"), "{}", before.stderr);
        import_settings(env, 150 - start as usize, 0);

        let default = env.run(&["audit", "list", "-o", "json"]).ok();
        assert_eq!(ids(&default), (51..=150).collect::<Vec<_>>());
        assert!(
            default.stderr.contains("showing the newest 100 of 150 entries: --limit N or --all for more"),
            "{}",
            default.stderr
        );
        let all = env.run(&["audit", "list", "--all", "-o", "json"]).ok();
        assert_eq!(ids(&all), (1..=150).collect::<Vec<_>>());
        assert!(!all.stderr.contains("showing"), "{}", all.stderr);
        let five = env.run(&["audit", "list", "--limit", "5", "-o", "json"]).ok();
        assert_eq!(ids(&five), (146..=150).collect::<Vec<_>>());
        assert!(!five.stderr.contains("showing"), "{}", five.stderr);
        let many = env.run(&["audit", "list", "--limit", "1000", "-o", "json"]).ok();
        assert_eq!(ids(&many).len(), 150);

        // Filters count what they match.
        let creates = env.run(&["audit", "list", "--action", "setting.", "-o", "json"]).ok();
        let n = 150 - start;
        assert_eq!(ids(&creates), (51..=150).collect::<Vec<_>>());
        creates.stderr_has(&format!("showing the newest 100 of {n} entries"));

        // YAML and tables stream the same rows.
        let yaml = env.run(&["audit", "list", "--all", "-o", "yaml"]).ok();
        let parsed: Vec<serde_json::Value> = serde_yaml::from_str(&yaml.stdout).unwrap();
        assert_eq!(parsed, all.json().as_array().unwrap().clone());
        let table = env.run(&["audit", "list"]).ok();
        let rows = table.stdout.lines().filter(|l| l.contains("setting.create")).count();
        assert_eq!(rows, 100, "{}", table.stdout);
        table.stderr_has("showing the newest 100 of 150 entries");

        env.run(&["audit", "list", "--all", "--limit", "5"]).code(2);
    }
}

cli_test! {
    /// `settings list` over more settings than one page holds returns every
    /// one, in key order, in JSON, YAML and tables; secrets stay masked
    /// unless --reveal; filters hold across pages.
    fn settings_list_streams_every_page_in_key_order(env) {
        env.init();
        let n = 2500;
        import_settings(env, n, 100);
        let keys: Vec<String> = (0..n).map(|i| format!("app.k{i:05}")).collect();

        let json = env.run(&["settings", "list", "-o", "json"]).ok().json();
        let rows = json.as_array().unwrap();
        let got: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
        assert_eq!(got, keys);
        assert_eq!(rows[1]["value"], "v1");
        assert_eq!(rows[100]["secret"], true);
        assert_eq!(rows[100]["value"], serde_json::Value::Null);

        let yaml = env.run(&["settings", "list", "-o", "yaml"]).ok();
        let parsed: serde_json::Value = serde_yaml::from_str(&yaml.stdout).unwrap();
        assert_eq!(&parsed, &json);

        let revealed = env.run(&["settings", "list", "--reveal", "-o", "json"]).ok().json();
        assert_eq!(revealed[100]["value"], "s100");
        assert_eq!(revealed.as_array().unwrap().len(), n);

        let table = env.run(&["settings", "list"]).ok();
        let shown: Vec<&str> = table
            .stdout
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|k| k.starts_with("app.k"))
            .collect();
        assert_eq!(shown, keys);
        assert!(table.stdout.contains("********"));
        assert!(!table.stdout.contains("s100"));

        let some = env.run(&["settings", "list", "--prefix", "app.k01", "-o", "json"]).ok().json();
        let got: Vec<&str> = some.as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
        assert_eq!(got, keys[1000..2000].iter().map(String::as_str).collect::<Vec<_>>());

        let none = env.run(&["settings", "list", "--prefix", "nothing", "-o", "json"]).ok().json();
        assert_eq!(none, serde_json::json!([]));
    }
}

/// Writes a settings file of `n` entries to the test's home and returns its path.
fn settings_file(env: &Env, name: &str, n: usize) -> String {
    let mut text = String::from("settings:\n");
    for i in 0..n {
        text.push_str(&format!("  {name}.k{i:05}: \"v{i}\"\n"));
    }
    let path = env.home.path().join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

cli_test! {
    /// A large import shows a progress bar on a terminal; off a terminal,
    /// and for small imports, stderr is only the summary.
    fn large_imports_show_progress_on_a_terminal_only(env) {
        env.init();
        let big = settings_file(env, "big", 1500);
        let Some(shown) = crate::output::under_script(env, &["settings", "import", "-f", &big]) else {
            return; // no script(1) here
        };
        assert!(shown.contains("applying [") && shown.contains("1500/1500"), "{shown}");
        assert!(shown.contains("development: 1500 to add"), "{shown}");

        let small = settings_file(env, "small", 999);
        let quiet = crate::output::under_script(env, &["settings", "import", "-f", &small]).unwrap();
        assert!(!quiet.contains("applying"), "{quiet}");

        let other = settings_file(env, "other", 1500);
        let piped = env.run(&["--env", "piped", "settings", "import", "-f", &other, "-o", "json"]).ok();
        assert_eq!(
            piped.stderr,
            "piped: 1500 to add, 0 to change, 0 to remove, 0 unchanged (applied)\n"
        );
        assert_eq!(piped.json()["added"].as_array().unwrap().len(), 1500);
    }
}
