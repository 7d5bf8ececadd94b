//! A chunked JSON scanner: the streaming half of the plan reader.
//!
//! serde_json's `from_reader` pulls one byte at a time and tracks line and
//! column for each, which caps it at a few hundred MB/s. Here the input is
//! read in large chunks instead, by the scanner itself or, for large files,
//! by another thread ([`read_ahead`], whose chunks the scanner takes over as
//! its buffer). Bulk the plan reader does not need is skipped by
//! [`Scanner::skip_value`], a validating scanner written for speed: a tight
//! loop takes the plain tokens that are whole in the buffer (strings are
//! searched eight bytes at a time), and anything else (escapes, errors, the
//! buffer end) is taken one token at a time by a careful path that reports
//! errors as serde_json would. Each piece the reader does need (an output,
//! a key) is handed to serde_json's fast slice deserializer straight from
//! the chunk; a piece cut off by the chunk end is simply parsed again once
//! more input is in. The buffer only grows when a single piece is larger
//! than a chunk.
//!
//! A resource change is skipped like bulk, as a piece
//! ([`Scanner::begin_piece`]) whose bytes stay in memory and whose keys the
//! scanner notes ([`Scanner::skip_piece_noting_keys`]); a [`Cursor`] then
//! reads the few members needed straight from the bytes, without looking
//! at the rest again. [`Scanner::over`] walks bytes already in memory, such
//! as one resource change, and can report where each value lies.
//!
//! Lines and columns are tracked for error messages: JSON strings cannot hold
//! raw newlines, so the scanner sees every newline in whitespace, and the
//! pieces serde parses are counted after the fact.

use std::io::{self, ErrorKind, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender};

use serde::de::DeserializeOwned;

use super::PlanError;

/// Bytes read at a time; big enough that re-parsing the piece cut by a
/// chunk end costs nothing measurable.
pub(super) const CHUNK: usize = 1 << 20;

pub(super) struct Scanner<R> {
    /// `None` while `feed` reads it.
    reader: Option<R>,
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
    /// Start of the piece being read (see [`Scanner::begin_piece`]), kept in
    /// `buf` by refills.
    piece: Option<Piece>,
    /// Input read ahead by another thread.
    feed: Option<Feed<R>>,
}

/// Input read ahead on another thread, by [`read_ahead`], in chunks the
/// scanner takes over as its buffer instead of copying them.
pub(super) struct Feed<R> {
    pub chunks: Receiver<io::Result<Chunk>>,
    /// Buffers the scanner is done with, for reuse.
    pub give_back: Sender<Vec<u8>>,
    /// Room left before each chunk's bytes, where the scanner moves the
    /// bytes it still needs from the chunk before.
    pub head: usize,
    /// Bytes read into each chunk.
    pub size: usize,
    /// Asks the reading thread to stop and hand the reader back.
    pub stop: Arc<AtomicBool>,
    /// The reader, handed back once the reading thread stops.
    pub handed_back: Receiver<R>,
}

/// Bytes read ahead: `buf[head..end]`.
pub(super) struct Chunk {
    buf: Vec<u8>,
    end: usize,
    /// The input ends with this chunk.
    eof: bool,
}

/// Reads `reader` in chunks of `size` bytes (after `head` free bytes)
/// until the end, an error, until the receiver hangs up, or until asked to
/// `stop`; then hands the reader back. Reuses the buffers given back.
pub(super) fn read_ahead<R: Read>(
    mut reader: R,
    head: usize,
    size: usize,
    chunks: SyncSender<io::Result<Chunk>>,
    given_back: &Receiver<Vec<u8>>,
    stop: &AtomicBool,
) -> Option<R> {
    loop {
        if stop.load(Ordering::Relaxed) {
            // Hanging up `chunks` tells the scanner to take the reader.
            return Some(reader);
        }
        let mut buf = given_back.try_recv().unwrap_or_default();
        buf.resize(head + size, 0);
        let mut end = head;
        let mut eof = false;
        while end < buf.len() {
            match reader.read(&mut buf[end..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => end += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = chunks.send(Err(e));
                    return None;
                }
            }
        }
        if chunks.send(Ok(Chunk { buf, end, eof })).is_err() || eof {
            return None;
        }
    }
}

/// Where a piece of the input starts: in the buffer, and for error
/// positions.
#[derive(Clone, Copy)]
struct Piece {
    /// Offset in `buf`.
    pos: usize,
    line: u64,
    line_start: u64,
}

/// Where a piece starts in the input, for [`relocate`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Origin {
    /// 1-based line.
    pub line: u64,
    /// 0-based column.
    pub column: u64,
}

impl<R: Read> Scanner<R> {
    /// A scanner reading `chunk` bytes at a time (at least one).
    pub(super) fn new(reader: R, path: Option<&Path>, chunk: usize) -> Self {
        Scanner::with_source(Some(reader), None, vec![0; chunk.max(1)], path)
    }

    fn with_source(
        reader: Option<R>,
        feed: Option<Feed<R>>,
        buf: Vec<u8>,
        path: Option<&Path>,
    ) -> Self {
        Scanner {
            reader,
            path: path.map(Path::to_path_buf),
            buf,
            pos: 0,
            end: 0,
            eof: false,
            base: 0,
            line: 1,
            line_start: 0,
            stack: Vec::new(),
            piece: None,
            feed,
        }
    }

    /// Reads more input after `end`, keeping the unread bytes. Returns
    /// whether any bytes were added.
    fn fill(&mut self) -> Result<bool, PlanError> {
        if self.eof {
            return Ok(false);
        }
        let keep = self.piece.map_or(self.pos, |piece| piece.pos);
        if self.feed.is_some() {
            return self.fill_from_feed(keep);
        }
        if keep > 0 {
            self.buf.copy_within(keep..self.end, 0);
            self.base += keep as u64;
            self.end -= keep;
            self.pos -= keep;
            if let Some(piece) = &mut self.piece {
                piece.pos = 0;
            }
        }
        if self.end == self.buf.len() {
            // A single piece is larger than the buffer.
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
        }
        let before = self.end;
        let Some(reader) = &mut self.reader else {
            self.eof = true;
            return Ok(false);
        };
        while self.end < self.buf.len() {
            match reader.read(&mut self.buf[self.end..]) {
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

    /// [`Scanner::fill`] with the next chunk read ahead, keeping the bytes
    /// from `keep` on.
    fn fill_from_feed(&mut self, keep: usize) -> Result<bool, PlanError> {
        let Some(feed) = self.feed.take() else {
            return Ok(false);
        };
        match self.fill_from(&feed, keep) {
            Ok(Some(filled)) => {
                self.feed = Some(feed);
                Ok(filled)
            }
            Ok(None) => {
                // The reading thread stopped: read on here, or it is gone
                // (and joining it reports why).
                self.reader = feed.handed_back.recv().ok();
                self.fill()
            }
            Err(e) => {
                self.feed = Some(feed);
                Err(e)
            }
        }
    }

    /// Asks the reading thread, if there is one, to stop reading ahead;
    /// the scanner reads on by itself once it has used what was read.
    pub(super) fn stop_reading_ahead(&mut self) {
        if let Some(feed) = &self.feed {
            feed.stop.store(true, Ordering::Relaxed);
        }
    }

    /// `None` when the reading thread has stopped.
    fn fill_from(&mut self, feed: &Feed<R>, keep: usize) -> Result<Option<bool>, PlanError> {
        let chunk = match feed.chunks.recv() {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(source)) => {
                return Err(PlanError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
            Err(_) => return Ok(None),
        };
        self.eof = chunk.eof;
        let Chunk { mut buf, end, .. } = chunk;
        let data = feed.head.min(end)..end;
        if data.is_empty() {
            let _ = feed.give_back.send(buf);
            return Ok(Some(false));
        }
        let kept = &self.buf[keep..self.end];
        // Where the kept bytes go in the new buffer, and the input offset
        // of its first byte.
        let start = feed
            .head
            .checked_sub(kept.len())
            .filter(|&start| self.base + keep as u64 >= start as u64);
        let (start, end) = match start {
            Some(start) => {
                buf[start..data.start].copy_from_slice(kept);
                (start, end)
            }
            None => {
                // Too much to keep (or the very first chunk): one new buffer.
                let mut joined = Vec::with_capacity(kept.len() + data.len());
                joined.extend_from_slice(kept);
                joined.extend_from_slice(&buf[data]);
                let _ = feed.give_back.send(std::mem::replace(&mut buf, joined));
                (0, buf.len())
            }
        };
        let old = std::mem::replace(&mut self.buf, buf);
        if old.len() == feed.head + feed.size {
            let _ = feed.give_back.send(old);
        }
        self.base = self.base + keep as u64 - start as u64;
        self.pos = self.pos - keep + start;
        self.end = end;
        if let Some(piece) = &mut self.piece {
            piece.pos = piece.pos - keep + start;
        }
        Ok(Some(true))
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
        // The last error, which may only be due to the buffer end.
        let mut suspect = None;
        loop {
            let slice = &self.buf[self.pos..self.end];
            let mut stream = serde_json::Deserializer::from_slice(slice).into_iter::<T>();
            let result = stream.next();
            let used = stream.byte_offset();
            match result {
                Some(Ok(value)) if delimited || used < slice.len() || self.eof => {
                    // serde's typed reading does not check the strings it
                    // ignores as UTF-8; its untyped reading, and strata, do.
                    if let Err(e) = std::str::from_utf8(&slice[..used]) {
                        self.advance_counting_lines(e.valid_up_to());
                        return Err(self.error_here(INVALID_UTF8));
                    }
                    let start = self.pos;
                    self.advance_counting_lines(used);
                    return Ok((value, &self.buf[start..self.pos]));
                }
                Some(Err(e)) if self.eof => return Err(self.typed_error(&e)),
                // An EOF error before the real end only means "read more".
                // So may another error: a number cut by the buffer end can
                // have the wrong type (`1` of `1.5`). An error that stays
                // put when more input is in is real.
                Some(Err(e)) if !e.is_eof() => {
                    let error = (e.line(), e.column(), e.to_string());
                    if suspect.as_ref() == Some(&error) {
                        return Err(self.typed_error(&e));
                    }
                    suspect = Some(error);
                }
                None if self.eof => return Err(self.eof_error("EOF while parsing a value")),
                _ => {}
            }
            // Cut off by the end of the buffer: read more and parse again.
            self.fill()?;
        }
    }

    /// A typed serde error at `pos`, unless a string before it, closed
    /// before it, is not UTF-8: serde's untyped reading reports that first,
    /// and so does strata (the typed one does not check strings it ignores).
    fn typed_error(&mut self, e: &serde_json::Error) -> PlanError {
        let slice = &self.buf[self.pos..self.end];
        // serde's (line, column) in `slice` -> the byte offset it stands for.
        let line_start = if e.line() <= 1 {
            Some(0)
        } else {
            slice
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .nth(e.line() - 2)
                .map(|(i, _)| i + 1)
        };
        let at = line_start.map_or(slice.len(), |s| (s + e.column()).min(slice.len()));
        if let Err(bad) = std::str::from_utf8(&slice[..at]) {
            let bad = bad.valid_up_to();
            // Where the string holding the bad byte closes.
            let mut i = bad;
            while i < at && slice[i] != b'"' {
                i += if slice[i] == b'\\' { 2 } else { 1 };
            }
            if i < at {
                self.advance_counting_lines(bad);
                return self.error_here(INVALID_UTF8);
            }
        }
        self.serde_error(e)
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
        relocate(e, self.origin())
    }

    /// Where the next unread byte is.
    fn origin(&self) -> Origin {
        Origin {
            line: self.line,
            column: self.base + self.pos as u64 - self.line_start,
        }
    }

    /// Starts a piece at the next unread byte (after whitespace): its bytes
    /// stay in memory until [`Scanner::end_piece`], however far the scanner
    /// reads on. Returns where the piece starts.
    pub(super) fn begin_piece(&mut self) -> Result<Origin, PlanError> {
        self.skip_ws()?;
        self.piece = Some(Piece {
            pos: self.pos,
            line: self.line,
            line_start: self.line_start,
        });
        Ok(self.origin())
    }

    /// The bytes read since [`Scanner::begin_piece`].
    pub(super) fn piece(&self) -> &[u8] {
        let start = self.piece.map_or(self.pos, |piece| piece.pos);
        &self.buf[start..self.pos]
    }

    /// Goes back to the start of the piece, to read it again.
    pub(super) fn rewind_piece(&mut self) {
        if let Some(piece) = self.piece {
            self.pos = piece.pos;
            self.line = piece.line;
            self.line_start = piece.line_start;
        }
    }

    /// Lets refills drop the piece's bytes again.
    pub(super) fn end_piece(&mut self) {
        self.piece = None;
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
        self.skip_value_noting(None)
    }

    /// [`Scanner::skip_value`] for the value that starts the current piece
    /// (see [`Scanner::begin_piece`]), also noting where the keys of its
    /// objects are, down to depth 2: the value's own keys, and those of
    /// objects that are its members.
    pub(super) fn skip_piece_noting_keys(
        &mut self,
        keys: &mut Vec<KeyAt>,
    ) -> Result<(), PlanError> {
        self.skip_value_noting(Some(keys))
    }

    fn skip_value_noting(&mut self, mut keys: Option<&mut Vec<KeyAt>>) -> Result<(), PlanError> {
        let mut stack = std::mem::take(&mut self.stack);
        stack.clear();
        let mut want = Want::Value;
        let result = loop {
            // Most of the input is handled by the fast loop; it stops at
            // whatever it does not handle (the buffer end, escapes, errors),
            // and one step of the careful path takes over for one token.
            want = self.skip_fast(&mut stack, want, keys.as_deref_mut());
            if want == Want::Done {
                break Ok(());
            }
            match self.skip_step(&mut stack, want, keys.as_deref_mut()) {
                Ok(Want::Done) => break Ok(()),
                Ok(next) => want = next,
                Err(e) => break Err(e),
            }
        };
        self.stack = stack;
        result
    }

    /// Skips tokens in the buffer for as long as they are plain and whole:
    /// no escapes, no errors, nothing cut by the buffer end. Returns what is
    /// wanted next, with `pos` at the start of it.
    fn skip_fast(
        &mut self,
        stack: &mut Vec<u8>,
        mut want: Want,
        mut keys: Option<&mut Vec<KeyAt>>,
    ) -> Want {
        let buf = &self.buf[..self.end];
        let piece = self.piece.map_or(0, |piece| piece.pos);
        let mut i = self.pos;
        let mut line = self.line;
        let mut line_start = self.line_start;
        while let Some(&b) = buf.get(i) {
            match b {
                b' ' | b'\t' | b'\r' => {
                    i += 1;
                    continue;
                }
                b'\n' => {
                    i += 1;
                    line += 1;
                    line_start = self.base + i as u64;
                    continue;
                }
                _ => {}
            }
            match want {
                Want::Value => match b {
                    b'{' => {
                        i += 1;
                        want = Want::KeyOrClose;
                    }
                    b'[' => {
                        i += 1;
                        want = Want::ValueOrClose;
                    }
                    _ => {
                        let Some(end) = scalar_end(buf, i) else { break };
                        (i, want) = after_scalar(buf, end, stack);
                    }
                },
                Want::ValueOrClose => {
                    if b == b']' {
                        i += 1;
                        want = after_value(stack);
                    } else {
                        stack.push(b']');
                        want = Want::Value;
                    }
                }
                Want::KeyOrClose | Want::Key => {
                    if b == b'}' && want == Want::KeyOrClose {
                        i += 1;
                        want = after_value(stack);
                    } else if b == b'"' {
                        let Some(end) = string_end(buf, i + 1) else {
                            break;
                        };
                        if buf.get(end) != Some(&b':') {
                            break;
                        }
                        if want == Want::KeyOrClose {
                            stack.push(b'}');
                        }
                        note_key(keys.as_deref_mut(), i - piece, stack.len());
                        i = end + 1;
                        want = Want::Value;
                        // Most members are a scalar right after the key and
                        // a `,` or `}` right after that: take them at once.
                        if let Some(end) = scalar_end(buf, i) {
                            (i, want) = after_scalar(buf, end, stack);
                        }
                    } else {
                        break;
                    }
                }
                Want::CommaOrClose => {
                    let Some(&close) = stack.last() else { break };
                    if b == b',' {
                        i += 1;
                        want = if close == b'}' {
                            Want::Key
                        } else {
                            Want::Value
                        };
                    } else if b == close {
                        i += 1;
                        stack.pop();
                        want = after_value(stack);
                    } else {
                        break;
                    }
                }
                Want::Done => {}
            }
            if want == Want::Done {
                break;
            }
        }
        self.pos = i;
        self.line = line;
        self.line_start = line_start;
        want
    }

    /// Reads one token of a value being skipped, refilling the buffer as
    /// needed and reporting errors as serde_json would. Returns what is
    /// wanted next.
    fn skip_step(
        &mut self,
        stack: &mut Vec<u8>,
        want: Want,
        keys: Option<&mut Vec<KeyAt>>,
    ) -> Result<Want, PlanError> {
        Ok(match want {
            Want::Value => {
                match self.expect_next("EOF while parsing a value")? {
                    b'{' => {
                        self.bump();
                        return Ok(Want::KeyOrClose);
                    }
                    b'[' => {
                        self.bump();
                        return Ok(Want::ValueOrClose);
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
                after_value(stack)
            }
            Want::ValueOrClose => {
                if self.expect_next("EOF while parsing a list")? == b']' {
                    self.bump();
                    after_value(stack)
                } else {
                    stack.push(b']');
                    Want::Value
                }
            }
            Want::KeyOrClose => match self.expect_next("EOF while parsing an object")? {
                b'}' => {
                    self.bump();
                    after_value(stack)
                }
                b'"' => {
                    stack.push(b'}');
                    self.skip_key_noting(keys, stack.len())?;
                    Want::Value
                }
                _ => return Err(self.error_here("key must be a string")),
            },
            Want::Key => {
                if self.expect_next("EOF while parsing an object")? != b'"' {
                    return Err(self.error_here("key must be a string"));
                }
                self.skip_key_noting(keys, stack.len())?;
                Want::Value
            }
            Want::CommaOrClose => {
                let Some(&close) = stack.last() else {
                    return Ok(Want::Done);
                };
                let (eof_message, message) = if close == b'}' {
                    ("EOF while parsing an object", "expected `,` or `}`")
                } else {
                    ("EOF while parsing a list", "expected `,` or `]`")
                };
                match self.expect_next(eof_message)? {
                    b',' => {
                        self.bump();
                        if close == b'}' {
                            Want::Key
                        } else {
                            Want::Value
                        }
                    }
                    b if b == close => {
                        self.bump();
                        stack.pop();
                        after_value(stack)
                    }
                    _ => return Err(self.error_here(message)),
                }
            }
            Want::Done => Want::Done,
        })
    }

    /// [`Scanner::skip_key`], noting the key of an object at `depth`.
    fn skip_key_noting(
        &mut self,
        keys: Option<&mut Vec<KeyAt>>,
        depth: usize,
    ) -> Result<(), PlanError> {
        let piece = self.piece.map_or(0, |piece| piece.pos);
        note_key(keys, self.pos - piece, depth);
        self.skip_key()
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
        // Skipped, but still checked as serde_json checks it: a string is
        // UTF-8 (the careful path says where it is not).
        if rest.get(i) == Some(&b'"') && is_utf8(&rest[..i]) {
            self.pos += i + 1;
            return Ok(());
        }
        self.skip_string_body_slow()
    }

    /// Strings with escapes, or cut by the end of the buffer.
    fn skip_string_body_slow(&mut self) -> Result<(), PlanError> {
        // As serde_json does: a byte that is not UTF-8 is reported once the
        // string ends, at that byte; a control character, a bad escape or
        // the end of input before the string ends comes first.
        let mut bad_utf8: Option<u64> = None;
        loop {
            let start = self.pos;
            self.pos += find_string_special(&self.buf[self.pos..self.end]);
            match std::str::from_utf8(&self.buf[start..self.pos]) {
                Ok(_) => {}
                // A character cut by the end of the buffer: read on from it.
                Err(e) if e.error_len().is_none() && self.pos == self.end => {
                    self.pos = start + e.valid_up_to();
                    if !self.fill()? {
                        return Err(self.eof_error("EOF while parsing a string"));
                    }
                    continue;
                }
                Err(e) => {
                    let at = self.base + (start + e.valid_up_to()) as u64;
                    bad_utf8.get_or_insert(at);
                }
            }
            if self.pos == self.end {
                if !self.fill()? {
                    return Err(self.eof_error("EOF while parsing a string"));
                }
                continue;
            }
            match self.buf[self.pos] {
                b'"' => {
                    if let Some(at) = bad_utf8 {
                        return Err(PlanError::Json {
                            line: self.line,
                            column: at - self.line_start + 1,
                            message: INVALID_UTF8.to_owned(),
                        });
                    }
                    self.bump();
                    return Ok(());
                }
                b'\\' => {
                    self.bump();
                    self.skip_escape()?;
                }
                b'\n' => {
                    // serde_json counts the newline before it reports, so
                    // its position is the start of the next line.
                    return Err(PlanError::Json {
                        line: self.line + 1,
                        column: 0,
                        message: CONTROL_IN_STRING.to_owned(),
                    });
                }
                _ => return Err(self.error_here(CONTROL_IN_STRING)),
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
                // serde_json steps over the byte before it reports: after a
                // newline, that is the start of the next line.
                Some(b'\n') => {
                    return Err(PlanError::Json {
                        line: self.line + 1,
                        column: 0,
                        message: "expected ident".to_owned(),
                    });
                }
                Some(_) => return Err(self.error_here("expected ident")),
                None => return Err(self.eof_error("EOF while parsing a value")),
            }
        }
        Ok(())
    }
}

impl<R: Read> Scanner<R> {
    /// A scanner of input read ahead by another thread.
    pub(super) fn fed(feed: Feed<R>, path: Option<&Path>) -> Self {
        Scanner::with_source(None, Some(feed), Vec::new(), path)
    }
}

impl<'a> Scanner<&'a [u8]> {
    /// A scanner over bytes already in memory, holding them in one buffer,
    /// so that offsets into it are offsets into `bytes` and
    /// [`Scanner::skip_value_span`] works.
    pub(super) fn over(bytes: &'a [u8]) -> Self {
        Scanner {
            reader: Some(&[]),
            path: None,
            buf: bytes.to_vec(),
            pos: 0,
            end: bytes.len(),
            eof: true,
            base: 0,
            line: 1,
            line_start: 0,
            stack: Vec::new(),
            piece: None,
            feed: None,
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

/// What [`Scanner::skip_value`] expects next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Value,
    /// After `[`.
    ValueOrClose,
    /// After `{`.
    KeyOrClose,
    /// After a `,` in an object.
    Key,
    /// After a member of an open container.
    CommaOrClose,
    /// The value is complete.
    Done,
}

fn after_value(stack: &[u8]) -> Want {
    if stack.is_empty() {
        Want::Done
    } else {
        Want::CommaOrClose
    }
}

/// Where an object key is in a piece: the offset of its opening quote
/// from the piece start, and the depth of its object (1 for the piece's
/// own members).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct KeyAt {
    pub at: usize,
    pub depth: usize,
}

#[inline]
fn note_key(keys: Option<&mut Vec<KeyAt>>, at: usize, depth: usize) {
    if let Some(keys) = keys
        && depth <= 2
    {
        keys.push(KeyAt { at, depth });
    }
}

/// Where to go on after a scalar that ends at `end`: past a `,` or a
/// closing bracket right after it, if there is one.
#[inline]
fn after_scalar(buf: &[u8], end: usize, stack: &mut Vec<u8>) -> (usize, Want) {
    match (buf.get(end), stack.last()) {
        (Some(b','), Some(b'}')) => (end + 1, Want::Key),
        (Some(b','), Some(_)) => (end + 1, Want::Value),
        (Some(&b), Some(&close)) if b == close => {
            stack.pop();
            (end + 1, after_value(stack))
        }
        _ => (end, after_value(stack)),
    }
}

/// The end of a string without escapes, number or literal at `start`, if
/// it is whole in `buf` and valid.
#[inline(always)]
fn scalar_end(buf: &[u8], start: usize) -> Option<usize> {
    match *buf.get(start)? {
        b'"' => string_end(buf, start + 1),
        b'-' | b'0'..=b'9' => number_end(buf, start),
        b't' => literal_end(buf, start, b"true"),
        b'f' => literal_end(buf, start, b"false"),
        b'n' => literal_end(buf, start, b"null"),
        _ => None,
    }
}

/// The end of a string without escapes whose body starts at `start`, if
/// it ends in `buf` and is UTF-8 (else the careful path reports it).
#[inline]
fn string_end(buf: &[u8], start: usize) -> Option<usize> {
    let rest = buf.get(start..)?;
    let len = find_string_special(rest);
    (rest.get(len) == Some(&b'"') && is_utf8(&rest[..len])).then_some(start + len + 1)
}

/// The end of a valid number starting at `start`, if something follows it
/// in `buf` (else it may go on in the next chunk).
#[inline]
fn number_end(buf: &[u8], start: usize) -> Option<usize> {
    let digits = |i: usize| {
        let n = buf
            .get(i..)?
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        (n > 0).then_some(i + n)
    };
    let mut i = start;
    if buf.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match buf.get(i)? {
        b'0' => i + 1,
        _ => digits(i)?,
    };
    if buf.get(i) == Some(&b'.') {
        i = digits(i + 1)?;
    }
    if matches!(buf.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(buf.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(i)?;
    }
    (i < buf.len()).then_some(i)
}

#[inline]
fn literal_end(buf: &[u8], start: usize, literal: &[u8]) -> Option<usize> {
    let end = start + literal.len();
    (buf.get(start..end)? == literal).then_some(end)
}

/// A serde_json error in a piece of the input that starts at `origin`,
/// with its position moved onto the whole input.
pub(super) fn relocate(e: &serde_json::Error, origin: Origin) -> PlanError {
    let (line, column) = match e.line() as u64 {
        0 => (origin.line, origin.column + 1),
        1 => (origin.line, origin.column + e.column() as u64),
        n => (origin.line + n - 1, e.column() as u64),
    };
    PlanError::Json {
        line,
        column,
        message: serde_message(e),
    }
}

/// How deeply a value that [`Cursor`] hands to serde may nest.
/// serde_json refuses values nested more than 128 deep, counted from the
/// resource change; this bound keeps values that serde reads on their own
/// well below that, so it accepts them just as it would in place.
pub(super) const QUICK_DEPTH: usize = 32;

/// A position in the bytes of a JSON value whose syntax has been checked,
/// for reading parts of it quickly. Every method returns `None` for what it
/// does not handle.
pub(super) struct Cursor<'a> {
    pub bytes: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    /// The next byte after whitespace, not consumed.
    #[inline]
    pub(super) fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    #[inline]
    pub(super) fn eat(&mut self, wanted: u8) -> Option<()> {
        (self.peek()? == wanted).then(|| self.pos += 1)
    }

    /// After an opening bracket: whether a member follows, or else the
    /// closing bracket, consumed.
    #[inline]
    pub(super) fn first(&mut self, close: u8) -> Option<bool> {
        if self.peek()? == close {
            self.pos += 1;
            return Some(false);
        }
        Some(true)
    }

    /// After a member: whether another follows (the `,` consumed), or else
    /// the closing bracket, consumed.
    #[inline]
    pub(super) fn next(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.pos += 1;
                Some(true)
            }
            b if b == close => {
                self.pos += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// Consumes a string; returns where it is, quotes included, and
    /// whether it has escapes.
    #[inline]
    pub(super) fn string_span(&mut self) -> Option<(usize, usize, bool)> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.pos;
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            i += find_string_special(self.bytes.get(i..)?);
            match self.bytes.get(i)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                _ => return None,
            }
        }
        self.pos = i + 1;
        Some((start, i + 1, escaped))
    }

    /// A string without escapes, as its bytes.
    pub(super) fn plain_string(&mut self) -> Option<&'a [u8]> {
        let (start, end, escaped) = self.string_span()?;
        (!escaped).then(|| &self.bytes[start + 1..end - 1])
    }

    /// An object key, and the `:` after it. Keys are UTF-8 and unescaped.
    pub(super) fn key(&mut self) -> Option<&'a [u8]> {
        let key = self.plain_string()?;
        if !key.is_ascii() && std::str::from_utf8(key).is_err() {
            return None;
        }
        self.eat(b':')?;
        Some(key)
    }

    /// A string, checked as serde would check it, not yet decoded.
    pub(super) fn text(&mut self) -> Option<Text<'a>> {
        let (start, end, escaped) = self.string_span()?;
        let content = std::str::from_utf8(&self.bytes[start + 1..end - 1]);
        match content {
            Ok(content) if !escaped => Some(Text::Plain(content)),
            Ok(content) if !content.contains("\\u") => Some(Text::Escaped(content)),
            _ => serde_json::from_slice(&self.bytes[start..end])
                .ok()
                .map(Text::Decoded),
        }
    }

    /// A string or `null`.
    pub(super) fn optional_text(&mut self) -> Option<Option<Text<'a>>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        self.text().map(Some)
    }

    pub(super) fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        (self.bytes.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// Skips a value; returns how deeply it nests, 0 for a scalar.
    pub(super) fn skip(&mut self) -> Option<usize> {
        let mut depth = 0usize;
        let mut deepest = 0;
        loop {
            match self.peek()? {
                b'"' => {
                    self.string_span()?;
                }
                b'{' | b'[' => {
                    self.pos += 1;
                    depth += 1;
                    deepest = deepest.max(depth);
                    continue;
                }
                b'}' | b']' => {
                    self.pos += 1;
                    depth = depth.checked_sub(1)?;
                }
                b',' | b':' if depth > 0 => {
                    self.pos += 1;
                    continue;
                }
                _ => {
                    // A number or a literal.
                    let rest = &self.bytes[self.pos..];
                    let len = rest
                        .iter()
                        .position(|b| {
                            matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
                        })
                        .unwrap_or(rest.len());
                    if len == 0 {
                        return None;
                    }
                    self.pos += len;
                }
            }
            if depth == 0 {
                return Some(deepest);
            }
        }
    }

    /// Skips a value and returns its bytes.
    pub(super) fn value(&mut self) -> Option<&'a [u8]> {
        self.peek()?;
        let start = self.pos;
        self.skip()?;
        Some(&self.bytes[start..self.pos])
    }

    /// Skips a value and returns its bytes, if it nests no deeper than
    /// [`QUICK_DEPTH`].
    pub(super) fn shallow_value(&mut self) -> Option<&'a [u8]> {
        self.peek()?;
        let start = self.pos;
        (self.skip()? <= QUICK_DEPTH).then(|| &self.bytes[start..self.pos])
    }

    /// Whether a sensitivity mark contains `true`, as serde reading it with
    /// `raw::AnyTrue` would find. Strings must be plain ASCII, and numbers
    /// are not handled: serde checks their range.
    pub(super) fn any_true(&mut self) -> Option<bool> {
        self.peek()?;
        let bytes = self.bytes;
        let mut i = self.pos;
        let mut depth = 0usize;
        let mut any = false;
        loop {
            let b = *bytes.get(i)?;
            i += 1;
            match b {
                b'"' => {
                    let rest = bytes.get(i..)?;
                    let len = find_string_special(rest);
                    if rest.get(len) != Some(&b'"') || !rest[..len].is_ascii() {
                        return None;
                    }
                    i += len + 1;
                }
                b't' => {
                    (bytes.get(i..i + 3)? == b"rue").then_some(())?;
                    i += 3;
                    any = true;
                }
                b'f' => {
                    (bytes.get(i..i + 4)? == b"alse").then_some(())?;
                    i += 4;
                }
                b'n' => {
                    (bytes.get(i..i + 3)? == b"ull").then_some(())?;
                    i += 3;
                }
                b'{' | b'[' => {
                    depth += 1;
                    if depth > QUICK_DEPTH {
                        return None;
                    }
                    continue;
                }
                b'}' | b']' => depth = depth.checked_sub(1)?,
                b',' | b':' | b' ' | b'\t' | b'\r' | b'\n' if depth > 0 => continue,
                _ => return None,
            }
            if depth == 0 {
                self.pos = i;
                return Some(any);
            }
        }
    }
}

/// A JSON string that [`Cursor::text`] has checked.
pub(super) enum Text<'a> {
    /// Without escapes.
    Plain(&'a str),
    /// With escapes, but none of the `\u` kind.
    Escaped(&'a str),
    Decoded(String),
}

impl Text<'_> {
    /// The string the JSON string stands for.
    pub(super) fn into_string(self) -> Option<String> {
        let escaped = match self {
            Text::Plain(text) => return Some(text.to_owned()),
            Text::Decoded(text) => return Some(text),
            Text::Escaped(text) => text,
        };
        let mut out = String::with_capacity(escaped.len());
        let mut chars = escaped.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            out.push(match chars.next()? {
                c @ ('"' | '\\' | '/') => c,
                'b' => '\u{8}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                _ => return None,
            });
        }
        Some(out)
    }
}

/// A serde_json error's message, without the position it appends.
pub(super) fn serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

const INVALID_UTF8: &str = "invalid unicode code point";

/// Whether `e` is a string that is not UTF-8.
pub(super) fn is_invalid_utf8(e: &PlanError) -> bool {
    matches!(e, PlanError::Json { message, .. } if message == INVALID_UTF8)
}

/// Whether `bytes` is UTF-8; ASCII, the usual case, is told at once.
#[inline]
fn is_utf8(bytes: &[u8]) -> bool {
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

const CONTROL_IN_STRING: &str = "control character (\\u0000-\\u001F) found while parsing a string";

/// Index of the first `"`, `\` or control character in `bytes`, or its
/// length if there is none. Eight bytes at a time, with the same bit trick
/// serde_json uses: for each byte lane, `x - 0x01` borrows into the top bit
/// exactly when `x` is zero (after XOR with the wanted byte), and
/// `x - 0x20` when `x < 0x20`. Borrows can only mark lanes above a real hit,
/// so the lowest marked lane is exact.
#[inline]
pub(super) fn find_string_special(bytes: &[u8]) -> usize {
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
