//! Criterion benchmarks of the hot paths: envelope seal/open, PBKDF2, audited
//! writes, feature-flag bucketing.
//!
//! Run with `cargo bench`. Whole-process timings (cold start) are measured
//! with hyperfine instead; see the README.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keyward::crypto::envelope;
use keyward::crypto::keyring::{Key, KeySource, Keyring};
use keyward::crypto::password;
use keyward::domain::audit::{self, Event};
use keyward::domain::flags;
use keyward::store::{self, DatabaseTarget, SqliteLocation};

fn envelopes(c: &mut Criterion) {
    let key = Key::generate().expect("random key");
    let ring = Keyring::new(key.clone(), Vec::new(), KeySource::EnvVar("BENCH".into()));
    let mut group = c.benchmark_group("envelope");
    for size in [32usize, 4096] {
        let plain = vec![7u8; size];
        let sealed = envelope::seal(&key, "setting:production:k", &plain).expect("seal");
        group.bench_with_input(BenchmarkId::new("seal", size), &plain, |b, p| {
            b.iter(|| envelope::seal(&key, "setting:production:k", p).expect("seal"))
        });
        group.bench_with_input(BenchmarkId::new("open", size), &sealed, |b, s| {
            b.iter(|| envelope::open(&ring, "setting:production:k", s).expect("open"))
        });
    }
    group.finish();
}

fn pbkdf2(c: &mut Criterion) {
    let mut group = c.benchmark_group("pbkdf2");
    group.sample_size(10);
    group.bench_function("hash_600000", |b| {
        b.iter(|| password::hash(b"correct horse battery staple", 600_000).expect("hash"))
    });
    group.finish();
}

fn audited_writes(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = DatabaseTarget::Sqlite(SqliteLocation::File {
        path: dir.path().join("bench.db"),
        is_default: false,
        read_only: false,
    });
    let mut s = store::open(&target, 1, true).expect("open");
    s.migrate(false).expect("migrate");
    let mut n = 0u64;
    c.bench_function("sqlite_audit_record", |b| {
        b.iter(|| {
            n += 1;
            store::write(s.as_mut(), |conn| {
                audit::record(
                    conn,
                    audit::Stamp::new("bench", &keyward::time::SystemClock),
                    Event::new("bench.write", "bench", n.to_string()),
                )
            })
            .expect("write")
        })
    });
}

/// Feature-flag bucketing (`murmur3_x86_32("<group>:<user>") % 100 + 1`):
/// 1,000 distinct users per iteration, so the figure reads as evaluations per second.
fn bucket(c: &mut Criterion) {
    let users: Vec<String> = (0..1000).map(|i| format!("user-{i:06}")).collect();
    let mut group = c.benchmark_group("bucket");
    group.throughput(Throughput::Elements(users.len() as u64));
    group.bench_function("bucket_1000_users", |b| {
        b.iter(|| {
            let mut sum = 0u32;
            for u in &users {
                sum += u32::from(flags::bucket(black_box("checkout-v2"), black_box(u)));
            }
            sum
        })
    });
    group.bench_function("murmur3_32_1000_keys", |b| {
        b.iter(|| {
            let mut x = 0u32;
            for u in &users {
                x ^= flags::murmur3_32(black_box(u.as_bytes()));
            }
            x
        })
    });
    group.finish();
}

criterion_group!(benches, envelopes, pbkdf2, audited_writes, bucket);
criterion_main!(benches);
