//! Rendering: tables for people, JSON or YAML for scripts. The only writer of stdout.
//!
//! A command returns a [`Reply`]: data (an object or a list with its table
//! columns) and an optional message. Data goes to stdout in the chosen
//! format; messages go to stderr.
// The one module that writes stdout and stderr (the lints hold everyone else to it).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use crate::config::Format;
use crate::error::Error;
use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;
use serde_json::Value;
use std::io::Write;

/// The data a command produced.
#[derive(Debug, Default)]
pub enum Data {
    /// Nothing for stdout.
    #[default]
    None,
    /// Text printed as it is, whatever the format (completions, exports).
    Raw(String),
    /// One object (a key/value table for people).
    Object(Value),
    /// Rows, with the columns a table shows (JSON shows every field).
    List {
        /// Field names shown as table columns.
        columns: Vec<&'static str>,
        /// One JSON object per row.
        rows: Vec<Value>,
    },
}

/// Writes a warning for people on stderr (`warning: …`).
pub fn warn(msg: impl std::fmt::Display) {
    eprintln!("warning: {msg}");
}

/// Writes a line for people on stderr (progress notes, outcomes of commands whose stdout is data).
pub fn note(msg: impl std::fmt::Display) {
    eprintln!("{msg}");
}

/// Writes an error for people on stderr (`error: …`); the exit code is the caller's to set.
pub fn error(msg: impl std::fmt::Display) {
    eprintln!("error: {msg}");
}

/// A row type shown as a table: its JSON form is the `Serialize` derive, its
/// table the listed fields. One struct holds both, so they cannot drift;
/// [`assert_columns`] checks every column is a field.
pub trait TableRow: Serialize {
    /// The fields a table shows, in order (JSON shows every field).
    const COLUMNS: &'static [&'static str];
}

/// Checks that every column of `T` is one of `sample`'s serialised fields (for unit tests).
pub fn assert_columns<T: TableRow>(sample: &T) {
    let v = to_value(sample);
    for c in T::COLUMNS {
        assert!(
            v.get(*c).is_some(),
            "column {c:?} is not a field of {}",
            std::any::type_name::<T>()
        );
    }
}

/// What a command returns to be rendered.
#[derive(Debug, Default)]
pub struct Reply {
    /// The data for stdout.
    pub data: Data,
    /// A line for people on stderr.
    pub message: Option<String>,
    /// Whether table mode prints the data (false when the message says it all).
    pub quiet_table: bool,
    /// An error to report after the data (e.g. unhealthy, chain broken): sets the exit code.
    pub failure: Option<Error>,
    /// An exit code passed through from a child process (`settings run`).
    pub exit: Option<u8>,
}

impl Reply {
    /// A reply carrying one object.
    pub fn object(value: impl Serialize) -> Self {
        Reply {
            data: Data::Object(to_value(value)),
            ..Reply::default()
        }
    }

    /// A reply carrying a list shown with `columns`.
    pub fn list<T: Serialize>(columns: &[&'static str], rows: impl IntoIterator<Item = T>) -> Self {
        Reply {
            data: Data::List {
                columns: columns.to_vec(),
                rows: rows.into_iter().map(to_value).collect(),
            },
            ..Reply::default()
        }
    }

    /// A reply carrying rows shown with their type's [`TableRow::COLUMNS`].
    pub fn rows<T: TableRow>(rows: impl IntoIterator<Item = T>) -> Self {
        Reply::list(T::COLUMNS, rows)
    }

    /// A reply that is only a message.
    pub fn message(msg: impl Into<String>) -> Self {
        Reply {
            message: Some(msg.into()),
            ..Reply::default()
        }
    }

    /// Adds a message for stderr.
    pub fn with_message(mut self, msg: impl Into<String>) -> Self {
        self.message = Some(msg.into());
        self
    }

    /// In table mode, print only the message, not the data.
    pub fn quiet_table(mut self) -> Self {
        self.quiet_table = true;
        self
    }

    /// Reports `err` (and its exit code) after rendering the data.
    pub fn failing(mut self, err: Error) -> Self {
        self.failure = Some(err);
        self
    }
}

fn to_value(v: impl Serialize) -> Value {
    // Serialising plain data structs to a JSON value cannot fail (no maps with
    // non-string keys are used); keep going with null rather than panic.
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// How data is rendered: the format, and whether tables may use colour (`NO_COLOR`).
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Table, JSON or YAML.
    pub format: Format,
    /// `NO_COLOR` is set: tables draw no styling.
    pub no_color: bool,
}

/// Renders the reply's data in `style` to `out`.
pub fn render(out: &mut dyn Write, style: Style, reply: &Reply) -> std::io::Result<()> {
    let no_color = style.no_color;
    match (&reply.data, style.format) {
        (Data::None, _) => Ok(()),
        (Data::Raw(text), _) => out.write_all(text.as_bytes()),
        (Data::Object(v), Format::Json) => writeln!(out, "{}", pretty_json(v)),
        (Data::List { rows, .. }, Format::Json) => {
            writeln!(out, "{}", pretty_json(&Value::Array(rows.clone())))
        }
        (Data::Object(v), Format::Yaml) => out.write_all(yaml(v).as_bytes()),
        (Data::List { rows, .. }, Format::Yaml) => {
            out.write_all(yaml(&Value::Array(rows.clone())).as_bytes())
        }
        (_, Format::Table) if reply.quiet_table => Ok(()),
        (Data::Object(v), Format::Table) => writeln!(out, "{}", object_table(v, no_color)),
        (Data::List { columns, rows }, Format::Table) => {
            if rows.is_empty() {
                Ok(())
            } else {
                writeln!(out, "{}", list_table(columns, rows, no_color))
            }
        }
    }
}

fn pretty_json(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn yaml(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap_or_else(|_| format!("{v}\n"))
}

fn new_table(no_color: bool) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if no_color {
        t.force_no_tty();
    }
    t
}

/// How one JSON value shows in a table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn object_table(v: &Value, no_color: bool) -> String {
    let mut t = new_table(no_color);
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter().filter(|(_, v)| !v.is_null()) {
                t.add_row(vec![k.clone(), cell(v)]);
            }
        }
        other => {
            t.add_row(vec![cell(other)]);
        }
    }
    t.to_string()
}

fn list_table(columns: &[&str], rows: &[Value], no_color: bool) -> String {
    let mut t = new_table(no_color);
    t.set_header(columns.iter().map(|c| c.to_uppercase()));
    for r in rows {
        t.add_row(
            columns
                .iter()
                .map(|c| cell(r.get(*c).unwrap_or(&Value::Null))),
        );
    }
    t.to_string()
}

/// How [`JsonStream`] lays out its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// One compact JSON document per line.
    Lines,
    /// One pretty-printed JSON array, as `-o json` prints a list.
    Array,
}

/// Writes records to stdout as they come (exports of any size in constant
/// memory): JSON lines, or a JSON array byte-identical to a pretty-printed
/// list. A reader that goes away (broken pipe) ends the output quietly.
pub struct JsonStream<W: Write = std::io::BufWriter<std::io::StdoutLock<'static>>> {
    out: W,
    format: StreamFormat,
    count: u64,
    closed: bool,
}

impl JsonStream {
    /// A stream on stdout.
    pub fn stdout(format: StreamFormat) -> Self {
        JsonStream::new(std::io::BufWriter::new(std::io::stdout().lock()), format)
    }
}

impl<W: Write> JsonStream<W> {
    /// A stream on `out`.
    pub fn new(out: W, format: StreamFormat) -> Self {
        JsonStream {
            out,
            format,
            count: 0,
            closed: false,
        }
    }

    /// Writes one record.
    pub fn push(&mut self, item: &impl Serialize) -> crate::error::Result<()> {
        let text = match self.format {
            StreamFormat::Lines => {
                let mut line = serde_json::to_string(item).map_err(Error::internal)?;
                line.push('\n');
                line
            }
            StreamFormat::Array => {
                let pretty = serde_json::to_string_pretty(item).map_err(Error::internal)?;
                let mut text = String::from(if self.count == 0 { "[\n" } else { ",\n" });
                for (i, l) in pretty.lines().enumerate() {
                    if i > 0 {
                        text.push('\n');
                    }
                    text.push_str("  ");
                    text.push_str(l);
                }
                text
            }
        };
        self.count += 1;
        self.write(text.as_bytes())
    }

    /// Ends the output (closing the array), flushes it and returns the writer.
    pub fn finish(mut self) -> crate::error::Result<W> {
        if self.format == StreamFormat::Array {
            let end: &[u8] = if self.count == 0 { b"[]\n" } else { b"\n]\n" };
            self.write(end)?;
        }
        if !self.closed {
            match self.out.flush() {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(write_error(&e))
                }
                _ => {}
            }
        }
        Ok(self.out)
    }

    fn write(&mut self, bytes: &[u8]) -> crate::error::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.out.write_all(bytes) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(write_error(&e)),
        }
    }
}

fn write_error(e: &std::io::Error) -> Error {
    Error::internal(format!("cannot write output: {e}"))
}

/// Serialises timestamps as RFC 3339 UTC (`2026-11-24T12:00:00.000000Z`).
pub mod rfc3339 {
    use serde::Serializer;
    use time::OffsetDateTime;

    /// For `#[serde(with = "…")]` on an `OffsetDateTime`.
    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::time::rfc3339(*t))
    }

    /// For `Option<OffsetDateTime>` fields.
    pub mod option {
        use super::*;

        /// For `#[serde(with = "…::option")]`.
        pub fn serialize<S: Serializer>(
            t: &Option<OffsetDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&crate::time::rfc3339(*t)),
                None => s.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(format: Format) -> Style {
        Style {
            format,
            no_color: true,
        }
    }

    #[test]
    fn json_list_is_one_array() {
        let reply = Reply::list(&["a"], vec![serde_json::json!({"a": 1, "b": 2})]);
        let mut out = Vec::new();
        render(&mut out, style(Format::Json), &reply).unwrap();
        let parsed: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed, serde_json::json!([{"a": 1, "b": 2}]));
    }

    #[test]
    fn tables_show_only_the_columns() {
        let reply = Reply::list(
            &["a"],
            vec![serde_json::json!({"a": "x", "secret_field": "y"})],
        );
        let mut out = Vec::new();
        render(&mut out, style(Format::Table), &reply).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains('x') && !text.contains('y'), "{text}");
    }

    #[test]
    fn streams_match_the_whole_documents() {
        let items = [
            serde_json::json!({"a": 1, "b": {"c": [1, 2], "d": {}}, "e": []}),
            serde_json::json!({"a": "two\nlines"}),
        ];
        for n in 0..=items.len() {
            let some = &items[..n];
            let mut array = JsonStream::new(Vec::new(), StreamFormat::Array);
            let mut lines = JsonStream::new(Vec::new(), StreamFormat::Lines);
            for item in some {
                array.push(item).unwrap();
                lines.push(item).unwrap();
            }
            let array = String::from_utf8(array.finish().unwrap()).unwrap();
            assert_eq!(array, serde_json::to_string_pretty(some).unwrap() + "\n");
            let lines = String::from_utf8(lines.finish().unwrap()).unwrap();
            let want: String = some.iter().map(|i| format!("{i}\n")).collect();
            assert_eq!(lines, want);
        }
    }
}
