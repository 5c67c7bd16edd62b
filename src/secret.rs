//! Reading secrets: a no-echo prompt on a terminal (asked twice for new
//! passwords), one line of stdin with `--…-stdin`, or a refusal (exit 2)
//! when neither is possible, never a hang. Secrets never come from argv.

use crate::error::{Error, Result};
use std::io::{BufRead, IsTerminal, Read};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Reads one line of stdin (without its line ending).
pub fn stdin_line(what: &str) -> Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::invalid(format!("cannot read {what} from stdin: {e}")))?;
    let trimmed = line.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err(Error::invalid(format!(
            "no {what} on stdin: send it as one line"
        )));
    }
    Ok(Zeroizing::new(trimmed.to_owned()))
}

/// How `--value-stdin` reads a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueInput {
    /// stdin is a terminal: one line, asked for without echo (as a password is).
    Prompt,
    /// stdin is a pipe or a file: all of it, minus one trailing newline.
    ReadAll,
}

impl ValueInput {
    /// The way to read a value given whether stdin is a terminal.
    pub fn for_stdin(stdin_is_terminal: bool) -> Self {
        if stdin_is_terminal {
            ValueInput::Prompt
        } else {
            ValueInput::ReadAll
        }
    }
}

/// A value from stdin (`--value-stdin`) of at most `max` bytes: asked for
/// without echo on a terminal, else all of stdin minus one trailing newline.
/// A longer value is refused (exit 2) without reading the rest.
pub fn stdin_value(what: &str, max: u64) -> Result<Zeroizing<String>> {
    match ValueInput::for_stdin(std::io::stdin().is_terminal()) {
        ValueInput::Prompt => {
            let value = rpassword::prompt_password(format!("Enter {what} (input hidden): "))
                .map(Zeroizing::new)
                .map_err(|e| {
                    Error::invalid(format!("cannot read {what} from the terminal: {e}"))
                })?;
            if value.len() as u64 > max {
                return Err(too_large(what, max));
            }
            Ok(value)
        }
        ValueInput::ReadAll => {
            // Room for the line ending that is dropped.
            let value = read_capped(std::io::stdin().lock(), what, max.saturating_add(2), || {
                too_large(what, max)
            })?;
            let value = Zeroizing::new(drop_newline(&value).to_owned());
            if value.len() as u64 > max {
                return Err(too_large(what, max));
            }
            Ok(value)
        }
    }
}

/// A file's text of at most `max` bytes, as it is (`--from-file`); a longer
/// file is refused (exit 2) without reading the rest.
pub fn file_value(path: &std::path::Path, what: &str, max: u64) -> Result<Zeroizing<String>> {
    let cannot = |e: std::io::Error| Error::invalid(format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot)?;
    read_bounded(file, what, max)
}

fn too_large(what: &str, max: u64) -> Error {
    Error::invalid(format!(
        "{what} is larger than the limit of {max} bytes (KEYWARD_MAX_VALUE_SIZE or settings.max_value_size): nothing changed"
    ))
}

/// Reads UTF-8 text of at most `max` bytes from `r`, refusing more (exit 2)
/// after reading one byte past the limit.
pub fn read_bounded(r: impl Read, what: &str, max: u64) -> Result<Zeroizing<String>> {
    read_capped(r, what, max, || too_large(what, max))
}

/// Reads at most `cap` bytes, refusing more with `over()`.
fn read_capped(
    r: impl Read,
    what: &str,
    cap: u64,
    over: impl FnOnce() -> Error,
) -> Result<Zeroizing<String>> {
    let mut bytes = Zeroizing::new(Vec::new());
    r.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::invalid(format!("cannot read {what}: {e}")))?;
    if bytes.len() as u64 > cap {
        return Err(over());
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::invalid(format!("{what} is not UTF-8 text")))?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// `text` without one trailing newline (`\n` or `\r\n`).
fn drop_newline(text: &str) -> &str {
    text.strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text)
}

/// The most bytes a settings file for `settings import` may have (256 MiB,
/// the largest value cap): a bigger file is refused before it is read.
pub const MAX_DOCUMENT: u64 = 256 * 1024 * 1024;

/// A document of at most `max` bytes from `path`, or from stdin for `-`
/// (stdin minus one trailing newline). A regular file over the limit is refused
/// (exit 2) by its size, before it is read; a pipe or device is read only
/// one byte past the limit.
pub fn document(path: &std::path::Path, what: &str, max: u64) -> Result<Zeroizing<String>> {
    let over = || {
        Error::invalid(format!(
            "{what} is larger than the limit of {max} bytes: split it; nothing changed"
        ))
    };
    let read = |r: &mut dyn Read, from: &str| -> Result<Zeroizing<String>> {
        let mut bytes = Zeroizing::new(Vec::new());
        r.take(max.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| Error::invalid(format!("cannot read {from}: {e}")))?;
        if bytes.len() as u64 > max {
            return Err(over());
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::invalid(format!("{from} is not UTF-8 text")))?;
        Ok(Zeroizing::new(text.to_owned()))
    };
    if path.as_os_str() == "-" {
        let all = read(&mut std::io::stdin().lock(), "stdin")?;
        return Ok(Zeroizing::new(drop_newline(&all).to_owned()));
    }
    let shown = path.display().to_string();
    let cannot = |e: std::io::Error| Error::invalid(format!("cannot read {shown}: {e}"));
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if meta.is_file() && meta.len() > max {
        return Err(over());
    }
    read(&mut file, &shown)
}

fn no_terminal(what: &str, flag: &str) -> Error {
    Error::invalid(format!(
        "no terminal to ask for the {what}: pass {flag} and send it on stdin"
    ))
}

fn prompt(text: &str) -> Result<Zeroizing<String>> {
    rpassword::prompt_password(crate::output::message_text(text))
        .map(Zeroizing::new)
        .map_err(|e| Error::invalid(format!("cannot read the password from the terminal: {e}")))
}

/// A password to check: stdin with `from_stdin`, else a prompt on a terminal.
pub fn password(from_stdin: bool, prompt_text: &str) -> Result<Zeroizing<String>> {
    if from_stdin {
        return stdin_line("password");
    }
    if !std::io::stdin().is_terminal() {
        return Err(no_terminal("password", "--password-stdin"));
    }
    prompt(prompt_text)
}

/// The longest token read from stdin (an access token is under 2 KiB).
const MAX_TOKEN: u64 = 16 * 1024;

/// A token or key to check: one line of stdin with `from_stdin` (at most
/// 16 KiB), else asked without echo on a terminal; exit 2 otherwise.
pub fn token(from_stdin: bool, what: &str, flag: &str) -> Result<Zeroizing<String>> {
    if from_stdin {
        let all = read_capped(std::io::stdin().lock(), what, MAX_TOKEN, || {
            Error::invalid(format!(
                "{what} on stdin is longer than {MAX_TOKEN} bytes: it is not a keyward token"
            ))
        })?;
        let line = all.lines().next().unwrap_or_default().trim();
        if line.is_empty() {
            return Err(Error::invalid(format!(
                "no {what} on stdin: send it as one line"
            )));
        }
        return Ok(Zeroizing::new(line.to_owned()));
    }
    if !std::io::stdin().is_terminal() {
        return Err(no_terminal(what, flag));
    }
    prompt(&format!("{what}: "))
}

/// A new password: stdin with `from_stdin`, else asked twice on a terminal.
pub fn new_password(from_stdin: bool, username: &str) -> Result<Zeroizing<String>> {
    if from_stdin {
        return stdin_line("password");
    }
    if !std::io::stdin().is_terminal() {
        return Err(no_terminal("password", "--password-stdin"));
    }
    let first = prompt(&format!("New password for {username}: "))?;
    let second = prompt("Repeat it: ")?;
    if !bool::from(first.as_bytes().ct_eq(second.as_bytes())) {
        return Err(Error::invalid("the two passwords differ: nothing changed"));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_is_prompted_without_echo_and_a_pipe_read_whole() {
        assert_eq!(ValueInput::for_stdin(true), ValueInput::Prompt);
        assert_eq!(ValueInput::for_stdin(false), ValueInput::ReadAll);
    }

    #[test]
    fn bounded_reads_stop_past_the_limit() {
        assert_eq!(*read_bounded(&b"abcd"[..], "v", 4).unwrap(), "abcd");
        let err = read_bounded(&b"abcde"[..], "the value of 'k'", 4).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("limit of 4 bytes"), "{err}");
        // A reader that never ends is read only one byte past the limit.
        let endless = std::io::repeat(b'x');
        assert_eq!(
            read_bounded(endless, "v", 1 << 16).unwrap_err().exit_code(),
            2
        );
        assert!(read_bounded(&[0xff_u8][..], "v", 4).is_err());
        assert_eq!(drop_newline("a\r\n"), "a");
        assert_eq!(drop_newline("a\n\n"), "a\n");
    }

    #[test]
    fn documents_are_refused_by_size_or_read_one_byte_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(1 << 40).unwrap();
        let err = document(&path, "the settings file", 1024).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("limit of 1024 bytes"), "{err}");
        std::fs::write(&path, "a: 1\n").unwrap();
        assert_eq!(*document(&path, "f", 1024).unwrap(), "a: 1\n");
        let zero = std::path::Path::new("/dev/zero");
        assert_eq!(document(zero, "f", 1 << 16).unwrap_err().exit_code(), 2);
    }
}
