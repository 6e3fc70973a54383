//! Mutations of history files for the hostile-input fuzzer: each [`Kind`] turns a real or
//! generated history into a damaged one, deterministically from a seeded [`Rng`].

use checkers::Rng;

/// What a mutation does to a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The history as it is (a baseline: the checkers must reach their verdict).
    None,
    /// Random bytes, biased towards the characters histories are made of.
    RandomBytes,
    /// The history cut at a random byte.
    Truncate,
    /// One to eight bytes replaced by random bytes.
    ByteFlip,
    /// A random line removed.
    LineDrop,
    /// A random line repeated somewhere else.
    LineDup,
    /// Two random lines exchanged.
    LineSwap,
    /// A field (`"type"`, `:process`, a log column, …) removed from a line.
    FieldDelete,
    /// A field's value replaced by a value of another type.
    TypeChange,
    /// 10^3..10^5 opening brackets of one kind inserted.
    DeepNesting,
    /// A number replaced by an integer beyond 64 bits (or at the edges of the 64-bit range).
    HugeInteger,
    /// Bytes that are not UTF-8 inserted.
    NonUtf8,
    /// One operation's `index` copied to another.
    DuplicateIndex,
    /// An invocation removed, leaving its completion without one.
    OrphanCompletion,
    /// An invocation repeated, so a process has two pending.
    DoubleInvoke,
    /// A line of up to 4 MB inserted (the 1 GB case runs in `scripts/fuzz-readers`).
    LongLine,
    /// Two to four of the above, one after another.
    Stacked,
}

/// Every kind, in reporting order.
pub const KINDS: &[Kind] = &[
    Kind::None,
    Kind::RandomBytes,
    Kind::Truncate,
    Kind::ByteFlip,
    Kind::LineDrop,
    Kind::LineDup,
    Kind::LineSwap,
    Kind::FieldDelete,
    Kind::TypeChange,
    Kind::DeepNesting,
    Kind::HugeInteger,
    Kind::NonUtf8,
    Kind::DuplicateIndex,
    Kind::OrphanCompletion,
    Kind::DoubleInvoke,
    Kind::LongLine,
    Kind::Stacked,
];

const FIELDS: &[&str] = &[
    "type", "process", "f", "value", "index", "key", "time", "error",
];

const JSON_VALUES: &[&str] = &[
    "null",
    "true",
    "1.5",
    "-1",
    "0",
    "\"x\"",
    "\"\"",
    "[]",
    "{}",
    "[1,2]",
    "[[\"r\",1,null]]",
    "[[\"append\",1,2]]",
    "{\"a\":1}",
    "\"invoke\"",
    "\"ok\"",
    "\"nemesis\"",
    "-0",
    "1e308",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "123456789012345678901234567890",
    "[null,null,null]",
    "\"\\u0000\"",
    "\"\\ud800\"",
];

const EDN_VALUES: &[&str] = &[
    "nil",
    "true",
    "1.5",
    "-1",
    "0",
    "\"x\"",
    "\"\"",
    "[]",
    "{}",
    "[1 2]",
    "[[:r 1 nil]]",
    "[[:append 1 2]]",
    "{:a 1}",
    ":invoke",
    ":ok",
    ":nemesis",
    "#{1 2}",
    "(1 2)",
    "1/2",
    "2.5M",
    "42N",
    "##NaN",
    "#inst \"2020\"",
    "\\a",
    "9223372036854775807",
    "-9223372036854775808",
    "123456789012345678901234567890N",
    "[nil nil nil]",
    "#_ 1 2",
    "sym",
];

/// Applies `kind` to `input`.
pub fn apply(kind: Kind, input: &[u8], rng: &mut Rng) -> Vec<u8> {
    match kind {
        Kind::None => input.to_vec(),
        Kind::RandomBytes => random_bytes(rng),
        Kind::Truncate => input[..pick(rng, input.len() + 1)].to_vec(),
        Kind::ByteFlip => {
            let mut out = input.to_vec();
            if out.is_empty() {
                return out;
            }
            for _ in 0..1 + rng.below(8) {
                let at = pick(rng, out.len());
                out[at] = rng.next_u64() as u8;
            }
            out
        }
        Kind::LineDrop => {
            let mut lines = split_lines(input);
            if !lines.is_empty() {
                lines.remove(pick(rng, lines.len()));
            }
            lines.concat()
        }
        Kind::LineDup => {
            let mut lines = split_lines(input);
            if !lines.is_empty() {
                let line = ended(lines[pick(rng, lines.len())].clone());
                lines.insert(pick(rng, lines.len() + 1), line);
            }
            lines.concat()
        }
        Kind::LineSwap => {
            let mut lines = split_lines(input);
            if lines.len() > 1 {
                let (a, b) = (pick(rng, lines.len()), pick(rng, lines.len()));
                lines.swap(a, b);
                let last = lines.len() - 1;
                for line in &mut lines[..last] {
                    if !line.ends_with(b"\n") {
                        line.push(b'\n');
                    }
                }
            }
            lines.concat()
        }
        Kind::FieldDelete => field_edit(input, rng, false),
        Kind::TypeChange => field_edit(input, rng, true),
        Kind::DeepNesting => {
            let open = [b'[', b'{', b'('][pick(rng, 3)];
            let depth = [1_000, 10_000, 100_000][pick(rng, 3)];
            let mut nest = vec![open; depth];
            if rng.below(2) == 0 {
                let close = match open {
                    b'[' => b']',
                    b'{' => b'}',
                    _ => b')',
                };
                nest.extend(std::iter::repeat(close).take(depth));
            }
            splice_value(input, rng, &nest)
        }
        Kind::HugeInteger => {
            let huge = huge_integer(rng);
            replace_number(input, rng, huge.as_bytes())
        }
        Kind::NonUtf8 => {
            const BAD: &[&[u8]] = &[
                b"\xff",
                b"\xc0\x80",
                b"\x80",
                b"\xe2\x82",
                b"\xed\xa0\x80",
                b"\xf4\x90\x80\x80",
                b"\xfe\xfe",
            ];
            let bad = BAD[pick(rng, BAD.len())];
            let mut out = input.to_vec();
            let at = pick(rng, out.len() + 1);
            out.splice(at..at, bad.iter().copied());
            out
        }
        Kind::DuplicateIndex => duplicate_index(input, rng),
        Kind::OrphanCompletion => {
            let mut lines = split_lines(input);
            let invokes: Vec<usize> = (0..lines.len())
                .filter(|&i| contains(&lines[i], b"invoke"))
                .collect();
            if !invokes.is_empty() {
                lines.remove(invokes[pick(rng, invokes.len())]);
            }
            lines.concat()
        }
        Kind::DoubleInvoke => {
            let mut lines = split_lines(input);
            let invokes: Vec<usize> = (0..lines.len())
                .filter(|&i| contains(&lines[i], b"invoke"))
                .collect();
            if !invokes.is_empty() {
                let i = invokes[pick(rng, invokes.len())];
                let line = ended(lines[i].clone());
                let to = i + 1 + pick(rng, 3.min(lines.len() - i));
                lines.insert(to.min(lines.len()), line);
            }
            lines.concat()
        }
        Kind::LongLine => {
            let len = [1_000, 100_000, 4_000_000][pick(rng, 3)];
            let filler = [b'a', b' ', b'1', b'"'][pick(rng, 4)];
            let long = vec![filler; len];
            if rng.below(2) == 0 {
                splice_value(input, rng, &long)
            } else {
                let mut lines = split_lines(input);
                let mut line = long;
                line.push(b'\n');
                lines.insert(pick(rng, lines.len() + 1), line);
                lines.concat()
            }
        }
        Kind::Stacked => {
            let mut out = input.to_vec();
            for _ in 0..2 + rng.below(3) {
                // Only the cheap kinds, so stacked cases stay small.
                let kind = KINDS[2 + pick(rng, 7)];
                out = apply(kind, &out, rng);
            }
            out
        }
    }
}

fn pick(rng: &mut Rng, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        rng.below(n as u64) as usize
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle, 0).is_some()
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() || needle.len() > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    const ALPHABET: &[u8] = b"{}[]()#:;\"\\,. \t\n-0123456789eEnNtfaklrsuvy_/";
    let len = pick(rng, 600);
    (0..len)
        .map(|_| match rng.below(4) {
            0 => rng.next_u64() as u8,
            _ => ALPHABET[pick(rng, ALPHABET.len())],
        })
        .collect()
}

/// The lines of `input`, each with its `\n` (the last may lack one).
fn split_lines(input: &[u8]) -> Vec<Vec<u8>> {
    input
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn ended(mut line: Vec<u8>) -> Vec<u8> {
    if !line.ends_with(b"\n") {
        line.push(b'\n');
    }
    line
}

/// Where a field's key starts and whether it is JSON (`"f":`) rather than EDN (`:f `).
fn field_positions(input: &[u8], name: &str) -> Vec<(usize, usize, bool)> {
    let mut found = Vec::new();
    for (pattern, json) in [(format!("\"{name}\""), true), (format!(":{name} "), false)] {
        let mut from = 0;
        while let Some(at) = find(input, pattern.as_bytes(), from) {
            found.push((at, at + pattern.len(), json));
            from = at + 1;
        }
    }
    found
}

/// The end of the value that starts at or after `from` (after blanks and one `:`).
fn value_span(input: &[u8], mut from: usize, json: bool) -> (usize, usize) {
    while from < input.len() && (input[from] == b' ' || (json && input[from] == b':')) {
        from += 1;
    }
    let start = from;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = from;
    while i < input.len() {
        let b = input[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => {
                    in_string = false;
                    if depth == 0 {
                        return (start, i + 1);
                    }
                }
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'[' | b'{' | b'(' => depth += 1,
                b']' | b'}' | b')' => {
                    if depth == 0 {
                        return (start, i);
                    }
                    depth -= 1;
                    if depth == 0 {
                        return (start, i + 1);
                    }
                }
                b',' | b' ' | b'\n' | b'\t' if depth == 0 => return (start, i),
                _ => {}
            }
        }
        i += 1;
    }
    (start, input.len())
}

/// Deletes a field (key and value) or replaces its value with one of another type. Jepsen
/// text logs (no keys) get a tab-separated column deleted or replaced instead.
fn field_edit(input: &[u8], rng: &mut Rng, replace: bool) -> Vec<u8> {
    let name = FIELDS[pick(rng, FIELDS.len())];
    let positions = field_positions(input, name);
    let mut out = input.to_vec();
    if positions.is_empty() {
        let tabs: Vec<usize> = (0..input.len()).filter(|&i| input[i] == b'\t').collect();
        if tabs.is_empty() {
            return out;
        }
        let at = tabs[pick(rng, tabs.len())];
        let end = (at + 1..input.len())
            .find(|&i| input[i] == b'\t' || input[i] == b'\n')
            .unwrap_or(input.len());
        let with = if replace {
            EDN_VALUES[pick(rng, EDN_VALUES.len())].as_bytes().to_vec()
        } else {
            Vec::new()
        };
        out.splice(at + 1..end, with);
        if !replace {
            out.remove(at);
        }
        return out;
    }
    let (key_start, key_end, json) = positions[pick(rng, positions.len())];
    let (value_start, value_end) = value_span(input, key_end, json);
    if replace {
        let pool = if json { JSON_VALUES } else { EDN_VALUES };
        let with = pool[pick(rng, pool.len())].as_bytes();
        out.splice(value_start..value_end, with.iter().copied());
    } else {
        let mut end = value_end;
        if json && input.get(end) == Some(&b',') {
            end += 1;
        }
        out.drain(key_start..end);
    }
    out
}

/// Replaces a random value (or inserts at a random place when none is found) with `with`.
fn splice_value(input: &[u8], rng: &mut Rng, with: &[u8]) -> Vec<u8> {
    let name = FIELDS[pick(rng, FIELDS.len())];
    let positions = field_positions(input, name);
    let mut out = input.to_vec();
    if positions.is_empty() || rng.below(4) == 0 {
        let at = pick(rng, out.len() + 1);
        out.splice(at..at, with.iter().copied());
    } else {
        let (_, key_end, json) = positions[pick(rng, positions.len())];
        let (start, end) = value_span(input, key_end, json);
        out.splice(start..end, with.iter().copied());
    }
    out
}

fn huge_integer(rng: &mut Rng) -> String {
    const EDGES: &[&str] = &[
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "18446744073709551617",
        "-18446744073709551616",
        "9007199254740993",
        "100000000000000000000000000000000000000000000000000",
    ];
    if rng.below(2) == 0 {
        return EDGES[pick(rng, EDGES.len())].to_string();
    }
    let digits = 20 + pick(rng, 400);
    let mut s = String::new();
    if rng.below(3) == 0 {
        s.push('-');
    }
    s.push(char::from(b'1' + rng.below(9) as u8));
    for _ in 1..digits {
        s.push(char::from(b'0' + rng.below(10) as u8));
    }
    if rng.below(4) == 0 {
        s.push('N');
    }
    s
}

/// Replaces a random run of digits (outside nothing in particular) with `with`.
fn replace_number(input: &[u8], rng: &mut Rng, with: &[u8]) -> Vec<u8> {
    let starts: Vec<usize> = (0..input.len())
        .filter(|&i| input[i].is_ascii_digit() && (i == 0 || !input[i - 1].is_ascii_digit()))
        .collect();
    let mut out = input.to_vec();
    if starts.is_empty() {
        out.extend_from_slice(with);
        return out;
    }
    let start = starts[pick(rng, starts.len())];
    let end = (start..input.len())
        .find(|&i| !input[i].is_ascii_digit())
        .unwrap_or(input.len());
    out.splice(start..end, with.iter().copied());
    out
}

/// Copies the `index` value of one operation over another's.
fn duplicate_index(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let positions = field_positions(input, "index");
    if positions.len() < 2 {
        return input.to_vec();
    }
    let (_, from_key, json) = positions[pick(rng, positions.len())];
    let (a, b) = value_span(input, from_key, json);
    let value = input[a..b].to_vec();
    let (_, to_key, json) = positions[pick(rng, positions.len())];
    let (c, d) = value_span(input, to_key, json);
    let mut out = input.to_vec();
    out.splice(c..d, value);
    out
}
