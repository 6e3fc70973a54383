//! Reading and pairing a history file in one streaming pass, within a memory budget.
//!
//! The "check" step's entry point for a file ([`read_paired`]): faultline's own JSON lines
//! (what `faultline run` writes) are read block by block (up to 4 MiB of whole lines at a time,
//! parsed on all cores by [`super::fast_json`]), and every event is paired
//! ([`super::pairing::Pairer`]) and dropped as soon as it is read, so neither the file's bytes
//! nor its events are ever all in memory: what stays is the paired [`Operation`]s. After each
//! block the memory in use is compared with the budget, and the memory the whole file would
//! need is extrapolated from what the blocks read so far took; when that exceeds the limit the
//! answer is [`Paired::OutOfMemory`] naming the estimate — early, instead of after the memory
//! is gone.
//!
//! The other encodings the compact reader takes (Jepsen EDN, JSON arrays, Jepsen text logs)
//! are read compactly ([`super::read_compact`], budgeted the same way) and rebuilt into
//! operations. Anything else, standard input, and any input these passes find a problem in
//! (a malformed line, a pairing error, invalid UTF-8, an over-long line) go through the
//! general path — [`super::read_history`] then [`super::pair`] over the whole input — so
//! errors, their lines and their precedence are exactly those of the general path.

use super::limits::{self, fill, whole_lines_end, MAX_LINE_BYTES};
use super::pairing::Pairer;
use super::{detect_format, fast_json, json, pair, pair_anonymous, read_history, Format};
use super::{History, Operation};
use crate::budget::MemoryProbe;
use crate::InputError;

/// How much of a file the streaming pass reads at a time, at most: whole lines of a block and
/// their events are in memory together. Blocks are also at most 1/64 of the memory limit, and
/// the first one is 1 MiB, so the first estimate comes before much is spent.
const BLOCK: usize = 4 << 20;

/// The first block's size.
const FIRST_BLOCK: usize = 1 << 20;

/// The memory budget of reading: the limit in bytes and the probe that measures the memory in
/// use (without a probe only the file's size is compared with the limit).
#[derive(Debug, Clone, Copy)]
pub struct ReadBudget {
    /// The memory limit in bytes (`--memory-limit`).
    pub memory_limit: usize,
    /// The bytes of heap currently allocated by the whole process, if the program can tell.
    pub memory_in_use: Option<MemoryProbe>,
}

/// What [`read_paired`] found.
#[derive(Debug)]
pub enum Paired {
    /// The whole history, paired.
    Read {
        /// The encoding it was read from.
        format: Format,
        /// The paired operations, ordered by invocation.
        ops: Vec<Operation>,
        /// How many events (invocations and completions) the file has.
        events: usize,
        /// The 1-based line of a torn last JSON line that was left out (see
        /// [`super::torn_last_line`]).
        torn_line: Option<usize>,
    },
    /// Reading stopped because the history does not fit in the memory limit.
    OutOfMemory {
        /// The memory (bytes) the whole history was estimated to need when reading stopped.
        needed: usize,
        /// Bytes of the file read when reading stopped.
        read: u64,
        /// The file's size in bytes.
        total: u64,
        /// Client and other operations paired when reading stopped.
        ops: usize,
    },
}

/// Reads the history at `path` (standard input for `-`) and pairs its events — as one
/// unnamed client thread for events without a process when `anonymous` (see
/// [`super::pair_anonymous`]) — within `budget`. `forced` as in [`super::read_history`].
pub fn read_paired(
    path: &str,
    forced: Option<Format>,
    anonymous: bool,
    budget: ReadBudget,
) -> Result<Paired, InputError> {
    let file = match (path, std::fs::File::open(path)) {
        ("-", _) => None,
        (_, Ok(f)) if f.metadata().is_ok_and(|m| m.is_file()) => Some(f),
        _ => None,
    };
    let Some(file) = file else {
        return general(path, forced, anonymous, budget);
    };
    // Everything the streaming pass holds is gone before the general path reads the file.
    if let Some(paired) = stream(path, file, forced, anonymous, budget)? {
        return Ok(paired);
    }
    match compact(path, forced, budget) {
        Some(paired) => Ok(paired),
        None => general(path, forced, anonymous, budget),
    }
}

/// Bytes per operation counted, while reading compactly, for what comes after: the rebuilt
/// [`Operation`] (about 400 bytes with its values) and what a workload checker keeps per
/// operation (about 200 bytes: a Jepsen set history of 500k adds read in 354 MiB and checked
/// in 468 MiB).
const REBUILT_OP_BYTES: usize = 600;

/// The other encodings the compact reader takes (Jepsen EDN, one map per line or spread over
/// lines; JSON arrays; Jepsen text logs), read by [`super::read_compact`] within the budget and
/// then rebuilt into the very operations the general path pairs
/// ([`super::CompactHistory::record`]), the compact history dropped: the reading holds 72
/// bytes per operation and its distinct values instead of the whole input parsed (20–35 bytes
/// per byte). A named process's record keeps no completion value (nothing that reads these
/// operations looks at one). `None`: the general path reads the file (anything the compact
/// reader does not take, including events without a process and every malformed file).
fn compact(path: &str, forced: Option<Format>, budget: ReadBudget) -> Option<Paired> {
    let read = super::read_compact(
        path,
        forced,
        budget.memory_limit,
        budget.memory_in_use,
        REBUILT_OP_BYTES,
    )?;
    Some(match read {
        super::CompactRead::Read {
            history,
            events,
            torn_line,
            format,
        } => Paired::Read {
            format,
            ops: (0..history.len())
                .map(|id| history.record(id))
                .collect::<Option<_>>()?,
            events,
            torn_line,
        },
        super::CompactRead::OutOfMemory {
            needed,
            read,
            total,
            ops,
            ..
        } => Paired::OutOfMemory {
            needed,
            read,
            total,
            ops,
        },
    })
}

/// The streaming pass of [`read_paired`] over the regular file `file`; `None` hands the file
/// to the general path (anything it does not take, including every malformed file).
fn stream(
    path: &str,
    mut file: std::fs::File,
    forced: Option<Format>,
    anonymous: bool,
    budget: ReadBudget,
) -> Result<Option<Paired>, InputError> {
    let total = file.metadata().map_or(0, |m| m.len());
    let block_size = (budget.memory_limit / 64).clamp(FIRST_BLOCK, BLOCK);
    let mut buf: Vec<u8> = Vec::with_capacity(block_size.min(total as usize) + 1);
    let mut eof = fill(&mut file, &mut buf, FIRST_BLOCK).map_err(|e| cannot(path, &e))?;
    if !streamable(&buf, eof, forced) {
        drop(buf);
        return Ok(None);
    }
    let probe = budget.memory_in_use;
    let base = probe.map_or(0, |p| p());
    let mut pairer = Pairer::new(path, anonymous);
    let mut events = 0usize;
    let mut read: u64 = 0;
    let mut line = 1usize;
    let mut first = true;
    // Bytes at the start of `buf` already searched for a newline (a long line's).
    let mut searched = 0usize;
    loop {
        // Whole lines only, unless the file ended.
        let cut = if eof {
            buf.len()
        } else {
            match whole_lines_end(&buf, &mut searched) {
                Some(end) => end,
                None if buf.len() > MAX_LINE_BYTES => return Ok(None),
                None => {
                    eof = fill(&mut file, &mut buf, block_size).map_err(|e| cannot(path, &e))?;
                    continue;
                }
            }
        };
        let region = &buf[..cut];
        let skip_bom = if first && region.starts_with("\u{feff}".as_bytes()) {
            3
        } else {
            0
        };
        first = false;
        let Ok(text) = std::str::from_utf8(&region[skip_bom..]) else {
            return Ok(None);
        };
        if limits::check_line_lengths(path, text.as_bytes(), MAX_LINE_BYTES).is_err() {
            return Ok(None);
        }
        let torn = if eof {
            json::torn_last_line(text).map(|l| line + l - 1)
        } else {
            None
        };
        let Ok(block) = fast_json::parse_parallel_parts(text, line, torn, path, false) else {
            return Ok(None);
        };
        let block_events: usize = block.iter().map(Vec::len).sum();
        if pairer.len() == 0 && block_events > 0 && !eof {
            // About as many operations as half the events per byte suggest, so that the
            // list of operations is allocated once rather than grown by doubling.
            let per_byte = block_events as f64 / cut as f64;
            pairer.reserve((per_byte * total as f64 / 2.0 * 1.05) as usize);
        }
        events += block_events;
        for ev in block.into_iter().flatten() {
            if pairer.push_owned(ev).is_err() {
                return Ok(None);
            }
        }
        line += super::limits::count_newlines(text.as_bytes());
        read += cut as u64;
        if eof {
            let ops = pairer.finish();
            return Ok(Some(Paired::Read {
                format: Format::JsonLines,
                ops,
                events,
                torn_line: torn,
            }));
        }
        if let Some(probe) = probe {
            let used = probe();
            let size = std::mem::size_of::<Operation>();
            // The list of operations is reserved up front: count it once, at the size the
            // whole file needs, and extrapolate the rest (what each operation holds on the
            // heap) from the bytes read so far.
            let scale = total as f64 / read as f64;
            let list_now = pairer.capacity() * size;
            let list_final = list_now.max((pairer.len() as f64 * scale) as usize * size);
            let rest = used.saturating_sub(base).saturating_sub(list_now);
            let needed = base + list_final + (rest as f64 * scale) as usize;
            // The estimate is trusted once the list of operations is reserved (after the
            // first block); before that, only the memory really in use stops reading.
            let estimated = pairer.capacity() > pairer.len();
            if used > budget.memory_limit || (estimated && needed > budget.memory_limit) {
                return Ok(Some(Paired::OutOfMemory {
                    needed: needed.max(used),
                    read,
                    total,
                    ops: pairer.len(),
                }));
            }
        }
        buf.drain(..cut);
        eof = fill(&mut file, &mut buf, block_size).map_err(|e| cannot(path, &e))?;
        if buf.is_empty() && eof {
            let ops = pairer.finish();
            return Ok(Some(Paired::Read {
                format: Format::JsonLines,
                ops,
                events,
                torn_line: None,
            }));
        }
    }
}

/// True when the first block shows faultline's JSON lines (or `--format-in json-lines` says
/// so): the streaming pass applies.
fn streamable(first: &[u8], eof: bool, forced: Option<Format>) -> bool {
    match forced {
        Some(Format::JsonLines) => return true,
        Some(_) => return false,
        None => {}
    }
    let cut = if eof {
        first.len()
    } else {
        first.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1)
    };
    let Ok(text) = std::str::from_utf8(&first[..cut]) else {
        return false;
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Detection decides on the first character that is not blank or in a comment; a prefix
    // with no such character cannot decide for the whole file.
    text.bytes().any(|b| !b.is_ascii_whitespace())
        && matches!(detect_format("-", text), Ok(Format::JsonLines))
}

fn cannot(path: &str, io: &std::io::Error) -> InputError {
    InputError::new(path, 0, format!("cannot read the file: {io}"))
}

/// Heap bytes the general path takes per byte of input while it reads, parses and pairs it
/// (peak resident memory over input size, measured 2026-12-06: JSON lines 17.5 for a register
/// history and 29.5 for list-append, a JSON array 22, a Jepsen text log 26.5, EDN 19 with one
/// map per line, 32–35 pretty-printed): the largest, so that the estimate errs towards an
/// early `unknown` rather than past the limit.
pub const GENERAL_BYTES_PER_BYTE: usize = 36;

/// The general path: the whole input read, parsed and then paired. An input whose reading
/// would need more than the memory limit ([`GENERAL_BYTES_PER_BYTE`] per byte) is not parsed;
/// a file larger than the limit is not even read (a smaller one is, so that a line over the
/// readers' cap is still named as bad input).
fn general(
    path: &str,
    forced: Option<Format>,
    anonymous: bool,
    budget: ReadBudget,
) -> Result<Paired, InputError> {
    let too_large = |len: u64| {
        let used = budget.memory_in_use.map_or(0, |p| p());
        let needed = used.saturating_add(
            usize::try_from(len)
                .unwrap_or(usize::MAX)
                .saturating_mul(GENERAL_BYTES_PER_BYTE),
        );
        (needed > budget.memory_limit).then_some(Paired::OutOfMemory {
            needed,
            read: 0,
            total: len,
            ops: 0,
        })
    };
    if path != "-" {
        if let Ok(m) = std::fs::metadata(path) {
            if m.is_file() && m.len() > budget.memory_limit as u64 {
                if let Some(stop) = too_large(m.len()) {
                    return Ok(stop);
                }
            }
        }
    }
    let bytes = limits::read_input(path)?;
    if let Some(stop) = too_large(bytes.len() as u64) {
        return Ok(stop);
    }
    let history: History = read_history(path, &bytes, forced)?;
    let torn_line = if history.format == Format::JsonLines {
        std::str::from_utf8(&bytes)
            .ok()
            .and_then(json::torn_last_line)
    } else {
        None
    };
    drop(bytes);
    let ops = if anonymous {
        pair_anonymous(&history)?
    } else {
        pair(&history)?
    };
    Ok(Paired::Read {
        format: history.format,
        events: history.events.len(),
        ops,
        torn_line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(limit: usize) -> ReadBudget {
        ReadBudget {
            memory_limit: limit,
            memory_in_use: None,
        }
    }

    /// The general path's answer for `text`: pairs and format, or the error.
    fn general_of(path: &str, text: &str) -> Result<(Vec<Operation>, Format), InputError> {
        let h = read_history(path, text.as_bytes(), None)?;
        Ok((pair(&h)?, h.format))
    }

    fn streamed(path: &str) -> Result<(Vec<Operation>, Format), InputError> {
        // Blocks of 1 MiB, then 4 MiB; room for the general path's estimate of a malformed
        // file that falls back to it (36 bytes per byte).
        match read_paired(path, None, false, budget(256 << 20))? {
            Paired::Read { format, ops, .. } => Ok((ops, format)),
            other => panic!("{other:?}"),
        }
    }

    fn history(n: usize) -> String {
        let mut text = String::from("\u{feff}");
        for i in 0..n {
            let p = i % 5;
            text.push_str(&format!(
                "{{\"index\":{},\"process\":{p},\"type\":\"invoke\",\"f\":\"write\",\"key\":{},\"value\":{i},\"node\":\"n\\u0031\"}}\r\n",
                2 * i,
                i % 3
            ));
            if i % 7 == 0 {
                text.push_str("\n  \n");
            }
            let kind = ["ok", "fail", "info"][i % 3];
            text.push_str(&format!(
                "{{\"index\":{},\"process\":{p},\"type\":\"{kind}\",\"f\":\"write\",\"key\":{},\"value\":{i},\"time\":1.5}}\n",
                2 * i + 1,
                i % 3
            ));
        }
        text
    }

    #[test]
    fn streaming_over_many_blocks_pairs_exactly_as_the_general_path() {
        let dir = std::env::temp_dir().join(format!("faultline-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = history(40_000); // about 5 MiB: several blocks
        let torn = format!("{text}{{\"index\":1,\"type\":\"inv");
        let nemesis =
            format!("{text}{{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start\"}}");
        // A pairing error early and a malformed line later: the malformed line is reported,
        // as the general path (which parses everything before pairing) does.
        let mut both = text.clone();
        both.insert_str(3, "{\"process\":9,\"type\":\"ok\"}\n");
        both.push_str("{\"type\":\n");
        let pairing_only = format!("{text}{{\"process\":1,\"type\":\"ok\"}}\n");
        for (name, t) in [
            ("plain", &text),
            ("torn", &torn),
            ("nemesis", &nemesis),
            ("both", &both),
            ("pairing", &pairing_only),
        ] {
            let path = dir.join(format!("{name}.jsonl"));
            std::fs::write(&path, t).unwrap();
            let path = path.to_str().unwrap();
            assert_eq!(streamed(path), general_of(path, t), "{name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A general-path file whose reading would need more than the limit is not parsed, even
    /// when the file itself is smaller than the limit (2.4 MB against 32 MiB: the general
    /// path would need about 86 MB), and a file larger than the limit is not even read.
    #[test]
    fn a_file_whose_reading_needs_more_than_the_limit_is_out_of_memory_before_it_is_read() {
        let dir = std::env::temp_dir().join(format!("faultline-oom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.edn");
        std::fs::write(&path, "{:type :ok}\n".repeat(200_000)).unwrap();
        for limit in [1 << 20, 32 << 20] {
            let got = read_paired(path.to_str().unwrap(), None, false, budget(limit)).unwrap();
            assert!(
                matches!(got, Paired::OutOfMemory { read: 0, needed, .. }
                    if needed == 2_400_000 * GENERAL_BYTES_PER_BYTE),
                "{got:?}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
