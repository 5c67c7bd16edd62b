//! `keyward flags eval` and `flags export`: a flag's decision for users (one,
//! several, or a cohort streamed from stdin), and the environment's flags as a
//! document applications evaluate offline (keyward's own, or Unleash's).

use crate::config::Format;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::ops::flags::eval::{self as ops, CohortLine, EvalRequest, Evaluation, Tally};
use crate::ops::flags::export::{self as export_ops, ExportFormat, ExportRequest};
use crate::output::{Data, JsonStream, Reply, RowStream, StreamFormat, Style, TableRow};
use clap::Args;
use std::io::{BufRead, Read};

/// `flags eval`.
#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// The flag
    name: String,
    /// A user id to decide the flag for (repeatable): a username, or the id the application uses
    #[arg(
        long = "user",
        value_name = "U",
        required_unless_present = "users_stdin",
        conflicts_with = "users_stdin"
    )]
    users: Vec<String>,
    /// Read user ids from stdin, one per line (blank lines skipped), and print each decision as it is made (-o json: one JSON object per line)
    #[arg(long)]
    users_stdin: bool,
    /// A role the users hold besides their roles in the database (repeatable)
    #[arg(long = "role", value_name = "R")]
    roles: Vec<String>,
    /// Exit 0 when the flag is on for every user evaluated, 5 otherwise
    #[arg(long)]
    exit_code: bool,
}

/// `flags export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// json: keyward's document; unleash: the Unleash client API features document (version 2)
    #[arg(long, value_enum, default_value = "json")]
    format: ExportFormat,
}

/// `flags eval NAME --user U… | --users-stdin`.
pub(crate) fn eval(ctx: &mut Context, args: EvalArgs) -> Result<Reply> {
    let req = EvalRequest {
        env: ctx.config.environment.clone(),
        flag: args.name,
        roles: args.roles,
    };
    let (tally, mut reply) = if args.users_stdin {
        (cohort(ctx, &req)?, Reply::default())
    } else {
        users(ctx, &req, &args.users)?
    };
    if args.exit_code && !tally.all_enabled() {
        reply.exit = Some(5);
    }
    Ok(reply)
}

/// Decides the flag for the users given on the command line: one object for
/// one user, a list for several.
fn users(ctx: &mut Context, req: &EvalRequest, users: &[String]) -> Result<(Tally, Reply)> {
    let mut rows = Vec::with_capacity(users.len());
    let tally = ops::evaluate(ctx, req, users, &mut |e| {
        rows.push(serde_json::to_value(e).map_err(Error::internal)?);
        Ok(())
    })?;
    let reply = match <[_; 1]>::try_from(rows) {
        Ok([one]) => Reply::object(one),
        Err(rows) => Reply::list(Evaluation::COLUMNS, rows),
    };
    Ok((tally, reply))
}

/// Where a cohort's decisions go: JSON lines, or a streamed table or YAML list.
enum Out {
    Lines(JsonStream),
    Rows(RowStream),
}

/// Decides the flag for every user id on stdin, writing each decision as it is made.
fn cohort(ctx: &mut Context, req: &EvalRequest) -> Result<Tally> {
    let style = Style::of(&ctx.config);
    let mut out = match style.format {
        Format::Json => Out::Lines(JsonStream::stdout(StreamFormat::Lines)),
        Format::Table | Format::Yaml => Out::Rows(RowStream::stdout::<Evaluation<'_>>(style)),
    };
    let mut lines = CohortLines::new(std::io::stdin().lock());
    // Writing stops, and so does reading, when the reader goes away (`| head`).
    let tally = ops::evaluate_cohort(ctx, req, &mut lines, &mut |e| match &mut out {
        Out::Lines(s) => s.push(e).map(|()| !s.is_closed()),
        Out::Rows(s) => s.push(e).map(|()| !s.is_closed()),
    })?;
    match out {
        Out::Lines(s) => drop(s.finish()?),
        Out::Rows(s) => drop(s.finish()?),
    }
    Ok(tally)
}

/// The longest line read from a cohort, in bytes (ids are at most 255 bytes
/// once trimmed; a longer line is refused without being read whole).
pub const MAX_COHORT_LINE: usize = 1024;

/// The user ids on a cohort's lines: trimmed of spaces (and `\r`), blank
/// lines skipped; a line over [`MAX_COHORT_LINE`] bytes or not UTF-8 is an
/// error (exit 2) naming it.
pub(crate) struct CohortLines<R: BufRead> {
    input: R,
    number: u64,
    buf: Vec<u8>,
    failed: bool,
}

impl<R: BufRead> CohortLines<R> {
    pub(crate) fn new(input: R) -> Self {
        CohortLines {
            input,
            number: 0,
            buf: Vec::with_capacity(64),
            failed: false,
        }
    }

    fn read(&mut self) -> Result<Option<CohortLine>> {
        loop {
            self.buf.clear();
            let limit = u64::try_from(MAX_COHORT_LINE + 1).unwrap_or(u64::MAX);
            let n = <&mut R as Read>::take(&mut self.input, limit)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| Error::invalid(format!("cannot read user ids from stdin: {e}")))?;
            if n == 0 {
                return Ok(None);
            }
            self.number += 1;
            if self.buf.last() == Some(&b'\n') {
                self.buf.pop();
            } else if self.buf.len() > MAX_COHORT_LINE {
                return Err(Error::invalid(format!(
                    "line {} of stdin is longer than {MAX_COHORT_LINE} bytes: give one user id per line",
                    self.number
                )));
            }
            let text = std::str::from_utf8(&self.buf).map_err(|_| {
                Error::invalid(format!("line {} of stdin is not UTF-8", self.number))
            })?;
            let user = text.trim();
            if !user.is_empty() {
                return Ok(Some(CohortLine {
                    number: self.number,
                    user: user.to_owned(),
                }));
            }
        }
    }
}

impl<R: BufRead> Iterator for CohortLines<R> {
    type Item = Result<CohortLine>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let got = self.read().transpose();
        self.failed = matches!(got, Some(Err(_)));
        got
    }
}

/// `flags export [--format json|unleash]`: the document on stdout, whatever `-o` says.
pub(crate) fn export(ctx: &mut Context, args: ExportArgs) -> Result<Reply> {
    let req = ExportRequest {
        env: ctx.config.environment.clone(),
        format: args.format,
    };
    let done = export_ops::export(ctx, &req)?;
    let mut text = serde_json::to_string_pretty(&done.document).map_err(Error::internal)?;
    text.push('\n');
    let mut reply = Reply {
        data: Data::Raw(text),
        ..Reply::default()
    };
    if done.flags > 0 && done.configured == 0 {
        reply.message = Some(format!(
            "no flag is configured in environment '{}': every flag is off there (is --env right?)",
            req.env
        ));
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<Result<CohortLine>> {
        CohortLines::new(input).collect()
    }

    #[test]
    fn cohort_lines_are_trimmed_and_blank_ones_skipped() {
        let got: Vec<(u64, String)> = lines(b"ann\n\n  bob \r\n\t\n123\nlast")
            .into_iter()
            .map(|l| l.map(|l| (l.number, l.user)).unwrap())
            .collect();
        assert_eq!(
            got,
            [
                (1, "ann".to_owned()),
                (3, "bob".to_owned()),
                (5, "123".to_owned()),
                (6, "last".to_owned())
            ]
        );
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn long_or_binary_lines_stop_the_cohort() {
        let mut long = b"ok\n".to_vec();
        long.extend(vec![b'x'; MAX_COHORT_LINE + 1]);
        long.extend(b"\nnever\n");
        let got = lines(&long);
        assert_eq!(got.len(), 2, "stops at the bad line");
        let err = got[1].as_ref().unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("line 2"), "{err}");
        let exact = vec![b'y'; MAX_COHORT_LINE];
        assert_eq!(lines(&exact).len(), 1);
        let got = lines(b"a\n\xff\xfe\n");
        assert!(got[1].as_ref().unwrap_err().to_string().contains("UTF-8"));
    }
}
