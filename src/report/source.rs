//! The operations a report is drawn from ("report" step): every operation built as an
//! [`Operation`] (histories the compact reader does not take), or a history read compactly,
//! whose operations are rebuilt one at a time — the page embeds at most
//! [`super::timeline::MAX_OPS`] of them and the plots need only times, names and outcomes, so a
//! history of millions of operations is drawn in about the memory its check needed.

use checkers::history::{CompactHistory, OpView, Operation};
use std::borrow::Cow;
use std::collections::HashMap;

/// A checked history's paired operations, for the report.
pub enum Source {
    /// Built in full.
    All(Vec<Operation>),
    /// Read compactly.
    Compact(Box<CompactHistory>),
}

impl Source {
    /// How many operations (client and nemesis).
    pub fn len(&self) -> usize {
        match self {
            Source::All(ops) => ops.len(),
            Source::Compact(h) => h.len(),
        }
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the report needs of operation `i` without building it.
    pub fn view(&self, i: usize) -> OpView<'_> {
        match self {
            Source::All(ops) => {
                let o = &ops[i];
                OpView {
                    client: o.client,
                    invoke: o.invoke,
                    complete: o.complete,
                    invoke_line: o.invoke_line,
                    complete_line: o.complete_line,
                    invoke_time: o.invoke_time,
                    complete_time: o.complete_time,
                    outcome: o.outcome,
                    f: o.f.as_deref(),
                }
            }
            Source::Compact(h) => h.view(i).expect("an operation of the history"),
        }
    }

    /// Every operation's view, in order.
    pub fn views(&self) -> impl Iterator<Item = OpView<'_>> + '_ {
        (0..self.len()).map(|i| self.view(i))
    }

    /// Operation `i` in full.
    pub fn get(&self, i: usize) -> Option<Cow<'_, Operation>> {
        match self {
            Source::All(ops) => ops.get(i).map(Cow::Borrowed),
            Source::Compact(h) => h.record(i).map(Cow::Owned),
        }
    }

    /// Availability and latency under faults ([`checkers::perf`]).
    pub fn perf(&self) -> checkers::perf::Perf {
        match self {
            Source::All(ops) => checkers::perf::summarize(ops),
            Source::Compact(h) => checkers::perf::summarize_compact(h),
        }
    }

    /// A lookup from a line of the history file (an invocation's or a completion's) to the
    /// operation on it.
    pub fn lines(&self) -> Lines<'_> {
        match self {
            Source::All(ops) => {
                let mut by_line = HashMap::with_capacity(ops.len() * 2);
                for (i, o) in ops.iter().enumerate() {
                    by_line.insert(o.invoke_line, i);
                    if let Some(line) = o.complete_line {
                        by_line.insert(line, i);
                    }
                }
                Lines::Map(by_line)
            }
            Source::Compact(h) => Lines::Compact(h, h.completion_lines()),
        }
    }
}

/// [`Source::lines`].
pub enum Lines<'a> {
    /// Every line's operation.
    Map(HashMap<usize, usize>),
    /// Binary searches over the compact history and its sorted completion lines.
    Compact(&'a CompactHistory, Vec<(u32, u32)>),
}

impl Lines<'_> {
    /// The operation on `line`, if one is.
    pub fn find(&self, line: usize) -> Option<usize> {
        match self {
            Lines::Map(m) => m.get(&line).copied(),
            Lines::Compact(h, completions) => h.at_line(line, completions),
        }
    }
}
