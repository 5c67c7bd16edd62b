//! `keyward sessions` attacked as a hostile or careless user would (issue 9
//! review): each test here failed before the fix it names.

use crate::cli_test;
use crate::sessions::{add_user, b64, login, parts, refused, s, verify};
use serde_json::json;

cli_test! {
    /// A session id is never given twice. On SQLite, `INTEGER PRIMARY KEY`
    /// without AUTOINCREMENT reused the highest id once its row was gone, so
    /// the access token of a deleted user, or of a session revoked and then
    /// pruned, verified again as soon as the user's next login took that id.
    fn a_gone_sessions_token_never_verifies_again(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        // users delete: the sessions go with the user.
        let old = login(env, "alice");
        env.run(&["users", "delete", "alice", "--yes"]).ok();
        add_user(env, "alice", &["viewer"]);
        let new = login(env, "alice");
        assert_ne!(new["session_id"], old["session_id"], "a deleted session's id is not given again");
        refused(env, s(&old["access_token"]), "unknown_session");
        verify(env, s(&new["access_token"])).ok();

        // Revoked, then its row deleted as `sessions prune` does.
        let stolen = login(env, "alice");
        let id = stolen["session_id"].as_i64().unwrap();
        env.run(&["sessions", "revoke", &id.to_string(), "--yes"]).ok();
        env.sql(&format!("DELETE FROM sessions WHERE id = {id}")).unwrap();
        let next = login(env, "alice");
        assert_ne!(next["session_id"], json!(id));
        refused(env, s(&stolen["access_token"]), "unknown_session");
    }
}

cli_test! {
    /// A header `kid` no signing key can have (a NUL, or longer than the
    /// column allows) is `unknown_key` (exit 5) on both backends; on
    /// PostgreSQL a NUL reached the query and failed as exit 1.
    fn impossible_kids_are_unknown_keys(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let t = login(env, "alice");
        let (header, payload, sig) = parts(s(&t["access_token"]));
        let kid = s(&header["kid"]).to_owned();
        for bad in [
            format!("{kid}\u{0}"),
            "\u{0}".to_owned(),
            "k".repeat(10_000),
            "../../etc/passwd".to_owned(),
            "x' OR '1'='1".to_owned(),
        ] {
            let h = json!({"alg": "EdDSA", "typ": "JWT", "kid": bad});
            let forged = format!(
                "{}.{}.{sig}",
                b64(&serde_json::to_vec(&h).unwrap()),
                b64(&serde_json::to_vec(&payload).unwrap())
            );
            refused(env, &forged, "unknown_key");
        }
    }
}

cli_test! {
    /// A signing key's public half changed behind keyward's back: login
    /// used to go on signing tokens that no one could verify, and verify
    /// named the key but no way out. Now the signer is refused (exit 8) when
    /// its public half does not match its private half, and both errors say
    /// what to do.
    fn a_damaged_public_key_is_refused_with_the_way_out(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let t = login(env, "alice");
        let kid = s(&crate::sessions::jwks(env)["keys"][0]["kid"]).to_owned();
        let good = crate::sessions::sql_opt_text(env, "SELECT public_key FROM signing_keys").unwrap();
        // Another well-formed Ed25519 public key, and text that is none.
        let other = b64(&[
            0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07,
            0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07,
            0x51, 0x1a,
        ]);
        for damaged in [other, "!".repeat(43)] {
            env.sql(&format!("UPDATE signing_keys SET public_key = '{damaged}' WHERE kid = '{kid}'"))
                .unwrap();
            let sessions_before = crate::sessions::session_count(env);
            let run = crate::sessions::login_with(env, "alice", crate::sessions::PW, &[]).code(8);
            assert!(run.stderr.contains(&format!("signing key {kid}")), "{}", run.stderr);
            assert!(run.stderr.contains("rotate-signing-key"), "the way out: {}", run.stderr);
            assert_eq!(run.stdout, "");
            assert_eq!(crate::sessions::session_count(env), sessions_before, "no session");
            crate::sessions::refresh(env, s(&t["refresh_token"])).code(8);
        }
        // Not a point at all: verify cannot check anything it signed.
        let run = verify(env, s(&t["access_token"])).code(8);
        assert!(run.stderr.contains(&format!("signing key {kid}")), "{}", run.stderr);
        assert!(run.stderr.contains("backup"), "the way out: {}", run.stderr);
        // Restored, all is well again; the refresh token was never spent.
        env.sql(&format!("UPDATE signing_keys SET public_key = '{good}' WHERE kid = '{kid}'")).unwrap();
        verify(env, s(&t["access_token"])).ok();
        crate::sessions::refresh(env, s(&t["refresh_token"])).ok();
        env.run(&["audit", "verify"]).ok();
    }
}
