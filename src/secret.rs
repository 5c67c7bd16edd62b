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

/// Reads all of stdin, dropping one trailing newline (`--value-stdin`).
pub fn stdin_all(what: &str) -> Result<Zeroizing<String>> {
    let mut all = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_to_string(&mut all)
        .map_err(|e| {
            Error::invalid(format!("cannot read {what} from stdin (is it UTF-8?): {e}"))
        })?;
    let end = if all.ends_with("\r\n") {
        all.len() - 2
    } else if all.ends_with('\n') {
        all.len() - 1
    } else {
        all.len()
    };
    Ok(Zeroizing::new(all[..end].to_owned()))
}

fn no_terminal(flag: &str) -> Error {
    Error::invalid(format!(
        "no terminal to ask for the password: pass {flag} and send it on stdin"
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
        return Err(no_terminal("--password-stdin"));
    }
    prompt(prompt_text)
}

/// A new password: stdin with `from_stdin`, else asked twice on a terminal.
pub fn new_password(from_stdin: bool, username: &str) -> Result<Zeroizing<String>> {
    if from_stdin {
        return stdin_line("password");
    }
    if !std::io::stdin().is_terminal() {
        return Err(no_terminal("--password-stdin"));
    }
    let first = prompt(&format!("New password for {username}: "))?;
    let second = prompt("Repeat it: ")?;
    if !bool::from(first.as_bytes().ct_eq(second.as_bytes())) {
        return Err(Error::invalid("the two passwords differ: nothing changed"));
    }
    Ok(first)
}
