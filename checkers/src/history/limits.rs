//! Limits on what a history file may contain, so that hostile input ends in an error naming its
//! line instead of unbounded memory or a silently changed value.
//!
//! Part of the "check" step's reading: [`read_input`] streams a file (or standard input) into
//! memory while enforcing [`MAX_LINE_BYTES`], and [`check_json_integers`] rejects JSON integers
//! that serde_json would otherwise turn into (inexact) floating-point numbers. The nesting
//! limits live with the parsers: `edn::MAX_DEPTH` and serde_json's own limit of 128.

use crate::InputError;
use std::io::Read;

/// The longest line a history may have, in bytes (256 MiB).
///
/// Reading stops at the first longer line, so memory stays bounded even for an endless line on
/// standard input or a FIFO. Real histories have one operation per line (well under a kilobyte);
/// a single-line JSON array or EDN vector may reach this limit only beyond ~2,000,000 operations,
/// and can be re-encoded one operation per line.
pub const MAX_LINE_BYTES: usize = 256 << 20;

/// The smallest JSON integer read exactly (−2^63).
pub const MIN_JSON_INTEGER: i64 = i64::MIN;

/// The largest JSON integer read exactly (2^64 − 1).
pub const MAX_JSON_INTEGER: u64 = u64::MAX;

/// The error for a line longer than `max` bytes.
fn too_long(source: &str, line: usize, max: usize) -> InputError {
    InputError::new(
        source,
        line,
        format!(
            "line longer than {max} bytes: expected at most {max} bytes per line (one operation per line)"
        ),
    )
}

/// Reads the file at `path` (standard input for `-`) into memory, stopping with an error naming
/// the line as soon as a line exceeds [`MAX_LINE_BYTES`].
pub fn read_input(path: &str) -> Result<Vec<u8>, InputError> {
    if path == "-" {
        return read_capped(path, std::io::stdin().lock(), MAX_LINE_BYTES)
            .map_err(|e| e.unwrap_or_else(|io| cannot(path, "standard input", &io)));
    }
    let file = std::fs::File::open(path).map_err(|io| cannot(path, "the file", &io))?;
    // Reserve a regular file's size up front, as `std::fs::read` does, so a large file is not
    // copied (and briefly held twice) while the buffer grows. FIFOs report 0; a reservation
    // that fails (a huge sparse file) is skipped and the buffer grows as it reads.
    let size = file.metadata().map_or(0, |m| m.len());
    let mut buf = Vec::new();
    let _ = buf.try_reserve_exact(usize::try_from(size).unwrap_or(0));
    read_capped_into(path, file, MAX_LINE_BYTES, &mut buf)
        .map_err(|e| e.unwrap_or_else(|io| cannot(path, "the file", &io)))?;
    Ok(buf)
}

fn cannot(path: &str, what: &str, io: &std::io::Error) -> InputError {
    InputError::new(path, 0, format!("cannot read {what}: {io}"))
}

/// Reads all of `reader`, failing at the first line longer than `max` bytes (the error names
/// that line). An I/O error is returned as `Err(Err(io))` for the caller to word.
pub fn read_capped(
    source: &str,
    reader: impl Read,
    max: usize,
) -> Result<Vec<u8>, Result<InputError, std::io::Error>> {
    let mut buf = Vec::new();
    read_capped_into(source, reader, max, &mut buf)?;
    Ok(buf)
}

/// [`read_capped`] appending to `buf`.
fn read_capped_into(
    source: &str,
    mut reader: impl Read,
    max: usize,
    buf: &mut Vec<u8>,
) -> Result<(), Result<InputError, std::io::Error>> {
    let mut chunk = vec![0u8; 1 << 16];
    let mut line = 1;
    let mut line_len = 0usize;
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Err(e)),
        };
        let mut rest = &chunk[..n];
        while let Some(p) = rest.iter().position(|&b| b == b'\n') {
            if line_len + p > max {
                return Err(Ok(too_long(source, line, max)));
            }
            line += 1;
            line_len = 0;
            rest = &rest[p + 1..];
        }
        line_len += rest.len();
        if line_len > max {
            return Err(Ok(too_long(source, line, max)));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// Checks that no line of `bytes` is longer than `max` bytes (for input already in memory).
pub fn check_line_lengths(source: &str, bytes: &[u8], max: usize) -> Result<(), InputError> {
    if bytes.len() <= max {
        return Ok(());
    }
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.len() > max {
            return Err(too_long(source, i + 1, max));
        }
    }
    Ok(())
}

/// Rejects any JSON integer literal outside −2^63..2^64−1, naming its line.
///
/// serde_json reads such integers as the nearest 64-bit float, so two different integers could
/// compare equal and change a verdict; faultline refuses them instead. Floating-point literals
/// (with a fraction or exponent) are read as the nearest 64-bit float, as JSON intends. Strings
/// are skipped; malformed JSON is left for the parser to report.
///
/// `first_line` is the file line `text` starts on.
pub fn check_json_integers(source: &str, text: &str, first_line: usize) -> Result<(), InputError> {
    let bytes = text.as_bytes();
    let mut line = first_line;
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                // JSON strings never span lines; a broken one is the parser's to report.
                b'\n' => {
                    in_string = false;
                    line += 1;
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'\n' => line += 1,
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let token = &text[start..i];
                check_integer_token(source, line, token)?;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// An integer token (no fraction or exponent) must fit in i64 or u64.
fn check_integer_token(source: &str, line: usize, token: &str) -> Result<(), InputError> {
    let digits = token.strip_prefix('-').unwrap_or(token);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    if token.parse::<i64>().is_ok() || token.parse::<u64>().is_ok() {
        return Ok(());
    }
    let shown = if token.len() > 40 {
        format!("{}… ({} digits)", &token[..30], digits.len())
    } else {
        token.to_string()
    };
    Err(InputError::new(
        source,
        line,
        format!(
            "integer out of range: expected an integer between {MIN_JSON_INTEGER} and {MAX_JSON_INTEGER} (larger ones would be read inexactly as floating-point numbers), found {shown}"
        ),
    ))
}

/// Appends up to `n` bytes of `file` to `buf` (the block readers' step); true at the end of
/// the file.
pub(crate) fn fill(file: &mut std::fs::File, buf: &mut Vec<u8>, n: usize) -> std::io::Result<bool> {
    let start = buf.len();
    buf.resize(start + n, 0);
    let mut got = 0;
    while got < n {
        match file.read(&mut buf[start + got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(start + got);
                return Err(e);
            }
        }
    }
    buf.truncate(start + got);
    Ok(got < n)
}

/// How many newlines `bytes` holds (counted with SIMD: a block's lines are counted once per
/// block, and a byte-by-byte count took a tenth of the list-append reader's time).
pub(crate) fn count_newlines(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

/// Where the whole lines of a block being read end (just past its last newline), searching
/// only past the first `*searched` bytes, which an earlier call found without one: a line
/// growing over many reads is scanned once, not once per read. `None` (no newline yet) sets
/// `*searched` to the block's length; a found end resets it for the next block.
pub(crate) fn whole_lines_end(buf: &[u8], searched: &mut usize) -> Option<usize> {
    let from = (*searched).min(buf.len());
    match buf[from..].iter().rposition(|&b| b == b'\n') {
        Some(p) => {
            *searched = 0;
            Some(from + p + 1)
        }
        None => {
            *searched = buf.len();
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_reading_names_the_long_line() {
        let text = b"short\nthis line is long\nx";
        let e = read_capped("t", &text[..], 10).unwrap_err().unwrap();
        assert_eq!((e.line, e.file.as_str()), (2, "t"));
        assert!(e.message.starts_with("line longer than 10 bytes"), "{e}");
        assert_eq!(read_capped("t", &text[..], 17).unwrap(), text.to_vec());
        let e = check_line_lengths("t", text, 10).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(check_line_lengths("t", text, 17).is_ok());
    }

    #[test]
    fn json_integers_beyond_64_bits_are_errors() {
        let ok = "{\"a\":18446744073709551615,\"b\":-9223372036854775808,\"c\":1e400,\"d\":\"123456789012345678901234567890\",\"e\":1.5e3}";
        assert!(check_json_integers("t", ok, 1).is_ok());
        let e = check_json_integers("t", "{}\n{\"value\":18446744073709551616}", 1).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.starts_with("integer out of range"), "{e}");
        let e = check_json_integers("t", "[-9223372036854775809]", 1).unwrap_err();
        assert!(e.message.ends_with("found -9223372036854775809"), "{e}");
        let e = check_json_integers("t", "\"\\\"\" 1\"x\n 99999999999999999999", 1).unwrap_err();
        assert_eq!(e.line, 2);
    }
}
