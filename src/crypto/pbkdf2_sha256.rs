//! PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) specialised over `sha2::compress256`.
//!
//! The generic `pbkdf2` crate runs a full HMAC (state clone, buffered
//! update, finalize with padding) per iteration. Here the HMAC inner and
//! outer key states are computed once per derivation, and every iteration is
//! exactly two calls of the SHA-256 compression function on one pre-padded
//! 64-byte block: only the 32 message bytes change, the `0x80` marker and
//! the bit length (64 + 32 bytes = 768 bits) stay fixed. The compression
//! itself is the `sha2` crate's (SHA-NI when the CPU has it); nothing here
//! reimplements SHA-256 rounds.
//!
//! The `pbkdf2` crate stays the reference: the tests below compare against it
//! on random inputs and against published vectors.

use sha2::digest::generic_array::GenericArray;
use sha2::digest::typenum::U64;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// SHA-256 block length in bytes.
const BLOCK_LEN: usize = 64;

/// SHA-256 output length in bytes (hLen).
const OUT_LEN: usize = 32;

/// The SHA-256 initial hash value (FIPS 180-4 §5.3.3); `sha2` keeps its own private.
const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// One SHA-256 block in the form `compress256` takes.
type Block = GenericArray<u8, U64>;

/// Derives `out.len()` bytes from `password` and `salt` with PBKDF2-HMAC-SHA256.
///
/// Same output as `pbkdf2::pbkdf2_hmac::<sha2::Sha256>` for every input.
///
/// # Panics
///
/// If `iterations` is 0 (RFC 8018 requires c ≥ 1; callers reject it first).
/// An `out` longer than (2³² − 1) × 32 bytes, which RFC 8018 forbids, is
/// filled only that far.
pub fn derive(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    assert!(iterations >= 1, "PBKDF2 needs at least one iteration");
    let keys = HmacKeys::new(password);
    let mut t = [0u8; OUT_LEN];
    // Block counters run from 1; callers cap the output far below the
    // (2³² − 1) blocks RFC 8018 allows (`password::MAX_HASH_LEN`).
    for (counter, chunk) in (1..=u32::MAX).zip(out.chunks_mut(OUT_LEN)) {
        block_function(&keys, salt, counter, iterations, &mut t);
        chunk.copy_from_slice(&t[..chunk.len()]);
    }
    t.zeroize();
}

/// Computes `T_i = U_1 ^ U_2 ^ … ^ U_c` for block `counter` (RFC 8018 §5.2 step 3).
///
/// Kept out of line on purpose: here the key states are behind a reference,
/// so each reset of `state` is a 32-byte copy from memory (two vector moves).
/// Inlined into [`derive`], LLVM split the key arrays into eight spilled
/// scalars and rebuilt `state` with 4-byte stores, which the compression
/// function's 16-byte loads cannot forward from: about 10 % slower at
/// 600,000 iterations. The XOR runs on the state words (written by
/// `compress256` with 16-byte stores) for the same reason.
#[inline(never)]
fn block_function(
    keys: &HmacKeys,
    salt: &[u8],
    counter: u32,
    iterations: u32,
    t: &mut [u8; OUT_LEN],
) {
    // The block hashed after a key state in every iteration: 32 bytes of
    // message, then padding for a 96-byte message (key block + 32 bytes).
    let mut block = [Block::default()];
    block[0][OUT_LEN] = 0x80;
    block[0][BLOCK_LEN - 8..].copy_from_slice(&(((BLOCK_LEN + OUT_LEN) as u64) * 8).to_be_bytes());

    // U_1 = HMAC(P, S || INT(i)).
    let mut inner = Stream::new(keys.inner);
    inner.update(salt);
    inner.update(&counter.to_be_bytes());
    let mut state = inner.finish();
    put_words(&mut block[0], &state);
    state = keys.outer;
    sha2::compress256(&mut state, &block);
    put_words(&mut block[0], &state);
    let mut acc = state;

    // U_j = HMAC(P, U_{j-1}): two compressions on the pre-padded block, whose
    // first 32 bytes always hold the latest state.
    for _ in 1..iterations {
        state = keys.inner;
        sha2::compress256(&mut state, &block);
        put_words(&mut block[0], &state);
        state = keys.outer;
        sha2::compress256(&mut state, &block);
        for (a, w) in acc.iter_mut().zip(state.iter()) {
            *a ^= w;
        }
        put_words(&mut block[0], &state);
    }

    for (bytes, word) in t.chunks_exact_mut(4).zip(acc.iter()) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    acc.zeroize();
    state.zeroize();
    block[0].as_mut_slice().zeroize();
}

/// Writes eight state words big-endian into the first 32 bytes of a block.
#[inline(always)]
fn put_words(block: &mut Block, words: &[u32; 8]) {
    for (bytes, word) in block[..OUT_LEN].chunks_exact_mut(4).zip(words.iter()) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
}

/// The HMAC-SHA256 key states: SHA-256 after one block of `K ^ ipad` / `K ^ opad`.
struct HmacKeys {
    /// State after compressing `K ^ 0x36…`.
    inner: [u32; 8],
    /// State after compressing `K ^ 0x5c…`.
    outer: [u32; 8],
}

impl HmacKeys {
    /// Computes both states; a key longer than a block is hashed first (RFC 2104 §2).
    fn new(password: &[u8]) -> Self {
        let mut key = [Block::default()];
        if password.len() > BLOCK_LEN {
            let mut digest = Sha256::digest(password);
            key[0][..OUT_LEN].copy_from_slice(&digest);
            digest.as_mut_slice().zeroize();
        } else {
            key[0][..password.len()].copy_from_slice(password);
        }

        let mut pad = [Block::default()];
        let mut keys = HmacKeys {
            inner: IV,
            outer: IV,
        };
        for (p, k) in pad[0].iter_mut().zip(key[0].iter()) {
            *p = k ^ 0x36;
        }
        sha2::compress256(&mut keys.inner, &pad);
        for (p, k) in pad[0].iter_mut().zip(key[0].iter()) {
            *p = k ^ 0x5c;
        }
        sha2::compress256(&mut keys.outer, &pad);

        pad[0].as_mut_slice().zeroize();
        key[0].as_mut_slice().zeroize();
        keys
    }
}

impl Drop for HmacKeys {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

/// SHA-256 continued from a state after one 64-byte block, for `S || INT(i)` of any length.
struct Stream {
    /// The running state.
    state: [u32; 8],
    /// Bytes not yet compressed.
    buf: [Block; 1],
    /// How many bytes of `buf` are filled (always < 64 between calls).
    filled: usize,
    /// Total message length in bytes, counting the key block already compressed.
    len: u64,
}

impl Stream {
    /// Starts from a state that has absorbed exactly one block.
    fn new(state: [u32; 8]) -> Self {
        Stream {
            state,
            buf: [Block::default()],
            filled: 0,
            len: BLOCK_LEN as u64,
        }
    }

    /// Absorbs `data`.
    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        while !data.is_empty() {
            let take = (BLOCK_LEN - self.filled).min(data.len());
            self.buf[0][self.filled..self.filled + take].copy_from_slice(&data[..take]);
            self.filled += take;
            data = &data[take..];
            if self.filled == BLOCK_LEN {
                sha2::compress256(&mut self.state, &self.buf);
                self.filled = 0;
            }
        }
    }

    /// Pads (FIPS 180-4 §5.1.1) and returns the final state.
    fn finish(mut self) -> [u32; 8] {
        let bit_len = self.len * 8;
        self.buf[0][self.filled] = 0x80;
        self.buf[0][self.filled + 1..].fill(0);
        if self.filled + 1 > BLOCK_LEN - 8 {
            sha2::compress256(&mut self.state, &self.buf);
            self.buf[0].fill(0);
        }
        self.buf[0][BLOCK_LEN - 8..].copy_from_slice(&bit_len.to_be_bytes());
        sha2::compress256(&mut self.state, &self.buf);
        self.state
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.state.zeroize();
        self.buf[0].as_mut_slice().zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    /// Runs `derive` into a fresh vector.
    fn ours(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        derive(password, salt, iterations, &mut out);
        out
    }

    /// Runs the `pbkdf2` crate, the reference, into a fresh vector.
    fn reference(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
        out
    }

    #[test]
    fn iv_is_sha256_of_nothing() {
        // SHA-256("") from IV through the same padding path as derive uses.
        let mut block = [Block::default()];
        block[0][0] = 0x80;
        let mut state = IV;
        sha2::compress256(&mut state, &block);
        let mut bytes = [0u8; 32];
        for (b, w) in bytes.chunks_exact_mut(4).zip(state.iter()) {
            b.copy_from_slice(&w.to_be_bytes());
        }
        assert_eq!(bytes.as_slice(), Sha256::digest(b"").as_slice());
    }

    #[test]
    fn rfc7914_vectors() {
        // RFC 7914 §11, PBKDF2-HMAC-SHA-256, dkLen = 64 (two output blocks).
        assert_eq!(
            ours(b"passwd", b"salt", 1, 64),
            hex!(
                "55 ac 04 6e 56 e3 08 9f ec 16 91 c2 25 44 b6 05"
                "f9 41 85 21 6d de 04 65 e6 8b 9d 57 c2 0d ac bc"
                "49 ca 9c cc f1 79 b6 45 99 16 64 b3 9d 77 ef 31"
                "7c 71 b8 45 b1 e3 0b d5 09 11 20 41 d3 a1 97 83"
            )
        );
        assert_eq!(
            ours(b"Password", b"NaCl", 80_000, 64),
            hex!(
                "4d dc d8 f6 0b 98 be 21 83 0c ee 5e f2 27 01 f9"
                "64 1a 44 18 d0 4c 04 14 ae ff 08 87 6b 34 ab 56"
                "a1 d4 25 a1 22 58 33 54 9a db 84 1b 51 c9 b3 17"
                "6a 27 2b de bb a1 d0 78 47 8f 62 b3 97 f3 3c 8d"
            )
        );
    }

    #[test]
    fn published_password_salt_vectors() {
        // The PBKDF2-HMAC-SHA256 vectors in the style of RFC 6070 (Stack
        // Overflow question 5130513, reproduced by many test suites).
        assert_eq!(
            ours(b"password", b"salt", 1, 32),
            hex!("120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b")
        );
        assert_eq!(
            ours(b"password", b"salt", 2, 32),
            hex!("ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43")
        );
        assert_eq!(
            ours(b"password", b"salt", 4096, 32),
            hex!("c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a")
        );
        assert_eq!(
            ours(
                b"passwordPASSWORDpassword",
                b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
                4096,
                40
            ),
            hex!(
                "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1"
                "c635518c7dac47e9"
            )
        );
        assert_eq!(
            ours(b"pass\0word", b"sa\0lt", 4096, 16),
            hex!("89b69d0516f829893c696226650a8687")
        );
    }

    #[test]
    fn matches_the_pbkdf2_crate_at_length_boundaries() {
        // Password lengths around the HMAC block (64: padded, 65: hashed) and
        // salt lengths around the padding boundary of S || INT(i) (55/56 bytes
        // + 64 for the key block) and full blocks.
        for pw_len in [0usize, 1, 32, 63, 64, 65, 128, 200] {
            for salt_len in [0usize, 1, 50, 51, 52, 55, 56, 59, 60, 64, 119, 124, 128] {
                for out_len in [1usize, 31, 32, 33, 64, 65, 100] {
                    let pw: Vec<u8> = (0..pw_len).map(|i| i as u8 ^ 0xa5).collect();
                    let salt: Vec<u8> = (0..salt_len).map(|i| (i * 7) as u8).collect();
                    assert_eq!(
                        ours(&pw, &salt, 3, out_len),
                        reference(&pw, &salt, 3, out_len),
                        "pw {pw_len} salt {salt_len} out {out_len}"
                    );
                }
            }
        }
    }

    #[test]
    fn matches_the_pbkdf2_crate_on_random_inputs() {
        let mut seed = [0u8; 4];
        for case in 0..400 {
            getrandom::getrandom(&mut seed).expect("random bytes");
            let pw_len = usize::from(seed[0]) % 200;
            let salt_len = usize::from(seed[1]) % 100;
            let iterations = u32::from(seed[2]) % 49 + 1;
            let out_len = usize::from(seed[3]) % 100 + 1;
            let mut pw = vec![0u8; pw_len];
            let mut salt = vec![0u8; salt_len];
            getrandom::getrandom(&mut pw).expect("random bytes");
            getrandom::getrandom(&mut salt).expect("random bytes");
            assert_eq!(
                ours(&pw, &salt, iterations, out_len),
                reference(&pw, &salt, iterations, out_len),
                "case {case}: pw {pw:02x?} salt {salt:02x?} c {iterations} dkLen {out_len}"
            );
        }
    }

    #[test]
    fn empty_output_is_a_no_op() {
        derive(b"pw", b"salt", 1, &mut []);
    }

    #[test]
    #[should_panic(expected = "at least one iteration")]
    fn zero_iterations_panics() {
        let mut out = [0u8; 32];
        derive(b"pw", b"salt", 0, &mut out);
    }
}
