//! Where `settings set` reads its value from, each source read with the
//! configured size cap as its bound.

use crate::error::{Error, Result};
use crate::secret;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Where `set` reads its value from.
pub(super) enum ValueSource {
    Argv(String),
    Stdin,
    File(PathBuf),
}

impl ValueSource {
    pub(super) fn of(value: Option<String>, stdin: bool, file: Option<PathBuf>) -> Result<Self> {
        match (value, stdin, file) {
            (Some(v), false, None) => Ok(ValueSource::Argv(v)),
            (None, true, None) => Ok(ValueSource::Stdin),
            (None, false, Some(path)) => Ok(ValueSource::File(path)),
            _ => Err(Error::invalid(
                "give the value as an argument, with --value-stdin, or with --from-file FILE",
            )),
        }
    }

    /// The value of `key`, at most `max` bytes: more is refused (exit 2)
    /// without reading the rest. `--value-stdin` on a terminal asks for it
    /// without echo.
    pub(super) fn read(self, key: &str, max: u64) -> Result<Zeroizing<String>> {
        let what = format!("the value of '{key}'");
        match self {
            // Checked against the cap by the operation, before it writes.
            ValueSource::Argv(v) => Ok(Zeroizing::new(v)),
            ValueSource::Stdin => secret::stdin_value(&what, max),
            ValueSource::File(path) => secret::file_value(&path, &what, max),
        }
    }
}
