//! The library's error type and its mapping to the exit codes of the SPEC.
//!
//! An [`Error`] is a [`ErrorKind`] (which decides the exit code, in one place:
//! [`ErrorKind::exit_code`]), a message for people that names the thing and
//! the fix and never carries a secret, and, where there is one, the
//! underlying error it came from (a driver or I/O error), kept for `source()`.

use std::fmt;

/// What went wrong, as the exit code of the SPEC sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A bug or an unexpected condition (exit 1).
    Internal,
    /// Usage or invalid input: bad flag, bad value, bad YAML (exit 2).
    Invalid,
    /// The named thing does not exist (exit 3).
    NotFound,
    /// Already exists, version mismatch, protected row (exit 4).
    Conflict,
    /// Wrong password, locked, invalid key or token, permission absent (exit 5).
    Denied,
    /// The database cannot be reached, refuses us, or its schema is not current (exit 6).
    Unavailable,
    /// No key, wrong key, unreadable or too-open key file (exit 7).
    Key,
    /// Tampered ciphertext, broken audit chain (exit 8).
    Integrity,
}

impl ErrorKind {
    /// The process exit code this kind maps to (SPEC §4). The only such mapping.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Internal => 1,
            ErrorKind::Invalid => 2,
            ErrorKind::NotFound => 3,
            ErrorKind::Conflict => 4,
            ErrorKind::Denied => 5,
            ErrorKind::Unavailable => 6,
            ErrorKind::Key => 7,
            ErrorKind::Integrity => 8,
        }
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure: its kind, a message for people, and the error it came from.
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Source>,
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $kind:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(msg: impl fmt::Display) -> Self {
                Error::new(ErrorKind::$kind, msg)
            }
        )*
    };
}

impl Error {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, msg: impl fmt::Display) -> Self {
        Error {
            kind,
            message: msg.to_string(),
            source: None,
        }
    }

    constructors! {
        /// A bug or an unexpected condition (exit 1).
        internal => Internal;
        /// Usage or invalid input (exit 2).
        invalid => Invalid;
        /// The named thing does not exist (exit 3).
        not_found => NotFound;
        /// Already exists, version mismatch, protected row (exit 4).
        conflict => Conflict;
        /// Refused: wrong password, locked, permission absent (exit 5).
        denied => Denied;
        /// The database cannot be reached or used (exit 6).
        unavailable => Unavailable;
        /// A key problem (exit 7).
        key => Key;
        /// Tampering or corruption found (exit 8).
        integrity => Integrity;
    }

    /// Keeps the error this one came from (shown by `source()`, never in the message).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The process exit code this error maps to (SPEC §4).
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }

    /// Prefixes the message with some context, keeping the kind (and so the exit code).
    pub fn context(mut self, ctx: impl fmt::Display) -> Self {
        self.message = format!("{ctx}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            // Not the source's text: a driver error can quote a row's values.
            .field("has_source", &self.source.is_some())
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// A serde error's text without the input it quotes. serde words a type
/// mismatch as `invalid type: <found>, expected <wanted>` (likewise `invalid
/// value:`), where `<found>` carries the input (``integer `1234` ``, `string
/// "s3cr3t"`): only its kind is kept (`integer`, `string`). An `unknown
/// variant` loses its text too. Positions, paths, field names and the
/// expected type stay; control characters in them (a field name can hold a
/// tab, a NUL or a bidi control) are shown escaped (`\t`, `\u{200e}`).
pub fn without_input(msg: &str) -> String {
    let mut out = msg.to_owned();
    for marker in ["invalid type: ", "invalid value: "] {
        if let Some(at) = out.find(marker) {
            let start = at + marker.len();
            // The last one: `<found>` may itself hold ", expected ".
            let end = out[start..]
                .rfind(", expected ")
                .map_or(out.len(), |e| start + e);
            let found = &out[start..end];
            let kind = found.split(['`', '"', '\'']).next().unwrap_or_default();
            let kind = kind.trim_end().to_owned();
            out.replace_range(start..end, &kind);
        }
    }
    let marker = "unknown variant `";
    if let Some(at) = out.find(marker) {
        let start = at + marker.len() - 2;
        let end = out[start..]
            .rfind("`, expected")
            .map_or(out.len(), |e| start + e + 1);
        out.replace_range(start..end, "");
    }
    let marker = "unknown field `";
    if let Some(at) = out.find(marker) {
        let start = at + marker.len();
        let end = (out[start..].rfind("`, expected"))
            .or_else(|| out[start..].rfind("`, there are no fields"))
            .map(|e| start + e);
        if let Some(end) = end {
            let expected = listed_names(&out[end + 1..]);
            let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
            let shown = field_shown(&out[start..end], &expected);
            out.replace_range(at..=end, &format!("unknown field {shown}"));
        }
    }
    crate::text::visible(&out, false, None)
}

/// The names serde lists after `expected` (`` expected one of `a`, `b` ``):
/// every backquoted word of the list, up to the position that may follow it.
fn listed_names(tail: &str) -> Vec<String> {
    let Some(at) = tail.find(", expected ") else {
        return Vec::new();
    };
    let list = &tail[at + ", expected ".len()..];
    let list = list.split(" at line ").next().unwrap_or_default();
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// An unknown field's name as a message shows it (see [`name_shown`]);
/// `expected` are the fields that were expected there.
pub fn field_shown(name: &str, expected: &[&str]) -> String {
    name_shown(name, "a value", expected)
}

/// A name taken from damaged input, as a message shows it. A damaged line (a
/// lost quote, colon or `@`) can make a value, maybe a secret (`may_hold`),
/// the name, and a secret can look like a name: so it is shown only when it
/// is a likely typo of one of the `expected` names (within edit distance 2,
/// and 1 to 40 of letters, digits, `_ . -`), with the suggestion:
/// ``"`tpye` (did you mean `type`?)"``. Anything else: a note that it is not
/// shown.
pub fn name_shown(name: &str, may_hold: &str, expected: &[&str]) -> String {
    let plain = (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    let near = expected
        .iter()
        .filter(|e| plain && e.len() <= 64)
        .map(|e| (crate::text::edit_distance(name, e), *e))
        // A short name is "near" almost anything: at most half of it may change.
        .filter(|(d, e)| *d <= 2 && 2 * d <= e.chars().count())
        .min_by_key(|(d, _)| *d);
    match near {
        Some((0, _)) => format!("`{name}`"),
        Some((_, e)) => format!("`{name}` (did you mean `{e}`?)"),
        None => format!("(its name is not shown: it may hold {may_hold})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_spec() {
        let cases = [
            (Error::internal(""), 1),
            (Error::invalid(""), 2),
            (Error::not_found(""), 3),
            (Error::conflict(""), 4),
            (Error::denied(""), 5),
            (Error::unavailable(""), 6),
            (Error::key(""), 7),
            (Error::integrity(""), 8),
        ];
        for (err, code) in cases {
            assert_eq!(err.exit_code(), code, "{err:?}");
        }
    }

    #[test]
    fn context_keeps_the_kind() {
        let e = Error::key("bad").context("loading key file");
        assert_eq!(e.exit_code(), 7);
        assert_eq!(e.to_string(), "loading key file: bad");
    }

    #[test]
    fn the_source_is_kept_but_not_shown() {
        let io = std::io::Error::other("disk on fire");
        let e = Error::unavailable("cannot read the database").with_source(io);
        assert_eq!(e.to_string(), "cannot read the database");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk on fire"));
    }

    #[test]
    fn serde_texts_lose_the_input() {
        let cases = [
            (
                "settings.a: invalid type: integer `1234` as u128, expected any YAML value at line 2 column 5",
                "settings.a: invalid type: integer, expected any YAML value at line 2 column 5",
            ),
            (
                r#"database.port: invalid type: string "pw, expected x", expected u16"#,
                "database.port: invalid type: string, expected u16",
            ),
            (
                "port: invalid value: integer `70000`, expected u16",
                "port: invalid value: integer, expected u16",
            ),
            (
                "unknown variant `s3cr3t`, expected one of `a`, `b`",
                "unknown variant, expected one of `a`, `b`",
            ),
            (
                "unknown field `valeu`, expected `value`",
                "unknown field `valeu` (did you mean `value`?), expected `value`",
            ),
            (
                "unknown field `typo`, expected `value`",
                "unknown field (its name is not shown: it may hold a value), expected `value`",
            ),
            (
                "settings.k: unknown field `tpye`, expected one of `value`, `type`, `secret` at line 2 column 9",
                "settings.k: unknown field `tpye` (did you mean `type`?), expected one of `value`, `type`, `secret` at line 2 column 9",
            ),
            (
                "unknown field `S3cretToken99`, expected one of `value`, `type` at line 2 column 9",
                "unknown field (its name is not shown: it may hold a value), expected one of `value`, `type` at line 2 column 9",
            ),
            // Found by the property tests `config: mutated file` and
            // `settings: mutated file`: a field name's controls came out raw,
            // and a damaged line made a secret value the field's name.
            (
                "unknown field `a\tuth`, expected `auth`",
                "unknown field (its name is not shown: it may hold a value), expected `auth`",
            ),
            (
                "unknown field `\u{200e}environment`, expected `environment`",
                "unknown field (its name is not shown: it may hold a value), expected `environment`",
            ),
            (
                "unknown field `value\":\"s3cr3t\r`, there are no fields at line 1",
                "unknown field (its name is not shown: it may hold a value), there are no fields at line 1",
            ),
            ("x: odd `, expected\u{7f}", "x: odd `, expected\\u{7f}"),
        ];
        for (given, want) in cases {
            assert_eq!(without_input(given), want);
        }
    }
}
