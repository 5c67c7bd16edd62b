//! Text as people see it: the one rule for showing untrusted text on a
//! terminal (table cells, messages, identifiers quoted in errors and audit
//! targets). A leaf: the output module and the domain both use it.

/// How one character shows to people: `None` when it is printed as it is.
/// C0 and C1 controls, DEL, and the Unicode bidi and line-separator controls
/// are escaped (`\e`, `\t`, `\u{9b}`, `\u{202e}`) so a value can neither drive the
/// terminal nor reorder what is shown; `\n` is escaped unless `keep_newline`.
pub fn escape(c: char, keep_newline: bool) -> Option<String> {
    match c {
        '\n' if keep_newline => None,
        '\n' => Some("\\n".into()),
        '\t' => Some("\\t".into()),
        '\r' => Some("\\r".into()),
        '\u{1b}' => Some("\\e".into()),
        '\0' => Some("\\0".into()),
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => Some(format!("\\u{{{:x}}}", c as u32)),
        _ => None,
    }
}

/// `text` as people see it: controls escaped (see [`escape`]), and at most
/// `limit` characters shown, the rest replaced by a marker saying how many
/// were left out. One pass over the text: linear in its length.
pub fn visible(text: &str, keep_newline: bool, limit: Option<usize>) -> String {
    let cap = limit.map_or(text.len(), |l| text.len().min(l.saturating_mul(4)));
    let mut out = String::with_capacity(cap);
    let mut shown = 0usize;
    for (i, c) in text.char_indices() {
        let esc = escape(c, keep_newline);
        let width = esc.as_ref().map_or(1, String::len);
        if limit.is_some_and(|l| shown + width > l) {
            let left = text[i..].chars().count();
            out.push_str(&format!("… (+{left} chars; -o json for all)"));
            break;
        }
        shown += width;
        match esc {
            Some(e) => out.push_str(&e),
            None => out.push(c),
        }
    }
    out
}
