//! Splitting a JSON array of operation objects into its elements, block by block, for the
//! compact reader ([`super::compact`]): the array may be one line of any length (as elle-cli's
//! and most converters' output is) or pretty-printed over many lines, so blocks are cut after
//! whole elements rather than at line breaks, and each element's first line is counted here.
//!
//! Only the array's structure is looked at — brackets, braces, commas and where strings start
//! and end — never the elements' content (the element parsers do that). Anything that is not
//! `[`, objects separated by commas, `]`, with JSON whitespace around them, makes a block
//! `None`: the general reader ([`super::json::read_json_array`]) then reads the file and words
//! the error.

use memchr::{memchr, memchr2};

/// Where the array's top level stands between elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening `[`.
    Start,
    /// After `[`: an element or `]` comes next.
    First,
    /// After a `,`: an element comes next.
    Next,
    /// After an element: `,` or `]` comes next.
    After,
    /// After the closing `]`: only whitespace may follow.
    Closed,
}

/// One element of a block: its bytes `start..end` within the block and the 0-based line (of
/// the block) it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Element {
    pub start: usize,
    pub end: usize,
    pub line: u32,
}

/// A block's elements, as [`Splitter::split`] found them.
#[derive(Debug, Default)]
pub(crate) struct Block {
    pub elements: Vec<Element>,
    /// Line breaks in the block (up to its cut).
    pub newlines: usize,
}

/// The splitter's state carried from one block to the next.
#[derive(Debug)]
pub(crate) struct Splitter {
    state: State,
    lines: LineLengths,
}

/// The length of the line a splitter's blocks end in, carried from one block to the next, so
/// that a line longer than allowed is refused even when no block holds it whole.
#[derive(Debug)]
pub(crate) struct LineLengths {
    /// Bytes of the current line that earlier blocks held.
    line_len: usize,
    /// The longest line allowed ([`super::limits::MAX_LINE_BYTES`]).
    max_line: usize,
}

impl LineLengths {
    /// At the start of a line, allowing lines of at most `max_line` bytes.
    pub fn new(max_line: usize) -> LineLengths {
        LineLengths {
            line_len: 0,
            max_line,
        }
    }

    /// Checks the line lengths of the block `taken`, carrying the last line's length over.
    pub fn check(&mut self, taken: &[u8]) -> Option<()> {
        let mut rest = taken;
        while let Some(p) = memchr(b'\n', rest) {
            if self.line_len + p > self.max_line {
                return None;
            }
            self.line_len = 0;
            rest = &rest[p + 1..];
        }
        self.line_len += rest.len();
        (self.line_len <= self.max_line).then_some(())
    }
}

impl Splitter {
    /// A splitter at the start of a file whose lines may be at most `max_line` bytes long.
    pub fn new(max_line: usize) -> Splitter {
        Splitter {
            state: State::Start,
            lines: LineLengths::new(max_line),
        }
    }

    /// True once the array has been closed.
    pub fn closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Finds the whole elements at the start of `buf` (the bytes after the previous cut),
    /// filling `block`, and gives the cut: the bytes the block takes (whole elements and the
    /// structure between them; the rest waits for more of the file). At the end of the file
    /// (`eof`) the block takes everything. `None` when the bytes are not a JSON array of
    /// objects, a line is longer than allowed, or the file ends before the array closes.
    pub fn split(&mut self, buf: &[u8], eof: bool, block: &mut Block) -> Option<usize> {
        block.elements.clear();
        let mut state = self.state;
        let mut newlines = 0usize;
        // Where the last whole token ended, with the state and line breaks there.
        let (mut cut, mut cut_state, mut cut_newlines) = (0usize, state, 0usize);
        let mut i = 0usize;
        let n = buf.len();
        while i < n {
            let b = buf[i];
            match b {
                b'\n' => {
                    newlines += 1;
                    i += 1;
                    continue;
                }
                b' ' | b'\t' | b'\r' => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            state = match (state, b) {
                (State::Start, b'[') => State::First,
                (State::First | State::After, b']') => State::Closed,
                (State::After, b',') => State::Next,
                (State::First | State::Next, b'{') => {
                    let Some((end, inner)) = object_end(&buf[i..]) else {
                        if eof {
                            return None;
                        }
                        break;
                    };
                    block.elements.push(Element {
                        start: i,
                        end: i + end,
                        line: u32::try_from(newlines).ok()?,
                    });
                    newlines += inner;
                    i += end - 1;
                    State::After
                }
                _ => return None,
            };
            i += 1;
            (cut, cut_state, cut_newlines) = (i, state, newlines);
        }
        if eof {
            (cut, cut_state, cut_newlines) = (n, state, newlines);
            if state != State::Closed {
                return None;
            }
        }
        self.lines.check(&buf[..cut])?;
        self.state = cut_state;
        block.newlines = cut_newlines;
        Some(cut)
    }
}

/// The length of the object `text` starts with (through its closing `}`) and the line breaks
/// inside it; `None` when `text` ends first.
fn object_end(text: &[u8]) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut newlines = 0usize;
    let mut i = 0usize;
    while let Some(&b) = text.get(i) {
        i += 1;
        match b {
            b'"' => i = string_end(text, i)?,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some((i, newlines));
                }
            }
            b'\n' => newlines += 1,
            _ => {}
        }
    }
    None
}

/// Where the string whose contents start at `i` ends (just past its closing quote, escapes
/// skipped); `None` when `text` ends first. Short strings (most of a history's) are walked
/// byte by byte, longer ones searched.
pub(crate) fn string_end(text: &[u8], mut i: usize) -> Option<usize> {
    for _ in 0..24 {
        match *text.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    loop {
        let p = memchr2(b'"', b'\\', text.get(i..)?)?;
        if text[i + p] == b'\\' {
            i += p + 2;
        } else {
            return Some(i + p + 1);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn all(text: &str, step: usize) -> Option<(Vec<(String, u32)>, usize)> {
        let mut s = Splitter::new(1 << 20);
        feed(text, step, |buf, eof, block| s.split(buf, eof, block))
    }

    /// Feeds `text` to `split` `step` bytes at a time, as the reader does with blocks: each
    /// record's text and line, and the lines in all (`None` where `split` refuses).
    pub(crate) fn feed(
        text: &str,
        step: usize,
        mut split: impl FnMut(&[u8], bool, &mut Block) -> Option<usize>,
    ) -> Option<(Vec<(String, u32)>, usize)> {
        let bytes = text.as_bytes();
        let mut block = Block::default();
        let (mut start, mut end) = (0usize, 0usize);
        let (mut out, mut line) = (Vec::new(), 0u32);
        loop {
            end = (end + step).min(bytes.len());
            let eof = end == bytes.len();
            let cut = split(&bytes[start..end], eof, &mut block)?;
            for e in &block.elements {
                let t = &text[start + e.start..start + e.end];
                out.push((t.to_string(), line + e.line));
            }
            line += block.newlines as u32;
            start += cut;
            if eof {
                return Some((out, line as usize));
            }
        }
    }

    #[test]
    fn splits_one_line_and_pretty_printed_arrays_at_any_block_size() {
        let one = r#"[{"a":"x}\"{"},{"b":[1,{"c":2}]}]"#;
        let pretty = "[\n  {\n    \"a\": 1\n  },\n  {\"b\": \"]\"}\n]\n";
        for step in [1, 2, 3, 7, 100] {
            let (els, lines) = all(one, step).unwrap();
            assert_eq!(
                els,
                vec![
                    (r#"{"a":"x}\"{"}"#.to_string(), 0),
                    (r#"{"b":[1,{"c":2}]}"#.to_string(), 0)
                ]
            );
            assert_eq!(lines, 0);
            let (els, lines) = all(pretty, step).unwrap();
            assert_eq!(els[0].1, 1);
            assert_eq!(els[1], ("{\"b\": \"]\"}".to_string(), 4));
            assert_eq!(lines, 6);
        }
        assert_eq!(all("[]", 1).unwrap().0.len(), 0);
    }

    #[test]
    fn refuses_what_is_not_an_array_of_objects() {
        for bad in [
            "[{}",
            "[{},]",
            "[1]",
            "[{}{}]",
            "[{}] x",
            "{}",
            "[{\"a\":\"open}]",
            "[{}]]",
        ] {
            for step in [1, 3, 100] {
                assert!(all(bad, step).is_none(), "{bad:?} at {step}");
            }
        }
    }

    #[test]
    fn refuses_a_line_longer_than_allowed_across_blocks() {
        let text = format!("[{{\"a\":\"{}\"}}]", "x".repeat(100));
        let mut s = Splitter::new(50);
        let mut block = Block::default();
        let bytes = text.as_bytes();
        let cut = s.split(&bytes[..40], false, &mut block);
        assert_eq!(cut, Some(1), "only the bracket is whole");
        assert!(s.split(&bytes[1..], true, &mut block).is_none());
        let mut s = Splitter::new(200);
        assert!(s.split(bytes, true, &mut block).is_some());
    }
}
