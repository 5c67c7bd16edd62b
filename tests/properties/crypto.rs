//! The `kw1` envelope and the legacy format, key lists and key files, and
//! PHC password hashes.

use crate::harness::{arbitrary_text, check, error_ok, mutated};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use keyward::crypto::envelope;
use keyward::crypto::keyring::{parse_key_list, read_key_file, Key, KeySource, Keyring};
use keyward::crypto::password::{self, Verdict};
use keyward::error::ErrorKind;
use proptest::prelude::*;

fn key(bytes: [u8; 32]) -> Key {
    Key::from_base64(&STANDARD.encode(bytes)).expect("32 bytes make a key")
}

fn ring(active: [u8; 32], previous: &[[u8; 32]]) -> Keyring {
    Keyring::new(
        key(active),
        previous.iter().map(|b| key(*b)).collect(),
        KeySource::EnvVar("DATABASE_ENCRYPTION_KEY".into()),
    )
}

fn plaintext() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..256),
        1 => proptest::collection::vec(any::<u8>(), 0..8192),
    ]
}

#[test]
fn envelope_seal_then_open_gives_the_plaintext_back() {
    let s = (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<String>(),
        plaintext(),
        any::<bool>(),
    );
    check(
        "envelope: seal -> open",
        1.0,
        s,
        |(a, p, aad, pt, by_previous)| {
            let ring = ring(a, &[p]);
            let sealer = if by_previous { key(p) } else { key(a) };
            let sealed = envelope::seal(&sealer, &aad, &pt).expect("seal");
            prop_assert!(sealed.starts_with("kw1:"));
            prop_assert_eq!(envelope::kid_of(&sealed), Some(sealer.kid()));
            prop_assert_eq!(envelope::is_current(&ring, &sealed), !by_previous || a == p);
            let opened = envelope::open(&ring, &aad, &sealed).expect("open");
            prop_assert_eq!(opened.as_slice(), pt.as_slice());
            // Another row's associated data: an integrity failure.
            let moved = format!("{aad}x");
            let e = envelope::open(&ring, &moved, &sealed).expect_err("moved value");
            error_ok(&e, &[ErrorKind::Integrity], None)?;
            // A key that is not configured: a key problem (exit 7), not integrity.
            let other = ring_without(a, p, by_previous);
            if let Some(other) = other {
                let e = envelope::open(&other, &aad, &sealed).expect_err("wrong key");
                error_ok(&e, &[ErrorKind::Key], None)?;
            }
            Ok(())
        },
    );
}

/// A keyring that lacks the key that sealed (None when the two keys are one).
fn ring_without(a: [u8; 32], p: [u8; 32], by_previous: bool) -> Option<Keyring> {
    if a == p {
        return None;
    }
    Some(if by_previous {
        ring(a, &[])
    } else {
        ring(p, &[])
    })
}

/// A legacy value made independently (the `aes-gcm` crate, no AAD).
fn legacy(k: [u8; 32], nonce: [u8; 12], pt: &[u8]) -> String {
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(&k).expect("key length");
    let sealed = cipher
        .encrypt(
            aes_gcm::Nonce::from_slice(&nonce),
            Payload { msg: pt, aad: b"" },
        )
        .expect("encrypt");
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&sealed);
    STANDARD.encode(blob)
}

#[test]
fn legacy_values_open_with_the_active_key_and_any_aad() {
    let s = (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<[u8; 12]>(),
        plaintext(),
        any::<String>(),
    );
    check("envelope: legacy open", 1.0, s, |(a, p, nonce, pt, aad)| {
        let value = legacy(a, nonce, &pt);
        let opened = envelope::open(&ring(a, &[p]), &aad, &value).expect("legacy opens");
        prop_assert_eq!(opened.as_slice(), pt.as_slice());
        prop_assert_eq!(envelope::kid_of(&value), None);
        if a != p {
            // Legacy values are for the active key only.
            let e = envelope::open(&ring(p, &[a]), &aad, &value).expect_err("not active");
            error_ok(&e, &[ErrorKind::Integrity], None)?;
        }
        Ok(())
    });
}

fn sealed_value() -> impl Strategy<Value = String> {
    (any::<bool>(), any::<[u8; 12]>(), plaintext()).prop_map(|(legacy_form, nonce, pt)| {
        if legacy_form {
            legacy(ACTIVE, nonce, &pt)
        } else {
            envelope::seal(&key(ACTIVE), AAD, &pt).expect("seal")
        }
    })
}

const ACTIVE: [u8; 32] = [7u8; 32];
const PREVIOUS: [u8; 32] = [9u8; 32];
const AAD: &str = "setting:production:smtp.password";

#[test]
fn tampered_envelopes_are_integrity_or_key_errors() {
    check(
        "envelope: mutated",
        1.0,
        mutated(sealed_value()),
        |(good, bad)| {
            let ring = ring(ACTIVE, &[PREVIOUS]);
            let aad = if good.starts_with("kw1:") { AAD } else { "" };
            match envelope::open(&ring, aad, &bad) {
                Ok(_) => prop_assert_eq!(good, bad, "a changed value opened"),
                Err(e) => {
                    prop_assert_ne!(&good, &bad, "the untouched value failed: {:?}", e);
                    error_ok(&e, &[ErrorKind::Integrity, ErrorKind::Key], Some(&bad))?;
                }
            }
            Ok(())
        },
    );
}

#[test]
fn arbitrary_text_never_opens_and_never_panics() {
    check("envelope: arbitrary", 1.0, arbitrary_text(), |text| {
        let ring = ring(ACTIVE, &[PREVIOUS]);
        let e = envelope::open(&ring, AAD, &text).expect_err("noise opened");
        error_ok(&e, &[ErrorKind::Integrity, ErrorKind::Key], Some(&text))
    });
}

#[test]
fn key_lists_round_trip_and_bad_entries_are_key_errors_by_position() {
    let keys = proptest::collection::vec(any::<[u8; 32]>(), 0..5);
    let sep = proptest::sample::select(vec![",", ", ", " ,\t", ",,"]);
    check("keyring: key list", 1.0, (keys, sep), |(keys, sep)| {
        let text: Vec<String> = keys
            .iter()
            .map(|k| key(*k).to_base64().to_string())
            .collect();
        let parsed = parse_key_list(&text.join(sep), "KEYWARD_PREVIOUS_KEYS").expect("list");
        let kids: Vec<&str> = parsed.iter().map(Key::kid).collect();
        let want: Vec<String> = keys.iter().map(|k| key(*k).kid().to_owned()).collect();
        prop_assert_eq!(kids, want.iter().map(String::as_str).collect::<Vec<_>>());
        Ok(())
    });
    let one = any::<[u8; 32]>().prop_map(|k| key(k).to_base64().to_string());
    check(
        "keyring: mutated key list",
        1.0,
        mutated(one),
        |(good, bad)| {
            match parse_key_list(&bad, "KEYWARD_PREVIOUS_KEYS") {
                // A changed character can still be a (different) key.
                Ok(keys) => prop_assert!(keys.len() <= 2 && (good != bad || keys.len() == 1)),
                Err(e) => error_ok(&e, &[ErrorKind::Key], Some(&bad))?,
            }
            Ok(())
        },
    );
}

#[test]
fn key_files_parse_or_fail_as_key_errors_without_quoting_lines() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("key");
    let file = (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, p)| {
        format!(
            "# keyward key\n{}\n{}\n",
            key(a).to_base64().as_str(),
            key(p).to_base64().as_str()
        )
    });
    check(
        "keyring: mutated key file",
        1.0,
        mutated(file),
        |(good, bad)| {
            std::fs::write(&path, &bad).expect("write key file");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            match read_key_file(&path) {
                Ok(keys) => {
                    prop_assert!(!keys.is_empty() && keys.len() <= 2 + bad.matches('\n').count());
                    if good == bad {
                        prop_assert_eq!(keys.len(), 2);
                    }
                }
                Err(e) => {
                    for line in bad.lines() {
                        error_ok(&e, &[ErrorKind::Key], Some(line))?;
                    }
                }
            }
            Ok(())
        },
    );
}

#[test]
fn phc_hash_then_verify() {
    // HMAC pads its key with zeros: "" and "\0" are one password, so the
    // other password differs by a non-zero byte.
    let s = (
        proptest::collection::vec(any::<u8>(), 0..80),
        1u32..4,
        1u8..,
    );
    check(
        "password: hash -> verify",
        1.0,
        s,
        |(pw, iterations, flip)| {
            let phc = password::hash(&pw, iterations).expect("hash");
            let head = format!("$pbkdf2-sha256$i={iterations},l=32$");
            prop_assert!(phc.starts_with(&head));
            let v = password::verify(&pw, &phc, iterations + 1).expect("verify");
            prop_assert_eq!(v, Verdict::Valid { needs_rehash: true });
            let v = password::verify(&pw, &phc, iterations).expect("verify");
            prop_assert_eq!(
                v,
                Verdict::Valid {
                    needs_rehash: false
                }
            );
            let mut other = pw.clone();
            other.push(flip);
            prop_assert_eq!(
                password::verify(&other, &phc, 1).expect("verify"),
                Verdict::Invalid
            );
            // An independent PBKDF2 (the `pbkdf2` crate) gives the stored hash.
            let parts: Vec<&str> = phc.split('$').collect();
            let salt = STANDARD_NO_PAD.decode(parts[3]).expect("salt");
            let mut want = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(&pw, &salt, iterations, &mut want);
            prop_assert_eq!(STANDARD_NO_PAD.encode(want), parts[4]);
            Ok(())
        },
    );
}

/// A password, a real PHC string of it (1 to 3 iterations), and that string
/// as stored: its `l=` sometimes changed (most often to disagree with the
/// hash's length).
fn phc_string() -> impl Strategy<Value = (String, String, String)> {
    ("[ -~]{0,16}", 1u32..4, proptest::option::of(0usize..80)).prop_map(|(pw, i, l)| {
        let real = password::hash(pw.as_bytes(), i).expect("hash");
        let phc = real.clone();
        let stored = match l {
            Some(l) => {
                let (head, tail) = phc.split_once(",l=").expect("l=");
                let rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
                format!("{head},l={l}{rest}")
            }
            None => phc,
        };
        (pw, real, stored)
    })
}

/// Whether `bad` is `real` with its hash cut short (and `l=` to match):
/// PBKDF2's shorter output is a prefix of its longer one, so it verifies.
fn truncated(real: &str, bad: &str) -> bool {
    let (r, b): (Vec<&str>, Vec<&str>) = (real.split('$').collect(), bad.split('$').collect());
    let hash = |s: &str| STANDARD_NO_PAD.decode(s).unwrap_or_default();
    r.len() == 5
        && b.len() == 5
        && r[..2] == b[..2]
        && r[3] == b[3]
        && b[2]
            .split(',')
            .any(|p| p.starts_with("i=") && r[2].contains(p))
        && hash(r[4]).starts_with(&hash(b[4]))
}

/// Whether two PHC strings say the same: fields alike, parameters alike in any order.
fn same_phc(a: &str, b: &str) -> bool {
    let fields = |s: &str| {
        let mut f: Vec<String> = s.split('$').map(str::to_owned).collect();
        if let Some(params) = f.get_mut(2) {
            let mut p: Vec<&str> = params.split(',').collect();
            p.sort_unstable();
            *params = p.join(",");
        }
        f
    };
    fields(a) == fields(b)
}

#[test]
fn mutated_phc_strings_verify_or_are_integrity_errors() {
    let s = phc_string()
        .prop_flat_map(|(pw, real, stored)| (Just(pw), Just(real), mutated(Just(stored))));
    check(
        "password: mutated PHC",
        1.0,
        s,
        |(pw, real, (good, bad))| {
            if costly(&bad) {
                return Ok(());
            }
            // The stored hash checks as the hash of its password when it says
            // what the real one says; with an `l=` that disagrees, it is damage.
            match password::verify(pw.as_bytes(), &good, 1) {
                Ok(v) => {
                    prop_assert!(same_phc(&real, &good), "{}", good);
                    prop_assert_eq!(
                        v,
                        Verdict::Valid {
                            needs_rehash: false
                        }
                    );
                }
                Err(e) => {
                    prop_assert!(!same_phc(&real, &good), "{}: {}", good, e);
                    prop_assert_eq!(e.kind(), ErrorKind::Integrity);
                }
            }
            match password::verify(pw.as_bytes(), &bad, 1) {
                Ok(Verdict::Valid { .. }) => {
                    prop_assert!(
                        same_phc(&real, &bad) || truncated(&real, &bad),
                        "a changed hash still matches: {}",
                        bad
                    );
                }
                Ok(Verdict::Invalid) => {}
                Err(e) => {
                    prop_assert!(!same_phc(&real, &bad), "{}: {}", bad, e);
                    error_ok(&e, &[ErrorKind::Integrity], Some(&bad))?;
                    prop_assert_eq!(e.message(), "stored password hash is malformed");
                }
            }
            Ok(())
        },
    );
    check("password: arbitrary PHC", 1.0, arbitrary_text(), |text| {
        if costly(&text) {
            return Ok(());
        }
        if let Err(e) = password::verify(b"pw", &text, 1) {
            error_ok(&e, &[ErrorKind::Integrity], Some(&text))?;
        }
        Ok(())
    });
}

/// Whether a PHC string asks for more than 5,000 iterations (a mutation that
/// grew `i=`): valid, but too slow to verify here thousands of times.
fn costly(phc: &str) -> bool {
    phc.split("i=").skip(1).any(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.len() > 4 || digits.parse::<u32>().is_ok_and(|n| n > 5000)
    })
}
