//! The ciphertext envelope: AES-256-GCM with associated data, tagged with the key id.
//!
//! A sealed value is `kw1:<kid>:<base64(nonce || ciphertext || tag)>` with a
//! 96-bit random nonce and a 128-bit tag. The associated data (AAD) binds the
//! value to its row (e.g. `setting:production:smtp.password`), so a value
//! copied to another row fails authentication.
//!
//! A value without the `kw1:` prefix is the legacy format: base64 of
//! `nonce || ciphertext || tag`, with empty AAD, decrypted with the active key.

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes256Gcm;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::crypto::keyring::{Key, Keyring, KEY_LEN};
use crate::crypto::random;
use crate::error::{Error, Result};

/// The prefix of a version-1 envelope.
pub const PREFIX: &str = "kw1:";

/// Nonce length in bytes (96 bits).
pub const NONCE_LEN: usize = 12;

/// Authentication tag length in bytes (128 bits).
pub const TAG_LEN: usize = 16;

/// The message of an authentication failure; it never carries the value.
const AUTH_FAILED: &str =
    "ciphertext failed authentication: it was altered or moved to another row";

/// Encrypts `plaintext` under `key`, bound to `aad`, as `kw1:<kid>:<base64(nonce || ciphertext || tag)>`.
pub fn seal(key: &Key, aad: &str, plaintext: &[u8]) -> Result<String> {
    let nonce = random::bytes::<NONCE_LEN>()?;
    let sealed = encrypt_raw(key.bytes(), &nonce, aad.as_bytes(), plaintext)?;
    let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    Ok(format!("{PREFIX}{}:{}", key.kid(), STANDARD.encode(&blob)))
}

/// Decrypts a `kw1:` envelope (key chosen by kid) or a legacy value (active key, empty AAD).
///
/// An unknown kid is [`ErrorKind::Key`](crate::error::ErrorKind::Key); a value that is malformed, of an unknown
/// `kwN:` version, or fails authentication is [`ErrorKind::Integrity`](crate::error::ErrorKind::Integrity).
pub fn open(keyring: &Keyring, aad: &str, value: &str) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(rest) = value.strip_prefix(PREFIX) {
        let (kid, encoded) = rest
            .split_once(':')
            .ok_or_else(|| malformed("the key id is not followed by `:`"))?;
        if !is_kid(kid) {
            return Err(malformed("the key id is not 8 lowercase hex digits"));
        }
        let key = keyring.find(kid).ok_or_else(|| {
            Error::key(format!(
                "value was encrypted with key {kid}, which is not configured; add it as a previous key (second line of the key file, or KEYWARD_PREVIOUS_KEYS)"
            ))
        })?;
        open_blob(key, aad.as_bytes(), encoded)
    } else if let Some(version) = other_version(value) {
        Err(malformed(&format!(
            "envelope version {version} is not supported by this version of keyward"
        )))
    } else {
        // Legacy format: no kid, no associated data, the active key.
        open_blob(keyring.active(), b"", value)
    }
}

/// Whether `value` is a `kw1:` envelope under the keyring's active key (so needs no re-encryption).
pub fn is_current(keyring: &Keyring, value: &str) -> bool {
    kid_of(value) == Some(keyring.active().kid())
}

/// The key id of a `kw1:` envelope, or `None` for legacy or malformed values.
pub fn kid_of(value: &str) -> Option<&str> {
    let (kid, _) = value.strip_prefix(PREFIX)?.split_once(':')?;
    is_kid(kid).then_some(kid)
}

/// Decodes `base64(nonce || ciphertext || tag)` and decrypts it.
fn open_blob(key: &Key, aad: &[u8], encoded: &str) -> Result<Zeroizing<Vec<u8>>> {
    let blob = STANDARD
        .decode(encoded)
        .map_err(|_| malformed("not valid base64"))?;
    if blob.len() < NONCE_LEN + TAG_LEN {
        return Err(malformed("too short to hold a nonce and a tag"));
    }
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    let mut nonce_arr = [0u8; NONCE_LEN];
    nonce_arr.copy_from_slice(nonce);
    decrypt_raw(key.bytes(), &nonce_arr, aad, sealed)
}

/// AES-256-GCM encryption: returns `ciphertext || tag` (the envelope's and the KATs' only path).
pub(crate) fn encrypt_raw(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let cipher = Aes256Gcm::new(GenericArray::from_slice(key));
    let mut buffer = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
    buffer.extend_from_slice(plaintext);
    let tag = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, buffer.as_mut_slice())
        .map_err(|_| Error::invalid("the value is too large to encrypt"))?;
    buffer.extend_from_slice(&tag);
    // The buffer now holds ciphertext and tag only: nothing secret is left to wipe.
    Ok(std::mem::take(&mut *buffer))
}

/// AES-256-GCM decryption of `ciphertext || tag`; any failure is [`ErrorKind::Integrity`](crate::error::ErrorKind::Integrity).
pub(crate) fn decrypt_raw(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() < TAG_LEN {
        return Err(malformed("too short to hold a tag"));
    }
    let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_LEN);
    let cipher = Aes256Gcm::new(GenericArray::from_slice(key));
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(nonce),
            aad,
            buffer.as_mut_slice(),
            GenericArray::from_slice(tag),
        )
        .map_err(|_| Error::integrity(AUTH_FAILED.to_string()))?;
    Ok(buffer)
}

/// The error for a value that is not a well-formed envelope.
fn malformed(why: &str) -> Error {
    Error::integrity(format!("ciphertext is malformed: {why}"))
}

/// Whether `s` is a key id: exactly 8 lowercase hex digits.
fn is_kid(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The version tag (e.g. `kw2`) of a value shaped `kw<digits>:…`.
fn other_version(value: &str) -> Option<&str> {
    let (head, _) = value.split_once(':')?;
    let digits = head.strip_prefix("kw")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keyring::KeySource;
    use hex_literal::hex;

    /// A known-answer test vector.
    struct Kat {
        name: &'static str,
        key: [u8; 32],
        iv: [u8; 12],
        aad: &'static [u8],
        pt: &'static [u8],
        ct: &'static [u8],
        tag: [u8; 16],
    }

    const FEFFE_KEY: [u8; 32] =
        hex!("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    const CAFEBABE_IV: [u8; 12] = hex!("cafebabefacedbaddecaf888");

    /// Test Cases 13–16 of McGrew & Viega, "The Galois/Counter Mode of Operation
    /// (GCM)", appendix B (the 256-bit-key cases, also in NIST's GCM test data),
    /// and two vectors of NIST CAVP `gcmEncryptExtIV256.rsp` (96-bit IV, 128-bit tag).
    const KATS: &[Kat] = &[
        Kat {
            name: "GCM spec test case 13 (zero key, empty plaintext)",
            key: [0u8; 32],
            iv: [0u8; 12],
            aad: b"",
            pt: b"",
            ct: b"",
            tag: hex!("530f8afbc74536b9a963b4f1c4cb738b"),
        },
        Kat {
            name: "GCM spec test case 14 (zero key, one zero block)",
            key: [0u8; 32],
            iv: [0u8; 12],
            aad: b"",
            pt: &hex!("00000000000000000000000000000000"),
            ct: &hex!("cea7403d4d606b6e074ec5d3baf39d18"),
            tag: hex!("d0d1c8a799996bf0265b98b5d48ab919"),
        },
        Kat {
            name: "GCM spec test case 15 (64 bytes, no AAD)",
            key: FEFFE_KEY,
            iv: CAFEBABE_IV,
            aad: b"",
            pt: &hex!(
                "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
            ),
            ct: &hex!(
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
            ),
            tag: hex!("b094dac5d93471bdec1a502270e3cc6c"),
        },
        Kat {
            name: "GCM spec test case 16 (60 bytes, 20 bytes of AAD)",
            key: FEFFE_KEY,
            iv: CAFEBABE_IV,
            aad: &hex!("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
            pt: &hex!(
                "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
            ),
            ct: &hex!(
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
            ),
            tag: hex!("76fc6ece0f4e1768cddf8853bb2d551b"),
        },
        Kat {
            name: "gcmEncryptExtIV256.rsp [PTlen=128, AADlen=128] (92e11dcd…)",
            key: hex!("92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b"),
            iv: hex!("ac93a1a6145299bde902f21a"),
            aad: &hex!("1e0889016f67601c8ebea4943bc23ad6"),
            pt: &hex!("2d71bcfa914e4ac045b2aa60955fad24"),
            ct: &hex!("8995ae2e6df3dbf96fac7b7137bae67f"),
            tag: hex!("eca5aa77d51d4a0a14d9c51e1da474ab"),
        },
        Kat {
            name: "gcmEncryptExtIV256.rsp [PTlen=0, AADlen=128] (78dc4e0a…)",
            key: hex!("78dc4e0aaf52d935c3c01eea57428f00ca1fd475f5da86a49c8dd73d68c8e223"),
            iv: hex!("d79cf22d504cc793c3fb6c8a"),
            aad: &hex!("b96baa8c1c75a671bfb2d08d06be5f36"),
            pt: b"",
            ct: b"",
            tag: hex!("3e5d486aa2e30b22e040b85723a06e76"),
        },
    ];

    fn ring(active: &Key, previous: &[&Key]) -> Keyring {
        Keyring::new(
            active.clone(),
            previous.iter().map(|k| (*k).clone()).collect(),
            KeySource::EnvVar("DATABASE_ENCRYPTION_KEY".into()),
        )
    }

    fn key_of(byte: u8) -> Key {
        Key::from_base64(&STANDARD.encode([byte; 32])).unwrap()
    }

    const AAD: &str = "setting:production:smtp.password";

    #[test]
    fn nist_gcm_known_answers_encrypt() {
        for kat in KATS {
            let out = encrypt_raw(&kat.key, &kat.iv, kat.aad, kat.pt).unwrap();
            let (ct, tag) = out.split_at(out.len() - TAG_LEN);
            assert_eq!(ct, kat.ct, "{}: ciphertext", kat.name);
            assert_eq!(tag, kat.tag, "{}: tag", kat.name);
        }
    }

    #[test]
    fn nist_gcm_known_answers_decrypt() {
        for kat in KATS {
            let mut sealed = kat.ct.to_vec();
            sealed.extend_from_slice(&kat.tag);
            let pt = decrypt_raw(&kat.key, &kat.iv, kat.aad, &sealed).unwrap();
            assert_eq!(pt.as_slice(), kat.pt, "{}", kat.name);

            // Any flipped bit of ciphertext or tag fails authentication.
            for i in 0..sealed.len() {
                let mut bad = sealed.clone();
                bad[i] ^= 0x01;
                let err = decrypt_raw(&kat.key, &kat.iv, kat.aad, &bad).unwrap_err();
                assert!(
                    err.kind() == crate::error::ErrorKind::Integrity,
                    "{}: byte {i}",
                    kat.name
                );
            }
            // So does other associated data.
            let err = decrypt_raw(&kat.key, &kat.iv, b"other", &sealed).unwrap_err();
            assert!(
                err.kind() == crate::error::ErrorKind::Integrity,
                "{}",
                kat.name
            );
        }
    }

    #[test]
    fn envelopes_of_a_known_vector() {
        // Test case 15 (no AAD) wrapped as a kw1 envelope and as a legacy value.
        let kat = &KATS[2];
        let key = Key::from_base64(&STANDARD.encode(kat.key)).unwrap();
        let keyring = ring(&key, &[]);
        let mut blob = kat.iv.to_vec();
        blob.extend_from_slice(kat.ct);
        blob.extend_from_slice(&kat.tag);
        let b64 = STANDARD.encode(&blob);

        let value = format!("kw1:{}:{b64}", key.kid());
        assert_eq!(open(&keyring, "", &value).unwrap().as_slice(), kat.pt);
        let err = open(&keyring, AAD, &value).unwrap_err();
        assert!(err.kind() == crate::error::ErrorKind::Integrity);

        assert_eq!(open(&keyring, AAD, &b64).unwrap().as_slice(), kat.pt);
    }

    #[test]
    fn round_trip() {
        let key = Key::generate().unwrap();
        let keyring = ring(&key, &[]);
        for pt in [&b""[..], b"x", b"hunter2", &[0u8; 1000]] {
            let value = seal(&key, AAD, pt).unwrap();
            assert!(value.starts_with(&format!("kw1:{}:", key.kid())));
            assert_eq!(open(&keyring, AAD, &value).unwrap().as_slice(), pt);
            // nonce (12) + ciphertext + tag (16), base64 with padding.
            let b64 = value.rsplit(':').next().unwrap();
            assert_eq!(
                STANDARD.decode(b64).unwrap().len(),
                NONCE_LEN + pt.len() + TAG_LEN
            );
        }
    }

    #[test]
    fn nonces_are_fresh() {
        let key = Key::generate().unwrap();
        let a = seal(&key, AAD, b"same").unwrap();
        let b = seal(&key, AAD, b"same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_aad_is_an_integrity_error() {
        let key = Key::generate().unwrap();
        let value = seal(&key, AAD, b"secret-value").unwrap();
        let err = open(&ring(&key, &[]), "setting:staging:smtp.password", &value).unwrap_err();
        assert!(err.kind() == crate::error::ErrorKind::Integrity, "{err:?}");
        assert_eq!(err.exit_code(), 8);
        assert_eq!(err.to_string(), AUTH_FAILED);
        assert!(!err.to_string().contains("secret-value"));
    }

    #[test]
    fn flipped_byte_is_an_integrity_error() {
        let key = Key::generate().unwrap();
        let keyring = ring(&key, &[]);
        let value = seal(&key, AAD, b"secret-value").unwrap();
        let prefix = format!("kw1:{}:", key.kid());
        let blob = STANDARD.decode(&value[prefix.len()..]).unwrap();
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x80;
            let tampered = format!("{prefix}{}", STANDARD.encode(&bad));
            let err = open(&keyring, AAD, &tampered).unwrap_err();
            assert!(
                err.kind() == crate::error::ErrorKind::Integrity,
                "byte {i}: {err:?}"
            );
        }
    }

    #[test]
    fn malformed_values_are_integrity_errors() {
        let key = Key::generate().unwrap();
        let keyring = ring(&key, &[]);
        let kid = key.kid();
        let short = STANDARD.encode([0u8; NONCE_LEN + TAG_LEN - 1]);
        for bad in [
            format!("kw1:{kid}:not*base64"),
            format!("kw1:{kid}:{short}"),
            format!("kw1:{kid}:"),
            format!("kw1:{kid}"),
            "kw1:NOTAKID1:AAAA".to_string(),
            "kw1:".to_string(),
            "kw2:abcdef01:AAAA".to_string(),
            "kw10:whatever".to_string(),
            "not base64 at all".to_string(),
            short.clone(),
            String::new(),
        ] {
            let err = open(&keyring, AAD, &bad).unwrap_err();
            assert!(
                err.kind() == crate::error::ErrorKind::Integrity,
                "{bad:?}: {err:?}"
            );
        }
        let err = open(&keyring, AAD, "kw2:abcdef01:AAAA").unwrap_err();
        assert!(err.to_string().contains("kw2"), "{err}");
    }

    #[test]
    fn unknown_kid_is_a_key_error() {
        let old = key_of(1);
        let new = key_of(2);
        let value = seal(&old, AAD, b"v").unwrap();
        let err = open(&ring(&new, &[]), AAD, &value).unwrap_err();
        assert!(err.kind() == crate::error::ErrorKind::Key, "{err:?}");
        assert_eq!(err.exit_code(), 7);
        assert_eq!(
            err.to_string(),
            format!(
                "value was encrypted with key {}, which is not configured; add it as a previous key (second line of the key file, or KEYWARD_PREVIOUS_KEYS)",
                old.kid()
            )
        );
    }

    #[test]
    fn previous_key_decrypts() {
        let old = key_of(1);
        let other = key_of(3);
        let new = key_of(2);
        let value = seal(&old, AAD, b"rotated").unwrap();
        let keyring = ring(&new, &[&other, &old]);
        assert_eq!(open(&keyring, AAD, &value).unwrap().as_slice(), b"rotated");
        assert!(!is_current(&keyring, &value));
        let fresh = seal(keyring.active(), AAD, b"rotated").unwrap();
        assert!(is_current(&keyring, &fresh));
    }

    #[test]
    fn legacy_format_decrypts_with_active_key() {
        let active = key_of(5);
        let previous = key_of(6);
        let nonce = [9u8; NONCE_LEN];
        let mut blob = nonce.to_vec();
        blob.extend(encrypt_raw(active.bytes(), &nonce, b"", b"legacy secret").unwrap());
        let legacy = STANDARD.encode(&blob);

        let keyring = ring(&active, &[&previous]);
        // The caller's AAD is ignored for legacy values: they had none.
        assert_eq!(
            open(&keyring, AAD, &legacy).unwrap().as_slice(),
            b"legacy secret"
        );
        assert!(!is_current(&keyring, &legacy));
        assert_eq!(kid_of(&legacy), None);

        // Only the active key is tried.
        let err = open(&ring(&previous, &[&active]), AAD, &legacy).unwrap_err();
        assert!(err.kind() == crate::error::ErrorKind::Integrity);

        // Legacy values with associated data do not exist: that would fail.
        let mut blob = nonce.to_vec();
        blob.extend(encrypt_raw(active.bytes(), &nonce, AAD.as_bytes(), b"x").unwrap());
        let err = open(&keyring, AAD, &STANDARD.encode(&blob)).unwrap_err();
        assert!(err.kind() == crate::error::ErrorKind::Integrity);
    }

    #[test]
    fn kid_is_8_hex_of_sha256_of_key() {
        // sha256(32 × 0x42) = 425ed4e4a36b30ea…
        let key = key_of(0x42);
        let value = seal(&key, AAD, b"v").unwrap();
        assert!(value.starts_with("kw1:425ed4e4:"), "{value}");
        assert_eq!(kid_of(&value), Some("425ed4e4"));
    }

    #[test]
    fn kid_of_and_is_current() {
        let key = key_of(0x42);
        let keyring = ring(&key, &[]);
        assert_eq!(kid_of("kw1:425ed4e4:AAAA"), Some("425ed4e4"));
        assert_eq!(kid_of("kw1:425ED4E4:AAAA"), None);
        assert_eq!(kid_of("kw1:425ed4e:AAAA"), None);
        assert_eq!(kid_of("kw1:425ed4e4"), None);
        assert_eq!(kid_of("kw2:425ed4e4:AAAA"), None);
        assert_eq!(kid_of("AAAA"), None);
        assert!(is_current(&keyring, "kw1:425ed4e4:AAAA"));
        assert!(!is_current(&keyring, "kw1:00000000:AAAA"));
        assert!(!is_current(&keyring, "AAAA"));
    }
}
