//! dotenv files for `settings import`, and the lines the dotenv and shell
//! exports write:
//!
//! ```sh
//! # keyward: smtp.port type=int
//! SMTP_PORT='587'
//! # keyward: smtp.password secret
//! export SMTP_PASSWORD='it'\''s'
//! HAND_WRITTEN="line one\nline two"   # a comment
//! ```
//!
//! A line is blank, a `#` comment, or `[export ]NAME=VALUE` where VALUE is a
//! shell-like word: single-quoted (literal), double-quoted (`\\ \" \$ \``
//! and `\n` escapes), unquoted (up to whitespace; `\` quotes the character
//! after it), segments concatenated;
//! quoted segments may span lines. No variable is expanded. A
//! `# keyward: KEY [type=T] [secret]` line directly above a variable says
//! which setting it is; a variable without one is matched to the existing
//! key by the import ([`resolve`]), else becomes the name lowercased.
//! Errors name the line, never the value (it may be a secret).

use super::file::{FileEntry, SettingsFile};
use super::{env_var_name, validate_key, Desired, Secrecy, Stored, ValueType};
use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use zeroize::Zeroizing;

/// Where a dotenv entry came from: its variable, and whether an annotation fixed its key.
#[derive(Debug, Clone)]
pub struct Var {
    /// The variable's name.
    pub name: String,
    /// The line it is on (1-based).
    pub line: usize,
    /// Whether a `# keyward:` annotation gave the key, type and secrecy.
    pub annotated: bool,
}

/// Whether a settings file is dotenv: its first line that is neither blank nor
/// a `#` comment starts `[export ]NAME=`.
pub fn is_dotenv(text: &str) -> bool {
    let text = text.trim_start_matches('\u{feff}');
    let Some(line) = text.lines().find(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    }) else {
        return false;
    };
    let rest = match line.strip_prefix("export") {
        Some(r) if r.starts_with([' ', '\t']) => r.trim_start_matches([' ', '\t']),
        _ => line,
    };
    let name_len = var_name_len(rest.as_bytes());
    name_len > 0 && rest.as_bytes().get(name_len) == Some(&b'=')
}

/// The length of the variable name `[A-Za-z_][A-Za-z0-9_]*` at the start of `b` (0 if none).
fn var_name_len(b: &[u8]) -> usize {
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => b
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count(),
        _ => 0,
    }
}

/// The annotation and variable lines `settings export` writes for one setting
/// (`export ` before the variable for the shell format).
pub fn lines(shell: bool, key: &str, d: &Desired) -> String {
    let mut out = format!("# keyward: {key}");
    if d.value_type != ValueType::String {
        out.push_str(" type=");
        out.push_str(d.value_type.name());
    }
    if d.secret {
        out.push_str(" secret");
    }
    let prefix = if shell { "export " } else { "" };
    out.push_str(&format!(
        "\n{prefix}{}={}\n",
        env_var_name(key),
        super::file::shell_quote(&d.value)
    ));
    out
}

/// What a `# keyward:` line says.
struct Annotation {
    key: String,
    value_type: ValueType,
    secret: bool,
    line: usize,
}

/// Reads a comment line (without its `#`): `Some` for a `keyward:` annotation.
/// Its words are never quoted in errors: a line that lost its line break may
/// run on into the variable's value.
fn annotation(comment: &str, line: usize) -> Result<Option<Annotation>> {
    let Some(rest) = comment.trim_start().strip_prefix("keyward:") else {
        return Ok(None);
    };
    let bad = |what: &str| Error::invalid(format!("the `# keyward:` annotation {what}"));
    let mut words = rest.split_whitespace();
    let key = words.next().ok_or_else(|| bad("names no key"))?;
    validate_key(key).map_err(|_| {
        bad("does not start with a setting key (letters, digits, `_`, `.` or `-`, starting with a letter or digit)")
    })?;
    let mut out = Annotation {
        key: key.to_owned(),
        value_type: ValueType::String,
        secret: false,
        line,
    };
    for word in words {
        if let Some(t) = word.strip_prefix("type=") {
            out.value_type = ValueType::parse(t)
                .map_err(|_| bad("has an unknown type (use string, int, float, bool or json)"))?;
        } else if word == "secret" {
            out.secret = true;
        } else {
            return Err(bad("has a word that is neither type=TYPE nor secret"));
        }
    }
    Ok(Some(out))
}

/// A cursor over the text, counting lines.
struct Cursor {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

impl Cursor {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
            self.pos += 1;
        }
    }

    /// The rest of the line (its newline consumed).
    fn rest_of_line(&mut self) -> String {
        let mut out = String::new();
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
            out.push(c);
        }
        out
    }

    fn starts_with(&self, s: &str) -> bool {
        (self.pos..)
            .zip(s.chars())
            .all(|(i, c)| self.chars.get(i) == Some(&c))
    }

    /// `[export ]NAME=`: the name (the cursor after `=`).
    fn name(&mut self) -> Result<String> {
        if self.starts_with("export") && matches!(self.chars.get(self.pos + 6), Some(' ' | '\t')) {
            self.pos += 6;
            self.skip_blanks();
        }
        let mut name = String::new();
        while let Some(c) = self.peek() {
            let ok =
                c.is_ascii_alphabetic() || c == '_' || (c.is_ascii_digit() && !name.is_empty());
            if !ok {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        if name.is_empty() || self.peek() != Some('=') {
            // Never the name: a line without `=` may be part of a secret.
            return Err(Error::invalid(
                "expected NAME=VALUE (NAME: letters, digits and `_`, not starting with a digit; no spaces around `=`)",
            ));
        }
        self.pos += 1;
        Ok(name)
    }

    /// A shell-like word: quoted and unquoted segments up to whitespace or the line's end.
    fn value(&mut self) -> Result<Zeroizing<String>> {
        let mut out = Zeroizing::new(String::new());
        loop {
            match self.peek() {
                None | Some('\n' | ' ' | '\t' | '\r') => return Ok(out),
                Some('\'') => {
                    let start = self.line;
                    self.bump();
                    loop {
                        match self.bump() {
                            Some('\'') => break,
                            Some(c) => out.push(c),
                            None => return Err(unterminated("single", start)),
                        }
                    }
                }
                Some('"') => {
                    let start = self.line;
                    self.bump();
                    loop {
                        match self.bump() {
                            Some('"') => break,
                            Some('\\') => match self.bump() {
                                Some(c @ ('\\' | '"' | '$' | '`')) => out.push(c),
                                Some('n') => out.push('\n'),
                                Some(c) => {
                                    out.push('\\');
                                    out.push(c);
                                }
                                None => return Err(unterminated("double", start)),
                            },
                            Some(c) => out.push(c),
                            None => return Err(unterminated("double", start)),
                        }
                    }
                }
                // Unquoted, a backslash quotes the character after it (as `'\''` needs).
                Some('\\') => {
                    self.bump();
                    match self.peek() {
                        None | Some('\n') => out.push('\\'),
                        Some(c) => {
                            out.push(c);
                            self.bump();
                        }
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.bump();
                }
            }
        }
    }

    /// After a value: blanks, then the line's end or a ` #` comment.
    fn end_of_line(&mut self) -> Result<()> {
        self.skip_blanks();
        match self.peek() {
            None => Ok(()),
            Some('\n' | '#') => {
                self.rest_of_line();
                Ok(())
            }
            Some(_) => Err(Error::invalid(
                "text after the value (quote a value that holds spaces)",
            )),
        }
    }
}

fn unterminated(kind: &str, line: usize) -> Error {
    Error::invalid(format!(
        "the {kind} quote opened at line {line} is never closed"
    ))
}

/// Parses a dotenv file (see the module docs); `source` names it in errors.
pub fn parse(text: &str, source: &str) -> Result<SettingsFile> {
    let mut cur = Cursor {
        chars: text.trim_start_matches('\u{feff}').chars().collect(),
        pos: 0,
        line: 1,
    };
    let at = |line: usize| move |e: Error| e.context(format!("{source} at line {line}"));
    let mut pending: Option<Annotation> = None;
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut entries = Vec::new();
    loop {
        cur.skip_blanks();
        let line = cur.line;
        let dangling = |a: &Annotation| {
            Error::invalid(format!(
                "{source} at line {}: the `# keyward:` annotation is not directly above a variable",
                a.line
            ))
        };
        match cur.peek() {
            None => {
                if let Some(a) = &pending {
                    return Err(dangling(a));
                }
                break;
            }
            Some('\n') => {
                cur.bump();
                if let Some(a) = &pending {
                    return Err(dangling(a));
                }
            }
            Some('#') => {
                cur.bump();
                let comment = cur.rest_of_line();
                if let Some(a) = &pending {
                    return Err(dangling(a));
                }
                pending = annotation(&comment, line).map_err(at(line))?;
            }
            Some(_) => {
                let name = cur.name().map_err(at(line))?;
                let value = cur.value().map_err(at(line))?;
                cur.end_of_line().map_err(at(cur.line))?;
                if let Some(first) = names.insert(name.clone(), line) {
                    return Err(Error::invalid(format!(
                        "{source} at line {line}: {name} is given twice (first at line {first})"
                    )));
                }
                let entry = entry(name, line, value, pending.take()).map_err(at(line))?;
                entries.push(entry);
            }
        }
    }
    Ok(SettingsFile {
        environment: None,
        entries,
    })
}

/// One variable as an entry: the annotation's key, type and secrecy, else the
/// name lowercased as a string with secrecy unsaid (until [`resolve`]).
fn entry(
    name: String,
    line: usize,
    value: Zeroizing<String>,
    a: Option<Annotation>,
) -> Result<FileEntry> {
    let annotated = a.is_some();
    let (key, value_type, secrecy) = match a {
        Some(a) => {
            let var = env_var_name(&a.key);
            if var != name {
                return Err(Error::invalid(format!(
                    "the annotation above names setting '{}', whose variable is {var}, not {name}",
                    a.key
                )));
            }
            let secrecy = if a.secret {
                Secrecy::Secret
            } else {
                Secrecy::Plain
            };
            (a.key, a.value_type, secrecy)
        }
        None => (
            name.to_ascii_lowercase(),
            ValueType::String,
            Secrecy::Unsaid,
        ),
    };
    let shown_as = if annotated {
        key.as_str()
    } else {
        name.as_str()
    };
    let value = Zeroizing::new(value_type.normalize(shown_as, &value)?);
    Ok(FileEntry {
        want: Desired {
            value,
            value_type,
            secret: secrecy == Secrecy::Secret,
            category: None,
            description: None,
        },
        key,
        secrecy,
        var: Some(Var {
            name,
            line,
            annotated,
        }),
    })
}

/// The file's entries with their keys settled against the environment's
/// rows (`current`, read in the import's transaction): a variable without an
/// annotation becomes the one live key whose variable it is (keeping that
/// setting's type; its secrecy unsaid), else its name lowercased. A dotenv
/// file cannot hold a category or description: a key's current ones stay.
/// Two variables that become one key are refused.
pub fn resolve(
    parsed: &SettingsFile,
    current: &BTreeMap<String, Stored>,
    source: &str,
) -> Result<Vec<FileEntry>> {
    let mut by_var: HashMap<String, Vec<&Stored>> = HashMap::new();
    for s in current.values().filter(|s| !s.deleted) {
        by_var.entry(env_var_name(&s.key)).or_default().push(s);
    }
    let mut keys: HashMap<String, &str> = HashMap::new();
    let mut out = Vec::with_capacity(parsed.entries.len());
    for e in &parsed.entries {
        let Some(var) = &e.var else {
            out.push(e.clone());
            continue;
        };
        let at = |err: Error| err.context(format!("{source} at line {}", var.line));
        let mut e = e.clone();
        if !var.annotated {
            if let Some([only]) = by_var.get(&var.name).map(Vec::as_slice) {
                e.key = only.key.clone();
                e.want.value_type = only.value_type;
                e.want.value = Zeroizing::new(
                    only.value_type
                        .normalize(&only.key, &e.want.value)
                        .map_err(at)?,
                );
            }
            validate_key(&e.key).map_err(|err| {
                at(err.context(format!("variable {} makes no setting key", var.name)))
            })?;
        }
        if let Some(other) = keys.insert(e.key.clone(), &var.name) {
            return Err(at(Error::invalid(format!(
                "{} and {other} both become setting '{}': keep one",
                var.name, e.key
            ))));
        }
        if let Some(s) = current.get(&e.key).filter(|s| !s.deleted) {
            e.want.category = s.category.clone();
            e.want.description = s.description.clone();
        }
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "dotenv_tests.rs"]
mod tests;
