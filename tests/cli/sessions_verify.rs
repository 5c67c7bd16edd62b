//! `keyward sessions verify` (issue 9, items 2 and 3): every refusal reason,
//! forged and tampered tokens built by hand, the 30 s leeway on the test
//! clock, and an independent JWT library (`jsonwebtoken`) given only the JWKS.

use crate::cli_test;
use crate::sessions::{
    add_user, at, b64, forge, hs256, jwks, login, login_with, parts, refused, rfc3339, s, set_var,
    thumbprint, unset_var, verify, PW, T0, T0_UNIX,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};

cli_test! {
    /// Item 2: a valid token is exit 0 with its claims and its session.
    fn verify_prints_claims_and_session(env) {
        env.init();
        add_user(env, "alice", &["viewer", "developer"]);
        let t = login_with(env, "alice", PW, &["--device", "ci", "--ip", "203.0.113.7"]).ok().json();
        let run = verify(env, s(&t["access_token"])).ok();
        assert!(run.stderr.contains("valid: session"), "{}", run.stderr);
        let v = run.json();
        assert_eq!(v["valid"], true);
        let c = &v["claims"];
        let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["iss", "sub", "iat", "nbf", "exp", "jti", "sid", "roles"], "no aud when unset");
        assert_eq!(c["iss"], "keyward");
        assert_eq!(c["sub"], "alice");
        assert!(c["iat"].is_i64() && c["nbf"].is_i64() && c["exp"].is_i64());
        assert_eq!(c["nbf"], c["iat"]);
        assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
        assert_eq!(c["sid"], t["session_id"]);
        let mut roles: Vec<&str> = c["roles"].as_array().unwrap().iter().map(s).collect();
        roles.sort_unstable();
        assert_eq!(roles, ["developer", "viewer"]);
        assert!(s(&c["jti"]).len() >= 16);
        let session = &v["session"];
        assert_eq!(session["id"], t["session_id"]);
        assert_eq!(session["username"], "alice");
        assert_eq!(session["status"], "active");
        assert_eq!(session["device"], "ci");
        assert_eq!(session["ip_address"], "203.0.113.7");
        assert_eq!(session["refresh_expires_at"], t["refresh_expires_at"]);
        assert_eq!(session["revoked_at"], Value::Null);
        assert!(!run.stdout.contains("refresh_hash") && !run.stdout.contains(s(&t["refresh_token"])));
        // The same claims are in the token itself.
        assert_eq!(&parts(s(&t["access_token"])).1, c);
        // Trailing whitespace and a CRLF are forgiven; the token is one line.
        env.run_with_stdin(&["sessions", "verify", "--token-stdin"], Some(&format!("{}  \r\n", s(&t["access_token"])))).ok();
        // Without --token-stdin off a terminal: exit 2, never a hang.
        env.run(&["sessions", "verify"]).code(2).stderr_has("--token-stdin");
        // What a client sent is judged, not a usage error: nothing, a blank
        // line or a line too long for a token is malformed (exit 5), and so
        // is such a refresh token.
        let long = "t".repeat(20_000);
        for sent in ["", "   ", long.as_str()] {
            crate::sessions::refused(env, sent, "malformed");
            let r = crate::sessions::refresh(env, sent).code(5).json();
            assert_eq!(r["reason"], "malformed", "{sent:?}");
        }
        // Each login's jti is fresh.
        let other = login(env, "alice");
        assert_ne!(parts(s(&other["access_token"])).1["jti"], c["jti"]);
    }
}

cli_test! {
    /// Item 2: malformed tokens: garbage, two parts, bad base64, padding,
    /// a JSON array payload, a header that is not JSON.
    fn verify_refuses_malformed_tokens(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let t = login(env, "alice");
        let token = s(&t["access_token"]).to_owned();
        let p: Vec<&str> = token.split('.').collect();
        let array_payload = format!("{}.{}.{}", p[0], b64(b"[1,2,3]"), p[2]);
        let string_payload = format!("{}.{}.{}", p[0], b64(b"\"alice\""), p[2]);
        let header_not_json = format!("{}.{}.{}", b64(b"alg EdDSA"), p[1], p[2]);
        let header_no_alg = format!("{}.{}.{}", b64(br#"{"kid":"x"}"#), p[1], p[2]);
        for bad in [
            "garbage".to_owned(),
            format!("{}.{}", p[0], p[1]),
            format!("{}.{}.{}.{}", p[0], p[1], p[2], p[2]),
            format!("{}.!!!.{}", p[0], p[2]),
            format!("{}.{}.{}", p[0], p[1], &p[2].replace(|c: char| c.is_ascii_digit(), "*")),
            format!("{}.{}.{}=", p[0], p[1], p[2]),
            format!("{}.{}.{}", p[0], STANDARD.encode(URL_SAFE_NO_PAD.decode(p[1]).unwrap()), p[2]),
            array_payload,
            string_payload,
            header_not_json,
            header_no_alg,
            "..".to_owned(),
        ] {
            if bad == token {
                continue; // the re-encoding changed nothing
            }
            let run = refused(env, &bad, "malformed");
            assert!(!run.stderr.contains(&bad), "the token is not echoed");
        }
        // The real one still verifies.
        verify(env, &token).ok();
    }
}

cli_test! {
    /// Item 2: forgeries are bad_signature: a changed payload, a flipped
    /// signature, `alg: none`, HS256 keyed with the public key (raw bytes,
    /// its base64url text, the JWK and the JWKS document), and a header
    /// whose kid is swapped for another published key's.
    fn verify_refuses_forged_signatures(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let t = login(env, "alice");
        let token = s(&t["access_token"]).to_owned();
        let (header, claims, sig) = parts(&token);
        assert_eq!(forge(&header, &claims, &sig), token, "forgeries start from the same bytes");

        let mut elevated = claims.clone();
        elevated["roles"] = json!(["admin"]);
        refused(env, &forge(&header, &elevated, &sig), "bad_signature");
        let mut longer = claims.clone();
        longer["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
        refused(env, &forge(&header, &longer, &sig), "bad_signature");
        let mut raw_sig = URL_SAFE_NO_PAD.decode(&sig).unwrap();
        raw_sig[10] ^= 1;
        refused(env, &forge(&header, &claims, &b64(&raw_sig)), "bad_signature");
        refused(env, &forge(&header, &claims, &b64(&raw_sig[..63])), "bad_signature");
        refused(env, &forge(&header, &claims, ""), "bad_signature");

        let kid = s(&header["kid"]).to_owned();
        for alg in ["none", "None", "NONE"] {
            refused(env, &forge(&json!({"alg": alg, "typ": "JWT", "kid": kid}), &claims, ""), "bad_signature");
            refused(env, &forge(&json!({"alg": alg}), &claims, ""), "bad_signature");
        }
        for alg in ["eddsa", "Ed25519", "ES256", "RS256"] {
            refused(env, &forge(&json!({"alg": alg, "typ": "JWT", "kid": kid}), &claims, &sig), "bad_signature");
        }
        // A header with `crit` is not one keyward made.
        refused(env, &forge(&json!({"alg": "EdDSA", "typ": "JWT", "kid": kid, "crit": ["exp"]}), &claims, &sig), "bad_signature");

        // HS256 keyed with what an application holds: the public key in every form.
        let run = env.run(&["sessions", "jwks", "-o", "json"]).ok();
        let doc = run.json();
        let jwk = &doc["keys"][0];
        let x = s(&jwk["x"]).to_owned();
        let hs_header = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
        for key in [
            URL_SAFE_NO_PAD.decode(&x).unwrap(),
            x.clone().into_bytes(),
            jwk.to_string().into_bytes(),
            doc.to_string().into_bytes(),
            run.stdout.clone().into_bytes(),
            run.stdout.trim().as_bytes().to_vec(),
        ] {
            refused(env, &hs256(&hs_header, &claims, &key), "bad_signature");
            refused(env, &hs256(&json!({"alg": "HS256", "typ": "JWT"}), &claims, &key), "bad_signature");
        }

        // Two published keys: a kid swapped to the other one is refused, both ways.
        env.run(&["sessions", "rotate-signing-key"]).ok();
        let newer = login(env, "alice");
        let newer_token = s(&newer["access_token"]).to_owned();
        let (new_header, new_claims, new_sig) = parts(&newer_token);
        assert_ne!(new_header["kid"], header["kid"]);
        let mut swapped = header.clone();
        swapped["kid"] = new_header["kid"].clone();
        refused(env, &forge(&swapped, &claims, &sig), "bad_signature");
        let mut swapped = new_header.clone();
        swapped["kid"] = header["kid"].clone();
        refused(env, &forge(&swapped, &new_claims, &new_sig), "bad_signature");
        // A signature lifted from the other token.
        refused(env, &forge(&header, &claims, &new_sig), "bad_signature");
        // Both genuine tokens still verify.
        verify(env, &token).ok();
        verify(env, &newer_token).ok();
    }
}

cli_test! {
    /// Item 2: a kid no published key has, or none at all, is unknown_key.
    fn verify_refuses_unknown_keys(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let t = login(env, "alice");
        let (header, claims, sig) = parts(s(&t["access_token"]));
        let mut other = header.clone();
        other["kid"] = json!(thumbprint(&b64(&[7u8; 32])));
        refused(env, &forge(&other, &claims, &sig), "unknown_key");
        other["kid"] = json!("");
        refused(env, &forge(&other, &claims, &sig), "unknown_key");
        refused(env, &forge(&json!({"alg": "EdDSA", "typ": "JWT"}), &claims, &sig), "unknown_key");
        // A key that signed, then vanished from the table, is unknown too.
        env.sql("DELETE FROM signing_keys").unwrap();
        refused(env, s(&t["access_token"]), "unknown_key");
    }
}

cli_test! {
    /// Item 2: `exp` and `nbf` hold with 30 s of leeway, on the test clock.
    fn verify_checks_times_with_thirty_seconds_of_leeway(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        at(env, T0);
        let t = login(env, "alice");
        let token = s(&t["access_token"]).to_owned();
        let exp = T0_UNIX + 900;
        for (when, ok) in [
            (T0_UNIX - 31, false),
            (T0_UNIX - 30, true),
            (T0_UNIX, true),
            (exp, true),
            (exp + 29, true),
            (exp + 30, true),
            (exp + 31, false),
            (exp + 86_400, false),
        ] {
            at(env, &rfc3339(when));
            if ok {
                verify(env, &token).ok();
            } else if when < T0_UNIX {
                refused(env, &token, "not_yet_valid");
            } else {
                refused(env, &token, "expired");
            }
        }
        // Past the session's end, even a long-lived access token is expired.
        at(env, T0);
        let long = login_with(env, "alice", PW, &["--ttl", "2h", "--refresh-ttl", "1h"]).ok().json();
        at(env, &rfc3339(T0_UNIX + 3_600));
        refused(env, s(&long["access_token"]), "expired");
    }
}

cli_test! {
    /// Item 2: `iss` must be auth.issuer and, when auth.audience is set, `aud` must name it.
    fn verify_checks_issuer_and_audience(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let plain = login(env, "alice");
        let plain_token = s(&plain["access_token"]).to_owned();
        set_var(env, "KEYWARD_ISSUER", "other");
        refused(env, &plain_token, "wrong_issuer");
        unset_var(env, "KEYWARD_ISSUER");

        set_var(env, "KEYWARD_AUDIENCE", "api");
        let api = login(env, "alice");
        let api_token = s(&api["access_token"]).to_owned();
        let v = verify(env, &api_token).ok().json();
        assert_eq!(v["claims"]["aud"], "api");
        refused(env, &plain_token, "wrong_audience");
        set_var(env, "KEYWARD_AUDIENCE", "web");
        refused(env, &api_token, "wrong_audience");
        unset_var(env, "KEYWARD_AUDIENCE");
        // With no audience configured, `aud` is not checked.
        verify(env, &api_token).ok();

        // From the config file, and the environment beats it.
        let cfg = env.home.path().join("kw.yaml");
        std::fs::write(&cfg, "auth:\n  issuer: https://auth.example.com\n  audience: web\n").unwrap();
        set_var(env, "KEYWARD_CONFIG", cfg.to_str().unwrap());
        let web = login(env, "alice");
        let claims = parts(s(&web["access_token"])).1;
        assert_eq!(claims["iss"], "https://auth.example.com");
        assert_eq!(claims["aud"], "web");
        verify(env, s(&web["access_token"])).ok();
        refused(env, &api_token, "wrong_issuer");
        set_var(env, "KEYWARD_ISSUER", "keyward");
        refused(env, &api_token, "wrong_audience");
        set_var(env, "KEYWARD_AUDIENCE", "api");
        verify(env, &api_token).ok();
        // An issuer or audience with control characters is refused at start.
        set_var(env, "KEYWARD_ISSUER", "a\u{7}b");
        verify(env, &api_token).code(2).stderr_has("KEYWARD_ISSUER");
    }
}

cli_test! {
    /// Item 2: a good signature on a revoked or vanished session is refused.
    fn verify_checks_the_session(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let a = login(env, "alice");
        let b = login(env, "alice");
        let (ta, tb) = (s(&a["access_token"]).to_owned(), s(&b["access_token"]).to_owned());
        // `sessions revoke` is built elsewhere: revoke behind keyward's back.
        env.sql(&format!(
            "UPDATE sessions SET revoked_at = '2030-01-01T00:00:00.000000Z', revoked_reason = 'revoked' WHERE id = {}",
            a["session_id"]
        )).unwrap();
        refused(env, &ta, "revoked");
        verify(env, &tb).ok();
        env.sql(&format!("DELETE FROM sessions WHERE id = {}", b["session_id"])).unwrap();
        refused(env, &tb, "unknown_session");
    }
}

cli_test! {
    /// Item 2: verifying needs the public key only: it works with the key
    /// file missing, or too open to be loaded.
    fn verify_needs_no_encryption_key(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let t = login(env, "alice");
        let token = s(&t["access_token"]).to_owned();
        set_var(env, "KEYWARD_KEY_FILE", env.home.path().join("missing.key").to_str().unwrap());
        // (Control: a command that needs the key does fail.)
        login_with(env, "alice", PW, &[]).code(7);
        let v = verify(env, &token).ok().json();
        assert_eq!(v["valid"], true);
        let (h, c, sig) = parts(&token);
        let mut flipped = URL_SAFE_NO_PAD.decode(&sig).unwrap();
        flipped[0] ^= 0x80;
        refused(env, &forge(&h, &c, &b64(&flipped)), "bad_signature");
        env.run(&["sessions", "jwks", "-o", "json"]).ok();
        unset_var(env, "KEYWARD_KEY_FILE");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(env.key_file(), std::fs::Permissions::from_mode(0o644)).unwrap();
        env.run(&["db", "health"]).code(7);
        verify(env, &token).ok();
        std::fs::remove_file(env.key_file()).unwrap();
        verify(env, &token).ok();
    }
}

/// Checks `token` with the `jsonwebtoken` crate given only the JWKS document
/// (an implementation keyward does not use); returns its claims.
fn independent_verify(
    doc: &Value,
    token: &str,
    issuer: &str,
    audience: Option<&str>,
) -> Result<Value, jsonwebtoken::errors::Error> {
    use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};
    let set: JwkSet = serde_json::from_value(doc.clone()).expect("a JWKS jsonwebtoken reads");
    let header = jsonwebtoken::decode_header(token)?;
    let kid = header.kid.expect("a kid");
    let jwk = set.find(&kid).expect("the kid is published");
    let key = DecodingKey::from_jwk(jwk)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "sub"]);
    validation.validate_nbf = true;
    match audience {
        Some(a) => validation.set_audience(&[a]),
        None => validation.validate_aud = false,
    }
    Ok(jsonwebtoken::decode::<Value>(token, &key, &validation)?.claims)
}

cli_test! {
    /// Done-when: an independent JWT library (jsonwebtoken, pure Rust) fed
    /// only `sessions jwks` verifies keyward's tokens, before and after a
    /// rotation, and refuses a forgery.
    fn an_independent_library_verifies_with_the_jwks_alone(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        set_var(env, "KEYWARD_AUDIENCE", "api");
        let old = login(env, "alice");
        let old_token = s(&old["access_token"]).to_owned();
        let doc = jwks(env);
        let claims = independent_verify(&doc, &old_token, "keyward", Some("api")).unwrap();
        let ours = verify(env, &old_token).ok().json();
        assert_eq!(claims, ours["claims"], "the same claims");
        assert!(independent_verify(&doc, &old_token, "keyward", Some("web")).is_err());
        assert!(independent_verify(&doc, &old_token, "someone-else", Some("api")).is_err());
        let (h, mut c, sig) = parts(&old_token);
        c["sub"] = json!("mallory");
        assert!(independent_verify(&doc, &forge(&h, &c, &sig), "keyward", Some("api")).is_err());

        env.run(&["sessions", "rotate-signing-key"]).ok();
        let new = login(env, "alice");
        let new_token = s(&new["access_token"]).to_owned();
        let doc = jwks(env);
        assert_eq!(doc["keys"].as_array().unwrap().len(), 2);
        for token in [&old_token, &new_token] {
            let claims = independent_verify(&doc, token, "keyward", Some("api")).unwrap();
            assert_eq!(claims, verify(env, token).ok().json()["claims"]);
        }

        // Without an audience configured, tokens carry none.
        unset_var(env, "KEYWARD_AUDIENCE");
        let plain = login(env, "alice");
        let claims = independent_verify(&jwks(env), s(&plain["access_token"]), "keyward", None).unwrap();
        assert!(claims.get("aud").is_none());
        assert_eq!(claims["sid"], plain["session_id"]);
    }
}
