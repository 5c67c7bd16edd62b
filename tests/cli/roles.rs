//! `keyward roles …`: roles, grants, assignments, system-role protection.

use crate::cli_test;

cli_test! {
    /// Roles are created, granted (new pairs created), assigned, revoked and deleted; system roles stay.
    fn role_lifecycle(env) {
        env.init();
        let roles = env.run(&["roles", "list", "-o", "json"]).ok().json();
        let names: Vec<&str> = roles.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["admin", "developer", "operator", "viewer"]);
        let admin = env.run(&["roles", "show", "admin", "-o", "json"]).ok().json();
        assert_eq!(admin["permissions"].as_array().unwrap().len(), 13);
        assert_eq!(admin["is_system"], true);

        env.run(&["roles", "add", "auditor", "--description", "Reads the audit log"]).ok();
        env.run(&["roles", "add", "auditor"]).code(4);
        env.run(&["roles", "add", "Bad Name"]).code(2);
        let granted = env.run(&["roles", "grant", "auditor", "audit:read", "reports:read", "-o", "json"]).ok().json();
        assert_eq!(granted["permissions"], serde_json::json!(["audit:read", "reports:read"]));
        env.run(&["roles", "grant", "auditor", "reports:fly"]).code(2);
        env.run(&["roles", "grant", "nobody", "reports:read"]).code(3);
        let perms = env.run(&["roles", "permissions", "-o", "json"]).ok().json();
        let reports = perms.as_array().unwrap().iter().find(|p| p["permission"] == "reports:read").unwrap();
        assert_eq!(reports["roles"], serde_json::json!(["auditor"]));

        env.run_with_stdin(&["users", "add", "ann", "--email", "ann@example.com", "--password-stdin"], Some("correct horse battery staple 9\n")).ok();
        env.run(&["roles", "assign", "auditor", "ann"]).ok();
        env.run(&["roles", "assign", "auditor", "nobody"]).code(3);
        assert_eq!(env.run(&["roles", "show", "auditor", "-o", "json"]).ok().json()["members"], serde_json::json!(["ann"]));
        env.run(&["users", "can", "ann", "reports:read"]).ok();
        env.run(&["roles", "revoke", "auditor", "reports:read"]).code(2).stderr_has("--yes");
        env.run(&["roles", "revoke", "auditor", "reports:read", "-y"]).ok();
        env.run(&["users", "can", "ann", "reports:read"]).code(5);
        env.run(&["roles", "unassign", "auditor", "ann"]).ok();
        assert_eq!(env.run(&["users", "show", "ann", "-o", "json"]).ok().json()["roles"], serde_json::json!([]));

        env.run(&["roles", "delete", "admin", "-y"]).code(4).stderr_has("system role");
        env.run(&["roles", "delete", "auditor"]).code(2);
        env.run(&["roles", "delete", "auditor", "-y"]).ok();
        env.run(&["roles", "show", "auditor"]).code(3);
        let events = env.run(&["audit", "list", "--action", "role.*", "-o", "json"]).ok().json();
        assert!(events.as_array().unwrap().len() >= 6);
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// A grant with one bad pair changes nothing; revoking what is not granted and
    /// unknown roles or users are reported, not half-applied.
    fn grants_are_all_or_nothing(env) {
        env.init();
        env.run(&["roles", "add", "ops"]).ok();
        env.run(&["roles", "grant", "ops", "alpha:read", "beta:fly", "gamma:write"]).code(2).stderr_has("beta:fly");
        let ops = env.run(&["roles", "show", "ops", "-o", "json"]).ok().json();
        assert_eq!(ops["permissions"], serde_json::json!([]), "nothing was granted");
        let perms = env.run(&["roles", "permissions", "-o", "json"]).ok().json();
        assert!(!perms.to_string().contains("alpha"), "no permission was created either");
        env.run(&["roles", "revoke", "ops", "alpha:read", "-y"]).ok().stderr_has("nothing changed");
        env.run(&["roles", "unassign", "nope", "ann"]).code(3).stderr_has("role 'nope'");
        env.run(&["roles", "assign", "ops", "ghost"]).code(3).stderr_has("user 'ghost'");
        env.run(&["roles", "grant", "ops", "alpha:read"]).ok();
        env.run(&["roles", "grant", "ops", "alpha:read"]).ok().stderr_has("nothing changed");
        let events = env.run(&["audit", "list", "--action", "role.grant", "-o", "json"]).ok().json();
        assert_eq!(events.as_array().unwrap().len(), 1, "only the real change is audited");
    }
}
