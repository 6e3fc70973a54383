//! A compact paired history: what the "check" step reads a model check's history into.
//!
//! [`read_compact`] reads faultline's own JSON lines, Jepsen EDN (one operation map per
//! line, or maps spread over lines; in one vector or list, or not; keyed maps too, so
//! Porcupine's kv format, named [`super::Format::PorcupineKv`] exactly when
//! [`super::read_history`] names it), Jepsen text logs and JSON arrays the way
//! [`super::read_paired`] reads JSON lines — block by block (whole lines or whole records),
//! parsed on all cores, each event paired and dropped at once,
//! the memory budget checked and extrapolated after every block — but keeps each operation
//! as one small fixed-size record ([`CompactOp`], 72 bytes, no heap) instead of an
//! [`Operation`]: `f` names, processes' names and every value (keys, arguments, results,
//! errors) are interned into tables ([`Values`]: an integer is found without building any
//! JSON, anything else by its exact JSON text, and each distinct value is kept once, exactly
//! as read). A `[a, b]` value (a cas's argument) is kept as two ids.
//!
//! Nothing is lost: [`CompactHistory::operation`] rebuilds the very [`Operation`] the general
//! path pairs (so reports show operations as the history recorded them), and pairing follows
//! [`super::pairing`]'s rules. Anything unusual hands the whole file to the general path
//! ([`read_compact`] returns `None`): another encoding, standard input, a malformed or
//! over-long line, invalid UTF-8, any pairing error, a client event without a process, a key
//! or an `f` that differs between an invocation and its completion (by its JSON text), more
//! than `u32` events or lines. So every error, with its `FILE:LINE` and its precedence, is the
//! general path's.
//!
//! Each syntax has its line scanner: [`super::fast_edn`] for EDN, [`super::textlog`]'s
//! `scan_line` for text logs; a JSON array's blocks are cut after whole elements rather than
//! lines ([`super::array_split`]: an array on one line, as elle-cli's are, or pretty-printed),
//! and each element is read as a JSON line is; so are EDN maps spread over lines, as
//! `clojure.pprint` writes them, from the first block that has one ([`super::edn_split`]).
//!
//! A caller may watch the records settle while the file is read ([`SettledObserver`],
//! [`read_compact_observed`]): `check` compiles them for the model's search meanwhile
//! ([`crate::SettledCompile`]).

use super::array_split::Element;
use super::fast_edn::scan_edn_line;
use super::fast_json::{parse_line, scan_raw, RawEvent, Scalar, Second};
use super::json::torn_last_line;
use super::limits::{check_line_lengths, fill, whole_lines_end, MAX_LINE_BYTES};
use super::{detect_format, EventType, Operation, Outcome, Process};
use crate::budget::MemoryProbe;
use crate::int_ids::IntIds;
use serde_json::Value;

/// Largest block of whole lines read at a time (also at most 1/64 of the memory limit).
const BLOCK: usize = 8 << 20;
/// The first block's size: the format is detected and the first estimate made on it.
const FIRST_BLOCK: usize = 1 << 20;
/// Chunks of a block parsed in parallel are at least this large.
const MIN_CHUNK: usize = 1 << 20;
/// "None" for the `u32` fields of a [`CompactOp`].
pub(crate) const NONE: u32 = u32::MAX;
/// "No `f`".
const NO_F: u16 = u16::MAX;

/// [`CompactOp::flags`]: how it ended (`OUTCOME` bits: 0 info, 1 ok, 2 fail).
const OUTCOME: u16 = 3;
/// A client operation (else a named process's record: a nemesis record, kept for the run's
/// figures, [`crate::perf::summarize_compact`], never checked).
const CLIENT: u16 = 4;
/// `invoke_time` is given.
const INVOKE_TIME: u16 = 8;
/// `complete_time` is given.
const COMPLETE_TIME: u16 = 16;
/// `input` is a two-element array `[input[0], input[1]]`.
const INPUT_PAIR: u16 = 32;
/// `output` is a two-element array.
const OUTPUT_PAIR: u16 = 64;

/// One paired operation, compactly: positions, lines and times of its two events, and ids
/// into the history's tables for everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompactOp {
    /// Position (0-based, file order, every event counted) of the invocation.
    pub(crate) invoke: u32,
    /// Position of the completion ([`NONE`]: never completed).
    pub(crate) complete: u32,
    /// 1-based line of the invocation.
    pub(crate) invoke_line: u32,
    /// 1-based line of the completion ([`NONE`]: none).
    pub(crate) complete_line: u32,
    /// `time` of the invocation (see [`INVOKE_TIME`]).
    invoke_time: i64,
    /// `time` of the completion (see [`COMPLETE_TIME`]).
    complete_time: i64,
    /// The client process.
    process: i64,
    /// The key's value id ([`NONE`]: no key).
    pub(crate) key: u32,
    /// The argument's value id (or the two items' ids, see [`INPUT_PAIR`]).
    pub(crate) input: [u32; 2],
    /// The completion's value id (or two items' ids, see [`OUTPUT_PAIR`]); `null` (id 0)
    /// when there is no completion.
    pub(crate) output: [u32; 2],
    /// The completion's `error` value id ([`NONE`]: none).
    error: u32,
    /// Index into [`CompactHistory::fs`] ([`NO_F`]: none).
    f: u16,
    flags: u16,
}

/// One argument or result as the compact history keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// One value (an id into [`Values`]).
    One(u32),
    /// A two-element array of these values.
    Pair(u32, u32),
}

impl CompactOp {
    /// How it ended.
    pub(crate) fn outcome(&self) -> Outcome {
        match self.flags & OUTCOME {
            1 => Outcome::Ok,
            2 => Outcome::Fail,
            _ => Outcome::Info,
        }
    }

    /// False for a named (non-client) process's record.
    pub(crate) fn client(&self) -> bool {
        self.flags & CLIENT != 0
    }

    /// The `time` of the invocation (of a named process's first record), if given.
    pub(crate) fn invoke_time(&self) -> Option<i64> {
        (self.flags & INVOKE_TIME != 0).then_some(self.invoke_time)
    }

    /// The `time` of the completion, if there is one with a time.
    pub(crate) fn complete_time(&self) -> Option<i64> {
        (self.flags & COMPLETE_TIME != 0).then_some(self.complete_time)
    }

    /// The argument.
    pub(crate) fn input(&self) -> Held {
        if self.flags & INPUT_PAIR != 0 {
            Held::Pair(self.input[0], self.input[1])
        } else {
            Held::One(self.input[0])
        }
    }

    /// The ids of `held` as a record keeps them, and whether they are a pair.
    fn ids(held: Held) -> ([u32; 2], bool) {
        match held {
            Held::One(v) => ([v, 0], false),
            Held::Pair(a, b) => ([a, b], true),
        }
    }

    /// Sets the argument.
    fn set_input(&mut self, held: Held) {
        let (ids, pair) = Self::ids(held);
        self.input = ids;
        self.flags = if pair {
            self.flags | INPUT_PAIR
        } else {
            self.flags & !INPUT_PAIR
        };
    }

    /// Sets the result.
    fn set_output(&mut self, held: Held) {
        let (ids, pair) = Self::ids(held);
        self.output = ids;
        self.flags = if pair {
            self.flags | OUTPUT_PAIR
        } else {
            self.flags & !OUTPUT_PAIR
        };
    }

    /// The result.
    pub(crate) fn output(&self) -> Held {
        if self.flags & OUTPUT_PAIR != 0 {
            Held::Pair(self.output[0], self.output[1])
        } else {
            Held::One(self.output[0])
        }
    }
}

/// Values as read, each distinct one kept once: id 0 is `null`; integers are found by their
/// value, anything else by its exact JSON text (so two ids may hold equal values written
/// differently, `1` and `1.0`, and each is shown as written).
#[derive(Debug)]
pub(crate) struct Values {
    /// Integers by value (a table for dense ones, [`crate::int_ids`]).
    ints: IntIds,
    /// Strings without escapes (as the scanner reads them), by their contents: the ids of
    /// `String` values, hashed by their text, which only `values` holds (a long value's text
    /// is not kept twice).
    strs: hashbrown::HashTable<u32>,
    /// The hasher of `strs`.
    hasher: hashbrown::DefaultHashBuilder,
    /// Bytes the text of strings and of `texts`' keys take on the heap (the reader's estimate).
    text_bytes: usize,
    /// Anything else by its JSON text.
    texts: hashbrown::HashMap<String, u32>,
    /// Two-item arrays read as two ids ([`Values::pair`]), by their items' ids, both ways.
    pairs: hashbrown::HashMap<(u32, u32), u32>,
    pair_items: hashbrown::HashMap<u32, (u32, u32)>,
    values: Vec<Value>,
}

impl Default for Values {
    fn default() -> Self {
        Values {
            ints: IntIds::default(),
            strs: hashbrown::HashTable::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            text_bytes: 0,
            texts: hashbrown::HashMap::new(),
            pairs: hashbrown::HashMap::new(),
            pair_items: hashbrown::HashMap::new(),
            values: vec![Value::Null],
        }
    }
}

impl Values {
    /// The value behind an id.
    pub(crate) fn get(&self, id: u32) -> &Value {
        &self.values[id as usize]
    }

    /// How many distinct values there are.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    fn push(&mut self, v: Value) -> u32 {
        self.values.push(v);
        (self.values.len() - 1) as u32
    }

    fn int(&mut self, n: i64) -> u32 {
        if let Some(id) = self.ints.get(n, self.values.len()) {
            return id;
        }
        let id = self.push(Value::from(n));
        self.ints.insert(n, id);
        id
    }

    fn str(&mut self, s: &str) -> u32 {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(s);
        let values = &self.values;
        let same = |&id: &u32| values[id as usize].as_str() == Some(s);
        if let Some(&id) = self.strs.find(hash, same) {
            return id;
        }
        let id = self.push(Value::String(s.to_string()));
        self.text_bytes += s.len();
        let (values, hasher) = (&self.values, &self.hasher);
        self.strs.insert_unique(hash, id, |&id| {
            hasher.hash_one(values[id as usize].as_str().unwrap_or_default())
        });
        id
    }

    fn value(&mut self, v: Value) -> u32 {
        if v.is_null() {
            return 0;
        }
        if let Value::String(s) = &v {
            return self.str(s);
        }
        if let Some(n) = v.as_i64() {
            return self.int(n);
        }
        let text = v.to_string();
        if let Some(&id) = self.texts.get(&text) {
            return id;
        }
        let id = self.push(v);
        // The text, and about as much again for the parsed value.
        self.text_bytes += 2 * text.len();
        self.texts.insert(text, id);
        id
    }

    /// The id of the two-item array of the values `a` and `b`, found by their ids (without
    /// its JSON text: an equal array read another way may have another id, as `1` and `1.0`
    /// do; every check compares values, not ids).
    fn pair(&mut self, a: u32, b: u32) -> u32 {
        if let Some(&id) = self.pairs.get(&(a, b)) {
            return id;
        }
        let id = self.push(Value::Array(vec![self.get(a).clone(), self.get(b).clone()]));
        self.pairs.insert((a, b), id);
        self.pair_items.insert(id, (a, b));
        id
    }

    /// A value, kept as two ids when it is a two-element array.
    fn held(&mut self, v: Value) -> Held {
        match v {
            Value::Array(items) if items.len() == 2 => {
                let mut it = items.into_iter();
                let a = it.next().unwrap_or(Value::Null);
                let b = it.next().unwrap_or(Value::Null);
                Held::Pair(self.value(a), self.value(b))
            }
            other => Held::One(self.value(other)),
        }
    }

    /// The JSON value of `h`.
    pub(crate) fn of(&self, h: Held) -> Value {
        match h {
            Held::One(id) => self.get(id).clone(),
            Held::Pair(a, b) => Value::Array(vec![self.get(a).clone(), self.get(b).clone()]),
        }
    }
}

/// A paired history kept compactly (see the module docs).
#[derive(Debug, Default)]
pub struct CompactHistory {
    /// The operations, ordered by invocation, as [`super::pair`] orders them.
    pub(crate) ops: Vec<CompactOp>,
    /// Every value read.
    pub(crate) values: Values,
    /// The `f` names.
    fs: Vec<String>,
    fs_index: hashbrown::HashMap<String, u16>,
    /// The format it was read from (a Jepsen text log's failed cas observed another value,
    /// as the general check reads that format; see [`crate::model::CompileCtx`]).
    pub(crate) format: Option<super::Format>,
}

impl CompactHistory {
    /// How many operations (client and other) there are.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when there is no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// How many client operations there are.
    pub fn client_ops(&self) -> usize {
        self.ops.iter().filter(|o| o.client()).count()
    }

    /// Unwraps Jepsen's independent `[key value]` tuples in place when the history is
    /// unmistakably one of independent keys, by exactly the rules of
    /// [`super::unwrap_tuples`] with [`super::Tuples::Auto`]: every client operation gets the
    /// tuple's key, its argument the tuple's value, and an `ok`/`fail`/`info` result that is a
    /// tuple of the same key its value. True when it unwrapped them. `None` when the compact
    /// history cannot say (a two-item array kept as one value): the general path decides.
    pub fn unwrap_tuples(&mut self) -> Option<bool> {
        let read = self.fs_index.get("read").copied();
        let cas = self.fs_index.get("cas").copied();
        let (mut clients, mut reads) = (0usize, 0usize);
        for op in self.ops.iter().filter(|o| o.client()) {
            clients += 1;
            if op.key != NONE {
                return Some(false);
            }
            for held in [op.input(), op.output()] {
                if let Held::One(v) = held {
                    if matches!(self.values.get(v), Value::Array(a) if a.len() == 2) {
                        return None;
                    }
                }
            }
            let Some((key, value)) = self.tuple(op.input()) else {
                return Some(false);
            };
            if op.outcome() == Outcome::Ok && !self.same_key(op.output(), key) {
                return Some(false);
            }
            if Some(op.f) == read {
                if value != 0 {
                    return Some(false);
                }
                reads += 1;
            } else if Some(op.f) == cas
                && !matches!(self.values.get(value), Value::Array(a) if a.len() == 2)
            {
                return Some(false);
            }
        }
        if clients == 0 || reads == 0 {
            return Some(false);
        }
        for i in 0..self.ops.len() {
            let op = self.ops[i];
            if !op.client() {
                continue;
            }
            let Some((key, value)) = self.tuple(op.input()) else {
                continue;
            };
            let mut op = op;
            if self.same_key(op.output(), key) {
                if let Held::Pair(_, out) = op.output() {
                    let held = self.split(out);
                    op.set_output(held);
                }
            }
            let held = self.split(value);
            op.set_input(held);
            op.key = key;
            self.ops[i] = op;
        }
        Some(true)
    }

    /// True when `a` and `b` hold equal values (as the general path compares them).
    pub(crate) fn same_value(&self, a: Held, b: Held) -> bool {
        a == b || self.values.of(a) == self.values.of(b)
    }

    /// A `[key value]` tuple's key and value ids: a pair whose first item is a number, a
    /// string or a boolean (as [`super::unwrap_tuples`] takes keys).
    pub(crate) fn tuple(&self, held: Held) -> Option<(u32, u32)> {
        match held {
            Held::Pair(k, v) => matches!(
                self.values.get(k),
                Value::Number(_) | Value::String(_) | Value::Bool(_)
            )
            .then_some((k, v)),
            Held::One(_) => None,
        }
    }

    /// True when `held` is a tuple whose key equals the value `key` (equal values, as the
    /// general path compares them, whatever their ids).
    fn same_key(&self, held: Held, key: u32) -> bool {
        self.tuple(held)
            .is_some_and(|(k, _)| k == key || self.values.get(k) == self.values.get(key))
    }

    /// Value `id` as an argument or result is kept: two ids when it is a two-item array.
    fn split(&mut self, id: u32) -> Held {
        if let Some(&(a, b)) = self.values.pair_items.get(&id) {
            return Held::Pair(a, b);
        }
        match self.values.get(id) {
            Value::Array(items) if items.len() == 2 => {
                let items = items.clone();
                self.values.held(Value::Array(items))
            }
            _ => Held::One(id),
        }
    }

    /// The `f` of an operation.
    pub(crate) fn f(&self, op: &CompactOp) -> Option<&str> {
        (op.f != NO_F).then(|| self.fs[op.f as usize].as_str())
    }

    /// The error value of an operation, if any.
    pub(crate) fn error(&self, op: &CompactOp) -> Option<&Value> {
        (op.error != NONE).then(|| self.values.get(op.error))
    }

    /// The client operation `id` as the general path pairs it (`None` for a named process's
    /// record, which is never checked).
    pub fn operation(&self, id: usize) -> Option<Operation> {
        self.ops.get(id).filter(|o| o.client())?;
        self.record(id)
    }

    /// Operation `id` as the general path pairs it, a named process's record (a nemesis
    /// record) included: what reports draw. A named record's completion value is not kept:
    /// its `output` is its own value when it is a lone record, else `null`.
    pub fn record(&self, id: usize) -> Option<Operation> {
        let op = self.ops.get(id)?;
        let client = op.client();
        let (process, key, output, error) = if client {
            (
                Process::Client(op.process),
                (op.key != NONE).then(|| self.values.get(op.key).clone()),
                self.values.of(op.output()),
                self.error(op).cloned().map(Box::new),
            )
        } else {
            let name = self.values.get(u32::try_from(op.process).ok()?).as_str()?;
            let output = if op.complete == op.invoke {
                self.values.of(op.input())
            } else {
                Value::Null
            };
            (Process::Named(name.to_string()), None, output, None)
        };
        Some(Operation {
            id,
            process: Some(process),
            client,
            f: self.f(op).map(str::to_string),
            key,
            input: self.values.of(op.input()),
            output,
            outcome: op.outcome(),
            invoke: op.invoke as usize,
            complete: (op.complete != NONE).then_some(op.complete as usize),
            invoke_line: op.invoke_line as usize,
            complete_line: (op.complete_line != NONE).then_some(op.complete_line as usize),
            invoke_time: op.invoke_time(),
            complete_time: op.complete_time(),
            error,
        })
    }

    /// The line of the event at file position `pos` (as the general path finds it: the
    /// first operation, by invocation, that completed or was invoked there).
    pub(crate) fn line_at(&self, pos: usize) -> Option<usize> {
        let pos = u32::try_from(pos).ok().filter(|&p| p != NONE)?;
        self.ops.iter().find_map(|o| {
            if o.complete == pos {
                (o.complete_line != NONE).then_some(o.complete_line as usize)
            } else {
                (o.invoke == pos).then_some(o.invoke_line as usize)
            }
        })
    }

    /// About how many bytes the tables of values hold.
    fn table_bytes(&self) -> usize {
        self.values.len() * (std::mem::size_of::<Value>() + 40) + self.values.text_bytes
    }

    /// About how many bytes the texts of values (strings, and the JSON text of objects and
    /// arrays) take: a check holds a copy of each value it compiles.
    fn text_bytes(&self) -> usize {
        self.values.text_bytes
    }

    fn f_id(&mut self, f: Option<&str>) -> Option<u16> {
        let Some(f) = f else { return Some(NO_F) };
        if let Some(&id) = self.fs_index.get(f) {
            return Some(id);
        }
        let id = u16::try_from(self.fs.len())
            .ok()
            .filter(|&i| i < NO_F - 1)?;
        self.fs.push(f.to_string());
        self.fs_index.insert(f.to_string(), id);
        Some(id)
    }
}

/// What reports need of an operation, read without rebuilding it
/// ([`CompactHistory::view`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpView<'a> {
    /// A client operation (else a named process's record).
    pub client: bool,
    /// Position of the invocation (file order, every event counted).
    pub invoke: usize,
    /// Position of the completion.
    pub complete: Option<usize>,
    /// 1-based line of the invocation.
    pub invoke_line: usize,
    /// 1-based line of the completion.
    pub complete_line: Option<usize>,
    /// `time` of the invocation.
    pub invoke_time: Option<i64>,
    /// `time` of the completion.
    pub complete_time: Option<i64>,
    /// How it ended.
    pub outcome: Outcome,
    /// Its `f`.
    pub f: Option<&'a str>,
}

impl CompactHistory {
    /// Operation `id` as an [`OpView`] (client or named).
    pub fn view(&self, id: usize) -> Option<OpView<'_>> {
        let op = self.ops.get(id)?;
        Some(OpView {
            client: op.client(),
            invoke: op.invoke as usize,
            complete: (op.complete != NONE).then_some(op.complete as usize),
            invoke_line: op.invoke_line as usize,
            complete_line: (op.complete_line != NONE).then_some(op.complete_line as usize),
            invoke_time: op.invoke_time(),
            complete_time: op.complete_time(),
            outcome: op.outcome(),
            f: self.f(op),
        })
    }

    /// The operation whose invocation or completion is on `line`, given `completions`: every
    /// completed operation's (completion line, id), sorted ([`Self::completion_lines`]).
    /// Invocations are found by binary search (operations are in invocation order).
    pub fn at_line(&self, line: usize, completions: &[(u32, u32)]) -> Option<usize> {
        let line32 = u32::try_from(line).ok()?;
        if let Ok(i) = self.ops.binary_search_by_key(&line32, |o| o.invoke_line) {
            return Some(i);
        }
        completions
            .binary_search_by_key(&line32, |&(l, _)| l)
            .ok()
            .map(|i| completions[i].1 as usize)
    }

    /// Every completed operation's (completion line, id), sorted by line (for
    /// [`Self::at_line`]).
    pub fn completion_lines(&self) -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = self
            .ops
            .iter()
            .enumerate()
            .filter(|(_, o)| o.complete_line != NONE)
            .map(|(i, o)| (o.complete_line, i as u32))
            .collect();
        v.sort_unstable();
        v
    }
}

/// What [`read_compact`] read.
#[derive(Debug)]
pub enum CompactRead {
    /// The whole history.
    Read {
        /// The paired operations (boxed: the other variant is small).
        history: Box<CompactHistory>,
        /// The file's format, as [`super::read_history`] names it: JSON lines, a JSON array,
        /// Jepsen EDN, Porcupine's kv format or a Jepsen text log (or the format the caller
        /// gave).
        format: super::Format,
        /// How many events (invocations and completions) the file has.
        events: usize,
        /// The 1-based line of a torn last line that was left out (see
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
        /// The file's format (as for [`CompactRead::Read`]).
        format: super::Format,
    },
}

/// A scalar as a chunk's parse keeps it: strings as indices into the chunk's own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sv {
    Null,
    Bool(bool),
    Int(i64),
    Str(u32),
}

/// A `value` field as a chunk's parse keeps it.
#[derive(Debug)]
enum Val {
    One(Sv),
    /// A two-element array of scalars.
    Pair(Sv, Sv),
    /// `[a [b c]]` of scalars (a cas in Jepsen's independent tuples).
    Nested(Sv, Sv, Sv),
    /// Anything else.
    Other(Value),
}

/// One event of a chunk, owning everything (so the block it came from can be reused).
#[derive(Debug)]
struct Item {
    /// 0-based line within the chunk.
    line: u32,
    kind: EventType,
    time: Option<i64>,
    /// `Null` when there is none.
    process: Sv,
    /// Index into the chunk's strings ([`NONE`]: none).
    f: u32,
    key: Option<Sv>,
    value: Val,
    error: Option<Sv>,
}

/// The events of a run of whole lines, parsed.
#[derive(Default)]
struct Chunk {
    items: Vec<Item>,
    /// The events of lines the scanner did not take, in full (their line relative to the
    /// chunk), by position in `items` (whose own entry is a placeholder).
    full: Vec<(usize, super::Event)>,
    /// The strings the items point to.
    strs: Vec<Box<str>>,
    /// How many line breaks the chunk has.
    lines: usize,
    /// EDN only: the chunk's events and top-level vector brackets in line order, run-length
    /// encoded (see [`Shape`]).
    marks: Vec<(Mark, u32)>,
}

impl Chunk {
    fn mark(&mut self, m: Mark) {
        match self.marks.last_mut() {
            Some((last, n)) if *last == m => *n += 1,
            _ => self.marks.push((m, 1)),
        }
    }
}

/// The syntax of a history's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// faultline's JSON lines: one object per line.
    Json,
    /// Jepsen's EDN: operation maps, all of them optionally inside one top-level vector (or
    /// list). Read one map per line (the brackets share the first and last maps' lines, or
    /// have their own) until a block's lines are not whole maps; from there on, blocks are
    /// cut after whole maps ([`super::edn_split`]).
    Edn,
    /// Jepsen's text log: operation lines after `jepsen.util - ` (history/textlog.rs).
    TextLog,
    /// One JSON array of operation objects, on one line or many: its elements are found by
    /// [`super::array_split`] and read as JSON lines' objects are.
    JsonArray,
}

impl Syntax {
    /// The format of files in this syntax.
    fn format(self) -> super::Format {
        match self {
            Syntax::Json => super::Format::JsonLines,
            Syntax::Edn => super::Format::Edn,
            Syntax::TextLog => super::Format::JepsenLog,
            Syntax::JsonArray => super::Format::JsonArray,
        }
    }
}

/// What an EDN line holds, in order ([`Chunk::marks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// An opening bracket, with the closing one it calls for.
    Open(u8),
    Event,
    /// A closing bracket.
    Close(u8),
}

/// Where an EDN history's top-level shape stands after the lines paired so far: the general
/// reader takes either one map per line or a single vector of maps, nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Shape {
    #[default]
    Start,
    PerLine,
    /// Inside the top-level vector or list, waiting for this closing bracket.
    InVector(u8),
    Closed,
}

impl Shape {
    /// The shape after `m`; `None` for what the general reader refuses or reads otherwise.
    fn after(self, m: Mark) -> Option<Shape> {
        match (self, m) {
            (Shape::Start | Shape::PerLine, Mark::Event) => Some(Shape::PerLine),
            (Shape::Start, Mark::Open(close)) => Some(Shape::InVector(close)),
            (Shape::InVector(close), Mark::Event) => Some(Shape::InVector(close)),
            (Shape::InVector(want), Mark::Close(close)) if want == close => Some(Shape::Closed),
            _ => None,
        }
    }
}

/// The event of an EDN line the scanner did not take, read by the general EDN reader:
/// `Some(None)` for a line without a form (a comment), `None` for anything but one map.
fn edn_event(text: &str, line: usize, source: &str) -> Option<Option<super::Event>> {
    let mut forms = super::edn::parse_fragment(text, source, 1).ok()?;
    match forms.len() {
        0 => Some(None),
        1 if forms[0].kind == super::edn::FormKind::Map => {
            let form = forms.pop()?;
            let e = super::read::event_from_value(form.value, line, source, super::Format::Edn);
            Some(Some(e.ok()?))
        }
        _ => None,
    }
}

/// Parses the whole lines of `text` (for a JSON array: the elements of `array`) in chunks on
/// all cores, in file order, reusing `pool`'s chunks; `None` when any line is malformed or
/// not UTF-8.
fn parse_block(
    text: &[u8],
    source: &str,
    syntax: Syntax,
    array: Option<&ArrayBlock>,
    pool: &mut Vec<Chunk>,
) -> Option<Vec<Chunk>> {
    let threads = rayon::current_num_threads().max(1);
    let pieces = if threads == 1 || text.len() < 2 * MIN_CHUNK {
        1
    } else {
        (threads * 2).min(text.len() / MIN_CHUNK).max(2)
    };
    let target = text.len() / pieces;
    if let Some(array) = array {
        return parse_array_block(text, source, syntax, array, target, pool);
    }
    let mut bounds: Vec<(usize, usize)> = Vec::with_capacity(pieces + 1);
    let mut start = 0;
    while start < text.len() {
        let end = if pieces == 1 || start + target >= text.len() {
            text.len()
        } else {
            match text[start + target..].iter().position(|&b| b == b'\n') {
                Some(nl) => start + target + nl + 1,
                None => text.len(),
            }
        };
        bounds.push((start, end));
        start = end;
    }
    let mut chunks: Vec<Chunk> = bounds
        .iter()
        .map(|_| pool.pop().unwrap_or_default())
        .collect();
    use rayon::prelude::*;
    let ok = chunks
        .par_iter_mut()
        .zip(bounds.par_iter())
        .all(|(c, &(s, e))| parse_chunk(&text[s..e], source, syntax, None, c).is_some());
    if !ok {
        return None;
    }
    Some(chunks)
}

/// A block cut after whole records (a JSON array's, or pretty-printed EDN's): its records as
/// [`super::array_split`] or [`super::edn_split`] found them.
type ArrayBlock = super::array_split::Block;

/// The elements of one piece of a JSON array's block: (text start, text end, first line,
/// elements).
type ArrayPiece<'b> = (usize, usize, u32, &'b [Element]);

/// [`parse_block`] for a block cut after whole records (a JSON array's elements, EDN maps):
/// pieces of about `target` bytes, each starting at a record (the first at the block's
/// start), parsed on all cores.
fn parse_array_block(
    text: &[u8],
    source: &str,
    syntax: Syntax,
    array: &ArrayBlock,
    target: usize,
    pool: &mut Vec<Chunk>,
) -> Option<Vec<Chunk>> {
    let els = &array.elements;
    let mut pieces: Vec<ArrayPiece> = Vec::new();
    let (mut from, mut start, mut line) = (0usize, 0usize, 0u32);
    for (k, e) in els.iter().enumerate() {
        if k > from && e.start - start >= target.max(1) {
            pieces.push((start, e.start, line, &els[from..k]));
            (from, start, line) = (k, e.start, e.line);
        }
    }
    pieces.push((start, text.len(), line, &els[from..]));
    let mut chunks: Vec<Chunk> = pieces
        .iter()
        .map(|_| pool.pop().unwrap_or_default())
        .collect();
    use rayon::prelude::*;
    let ok = chunks.par_iter_mut().zip(pieces.par_iter()).all(|(c, p)| {
        let &(s, e, line, elements) = p;
        parse_chunk(&text[s..e], source, syntax, Some((elements, s, line)), c).is_some()
    });
    if !ok {
        return None;
    }
    // Each piece's line breaks: up to the next piece's first line (the last: the block's).
    let mut next = array.newlines;
    for (c, p) in chunks.iter_mut().zip(&pieces).rev() {
        c.lines = next - p.2 as usize;
        next = p.2 as usize;
    }
    Some(chunks)
}

/// The item standing for a line kept in full.
fn placeholder(line: u32) -> Item {
    Item {
        line,
        kind: EventType::Invoke,
        time: None,
        process: Sv::Null,
        f: NONE,
        key: None,
        value: Val::One(Sv::Null),
        error: None,
    }
}

/// Parses a run of whole lines sequentially into `c` (cleared first). Lines are numbered
/// from 0 within the chunk (the full events' too; any error hands the file to the general
/// path, so [`parse_line`]'s messages are never shown). For a JSON array, `elements` gives
/// the elements instead of lines: the elements, the block offset `text` starts at, and the
/// block line it starts on.
fn parse_chunk(
    text: &[u8],
    source: &str,
    syntax: Syntax,
    elements: Option<(&[Element], usize, u32)>,
    c: &mut Chunk,
) -> Option<()> {
    let text = std::str::from_utf8(text).ok()?;
    c.items.clear();
    c.full.clear();
    c.strs.clear();
    c.marks.clear();
    c.items.reserve(text.len() / 90 + 1);
    // Each line (or element) with its 0-based line within the chunk; one instance of the
    // parsing loop per kind of record (a boxed iterator cost the JSON-lines path ~5 %).
    let lines = match elements {
        None => parse_records(
            text.split('\n')
                .enumerate()
                .map(|(i, raw)| (i, raw.strip_suffix('\r').unwrap_or(raw))),
            source,
            syntax,
            c,
        )?,
        Some((els, offset, first)) => parse_records(
            els.iter().map(move |e| {
                (
                    (e.line - first) as usize,
                    &text[e.start - offset..e.end - offset],
                )
            }),
            source,
            syntax,
            c,
        )?,
    };
    c.lines = lines;
    Some(())
}

/// [`parse_chunk`]'s loop over the chunk's records (0-based line, content); gives the last
/// record's line.
fn parse_records<'a>(
    records: impl Iterator<Item = (usize, &'a str)>,
    source: &str,
    syntax: Syntax,
    c: &mut Chunk,
) -> Option<usize> {
    let mut index: hashbrown::HashMap<&'a str, u32> = hashbrown::HashMap::new();
    let mut last_f: Option<(&'a str, u32)> = None;
    let mut lines = 0usize;
    for (i, content) in records {
        lines = i;
        if content.trim().is_empty() {
            continue;
        }
        let line = u32::try_from(i).ok()?;
        let mut intern = |s: &'a str, strs: &mut Vec<Box<str>>| -> u32 {
            *index.entry(s).or_insert_with(|| {
                strs.push(s.into());
                (strs.len() - 1) as u32
            })
        };
        // The line's event as the scanner reads it (`None`: read in full), the text of its
        // operation, and for EDN whether the line also closes the top-level vector.
        let (scanned, op_text, close): (Option<RawEvent<'a>>, &'a str, Option<u8>) = match syntax {
            Syntax::Json | Syntax::JsonArray => (scan_raw(content), content, None),
            Syntax::Edn => match scan_edn_line(content) {
                Some(l) => {
                    if let Some(close) = l.open {
                        c.mark(Mark::Open(close));
                    }
                    let Some((ev, op_text)) = l.event else {
                        if let Some(close) = l.close {
                            c.mark(Mark::Close(close));
                        }
                        continue;
                    };
                    c.mark(Mark::Event);
                    (Some(ev), op_text, l.close)
                }
                None => (None, content, None),
            },
            Syntax::TextLog => {
                let Some(at) = content.find(super::textlog::MARKER) else {
                    continue;
                };
                let rest = &content[at + super::textlog::MARKER.len()..];
                if !rest.contains('\t') && !super::textlog::spaced_operation(rest) {
                    continue;
                }
                (super::textlog::scan_line(rest), rest, None)
            }
        };
        let full_event = |text: &str| -> Option<Option<super::Event>> {
            match syntax {
                Syntax::Json | Syntax::JsonArray => {
                    parse_line(text, i, source, false).ok().map(Some)
                }
                Syntax::TextLog => super::textlog::parse_line(text, i, source).ok().map(Some),
                Syntax::Edn => edn_event(text, i, source),
            }
        };
        let Some(ev) = scanned else {
            let Some(e) = full_event(op_text)? else {
                continue;
            };
            if syntax == Syntax::Edn {
                c.mark(Mark::Event);
            }
            c.full.push((c.items.len(), e));
            c.items.push(placeholder(line));
            continue;
        };
        if let Some(close) = close {
            c.mark(Mark::Close(close));
        }
        let f = match ev.f {
            None => NONE,
            Some(f) => match last_f {
                Some((l, id)) if l == f => id,
                _ => {
                    let id = intern(f, &mut c.strs);
                    last_f = Some((f, id));
                    id
                }
            },
        };
        let mut sv = |s: Scalar<'a>, strs: &mut Vec<Box<str>>| -> Result<Sv, Value> {
            Ok(match s {
                Scalar::Null => Sv::Null,
                Scalar::Bool(b) => Sv::Bool(b),
                Scalar::Int(n) => Sv::Int(n),
                Scalar::Str(s) => Sv::Str(intern(s, strs)),
                Scalar::Array(items) => return Err(Value::Array(items)),
            })
        };
        let process = match ev.process {
            None => Sv::Null,
            Some(p) => sv(p, &mut c.strs).ok()?,
        };
        let key = match ev.key {
            None => None,
            Some(k) => Some(sv(k, &mut c.strs).ok()?),
        };
        let error = match ev.error {
            None => None,
            Some(Scalar::Array(_)) => {
                // An error that is an array (rare): the whole event is kept in full.
                let e = full_event(op_text)??;
                c.full.push((c.items.len(), e));
                c.items.push(placeholder(line));
                continue;
            }
            Some(e) => Some(sv(e, &mut c.strs).ok()?),
        };
        let value = match ev.value {
            _ if ev.pair.is_some() => {
                let (a, b) = ev.pair?;
                let a = sv(a, &mut c.strs).ok()?;
                match b {
                    Second::One(b) => Val::Pair(a, sv(b, &mut c.strs).ok()?),
                    Second::Pair(x, y) => {
                        Val::Nested(a, sv(x, &mut c.strs).ok()?, sv(y, &mut c.strs).ok()?)
                    }
                }
            }
            Scalar::Array(items) if items.len() == 2 => {
                // Strings inside are not borrowed from the line: kept whole.
                let pair = |v: &Value| -> Option<Sv> {
                    Some(match v {
                        Value::Null => Sv::Null,
                        Value::Bool(b) => Sv::Bool(*b),
                        other => Sv::Int(other.as_i64()?),
                    })
                };
                match (pair(&items[0]), pair(&items[1])) {
                    (Some(a), Some(b)) => Val::Pair(a, b),
                    _ => Val::Other(Value::Array(items)),
                }
            }
            Scalar::Array(items) => Val::Other(Value::Array(items)),
            v => Val::One(sv(v, &mut c.strs).ok()?),
        };
        c.items.push(Item {
            line,
            kind: ev.kind,
            time: ev.time,
            process,
            f,
            key,
            value,
            error,
        });
    }
    Some(lines)
}

/// Reads and pairs the history at `path` compactly (see the module docs), within the memory
/// limit `memory_limit` (bytes) as measured by `probe`. `per_op` is what the caller will need
/// per client operation after reading (bytes), counted in the estimate. `None`: the general
/// path must read the file (including every malformed file).
pub fn read_compact(
    path: &str,
    forced: Option<super::Format>,
    memory_limit: usize,
    probe: Option<MemoryProbe>,
    per_op: usize,
) -> Option<CompactRead> {
    read_compact_observed(path, forced, memory_limit, probe, per_op, None)
}

/// Sees a history's records as they settle while [`read_compact_observed`] reads it, so that
/// work on them (a model check's compile, [`crate::SettledCompile`]) runs during reading, in
/// the pairing arm of the reader's parse/pair overlap, instead of after it.
///
/// A record is *settled* when it is a client operation whose completion has been paired (a
/// record never changes after that while reading), or a named process's record (which may
/// still change, but no model check looks at it). The settled prefix is every record below
/// the first client operation still pending; operations pending when the file ends become
/// `info` only then, so they are never in a prefix given here. What the caller does with the
/// history after reading ([`CompactHistory::unwrap_tuples`]) may still change records: the
/// observer's caller must check for that.
pub trait SettledObserver: Send {
    /// Every record of `history` below `upto` is settled (see the trait); called after each
    /// block is paired, `upto` never decreasing. `format` is the file's format as far as it
    /// is known so far (a Jepsen text log is known from the start).
    fn settled(&mut self, history: &CompactHistory, upto: usize, format: super::Format);

    /// Bytes the observer holds that the caller's per-operation need (`per_op` of
    /// [`read_compact_observed`]) already counts, so the reader's estimate does not count
    /// them twice.
    fn counted_bytes(&self) -> usize;
}

/// [`read_compact`], telling `observer` (if any) the settled prefix of the records after each
/// block is paired (see [`SettledObserver`]), while the next block is parsed.
pub fn read_compact_observed(
    path: &str,
    forced: Option<super::Format>,
    memory_limit: usize,
    probe: Option<MemoryProbe>,
    per_op: usize,
    observer: Option<&mut dyn SettledObserver>,
) -> Option<CompactRead> {
    use super::Format;
    if path == "-"
        || !matches!(
            forced,
            None | Some(
                Format::JsonLines
                    | Format::JsonArray
                    | Format::Edn
                    | Format::PorcupineKv
                    | Format::JepsenLog
            )
        )
    {
        return None;
    }
    let mut file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let total = meta.len();
    let block_size = (memory_limit / 64).clamp(FIRST_BLOCK, BLOCK);
    let mut buf: Vec<u8> = Vec::with_capacity(block_size.min(total as usize) + 1);
    let mut eof = fill(&mut file, &mut buf, FIRST_BLOCK).ok()?;
    let syntax = match forced {
        Some(Format::JsonLines) => Syntax::Json,
        Some(Format::JepsenLog) => Syntax::TextLog,
        Some(Format::JsonArray) => Syntax::JsonArray,
        Some(_) => Syntax::Edn,
        None => syntax_of(&buf, eof)?,
    };
    let mut st = Pairing {
        h: CompactHistory::default(),
        pending: Pending::default(),
        named: hashbrown::HashMap::new(),
        pos: 0,
        shape: Shape::Start,
        syntax,
        forced,
        kv: true,
        observer,
        settled: 0,
    };
    // Blocks are parsed (on all cores) while the previous block's events are paired: `behind`
    // holds a parsed block waiting to be paired, with its first line.
    let mut behind: Option<(Vec<Chunk>, usize)> = None;
    let mut pool: Vec<Chunk> = Vec::new();
    let mut read: u64 = 0;
    let mut paired_bytes: u64;
    let mut line = 1usize;
    let mut first = true;
    // What cuts blocks after whole records rather than at line breaks: a JSON array's
    // splitter, or for EDN, once a block's lines are not whole maps, the EDN splitter.
    let mut splitter = (syntax == Syntax::JsonArray)
        .then(|| Cutter::Array(super::array_split::Splitter::new(MAX_LINE_BYTES)));
    let mut array = ArrayBlock::default();
    // Bytes at the start of `buf` already searched for a newline (a long line's).
    let mut searched = 0usize;
    loop {
        let bom = first && buf.starts_with("\u{feff}".as_bytes());
        let cut = if let Some(splitter) = splitter.as_mut() {
            // A JSON array is cut after its last whole element (its lines may be long).
            let skip = if bom { 3 } else { 0 };
            match splitter.split(&buf[skip..], eof, &mut array)? {
                0 if !eof => {
                    if buf.len() > MAX_LINE_BYTES {
                        return None;
                    }
                    eof = fill(&mut file, &mut buf, block_size).ok()?;
                    continue;
                }
                cut => skip + cut,
            }
        } else if eof {
            buf.len()
        } else {
            match whole_lines_end(&buf, &mut searched) {
                Some(end) => end,
                None if buf.len() > MAX_LINE_BYTES => return None,
                None => {
                    eof = fill(&mut file, &mut buf, block_size).ok()?;
                    continue;
                }
            }
        };
        let region = &buf[..cut];
        let skip = if bom { 3 } else { 0 };
        let was_first = first;
        first = false;
        let region = &region[skip..];
        if region.len() > MAX_LINE_BYTES {
            let text = std::str::from_utf8(region).ok()?;
            check_line_lengths(path, text.as_bytes(), MAX_LINE_BYTES).ok()?;
        }
        // A torn last line (only at the end of the file) is left out, as the general path
        // leaves it out (JSON lines only: the EDN reader has no such rule).
        let (body, torn_here) = if eof && syntax == Syntax::Json {
            let start = region
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let last = std::str::from_utf8(&region[start..]).ok()?;
            match torn_last_line(last) {
                Some(_) => (&region[..start], true),
                None => (region, false),
            }
        } else {
            (region, false)
        };
        let prev = behind.take();
        let mut spare = std::mem::take(&mut pool);
        let (done, parsed) = rayon::join(
            || match prev {
                Some((chunks, at)) => st.push_chunks(chunks, at),
                None => Some(Vec::new()),
            },
            || {
                parse_block(
                    body,
                    path,
                    syntax,
                    splitter.is_some().then_some(&array),
                    &mut spare,
                )
            },
        );
        pool = spare;
        pool.extend(done?);
        let parsed = match parsed {
            Some(parsed) => parsed,
            // EDN whose lines are not whole maps (pretty-printed): this block and the rest of
            // the file are cut after whole maps instead, from where the lines before left the
            // top-level vector (the previous block is paired now).
            None if syntax == Syntax::Edn && splitter.is_none() => {
                let in_vector = match st.shape {
                    Shape::Start | Shape::PerLine => false,
                    Shape::InVector(_) => true,
                    Shape::Closed => return None,
                };
                splitter = Some(Cutter::Edn(super::edn_split::EdnSplitter::new(
                    MAX_LINE_BYTES,
                    in_vector,
                )));
                first = was_first;
                continue;
            }
            None => return None,
        };
        paired_bytes = read;
        let newlines: usize = parsed.iter().map(|c| c.lines).sum();
        if st.h.ops.capacity() == 0 && !eof {
            // Room for the whole file, estimated from this block: the list grows once
            // instead of doubling past what it needs.
            let events: usize = parsed.iter().map(|c| c.items.len()).sum();
            let scale = total as f64 / cut.max(1) as f64 * 1.05;
            st.h.ops.reserve((events as f64 * scale / 2.0) as usize);
        }
        behind = Some((parsed, line));
        line += newlines;
        let torn = torn_here.then_some(line);
        u32::try_from(line).ok()?;
        read += cut as u64;
        if eof {
            return st.finish_with(behind, torn, &mut pool);
        }
        if let Some(probe) = probe {
            let used = probe();
            // What is in use now, plus what the list of operations (reserved up front for
            // the whole file, with what the caller needs per operation) and the tables of
            // values will grow by, extrapolated from the bytes paired so far.
            let ops = &st.h.ops;
            // Extrapolated only from bytes already paired: before the first block is paired
            // (the tables hold next to nothing yet) the reserved list is the whole estimate —
            // scaling the tables' first bytes by the file's size overstated the need a
            // hundredfold under a tiny limit.
            let scale = if paired_bytes > 0 {
                total as f64 / paired_bytes as f64
            } else {
                1.0
            };
            // The check compiles a copy of each value (a long string's text included).
            let size = std::mem::size_of::<CompactOp>();
            let final_ops = ops.capacity().max((ops.len() as f64 * scale) as usize);
            let growth = (final_ops - ops.len()) * (size + per_op)
                + ops.len() * per_op
                + (st.h.table_bytes() as f64 * (scale - 1.0).max(0.0)) as usize
                + (st.h.text_bytes() as f64 * scale) as usize;
            // What the observer holds (entries compiled during reading) is part of both
            // `used` and the per-operation need above: counted once.
            let early = st
                .observer
                .as_ref()
                .map_or(0, |o| o.counted_bytes().min(ops.len() * per_op));
            let needed = used.saturating_sub(early) + growth;
            let estimated = paired_bytes > 0;
            if used > memory_limit || (estimated && needed > memory_limit) {
                return Some(CompactRead::OutOfMemory {
                    needed: needed.max(used),
                    read,
                    total,
                    ops: ops.len(),
                    // As a whole read names it (Porcupine's kv lines, not plain EDN).
                    format: st.format(),
                });
            }
        }
        buf.drain(..cut);
        eof = fill(&mut file, &mut buf, block_size).ok()?;
        if buf.is_empty() && eof {
            if splitter.as_ref().is_some_and(|s| !s.closed()) {
                return None;
            }
            return st.finish_with(behind, None, &mut pool);
        }
    }
}

/// What cuts a file's blocks after whole records rather than at line breaks.
enum Cutter {
    /// A JSON array's elements.
    Array(super::array_split::Splitter),
    /// EDN maps spread over lines.
    Edn(super::edn_split::EdnSplitter),
}

impl Cutter {
    /// The bytes at the start of `buf` that make whole records (see the splitters).
    fn split(&mut self, buf: &[u8], eof: bool, block: &mut ArrayBlock) -> Option<usize> {
        match self {
            Cutter::Array(s) => s.split(buf, eof, block),
            Cutter::Edn(s) => s.split(buf, eof, block),
        }
    }

    /// False while a JSON array is still open (EDN's top-level shape is the pairing's to
    /// judge).
    fn closed(&self) -> bool {
        match self {
            Cutter::Array(s) => s.closed(),
            Cutter::Edn(_) => true,
        }
    }
}

/// The syntax of the first block's whole lines when [`detect_format`] finds a format the
/// compact reader takes there (`None`: another format, or nothing but blanks). A first line
/// longer than the block (a JSON array on one line) is judged by the part the block holds.
fn syntax_of(first: &[u8], eof: bool) -> Option<Syntax> {
    let text = if eof {
        std::str::from_utf8(first).ok()?
    } else {
        match first.iter().rposition(|&b| b == b'\n') {
            Some(p) => std::str::from_utf8(&first[..p + 1]).ok()?,
            None => match std::str::from_utf8(first) {
                Ok(text) => text,
                // Cut inside a character: the whole characters before it.
                Err(e) if e.error_len().is_none() => {
                    std::str::from_utf8(&first[..e.valid_up_to()]).ok()?
                }
                Err(_) => return None,
            },
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.bytes().any(|b| !b.is_ascii_whitespace()) {
        return None;
    }
    match detect_format("-", text) {
        Ok(super::Format::JsonLines) => Some(Syntax::Json),
        Ok(super::Format::Edn) => Some(Syntax::Edn),
        Ok(super::Format::JepsenLog) => Some(Syntax::TextLog),
        Ok(super::Format::JsonArray) => Some(Syntax::JsonArray),
        _ => None,
    }
}

/// The fields of one event that pairing uses, whichever parser read it.
struct Ev {
    line: u32,
    kind: EventType,
    time: Option<i64>,
    /// The `f` id ([`NO_F`]: none).
    f: u16,
    key: Option<u32>,
    value: Held,
    error: Option<u32>,
}

/// Client process → its pending operation: small process numbers (as Jepsen and faultline
/// number them) in a table, any other in a map.
#[derive(Default)]
struct Pending {
    small: Vec<u32>,
    other: hashbrown::HashMap<i64, u32>,
}

/// Processes below this are kept in [`Pending::small`].
const SMALL_PROCESSES: i64 = 1 << 16;

impl Pending {
    fn contains(&self, p: i64) -> bool {
        match usize::try_from(p) {
            Ok(i) if p < SMALL_PROCESSES => self.small.get(i).is_some_and(|&o| o != NONE),
            _ => self.other.contains_key(&p),
        }
    }

    fn insert(&mut self, p: i64, op: u32) {
        match usize::try_from(p) {
            Ok(i) if p < SMALL_PROCESSES => {
                if self.small.len() <= i {
                    self.small.resize(i + 1, NONE);
                }
                self.small[i] = op;
            }
            _ => {
                self.other.insert(p, op);
            }
        }
    }

    fn remove(&mut self, p: i64) -> Option<u32> {
        match usize::try_from(p) {
            Ok(i) if p < SMALL_PROCESSES => self
                .small
                .get_mut(i)
                .map(|o| std::mem::replace(o, NONE))
                .filter(|&o| o != NONE),
            _ => self.other.remove(&p),
        }
    }
}

/// Pairing state: [`super::pairing::Pairer`]'s rules over compact records.
struct Pairing<'o> {
    h: CompactHistory,
    /// Client process → its pending operation.
    pending: Pending,
    /// Named process → its pending record.
    named: hashbrown::HashMap<String, u32>,
    /// Events paired so far.
    pos: u32,
    /// EDN: the top-level shape so far.
    shape: Shape,
    /// The lines' syntax.
    syntax: Syntax,
    /// The format the caller gave (`--format-in`), if any.
    forced: Option<super::Format>,
    /// Every event so far has a key and an `f` of Porcupine's kv format (get, put, append):
    /// what makes a history of one EDN map per line [`super::Format::PorcupineKv`], as
    /// [`super::read_history`] tells it.
    kv: bool,
    /// Told the settled prefix after each block ([`SettledObserver`]).
    observer: Option<&'o mut dyn SettledObserver>,
    /// Records below this are settled (see [`SettledObserver`]).
    settled: usize,
}

/// A chunk's string ids → the history's `f` and value ids, found on first use.
struct ChunkIds {
    f: Vec<u16>,
    value: Vec<u32>,
}

impl Pairing<'_> {
    /// Pairs the events of a parsed block whose first line is `at`, then tells the observer
    /// the settled prefix; gives back its chunks, emptied, for reuse. `None` hands the file to
    /// the general path.
    fn push_chunks(&mut self, mut chunks: Vec<Chunk>, mut at: usize) -> Option<Vec<Chunk>> {
        for c in &mut chunks {
            self.push_chunk(c, at)?;
            at += c.lines;
        }
        self.observe();
        Some(chunks)
    }

    /// Advances the settled prefix past every completed client operation and every named
    /// record, up to the first client operation still pending, and tells the observer.
    fn observe(&mut self) {
        if self.observer.is_none() {
            return;
        }
        let ops = &self.h.ops;
        let mut upto = self.settled;
        while upto < ops.len() && (ops[upto].complete != NONE || !ops[upto].client()) {
            upto += 1;
        }
        self.settled = upto;
        let format = self.format();
        if let Some(o) = self.observer.as_mut() {
            o.settled(&self.h, upto, format);
        }
    }

    fn push_chunk(&mut self, c: &mut Chunk, at: usize) -> Option<()> {
        for &(m, n) in &c.marks {
            self.shape = self.shape.after(m)?;
            if n > 1 {
                self.shape = self.shape.after(m)?;
            }
        }
        let mut ids = ChunkIds {
            f: vec![NO_F - 1; c.strs.len()],
            value: vec![NONE; c.strs.len()],
        };
        let mut full = std::mem::take(&mut c.full).into_iter().peekable();
        for (k, item) in c.items.drain(..).enumerate() {
            if full.peek().is_some_and(|(i, _)| *i == k) {
                let (_, mut e) = full.next()?;
                e.line += at;
                self.push_full(e)?;
                continue;
            }
            let pos = self.next_pos()?;
            let line = u32::try_from(at + item.line as usize).ok()?;
            if !matches!(item.process, Sv::Int(_) | Sv::Str(_)) {
                return None;
            }
            let f = if item.f == NONE {
                NO_F
            } else {
                let slot = &mut ids.f[item.f as usize];
                if *slot == NO_F - 1 {
                    *slot = self.h.f_id(Some(&c.strs[item.f as usize]))?;
                }
                *slot
            };
            let mut sv = |v: Sv| -> u32 {
                match v {
                    Sv::Null => 0,
                    Sv::Int(n) => self.h.values.int(n),
                    Sv::Bool(b) => self.h.values.value(Value::Bool(b)),
                    Sv::Str(i) => {
                        let slot = &mut ids.value[i as usize];
                        if *slot == NONE {
                            *slot = self.h.values.str(&c.strs[i as usize]);
                        }
                        *slot
                    }
                }
            };
            let key = item.key.map(&mut sv);
            let error = item.error.map(&mut sv);
            let value = match item.value {
                Val::One(v) => Held::One(sv(v)),
                Val::Pair(a, b) => Held::Pair(sv(a), sv(b)),
                Val::Nested(a, b, c) => {
                    let a = sv(a);
                    let (b, c) = (sv(b), sv(c));
                    Held::Pair(a, self.h.values.pair(b, c))
                }
                Val::Other(v) => self.h.values.held(v),
            };
            let ev = Ev {
                line,
                kind: item.kind,
                time: item.time,
                f,
                key,
                value,
                error,
            };
            match item.process {
                Sv::Int(p) => self.client(p, ev, pos)?,
                Sv::Str(i) => self.named(&c.strs[i as usize], ev, pos)?,
                _ => return None,
            }
        }
        Some(())
    }

    /// The position of the next event.
    fn next_pos(&mut self) -> Option<u32> {
        let pos = self.pos;
        self.pos = self.pos.checked_add(1).filter(|&p| p != NONE)?;
        Some(pos)
    }

    /// Pairs an event read in full.
    fn push_full(&mut self, e: super::Event) -> Option<()> {
        let pos = self.next_pos()?;
        let line = u32::try_from(e.line).ok()?;
        let process = e.process?;
        let f = self.h.f_id(e.f.as_deref())?;
        let values = &mut self.h.values;
        let ev = Ev {
            line,
            kind: e.kind,
            time: e.time,
            f,
            key: e.key.map(|k| values.value(k)),
            value: values.held(e.value),
            error: e.error.map(|v| values.value(v)),
        };
        match process {
            Process::Client(p) => self.client(p, ev, pos),
            Process::Named(name) => self.named(&name, ev, pos),
        }
    }

    /// Pairs what is `behind` and ends.
    fn finish_with(
        mut self,
        behind: Option<(Vec<Chunk>, usize)>,
        torn_line: Option<usize>,
        pool: &mut Vec<Chunk>,
    ) -> Option<CompactRead> {
        if let Some((chunks, at)) = behind {
            pool.extend(self.push_chunks(chunks, at)?);
        }
        if matches!(self.shape, Shape::InVector(_)) {
            return None;
        }
        // A log without a single operation line is the general reader's to word (an error,
        // or an empty history).
        if matches!(self.syntax, Syntax::TextLog | Syntax::JsonArray) && self.pos == 0 {
            return None;
        }
        self.finish(torn_line)
    }

    /// A named (non-client) process's event (a nemesis record): paired as the general pairing
    /// pairs it, keeping what the run's figures need of it ([`crate::perf`]'s fault windows):
    /// its `f`, its first event's time and value, and its completion's time.
    fn named(&mut self, name: &str, ev: Ev, pos: u32) -> Option<()> {
        self.note_kv(&ev);
        let (input, pair) = match ev.value {
            Held::One(a) => ([a, 0], 0),
            Held::Pair(a, b) => ([a, b], INPUT_PAIR),
        };
        // A named record's process is its name's value id.
        let process = i64::from(self.h.values.str(name));
        let record = CompactOp {
            invoke: pos,
            complete: NONE,
            invoke_line: ev.line,
            complete_line: NONE,
            invoke_time: ev.time.unwrap_or(0),
            complete_time: 0,
            process,
            key: NONE,
            input,
            output: [0, 0],
            error: NONE,
            f: ev.f,
            flags: pair | if ev.time.is_some() { INVOKE_TIME } else { 0 },
        };
        let outcome = match ev.kind {
            EventType::Ok => 1,
            EventType::Fail => 2,
            EventType::Info | EventType::Invoke => 0,
        };
        let complete = |op: &mut CompactOp| {
            op.complete = pos;
            op.complete_line = ev.line;
            op.flags = (op.flags & !OUTCOME) | outcome;
            if let Some(t) = ev.time {
                op.complete_time = t;
                op.flags |= COMPLETE_TIME;
            }
        };
        if ev.kind == EventType::Invoke {
            let id = u32::try_from(self.h.ops.len()).ok()?;
            self.named.insert(name.to_string(), id);
            self.h.ops.push(record);
        } else if let Some(open) = self.named.remove(name) {
            let op = &mut self.h.ops[open as usize];
            complete(op);
            if op.f == NO_F {
                op.f = ev.f;
            }
        } else {
            let mut op = record;
            complete(&mut op);
            self.h.ops.push(op);
        }
        Some(())
    }

    /// Notes whether `ev` could be an event of Porcupine's kv format ([`Pairing::kv`]).
    fn note_kv(&mut self, ev: &Ev) {
        self.kv = self.kv
            && ev.key.is_some()
            && matches!(
                self.h.fs.get(usize::from(ev.f)).map(String::as_str),
                Some("get" | "put" | "append")
            );
    }

    /// The file's format, as [`super::read_history`] names it: the one given, else the
    /// syntax's, except that EDN of one map per line (not inside a vector or list) whose
    /// every event is a kv event ([`Pairing::kv`]) is Porcupine's kv format.
    fn format(&self) -> super::Format {
        match self.forced {
            Some(f) => f,
            None if self.syntax == Syntax::Edn
                && self.shape == Shape::PerLine
                && self.pos > 0
                && self.kv =>
            {
                super::Format::PorcupineKv
            }
            None => self.syntax.format(),
        }
    }

    fn client(&mut self, process: i64, ev: Ev, pos: u32) -> Option<()> {
        self.note_kv(&ev);
        let f = ev.f;
        if ev.kind == EventType::Invoke {
            if self.pending.contains(process) {
                return None;
            }
            let id = u32::try_from(self.h.ops.len()).ok()?;
            let (input, pair) = match ev.value {
                Held::One(a) => ([a, 0], 0),
                Held::Pair(a, b) => ([a, b], INPUT_PAIR),
            };
            self.h.ops.push(CompactOp {
                invoke: pos,
                complete: NONE,
                invoke_line: ev.line,
                complete_line: NONE,
                invoke_time: ev.time.unwrap_or(0),
                complete_time: 0,
                process,
                key: ev.key.unwrap_or(NONE),
                input,
                output: [0, 0],
                error: NONE,
                f,
                flags: CLIENT | pair | if ev.time.is_some() { INVOKE_TIME } else { 0 },
            });
            self.pending.insert(process, id);
            return Some(());
        }
        let open = self.pending.remove(process)?;
        let op = &mut self.h.ops[open as usize];
        if op.f != NO_F && f != NO_F && op.f != f {
            return None;
        }
        if let (true, Some(k)) = (op.key != NONE, ev.key) {
            if k != op.key {
                return None;
            }
        }
        let outcome = match ev.kind {
            EventType::Ok => 1,
            EventType::Fail => 2,
            EventType::Info | EventType::Invoke => 0,
        };
        let (output, pair) = match ev.value {
            Held::One(a) => ([a, 0], 0),
            Held::Pair(a, b) => ([a, b], OUTPUT_PAIR),
        };
        op.complete = pos;
        op.complete_line = ev.line;
        if let Some(t) = ev.time {
            op.complete_time = t;
            op.flags |= COMPLETE_TIME;
        }
        op.output = output;
        op.flags = (op.flags & !OUTCOME) | outcome | pair;
        op.error = ev.error.unwrap_or(NONE);
        if op.key == NONE {
            op.key = ev.key.unwrap_or(NONE);
        }
        if op.f == NO_F {
            op.f = f;
        }
        Some(())
    }

    fn finish(mut self, torn_line: Option<usize>) -> Option<CompactRead> {
        // The lookup tables are for reading only.
        let v = &mut self.h.values;
        v.ints = IntIds::default();
        v.strs = hashbrown::HashTable::new();
        v.texts = hashbrown::HashMap::new();
        v.values.shrink_to_fit();
        self.h.ops.shrink_to_fit();
        let format = self.format();
        self.h.format = Some(format);
        Some(CompactRead::Read {
            format,
            events: self.pos as usize,
            history: Box::new(self.h),
            torn_line,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{pair, read_history};

    /// Integers interned dense or sparse keep their ids; equal integers get one id, each value
    /// is kept as read.
    #[test]
    fn values_integer_table_keeps_ids_across_growth() {
        let mut v = Values::default();
        let far = v.int(100_000);
        let neg = v.int(-7);
        let big = v.int(i64::MAX);
        let small: Vec<u32> = (0..40_000).map(|n| v.int(n)).collect();
        assert_eq!(v.int(100_000), far);
        assert_eq!(v.int(-7), neg);
        assert_eq!(v.int(i64::MAX), big);
        for (n, &id) in small.iter().enumerate() {
            assert_eq!(v.int(n as i64), id);
            assert_eq!(v.get(id), &Value::from(n));
        }
        assert_eq!(v.len(), 40_000 + 3 + 1, "the integers and null");
    }

    /// Equal strings get one id, their text held once (by the value) and counted once in the
    /// reader's estimate.
    #[test]
    fn values_strings_are_interned_by_their_text_held_once() {
        let mut v = Values::default();
        let long = "x".repeat(10_000);
        let a = v.str(&long);
        let b = v.str("short");
        assert_eq!(v.str(&long), a);
        assert_eq!(v.str("short"), b);
        assert_ne!(a, b);
        assert_eq!(v.get(a), &Value::String(long));
        assert_eq!(v.text_bytes, 10_000 + 5);
    }

    /// A Porcupine kv file too large for the limit is named `porcupine-kv` in the `unknown`
    /// (as its whole read names it), not `edn`.
    #[test]
    fn out_of_memory_names_porcupine_kv_as_the_whole_read_does() {
        let dir =
            std::env::temp_dir().join(format!("faultline-compact-oom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kv.edn");
        let mut text = String::new();
        for i in 0..40_000 {
            let p = i % 4;
            text.push_str(&format!(
                "{{:process {p}, :type :invoke, :f :put, :key \"k{}\", :value \"v{i}\"}}\n",
                i % 3
            ));
            text.push_str(&format!(
                "{{:process {p}, :type :ok, :f :put, :key \"k{}\", :value \"v{i}\"}}\n",
                i % 3
            ));
        }
        assert!(text.len() > 2 * FIRST_BLOCK);
        std::fs::write(&path, &text).unwrap();
        // Nothing in use at the first block's check (nothing is paired yet), past the limit
        // at the next: the reader stops after pairing some of the file.
        fn huge() -> usize {
            static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            if CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                0
            } else {
                1 << 40
            }
        }
        let read = read_compact(path.to_str().unwrap(), None, 1 << 20, Some(huge), 0);
        std::fs::remove_dir_all(&dir).unwrap();
        match read {
            Some(CompactRead::OutOfMemory { format, .. }) => {
                assert_eq!(format, super::super::Format::PorcupineKv)
            }
            other => panic!("expected the reader to stop for memory: {other:?}"),
        }
    }

    fn compare(name: &str, text: &str) {
        compare_taking(name, text, true, "jsonl");
    }

    /// [`compare`]; the compact reader must take a good history only when `take`.
    fn compare_taking(name: &str, text: &str, take: bool, ext: &str) {
        // A directory per case: tests run in parallel, and each removes its own at the end.
        let dir =
            std::env::temp_dir().join(format!("faultline-compact-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.{ext}"));
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap();
        let general = read_history(path, text.as_bytes(), None).and_then(|h| pair(&h));
        let compact = read_compact(path, None, 1 << 30, None, 0);
        match (general, compact) {
            (Ok(ops), Some(CompactRead::Read { history, .. })) => {
                assert!(
                    take,
                    "{name}: the compact reader took a history it must leave"
                );
                assert_eq!(history.len(), ops.len(), "{name}");
                // Each event's position → its line.
                let mut lines = std::collections::HashMap::new();
                for o in &ops {
                    lines.insert(o.invoke, Some(o.invoke_line));
                }
                for o in &ops {
                    if let Some(c) = o.complete {
                        lines.insert(c, o.complete_line);
                    }
                }
                for op in &ops {
                    if op.client {
                        assert_eq!(history.operation(op.id).as_ref(), Some(op), "{name}");
                    } else {
                        // A named record: everything but a completion's value (not kept).
                        let mut r = history.record(op.id).expect("a named record");
                        if op.complete != Some(op.invoke) {
                            r.output = op.output.clone();
                        }
                        assert_eq!(&r, op, "{name}");
                    }
                    for pos in [op.invoke, op.complete.unwrap_or(0)] {
                        let want = lines.get(&pos).copied().flatten();
                        assert_eq!(history.line_at(pos), want, "{name}");
                    }
                }
            }
            (Err(_), None) => {}
            (Ok(_), None) if !take => {}
            (Ok(_), None) => panic!("{name}: the compact reader gave up on a good history"),
            (g, c) => panic!("{name}: general {g:?}, compact {:?}", c.is_some()),
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Guards the direct tables of process numbers and small integers: processes past the
    /// table (and negative ones), integers on both sides of its end, named records lone and
    /// paired, all as the general path pairs them.
    #[test]
    fn compact_pairing_agrees_past_its_direct_tables_and_on_named_records() {
        let mut text = String::new();
        for (i, p) in [0i64, 65535, 65536, 1 << 40, -3].iter().enumerate() {
            let v = [4095i64, 4096, -1, 0, 1 << 33][i];
            text.push_str(&format!(
                "{{\"process\":{p},\"type\":\"invoke\",\"f\":\"write\",\"value\":{v},\"time\":{i}}}\n"
            ));
            text.push_str(&format!(
                "{{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":\"n{i}\",\"time\":{i}}}\n"
            ));
            text.push_str(&format!(
                "{{\"process\":{p},\"type\":\"ok\",\"f\":\"write\",\"value\":{v},\"time\":{i}}}\n"
            ));
        }
        text.push_str("{\"process\":\"nemesis\",\"type\":\"invoke\",\"f\":\"start-partition\",\"value\":\"halves\",\"time\":9}\n");
        text.push_str("{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-partition\",\"value\":{\"n1\":[\"n2\"]},\"time\":10}\n");
        compare("tables", &text);
    }

    #[test]
    fn a_compact_operation_record_is_72_bytes() {
        // The figure the docs give (and the memory estimate counts).
        assert_eq!(std::mem::size_of::<CompactOp>(), 72);
    }

    #[test]
    fn compact_pairing_of_jepsen_edn_rebuilds_the_general_edn_readers_operations() {
        let lines = edn_lines(3000);
        let per_line = lines.join("\n") + "\n";
        compare_read("edn-lines", &per_line);
    }

    /// `n` invocations of write, read and cas (independent tuples, `:x` values, strings) with
    /// their ok, fail and info completions (big integers, floats, errors, escaped strings,
    /// comments after a map) and nemesis records, one map per line.
    fn edn_lines(n: i64) -> Vec<String> {
        let mut lines = Vec::new();
        for i in 0..n {
            let p = i % 5;
            let (f, v) = match i % 4 {
                0 => ("write", format!("[{} {i}]", i % 3)),
                1 => ("read", format!("[{} nil]", i % 3)),
                2 => ("cas", format!("[{} [{} :x]]", i % 3, i - 1)),
                _ => ("write", "\"s\"".to_string()),
            };
            lines.push(format!(
                "{{:type :invoke, :f :{f}, :value {v}, :process {p}, :time {}, :index {}}}",
                10 * i,
                2 * i
            ));
            if i % 7 == 0 {
                lines.push("{:type :info, :f :kill, :value {:n1 [1]}, :process :nemesis}".into());
            }
            let kind = ["ok", "fail", "info"][(i % 3) as usize];
            let (out, error, after) = match i % 11 {
                0 => ("9223372036854775807N", "", ""),
                1 => ("1.5", ", :error [:timeout \"t\"]", ""),
                2 => ("[1 2]", "", " ; a comment"),
                3 => ("[1 2]", ", :error \"a \\\"quoted\\\" {brace\"", ""),
                _ => ("[1 [2 nil]]", ", :error :e", ""),
            };
            lines.push(format!(
                "{{:type :{kind}, :f :{f}, :value {out}, :process {p}, :time {}, :index {}{error}}}{after}",
                10 * i + 5,
                2 * i + 1
            ));
        }
        lines
    }

    /// [`compare_taking`] for a history the general path reads without error.
    fn compare_read(name: &str, text: &str) {
        let general = read_history(name, text.as_bytes(), None).and_then(|h| pair(&h));
        assert!(general.is_ok(), "{name}: {:?}", general.err());
        compare_taking(name, text, true, "edn");
    }

    /// Guards the compact reading of Jepsen EDN written by `clojure.pprint` (maps spread over
    /// lines, as Knossos's histories are): in a vector, a list or bare, spread from the start
    /// or only after more than the first block of one-line maps, each operation, line and
    /// pairing the general EDN reader's.
    #[test]
    fn compact_pairing_of_pretty_printed_edn_rebuilds_the_general_edn_readers_operations() {
        // As pprint breaks a map too wide for its line: one entry per line.
        let pretty = |lines: &[String]| -> Vec<String> {
            lines.iter().map(|l| l.replace(", :", ",\n  :")).collect()
        };
        let lines = pretty(&edn_lines(3000));
        compare_read("edn-pretty-vector", &format!("[{}]\n", lines.join("\n ")));
        compare_read("edn-pretty-list", &format!("({})\n", lines.join("\n ")));
        compare_read("edn-pretty-maps", &(lines.join("\n") + "\n"));
        compare_read(
            "edn-pretty-own-lines",
            &format!("\u{feff};; history\n[\n{}\n]\n\n", lines.join(",\n")),
        );
        // One-line maps past the first block (1 MiB), then spread ones.
        let long = edn_lines(20_000);
        let (head, tail) = long.split_at(long.len() / 2);
        assert!(head.iter().map(|l| l.len() + 2).sum::<usize>() > FIRST_BLOCK);
        let late = |open: &str, close: &str| {
            format!(
                "{open}{}\n {}{close}\n",
                head.join("\n "),
                pretty(tail).join("\n ")
            )
        };
        compare_read("edn-pretty-late-vector", &late("[", "]"));
        compare_read("edn-pretty-late-maps", &late("", ""));
        // Spread maps the general reader refuses are left to it.
        let two_vectors = format!("[{}]\n[{}]\n", lines[0], lines[1]);
        compare_taking("edn-pretty-two-vectors", &two_vectors, false, "edn");
        let unclosed = format!("[{}\n", lines.join("\n"));
        compare_taking("edn-pretty-unclosed", &unclosed, false, "edn");
        let open_map = format!("{}\n{{:type :ok,\n :process 1\n", lines.join("\n"));
        compare_taking("edn-pretty-open-map", &open_map, false, "edn");
    }

    #[test]
    fn compact_pairing_of_jepsen_edn_rebuilds_the_general_edn_readers_operations_in_vectors() {
        let lines = edn_lines(3000);
        let vector = format!("[{}]\n", lines.join("\n "));
        compare_read("edn-vector", &vector);
        let own_lines = format!("\u{feff};; history\n[\n{}\n]\n\n", lines.join(",\n"));
        compare_read("edn-brackets", &own_lines);
        compare_taking(
            "edn-unclosed",
            &format!("[{}\n", lines.join("\n")),
            true,
            "edn",
        );
        compare_taking("edn-twice", &format!("{vector}{vector}"), true, "edn");
        compare_taking("edn-after", &format!("{vector}{}\n", lines[0]), true, "edn");
        compare_taking(
            "edn-inner",
            &format!("{}\n[{}]\n", lines[0], lines[1]),
            true,
            "edn",
        );
        let list = format!("({})\n", lines.join("\n "));
        compare_taking("edn-list", &list, true, "edn");
        let mixed = format!("({}]\n", lines.join("\n "));
        compare_taking("edn-mixed", &mixed, true, "edn");
        let spread = format!("{}\n{{:type :ok,\n :process 1}}\n", lines.join("\n"));
        compare_taking("edn-spread", &spread, false, "edn");
        let keyed = format!("{}\n{{:type :ok, :process 9, :key 1}}\n", lines.join("\n"));
        compare_taking("edn-keyed", &keyed, false, "edn");
        let kv = "{:process 0, :type :invoke, :f :put, :key \"x\", :value \"1\"}\n{:process 0, :type :ok, :f :put, :key \"x\", :value \"1\"}\n";
        compare_taking("edn-kv", kv, true, "edn");
    }

    /// Guards the format the compact reader names for keyed EDN: Porcupine's kv format
    /// exactly when the general reader names it (top-level maps, on a line each or spread
    /// over lines, every event keyed with get/put/append), and the format given when one is
    /// given; the operations are the general path's.
    #[test]
    fn compact_reader_names_porcupine_kv_exactly_when_the_general_reader_does() {
        use crate::history::Format;
        let kv = "{:process 0, :type :invoke, :f :put, :key \"x\", :value \"1\"}\n\
                  {:process 1, :type :invoke, :f :get, :key \"y\", :value nil}\n\
                  {:process 0, :type :ok, :f :put, :key \"x\", :value \"1\"}\n\
                  {:process 1, :type :ok, :f :get, :key \"y\", :value \"\"}\n\
                  {:process 2, :type :invoke, :f :append, :key 3, :value \"a b\"}\n\
                  {:process 2, :type :info, :f :append, :key 3, :value \"a b\"}\n";
        let nemesis = "{:process :nemesis, :type :info, :f :kill, :value nil}\n";
        let unkeyed = "{:process 3, :type :invoke, :f :get, :value nil}\n";
        let register = "{:process 0, :type :invoke, :f :write, :key \"x\", :value 1}\n\
                        {:process 0, :type :ok, :f :write, :key \"x\", :value 1}\n\
                        {:process 1, :type :invoke, :f :read, :key 1, :value nil}\n\
                        {:process 1, :type :ok, :f :read, :key 1, :value 1}\n";
        let vector = format!("[{}]\n", kv.trim_end());
        let cases: Vec<(&str, String, Option<Format>)> = vec![
            ("kv", kv.to_string(), None),
            ("kv-nemesis", format!("{kv}{nemesis}"), None),
            ("kv-unkeyed", format!("{kv}{unkeyed}"), None),
            ("kv-vector", vector.clone(), None),
            ("kv-pretty", kv.replace(", :", ",\n :"), None),
            (
                "kv-pretty-vector",
                vector.replace(", :", ",\n  :"),
                Some(Format::PorcupineKv),
            ),
            ("kv-as-edn", kv.to_string(), Some(Format::Edn)),
            ("register-keyed", register.to_string(), None),
            (
                "register-as-kv",
                register.to_string(),
                Some(Format::PorcupineKv),
            ),
            ("vector-as-kv", vector, Some(Format::PorcupineKv)),
        ];
        for (name, text, forced) in cases {
            let dir = std::env::temp_dir()
                .join(format!("faultline-compact-{}-f-{name}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("h.edn");
            std::fs::write(&path, &text).unwrap();
            let path = path.to_str().unwrap();
            let general = read_history(path, text.as_bytes(), forced).unwrap();
            let ops = pair(&general).unwrap();
            let Some(CompactRead::Read {
                history, format, ..
            }) = read_compact(path, forced, 1 << 30, None, 0)
            else {
                panic!("{name}: the compact reader left a keyed EDN history");
            };
            assert_eq!(format, general.format, "{name}");
            assert_eq!(history.format, Some(general.format), "{name}");
            for op in ops.iter().filter(|o| o.client) {
                assert_eq!(history.operation(op.id).as_ref(), Some(op), "{name}");
            }
            std::fs::remove_dir_all(&dir).ok();
        }
    }

    #[test]
    fn compact_pairing_of_jepsen_text_logs_rebuilds_the_general_log_readers_operations() {
        let mut lines = vec!["2026-12-06 INFO  jepsen.core - Running test".to_string()];
        for i in 0..3000i64 {
            let p = i % 5;
            let (f, v) = match i % 4 {
                0 => ("write", format!("[{} {i}]", i % 3)),
                1 => ("read", format!("[{} nil]", i % 3)),
                2 => ("cas", format!("[{} [{} :x]]", i % 3, i - 1)),
                _ => ("write", "\"s t\"".to_string()),
            };
            let sep = if i % 13 == 0 { "   " } else { "\t" };
            lines.push(format!(
                "INFO  jepsen.util - {p}{sep}:invoke{sep}:{f}{sep}{v}"
            ));
            if i % 7 == 0 {
                lines.push(
                    "INFO  jepsen.util - :nemesis\t:info\t:start\tCut off {:n1 #{:n2}}".into(),
                );
                lines.push("INFO  jepsen.util - Worker 3 starting".into());
            }
            let kind = ["ok", "fail", "info"][(i % 3) as usize];
            let out = match i % 11 {
                0 => "9223372036854775807N",
                1 => "1.5",
                2 => ":timed-out",
                3 => "",
                _ => "[1 [2 nil]]",
            };
            lines.push(format!("INFO  jepsen.util - {p}\t:{kind}\t:{f}\t{out}\r"));
        }
        let log = lines.join("\n") + "\n";
        compare_taking("log", &log, true, "log");
        compare_taking(
            "log-bad",
            &format!("{log}INFO  jepsen.util - x\t:bogus\t:read\tnil\n"),
            true,
            "log",
        );
        compare_taking("log-none", "INFO  jepsen.core - nothing\n", true, "log");
    }

    #[test]
    fn compact_pairing_rebuilds_the_general_paths_operations() {
        let mut text = String::from("\u{feff}");
        for i in 0..3000i64 {
            let p = i % 5;
            let (f, v) = match i % 4 {
                0 => ("write", format!("{i}")),
                1 => ("read", "null".to_string()),
                2 => ("cas", format!("[{}, \"x\"]", i - 1)),
                _ => ("write", "1.0".to_string()),
            };
            text.push_str(&format!(
                "{{\"index\":{},\"process\":{p},\"type\":\"invoke\",\"f\":\"{f}\",\"key\":{},\"value\":{v},\"node\":\"n\\u0031\"}}\r\n",
                2 * i,
                i % 3
            ));
            if i % 7 == 0 {
                text.push_str("\n  \n{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":{\"a\":[1]}}\n");
            }
            let kind = ["ok", "fail", "info"][(i % 3) as usize];
            let out = if i % 11 == 0 {
                "9223372036854775807"
            } else {
                "[1,2]"
            };
            text.push_str(&format!(
                "{{\"index\":{},\"process\":{p},\"type\":\"{kind}\",\"f\":\"{f}\",\"value\":{out},\"time\":{i},\"error\":\"e{}\"}}\n",
                2 * i + 1,
                i % 2
            ));
        }
        compare("plain", &text);
        compare("torn", &format!("{text}{{\"process\":1,\"type\":\"inv"));
        compare(
            "pending",
            &format!("{text}{{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}}\n"),
        );
        compare("double", &format!("{text}{{\"process\":1,\"type\":\"invoke\"}}\n{{\"process\":1,\"type\":\"invoke\"}}\n"));
        compare(
            "orphan",
            &format!("{text}{{\"process\":1,\"type\":\"ok\"}}\n"),
        );
        compare("noprocess", &format!("{text}{{\"type\":\"invoke\"}}\n"));
        compare("bad", &format!("{text}{{\"type\":\n"));
        compare(
            "keys",
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":1}\n{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":1.0,\"value\":[1,[2]]}\n",
        );
        compare(
            "fs",
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":1,\"type\":\"ok\",\"f\":\"write\"}\n",
        );
        compare(
            "escapes",
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"w\\u0072ite\",\"key\":\"k\\\"\",\"value\":\"a\\nb\",\"time\":1.5}\n{\"process\":1,\"type\":\"info\"}\n",
        );
    }
}
