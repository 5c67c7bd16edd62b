//! What the reliability harnesses (tests/properties, tests/crash, tests/soak)
//! share: their size knobs, the run's seed, a small seeded generator, and
//! the JSON line of figures each test appends to `KEYWARD_RELIABILITY_REPORT`.

use std::io::Write;

/// The variable that repeats a run's random choices.
pub const SEED_VAR: &str = "KEYWARD_RELIABILITY_SEED";
/// The variable naming the file the figures are appended to.
pub const REPORT_VAR: &str = "KEYWARD_RELIABILITY_REPORT";

/// A harness setting from the environment, unless unset or empty.
#[allow(clippy::disallowed_methods)] // the harnesses' own settings
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A whole-number knob, or `default` when unset; a bad value stops the run.
pub fn knob(name: &str, default: u64) -> u64 {
    var(name).map_or(default, |v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}"))
    })
}

/// The run's seed: `KEYWARD_RELIABILITY_SEED`, else the clock's
/// nanoseconds (read once per process, so every test of a run shares it).
pub fn seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        knob(SEED_VAR, clock)
    })
}

/// `seed` mixed with `name` (FNV-1a): an independent stream per test.
pub fn stream(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Appends one JSON line of figures to `KEYWARD_RELIABILITY_REPORT`, when
/// set, in one write (tests of several processes share the file).
pub fn report(line: &serde_json::Value) {
    let Some(path) = var(REPORT_VAR) else {
        return;
    };
    let text = format!("{line}\n");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap_or_else(|e| panic!("cannot append figures to {path}: {e}"));
}

/// A small seeded generator (SplitMix64): the same seed, the same choices.
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// True with probability `per_cent` %.
    pub fn chance(&mut self, per_cent: u64) -> bool {
        self.below(100) < per_cent
    }
}
