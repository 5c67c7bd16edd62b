//! Access tokens: EdDSA JWTs signed, parsed and verified; mutated or
//! arbitrary tokens refused with a reason, never a panic, never accepted.

use crate::harness::{arbitrary_text, check};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use keyward::crypto::jws::{self, Audience, Claims, Refusal};
use proptest::prelude::*;

fn claims() -> impl Strategy<Value = Claims> {
    let aud = proptest::option::of(prop_oneof![
        any::<String>().prop_map(Audience::One),
        proptest::collection::vec(any::<String>(), 0..3).prop_map(Audience::Many),
    ]);
    (
        (any::<String>(), "[a-z0-9_.-]{3,32}", aud),
        (any::<i64>(), any::<i64>(), any::<i64>()),
        (
            "[0-9A-Za-z]{1,40}",
            any::<i64>(),
            proptest::collection::vec(any::<String>(), 0..4),
        ),
    )
        .prop_map(
            |((iss, sub, aud), (iat, nbf, exp), (jti, sid, roles))| Claims {
                iss,
                sub,
                aud,
                iat,
                nbf,
                exp,
                jti,
                sid,
                roles,
            },
        )
}

fn kid() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<[u8; 32]>().prop_map(|s| jws::thumbprint(&jws::public_of(&s))),
        1 => "[ -~]{1,64}",
    ]
}

/// A signed token, with the public key that checks it.
fn signed() -> impl Strategy<Value = (String, String, Claims)> {
    (any::<[u8; 32]>(), kid(), claims()).prop_map(|(seed, kid, c)| {
        let token = jws::sign(&seed, &kid, &c).expect("sign").to_string();
        (token, jws::public_of(&seed), c)
    })
}

#[test]
fn signed_tokens_parse_and_verify_to_their_claims() {
    check(
        "jwt: sign -> parse -> verify",
        1.0,
        (signed(), any::<[u8; 32]>()),
        |((token, x, c), other)| {
            let parsed = jws::parse(&token).expect("parses");
            let got = parsed.verify(&x).expect("key is sound");
            prop_assert_eq!(got, Ok(c));
            // The header is exactly alg EdDSA, typ JWT, and the kid.
            let header = token.split('.').next().unwrap_or_default();
            let header: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("b64"))
                    .expect("json");
            prop_assert_eq!(&header["alg"], "EdDSA");
            prop_assert_eq!(
                &header["kid"],
                &serde_json::Value::String(parsed.kid.clone())
            );
            // Another key: a bad signature.
            let y = jws::public_of(&other);
            if y != x {
                prop_assert_eq!(
                    parsed.verify(&y).expect("key is sound"),
                    Err(Refusal::BadSignature)
                );
            }
            Ok(())
        },
    );
}

#[test]
fn mutated_tokens_are_refused() {
    let s = crate::harness::mutated_text(signed().prop_map(|(t, x, _)| (x, t)));
    check("jwt: mutated", 1.0, s, |(x, good, bad)| {
        let (x, good, bad) = (x.as_str(), good.as_str(), bad.as_str());
        let verdict = jws::parse(bad).map(|p| p.verify(x).expect("key is sound"));
        match verdict {
            Ok(Ok(_)) => prop_assert_eq!(good, bad, "a changed token verified"),
            Ok(Err(_)) | Err(_) => prop_assert_ne!(good, bad),
        }
        Ok(())
    });
}

#[test]
fn arbitrary_text_is_refused_with_a_reason() {
    let parts = proptest::collection::vec(
        prop_oneof![
            arbitrary_text(),
            any::<Vec<u8>>().prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
            "\\{[ -~]{0,60}\\}".prop_map(|j| URL_SAFE_NO_PAD.encode(j)),
            Just(URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k"}"#)),
            Just(URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","kid":"k"}"#)),
            Just(URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"k"}"#)),
        ],
        0..5,
    );
    check("jwt: arbitrary", 1.0, parts, |parts| {
        let token = parts.join(".");
        match jws::parse(&token) {
            Err(_) => {}
            Ok(p) => {
                let x = jws::public_of(&[1u8; 32]);
                prop_assert!(p.verify(&x).expect("key is sound").is_err());
            }
        }
        // A damaged stored public key is an integrity error, not a panic.
        if let Ok(p) = jws::parse(&token) {
            for x in [parts.join(""), String::new(), "AAAA".into()] {
                if let Err(e) = p.verify(&x) {
                    crate::harness::error_ok(&e, &[keyward::error::ErrorKind::Integrity], None)?;
                }
            }
        }
        Ok(())
    });
}
