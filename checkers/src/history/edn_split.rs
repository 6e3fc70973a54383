//! Splitting a Jepsen EDN history whose operation maps spread over several lines (as
//! `clojure.pprint` writes them: Knossos's histories, older Jepsen stores) into its maps, block
//! by block, for the compact reader ([`super::compact`]): blocks are cut after whole maps
//! rather than at line breaks, each map's first line is counted here, and each map is then
//! read as a one-line map is ([`super::fast_edn`], or the general EDN reader for the map alone).
//!
//! The compact reader reads EDN line by line and turns to this splitter from the first block
//! in which a line is not whole forms (a map cut by a line break), for the rest of the file.
//!
//! Only the structure is looked at — brackets, braces, parentheses, where strings, comments and
//! character literals start and end — never a map's content. A record is a map opened at the
//! top level, or inside the top-level vector or list, with whatever precedes it on its first
//! line; every other line that is not blank (a comment, a lone top-level bracket, what follows
//! the last map) is a record of its own, as when the file is read line by line. Whatever else the file holds is left to the record parsers and
//! [`super::compact`]'s top-level shape, which hand anything unusual to the general reader.

use super::array_split::{string_end, Block, Element, LineLengths};

/// The splitter's state carried from one block to the next (blocks are cut between records).
#[derive(Debug)]
pub(crate) struct EdnSplitter {
    /// Bracket depth at the cut: 0 at the top level, 1 inside the top-level vector or list.
    depth: usize,
    /// The depth at which records open: 0 until a top-level `[` or `(` is seen, then 1.
    top: usize,
    lines: LineLengths,
}

impl EdnSplitter {
    /// A splitter for the rest of a file whose lines may be at most `max_line` bytes long,
    /// starting between records, inside the top-level vector or list if `in_vector`.
    pub fn new(max_line: usize, in_vector: bool) -> EdnSplitter {
        let depth = usize::from(in_vector);
        EdnSplitter {
            depth,
            top: depth,
            lines: LineLengths::new(max_line),
        }
    }

    /// Finds the whole records at the start of `buf` (the bytes after the previous cut),
    /// filling `block`, and gives the cut: the bytes the block takes (the rest waits for more
    /// of the file). At the end of the file (`eof`) the block takes everything, each line
    /// after the last map that is not blank being a record too. `None` when a bracket closes
    /// more than was opened, a line is longer than allowed, or the file ends inside a string.
    pub fn split(&mut self, buf: &[u8], eof: bool, block: &mut Block) -> Option<usize> {
        block.elements.clear();
        let mut depth = self.depth;
        let mut top = self.top;
        let mut newlines = 0usize;
        // The current record: where it starts, and the line its map opens on.
        let (mut start, mut start_newlines) = (0usize, 0usize);
        let mut map_line: Option<u32> = None;
        let (mut cut, mut cut_depth, mut cut_top, mut cut_newlines) = (0, depth, top, 0);
        // Records found up to the cut.
        let mut cut_records = 0usize;
        let n = buf.len();
        let mut i = 0usize;
        while i < n {
            let b = buf[i];
            i += 1;
            match b {
                b'\n' => newlines += 1,
                b'"' => match string_end(buf, i) {
                    Some(end) => {
                        newlines += memchr::memchr_iter(b'\n', &buf[i..end]).count();
                        i = end;
                    }
                    None if eof => return None,
                    None => break,
                },
                b';' => match memchr::memchr(b'\n', &buf[i..]) {
                    // The line break itself is counted next.
                    Some(p) => i += p,
                    None => i = n,
                },
                // A character literal (`\{`, `\"`, `\newline`): its first character is never
                // structure.
                b'\\' => i += 1,
                b'{' | b'[' | b'(' => {
                    if b == b'{' && depth == top && map_line.is_none() {
                        // The lines before the map's own are records of their own (as the
                        // line-by-line reading has them: a comment, a lone bracket).
                        let line_start = memchr::memrchr(b'\n', &buf[start..i - 1])
                            .map_or(start, |p| start + p + 1);
                        push_lines(buf, start, line_start, start_newlines, block)?;
                        start = line_start;
                        map_line = Some(u32::try_from(newlines).ok()?);
                    }
                    if depth == 0 && b != b'{' {
                        top = 1;
                    }
                    depth += 1;
                }
                b'}' | b']' | b')' => {
                    depth = depth.checked_sub(1)?;
                    if b == b'}' && depth == top {
                        if let Some(line) = map_line.take() {
                            block.elements.push(Element {
                                start,
                                end: i,
                                line,
                            });
                            (start, start_newlines) = (i, newlines);
                            (cut, cut_depth, cut_top, cut_newlines) = (i, depth, top, newlines);
                            cut_records = block.elements.len();
                        }
                    }
                }
                _ => {}
            }
        }
        let i = i.min(n);
        if eof {
            if map_line.is_some() || depth > top {
                // A map (or a nested collection) the file does not close: the general reader
                // words it.
                return None;
            }
            push_lines(buf, start, i, start_newlines, block)?;
            (cut, cut_depth, cut_top, cut_newlines) = (i, depth, top, newlines);
        } else {
            // Lines pushed past the cut come again with the next block.
            block.elements.truncate(cut_records);
        }
        self.lines.check(&buf[..cut])?;
        (self.depth, self.top) = (cut_depth, cut_top);
        block.newlines = cut_newlines;
        Some(cut)
    }
}

/// Pushes each line of `buf[from..to]` that is not blank as a record (`line`: the block line
/// `from` is on).
fn push_lines(buf: &[u8], from: usize, to: usize, line: usize, block: &mut Block) -> Option<()> {
    let mut at = from;
    let mut line = line;
    while at < to {
        let end = memchr::memchr(b'\n', &buf[at..to]).map_or(to, |p| at + p);
        if buf[at..end].iter().any(|b| !b.is_ascii_whitespace()) {
            block.elements.push(Element {
                start: at,
                end,
                line: u32::try_from(line).ok()?,
            });
        }
        (at, line) = (end + 1, line + 1);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str, step: usize) -> Option<(Vec<(String, u32)>, usize)> {
        let mut s = EdnSplitter::new(1 << 20, false);
        super::super::array_split::tests::feed(text, step, |buf, eof, block| {
            s.split(buf, eof, block)
        })
    }

    #[test]
    fn splits_pretty_printed_edn_after_whole_maps_at_any_block_size() {
        let text = "[{:type :invoke, :f :read}\n {:type :ok,\n  :f :read,\n  :value \"}\\\"{\"}\n ; a {comment\n {:type :info, :f \\{, :value [1 {:a #{2}}]}]\n";
        for step in [1, 2, 3, 7, 1000] {
            let (els, lines) = all(text, step).unwrap();
            assert_eq!(
                els,
                vec![
                    ("[{:type :invoke, :f :read}".to_string(), 0),
                    (
                        " {:type :ok,\n  :f :read,\n  :value \"}\\\"{\"}".to_string(),
                        1
                    ),
                    (" ; a {comment".to_string(), 4),
                    (
                        " {:type :info, :f \\{, :value [1 {:a #{2}}]}".to_string(),
                        5
                    ),
                    ("]".to_string(), 5),
                ],
                "step {step}"
            );
            assert_eq!(lines, 6);
        }
        // Maps at the top level, two on a line, a list.
        let (els, _) = all("{:a 1} {:b\n 2}\n", 1).unwrap();
        assert_eq!(els.len(), 2);
        assert_eq!(els[1], (" {:b\n 2}".to_string(), 0));
        let (els, _) = all("(\n{:a 1}\n)", 4).unwrap();
        let want = [("(", 0), ("{:a 1}", 1), (")", 2)].map(|(t, l)| (t.to_string(), l));
        assert_eq!(els, want);
    }

    #[test]
    fn refuses_unbalanced_edn() {
        for bad in ["{:a 1", "{:a 1}}", "{:a \"open}", "[{:a [1}]"] {
            for step in [1, 3, 100] {
                assert!(all(bad, step).is_none(), "{bad:?} at {step}");
            }
        }
    }
}
