//! Random bytes from the operating system's cryptographically secure source.
//!
//! Both functions return an error instead of panicking when the source fails,
//! so a broken `/dev/urandom` (or its platform equivalent) surfaces as
//! [`ErrorKind::Internal`](crate::error::ErrorKind::Internal) with exit code 1.

use crate::error::{Error, Result};

/// The message of the error returned when the operating system's random source fails.
const RANDOM_FAILED: &str = "the operating system's random source failed";

/// Fills `buf` with cryptographically secure random bytes.
pub fn fill(buf: &mut [u8]) -> Result<()> {
    getrandom::getrandom(buf).map_err(|_| Error::internal(RANDOM_FAILED.to_string()))
}

/// Returns `N` cryptographically secure random bytes (wrap them in `Zeroizing` if they are secret).
pub fn bytes<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_random_and_sized() {
        let a = bytes::<32>().unwrap();
        let b = bytes::<32>().unwrap();
        assert_eq!(a.len(), 32);
        // Two 256-bit draws colliding means the source is broken.
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }

    #[test]
    fn fill_writes_the_whole_buffer() {
        let mut buf = [0u8; 64];
        fill(&mut buf).unwrap();
        assert_ne!(buf, [0u8; 64]);
        // An empty buffer is fine too.
        fill(&mut []).unwrap();
    }

    #[test]
    fn zero_sized_array() {
        assert_eq!(bytes::<0>().unwrap(), [0u8; 0]);
    }
}
