//! Password hashing: PBKDF2-HMAC-SHA256 in PHC string format.
//!
//! A hash is `$pbkdf2-sha256$i=<iterations>,l=<length>$<salt>$<hash>` with
//! standard base64 without padding, a 16-byte random salt and a 32-byte
//! output. Verification accepts any iteration count and an output length of
//! 16 to 64 bytes, compares in constant time, and says whether the hash should
//! be recomputed because its iteration count is below the configured one.
//!
//! The derivation is [`pbkdf2_sha256::derive`], a PBKDF2-HMAC-SHA256
//! specialised over the SHA-256 compression function; the `pbkdf2` crate is
//! kept as the reference its tests compare against.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::crypto::{pbkdf2_sha256, random};
use crate::error::{Error, Result};

/// The default PBKDF2 iteration count for new hashes.
pub const DEFAULT_ITERATIONS: u32 = 600_000;

/// The PHC identifier of the algorithm.
const ALGORITHM: &str = "pbkdf2-sha256";

/// Salt length of new hashes, in bytes.
const SALT_LEN: usize = 16;

/// Output length of new hashes, in bytes.
const HASH_LEN: usize = 32;

/// Shortest output length accepted on verification, in bytes.
const MIN_HASH_LEN: usize = 16;

/// Longest output length accepted on verification, in bytes.
const MAX_HASH_LEN: usize = 64;

/// Longest salt accepted on verification, in bytes.
const MAX_SALT_LEN: usize = 64;

/// The fixed salt of [`dummy_verify`]; its value does not matter.
const DUMMY_SALT: [u8; SALT_LEN] = *b"keyward-dummy-sa";

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password matches; `needs_rehash` is true when the hash used fewer iterations than configured.
    Valid {
        /// Whether the hash should be recomputed with the configured iteration count.
        needs_rehash: bool,
    },
    /// The password does not match.
    Invalid,
}

/// Hashes a password with a fresh random salt, as a PHC string.
pub fn hash(password: &[u8], iterations: u32) -> Result<String> {
    if !(1..=MAX_ITERATIONS).contains(&iterations) {
        return Err(Error::invalid(format!(
            "the PBKDF2 iteration count must be from 1 to {MAX_ITERATIONS}"
        )));
    }
    let salt = random::bytes::<SALT_LEN>()?;
    let mut out = Zeroizing::new([0u8; HASH_LEN]);
    pbkdf2_sha256::derive(password, &salt, iterations, out.as_mut_slice());
    Ok(format!(
        "${ALGORITHM}$i={iterations},l={HASH_LEN}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out.as_slice())
    ))
}

/// Checks a password against a PHC string; a malformed string is [`ErrorKind::Integrity`](crate::error::ErrorKind::Integrity).
pub fn verify(password: &[u8], phc: &str, configured_iterations: u32) -> Result<Verdict> {
    let parsed = parse(phc).ok_or_else(malformed)?;
    let mut derived = Zeroizing::new(vec![0u8; parsed.hash.len()]);
    pbkdf2_sha256::derive(password, &parsed.salt, parsed.iterations, &mut derived);
    let matches: bool = derived.as_slice().ct_eq(parsed.hash.as_slice()).into();
    Ok(if matches {
        Verdict::Valid {
            needs_rehash: parsed.iterations < configured_iterations,
        }
    } else {
        Verdict::Invalid
    })
}

/// Spends the time of a [`verify`] of a default-length hash, then discards the result.
///
/// Call it when there is no stored hash (e.g. unknown user) so that the
/// response time does not tell whether the account exists.
pub fn dummy_verify(password: &[u8], iterations: u32) {
    dummy_derive(password, iterations);
}

/// The work `dummy_verify` does: a full derivation against a fixed salt.
fn dummy_derive(password: &[u8], iterations: u32) -> Zeroizing<[u8; HASH_LEN]> {
    let mut out = Zeroizing::new([0u8; HASH_LEN]);
    pbkdf2_sha256::derive(password, &DUMMY_SALT, iterations.max(1), out.as_mut_slice());
    // Compare as verify does, and keep the optimizer from dropping the work.
    let choice = out.as_slice().ct_eq(&[0u8; HASH_LEN]);
    std::hint::black_box(bool::from(choice));
    out
}

/// The largest iteration count a stored hash may carry (100 million, ~10 s
/// here), and so the largest the configuration accepts: one limit for both.
pub const MAX_ITERATIONS: u32 = 100_000_000;

/// The error for a stored hash that cannot be parsed; it never quotes the hash.
fn malformed() -> Error {
    Error::integrity("stored password hash is malformed".to_string())
}

/// The fields of a PHC string.
struct Parsed {
    /// The PBKDF2 iteration count (`i`).
    iterations: u32,
    /// The decoded salt.
    salt: Vec<u8>,
    /// The decoded expected output, `l` bytes long.
    hash: Zeroizing<Vec<u8>>,
}

/// Parses `$pbkdf2-sha256$i=N,l=M$<salt>$<hash>`; `None` if anything is off.
fn parse(phc: &str) -> Option<Parsed> {
    let mut fields = phc.split('$');
    if !fields.next()?.is_empty() || fields.next()? != ALGORITHM {
        return None;
    }
    let params = fields.next()?;
    let salt_b64 = fields.next()?;
    let hash_b64 = fields.next()?;
    if fields.next().is_some() {
        return None;
    }

    let mut iterations = None;
    let mut length = None;
    for param in params.split(',') {
        let (name, value) = param.split_once('=')?;
        let slot = match name {
            "i" => &mut iterations,
            "l" => &mut length,
            _ => return None,
        };
        if slot.replace(parse_decimal(value)?).is_some() {
            return None; // repeated parameter
        }
    }
    let iterations = iterations?;
    let length = usize::try_from(length?).ok()?;
    // A stored count past this is damage or tampering, not a policy: refuse it
    // rather than spin for hours (SPEC §5: a row edited behind our back).
    if iterations == 0
        || iterations > MAX_ITERATIONS
        || !(MIN_HASH_LEN..=MAX_HASH_LEN).contains(&length)
    {
        return None;
    }

    let salt = STANDARD_NO_PAD.decode(salt_b64).ok()?;
    if salt.is_empty() || salt.len() > MAX_SALT_LEN {
        return None;
    }
    let hash = Zeroizing::new(STANDARD_NO_PAD.decode(hash_b64).ok()?);
    if hash.len() != length {
        return None;
    }
    Some(Parsed {
        iterations,
        salt,
        hash,
    })
}

/// Parses a PHC decimal: ASCII digits only, no sign, no leading zero.
fn parse_decimal(s: &str) -> Option<u32> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;
    use sha2::Sha256;

    /// Builds a PHC string from its parts, for tests.
    fn phc(iterations: u32, salt: &[u8], hash: &[u8]) -> String {
        format!(
            "$pbkdf2-sha256$i={iterations},l={}${}${}",
            hash.len(),
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(hash)
        )
    }

    #[test]
    fn rfc7914_pbkdf2_sha256_one_iteration() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA-256 (P="passwd", S="salt", c=1, dkLen=64).
        let mut out = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha256>(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            out,
            hex!(
                "55 ac 04 6e 56 e3 08 9f ec 16 91 c2 25 44 b6 05"
                "f9 41 85 21 6d de 04 65 e6 8b 9d 57 c2 0d ac bc"
                "49 ca 9c cc f1 79 b6 45 99 16 64 b3 9d 77 ef 31"
                "7c 71 b8 45 b1 e3 0b d5 09 11 20 41 d3 a1 97 83"
            )
        );
    }

    #[test]
    fn rfc7914_pbkdf2_sha256_80000_iterations() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA-256 (P="Password", S="NaCl", c=80000, dkLen=64).
        let expected = hex!(
            "4d dc d8 f6 0b 98 be 21 83 0c ee 5e f2 27 01 f9"
            "64 1a 44 18 d0 4c 04 14 ae ff 08 87 6b 34 ab 56"
            "a1 d4 25 a1 22 58 33 54 9a db 84 1b 51 c9 b3 17"
            "6a 27 2b de bb a1 d0 78 47 8f 62 b3 97 f3 3c 8d"
        );
        let mut out = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha256>(b"Password", b"NaCl", 80_000, &mut out);
        assert_eq!(out, expected);

        // verify() reaches the same bytes through a PHC string (l=64).
        let stored = phc(80_000, b"NaCl", &expected);
        assert_eq!(
            verify(b"Password", &stored, 80_000).unwrap(),
            Verdict::Valid {
                needs_rehash: false
            }
        );
        assert_eq!(
            verify(b"password", &stored, 80_000).unwrap(),
            Verdict::Invalid
        );
    }

    #[test]
    fn rfc7914_vector_truncated_to_32_bytes_verifies() {
        // PBKDF2's first 32 bytes do not depend on dkLen.
        let first = hex!("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
        let stored = phc(1, b"salt", &first);
        assert_eq!(
            stored,
            "$pbkdf2-sha256$i=1,l=32$c2FsdA$VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLw"
        );
        assert_eq!(
            verify(b"passwd", &stored, 1).unwrap(),
            Verdict::Valid {
                needs_rehash: false
            }
        );
    }

    #[test]
    fn hash_has_the_phc_shape_and_verifies() {
        let stored = hash(b"correct horse", 1_000).unwrap();
        let parts: Vec<&str> = stored.split('$').collect();
        assert_eq!(parts.len(), 5, "{stored}");
        assert_eq!(parts[0], "");
        assert_eq!(parts[1], "pbkdf2-sha256");
        assert_eq!(parts[2], "i=1000,l=32");
        assert_eq!(STANDARD_NO_PAD.decode(parts[3]).unwrap().len(), 16);
        assert_eq!(STANDARD_NO_PAD.decode(parts[4]).unwrap().len(), 32);
        assert!(!parts[3].ends_with('=') && !parts[4].ends_with('='));

        assert_eq!(
            verify(b"correct horse", &stored, 1_000).unwrap(),
            Verdict::Valid {
                needs_rehash: false
            }
        );
        // Fresh salt every time.
        assert_ne!(stored, hash(b"correct horse", 1_000).unwrap());
    }

    #[test]
    fn default_iterations_hash_round_trip() {
        let stored = hash(b"pw", DEFAULT_ITERATIONS).unwrap();
        assert!(
            stored.starts_with("$pbkdf2-sha256$i=600000,l=32$"),
            "{stored}"
        );
        assert_eq!(
            verify(b"pw", &stored, DEFAULT_ITERATIONS).unwrap(),
            Verdict::Valid {
                needs_rehash: false
            }
        );
    }

    #[test]
    fn fewer_iterations_than_configured_needs_rehash() {
        let stored = hash(b"s3cret", 1_000).unwrap();
        assert!(stored.contains("$i=1000,"));
        assert_eq!(
            verify(b"s3cret", &stored, DEFAULT_ITERATIONS).unwrap(),
            Verdict::Valid { needs_rehash: true }
        );
        // More iterations than configured is fine.
        assert_eq!(
            verify(b"s3cret", &stored, 500).unwrap(),
            Verdict::Valid {
                needs_rehash: false
            }
        );
        // A wrong password never asks for a rehash.
        assert_eq!(
            verify(b"wrong", &stored, DEFAULT_ITERATIONS).unwrap(),
            Verdict::Invalid
        );
    }

    #[test]
    fn other_output_lengths_verify() {
        for len in [16usize, 20, 48, 64] {
            let salt = [7u8; 16];
            let mut out = vec![0u8; len];
            pbkdf2::pbkdf2_hmac::<Sha256>(b"pw", &salt, 10, &mut out);
            let stored = phc(10, &salt, &out);
            assert_eq!(
                verify(b"pw", &stored, 10).unwrap(),
                Verdict::Valid {
                    needs_rehash: false
                },
                "l={len}"
            );
            assert_eq!(verify(b"pX", &stored, 10).unwrap(), Verdict::Invalid);
        }
        // Parameters in the other order are accepted too.
        let salt = [1u8; 16];
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(b"pw", &salt, 3, &mut out);
        let stored = format!(
            "$pbkdf2-sha256$l=32,i=3${}${}",
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(out)
        );
        assert_eq!(
            verify(b"pw", &stored, 3).unwrap(),
            Verdict::Valid {
                needs_rehash: false
            }
        );
    }

    #[test]
    fn wrong_password_is_invalid() {
        let stored = hash(b"right", 100).unwrap();
        assert_eq!(verify(b"wrong", &stored, 100).unwrap(), Verdict::Invalid);
        assert_eq!(verify(b"", &stored, 100).unwrap(), Verdict::Invalid);
        assert_eq!(verify(b"right ", &stored, 100).unwrap(), Verdict::Invalid);
    }

    #[test]
    fn tampered_hash_of_same_shape_is_invalid() {
        let stored = hash(b"pw", 100).unwrap();
        let (head, tail) = stored.rsplit_once('$').unwrap();
        let mut raw = STANDARD_NO_PAD.decode(tail).unwrap();
        raw[0] ^= 1;
        let tampered = format!("{head}${}", STANDARD_NO_PAD.encode(raw));
        assert_eq!(verify(b"pw", &tampered, 100).unwrap(), Verdict::Invalid);
        // Changing the iteration count changes the result too.
        let other_i = stored.replace("i=100,", "i=101,");
        assert_eq!(verify(b"pw", &other_i, 100).unwrap(), Verdict::Invalid);
    }

    #[test]
    fn malformed_strings_are_integrity_errors_without_content() {
        let good = hash(b"pw", 10).unwrap();
        let parts: Vec<&str> = good.split('$').collect();
        let (salt, out) = (parts[3], parts[4]);
        let mut truncated = good.clone();
        truncated.pop();
        let short_hash = STANDARD_NO_PAD.encode([0u8; 15]);
        let long_hash = STANDARD_NO_PAD.encode([0u8; 65]);
        let cases = vec![
            String::new(),
            "garbage".to_string(),
            format!("$pbkdf2-sha512$i=10,l=32${salt}${out}"),
            format!("$pbkdf2-sha256$i=10,l=32${salt}"),
            format!("$pbkdf2-sha256$i=10,l=32${salt}${out}$extra"),
            format!("pbkdf2-sha256$i=10,l=32${salt}${out}"),
            format!("$pbkdf2-sha256$i=10${salt}${out}"),
            format!("$pbkdf2-sha256$l=32${salt}${out}"),
            format!("$pbkdf2-sha256$i=0,l=32${salt}${out}"),
            format!("$pbkdf2-sha256$i=010,l=32${salt}${out}"),
            format!("$pbkdf2-sha256$i=+10,l=32${salt}${out}"),
            format!("$pbkdf2-sha256$i=-10,l=32${salt}${out}"),
            format!("$pbkdf2-sha256$i=99999999999,l=32${salt}${out}"),
            format!("$pbkdf2-sha256$i=10,i=10,l=32${salt}${out}"),
            format!("$pbkdf2-sha256$i=10,l=32,x=1${salt}${out}"),
            format!("$pbkdf2-sha256$i=10,l=33${salt}${out}"),
            format!("$pbkdf2-sha256$i=10,l=15${salt}${short_hash}"),
            format!("$pbkdf2-sha256$i=10,l=65${salt}${long_hash}"),
            format!("$pbkdf2-sha256$i=10,l=32$${out}"),
            format!("$pbkdf2-sha256$i=10,l=32${salt}=${out}"),
            format!("$pbkdf2-sha256$i=10,l=32${salt}${out}="),
            format!("$pbkdf2-sha256$i=10,l=32${salt}$!{out}"),
            format!(" {good}"),
            truncated,
        ];
        for bad in &cases {
            let err = verify(b"pw", bad, 10).unwrap_err();
            assert!(
                err.kind() == crate::error::ErrorKind::Integrity,
                "{bad:?}: {err:?}"
            );
            assert_eq!(err.to_string(), "stored password hash is malformed");
            assert_eq!(err.exit_code(), 8);
        }
    }

    #[test]
    fn zero_iterations_is_refused() {
        let err = hash(b"pw", 0).unwrap_err();
        assert!(err.kind() == crate::error::ErrorKind::Invalid);
    }

    #[test]
    fn dummy_verify_does_a_full_derivation() {
        dummy_verify(b"", 0);
        let mut reference = [0u8; HASH_LEN];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"whatever", &DUMMY_SALT, 1_000, &mut reference);
        assert_eq!(*dummy_derive(b"whatever", 1_000), reference);
    }

    #[test]
    fn absurd_stored_iteration_counts_are_refused() {
        let phc = hash(b"pw", 1_000)
            .unwrap()
            .replace("i=1000", "i=4294967295");
        assert_eq!(verify(b"pw", &phc, 1_000).unwrap_err().exit_code(), 8);
    }
}
