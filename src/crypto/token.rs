//! Checksummed bearer tokens (SPEC §3): refresh tokens `kwr_<32><6>` and API
//! keys `kw_<8>_<32><6>`, base62 (`0-9A-Za-z`) drawn from the OS CSPRNG, the
//! last six characters the CRC-32 (IEEE, as zlib's) of everything before
//! them, written in base62 and left-padded with `0`. The checksum lets a typo
//! be refused offline, and lets secret scanners tell a real token from noise.
//! Stored, a token is only its hex SHA-256 ([`hash`]).

use crate::error::Result;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The base62 alphabet, in SPEC order.
pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The length of the checksum.
pub const CHECKSUM_LEN: usize = 6;

/// The refresh token prefix.
pub const REFRESH_PREFIX: &str = "kwr_";

/// Random characters in a refresh token.
pub const REFRESH_RANDOM_LEN: usize = 32;

/// A refresh token's whole length: `kwr_`, 32 random, 6 checksum.
pub const REFRESH_LEN: usize = REFRESH_PREFIX.len() + REFRESH_RANDOM_LEN + CHECKSUM_LEN;

/// `n` base62 characters, uniform (rejection sampling of random bytes).
pub fn random_base62(n: usize) -> Result<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(n));
    let mut buf = Zeroizing::new([0u8; 64]);
    while out.len() < n {
        super::random::fill(buf.as_mut())?;
        // 248 = 4 × 62: bytes at or above it would bias the draw.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == n {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(b % 62)]));
        }
    }
    Ok(out)
}

/// `n` in base62, left-padded with `0` to `width` digits (the low `width`
/// digits when it needs more). Fixed-width base62 in this alphabet sorts
/// bytewise as the numbers do, the alphabet being in ASCII order.
pub fn base62_fixed(mut n: u64, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for d in digits.iter_mut().rev() {
        *d = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    digits.into_iter().map(char::from).collect()
}

/// A time-ordered id: `time` as `width` base62 digits, then `random` random
/// base62 characters. Ids made in a later time unit sort (bytewise) after
/// those of an earlier one, so a B-tree index on them keeps rows of the same
/// age together (see `domain::sessions::tokens`).
pub fn time_ordered(time: u64, width: usize, random: usize) -> Result<Zeroizing<String>> {
    let mut id = Zeroizing::new(base62_fixed(time, width));
    id.push_str(&random_base62(random)?);
    Ok(id)
}

/// The checksum of `body`: CRC-32 (IEEE) in base62, left-padded to six.
pub fn checksum(body: &str) -> String {
    // 62^6 > 2^32: every CRC fits in six digits.
    base62_fixed(u64::from(crc32fast::hash(body.as_bytes())), CHECKSUM_LEN)
}

/// Whether every character is base62.
pub fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// What is wrong with a presented token, found offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// Not the token's shape (prefix, length, alphabet).
    Malformed,
    /// The right shape, but the checksum does not match.
    BadChecksum,
}

/// Checks a token's checksum (its last six characters against the rest).
pub fn check_checksum(token: &str) -> std::result::Result<(), Flaw> {
    if token.len() <= CHECKSUM_LEN || !token.is_ascii() {
        return Err(Flaw::Malformed);
    }
    let (body, sum) = token.split_at(token.len() - CHECKSUM_LEN);
    let expected = checksum(body);
    if subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), sum.as_bytes()).into() {
        Ok(())
    } else {
        Err(Flaw::BadChecksum)
    }
}

/// A new refresh token: `kwr_` + `family` (base62, fixed for a session) +
/// fresh random characters to 32 + the checksum.
pub fn new_refresh(family: &str) -> Result<Zeroizing<String>> {
    debug_assert!(family.len() < REFRESH_RANDOM_LEN && is_base62(family));
    let rest = random_base62(REFRESH_RANDOM_LEN - family.len())?;
    let mut token = Zeroizing::new(String::with_capacity(REFRESH_LEN));
    token.push_str(REFRESH_PREFIX);
    token.push_str(family);
    token.push_str(&rest);
    let sum = checksum(&token);
    token.push_str(&sum);
    Ok(token)
}

/// Checks a presented refresh token's shape and checksum (offline).
pub fn check_refresh(token: &str) -> std::result::Result<(), Flaw> {
    let Some(rest) = token.strip_prefix(REFRESH_PREFIX) else {
        return Err(Flaw::Malformed);
    };
    if token.len() != REFRESH_LEN || !is_base62(rest) {
        return Err(Flaw::Malformed);
    }
    check_checksum(token)
}

/// The API key prefix.
pub const KEY_PREFIX: &str = "kw_";

/// Random characters that name a key, after `kw_` (its stored `key_prefix`
/// is `kw_` and these).
pub const KEY_ID_LEN: usize = 8;

/// Random characters of a key's secret part, after `kw_<8>_`.
pub const KEY_SECRET_LEN: usize = 32;

/// The stored prefix's length: `kw_` and 8.
pub const KEY_PREFIX_LEN: usize = KEY_PREFIX.len() + KEY_ID_LEN;

/// An API key's whole length: `kw_<8>_<32><6>`, 50 characters.
pub const KEY_LEN: usize = KEY_PREFIX_LEN + 1 + KEY_SECRET_LEN + CHECKSUM_LEN;

/// A new API key and its stored prefix.
pub struct NewKey {
    /// `kw_<8>`: names the key, stored, shown.
    pub prefix: String,
    /// The whole key, shown once.
    pub key: Zeroizing<String>,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A new API key (SPEC §3): `kw_`, 8 random base62, `_`, 32 random base62,
/// then the checksum of all that.
pub fn new_api_key() -> Result<NewKey> {
    let id = random_base62(KEY_ID_LEN)?;
    let secret = random_base62(KEY_SECRET_LEN)?;
    let mut key = Zeroizing::new(String::with_capacity(KEY_LEN));
    key.push_str(KEY_PREFIX);
    key.push_str(&id);
    key.push('_');
    key.push_str(&secret);
    let sum = checksum(&key);
    key.push_str(&sum);
    Ok(NewKey {
        prefix: key[..KEY_PREFIX_LEN].to_owned(),
        key,
    })
}

/// Whether `s` has an API key's shape: `kw_`, 8 base62, `_`, 38 base62.
pub fn is_api_key_shape(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == KEY_LEN
        && s.starts_with(KEY_PREFIX)
        && b[KEY_PREFIX_LEN] == b'_'
        && is_base62(&s[KEY_PREFIX.len()..KEY_PREFIX_LEN])
        && is_base62(&s[KEY_PREFIX_LEN + 1..])
}

/// Checks a presented API key's shape and checksum (offline).
pub fn check_api_key(key: &str) -> std::result::Result<(), Flaw> {
    if !key.is_ascii() || !is_api_key_shape(key) {
        return Err(Flaw::Malformed);
    }
    check_checksum(key)
}

/// The stored prefix (`kw_<8>`) of a key whose shape was checked.
pub fn api_key_prefix(key: &str) -> Option<&str> {
    key.get(..KEY_PREFIX_LEN)
}

/// Whether `s` has a stored prefix's shape: `kw_` and 8 base62.
pub fn is_api_key_prefix(s: &str) -> bool {
    s.len() == KEY_PREFIX_LEN && s.starts_with(KEY_PREFIX) && is_base62(&s[KEY_PREFIX.len()..])
}

/// The stored form of a token: hex SHA-256 of the whole text.
pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// Compares two stored hashes in constant time.
pub fn hashes_match(a: &str, b: &str) -> bool {
    subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_zlib_crc32_in_padded_base62() {
        // zlib.crc32(b"") == 0, b"a" == 0xe8b7be43 (3904355907).
        assert_eq!(checksum(""), "000000");
        let mut n: u64 = 3_904_355_907;
        let mut s = Vec::new();
        while n > 0 {
            s.push(ALPHABET[(n % 62) as usize]);
            n /= 62;
        }
        s.reverse();
        let expected = format!("{:0>6}", String::from_utf8(s).unwrap());
        assert_eq!(checksum("a"), expected);
        // The largest CRC still fits: 62^6 > u32::MAX.
        assert!(62u64.pow(6) > u64::from(u32::MAX));
    }

    #[test]
    fn refresh_tokens_round_trip_and_typos_are_caught() {
        let t = new_refresh("AbCdEfGhIjKl").unwrap();
        assert_eq!(t.len(), REFRESH_LEN);
        assert!(t.starts_with("kwr_AbCdEfGhIjKl"));
        assert_eq!(check_refresh(&t), Ok(()));
        let mut typo = t.to_string().into_bytes();
        typo[20] = if typo[20] == b'x' { b'y' } else { b'x' };
        let typo = String::from_utf8(typo).unwrap();
        assert_eq!(check_refresh(&typo), Err(Flaw::BadChecksum));
        assert_eq!(check_refresh("kwr_short"), Err(Flaw::Malformed));
        assert_eq!(
            check_refresh(&t.replace("kwr_", "kwx_")),
            Err(Flaw::Malformed)
        );
        let not_base62 = format!("kwr_{}", "-".repeat(38));
        assert_eq!(check_refresh(&not_base62), Err(Flaw::Malformed));
        assert_eq!(
            check_refresh("kwr_ééééééééééééééééééé"),
            Err(Flaw::Malformed)
        );
    }

    #[test]
    fn api_keys_have_the_spec_shape_and_checksum() {
        let k = new_api_key().unwrap();
        assert_eq!(k.key.len(), KEY_LEN);
        assert!(k.key.starts_with(&k.prefix) && is_api_key_prefix(&k.prefix));
        assert_eq!(check_api_key(&k.key), Ok(()));
        assert_eq!(api_key_prefix(&k.key), Some(k.prefix.as_str()));
        // The checksum is zlib's CRC-32 of `kw_<8>_<32>` in base62.
        let body = &k.key[..KEY_LEN - CHECKSUM_LEN];
        assert_eq!(&k.key[KEY_LEN - CHECKSUM_LEN..], checksum(body));
        let mut typo = k.key.to_string();
        let c = if typo.as_bytes()[20] == b'a' {
            "b"
        } else {
            "a"
        };
        typo.replace_range(20..21, c);
        assert_eq!(check_api_key(&typo), Err(Flaw::BadChecksum));
        for bad in [
            "",
            "kw_",
            &k.key[..KEY_LEN - 1],
            &format!("{}x", &*k.key),
            &k.key.replace('_', "-"),
        ] {
            assert_eq!(check_api_key(bad), Err(Flaw::Malformed), "{bad}");
        }
        assert!(!format!("{:?}", k).contains(&k.key[KEY_PREFIX_LEN + 1..]));
        // A known vector: CRC-32 of "kw_abcdefgh_" + 32 zeros.
        let body = format!("kw_abcdefgh_{}", "0".repeat(32));
        let crc = crc32fast::hash(body.as_bytes());
        assert_eq!(checksum(&body), base62_fixed(u64::from(crc), 6));
        assert_eq!(check_api_key(&format!("{body}{}", checksum(&body))), Ok(()));
    }

    #[test]
    fn fixed_width_base62_sorts_as_numbers() {
        assert_eq!(base62_fixed(0, 4), "0000");
        assert_eq!(base62_fixed(61, 2), "0z");
        assert_eq!(base62_fixed(62, 2), "10");
        let mut last = String::new();
        for n in [
            0u64,
            9,
            10,
            35,
            36,
            61,
            62,
            3843,
            3844,
            1_790_000_000,
            56_800_235_583,
        ] {
            let s = base62_fixed(n, 6);
            assert_eq!(s.len(), 6);
            assert!(s > last, "{n}: {s} after {last}");
            last = s;
        }
        let id = time_ordered(7, 4, 8).unwrap();
        assert!(id.starts_with("0007") && id.len() == 12 && is_base62(&id));
    }

    #[test]
    fn random_base62_is_uniformish_and_sized() {
        let s = random_base62(6200).unwrap();
        assert_eq!(s.len(), 6200);
        assert!(is_base62(&s));
        // Every symbol turns up in 6,200 uniform draws (expected 100 each).
        for &c in ALPHABET {
            assert!(s.as_bytes().contains(&c));
        }
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(hashes_match(&hash("x"), &hash("x")));
        assert!(!hashes_match(&hash("x"), &hash("y")));
    }
}
