//! The library's error type and its mapping to the exit codes of the SPEC.
//!
//! Every failure a user can meet is one of these variants; the message names
//! the thing and the fix, and never carries a secret.

use std::fmt;

/// What went wrong, as the exit code of the SPEC sees it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bug or an unexpected condition (exit 1).
    #[error("{0}")]
    Internal(String),
    /// Usage or invalid input: bad flag, bad value, bad YAML (exit 2).
    #[error("{0}")]
    Invalid(String),
    /// The named thing does not exist (exit 3).
    #[error("{0}")]
    NotFound(String),
    /// Already exists, version mismatch, protected row (exit 4).
    #[error("{0}")]
    Conflict(String),
    /// Wrong password, locked, invalid key or token, permission absent (exit 5).
    #[error("{0}")]
    Denied(String),
    /// The database cannot be reached or its schema is not current (exit 6).
    #[error("{0}")]
    Unavailable(String),
    /// No key, wrong key, unreadable or too-open key file (exit 7).
    #[error("{0}")]
    Key(String),
    /// Tampered ciphertext, broken audit chain (exit 8).
    #[error("{0}")]
    Integrity(String),
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The process exit code this error maps to (SPEC §4).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Internal(_) => 1,
            Error::Invalid(_) => 2,
            Error::NotFound(_) => 3,
            Error::Conflict(_) => 4,
            Error::Denied(_) => 5,
            Error::Unavailable(_) => 6,
            Error::Key(_) => 7,
            Error::Integrity(_) => 8,
        }
    }

    /// Builds an [`Error::Internal`] from anything printable.
    pub fn internal(msg: impl fmt::Display) -> Self {
        Error::Internal(msg.to_string())
    }

    /// Builds an [`Error::Invalid`] from anything printable.
    pub fn invalid(msg: impl fmt::Display) -> Self {
        Error::Invalid(msg.to_string())
    }

    /// Prefixes the message with some context, keeping the kind (and so the exit code).
    pub fn context(self, ctx: impl fmt::Display) -> Self {
        let wrap = |m: String| format!("{ctx}: {m}");
        match self {
            Error::Internal(m) => Error::Internal(wrap(m)),
            Error::Invalid(m) => Error::Invalid(wrap(m)),
            Error::NotFound(m) => Error::NotFound(wrap(m)),
            Error::Conflict(m) => Error::Conflict(wrap(m)),
            Error::Denied(m) => Error::Denied(wrap(m)),
            Error::Unavailable(m) => Error::Unavailable(wrap(m)),
            Error::Key(m) => Error::Key(wrap(m)),
            Error::Integrity(m) => Error::Integrity(wrap(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_spec() {
        let cases = [
            (Error::Internal(String::new()), 1),
            (Error::Invalid(String::new()), 2),
            (Error::NotFound(String::new()), 3),
            (Error::Conflict(String::new()), 4),
            (Error::Denied(String::new()), 5),
            (Error::Unavailable(String::new()), 6),
            (Error::Key(String::new()), 7),
            (Error::Integrity(String::new()), 8),
        ];
        for (err, code) in cases {
            assert_eq!(err.exit_code(), code, "{err:?}");
        }
    }

    #[test]
    fn context_keeps_the_kind() {
        let e = Error::Key("bad".into()).context("loading key file");
        assert_eq!(e.exit_code(), 7);
        assert_eq!(e.to_string(), "loading key file: bad");
    }
}
