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

mod stream;
pub use stream::{RowStream, TABLE_PAGE};

/// The data a command produced.
#[derive(Debug, Default)]
pub enum Data {
    /// Nothing for stdout.
    #[default]
    None,
    /// Text printed as it is, whatever the format (completions, exports, `--raw`):
    /// exact bytes for scripts.
    Raw(String),
    /// Text for people, whatever the format: control characters shown escaped
    /// (newlines kept), as in tables.
    Text(String),
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

/// Writes a warning for people on stderr (`warning: …`), controls escaped.
pub fn warn(msg: impl std::fmt::Display) {
    eprintln!("warning: {}", message_text(&msg.to_string()));
}

/// Writes a line for people on stderr (progress notes, outcomes of commands whose stdout is data).
pub fn note(msg: impl std::fmt::Display) {
    eprintln!("{}", message_text(&msg.to_string()));
}

/// Writes an error for people on stderr (`error: …`); the exit code is the caller's to set.
pub fn error(msg: impl std::fmt::Display) {
    eprintln!("error: {}", message_text(&msg.to_string()));
}

/// Writes a question for people on stderr, with no line break, and flushes it.
pub fn prompt(question: &str) {
    eprint!("{}", message_text(question));
    let _ = std::io::stderr().flush();
}

/// A text for people (a prompt another crate writes): controls escaped, line breaks kept.
pub fn message_text(msg: &str) -> String {
    visible(msg, true, None)
}

/// The longest line of a usage error: clap quotes the argument it refused,
/// which may be anything a user (or a script) passed.
pub const USAGE_LINE_LIMIT: usize = 300;

/// Writes a usage error as clap rendered it (already prefixed `error:`),
/// controls escaped and each line cut at [`USAGE_LINE_LIMIT`] characters.
pub fn usage_error(rendered: &str) {
    for line in rendered.lines() {
        eprintln!("{}", visible(line, false, Some(USAGE_LINE_LIMIT)));
    }
}

/// The longest cell of a list table, in characters shown; the rest is cut with a marker.
pub const LIST_CELL_LIMIT: usize = 200;
/// The longest value of a one-object table (`settings get`, `users show`).
pub const OBJECT_CELL_LIMIT: usize = 1000;
/// Terminals narrower than this report no usable width (a pseudo-terminal
/// with no size says 0): tables are then not wrapped at all.
pub const MIN_TABLE_WIDTH: u16 = 20;

pub use crate::text::visible;

/// The width a table may use, from what the terminal reports (`None`: not a
/// terminal). A width of 0 (or one too narrow for any table) means unknown:
/// no wrapping, rather than one character per line.
pub fn usable_width(reported: Option<u16>) -> Option<u16> {
    reported.filter(|w| *w >= MIN_TABLE_WIDTH)
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

impl Style {
    /// The style the configuration asks for (`-o`, `NO_COLOR`).
    pub fn of(config: &crate::config::Config) -> Self {
        Style {
            format: config.output,
            no_color: config.no_color,
        }
    }
}

/// Renders the reply's data in `style` to `out`.
pub fn render(out: &mut dyn Write, style: Style, reply: &Reply) -> std::io::Result<()> {
    let no_color = style.no_color;
    match (&reply.data, style.format) {
        (Data::None, _) => Ok(()),
        (Data::Raw(text), _) => out.write_all(text.as_bytes()),
        (Data::Text(text), _) => out.write_all(visible(text, true, None).as_bytes()),
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
    // The terminal's width (None off a terminal), asked before NO_COLOR turns off styling.
    let width = usable_width(t.width());
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    if no_color {
        t.force_no_tty();
    }
    match width {
        Some(w) => {
            t.set_width(w)
                .set_content_arrangement(ContentArrangement::Dynamic);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t
}

/// How one JSON value shows in a table cell, with at most `limit` characters
/// and its controls (newlines too) escaped.
fn table_cell(v: &Value, limit: usize) -> String {
    visible(&cell(v), false, Some(limit))
}

/// The text of one JSON value in a table cell (before escaping and cutting).
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
                let k = visible(k, false, Some(LIST_CELL_LIMIT));
                t.add_row(vec![k, table_cell(v, OBJECT_CELL_LIMIT)]);
            }
        }
        other => {
            t.add_row(vec![table_cell(other, OBJECT_CELL_LIMIT)]);
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
                .map(|c| table_cell(r.get(*c).unwrap_or(&Value::Null), LIST_CELL_LIMIT)),
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

    /// Whether the reader went away (broken pipe): later records are dropped,
    /// so a producer may stop.
    pub fn is_closed(&self) -> bool {
        self.closed
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

/// Writes a secret (a token, a key) into the one response that shows it,
/// for `#[serde(serialize_with = "crate::output::reveal")]` on a
/// `Zeroizing<String>` field.
pub fn reveal<S: serde::Serializer>(
    t: &zeroize::Zeroizing<String>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(t)
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
    fn controls_show_escaped() {
        let hostile = "a\u{1b}[2J\u{9b}\u{202e}\u{2066}\u{61c}\u{7f}\0\t\r\nz é 日本";
        assert_eq!(
            visible(hostile, false, None),
            r"a\e[2J\u{9b}\u{202e}\u{2066}\u{61c}\u{7f}\0\t\r\nz é 日本"
        );
        assert_eq!(visible("one\ntwo\u{1b}", true, None), "one\ntwo\\e");
        let reply = Reply::list(&["v"], vec![serde_json::json!({ "v": hostile })]);
        let mut out = Vec::new();
        render(&mut out, style(Format::Table), &reply).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert_eq!(text.lines().count(), 5, "one row, one line: {text}");
    }

    #[test]
    fn long_cells_are_cut_in_one_pass() {
        let big = "x".repeat(5 << 20);
        let reply = Reply::list(&["v"], vec![serde_json::json!({ "v": big })]);
        let mut out = Vec::new();
        render(&mut out, style(Format::Table), &reply).unwrap();
        let text = String::from_utf8(out).unwrap();
        let left = (5 << 20) - LIST_CELL_LIMIT;
        assert!(
            text.contains(&format!("… (+{left} chars; -o json for all)")),
            "{text}"
        );
        assert!(text.len() < 4_000, "{} bytes", text.len());
        // An escape is never split by the cut, and counts as what it shows.
        let cut = visible(&"\u{1b}".repeat(100), false, Some(5));
        assert_eq!(cut, r"\e\e… (+98 chars; -o json for all)");
        assert_eq!(visible("short", false, Some(5)), "short");
        let mut json = Vec::new();
        render(&mut json, style(Format::Json), &reply).unwrap();
        assert!(json.len() > 5 << 20);
    }

    #[test]
    fn a_terminal_without_width_is_not_wrapped() {
        assert_eq!(usable_width(Some(0)), None);
        assert_eq!(usable_width(Some(MIN_TABLE_WIDTH - 1)), None);
        assert_eq!(usable_width(None), None);
        assert_eq!(usable_width(Some(80)), Some(80));
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
