//! Lists written as they are read: [`RowStream`] renders rows one at a time,
//! so a list of any length costs the memory of one page, not of the table.
//!
//! `-o json` writes one JSON array and `-o yaml` one YAML sequence, the same
//! documents [`super::render`] prints for the same rows. Tables are drawn a
//! page at a time: every [`TABLE_PAGE`] rows make one table with its own
//! header (cells cut and escaped as in every list table).

use super::{new_table, table_cell, JsonStream, StreamFormat, Style, TableRow, LIST_CELL_LIMIT};
use crate::config::Format;
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::Value;
use std::io::Write;

/// Rows per table when a list is drawn for people.
pub const TABLE_PAGE: usize = 1000;

/// Writes a list's rows as they come, in the chosen format.
pub struct RowStream<W: Write = std::io::BufWriter<std::io::StdoutLock<'static>>> {
    how: How<W>,
    count: u64,
}

enum How<W: Write> {
    Json(JsonStream<W>),
    Yaml(Sink<W>),
    Table {
        out: Sink<W>,
        columns: &'static [&'static str],
        no_color: bool,
        /// The current page's cells, already cut and escaped.
        page: Vec<Vec<String>>,
    },
}

impl RowStream {
    /// A stream of `T` rows on stdout.
    pub fn stdout<T: TableRow>(style: Style) -> Self {
        RowStream::new::<T>(std::io::BufWriter::new(std::io::stdout().lock()), style)
    }
}

impl<W: Write> RowStream<W> {
    /// A stream of `T` rows on `out`.
    pub fn new<T: TableRow>(out: W, style: Style) -> Self {
        let how = match style.format {
            Format::Json => How::Json(JsonStream::new(out, StreamFormat::Array)),
            Format::Yaml => How::Yaml(Sink::new(out)),
            Format::Table => How::Table {
                out: Sink::new(out),
                columns: T::COLUMNS,
                no_color: style.no_color,
                page: Vec::new(),
            },
        };
        RowStream { how, count: 0 }
    }

    /// How many rows were written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether the reader went away (broken pipe): later rows are dropped, so
    /// a producer may stop. A table notices at its next page.
    pub fn is_closed(&self) -> bool {
        match &self.how {
            How::Json(s) => s.is_closed(),
            How::Yaml(out) | How::Table { out, .. } => out.closed,
        }
    }

    /// Writes one row (a table keeps it until its page is full).
    pub fn push(&mut self, row: &impl Serialize) -> Result<()> {
        self.count += 1;
        match &mut self.how {
            How::Json(s) => s.push(row),
            How::Yaml(out) => {
                // A one-item sequence: the items of a block sequence, one after another.
                let text = serde_yaml::to_string(&[row]).map_err(Error::internal)?;
                out.write(text.as_bytes())
            }
            How::Table {
                out,
                columns,
                no_color,
                page,
            } => {
                let v = serde_json::to_value(row).map_err(Error::internal)?;
                page.push(
                    (columns.iter())
                        .map(|c| table_cell(v.get(*c).unwrap_or(&Value::Null), LIST_CELL_LIMIT))
                        .collect(),
                );
                if page.len() >= TABLE_PAGE {
                    draw(out, columns, *no_color, page)?;
                }
                Ok(())
            }
        }
    }

    /// Ends the output (closing the array, drawing the last page), flushes it
    /// and returns the writer. An empty list prints `[]` in JSON and YAML and
    /// nothing as a table, as a whole list does.
    pub fn finish(self) -> Result<W> {
        match self.how {
            How::Json(s) => s.finish(),
            How::Yaml(mut out) => {
                if self.count == 0 {
                    out.write(b"[]\n")?;
                }
                out.finish()
            }
            How::Table {
                mut out,
                columns,
                no_color,
                mut page,
            } => {
                draw(&mut out, columns, no_color, &mut page)?;
                out.finish()
            }
        }
    }
}

/// Draws the page as one table and empties it.
fn draw<W: Write>(
    out: &mut Sink<W>,
    columns: &[&str],
    no_color: bool,
    page: &mut Vec<Vec<String>>,
) -> Result<()> {
    if page.is_empty() {
        return Ok(());
    }
    let mut t = new_table(no_color);
    t.set_header(columns.iter().map(|c| c.to_uppercase()));
    for cells in page.drain(..) {
        t.add_row(cells);
    }
    out.write(format!("{t}\n").as_bytes())
}

/// A writer that ends quietly when its reader goes away (broken pipe).
struct Sink<W: Write> {
    out: W,
    closed: bool,
}

impl<W: Write> Sink<W> {
    fn new(out: W) -> Self {
        Sink { out, closed: false }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.out.write_all(bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other.map_err(|e| super::write_error(&e)),
        }
    }

    fn finish(mut self) -> Result<W> {
        if !self.closed {
            match self.out.flush() {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(super::write_error(&e))
                }
                _ => {}
            }
        }
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{render, Reply};

    #[derive(Serialize)]
    struct Row {
        key: String,
        value: Value,
        n: i64,
    }

    impl TableRow for Row {
        const COLUMNS: &'static [&'static str] = &["key", "value"];
    }

    fn rows(n: usize) -> Vec<Row> {
        (0..n)
            .map(|i| Row {
                key: format!("k{i:05}"),
                value: match i % 4 {
                    0 => serde_json::json!("two\nlines\u{1b}[2J"),
                    1 => serde_json::json!({"a": [1, {"b": null}], "c": {}}),
                    2 => serde_json::json!([]),
                    _ => serde_json::json!("x".repeat(300)),
                },
                n: i as i64,
            })
            .collect()
    }

    fn streamed(format: Format, rows: &[Row]) -> String {
        let style = Style {
            format,
            no_color: true,
        };
        let mut s = RowStream::new::<Row>(Vec::new(), style);
        for r in rows {
            s.push(r).unwrap();
        }
        assert_eq!(s.count(), rows.len() as u64);
        String::from_utf8(s.finish().unwrap()).unwrap()
    }

    fn whole(format: Format, rows: &[Row]) -> String {
        let style = Style {
            format,
            no_color: true,
        };
        let mut out = Vec::new();
        render(&mut out, style, &Reply::list(Row::COLUMNS, rows)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn streamed_json_and_yaml_are_the_whole_documents() {
        for n in [0, 1, 2, 5, TABLE_PAGE + 3] {
            let rows = rows(n);
            for format in [Format::Json, Format::Yaml] {
                assert_eq!(
                    streamed(format, &rows),
                    whole(format, &rows),
                    "{format:?}, {n} rows"
                );
            }
        }
    }

    /// A reader that went away: every write fails with a broken pipe.
    struct Gone;

    impl Write for Gone {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_closed_reader_is_noticed_quietly() {
        for format in [Format::Json, Format::Yaml, Format::Table] {
            let style = Style {
                format,
                no_color: true,
            };
            let mut s = RowStream::new::<Row>(Gone, style);
            assert!(!s.is_closed());
            for r in rows(TABLE_PAGE) {
                s.push(&r).unwrap();
            }
            assert!(s.is_closed(), "{format:?}");
            s.finish().unwrap();
        }
        let mut lines = crate::output::JsonStream::new(Gone, crate::output::StreamFormat::Lines);
        lines.push(&1).unwrap();
        assert!(lines.is_closed());
    }

    #[test]
    fn streamed_tables_are_whole_tables_page_by_page() {
        let small = rows(7);
        assert_eq!(
            streamed(Format::Table, &small),
            whole(Format::Table, &small)
        );
        assert_eq!(streamed(Format::Table, &[]), "");
        let many = rows(2 * TABLE_PAGE + 1);
        let pages: String = many
            .chunks(TABLE_PAGE)
            .map(|page| whole(Format::Table, page))
            .collect();
        let text = streamed(Format::Table, &many);
        assert_eq!(text, pages);
        assert_eq!(text.matches("KEY").count(), 3, "one header per page");
        assert!(!text.contains('\u{1b}') && text.contains(r"\e[2J"));
    }
}
