//! Finding keyward API keys and refresh tokens in text (`apikeys scan`): the
//! finder over bytes, the streaming of a reader through it in chunks with
//! bounded memory (UTF-16 with a BOM transcoded to UTF-8 on the way), and
//! the status rules of what it found. No I/O beyond the reader it is given,
//! no clock, no store.
//!
//! A match is `kw_` + 8 base62 + `_` + 38 base62 (an API key) or `kwr_` + 38
//! base62 (a refresh token), not followed by another base62 character. What
//! precedes it does not matter: leaks are usually glued to something
//! (`API_KEY=kw_…`, `"kw_…"`, `tokenkwr_…` after a lost separator), and a
//! checksum still tells a real token from noise. Matches do not overlap: the
//! text after a match is searched from its end, so the `kwr_…` tail of a key
//! whose id ends in `kwr` is not reported a second time.

use crate::crypto::token;
use memchr::memmem;
use serde::Serialize;
use std::io::{self, Read};
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// Bytes read at a time when streaming (1 MiB).
pub const CHUNK: usize = 1 << 20;

/// The longest match (an API key): also the bytes kept from one chunk to the
/// next, so a match cut by a chunk edge is found whole.
pub const LONGEST: usize = token::KEY_LEN;

/// A NUL byte among the first this many bytes makes a file binary (as git decides).
pub const BINARY_PROBE: usize = 8 * 1024;

/// What a match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `kw_<8>_<38>`.
    ApiKey,
    /// `kwr_<38>`.
    RefreshToken,
}

impl Kind {
    /// The length of a match of this kind.
    pub fn token_len(self) -> usize {
        match self {
            Kind::ApiKey => token::KEY_LEN,
            Kind::RefreshToken => token::REFRESH_LEN,
        }
    }

    /// The word in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ApiKey => "api_key",
            Kind::RefreshToken => "refresh_token",
        }
    }
}

/// A match in a buffer: where it starts and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Its first byte's offset.
    pub at: usize,
    /// What it is (its length follows).
    pub kind: Kind,
}

fn base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn all_base62(b: &[u8]) -> bool {
    b.iter().all(|&c| base62(c))
}

/// Whether a token of `len` bytes at the start of `rest` ends there: the
/// next byte is not base62, or the text ends (`eof`).
fn ends_at(rest: &[u8], len: usize, eof: bool) -> bool {
    match rest.get(len) {
        Some(&b) => !base62(b),
        None => eof && rest.len() == len,
    }
}

/// The match starting at the start of `rest` (which begins with `kw`), if
/// any. `eof`: the text ends where `rest` does.
fn match_start(rest: &[u8], eof: bool) -> Option<Kind> {
    let id_end = token::KEY_PREFIX_LEN;
    match rest.get(2..4)? {
        [b'_', _] => {
            let key = rest.get(..token::KEY_LEN)?;
            let shaped = all_base62(&key[3..id_end])
                && key[id_end] == b'_'
                && all_base62(&key[id_end + 1..]);
            (shaped && ends_at(rest, token::KEY_LEN, eof)).then_some(Kind::ApiKey)
        }
        [b'r', b'_'] => {
            let t = rest.get(..token::REFRESH_LEN)?;
            let shaped = all_base62(&t[token::REFRESH_PREFIX.len()..]);
            (shaped && ends_at(rest, token::REFRESH_LEN, eof)).then_some(Kind::RefreshToken)
        }
        _ => None,
    }
}

/// Calls `f` with every match in `hay` that starts at or after `from` and
/// before `until`, in order; returns the end of the last match (or `from`).
/// `eof`: the text ends with `hay` (a match may end exactly there); when it
/// does not, `hay` must extend at least [`LONGEST`] bytes past `until`.
pub fn find_in(
    hay: &[u8],
    (from, until): (usize, usize),
    eof: bool,
    mut f: impl FnMut(Match),
) -> usize {
    let mut next = from;
    let Some(window) = hay.get(from..) else {
        return next;
    };
    for i in memmem::find_iter(window, b"kw") {
        let at = from + i;
        if at >= until {
            break;
        }
        if at < next {
            continue;
        }
        if let Some(kind) = match_start(&hay[at..], eof) {
            f(Match { at, kind });
            next = at + kind.token_len();
        }
    }
    next
}

/// Every match in a whole text, in order.
pub fn find_all(text: &[u8]) -> Vec<Match> {
    let mut out = Vec::new();
    find_in(text, (0, text.len()), true, |m| out.push(m));
    out
}

/// A match read from a stream: its kind, its 1-based line, and the token
/// (a secret: never printed; `Debug` leaves it out).
pub struct Found {
    /// What it is.
    pub kind: Kind,
    /// The line it starts on, from 1.
    pub line: u64,
    /// The whole token.
    pub token: Zeroizing<String>,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("kind", &self.kind)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// How a stream's scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanned {
    /// Read to its end.
    Text,
    /// A NUL byte in its first [`BINARY_PROBE`] bytes: skipped, nothing reported.
    Binary,
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn newlines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

/// Streams `r` through the finder `chunk` bytes at a time (memory: one
/// chunk and [`LONGEST`] bytes), calling `f` with each match in order. With
/// `skip_binary`, a NUL byte among the first [`BINARY_PROBE`] bytes (or the
/// first chunk, when smaller) stops before anything is reported. Text that
/// starts with a UTF-16 BOM is scanned as its UTF-8 transcoding (lines
/// counted in it). A read error ends the scan with it; what was reported
/// before stands.
pub fn scan_stream(
    r: &mut dyn Read,
    chunk: usize,
    skip_binary: bool,
    f: &mut dyn FnMut(Found),
) -> io::Result<Scanned> {
    let chunk = chunk.max(LONGEST + 1);
    let mut buf = vec![0u8; chunk + LONGEST];
    // Bytes held (the kept tail of the last chunk, then the new ones).
    let mut len = 0;
    // The line at `counted` (newlines before it already counted).
    let mut line = 1u64;
    let mut first = true;
    // Where the search resumes (past the last match, which may reach into the kept tail).
    let mut resume = 0;
    loop {
        let read = fill(r, &mut buf[len..])?;
        len += read;
        let eof = len < buf.len();
        if first {
            if let Some(big) = utf16_bom(&buf[..len]) {
                // UTF-16 text: scan its UTF-8 transcoding instead (the BOM dropped).
                let mut rest = io::Cursor::new(buf[2..len].to_vec()).chain(r);
                drop(buf);
                return scan_stream(&mut Utf16::new(&mut rest, big), chunk, skip_binary, f);
            }
        }
        if first && skip_binary && memchr::memchr(0, &buf[..len.min(BINARY_PROBE)]).is_some() {
            return Ok(Scanned::Binary);
        }
        first = false;
        // Matches may start before `safe`: each has its whole length and the
        // byte after it in the buffer (or the text ends).
        let safe = if eof { len } else { len - LONGEST };
        let mut counted = 0;
        resume = find_in(&buf[..len], (resume, safe), eof, |m| {
            line += newlines(&buf[counted..m.at]);
            counted = m.at;
            let token = String::from_utf8_lossy(&buf[m.at..m.at + m.kind.token_len()]);
            f(Found {
                kind: m.kind,
                line,
                token: Zeroizing::new(token.into_owned()),
            });
        });
        if eof {
            return Ok(Scanned::Text);
        }
        line += newlines(&buf[counted..safe]);
        buf.copy_within(safe..len, 0);
        len -= safe;
        resume = resume.saturating_sub(safe);
    }
}

/// Whether `b` starts with a UTF-16 byte order mark: `Some(true)` for big
/// endian (`FE FF`), `Some(false)` for little endian (`FF FE`, as Windows
/// PowerShell 5 writes with `>`).
pub fn utf16_bom(b: &[u8]) -> Option<bool> {
    match b.get(..2)? {
        [0xFE, 0xFF] => Some(true),
        [0xFF, 0xFE] => Some(false),
        _ => None,
    }
}

/// Raw bytes decoded at a time by [`Utf16`].
const UTF16_RAW: usize = 64 * 1024;

/// Reads UTF-16 text (after its BOM) as UTF-8, a block at a time: an odd
/// byte or a high surrogate at a block's end waits for the next block; a
/// lone surrogate (or an odd last byte) becomes U+FFFD.
pub struct Utf16<'a> {
    inner: &'a mut dyn Read,
    big: bool,
    raw: Vec<u8>,
    /// Raw bytes held from the last block (0 or 1).
    odd: usize,
    high: Option<u16>,
    out: Vec<u8>,
    at: usize,
    done: bool,
}

impl<'a> Utf16<'a> {
    /// Decodes `inner`, big endian when `big`.
    pub fn new(inner: &'a mut dyn Read, big: bool) -> Self {
        Utf16 {
            inner,
            big,
            raw: vec![0; UTF16_RAW],
            odd: 0,
            high: None,
            out: Vec::with_capacity(UTF16_RAW * 3 / 2 + 4),
            at: 0,
            done: false,
        }
    }

    fn push(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }

    fn unit(&mut self, u: u16) {
        let c = match (self.high.take(), u) {
            (None, 0xD800..=0xDBFF) => {
                self.high = Some(u);
                return;
            }
            (Some(h), 0xDC00..=0xDFFF) => {
                let c = 0x10000 + ((u32::from(h) - 0xD800) << 10) + (u32::from(u) - 0xDC00);
                char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            (Some(_), _) => {
                self.push(char::REPLACEMENT_CHARACTER);
                return self.unit(u);
            }
            (None, _) => char::from_u32(u32::from(u)).unwrap_or(char::REPLACEMENT_CHARACTER),
        };
        self.push(c);
    }

    /// Decodes the next block into `out`; false at the end.
    fn refill(&mut self) -> io::Result<bool> {
        self.out.clear();
        self.at = 0;
        while self.out.is_empty() {
            if self.done {
                return Ok(false);
            }
            let n = loop {
                match self.inner.read(&mut self.raw[self.odd..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if n == 0 {
                self.done = true;
                if self.odd > 0 || self.high.take().is_some() {
                    self.push(char::REPLACEMENT_CHARACTER);
                }
                continue;
            }
            let have = self.odd + n;
            let whole = have & !1;
            for i in (0..whole).step_by(2) {
                let pair = [self.raw[i], self.raw[i + 1]];
                let u = if self.big {
                    u16::from_be_bytes(pair)
                } else {
                    u16::from_le_bytes(pair)
                };
                self.unit(u);
            }
            self.raw.copy_within(whole..have, 0);
            self.odd = have - whole;
        }
        Ok(true)
    }
}

impl Read for Utf16<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.out.len() && !self.refill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Where a found token stands (`status` in `scan`'s report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FoundStatus {
    /// It works now: a key that verifies (a rotated key in its grace period
    /// too), or the current refresh token of a live session.
    Active,
    /// A revoked key (or rotated past its grace), a refresh token of a
    /// revoked session, or a spent refresh token of a live one.
    Revoked,
    /// An expired key, or a refresh token of a session that ended.
    Expired,
    /// Well formed with a good checksum, but no key or session is its.
    Unknown,
    /// The checksum does not match: a typo, a truncation, or noise.
    BadChecksum,
}

impl FoundStatus {
    /// Every status, in the order a summary counts them.
    pub const ALL: [FoundStatus; 5] = [
        FoundStatus::Active,
        FoundStatus::Revoked,
        FoundStatus::Expired,
        FoundStatus::Unknown,
        FoundStatus::BadChecksum,
    ];

    /// Its place in [`FoundStatus::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The word in output.
    pub fn as_str(self) -> &'static str {
        match self {
            FoundStatus::Active => "active",
            FoundStatus::Revoked => "revoked",
            FoundStatus::Expired => "expired",
            FoundStatus::Unknown => "unknown",
            FoundStatus::BadChecksum => "bad_checksum",
        }
    }
}

/// A found API key's status: `unknown` when the key with its prefix is not
/// this key (the hashes differ), else the key's status.
pub fn key_status(hash_matches: bool, status: super::Status) -> FoundStatus {
    match (hash_matches, status) {
        (false, _) => FoundStatus::Unknown,
        (true, super::Status::Active) => FoundStatus::Active,
        (true, super::Status::Revoked) => FoundStatus::Revoked,
        (true, super::Status::Expired) => FoundStatus::Expired,
    }
}

/// A found refresh token's status, given its family's session: `revoked`
/// when the session is; `expired` when it ended; `revoked` for a spent
/// token (not the session's current one: it no longer refreshes, and
/// presenting it would revoke the session as reuse); else `active`.
pub fn refresh_status(
    current: bool,
    revoked: bool,
    ends: OffsetDateTime,
    now: OffsetDateTime,
) -> FoundStatus {
    if revoked {
        FoundStatus::Revoked
    } else if ends <= now {
        FoundStatus::Expired
    } else if !current {
        FoundStatus::Revoked
    } else {
        FoundStatus::Active
    }
}

/// What a report may show of a token: an API key's stored prefix (`kw_<8>`);
/// a refresh token's `kwr_`, the first 8 characters of its family (the
/// session's time and id, not its secret), and `…`.
pub fn shown_prefix(kind: Kind, tok: &str) -> String {
    match kind {
        Kind::ApiKey => tok.get(..token::KEY_PREFIX_LEN).unwrap_or("kw_").to_owned(),
        Kind::RefreshToken => {
            let end = token::REFRESH_PREFIX.len() + 8;
            format!("{}…", tok.get(..end).unwrap_or(token::REFRESH_PREFIX))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::token::{checksum, new_api_key, new_refresh};

    fn key() -> String {
        new_api_key().unwrap().key.to_string()
    }

    fn refresh() -> String {
        new_refresh("0abcDEFGhijk").unwrap().to_string()
    }

    fn kinds(text: &str) -> Vec<(usize, Kind)> {
        find_all(text.as_bytes())
            .into_iter()
            .map(|m| (m.at, m.kind))
            .collect()
    }

    /// Streams `text` in chunks of `chunk`; returns (line, token) pairs.
    fn stream(text: &[u8], chunk: usize) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        let mut r = text;
        let done = scan_stream(&mut r, chunk, true, &mut |f| {
            out.push((f.line, f.token.to_string()))
        })
        .unwrap();
        assert_eq!(done, Scanned::Text);
        out
    }

    #[test]
    fn finds_keys_and_refresh_tokens_wherever_they_are_glued() {
        let (k, r) = (key(), refresh());
        assert_eq!(kinds(&k), vec![(0, Kind::ApiKey)]);
        assert_eq!(kinds(&r), vec![(0, Kind::RefreshToken)]);
        let text = format!("API_KEY=\"{k}\"\nx{r}.\nkeykw{k}");
        assert_eq!(
            kinds(&text),
            vec![
                (9, Kind::ApiKey),
                (62, Kind::RefreshToken),
                (111, Kind::ApiKey)
            ]
        );
    }

    #[test]
    fn a_match_must_end_at_a_non_base62_byte() {
        let (k, r) = (key(), refresh());
        for longer in [format!("{k}0"), format!("{r}z"), format!("{r}Z{k}")] {
            assert!(kinds(&longer).iter().all(|(at, _)| *at != 0), "{longer}");
        }
        for ok in [
            format!("{k}_"),
            format!("{k}-x"),
            format!("{r}\n"),
            format!("{r}é"),
        ] {
            assert_eq!(kinds(&ok).len(), 1, "{ok}");
        }
        // Too short, a bad separator, a non-base62 byte inside.
        let short = &k[..k.len() - 1];
        let bad_sep = k.replacen('_', "-", 2);
        let mut inside = k.clone().into_bytes();
        inside[20] = b'+';
        let inside = String::from_utf8(inside).unwrap();
        for no in [short, &bad_sep, &inside, "kw", "kw_", "kwr_", ""] {
            assert!(kinds(no).is_empty(), "{no}");
        }
    }

    #[test]
    fn adjacent_matches_are_all_found() {
        let (k1, k2, r) = (key(), key(), refresh());
        let text = format!("{k1} {k2},{r};{k1}");
        let found = kinds(&text);
        assert_eq!(found.len(), 4);
        assert_eq!(found[1].0, k1.len() + 1);
        // Glued with no separator: the first is followed by a base62 byte
        // (`k` of the next), so it is not a match; the second still is.
        let glued = format!("{k1}{k2}");
        assert_eq!(kinds(&glued), vec![(k1.len(), Kind::ApiKey)]);
        // `_` is not base62: `kw_…_kw_…` is two keys.
        assert_eq!(kinds(&format!("{k1}_{k2}")).len(), 2);
    }

    #[test]
    fn overlapping_prefixes_give_one_match() {
        // A key whose id ends in `kwr` holds a `kwr_<38>` tail ending where
        // it does: only the key is reported.
        let body = format!("kw_abcdekwr_{}", "Q".repeat(32));
        let k = format!("{body}{}", checksum(&body));
        assert_eq!(kinds(&k), vec![(0, Kind::ApiKey)]);
        // `kw_` then a refresh token: the `kw_` is not a key, the token is.
        let r = refresh();
        assert_eq!(kinds(&format!("kw_{r}")), vec![(3, Kind::RefreshToken)]);
        assert_eq!(kinds(&format!("kwkw{r}")), vec![(4, Kind::RefreshToken)]);
    }

    #[test]
    fn streams_find_matches_cut_by_chunk_edges_with_their_lines() {
        let k = key();
        let r = refresh();
        // Every offset around a 128-byte chunk's edge, on line 3.
        for pad in 60..140 {
            let text = format!(
                "a\nb\n{}{k} {r}\nlast",
                "x ".repeat(pad / 2) + &"y".repeat(pad % 2)
            );
            let got = stream(text.as_bytes(), 128);
            assert_eq!(got, vec![(3, k.clone()), (3, r.clone())], "pad {pad}");
            assert_eq!(stream(text.as_bytes(), CHUNK), got);
        }
        // Lines counted across many chunks.
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&format!(
                "line {i} {}\n",
                if i % 37 == 5 { &k } else { "-" }
            ));
        }
        let lines: Vec<u64> = stream(text.as_bytes(), 100).iter().map(|g| g.0).collect();
        assert_eq!(lines, vec![6, 43, 80, 117, 154, 191]);
        // A match ending exactly at the end of the text, and one at a chunk's end.
        assert_eq!(stream(k.as_bytes(), 64), vec![(1, k.clone())]);
        let exact = format!("{}{k}\n", "z\n".repeat(7));
        assert_eq!(stream(exact.as_bytes(), 64), vec![(8, k.clone())]);
    }

    #[test]
    fn the_tail_of_a_match_is_not_searched_again_after_a_chunk_edge() {
        let body = format!("kw_abcdekwr_{}", "Q".repeat(32));
        let k = format!("{body}{}", checksum(&body));
        for pad in 0..80 {
            let text = format!("{}{k}\n", "-".repeat(pad));
            assert_eq!(
                stream(text.as_bytes(), 64),
                vec![(1, k.clone())],
                "pad {pad}"
            );
        }
    }

    #[test]
    fn binary_streams_are_skipped_and_read_errors_surface() {
        let k = key();
        let text = format!("\0{k}");
        let mut r = text.as_bytes();
        let mut n = 0;
        let done = scan_stream(&mut r, CHUNK, true, &mut |_| n += 1).unwrap();
        assert_eq!((done, n), (Scanned::Binary, 0));
        let mut r = text.as_bytes();
        assert_eq!(
            scan_stream(&mut r, CHUNK, false, &mut |_| n += 1).unwrap(),
            Scanned::Text
        );
        assert_eq!(n, 1);
        // A NUL past the probe does not make it binary.
        let late = format!("{}\0{k}", " ".repeat(BINARY_PROBE));
        assert_eq!(stream(late.as_bytes(), CHUNK).len(), 1);

        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        assert!(scan_stream(&mut Broken, CHUNK, true, &mut |_| {}).is_err());
    }

    fn utf16(text: &str, big: bool) -> Vec<u8> {
        let mut out = if big {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for u in text.encode_utf16() {
            out.extend(if big {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            });
        }
        out
    }

    #[test]
    fn utf16_with_a_bom_is_scanned_as_text() {
        let (k, r) = (key(), refresh());
        // Non-ASCII (2-byte, 3-byte and a surrogate pair) before the key, CRLF lines.
        let text = format!("é€😀 x\r\nAPI_KEY={k}\r\n\r\n{r}\r\n");
        for big in [false, true] {
            let bytes = utf16(&text, big);
            let want = vec![(2, k.clone()), (4, r.clone())];
            assert_eq!(stream(&bytes, CHUNK), want, "big {big}");
            // Chunk edges (and odd bytes) anywhere.
            assert_eq!(stream(&bytes, 64), want, "big {big}");
            let mut one = Trickle(&bytes);
            let mut got = Vec::new();
            scan_stream(&mut one, 64, true, &mut |f| {
                got.push((f.line, f.token.to_string()))
            })
            .unwrap();
            assert_eq!(got, want);
        }
        // Transcoding is exact, lone surrogates and an odd last byte become U+FFFD.
        let mut bytes = utf16("a😀b", false);
        let mut r = &bytes[2..];
        let mut s = String::new();
        Utf16::new(&mut r, false).read_to_string(&mut s).unwrap();
        assert_eq!(s, "a😀b");
        bytes.extend([0x00, 0xD8, b'c', 0, 0x00, 0xDC, b'd']);
        let mut r = &bytes[2..];
        let mut s = String::new();
        Utf16::new(&mut r, false).read_to_string(&mut s).unwrap();
        assert_eq!(s, "a😀b\u{FFFD}c\u{FFFD}\u{FFFD}");
        // Without a BOM, UTF-16 text is binary (NUL bytes).
        let mut r = &utf16(&k, false)[2..];
        let done = scan_stream(&mut r, CHUNK, true, &mut |_| {}).unwrap();
        assert_eq!(done, Scanned::Binary);
        assert_eq!(utf16_bom(b"\xFF"), None);
    }

    /// A reader giving one byte at a time.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(out)) => {
                    *out = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn found_never_shows_its_token() {
        let k = key();
        let f = Found {
            kind: Kind::ApiKey,
            line: 1,
            token: Zeroizing::new(k.clone()),
        };
        assert!(!format!("{f:?}").contains(&k[12..]));
        assert_eq!(shown_prefix(Kind::ApiKey, &k), k[..11]);
        let r = refresh();
        assert_eq!(shown_prefix(Kind::RefreshToken, &r), "kwr_0abcDEFG…");
        assert_eq!(
            serde_json::to_value(Kind::RefreshToken).unwrap(),
            "refresh_token"
        );
    }

    #[test]
    fn statuses() {
        use super::super::Status;
        let t = crate::time::parse_stored("2030-01-01T00:00:00Z").unwrap();
        let later = t + time::Duration::hours(1);
        assert_eq!(key_status(false, Status::Active), FoundStatus::Unknown);
        assert_eq!(key_status(true, Status::Active), FoundStatus::Active);
        assert_eq!(key_status(true, Status::Revoked), FoundStatus::Revoked);
        assert_eq!(key_status(true, Status::Expired), FoundStatus::Expired);
        assert_eq!(refresh_status(true, false, later, t), FoundStatus::Active);
        assert_eq!(refresh_status(false, false, later, t), FoundStatus::Revoked);
        assert_eq!(refresh_status(true, true, later, t), FoundStatus::Revoked);
        assert_eq!(refresh_status(true, false, t, t), FoundStatus::Expired);
        assert_eq!(refresh_status(false, false, t, t), FoundStatus::Expired);
        for s in [
            FoundStatus::Active,
            FoundStatus::Revoked,
            FoundStatus::Expired,
            FoundStatus::Unknown,
            FoundStatus::BadChecksum,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
