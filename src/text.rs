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

/// The optimal-string-alignment distance between `a` and `b`, in characters:
/// the fewest insertions, deletions, substitutions and swaps of two
/// neighbours that turn one into the other (`tpye` is 1 from `type`).
/// Quadratic: meant for names, which callers cap in length.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (i, row) in d.chunks_mut(width).enumerate() {
        row[0] = i;
    }
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("type", "type"), 0);
        assert_eq!(edit_distance("tpye", "type"), 1);
        assert_eq!(edit_distance("valeu", "value"), 1);
        assert_eq!(edit_distance("secrt", "secret"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("prodution", "production"), 1);
        assert_eq!(edit_distance("prodcution", "production"), 1);
        assert_eq!(edit_distance("staging", "staging"), 0);
        assert_eq!(edit_distance("S3cretToken99", "value"), 12);
        assert_eq!(edit_distance("ca", "abc"), 3);
    }
}
