//! A Markdown document that can be cut to a size limit at clean
//! boundaries.
//!
//! A [`Doc`] is a list of blocks in reading order. Each block is an opening
//! (a heading, a `<details>` line, a table header, a code fence), rows,
//! and a closing that ends whatever the opening began; every block ends
//! with a blank line. A cut keeps a block's opening and closing whole and
//! drops rows from its end, so it never leaves a `<details>`, a code fence
//! or a table row half-written.
//!
//! Blocks have a priority: lower priorities are kept first (the title, then
//! the summary, then what needs approval, then details), each in reading
//! order and only as a prefix: once a row of a priority does not fit,
//! nothing more of that priority is kept, so what a reader sees of a
//! list is its beginning. Whatever is cut is said in a line after the block
//! it was cut from, and in a note at the end with the full count, the bytes
//! left out and where the full report is.

/// One row of a block: a table row, a list item, a line of a code block,
/// or a whole block that is kept or dropped at once.
#[derive(Debug, Clone)]
pub struct Row {
    text: String,
    /// What it stands for, to say what a cut left out (`resource
    /// change(s)`).
    noun: &'static str,
    destructive: bool,
}

impl Row {
    /// `text` must end with a newline.
    pub fn new(text: String, noun: &'static str) -> Row {
        debug_assert!(text.ends_with('\n'), "a row ends its line: {text:?}");
        Row {
            text,
            noun,
            destructive: false,
        }
    }

    /// A row whose loss the cut's note counts as destructive (an item that
    /// needs approval; a detail row of one is not, as the item is listed).
    pub fn destructive(mut self, destructive: bool) -> Row {
        self.destructive = destructive;
        self
    }
}

#[derive(Debug, Clone)]
struct Block {
    priority: u8,
    open: String,
    rows: Vec<Row>,
    close: String,
}

impl Block {
    fn len(&self) -> usize {
        self.open.len() + self.rows.iter().map(|r| r.text.len()).sum::<usize>() + self.close.len()
    }

    /// How many rows fit in `budget`, and the bytes they take with the
    /// opening, the closing and, when rows are left out, the line saying
    /// so. `(0, 0)` when not even one row fits.
    fn fitting(&self, budget: usize) -> (usize, usize) {
        let n = self.rows.len();
        // The line about a cut is longest when the most is cut: reserving
        // that one is enough for any.
        let tail = more(&self.rows[1.min(n)..]).len();
        let mut used = self.open.len() + self.close.len();
        let mut shown = 0;
        while shown < n {
            let next = used + self.rows[shown].text.len();
            let reserve = if shown + 1 == n { 0 } else { tail };
            if next + reserve > budget {
                break;
            }
            used = next;
            shown += 1;
        }
        if shown == 0 {
            return (0, 0);
        }
        if shown < n {
            used += more(&self.rows[shown..]).len();
        }
        (shown, used)
    }

    fn write(&self, out: &mut String, shown: usize) {
        if shown == 0 {
            return;
        }
        out.push_str(&self.open);
        for row in &self.rows[..shown] {
            out.push_str(&row.text);
        }
        out.push_str(&self.close);
        if shown < self.rows.len() {
            out.push_str(&more(&self.rows[shown..]));
        }
    }
}

/// A Markdown document, cut to a limit by [`Doc::fit`].
#[derive(Debug, Clone, Default)]
pub struct Doc {
    blocks: Vec<Block>,
}

impl Doc {
    pub fn new() -> Doc {
        Doc::default()
    }

    /// A block kept or dropped whole; `text` ends with a blank line.
    pub fn whole(&mut self, priority: u8, noun: &'static str, text: String) {
        debug_assert!(text.ends_with("\n\n"), "a block ends with a blank line");
        self.blocks.push(Block {
            priority,
            open: String::new(),
            rows: vec![Row::new(text, noun)],
            close: String::new(),
        });
    }

    /// A block of rows between `open` and `close`; the last row and
    /// `close` end with a blank line (a table's `close` is `"\n"`).
    /// Nothing is added without rows.
    pub fn rows(&mut self, priority: u8, open: String, rows: Vec<Row>, close: &str) {
        debug_assert!(close.ends_with('\n'), "a block ends with a blank line");
        if rows.is_empty() {
            return;
        }
        self.blocks.push(Block {
            priority,
            open,
            rows,
            close: close.to_owned(),
        });
    }

    /// The whole document.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.blocks.iter().map(Block::len).sum());
        for b in &self.blocks {
            b.write(&mut out, b.rows.len());
        }
        out
    }

    /// The document in at most `max_bytes` bytes of UTF-8 (0: no limit),
    /// which is never more characters than that. When something is cut, a
    /// note at the end says what, how many bytes, and `full`: where the
    /// whole report is.
    ///
    /// Only a limit below [`MIN_BYTES`] can be exceeded: by the first block
    /// of the lowest priority (the title) and the note, which are always
    /// there.
    pub fn fit(&self, max_bytes: usize, full: &str) -> String {
        let whole = self.render();
        if max_bytes == 0 || whole.len() <= max_bytes {
            return whole;
        }
        let all: Vec<&Row> = self.blocks.iter().flat_map(|b| &b.rows).collect();
        let reserve = note(&all, whole.len(), max_bytes, full).len();
        let mut budget = max_bytes.saturating_sub(reserve);
        let mut shown = vec![0; self.blocks.len()];
        let mut priorities: Vec<u8> = self.blocks.iter().map(|b| b.priority).collect();
        priorities.sort_unstable();
        priorities.dedup();
        for (phase, priority) in priorities.iter().enumerate() {
            for (i, block) in self.blocks.iter().enumerate() {
                if block.priority != *priority {
                    continue;
                }
                let (mut rows, mut used) = block.fitting(budget);
                if phase == 0 && i == 0 && rows == 0 {
                    // The title is always there.
                    (rows, used) = (block.rows.len(), block.len());
                }
                shown[i] = rows;
                budget = budget.saturating_sub(used);
                if rows < block.rows.len() {
                    break;
                }
            }
        }
        let mut out = String::with_capacity(max_bytes);
        let mut cut = Vec::new();
        for (block, &rows) in self.blocks.iter().zip(&shown) {
            block.write(&mut out, rows);
            cut.extend(&block.rows[rows..]);
        }
        let left_out = whole.len() - out.len();
        out.push_str(&note(&cut, left_out, max_bytes, full));
        out
    }
}

/// The smallest `--max-bytes` that always leaves room for a report's
/// title and the note about a cut.
pub const MIN_BYTES: usize = 1024;

/// `4321` → `4,321`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `4,321 resource change(s), 12 item(s) needing approval (10 destructive)
/// and 1 output change(s)`: counts by noun, in order of first appearance.
fn describe(rows: &[&Row]) -> String {
    let mut counts: Vec<(&str, usize, usize)> = Vec::new();
    for row in rows {
        match counts.iter_mut().find(|(noun, _, _)| *noun == row.noun) {
            Some((_, n, d)) => {
                *n += 1;
                *d += usize::from(row.destructive);
            }
            None => counts.push((row.noun, 1, usize::from(row.destructive))),
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(noun, n, d)| {
            let destructive = if *d > 0 {
                format!(" ({} destructive)", thousands(*d))
            } else {
                String::new()
            };
            format!("{} {noun}{destructive}", thousands(*n))
        })
        .collect();
    match parts.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// The line after a block whose last rows were cut.
fn more(cut: &[Row]) -> String {
    let cut: Vec<&Row> = cut.iter().collect();
    format!(
        "_Left out to fit: {} (see the note at the end)._\n\n",
        describe(&cut)
    )
}

/// The note at the end of a cut document.
fn note(cut: &[&Row], bytes: usize, max_bytes: usize, full: &str) -> String {
    format!(
        "> [!NOTE]\n> Cut to fit `--max-bytes` {}: {} left out ({} bytes). {full}\n",
        thousands(max_bytes),
        describe(cut),
        thousands(bytes)
    )
}
