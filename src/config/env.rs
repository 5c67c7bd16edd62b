//! The process environment as `resolve` reads it.
//!
//! An empty variable counts as unset. A variable that holds bytes that are
//! not UTF-8 is never silently treated as unset: a text variable (a URL, a
//! name, a number, a key) makes resolution fail with exit 2 naming it, and a
//! path variable (`KEYWARD_CONFIG`, `KEYWARD_KEY_FILE`) is taken as the path
//! it names, as `--config` and `--key-file` take theirs.

use crate::error::{Error, Result};
use std::cell::RefCell;
use std::ffi::OsString;
use std::path::PathBuf;

/// Reads one variable of the environment (`None`: unset).
pub type Reader<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The environment, and the first variable found that is not UTF-8.
pub(crate) struct Env<'a> {
    read: Reader<'a>,
    fault: RefCell<Option<Error>>,
}

impl<'a> Env<'a> {
    /// Wraps a reader.
    pub(crate) fn new(read: Reader<'a>) -> Self {
        Env {
            read,
            fault: RefCell::new(None),
        }
    }

    /// The variable's text, unless unset or empty. A value that is not
    /// UTF-8 reads as unset here and is recorded: [`Env::finish`] then
    /// fails, whatever resolution made of the gap.
    pub(crate) fn get(&self, k: &str) -> Option<String> {
        let value = (self.read)(k).filter(|v| !v.is_empty())?;
        match value.into_string() {
            Ok(s) => Some(s),
            Err(_) => {
                self.fault
                    .borrow_mut()
                    .get_or_insert_with(|| not_unicode(k));
                None
            }
        }
    }

    /// A path variable, unless unset or empty; any bytes are a path.
    pub(crate) fn get_path(&self, k: &str) -> Option<PathBuf> {
        (self.read)(k).filter(|v| !v.is_empty()).map(PathBuf::from)
    }

    /// Whether the variable is present at all (even empty, even not UTF-8).
    pub(crate) fn is_present(&self, k: &str) -> bool {
        (self.read)(k).is_some()
    }

    /// Ends resolution: the first variable that was not UTF-8 wins over
    /// whatever `result` holds (a value read as unset could have led anywhere).
    pub(crate) fn finish<T>(&self, result: Result<T>) -> Result<T> {
        match self.fault.borrow_mut().take() {
            Some(e) => Err(e),
            None => result,
        }
    }
}

/// The error for a variable whose value is not UTF-8 (the value is not shown).
pub(crate) fn not_unicode(var: &str) -> Error {
    Error::invalid(format!(
        "environment variable {var} is not valid UTF-8: set it to UTF-8 text, or unset it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn non_utf8_text_fails_at_finish_and_paths_are_kept() {
        let bad = |k: &str| match k {
            "EMPTY" => Some(OsString::new()),
            "unset" => None,
            _ => Some(OsString::from_vec(vec![b'a', 0xff])),
        };
        let env = Env::new(&bad);
        assert_eq!(env.get("EMPTY"), None);
        assert!(env.get_path("P").is_some());
        assert!(env.finish(Ok(())).is_ok());
        assert_eq!(env.get("X"), None);
        assert_eq!(env.get("Y"), None);
        let err = env.finish(Ok(())).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.message().contains(" X "), "{err}");
        assert!(!env.is_present("unset"));
    }
}
