//! Cryptography for keyward: encryption keys and the keyring, the `kw1:`
//! AES-256-GCM envelope for encrypted values, PBKDF2 password hashes, and
//! secure random bytes.
//!
//! Secrets (key bytes, plaintexts, passwords) are held in `Zeroizing`
//! buffers where this module owns them, and never appear in error messages
//! or `Debug` output.

pub mod envelope;
pub mod jws;
pub mod keyring;
pub mod password;
pub mod pbkdf2_sha256;
pub mod purpose;
pub mod random;
pub mod token;

pub use keyring::{Key, KeySource, Keyring};
pub use password::{Verdict, DEFAULT_ITERATIONS};
