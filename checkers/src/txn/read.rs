//! Reading a list-append or rw-register history compactly: the "check" step's reader for the
//! transactional checkers, between the file and [`super::txns`].
//!
//! faultline's own JSON lines are read block by block (whole lines, up to 16 MiB at a time)
//! and parsed on all cores by a typed serde visitor that writes each transaction's
//! micro-operations straight into flat arrays of integers ([`RawMop`]s and their list
//! elements), so no `serde_json::Value` is built or kept per operation. Events are then paired
//! by the history's own [`Pairer`] (same operations, same errors) with a null value, on a
//! thread of its own while the next block is read and parsed (the memory estimate leaves out
//! what the reading stage holds: [`Stages::held`]); the
//! micro-operations that matter (a completion's for an `ok` transaction, the invocation's
//! otherwise) are kept per operation in [`CompactTxns`], which [`super::txns::extract_with`]
//! interns in operation order — so transactions, ids, anomalies and messages are those of the
//! general path.
//!
//! Only lines of one simple shape take this path: the fields `type`, `index`, `time`,
//! `process` (an integer), `f` and a `value` that is an array of `[f, integer key, null |
//! integer | list of integers]`. Any other line is read by the JSON-lines reader's own line
//! parser (its value kept as a `Value` and extracted as before). A transaction whose value
//! could not be rewritten exactly from its interned form, or that the checker will refuse,
//! keeps its `Value` too. Anything else — another encoding, standard input, a malformed or
//! over-long line, invalid UTF-8, a pairing error — hands the whole file to the general
//! reader ([`crate::history::read_paired`]), so every error, line number and precedence is
//! exactly the general path's.

use super::txns::{Mop, MopKind, TxnKind, Txns, NIL};
use crate::history::limits::{
    check_line_lengths, count_newlines, fill, whole_lines_end, MAX_LINE_BYTES,
};
use crate::history::{
    detect_format, parse_line, read_paired, torn_last_line, Event, EventType, Format, Operation,
    Outcome, Paired, Pairer, Process, ReadBudget,
};
use crate::InputError;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest block of whole lines read at a time (also at most 1/64 of the memory limit).
const BLOCK: usize = 16 << 20;
/// The first block's size: the format is detected and the first estimate made on it.
const FIRST_BLOCK: usize = 1 << 20;
/// Chunks of a block parsed in parallel are at least this large.
const MIN_CHUNK: usize = 1 << 20;
/// A chunk reserves one event per this many bytes of its text…
const BYTES_PER_REC: usize = 100;
/// …and one micro-operation per this many.
const BYTES_PER_MOP: usize = 40;
/// "No range": the operation's value is in the [`Operation`] itself.
const NONE: u32 = u32::MAX;

/// The value of a micro-operation as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawVal {
    /// `null`.
    Nil,
    /// An integer.
    Int(i64),
    /// A list of integers: `elems[start..start + len]`.
    List(u32, u32),
}

/// One micro-operation as read: `[f, key, value]` with an integer key.
#[derive(Debug, Clone, Copy)]
pub struct RawMop {
    /// `append`, `r` or `w`.
    pub kind: MopKind,
    /// The key.
    pub key: i64,
    /// The value.
    pub val: RawVal,
}

/// The transactions the compact reader parsed, per operation: what
/// `txns::extract_with` interns instead of the operations' values.
#[derive(Debug, Default)]
pub struct CompactTxns {
    /// Operation id → range into `mops` ([`NONE`]: the operation's `Value` holds it).
    ranges: Vec<(u32, u32)>,
    mops: Vec<RawMop>,
    elems: Vec<i64>,
}

/// The micro-operations of one transaction, with the list elements they point into.
pub(crate) struct RawTxn<'a> {
    pub(crate) mops: &'a [RawMop],
    elems: &'a [i64],
}

impl CompactTxns {
    /// The micro-operations of operation `op`, if this reader kept them.
    pub(crate) fn of(&self, op: usize) -> Option<RawTxn<'_>> {
        let &(a, b) = self.ranges.get(op)?;
        (a != NONE).then(|| RawTxn {
            mops: &self.mops[a as usize..b as usize],
            elems: &self.elems,
        })
    }

    /// How many micro-operations are kept (an upper bound of those used).
    pub(crate) fn mop_count(&self) -> usize {
        self.mops.len()
    }

    /// Copies `mops` (elements in `elems`) in; returns its range.
    fn keep(&mut self, mops: &[RawMop], elems: &[i64]) -> (u32, u32) {
        let a = self.mops.len() as u32;
        copy_mops(&mut self.mops, &mut self.elems, mops, elems);
        (a, self.mops.len() as u32)
    }

    fn set(&mut self, op: usize, range: (u32, u32)) {
        if self.ranges.len() <= op {
            self.ranges.resize(op + 1, (NONE, NONE));
        }
        self.ranges[op] = range;
    }
}

/// Appends `mops` (their lists in `elems`) to `to_mops`, their lists to `to_elems`.
fn copy_mops(to_mops: &mut Vec<RawMop>, to_elems: &mut Vec<i64>, mops: &[RawMop], elems: &[i64]) {
    for m in mops {
        let val = match m.val {
            RawVal::List(s, n) => {
                let at = to_elems.len() as u32;
                to_elems.extend_from_slice(&elems[s as usize..(s + n) as usize]);
                RawVal::List(at, n)
            }
            v => v,
        };
        to_mops.push(RawMop { val, ..*m });
    }
}

impl RawTxn<'_> {
    /// `m` interned into `out`, exactly as [`super::txns`] interns the same micro-operation
    /// read as JSON (the shape was validated when it was kept: see [`exact`]).
    pub(crate) fn interned(&self, m: &RawMop, ok: bool, workload: TxnKind, out: &mut Txns) -> Mop {
        let key = out.keys.intern_int(m.key);
        let mut mop = Mop {
            kind: m.kind,
            key,
            value: NIL,
            list: NIL,
        };
        match (m.kind, m.val) {
            (MopKind::Append | MopKind::Write, RawVal::Int(v)) => {
                mop.value = out.values.intern_int(v)
            }
            (MopKind::Read, RawVal::Int(v)) if ok && workload == TxnKind::RwRegister => {
                mop.value = out.values.intern_int(v)
            }
            (MopKind::Read, RawVal::List(s, n)) if ok && workload == TxnKind::ListAppend => {
                let a = out.elems.len() as u32;
                for &e in &self.elems[s as usize..(s + n) as usize] {
                    let id = out.values.intern_int(e);
                    out.elems.push(id);
                }
                mop.list = out.lists.len() as u32;
                out.lists.push((a, out.elems.len() as u32));
            }
            _ => {}
        }
        mop
    }
}

/// True when the transaction `mops` of an operation ending `ok` (or not) can be kept compactly:
/// the checker accepts it, and its value is exactly what [`super::cases`] rewrites from the
/// interned form (a read of a transaction that did not complete `ok` is `null`; a list-append
/// read that completed `ok` is a list; a register read or write is an integer or `null`).
fn exact(mops: &[RawMop], ok: bool, workload: TxnKind) -> bool {
    mops.iter().all(|m| match (workload, m.kind, m.val) {
        (TxnKind::ListAppend, MopKind::Append, RawVal::Int(_)) => true,
        (TxnKind::RwRegister, MopKind::Write, RawVal::Int(_) | RawVal::Nil) => true,
        (_, MopKind::Read, RawVal::Nil) => !ok || workload == TxnKind::RwRegister,
        (TxnKind::ListAppend, MopKind::Read, RawVal::List(..)) => ok,
        (TxnKind::RwRegister, MopKind::Read, RawVal::Int(_)) => ok,
        _ => false,
    })
}

/// The JSON value of a transaction as read (used when it is kept as a `Value`).
fn to_value(mops: &[RawMop], elems: &[i64]) -> Value {
    Value::Array(
        mops.iter()
            .map(|m| {
                let f = match m.kind {
                    MopKind::Append => "append",
                    MopKind::Read => "r",
                    MopKind::Write => "w",
                };
                let v = match m.val {
                    RawVal::Nil => Value::Null,
                    RawVal::Int(i) => Value::from(i),
                    RawVal::List(s, n) => Value::Array(
                        elems[s as usize..(s + n) as usize]
                            .iter()
                            .map(|&e| Value::from(e))
                            .collect(),
                    ),
                };
                Value::Array(vec![Value::from(f), Value::from(m.key), v])
            })
            .collect(),
    )
}

/// What [`read_txn_paired`] read: as [`read_paired`], plus the compactly read transactions
/// (`None` when the general reader read the file).
pub type TxnPaired = (Paired, Option<CompactTxns>);

/// Reads and pairs the history at `path` for the `workload` checker (events without a process
/// are one unnamed client thread, as for every workload checker), within `budget`; `forced`
/// as in [`crate::history::read_history`]. Operations whose transaction was read compactly
/// carry `null` values; pass the [`CompactTxns`] to [`super::check_compact`].
pub fn read_txn_paired(
    path: &str,
    forced: Option<Format>,
    workload: TxnKind,
    budget: ReadBudget,
) -> Result<TxnPaired, InputError> {
    let general = || read_paired(path, forced, true, budget).map(|p| (p, None));
    match compact(path, forced, workload, budget) {
        Some(done) => Ok(done),
        None => general(),
    }
}

/// The compact pass; `None` hands the file to the general reader.
fn compact(
    path: &str,
    forced: Option<Format>,
    workload: TxnKind,
    budget: ReadBudget,
) -> Option<TxnPaired> {
    if path == "-" || !matches!(forced, None | Some(Format::JsonLines)) {
        return None;
    }
    let mut file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let total = meta.len();
    let block_size = (budget.memory_limit / 64).clamp(FIRST_BLOCK, BLOCK);
    let mut buf: Vec<u8> = Vec::with_capacity(block_size.min(total as usize) + 1);
    let eof = fill(&mut file, &mut buf, FIRST_BLOCK).ok()?;
    if forced.is_none() && !json_lines(&buf, eof) {
        return None;
    }
    let probe = budget.memory_in_use;
    let base = probe.map_or(0, |p| p());
    let st = State {
        pairer: Pairer::new(path, true),
        out: CompactTxns::default(),
        pending: hashbrown::HashMap::new(),
        values: Vec::new(),
        workload,
        scratch: Event {
            line: 0,
            index: None,
            time: None,
            process: None,
            kind: EventType::Invoke,
            f: None,
            key: None,
            value: Value::Null,
            error: None,
            extra: serde_json::Map::new(),
        },
    };
    // Two stages overlap: this thread reads and parses block k+1 (on all cores) while a
    // pairing thread pairs block k's events, which must be done in file order. The
    // pairing thread hands each block's buffer back for reuse (its pages already faulted in).
    let held = AtomicUsize::new(buf.capacity());
    std::thread::scope(|scope| {
        let (blocks, received) = std::sync::mpsc::sync_channel::<Block>(1);
        let (spent, spare) = std::sync::mpsc::channel::<Vec<u8>>();
        let stages = Stages {
            held: &held,
            total,
            budget,
            base,
        };
        let pairing = scope.spawn(move || pair_blocks(st, received, spent, stages));
        let reading = read_blocks(
            path, &mut file, buf, eof, block_size, &blocks, &spare, &held,
        );
        drop(blocks);
        let paired = match pairing.join() {
            Ok(paired) => paired,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        match paired {
            // A history found too large while the next blocks were being read: the
            // estimate stands, whatever those blocks hold.
            Some((Paired::OutOfMemory { .. }, _)) => paired,
            _ => reading.and(paired),
        }
    })
}

/// What both stages of the compact pass share.
#[derive(Clone, Copy)]
struct Stages<'a> {
    /// Bytes the reading stage holds — every block buffer (being read, parsed, paired or
    /// spare) and the parsed events not yet paired — which the history will not take once
    /// read: left out of the memory estimate's extrapolation.
    held: &'a AtomicUsize,
    /// The file's size.
    total: u64,
    budget: ReadBudget,
    /// Memory in use before reading.
    base: usize,
}

/// The heap a block's parsed events take (their lists' capacities).
fn weight(chunks: &[Chunk]) -> usize {
    chunks
        .iter()
        .map(|c| {
            c.recs.capacity() * std::mem::size_of::<Rec>()
                + c.slow.capacity() * std::mem::size_of::<Event>()
                + c.mops.capacity() * std::mem::size_of::<RawMop>()
                + c.elems.capacity() * 8
        })
        .sum()
}

/// [`weight`] before parsing `len` bytes: what [`parse_chunk`] reserves.
fn weight_before(len: usize) -> usize {
    len / BYTES_PER_REC * std::mem::size_of::<Rec>()
        + len / BYTES_PER_MOP * std::mem::size_of::<RawMop>()
}

/// Reserves room for `additional` more bytes in `buf`, counting its growth in `held`
/// before the bytes are written.
fn reserve_held(held: &AtomicUsize, buf: &mut Vec<u8>, additional: usize) {
    let before = buf.capacity();
    buf.reserve(additional);
    held.fetch_add(buf.capacity() - before, Ordering::Relaxed);
}

/// One block of whole lines on its way from the reading thread to the pairing thread.
struct Block {
    /// The bytes read; the block's text is `buf[skip..cut]`, valid UTF-8 (`skip`: a
    /// byte-order mark at the start of the file).
    buf: Vec<u8>,
    skip: usize,
    cut: usize,
    /// The block's events, parsed.
    chunks: Vec<Chunk>,
    /// Bytes of the file up to the end of this block.
    read: u64,
    /// True for the file's last block.
    eof: bool,
    /// The torn last line, in the last block.
    torn: Option<usize>,
    /// [`weight`] of `chunks`, counted in [`Stages::held`] until they are paired.
    weight: usize,
}

/// The reading stage: cuts the file into blocks of whole lines (the first, `buf`, already
/// read), parses each on all cores and sends it to the pairing stage. `None` when a block
/// cannot take the compact path (the general reader reports why) or the pairing stage
/// stopped.
#[allow(clippy::too_many_arguments)]
fn read_blocks(
    path: &str,
    file: &mut std::fs::File,
    mut buf: Vec<u8>,
    mut eof: bool,
    block_size: usize,
    blocks: &std::sync::mpsc::SyncSender<Block>,
    spare: &std::sync::mpsc::Receiver<Vec<u8>>,
    held: &AtomicUsize,
) -> Option<()> {
    let mut read: u64 = 0;
    let mut line = 1usize;
    let mut first = true;
    // Bytes at the start of `buf` already searched for a newline (a long line's).
    let mut searched = 0usize;
    loop {
        let cut = if eof {
            buf.len()
        } else {
            match whole_lines_end(&buf, &mut searched) {
                Some(end) => end,
                None if buf.len() > MAX_LINE_BYTES => return None,
                None => {
                    reserve_held(held, &mut buf, block_size);
                    eof = fill(file, &mut buf, block_size).ok()?;
                    continue;
                }
            }
        };
        let region = &buf[..cut];
        let skip = if first && region.starts_with("\u{feff}".as_bytes()) {
            3
        } else {
            0
        };
        first = false;
        let text = std::str::from_utf8(&region[skip..]).ok()?;
        check_line_lengths(path, text.as_bytes(), MAX_LINE_BYTES).ok()?;
        let torn = if eof {
            torn_last_line(text).map(|l| line + l - 1)
        } else {
            None
        };
        let reserved = weight_before(text.len());
        held.fetch_add(reserved, Ordering::Relaxed);
        let chunks = parse_block(text, line, torn, path);
        held.fetch_sub(reserved, Ordering::Relaxed);
        let chunks = chunks?;
        let weight = weight(&chunks);
        held.fetch_add(weight, Ordering::Relaxed);
        line += count_newlines(text.as_bytes());
        read += cut as u64;
        // The next block's buffer, with room for the rest of this one and a block more,
        // counted before it is filled.
        let mut next = spare.try_recv().unwrap_or_default();
        next.clear();
        reserve_held(held, &mut next, buf.len() - cut + block_size);
        next.extend_from_slice(&buf[cut..]);
        let last = eof;
        blocks
            .send(Block {
                buf,
                skip,
                cut,
                chunks,
                read,
                eof: last,
                torn,
                weight,
            })
            .ok()?;
        if last {
            return Some(());
        }
        buf = next;
        eof = fill(file, &mut buf, block_size).ok()?;
        if buf.is_empty() && eof {
            // The file ended with the previous block.
            let end = Block {
                buf,
                skip: 0,
                cut: 0,
                chunks: Vec::new(),
                read,
                eof: true,
                torn: None,
                weight: 0,
            };
            return blocks.send(end).ok();
        }
    }
}

/// The pairing stage: pairs the blocks' events in file order. `None` on a pairing error or
/// when the reading stage stopped early.
fn pair_blocks(
    mut st: State,
    received: std::sync::mpsc::Receiver<Block>,
    spent: std::sync::mpsc::Sender<Vec<u8>>,
    stages: Stages,
) -> Option<TxnPaired> {
    let Stages {
        held,
        total,
        budget,
        base,
    } = stages;
    let probe = budget.memory_in_use;
    let mut events = 0usize;
    for block in received {
        let Block {
            buf,
            skip,
            cut,
            chunks,
            read,
            eof,
            torn,
            weight,
        } = block;
        if st.pairer.len() == 0 && !eof {
            // Room for the whole file, estimated from this block: the lists grow once
            // instead of doubling past what they need.
            let scale = total as f64 / cut.max(1) as f64 * 1.05;
            let sum = |f: fn(&Chunk) -> usize| chunks.iter().map(f).sum::<usize>() as f64;
            let ops = (sum(|c| c.recs.len()) * scale / 2.0) as usize;
            st.pairer.reserve(ops);
            st.out.ranges.reserve(ops);
            // Each operation keeps one side's micro-operations; the elements are mostly the
            // completions' reads.
            st.out
                .mops
                .reserve((sum(|c| c.mops.len()) * scale / 2.0) as usize);
            st.out
                .elems
                .reserve((sum(|c| c.elems.len()) * scale) as usize);
        }
        let text = &buf[skip..cut];
        for chunk in chunks {
            events += chunk.recs.len();
            st.push_chunk(chunk, text)?;
        }
        held.fetch_sub(weight, Ordering::Relaxed);
        if eof {
            return Some(st.finish(events, torn));
        }
        if let Some(probe) = probe {
            let used = probe();
            // The lists reserved up front (operations, their ranges, micro-operations and
            // elements) are counted once, at the size the whole file needs; the rest (what
            // each operation holds on the heap) is extrapolated from the bytes read so far.
            // The checker then interns the kept micro-operations into lists about half their
            // size and indexes them: counted as much again as they take.
            let scale = total as f64 / read as f64;
            let grown = |cap: usize, len: usize, size: usize| {
                (
                    cap * size,
                    (cap * size).max((len as f64 * scale) as usize * size),
                )
            };
            let lists = [
                grown(
                    st.pairer.capacity(),
                    st.pairer.len(),
                    std::mem::size_of::<Operation>(),
                ),
                grown(st.out.ranges.capacity(), st.out.ranges.len(), 8),
                grown(
                    st.out.mops.capacity(),
                    st.out.mops.len(),
                    std::mem::size_of::<RawMop>(),
                ),
                grown(st.out.elems.capacity(), st.out.elems.len(), 8),
            ];
            let lists_now: usize = lists.iter().map(|l| l.0).sum();
            let lists_final: usize = lists.iter().map(|l| l.1).sum();
            let arrays_final = lists[2].1 + lists[3].1;
            let rest = used
                .saturating_sub(base)
                .saturating_sub(lists_now)
                .saturating_sub(held.load(Ordering::Relaxed));
            let needed = base + lists_final + arrays_final + (rest as f64 * scale) as usize;
            let estimated = st.pairer.capacity() > st.pairer.len();
            if used > budget.memory_limit || (estimated && needed > budget.memory_limit) {
                return Some((
                    Paired::OutOfMemory {
                        needed: needed.max(used),
                        read,
                        total,
                        ops: st.pairer.len(),
                    },
                    None,
                ));
            }
        }
        // The reading stage may have stopped: then the buffer is simply dropped.
        let _ = spent.send(buf);
    }
    None
}

/// True when the first block is JSON lines (as [`detect_format`] decides on whole lines).
fn json_lines(first: &[u8], eof: bool) -> bool {
    let cut = if eof {
        first.len()
    } else {
        first.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1)
    };
    let Ok(text) = std::str::from_utf8(&first[..cut]) else {
        return false;
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.bytes().any(|b| !b.is_ascii_whitespace())
        && matches!(detect_format("-", text), Ok(Format::JsonLines))
}

/// The events of a run of lines, with the micro-operations of those read compactly.
struct Chunk {
    /// Each event in file order.
    recs: Vec<Rec>,
    /// The events of the lines the compact path did not take, in full.
    slow: Vec<Event>,
    mops: Vec<RawMop>,
    elems: Vec<i64>,
}

/// One event as the compact path reads it: the fields of an [`Event`] the simple shape can
/// have (`f` as a byte range of the block's text), its micro-operations as a range of the
/// chunk's, or the index of its full event in [`Chunk::slow`].
struct Rec {
    line: usize,
    index: Option<i64>,
    time: Option<i64>,
    process: Option<i64>,
    kind: EventType,
    f: Option<(u32, u32)>,
    mops: (u32, u32),
    /// Index into [`Chunk::slow`], or [`NONE`].
    slow: u32,
}

/// Parses the whole lines of `text` (first line `first_line`, stopping before `stop`) in
/// chunks on all cores; `None` when any line is malformed (the general reader reports it).
fn parse_block(
    text: &str,
    first_line: usize,
    stop: Option<usize>,
    source: &str,
) -> Option<Vec<Chunk>> {
    let threads = rayon::current_num_threads().max(1);
    let block = text.as_ptr() as usize;
    if threads == 1 || text.len() < 2 * MIN_CHUNK {
        return Some(vec![parse_chunk(text, block, first_line, stop, source)?]);
    }
    let pieces = (threads * 4).min(text.len() / MIN_CHUNK).max(2);
    let target = text.len() / pieces;
    let bytes = text.as_bytes();
    let mut bounds: Vec<(usize, usize, usize)> = Vec::with_capacity(pieces + 1);
    let (mut start, mut line) = (0, first_line);
    while start < text.len() {
        let end = if start + target >= text.len() {
            text.len()
        } else {
            match bytes[start + target..].iter().position(|&b| b == b'\n') {
                Some(nl) => start + target + nl + 1,
                None => text.len(),
            }
        };
        bounds.push((start, end, line));
        line += count_newlines(&bytes[start..end]);
        start = end;
    }
    use rayon::prelude::*;
    bounds
        .par_iter()
        .map(|&(s, e, l)| parse_chunk(&text[s..e], block, l, stop, source))
        .collect()
}

/// Parses a run of lines sequentially; `block` is the address of the block's text, which
/// `text` lies in (`f`s are kept as byte ranges of it).
fn parse_chunk(
    text: &str,
    block: usize,
    first_line: usize,
    stop: Option<usize>,
    source: &str,
) -> Option<Chunk> {
    let mut c = Chunk {
        recs: Vec::with_capacity(text.len() / BYTES_PER_REC + 1),
        slow: Vec::new(),
        mops: Vec::with_capacity(text.len() / BYTES_PER_MOP + 1),
        elems: Vec::new(),
    };
    for (i, raw) in text.split('\n').enumerate() {
        let line = first_line + i;
        if stop == Some(line) {
            break;
        }
        let content = raw.strip_suffix('\r').unwrap_or(raw);
        if content.trim().is_empty() {
            continue;
        }
        let (m0, e0) = (c.mops.len(), c.elems.len());
        match fast_line(content, block, line, &mut c) {
            Some(mut rec) => {
                rec.mops = (m0 as u32, c.mops.len() as u32);
                c.recs.push(rec);
            }
            None => {
                c.mops.truncate(m0);
                c.elems.truncate(e0);
                let ev = parse_line(content, line, source, true).ok()?;
                c.recs.push(Rec {
                    line,
                    index: None,
                    time: None,
                    process: None,
                    kind: ev.kind,
                    f: None,
                    mops: (0, 0),
                    slow: c.slow.len() as u32,
                });
                c.slow.push(ev);
            }
        }
    }
    Some(c)
}

/// A client thread's pending invocation.
#[derive(Default)]
struct Pending {
    /// The operation, while it waits for its completion.
    op: Option<usize>,
    /// True when its invocation was read compactly, into `mops` and `elems`.
    compact: bool,
    mops: Vec<RawMop>,
    elems: Vec<i64>,
}

/// Pairing state of the compact pass.
struct State<'a> {
    pairer: Pairer<'a>,
    out: CompactTxns,
    /// Client thread (`None`: the events without a process) → its pending operation.
    pending: hashbrown::HashMap<Option<i64>, Pending>,
    /// Transactions kept as the `Value` the general reader would give: (operation, ended
    /// `ok` (the value is its output), value).
    values: Vec<(usize, bool, Value)>,
    workload: TxnKind,
    /// The event handed to the pairer for each compactly read line (reused).
    scratch: Event,
}

impl State<'_> {
    /// Pairs the events of `chunk`, parsed from the block `text`; `None` on a pairing error
    /// (the general reader reports it).
    fn push_chunk(&mut self, chunk: Chunk, text: &[u8]) -> Option<()> {
        let Chunk {
            recs,
            slow,
            mops,
            elems,
        } = chunk;
        for rec in recs {
            let (ev, range) = if rec.slow == NONE {
                // One event reused: only `f` may need a new string.
                let ev = &mut self.scratch;
                ev.line = rec.line;
                ev.index = rec.index;
                ev.time = rec.time;
                ev.process = rec.process.map(Process::Client);
                ev.kind = rec.kind;
                let f = rec.f.map(|(a, n)| &text[a as usize..(a + n) as usize]);
                if ev.f.as_deref().map(str::as_bytes) != f {
                    ev.f = match f {
                        Some(f) => Some(std::str::from_utf8(f).ok()?.to_string()),
                        None => None,
                    };
                }
                (&self.scratch, Some(rec.mops))
            } else {
                (&slow[rec.slow as usize], None)
            };
            self.pairer.push(ev).ok()?;
            let thread = match &ev.process {
                Some(Process::Client(p)) => Some(*p),
                None => None,
                Some(Process::Named(_)) => continue,
            };
            let kind = ev.kind;
            let kept = range.map(|(a, b)| (&mops[a as usize..b as usize], &elems[..]));
            if kind == EventType::Invoke {
                // The invocation's micro-operations wait in the thread's own buffers (reused):
                // kept only if the operation does not end ok.
                let op = self.pairer.len() - 1;
                let p = self.pending.entry(thread).or_default();
                p.op = Some(op);
                p.mops.clear();
                p.elems.clear();
                p.compact = kept.is_some();
                if let Some((m, e)) = kept {
                    copy_mops(&mut p.mops, &mut p.elems, m, e);
                }
                continue;
            }
            let p = self.pending.get_mut(&thread)?;
            let op = p.op.take()?;
            let ok = kind == EventType::Ok;
            let range = if ok {
                kept.map(|(m, e)| self.out.keep(m, e))
            } else if p.compact {
                Some(self.out.keep(&p.mops, &p.elems))
            } else {
                None
            };
            self.settle(op, ok, range);
        }
        Some(())
    }

    /// Records where operation `op`'s transaction is: compact when [`exact`], else rewritten
    /// as the `Value` the general reader would have kept.
    fn settle(&mut self, op: usize, ok: bool, range: Option<(u32, u32)>) {
        let Some((a, b)) = range else {
            self.out.set(op, (NONE, NONE));
            return;
        };
        let mops = &self.out.mops[a as usize..b as usize];
        if exact(mops, ok, self.workload) {
            self.out.set(op, (a, b));
            return;
        }
        let value = to_value(mops, &self.out.elems);
        self.out.set(op, (NONE, NONE));
        self.values.push((op, ok, value));
    }

    fn finish(mut self, events: usize, torn_line: Option<usize>) -> TxnPaired {
        let pending = std::mem::take(&mut self.pending);
        for p in pending.into_values() {
            if let Some(op) = p.op {
                let range = p.compact.then(|| self.out.keep(&p.mops, &p.elems));
                self.settle(op, false, range);
            }
        }
        let mut ops = self.pairer.finish();
        for (op, ok, value) in self.values {
            match ok {
                true => ops[op].output = value,
                false => ops[op].input = value,
            }
        }
        let mut out = self.out;
        out.ranges.resize(ops.len(), (NONE, NONE));
        (
            Paired::Read {
                format: Format::JsonLines,
                ops,
                events,
                torn_line,
            },
            Some(out),
        )
    }
}

/// The compact parse of one line: `None` when the line is not of the simple shape (see the
/// module docs); the caller then undoes what was written into `c`.
fn fast_line(content: &str, block: usize, line: usize, c: &mut Chunk) -> Option<Rec> {
    let mut de = serde_json::Deserializer::from_str(content);
    let rec = (&mut de)
        .deserialize_map(LineVisitor {
            block,
            line,
            mops: &mut c.mops,
            elems: &mut c.elems,
        })
        .ok()
        .flatten()?;
    de.end().ok()?;
    Some(rec)
}

struct LineVisitor<'c> {
    /// The address of the block's text the line lies in.
    block: usize,
    line: usize,
    mops: &'c mut Vec<RawMop>,
    elems: &'c mut Vec<i64>,
}

/// A field value: only what the simple shape allows.
enum Scalar<'a> {
    Null,
    Int(i64),
    Str(&'a str),
}

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("null, an integer or a string without escapes")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom("too large"))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Visitor<'de> for LineVisitor<'_> {
    type Value = Option<Rec>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an operation object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut kind, mut index, mut time, mut process, mut f) = (None, None, None, None, None);
        let mut seen = 0u8;
        let mut valued = false;
        while let Some(name) = map.next_key::<&str>()? {
            let bit = match name {
                "type" => 1,
                "index" => 2,
                "time" => 4,
                "process" => 8,
                "f" => 16,
                "value" => 32,
                _ => return Ok(None),
            };
            if seen & bit != 0 {
                return Ok(None);
            }
            seen |= bit;
            if bit == 32 {
                map.next_value_seed(TxnSeed {
                    mops: &mut *self.mops,
                    elems: &mut *self.elems,
                })?;
                valued = true;
                continue;
            }
            match (bit, map.next_value::<Scalar>()?) {
                (1, Scalar::Str(s)) => match EventType::parse(s) {
                    Some(k) => kind = Some(k),
                    None => return Ok(None),
                },
                (2, Scalar::Int(n)) => index = Some(n),
                (4, Scalar::Int(n)) => time = Some(n),
                (8, Scalar::Int(n)) => process = Some(n),
                (16, Scalar::Str(s)) => f = Some(s),
                (2 | 8 | 16, Scalar::Null) => {}
                _ => return Ok(None),
            }
        }
        let Some(kind) = kind else {
            return Ok(None);
        };
        if !valued {
            return Ok(None);
        }
        Ok(Some(Rec {
            line: self.line,
            index,
            time,
            process,
            kind,
            f: f.map(|s: &str| ((s.as_ptr() as usize - self.block) as u32, s.len() as u32)),
            mops: (0, 0),
            slow: NONE,
        }))
    }
}

/// Reads a transaction value (an array of micro-operations) into the chunk's arrays.
struct TxnSeed<'c> {
    mops: &'c mut Vec<RawMop>,
    elems: &'c mut Vec<i64>,
}

impl<'de> DeserializeSeed<'de> for TxnSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TxnSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of micro-operations")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(MopSeed {
                mops: &mut *self.mops,
                elems: &mut *self.elems,
            })?
            .is_some()
        {}
        Ok(())
    }
}

/// Reads one `[f, key, value]`.
struct MopSeed<'c> {
    mops: &'c mut Vec<RawMop>,
    elems: &'c mut Vec<i64>,
}

impl<'de> DeserializeSeed<'de> for MopSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for MopSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("[f, key, value]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let bad = || de::Error::custom("not the simple shape");
        let kind = match seq.next_element::<&str>()?.ok_or_else(bad)? {
            "append" => MopKind::Append,
            "r" => MopKind::Read,
            "w" => MopKind::Write,
            _ => return Err(bad()),
        };
        let key = seq.next_element::<i64>()?.ok_or_else(bad)?;
        let val = seq
            .next_element_seed(ValSeed {
                elems: &mut *self.elems,
            })?
            .ok_or_else(bad)?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(bad());
        }
        self.mops.push(RawMop { kind, key, val });
        Ok(())
    }
}

/// Reads `null`, an integer or a list of integers.
struct ValSeed<'c> {
    elems: &'c mut Vec<i64>,
}

impl<'de> DeserializeSeed<'de> for ValSeed<'_> {
    type Value = RawVal;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawVal, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValSeed<'_> {
    type Value = RawVal;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("null, an integer or a list of integers")
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawVal, E> {
        Ok(RawVal::Nil)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawVal, E> {
        Ok(RawVal::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawVal, E> {
        i64::try_from(v)
            .map(RawVal::Int)
            .map_err(|_| E::custom("too large"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawVal, A::Error> {
        let start = self.elems.len();
        while let Some(e) = seq.next_element::<i64>()? {
            self.elems.push(e);
        }
        Ok(RawVal::List(
            start as u32,
            (self.elems.len() - start) as u32,
        ))
    }
}

/// The transaction value of operation `op` when it was read compactly (its `Value` is null):
/// rewritten from the interned micro-operations (`None`: the operation holds its value).
pub(crate) fn rewritten(ops: &[Operation], tx: &Txns, t: u32) -> Option<Value> {
    let txn = &tx.txns[t as usize];
    let op = &ops[txn.op];
    let held = match op.outcome {
        Outcome::Ok => &op.output,
        _ => &op.input,
    };
    if !held.is_null() {
        return None;
    }
    let atom = |id: u32| -> Value {
        if id == NIL {
            return Value::Null;
        }
        match &tx.values.atoms[id as usize] {
            super::txns::Atom::Int(i) => Value::from(*i),
            super::txns::Atom::Other(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        }
    };
    let key = |id: u32| -> Value {
        match &tx.keys.atoms[id as usize] {
            super::txns::Atom::Int(i) => Value::from(*i),
            super::txns::Atom::Other(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        }
    };
    Some(Value::Array(
        tx.mops(t as usize)
            .iter()
            .map(|m| {
                let (f, v) = match m.kind {
                    MopKind::Append => ("append", atom(m.value)),
                    MopKind::Write => ("w", atom(m.value)),
                    MopKind::Read if m.list != NIL => (
                        "r",
                        Value::Array(tx.list(m.list).iter().map(|&e| atom(e)).collect()),
                    ),
                    MopKind::Read => ("r", atom(m.value)),
                };
                Value::Array(vec![Value::from(f), key(m.key), v])
            })
            .collect(),
    ))
}
