//! A chunked JSON scanner: the streaming half of the plan reader.
//!
//! serde_json's `from_reader` pulls one byte at a time and tracks line and
//! column for each, which caps it at a few hundred MB/s. Here the input is
//! read in large chunks instead. Bulk the plan reader does not need is
//! skipped by [`Scanner::skip_value`], a validating scanner written for speed
//! (strings are searched eight bytes at a time). Each piece the reader does
//! need (a resource change, an output, a key) is handed to serde_json's fast
//! slice deserializer straight from the chunk; a piece cut off by the chunk
//! end is simply parsed again once more input is in. The buffer only grows
//! when a single piece is larger than a chunk. [`Scanner::over`] walks bytes
//! already in memory, such as one resource change, and can report where each
//! value lies.
//!
//! Lines and columns are tracked for error messages: JSON strings cannot hold
//! raw newlines, so the scanner sees every newline in whitespace, and the
//! pieces serde parses are counted after the fact.

use std::io::{ErrorKind, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::PlanError;

/// Bytes read at a time; big enough that re-parsing the piece cut by a
/// chunk end costs nothing measurable.
pub(super) const CHUNK: usize = 1 << 20;

pub(super) struct Scanner<R> {
    reader: R,
    path: Option<PathBuf>,
    buf: Vec<u8>,
    /// Next unread byte in `buf`.
    pos: usize,
    /// End of the valid bytes in `buf`.
    end: usize,
    eof: bool,
    /// Absolute input offset of `buf[0]`.
    base: u64,
    /// 1-based line number at `pos`.
    line: u64,
    /// Absolute input offset of the first byte of the current line.
    line_start: u64,
    /// Open containers of the value being skipped, kept to reuse the
    /// allocation.
    stack: Vec<u8>,
}

impl<R: Read> Scanner<R> {
    /// A scanner reading `chunk` bytes at a time (at least one).
    pub(super) fn new(reader: R, path: Option<&Path>, chunk: usize) -> Self {
        Scanner {
            reader,
            path: path.map(Path::to_path_buf),
            buf: vec![0; chunk.max(1)],
            pos: 0,
            end: 0,
            eof: false,
            base: 0,
            line: 1,
            line_start: 0,
            stack: Vec::new(),
        }
    }

    /// Reads more input after `end`, keeping the unread bytes. Returns
    /// whether any bytes were added.
    fn fill(&mut self) -> Result<bool, PlanError> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            // A single piece is larger than the buffer.
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
        }
        let before = self.end;
        while self.end < self.buf.len() {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(PlanError::Io {
                        path: self.path.clone(),
                        source,
                    });
                }
            }
        }
        Ok(self.end > before)
    }

    /// The next byte, without consuming it; `None` at the end of input.
    #[inline]
    fn peek(&mut self) -> Result<Option<u8>, PlanError> {
        if self.pos == self.end && !self.fill()? {
            return Ok(None);
        }
        Ok(Some(self.buf[self.pos]))
    }

    /// Consumes the byte last returned by a peek.
    #[inline]
    pub(super) fn bump(&mut self) {
        self.pos += 1;
    }

    /// Skips whitespace and returns the next byte, without consuming it.
    #[inline]
    pub(super) fn skip_ws(&mut self) -> Result<Option<u8>, PlanError> {
        // Compact JSON, Terraform's, has no whitespace between tokens.
        match self.buf[..self.end].get(self.pos) {
            Some(&b) if !matches!(b, b' ' | b'\t' | b'\r' | b'\n') => Ok(Some(b)),
            _ => self.skip_ws_slow(),
        }
    }

    fn skip_ws_slow(&mut self) -> Result<Option<u8>, PlanError> {
        loop {
            while self.pos < self.end {
                match self.buf[self.pos] {
                    b' ' | b'\t' | b'\r' => self.pos += 1,
                    b'\n' => {
                        self.pos += 1;
                        self.line += 1;
                        self.line_start = self.base + self.pos as u64;
                    }
                    other => return Ok(Some(other)),
                }
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// The first bytes at the current position, for telling file types
    /// apart.
    pub(super) fn lookahead(&mut self, n: usize) -> Result<&[u8], PlanError> {
        while self.end - self.pos < n && self.fill()? {}
        let end = self.end.min(self.pos + n);
        Ok(&self.buf[self.pos..end])
    }

    /// A syntax error at the next unread byte.
    pub(super) fn error_here(&self, message: &str) -> PlanError {
        let offset = self.base + self.pos as u64;
        PlanError::Json {
            line: self.line,
            column: offset - self.line_start + 1,
            message: message.to_owned(),
        }
    }

    /// A syntax error at the end of input, positioned like serde_json's.
    pub(super) fn eof_error(&self, message: &str) -> PlanError {
        let offset = self.base + self.end as u64;
        PlanError::Json {
            line: self.line,
            column: offset - self.line_start,
            message: message.to_owned(),
        }
    }

    #[inline]
    fn expect_next(&mut self, eof_message: &str) -> Result<u8, PlanError> {
        self.skip_ws()?.ok_or_else(|| self.eof_error(eof_message))
    }

    /// Deserializes the next value with serde_json, straight from the
    /// buffer.
    pub(super) fn parse<T: DeserializeOwned>(&mut self) -> Result<T, PlanError> {
        self.parse_with_bytes().map(|(value, _)| value)
    }

    /// [`Scanner::parse`], also returning the bytes the value was read from.
    pub(super) fn parse_with_bytes<T: DeserializeOwned>(
        &mut self,
    ) -> Result<(T, &[u8]), PlanError> {
        let first = self.expect_next("EOF while parsing a value")?;
        // A number or literal that ends where the buffer ends may continue
        // in the next chunk; anything else is complete once serde accepts it.
        let delimited = matches!(first, b'{' | b'[' | b'"');
        loop {
            let slice = &self.buf[self.pos..self.end];
            let mut stream = serde_json::Deserializer::from_slice(slice).into_iter::<T>();
            let result = stream.next();
            let used = stream.byte_offset();
            match result {
                Some(Ok(value)) if delimited || used < slice.len() || self.eof => {
                    let start = self.pos;
                    self.advance_counting_lines(used);
                    return Ok((value, &self.buf[start..self.pos]));
                }
                // An EOF error before the real end only means "read more".
                Some(Err(e)) if !e.is_eof() || self.eof => return Err(self.serde_error(&e)),
                None if self.eof => return Err(self.eof_error("EOF while parsing a value")),
                _ => {}
            }
            // Cut off by the end of the buffer: read more and parse again.
            self.fill()?;
        }
    }

    fn advance_counting_lines(&mut self, n: usize) {
        let piece = &self.buf[self.pos..self.pos + n];
        // Terraform writes compact JSON, so the count is rarely needed.
        if piece.contains(&b'\n') {
            let count = piece.iter().filter(|&&b| b == b'\n').count();
            if let Some(last) = piece.iter().rposition(|&b| b == b'\n') {
                self.line += count as u64;
                self.line_start = self.base + (self.pos + last + 1) as u64;
            }
        }
        self.pos += n;
    }

    /// Re-bases a serde_json error, whose position is relative to the piece
    /// starting at `pos`, onto the whole input.
    fn serde_error(&self, e: &serde_json::Error) -> PlanError {
        let message = serde_message(e);
        let start_column = self.base + self.pos as u64 - self.line_start;
        let (line, column) = match e.line() as u64 {
            0 => (self.line, start_column + 1),
            1 => (self.line, start_column + e.column() as u64),
            n => (self.line + n - 1, e.column() as u64),
        };
        PlanError::Json {
            line,
            column,
            message,
        }
    }

    /// Consumes `[` and returns true, or `null` and returns false.
    pub(super) fn begin_array_or_null(&mut self) -> Result<bool, PlanError> {
        self.begin_container_or_null(b'[', "expected an array or null")
    }

    /// Consumes `{` and returns true, or `null` and returns false.
    pub(super) fn begin_object_or_null(&mut self) -> Result<bool, PlanError> {
        self.begin_container_or_null(b'{', "expected an object or null")
    }

    fn begin_container_or_null(&mut self, open: u8, message: &str) -> Result<bool, PlanError> {
        match self.expect_next("EOF while parsing a value")? {
            b if b == open => {
                self.bump();
                Ok(true)
            }
            b'n' => {
                self.skip_literal(b"null")?;
                Ok(false)
            }
            _ => Err(self.error_here(message)),
        }
    }

    /// Moves to the next array element: true when one follows (parse or
    /// skip it next), false once the closing `]` is consumed. `first` starts
    /// as true for each array.
    pub(super) fn next_element(&mut self, first: &mut bool) -> Result<bool, PlanError> {
        match self.expect_next("EOF while parsing a list")? {
            b']' => {
                self.bump();
                Ok(false)
            }
            b',' if !*first => {
                self.bump();
                Ok(true)
            }
            _ if *first => {
                *first = false;
                Ok(true)
            }
            _ => Err(self.error_here("expected `,` or `]`")),
        }
    }

    /// Moves to the next object member and returns its key, with the `:`
    /// consumed; `None` once the closing `}` is consumed. `first` starts as
    /// true for each object.
    pub(super) fn next_key(&mut self, first: &mut bool) -> Result<Option<String>, PlanError> {
        match self.expect_next("EOF while parsing an object")? {
            b'}' => {
                self.bump();
                return Ok(None);
            }
            b',' if !*first => {
                self.bump();
                if self.expect_next("EOF while parsing an object")? != b'"' {
                    return Err(self.error_here("key must be a string"));
                }
            }
            b'"' if *first => {}
            _ if *first => return Err(self.error_here("key must be a string")),
            _ => return Err(self.error_here("expected `,` or `}`")),
        }
        *first = false;
        // Keys are short and rarely escaped; serde is only needed for those
        // that are, or that the buffer end cuts.
        let rest = &self.buf[self.pos + 1..self.end];
        let len = find_string_special(rest);
        let plain = match rest.get(len) {
            Some(b'"') => std::str::from_utf8(&rest[..len]).ok(),
            _ => None,
        };
        let key = match plain {
            Some(key) => {
                let key = key.to_owned();
                self.pos += len + 2;
                key
            }
            None => self.parse()?,
        };
        self.expect_colon()?;
        Ok(Some(key))
    }

    fn expect_colon(&mut self) -> Result<(), PlanError> {
        match self.expect_next("EOF while parsing an object")? {
            b':' => {
                self.bump();
                Ok(())
            }
            _ => Err(self.error_here("expected `:`")),
        }
    }

    /// Checks that nothing but whitespace follows the top-level value.
    pub(super) fn finish(&mut self) -> Result<(), PlanError> {
        match self.skip_ws()? {
            None => Ok(()),
            Some(_) => Err(self.error_here("trailing characters")),
        }
    }

    /// Skips one value, validating it as strictly as serde_json would.
    /// Works iteratively, so any nesting depth is fine.
    pub(super) fn skip_value(&mut self) -> Result<(), PlanError> {
        let mut stack = std::mem::take(&mut self.stack);
        stack.clear();
        let result = self.skip_value_with(&mut stack);
        self.stack = stack;
        result
    }

    fn skip_value_with(&mut self, stack: &mut Vec<u8>) -> Result<(), PlanError> {
        'value: loop {
            match self.expect_next("EOF while parsing a value")? {
                b'{' => {
                    self.bump();
                    match self.expect_next("EOF while parsing an object")? {
                        b'}' => self.bump(),
                        b'"' => {
                            stack.push(b'}');
                            self.skip_key()?;
                            continue 'value;
                        }
                        _ => return Err(self.error_here("key must be a string")),
                    }
                }
                b'[' => {
                    self.bump();
                    if self.expect_next("EOF while parsing a list")? == b']' {
                        self.bump();
                    } else {
                        stack.push(b']');
                        continue 'value;
                    }
                }
                b'"' => {
                    self.bump();
                    self.skip_string_body()?;
                }
                b'-' | b'0'..=b'9' => self.skip_number()?,
                b't' => self.skip_literal(b"true")?,
                b'f' => self.skip_literal(b"false")?,
                b'n' => self.skip_literal(b"null")?,
                _ => return Err(self.error_here("expected value")),
            }
            // A value ended: close containers until one has another member.
            while let Some(&close) = stack.last() {
                let (eof_message, message) = if close == b'}' {
                    ("EOF while parsing an object", "expected `,` or `}`")
                } else {
                    ("EOF while parsing a list", "expected `,` or `]`")
                };
                match self.expect_next(eof_message)? {
                    b',' => {
                        self.bump();
                        if close == b'}' {
                            if self.expect_next(eof_message)? != b'"' {
                                return Err(self.error_here("key must be a string"));
                            }
                            self.skip_key()?;
                        }
                        continue 'value;
                    }
                    b if b == close => {
                        self.bump();
                        stack.pop();
                    }
                    _ => return Err(self.error_here(message)),
                }
            }
            return Ok(());
        }
    }

    /// Skips an object key (at its opening quote) and the `:` after it.
    fn skip_key(&mut self) -> Result<(), PlanError> {
        self.bump();
        self.skip_string_body()?;
        self.expect_colon()
    }

    /// Skips the rest of a string whose opening quote is consumed.
    #[inline]
    fn skip_string_body(&mut self) -> Result<(), PlanError> {
        let rest = &self.buf[self.pos..self.end];
        let i = find_string_special(rest);
        if rest.get(i) == Some(&b'"') {
            self.pos += i + 1;
            return Ok(());
        }
        self.skip_string_body_slow()
    }

    /// Strings with escapes, or cut by the end of the buffer.
    fn skip_string_body_slow(&mut self) -> Result<(), PlanError> {
        loop {
            self.pos += find_string_special(&self.buf[self.pos..self.end]);
            if self.pos == self.end {
                if !self.fill()? {
                    return Err(self.eof_error("EOF while parsing a string"));
                }
                continue;
            }
            match self.buf[self.pos] {
                b'"' => {
                    self.bump();
                    return Ok(());
                }
                b'\\' => {
                    self.bump();
                    self.skip_escape()?;
                }
                _ => {
                    return Err(self.error_here(
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
            }
        }
    }

    fn skip_escape(&mut self) -> Result<(), PlanError> {
        let eof = "EOF while parsing a string";
        match self.peek()?.ok_or_else(|| self.eof_error(eof))? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.bump(),
            b'u' => {
                self.bump();
                for _ in 0..4 {
                    if !self
                        .peek()?
                        .ok_or_else(|| self.eof_error(eof))?
                        .is_ascii_hexdigit()
                    {
                        return Err(self.error_here("invalid escape"));
                    }
                    self.bump();
                }
            }
            _ => return Err(self.error_here("invalid escape")),
        }
        Ok(())
    }

    fn skip_number(&mut self) -> Result<(), PlanError> {
        if self.peek()? == Some(b'-') {
            self.bump();
        }
        if self.peek()? == Some(b'0') {
            self.bump();
        } else {
            self.skip_digits()?;
        }
        if self.peek()? == Some(b'.') {
            self.bump();
            self.skip_digits()?;
        }
        if matches!(self.peek()?, Some(b'e' | b'E')) {
            self.bump();
            if matches!(self.peek()?, Some(b'+' | b'-')) {
                self.bump();
            }
            self.skip_digits()?;
        }
        Ok(())
    }

    /// Skips one or more digits.
    fn skip_digits(&mut self) -> Result<(), PlanError> {
        match self.peek()? {
            Some(b'0'..=b'9') => self.bump(),
            Some(_) => return Err(self.error_here("invalid number")),
            None => return Err(self.eof_error("EOF while parsing a value")),
        }
        while let Some(b'0'..=b'9') = self.peek()? {
            self.bump();
        }
        Ok(())
    }

    fn skip_literal(&mut self, literal: &[u8]) -> Result<(), PlanError> {
        for &expected in literal {
            match self.peek()? {
                Some(b) if b == expected => self.bump(),
                Some(_) => return Err(self.error_here("expected ident")),
                None => return Err(self.eof_error("EOF while parsing a value")),
            }
        }
        Ok(())
    }
}

impl<'a> Scanner<&'a [u8]> {
    /// A scanner over bytes already in memory, holding them in one buffer,
    /// so that offsets into it are offsets into `bytes` and
    /// [`Scanner::skip_value_span`] works.
    pub(super) fn over(bytes: &'a [u8]) -> Self {
        Scanner {
            reader: &[],
            path: None,
            buf: bytes.to_vec(),
            pos: 0,
            end: bytes.len(),
            eof: true,
            base: 0,
            line: 1,
            line_start: 0,
            stack: Vec::new(),
        }
    }

    /// Skips one value and returns where its bytes are in the bytes the
    /// scanner was made [`over`](Scanner::over). Only for such scanners.
    pub(super) fn skip_value_span(&mut self) -> Result<Range<usize>, PlanError> {
        self.expect_next("EOF while parsing a value")?;
        let start = self.pos;
        self.skip_value()?;
        Ok(start..self.pos)
    }
}

/// A serde_json error's message, without the position it appends.
pub(super) fn serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

/// Index of the first `"`, `\` or control character in `bytes`, or its
/// length if there is none. Eight bytes at a time, with the same bit trick
/// serde_json uses: for each byte lane, `x - 0x01` borrows into the top bit
/// exactly when `x` is zero (after XOR with the wanted byte), and
/// `x - 0x20` when `x < 0x20`. Borrows can only mark lanes above a real hit,
/// so the lowest marked lane is exact.
#[inline]
fn find_string_special(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let (chunks, _) = bytes.as_chunks::<8>();
    for (n, chunk) in chunks.iter().enumerate() {
        let x = u64::from_le_bytes(*chunk);
        let control = x.wrapping_sub(ONES * 0x20) & !x;
        let q = x ^ (ONES * u64::from(b'"'));
        let quote = q.wrapping_sub(ONES) & !q;
        let b = x ^ (ONES * u64::from(b'\\'));
        let backslash = b.wrapping_sub(ONES) & !b;
        let hits = (control | quote | backslash) & HIGH;
        if hits != 0 {
            return n * 8 + (hits.trailing_zeros() / 8) as usize;
        }
    }
    let tail = chunks.len() * 8;
    bytes[tail..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map_or(bytes.len(), |i| tail + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Skips `input` as one value, reading it `chunk` bytes at a time.
    fn skip_all(input: &str, chunk: usize) -> Result<(), PlanError> {
        let mut scanner = Scanner::new(input.as_bytes(), None, chunk);
        scanner.skip_value()?;
        scanner.finish()
    }

    const CHUNKS: [usize; 6] = [1, 2, 3, 5, 8, CHUNK];

    #[test]
    fn finds_string_specials_at_every_offset() {
        for special in [b'"', b'\\', b'\n', 0x1f] {
            for at in 0..20 {
                let mut bytes = vec![b'a'; 20];
                bytes[at] = special;
                assert_eq!(find_string_special(&bytes), at);
            }
        }
        assert_eq!(find_string_special(&[0xe2, 0x82, 0xac, b' ', 0x7f]), 5);
    }

    #[test]
    fn skip_accepts_what_serde_accepts() {
        for ok in [
            "0",
            "-1.5e+10",
            "[]",
            "{}",
            r#"{"a":[1,{"b":null}],"c":"x\"\\\u00e9"}"#,
            " [ true , false , null ] ",
        ] {
            assert!(
                serde_json::from_str::<serde_json::Value>(ok).is_ok(),
                "{ok}"
            );
            for chunk in CHUNKS {
                assert!(skip_all(ok, chunk).is_ok(), "{ok} in chunks of {chunk}");
            }
        }
    }

    #[test]
    fn skip_rejects_what_serde_rejects() {
        for bad in [
            "[1,]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "[1 2]",
            "\"a\tb\"",
            "\"\\x\"",
            "\"\\u12g4\"",
            "-",
            "1.",
            "1e",
            "tru",
            "nul",
            "[",
            "{\"a\":",
            "\"abc",
            "{1:2}",
            "[1]]",
            "01x",
        ] {
            assert!(
                serde_json::from_str::<serde_json::Value>(bad).is_err(),
                "{bad}"
            );
            for chunk in CHUNKS {
                assert!(skip_all(bad, chunk).is_err(), "{bad} in chunks of {chunk}");
            }
        }
    }

    #[test]
    fn pieces_cut_by_the_buffer_end_are_parsed_whole() {
        // A reader that hands out three bytes at a time forces every piece
        // across many refills.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(out.len()).min(3);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let input = br#"[12345, "a long string value", {"k": [1, 2, 3]}, true]"#;
        let mut scanner = Scanner::new(Trickle(input), None, 4);
        let mut first = true;
        assert!(scanner.begin_array_or_null().unwrap());
        assert!(scanner.next_element(&mut first).unwrap());
        assert_eq!(scanner.parse::<u64>().unwrap(), 12345);
        assert!(scanner.next_element(&mut first).unwrap());
        assert_eq!(scanner.parse::<String>().unwrap(), "a long string value");
        assert!(scanner.next_element(&mut first).unwrap());
        scanner.skip_value().unwrap();
        assert!(scanner.next_element(&mut first).unwrap());
        assert!(scanner.parse::<bool>().unwrap());
        assert!(!scanner.next_element(&mut first).unwrap());
        scanner.finish().unwrap();
    }

    #[test]
    fn spans_locate_values_in_memory() {
        let bytes = br#"{"a": [1, "x"], "b": "\u0041"}"#;
        let mut scanner = Scanner::over(bytes);
        let mut first = true;
        assert!(scanner.begin_object_or_null().unwrap());
        let mut found = Vec::new();
        while let Some(key) = scanner.next_key(&mut first).unwrap() {
            let span = scanner.skip_value_span().unwrap();
            found.push((key, bytes[span].to_vec()));
        }
        assert_eq!(
            found,
            [
                ("a".to_owned(), br#"[1, "x"]"#.to_vec()),
                ("b".to_owned(), br#""\u0041""#.to_vec()),
            ]
        );
    }

    #[test]
    fn errors_carry_line_and_column() {
        let input = "{\n  \"a\": [1,\n    2 3]\n}";
        let mut scanner = Scanner::new(input.as_bytes(), None, CHUNK);
        match scanner.skip_value() {
            Err(PlanError::Json { line, column, .. }) => assert_eq!((line, column), (3, 7)),
            other => panic!("unexpected {other:?}"),
        }
        let input = "[1,\n {\"a\": tru}]";
        let mut scanner = Scanner::new(input.as_bytes(), None, CHUNK);
        let mut first = true;
        scanner.begin_array_or_null().unwrap();
        scanner.next_element(&mut first).unwrap();
        scanner.parse::<u8>().unwrap();
        scanner.next_element(&mut first).unwrap();
        match scanner.parse::<serde_json::Value>() {
            Err(PlanError::Json { line, column, .. }) => assert_eq!((line, column), (2, 11)),
            other => panic!("unexpected {other:?}"),
        }
    }
}
