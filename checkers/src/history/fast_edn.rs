//! A scanner for the common shape of one line of a Jepsen `history.edn`: one operation map
//! (`{:type :invoke, :f :write, :value [5 3], :process 0, :time 12, :index 0}`), optionally
//! opened by the `[` of a top-level vector (or `(` of a list) or closed by its `]` (`)`).
//!
//! Part of the check step (run → check → report): the compact reader
//! ([`super::compact`]) scans EDN histories with it line by line, on all cores, without
//! building a `serde_json::Value` per operation. It takes only what it reads exactly as the
//! general EDN reader ([`super::edn`] and [`super::read::event_from_map`]) does — keywords,
//! `nil`, booleans, integers (with an optional `N`), strings without escapes, symbols, vectors
//! of these — and answers `None` for anything else (a comment, a float, a nested map, a
//! character, a tag, a string with escapes, a map spread over lines…); the compact reader then
//! parses that line with the general EDN reader, or hands the whole file to the general path.
//! [`scan_edn_value`] reads the value of a Jepsen text log's operation line the same way.

use super::edn::{is_delimiter, is_whitespace};
use super::fast_json::{Fields, RawEvent, Scalar, Second};

/// The deepest vector nesting the scanner takes (deeper: `None`, the general reader decides).
const MAX_NESTING: usize = 8;

/// One line as the scanner reads it.
#[derive(Debug)]
pub(crate) struct EdnLine<'a> {
    /// The line opens the top-level vector or list: `]` or `)`, the closing bracket that
    /// the opening one (before the map, or alone) calls for.
    pub(crate) open: Option<u8>,
    /// The operation map on the line, if any, with its text.
    pub(crate) event: Option<(RawEvent<'a>, &'a str)>,
    /// The line closes the top-level vector or list: its `]` or `)` (after the map, or
    /// alone).
    pub(crate) close: Option<u8>,
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn blanks(&mut self) {
        while self.peek().is_some_and(is_whitespace) {
            self.at += 1;
        }
    }

    /// A bare token (up to the next delimiter); `None` when empty.
    fn token(&mut self) -> Option<&'a str> {
        let start = self.at;
        while self.peek().is_some_and(|b| !is_delimiter(b)) {
            self.at += 1;
        }
        (self.at > start).then(|| &self.text[start..self.at])
    }

    /// A string without escapes.
    fn string(&mut self) -> Option<&'a str> {
        self.at += 1;
        let start = self.at;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => return None,
                _ => self.at += 1,
            }
        }
        let s = &self.text[start..self.at];
        self.at += 1;
        Some(s)
    }

    /// A vector of two items that are not vectors (`[5 3]`, `[5 nil]`), the cursor on its
    /// `[`, read without allocating; `None` (the cursor where it was) for anything else.
    fn pair(&mut self) -> Option<(Scalar<'a>, Scalar<'a>)> {
        let start = self.at;
        let pair = (|| {
            self.at += 1;
            let a = self.item()?;
            let b = self.item()?;
            self.blanks();
            (self.peek()? == b']').then(|| self.at += 1)?;
            Some((a, b))
        })();
        if pair.is_none() {
            self.at = start;
        }
        pair
    }

    /// One item of [`Cursor::pair`]: a value that is not a vector.
    fn item(&mut self) -> Option<Scalar<'a>> {
        self.blanks();
        if matches!(self.peek()?, b'[' | b']') {
            return None;
        }
        self.value(1)
    }

    /// A tuple `[key value]` or `[key [a b]]` (items not vectors otherwise), the cursor on its
    /// `[`, read without allocating; `None` (the cursor where it was) for anything else.
    fn tuple(&mut self) -> Option<(Scalar<'a>, Second<'a>)> {
        if let Some((a, b)) = self.pair() {
            return Some((a, Second::One(b)));
        }
        let start = self.at;
        let tuple = (|| {
            self.at += 1;
            let key = self.item()?;
            self.blanks();
            if self.peek()? != b'[' {
                return None;
            }
            let (a, b) = self.pair()?;
            self.blanks();
            (self.peek()? == b']').then(|| self.at += 1)?;
            Some((key, Second::Pair(a, b)))
        })();
        if tuple.is_none() {
            self.at = start;
        }
        tuple
    }

    /// A value: a scalar, or a vector of values (`depth` deep already).
    fn value(&mut self, depth: usize) -> Option<Scalar<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Scalar::Str),
            b'[' => {
                if depth >= MAX_NESTING {
                    return None;
                }
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.blanks();
                    if self.peek()? == b']' {
                        self.at += 1;
                        return Some(Scalar::Array(items));
                    }
                    items.push(self.value(depth + 1)?.into_value());
                }
            }
            b if is_delimiter(b) || b == b'#' => None,
            _ => atom(self.token()?),
        }
    }
}

/// A bare token as the general reader converts it, or `None` for what the scanner leaves to
/// it (floats, ratios, `M` decimals, integers beyond 64 bits, odd symbols).
fn atom(tok: &str) -> Option<Scalar<'_>> {
    match tok {
        "nil" => return Some(Scalar::Null),
        "true" => return Some(Scalar::Bool(true)),
        "false" => return Some(Scalar::Bool(false)),
        _ => {}
    }
    if let Some(name) = tok.strip_prefix(':') {
        return (!name.is_empty()).then_some(Scalar::Str(name));
    }
    let b = tok.as_bytes();
    if b[0].is_ascii_alphabetic() {
        return Some(Scalar::Str(tok));
    }
    let digits = tok.strip_suffix('N').unwrap_or(tok);
    let unsigned = digits.strip_prefix(['+', '-']).unwrap_or(digits);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .strip_prefix('+')
        .unwrap_or(digits)
        .parse::<i64>()
        .ok()
        .map(Scalar::Int)
}

/// Scans one line (see the module docs); `None` when the line is anything else.
pub(crate) fn scan_edn_line(content: &str) -> Option<EdnLine<'_>> {
    let mut c = Cursor {
        text: content,
        at: 0,
    };
    c.blanks();
    let open = match c.peek() {
        Some(b'[') => Some(b']'),
        Some(b'(') => Some(b')'),
        _ => None,
    };
    if open.is_some() {
        c.at += 1;
        c.blanks();
    }
    let event = if c.peek() == Some(b'{') {
        let start = c.at;
        let ev = scan_map(&mut c)?;
        Some((ev, &content[start..c.at]))
    } else {
        None
    };
    c.blanks();
    let close = c.peek().filter(|b| matches!(b, b']' | b')'));
    if close.is_some() {
        c.at += 1;
        c.blanks();
    }
    (c.at == content.len()).then_some(EdnLine { open, event, close })
}

/// One EDN value filling `text` (blanks around it aside), as a `value` field is kept: the
/// value, or `(Null, Some(tuple))` for a `[key value]` tuple read without allocating. `None`
/// for anything the general reader must decide (see the module docs).
pub(crate) fn scan_edn_value(text: &str) -> Option<(Scalar<'_>, Option<(Scalar<'_>, Second<'_>)>)> {
    let mut c = Cursor { text, at: 0 };
    c.blanks();
    let v = match c.peek()? {
        b'[' => match c.tuple() {
            Some(t) => (Scalar::Null, Some(t)),
            None => (c.value(0)?, None),
        },
        _ => (c.value(0)?, None),
    };
    c.blanks();
    (c.at == text.len()).then_some(v)
}

/// One operation map, the cursor on its `{`: the fields as [`super::fast_json::scan_raw`]
/// gives them for the same operation in JSON.
fn scan_map<'a>(c: &mut Cursor<'a>) -> Option<RawEvent<'a>> {
    c.at += 1;
    let mut fields = Fields::default();
    loop {
        c.blanks();
        match c.peek()? {
            b'}' => break,
            b':' => {}
            _ => return None,
        }
        let name = &c.token()?[1..];
        if name.is_empty() {
            return None;
        }
        c.blanks();
        if name == "value" && c.peek() == Some(b'[') {
            if let Some(tuple) = c.tuple() {
                fields.take_pair(tuple)?;
                continue;
            }
        }
        let v = c.value(0)?;
        fields.take(name, v)?;
    }
    c.at += 1;
    fields.finish()
}

/// Whether `v` equals what [`Scalar::into_value`] makes of `s` (for tests).
#[cfg(test)]
fn same(s: Scalar<'_>, v: &serde_json::Value) -> bool {
    &s.into_value() == v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::read_history;

    /// Every line the scanner takes gives the general reader's event.
    fn agrees(line: &str) {
        let scanned = scan_edn_line(line).expect("scanned");
        let (ev, _) = scanned.event.expect("an event");
        let h = read_history(
            "t.edn",
            line.trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .as_bytes(),
            None,
        )
        .expect("general reader");
        let e = &h.events[0];
        assert_eq!(e.kind, ev.kind, "{line}");
        assert_eq!(e.time, ev.time, "{line}");
        assert_eq!(e.f.as_deref(), ev.f, "{line}");
        match ev.pair {
            Some((a, b)) => assert_eq!(
                serde_json::Value::Array(vec![a.into_value(), b.into_value()]),
                e.value,
                "{line}"
            ),
            None => assert!(same(ev.value, &e.value), "{line}"),
        }
        match (ev.process, &e.process) {
            (None, None) => {}
            (Some(Scalar::Int(p)), Some(crate::history::Process::Client(q))) => assert_eq!(p, *q),
            (Some(Scalar::Str(p)), Some(crate::history::Process::Named(q))) => assert_eq!(p, q),
            other => panic!("{line}: {other:?}"),
        }
        match (ev.error, &e.error) {
            (None, None) => {}
            (Some(s), Some(v)) => assert!(same(s, v), "{line}"),
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn jepsen_lines_read_as_the_general_reader_reads_them() {
        for line in [
            "{:type :invoke, :f :write, :value [5 3], :process 0, :time 12, :index 0}",
            "[{:type :ok, :f :read, :value [5 nil], :process 3, :time 1, :index 1}",
            " {:type :info, :f :cas, :value [5 [3 4]], :process 2, :error :timed-out}]",
            "{:process :nemesis, :type :info, :f :start, :value \"partition\"}",
            "{:type :fail :f :cas :value [1 2] :process 12N :time -7 :error [:x \"y\"]}",
            "{:type :ok, :f :txn, :value [[:append 1 2] [:r 1 [1 2]]], :process +4}",
            "{:type :ok, :f :read, :value true, :process 1, :node \"n1\", :extra foo.Bar}",
        ] {
            agrees(line);
        }
    }

    #[test]
    fn brackets_and_blank_lines() {
        let l = scan_edn_line("[").unwrap();
        assert!(l.open == Some(b']') && l.close.is_none() && l.event.is_none());
        let l = scan_edn_line(" ] ").unwrap();
        assert!(l.open.is_none() && l.close == Some(b']') && l.event.is_none());
        let l = scan_edn_line("[{:type :ok :process 0}]").unwrap();
        assert!(l.open == Some(b']') && l.close == Some(b']') && l.event.is_some());
        let l = scan_edn_line("({:type :ok :process 0}").unwrap();
        assert!(l.open == Some(b')') && l.close.is_none() && l.event.is_some());
    }

    #[test]
    fn what_the_general_reader_must_decide_is_left_to_it() {
        for line in [
            "{:type :ok, :value 1.5, :process 0}",
            "{:type :ok, :value 1/2, :process 0}",
            "{:type :ok, :value \"a\\nb\", :process 0}",
            "{:type :ok, :value {:a 1}, :process 0}",
            "{:type :ok, :value #{1}, :process 0}",
            "{:type :ok, :value \\a, :process 0}",
            "{:type :ok, :process 0} ; comment",
            "{:type :ok, :process 0",
            "{:type :ok, :process 0}}",
            "{:type :ok, :type :ok, :process 0}",
            "{\"type\" :ok, :process 0}",
            "{:type :ok, :value 99999999999999999999, :process 0}",
            "{:type :ok, :value #inst \"2020\", :process 0}",
            "{:type :ok, :time 1.5, :process 0}",
            "{:type :ok, :process 0} {:type :ok, :process 1}",
            "{:type :ok, : 1, :process 0}",
        ] {
            assert!(
                scan_edn_line(line).is_none_or(|l| l.event.is_none() && l.open.is_none()),
                "{line}"
            );
        }
    }
}
