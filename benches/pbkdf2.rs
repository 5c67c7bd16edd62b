//! PBKDF2 at 600,000 iterations against the hardware limit of SHA-256.
//!
//! One run measures (a) 1,200,000 chained `sha2::compress256` calls, the
//! two compressions per iteration that PBKDF2-HMAC-SHA256 cannot avoid,
//! (b) keyward's `pbkdf2_sha256::derive` and (c) the `pbkdf2` crate, both at
//! 600,000 iterations with a 32-byte output. The target is (b) ≤ 1.25 × (a).
//! Run with `cargo bench --bench pbkdf2`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use keyward::crypto::pbkdf2_sha256;
use sha2::digest::generic_array::GenericArray;
use sha2::Sha256;

/// The iteration count of new password hashes.
const ITERATIONS: u32 = 600_000;

/// Two compressions per PBKDF2 iteration.
const COMPRESSIONS: u32 = 2 * ITERATIONS;

/// The password every derivation uses.
const PASSWORD: &[u8] = b"correct horse battery staple";

/// The salt every derivation uses (16 bytes, as in new hashes).
const SALT: &[u8] = b"keyward-bench-sa";

/// Chains `COMPRESSIONS` compressions, each block built from the previous state.
fn chained_compressions(seed: [u32; 8]) -> [u32; 8] {
    let mut state = seed;
    let mut block = [GenericArray::default()];
    for _ in 0..COMPRESSIONS {
        for (bytes, word) in block[0][..32].chunks_exact_mut(4).zip(state.iter()) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        sha2::compress256(&mut state, &block);
    }
    state
}

fn pbkdf2_vs_compress(c: &mut Criterion) {
    let mut group = c.benchmark_group("pbkdf2_600000");
    group.sample_size(10);
    group.bench_function("a_compress256_x1200000", |b| {
        b.iter(|| chained_compressions(black_box([0x0123_4567; 8])))
    });
    group.bench_function("b_keyward_derive", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            pbkdf2_sha256::derive(black_box(PASSWORD), black_box(SALT), ITERATIONS, &mut out);
            out
        })
    });
    group.bench_function("c_pbkdf2_crate", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<Sha256>(
                black_box(PASSWORD),
                black_box(SALT),
                ITERATIONS,
                &mut out,
            );
            out
        })
    });
    group.finish();
}

criterion_group!(benches, pbkdf2_vs_compress);
criterion_main!(benches);
