//! The Wing–Gong linearizability search with Lowe's memoization, for one partition.
//!
//! Determinate operations form a doubly linked list of call and return entries in real-time
//! order. The search repeatedly picks an operation whose call comes before the first remaining
//! return entry (it may take effect now), applies the model's `step`, and on success removes
//! ("lifts") it and goes on; when no candidate is left it backtracks. A configuration
//! (linearized set, state) already seen is skipped ([`super::cache`]).
//!
//! The step is [`Model::step_all`]: for a non-deterministic model an operation may lead to
//! several states, and each is its own configuration. The first one not yet seen is explored
//! at once; the frame remembers the index of the next one (`Frame::alt`), and when the frame is
//! popped its remaining states are tried before the scan moves past the operation. So the
//! search explores every (linearized set, state) reachable, exactly as for a deterministic
//! model, where there is one state per step and nothing to retry.
//!
//! Indeterminate operations have no return entry: they never block, and the search succeeds
//! as soon as every determinate operation is linearized (the rest may never have happened, or
//! happened after everything else). They are kept apart from the list and tried only after
//! the determinate candidates, since they are needed only to explain a result. Two reductions
//! keep the search small, both exact:
//! - *Eager reads*: an operation that never changes the state (a read) and fits the current
//!   state is linearized at once without trying alternatives — any linearization from this
//!   configuration can be rearranged to start with it.
//! - *Symmetric indeterminate ops*: indeterminate operations with identical effect (e.g. two
//!   timed-out writes of the same value) are interchangeable once both are invoked, so only
//!   the earliest-invoked one not yet linearized is ever tried.

use super::cache::{zobrist, Cache, Visit};

/// The most configurations a search reserves room for before it starts (16M: about 1 GiB).
const MAX_RESERVED: u64 = 1 << 24;
use crate::budget::{Budget, StopReason};
use crate::model::Model;
use std::collections::HashMap;

/// One operation as the search sees it.
#[derive(Debug, Clone)]
pub struct Entry<O> {
    /// The compiled model op.
    pub op: O,
    /// Position of the invocation in the file (real-time order).
    pub call: usize,
    /// Position of the completion for determinate ops; `None` for indeterminate ones.
    pub ret: Option<usize>,
    /// The history operation this came from (its `Operation::id`).
    pub orig: usize,
}

/// What the search concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Every determinate operation was linearized; the order (indices into the entries).
    Linearizable(Vec<usize>),
    /// No linearization exists. The longest partial linearizations reached (indices into
    /// the entries, in order), at most three; empty if the budget ran out computing them.
    NotLinearizable(Vec<Vec<usize>>),
    /// The budget ran out (or the check was cancelled): why.
    Aborted(StopReason),
}

/// The search result with its statistics.
#[derive(Debug, Clone)]
pub struct SearchResult {
    /// The conclusion.
    pub found: Found,
    /// Configurations memoized.
    pub states: u64,
}

/// Searches for a linearization of `entries` from `init`; when there is none, also records the
/// longest partial linearizations reached.
pub fn search<M: Model>(
    model: &M,
    init: &M::State,
    entries: &[Entry<M::Op>],
    budget: &Budget,
) -> SearchResult {
    run_search(model, init, entries, budget, true)
}

/// Like [`search`], but only decides: a `NotLinearizable` result carries no partial
/// linearizations, which saves the second pass that records them (the shrinker's trials).
pub fn decide<M: Model>(
    model: &M,
    init: &M::State,
    entries: &[Entry<M::Op>],
    budget: &Budget,
) -> SearchResult {
    run_search(model, init, entries, budget, false)
}

fn run_search<M: Model>(
    model: &M,
    init: &M::State,
    entries: &[Entry<M::Op>],
    budget: &Budget,
    record_longest: bool,
) -> SearchResult {
    let mut s = Search::new(model, entries);
    let first = s.run(init, budget, None);
    match first {
        Run::Done(order) => SearchResult {
            found: Found::Linearizable(order),
            states: s.states,
        },
        Run::Aborted(why) => SearchResult {
            found: Found::Aborted(why),
            states: s.states,
        },
        Run::Recorded(paths) => SearchResult {
            found: Found::NotLinearizable(paths),
            states: s.states,
        },
        Run::Failed(depth) => {
            let states = s.states;
            let longest = if record_longest {
                // The DFS is deterministic: a second run stops at the depth the first reached
                // and records the paths there, so the first run never copies its stack.
                let mut s2 = Search::new(model, entries);
                match s2.run(init, budget, Some(depth)) {
                    Run::Recorded(paths) => paths,
                    _ => Vec::new(),
                }
            } else {
                Vec::new()
            };
            SearchResult {
                found: Found::NotLinearizable(longest),
                states,
            }
        }
    }
}

/// The call and return events of the determinate entries, ordered by file position (a call
/// before a return at the same position), as (position, is a call, entry).
fn real_time_order<O>(entries: &[Entry<O>]) -> Vec<(usize, bool, u32)> {
    let mut calls: Vec<(usize, u32)> = Vec::with_capacity(entries.len());
    let mut rets: Vec<(usize, u32)> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if let Some(r) = e.ret {
            calls.push((e.call, i as u32));
            rets.push((r, i as u32));
        }
    }
    // Entries usually come by invocation: the calls are then in order already, and the
    // returns nearly so (the adaptive stable sort takes such runs in linear time).
    calls.sort_by_key(|&(pos, i)| (pos, i));
    rets.sort_by_key(|&(pos, i)| (pos, i));
    let mut events = Vec::with_capacity(calls.len() + rets.len());
    let (mut a, mut b) = (0, 0);
    while a < calls.len() || b < rets.len() {
        if b == rets.len() || (a < calls.len() && calls[a].0 <= rets[b].0) {
            events.push((calls[a].0, true, calls[a].1));
            a += 1;
        } else {
            events.push((rets[b].0, false, rets[b].1));
            b += 1;
        }
    }
    events
}

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

#[derive(Clone, Copy)]
struct Node {
    prev: u32,
    next: u32,
    entry: u32,
    is_call: bool,
}

/// Where the candidate scan is: in the list of determinate entries, or among the classes of
/// indeterminate ones.
#[derive(Clone, Copy)]
enum Cursor {
    /// The operation with the earliest remaining return: it must be linearized soonest, so it
    /// is tried first.
    Urgent,
    Main(u32),
    Info(u32),
}

struct Frame<S> {
    entry: u32,
    /// The cache id of the configuration this step led to.
    id: u32,
    prev: S,
    forced: bool,
    /// For a non-deterministic step: the index of the next state of `entry`'s
    /// [`Model::step_all`] to try when this frame is popped (0 when there is none left).
    alt: u32,
}

enum Run {
    Done(Vec<usize>),
    Failed(usize),
    Recorded(Vec<Vec<usize>>),
    Aborted(StopReason),
}

struct Search<'a, M: Model> {
    model: &'a M,
    entries: &'a [Entry<M::Op>],
    nodes: Vec<Node>,
    call_node: Vec<u32>,
    ret_node: Vec<u32>,
    /// Indeterminate entries grouped by identical op, each group in invocation order.
    classes: Vec<Vec<u32>>,
    class_of: Vec<u32>,
    read_only: Vec<bool>,
    states: u64,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, entries: &'a [Entry<M::Op>]) -> Self {
        let n = entries.len();
        let events = real_time_order(entries);
        let mut nodes: Vec<Node> = Vec::with_capacity(events.len() + 1);
        nodes.push(Node {
            prev: NIL,
            next: if events.is_empty() { NIL } else { 1 },
            entry: NIL,
            is_call: false,
        });
        let mut call_node = vec![NIL; n];
        let mut ret_node = vec![NIL; n];
        for (k, &(_, is_call, e)) in events.iter().enumerate() {
            let id = (k + 1) as u32;
            let next = if k + 1 < events.len() { id + 1 } else { NIL };
            nodes.push(Node {
                prev: id - 1,
                next,
                entry: e,
                is_call,
            });
            if is_call {
                call_node[e as usize] = id;
            } else {
                ret_node[e as usize] = id;
            }
        }
        let mut classes: Vec<Vec<u32>> = Vec::new();
        let mut class_of = vec![NIL; n];
        let mut ids: HashMap<&M::Op, u32> = HashMap::new();
        let mut info: Vec<usize> = (0..n).filter(|&i| entries[i].ret.is_none()).collect();
        info.sort_unstable_by_key(|&i| (entries[i].call, i));
        for i in info {
            let c = *ids.entry(&entries[i].op).or_insert_with(|| {
                classes.push(Vec::new());
                (classes.len() - 1) as u32
            });
            classes[c as usize].push(i as u32);
            class_of[i] = c;
        }
        let read_only = entries.iter().map(|e| model.read_only(&e.op)).collect();
        Search {
            model,
            entries,
            nodes,
            call_node,
            ret_node,
            classes,
            class_of,
            read_only,
            states: 0,
        }
    }

    fn lift(&mut self, e: usize) {
        for id in [self.call_node[e], self.ret_node[e]] {
            if id != NIL {
                let Node { prev, next, .. } = self.nodes[id as usize];
                self.nodes[prev as usize].next = next;
                if next != NIL {
                    self.nodes[next as usize].prev = prev;
                }
            }
        }
    }

    fn unlift(&mut self, e: usize) {
        for id in [self.ret_node[e], self.call_node[e]] {
            if id != NIL {
                let Node { prev, next, .. } = self.nodes[id as usize];
                self.nodes[prev as usize].next = id;
                if next != NIL {
                    self.nodes[next as usize].prev = id;
                }
            }
        }
    }

    /// The entry of the first remaining return entry (`NIL` if none).
    fn urgent(&self) -> u32 {
        let mut id = self.nodes[HEAD as usize].next;
        while id != NIL {
            let node = self.nodes[id as usize];
            if !node.is_call {
                return node.entry;
            }
            id = node.next;
        }
        NIL
    }

    /// The file position of an entry's return (`usize::MAX` for `NIL`, i.e. none left).
    fn return_position(&self, entry: u32) -> usize {
        if entry == NIL {
            usize::MAX
        } else {
            self.entries[entry as usize].ret.unwrap_or(usize::MAX)
        }
    }

    /// The DFS. With `record = Some(depth)`, collects up to three partial linearizations of
    /// that depth (the deepest a previous run reached) and stops.
    fn run(&mut self, init: &M::State, budget: &Budget, record: Option<usize>) -> Run {
        let mut bits = Bits::new(self.entries, &self.class_of, self.classes.len());
        let mut remaining = self.entries.iter().filter(|e| e.ret.is_some()).count();
        // A linearizable partition stores about one configuration per determinate operation:
        // room for that many (within the round's state limit) saves growing the tables.
        let room = (remaining as u64 + 1)
            .min(budget.state_limit())
            .min(MAX_RESERVED);
        let mut cache: Cache<M::State> = Cache::with_capacity(room as usize);
        let mut state = init.clone();
        let mut stack: Vec<Frame<M::State>> = Vec::new();
        let mut recorded: Vec<Vec<usize>> = Vec::new();
        let mut max_depth = 0usize;
        let mut cur = Cursor::Urgent;
        let mut urgent = NIL;
        let mut first_ret = usize::MAX;
        let mut ticks: u32 = 0;
        let mut charged = 0usize;
        // The next states of the candidate (one for a deterministic model), and a popped
        // frame's entry whose remaining next states are tried before the scan goes on.
        let mut succ: Vec<M::State> = Vec::new();
        let mut retry: Option<(usize, u32)> = None;

        let result = loop {
            if remaining == 0 {
                break Run::Done(stack.iter().map(|f| f.entry as usize).collect());
            }
            ticks = ticks.wrapping_add(1);
            if ticks & 0x3FF == 0 {
                let bytes = cache.bytes();
                let mut why = budget.charge(bytes.saturating_sub(charged));
                charged = charged.max(bytes);
                if cache.len() as u64 > budget.state_limit() {
                    why = why.or(Some(StopReason::StateLimit));
                }
                if let Some(why) = why {
                    break Run::Aborted(why);
                }
            } else if ticks & 0x3F == 0 && budget.memory_exceeded() {
                // The heap is looked at more often than the rest: one step of a model with
                // large states (kv's texts, a set's or a queue's elements) may allocate many
                // kilobytes, and the limit must hold within a few steps.
                break Run::Aborted(StopReason::Memory);
            }
            // Pick the next candidate: a popped frame's entry with next states left to try,
            // else from the cursor.
            let (candidate, from) = if let Some((e, k)) = retry.take() {
                (Some(e), k as usize)
            } else {
                let c = match cur {
                    Cursor::Urgent => {
                        urgent = self.urgent();
                        cur = Cursor::Main(self.nodes[HEAD as usize].next);
                        (urgent != NIL).then_some(urgent as usize)
                    }
                    Cursor::Main(id) if id != NIL => {
                        let node = self.nodes[id as usize];
                        if node.is_call {
                            cur = Cursor::Main(node.next);
                            (node.entry != urgent).then_some(node.entry as usize)
                        } else {
                            first_ret = self.return_position(node.entry);
                            cur = Cursor::Info(0);
                            None
                        }
                    }
                    Cursor::Main(_) => {
                        first_ret = usize::MAX;
                        cur = Cursor::Info(0);
                        None
                    }
                    Cursor::Info(c) if (c as usize) < self.classes.len() => {
                        cur = Cursor::Info(c + 1);
                        let members = &self.classes[c as usize];
                        let done = bits.done(c) as usize;
                        match members.get(done) {
                            Some(&e) if self.entries[e as usize].call < first_ret => {
                                Some(e as usize)
                            }
                            _ => None,
                        }
                    }
                    Cursor::Info(_) => {
                        // Nothing left to try here: backtrack.
                        match self.backtrack(
                            &mut cache,
                            &mut stack,
                            &mut state,
                            &mut bits,
                            &mut remaining,
                            record,
                            max_depth,
                            &mut recorded,
                        ) {
                            Some((e, alt)) => {
                                if recorded.len() >= 3 {
                                    break Run::Recorded(recorded);
                                }
                                if alt > 0 {
                                    retry = Some((e, alt));
                                }
                                // Resume the restored configuration's scan just after `e`.
                                urgent = self.urgent();
                                cur = if self.entries[e].ret.is_none() {
                                    first_ret = self.return_position(urgent);
                                    Cursor::Info(self.class_of[e] + 1)
                                } else if urgent == e as u32 {
                                    Cursor::Main(self.nodes[HEAD as usize].next)
                                } else {
                                    Cursor::Main(self.nodes[self.call_node[e] as usize].next)
                                };
                                continue;
                            }
                            None => {
                                break match record {
                                    Some(_) => Run::Recorded(recorded),
                                    None => Run::Failed(max_depth),
                                }
                            }
                        }
                    }
                };
                (c, 0)
            };
            let Some(e) = candidate else { continue };
            succ.clear();
            self.model.step_all(&state, &self.entries[e].op, &mut succ);
            let total = succ.len();
            if total <= from {
                continue;
            }
            let forced = self.read_only[e];
            let mut moved = false;
            // Each next state is its own configuration (linearized set, state): the first
            // one not seen yet is explored now, the others when this frame is popped.
            for (j, next) in succ.drain(..).enumerate().skip(from) {
                bits.set(e);
                if let Visit::New(id) = cache.insert(&mut bits, &next) {
                    let prev = std::mem::replace(&mut state, next);
                    stack.push(Frame {
                        entry: e as u32,
                        id,
                        prev,
                        forced,
                        alt: if j + 1 < total { (j + 1) as u32 } else { 0 },
                    });
                    max_depth = max_depth.max(stack.len());
                    self.lift(e);
                    if self.entries[e].ret.is_some() {
                        remaining -= 1;
                    }
                    cur = Cursor::Urgent;
                    moved = true;
                    break;
                }
                bits.clear(e);
            }
            if !moved && forced {
                // The read fits, so the configuration after it is the only one worth
                // exploring from here; it is known to fail, so this one fails too.
                cur = Cursor::Info(self.classes.len() as u32);
            }
        };
        self.states = cache.len() as u64;
        budget.release(charged);
        result
    }

    /// Pops frames until one leaves alternatives to try; returns its entry (the scan resumes
    /// after it, once the entry's untried next states, from the index returned with it (0:
    /// none), are tried), or `None` when the whole search space is exhausted.
    #[allow(clippy::too_many_arguments)]
    fn backtrack(
        &mut self,
        cache: &mut Cache<M::State>,
        stack: &mut Vec<Frame<M::State>>,
        state: &mut M::State,
        bits: &mut Bits,
        remaining: &mut usize,
        record: Option<usize>,
        max_depth: usize,
        recorded: &mut Vec<Vec<usize>>,
    ) -> Option<(usize, u32)> {
        if record == Some(stack.len()) && max_depth == stack.len() && recorded.len() < 3 {
            recorded.push(stack.iter().map(|f| f.entry as usize).collect());
        }
        loop {
            let frame = stack.pop()?;
            cache.finish(frame.id);
            let e = frame.entry as usize;
            self.unlift(e);
            *state = frame.prev;
            bits.clear(e);
            if self.entries[e].ret.is_some() {
                *remaining += 1;
            }
            if !frame.forced {
                return Some((e, frame.alt));
            }
        }
    }
}

/// The set of linearized entries, with its Zobrist hash and a compact form for the cache.
///
/// Determinate entries are numbered in invocation order and stored as a bitset described by
/// the length of its all-linearized prefix plus the few words after it. Linearized
/// indeterminate entries are always the first ones of their symmetry class, so they are
/// described by (class, how many) pairs for the classes that have any — small even when
/// thousands of indeterminate operations have been linearized.
pub struct Bits {
    /// Bit position of each entry among the determinate ones (`u32::MAX` for indeterminate).
    pos: Vec<u32>,
    /// Symmetry class of each indeterminate entry.
    class_of: Vec<u32>,
    words: Vec<u64>,
    /// Per class: how many are linearized.
    done: Vec<u32>,
    /// (class, count) pairs for classes with a non-zero count, sorted by class.
    pairs: Vec<u32>,
    hash: u64,
    /// Lowest determinate position not linearized.
    low: usize,
    /// One past the highest word that may be non-zero.
    top: usize,
}

impl Bits {
    fn new<O>(entries: &[Entry<O>], class_of: &[u32], classes: usize) -> Self {
        let mut order: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].ret.is_some())
            .collect();
        order.sort_unstable_by_key(|&i| (entries[i].call, i));
        let mut pos = vec![u32::MAX; entries.len()];
        for (k, &i) in order.iter().enumerate() {
            pos[i] = k as u32;
        }
        Bits {
            pos,
            class_of: class_of.to_vec(),
            words: vec![0; order.len().div_ceil(64) + 1],
            done: vec![0; classes],
            pairs: Vec::new(),
            hash: 0,
            low: 0,
            top: 0,
        }
    }

    /// How many of class `c` are linearized.
    fn done(&self, c: u32) -> u32 {
        self.done[c as usize]
    }

    fn set(&mut self, e: usize) {
        let p = self.pos[e];
        if p == u32::MAX {
            let c = self.class_of[e];
            self.done[c as usize] += 1;
            let i = self.pair_index(c);
            if self.done[c as usize] == 1 {
                self.pairs.splice(2 * i..2 * i, [c, 1]);
            } else {
                self.pairs[2 * i + 1] += 1;
            }
            return;
        }
        self.hash ^= zobrist(e);
        let p = p as usize;
        self.words[p >> 6] |= 1 << (p & 63);
        self.top = self.top.max((p >> 6) + 1);
        if p == self.low {
            while self.words[self.low >> 6] & (1 << (self.low & 63)) != 0 {
                self.low += 1;
            }
        }
    }

    fn clear(&mut self, e: usize) {
        let p = self.pos[e];
        if p == u32::MAX {
            let c = self.class_of[e];
            self.done[c as usize] -= 1;
            let i = self.pair_index(c);
            if self.done[c as usize] == 0 {
                self.pairs.drain(2 * i..2 * i + 2);
            } else {
                self.pairs[2 * i + 1] -= 1;
            }
            return;
        }
        self.hash ^= zobrist(e);
        let p = p as usize;
        self.words[p >> 6] &= !(1 << (p & 63));
        self.low = self.low.min(p);
    }

    /// Index (in pairs) of class `c`, or where it would go.
    fn pair_index(&self, c: u32) -> usize {
        let (mut lo, mut hi) = (0, self.pairs.len() / 2);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.pairs[2 * mid] < c {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The Zobrist hash of the determinate part of the set.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Lowest determinate position not in the set.
    pub fn low(&self) -> usize {
        self.low
    }

    /// The linearized indeterminate entries as (class, count) pairs, flattened.
    pub fn info(&self) -> &[u32] {
        &self.pairs
    }

    /// The words from the one holding `low` to the last non-zero one (the part of the set that
    /// `low` does not already describe).
    pub fn tail(&mut self) -> &[u64] {
        let start = self.low >> 6;
        while self.top > start + 1 && self.words[self.top - 1] == 0 {
            self.top -= 1;
        }
        let end = self.top.max(start + 1);
        &self.words[start..end]
    }
}
