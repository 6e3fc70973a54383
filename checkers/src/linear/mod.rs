//! Linearizability checking: the "check" step for `check --model`.
//!
//! [`check_operations`] compiles a history's client operations with a [`Model`], splits them
//! into independent partitions by key (P-compositionality: a keyed history is linearizable iff
//! each key's sub-history is), searches each partition on all cores ([`mod@search`]), and, for an
//! invalid history, builds a [`Counterexample`]: the operation that could not be linearized,
//! the longest partial linearizations, and a minimal failing sub-history ([`shrink`]).
//! Budgets (time, memory) turn into an `unknown` verdict, never a guess.

mod cache;
pub(crate) mod compact;
pub(crate) mod search;
mod shrink;

pub(crate) use search::{search, Entry, Found, SearchResult};

use crate::budget::{Budget, StopReason};
use crate::history::{Format, Operation, Outcome};
use crate::model::canonical;
use crate::model::{replay, CompileCtx, Compiled, Model};
use crate::options::CheckOptions;
use crate::verdict::{CheckerKind, Counterexample, OpView, Report, Stats, Step, Validity};
use crate::InputError;
use rayon::prelude::*;
use serde_json::Value;
use std::time::Instant;

/// By default, shrinking's trials together may explore this many times the configurations
/// the check itself explored… (a count, not a time, so the counterexample is the same on
/// every run and machine)
const SHRINK_FACTOR: u64 = 10;
/// …but never fewer than this (a check of a few operations explores a handful)…
const SHRINK_FLOOR: u64 = 2048;
/// …and never for longer than this.
const SHRINK_CEILING: std::time::Duration = std::time::Duration::from_secs(10);

/// One independent sub-history.
pub(crate) struct Partition<M: Model> {
    /// Its key (for a keyed history).
    pub(crate) key: Option<Value>,
    /// The model's initial state for it.
    pub(crate) init: M::State,
    /// Its operations, by invocation.
    pub(crate) entries: Vec<Entry<M::Op>>,
}

/// Checks whether paired operations (from [`crate::pair`]) are linearizable with respect to
/// `model` (Porcupine's `CheckOperations`), within `budget`.
///
/// - `file` names the input in error messages; `format` is the history's
///   ([`crate::History::format`]: in a Jepsen text log a failed `cas` is an observation, which
///   [`CompileCtx::fail_cas_observed`] tells the model).
/// - `opts`: [`CheckOptions::initial`] is passed to [`Model::init`]; [`CheckOptions::shrink`]
///   and `shrink_time` govern the minimal failing sub-history. Other options are for other
///   checkers and ignored here.
/// - `budget` (usually `opts.budget()`: `time_limit`, `memory_limit`): running out makes the
///   verdict [`Validity::Unknown`] with [`Report::stop`] and [`Report::unknown_reason`] saying
///   which limit and which key — never a guess.
///
/// The [`Report`]: [`Report::valid`]; for an invalid history, [`Report::counterexample`] — the
/// key, the operation no order could place, the longest partial linearizations with the state
/// after each step, and a minimal failing sub-history; [`Report::stats`]. An `Err` is input
/// the model refused ([`Model::compile`] or [`Model::init`] returned a [`crate::ShapeError`]),
/// naming the file and line. Client operations only: a history's nemesis records are ignored.
pub fn check_operations<M: Model>(
    model: &M,
    file: &str,
    format: Format,
    ops: &[Operation],
    opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    let started = budget.started();
    let mut ctx = CompileCtx {
        fail_cas_observed: format == Format::JepsenLog,
        ..Default::default()
    };
    match compile(model, file, ops.iter(), opts, &mut ctx, budget)? {
        Ok(partitions) => Ok(decide_partitions(
            model, partitions, ops, &ctx, opts, budget, started,
        )),
        Err(why) => {
            let n = ops.iter().filter(|o| o.client).count();
            Ok(stopped_compiling(model, n, why, budget, started))
        }
    }
}

/// The `unknown` report of a check whose compile stopped for `why` (the memory budget) after
/// counting `ops` client operations.
pub(crate) fn stopped_compiling<M: Model>(
    model: &M,
    ops: usize,
    why: StopReason,
    budget: &Budget,
    started: Instant,
) -> Report {
    let mut report = Report::stopped(
        model.name(),
        CheckerKind::Model,
        ops,
        Some(why),
        budget.describe(why),
    );
    report.stats.millis = started.elapsed().as_secs_f64() * 1000.0;
    report
}

/// How many operations a compile reads between two looks at the memory budget (the probe is
/// one atomic load; a kv operation may hold a text of many kilobytes).
pub(crate) const COMPILE_CHECK_EVERY: usize = 64;

/// Partitions being built, as every compile groups them: by key, in the order keys first
/// appear, integers by value and anything else by its canonical text; unkeyed operations in
/// one group of their own.
pub(crate) struct Groups<O> {
    groups: Vec<(Option<Value>, Vec<Entry<O>>)>,
    index: std::collections::HashMap<String, usize>,
    int_index: std::collections::HashMap<i64, usize>,
    unkeyed: Option<usize>,
}

impl<O> Groups<O> {
    pub(crate) fn new() -> Self {
        Groups {
            groups: Vec::new(),
            index: std::collections::HashMap::new(),
            int_index: std::collections::HashMap::new(),
            unkeyed: None,
        }
    }

    /// The group of `key` (`None`: the unkeyed group), made if new.
    pub(crate) fn of(&mut self, key: Option<&Value>) -> usize {
        let Some(key) = key else {
            return *self.unkeyed.get_or_insert_with(|| {
                self.groups.push((None, Vec::new()));
                self.groups.len() - 1
            });
        };
        let mut group = |groups: &mut Vec<(Option<Value>, Vec<Entry<O>>)>| {
            *self.index.entry(canonical(key)).or_insert_with(|| {
                groups.push((Some(key.clone()), Vec::new()));
                groups.len() - 1
            })
        };
        // Integer keys (the common case) skip building their canonical text.
        match key.as_i64() {
            Some(n) => match self.int_index.get(&n) {
                Some(&g) => g,
                None => {
                    let g = group(&mut self.groups);
                    self.int_index.insert(n, g);
                    g
                }
            },
            None => group(&mut self.groups),
        }
    }

    /// Bytes the groups' lists of entries hold (their capacity).
    pub(crate) fn entry_bytes(&self) -> usize {
        self.groups
            .iter()
            .map(|(_, e)| e.capacity() * std::mem::size_of::<Entry<O>>())
            .sum()
    }

    /// Adds `entry` to group `g`.
    pub(crate) fn push(&mut self, g: usize, entry: Entry<O>) {
        self.groups[g].1.push(entry);
    }

    /// The partitions, each with the model's initial state for its key (`--initial` is
    /// validated even when there is no operation); an `Err` is the model refusing
    /// `--initial`.
    pub(crate) fn into_partitions<M: Model<Op = O>>(
        self,
        model: &M,
        opts: &CheckOptions,
        ctx: &mut CompileCtx,
    ) -> Result<Vec<Partition<M>>, crate::ShapeError> {
        if self.groups.is_empty() {
            model.init(opts.initial.as_ref(), None, ctx)?;
        }
        let mut parts = Vec::with_capacity(self.groups.len());
        for (key, mut entries) in self.groups {
            let init = model.init(opts.initial.as_ref(), key.as_ref(), ctx)?;
            // Indeterminate ops that never change the state cannot matter.
            entries.retain(|e| e.ret.is_some() || !model.read_only(&e.op));
            // Grown by doubling: give back what the search will not use.
            entries.shrink_to_fit();
            parts.push(Partition { key, init, entries });
        }
        Ok(parts)
    }
}

/// Where a counterexample finds the operations it shows: the paired operations, or a
/// compact history ([`crate::history::CompactHistory`]).
pub(crate) trait OpSource: Sync {
    /// The view of operation `id` (a client operation).
    fn view(&self, id: usize) -> OpView;
    /// The line of the event at file position `pos`: the first operation, by invocation,
    /// that completed or was invoked there.
    fn line_at(&self, pos: usize) -> Option<usize>;
}

impl OpSource for [Operation] {
    fn view(&self, id: usize) -> OpView {
        OpView::of(&self[id])
    }

    fn line_at(&self, pos: usize) -> Option<usize> {
        self.iter().find_map(|o| {
            if o.complete == Some(pos) {
                o.complete_line
            } else {
                (o.invoke == pos).then_some(o.invoke_line)
            }
        })
    }
}

/// Searches compiled partitions and builds the report (the part of [`check_operations`]
/// after compiling); `started` is when the check started.
pub(crate) fn decide_partitions<M: Model, S: OpSource + ?Sized>(
    model: &M,
    partitions: Vec<Partition<M>>,
    ops: &S,
    ctx: &CompileCtx,
    opts: &CheckOptions,
    budget: &Budget,
    started: Instant,
) -> Report {
    let n_ops: usize = partitions.iter().map(|p| p.entries.len()).sum();
    // Partitions are ranked in the order their keys first appear in the file; the verdict's
    // counterexample is the first partition in that order whose search failed. A failure
    // stops the searches of later partitions only ([`Budget::cancel_from`]): earlier ones
    // must still be decided, so the counterexample never depends on timing or thread count,
    // and a cancelled search is never taken for a failed one.
    //
    // Rounds with a growing per-search state limit: partitions that are quick to decide are
    // decided first, so one quick refutation is not stuck behind large valid partitions.
    let mut pending: Vec<usize> = (0..partitions.len()).collect();
    pending.sort_by_key(|&i| (std::cmp::Reverse(partitions[i].entries.len()), i));
    let mut results: Vec<(usize, SearchResult)> = Vec::with_capacity(partitions.len());
    let mut limit: u64 = 1 << 13;
    let mut first_failed = usize::MAX;
    while !pending.is_empty() {
        let last_round = pending.len() == 1 || limit >= 1 << 25;
        budget.set_state_limit(if last_round { u64::MAX } else { limit });
        let round: Vec<(usize, SearchResult)> = pending
            .par_iter()
            .map(|&i| {
                let p = &partitions[i];
                let r = search(model, &p.init, &p.entries, &budget.ranked(i));
                if matches!(r.found, Found::NotLinearizable(_)) {
                    budget.cancel_from(i + 1);
                }
                (i, r)
            })
            .collect();
        pending.clear();
        first_failed = round
            .iter()
            .filter(|(_, r)| matches!(r.found, Found::NotLinearizable(_)))
            .map(|(i, _)| *i)
            .fold(first_failed, usize::min);
        for (i, r) in round {
            if r.found == Found::Aborted(StopReason::StateLimit) && i < first_failed {
                pending.push(i);
            } else {
                results.push((i, r));
            }
        }
        limit = limit.saturating_mul(8);
        // A linearizable partition needs at least one configuration per determinate
        // operation, so a round whose limit is below the smallest pending partition's size
        // can only find refutations (the first, cheap round looks for those): start the next
        // round where the searches can end.
        if let Some(least) = pending.iter().map(|&i| partitions[i].entries.len()).min() {
            limit = limit.max((least as u64).saturating_mul(2));
        }
    }
    results.sort_by_key(|(i, _)| *i);
    // Only partitions up to the first failing one are certainly decided: later ones may have
    // been cancelled at any point, so their states are not counted (the count stays the same
    // from run to run).
    let states = results
        .iter()
        .filter(|(i, _)| *i <= first_failed)
        .map(|(_, r)| r.states)
        .sum();

    let mut report = Report {
        stats: Stats {
            ops: n_ops,
            partitions: partitions.len(),
            states,
            millis: 0.0,
            tuples: false,
        },
        ..Report::new(model.name(), CheckerKind::Model)
    };
    if let Some((i, r)) = results.iter().find(|(i, _)| *i == first_failed) {
        report.valid = Validity::Invalid;
        let Found::NotLinearizable(longest) = &r.found else {
            unreachable!("the first failed partition is not linearizable")
        };
        report.counterexample = Some(counterexample(
            model,
            r.states,
            &partitions[*i],
            longest,
            ops,
            ctx,
            opts,
            budget,
        ));
    } else if let Some((i, r)) = results
        .iter()
        .find(|(_, r)| matches!(r.found, Found::Aborted(_)))
    {
        let Found::Aborted(why) = r.found else {
            unreachable!()
        };
        report.valid = Validity::Unknown;
        report.stop = Some(why);
        let p = &partitions[*i];
        let limit = budget.describe(why);
        report.unknown_reason = Some(match &p.key {
            Some(k) => format!(
                "{limit} while checking key {} ({} operations)",
                canonical(k),
                p.entries.len()
            ),
            None => format!("{limit} while checking {} operations", p.entries.len()),
        });
    }
    report.stats.millis = started.elapsed().as_secs_f64() * 1e3;
    report
}

/// Compiles every client operation and groups the results by key; `Err(why)` inside when the
/// memory budget ran out while compiling (looked at every [`COMPILE_CHECK_EVERY`] operations).
pub(crate) fn compile<M: Model, O: std::borrow::Borrow<Operation>>(
    model: &M,
    file: &str,
    ops: impl Iterator<Item = O>,
    opts: &CheckOptions,
    ctx: &mut CompileCtx,
    budget: &Budget,
) -> Result<Result<Vec<Partition<M>>, StopReason>, InputError> {
    let mut groups: Groups<M::Op> = Groups::new();
    let mut keyed: Option<(bool, usize)> = None;
    for (i, op) in ops.enumerate() {
        if i % COMPILE_CHECK_EVERY == 0 && budget.memory_exceeded() {
            return Ok(Err(StopReason::Memory));
        }
        let op = op.borrow();
        if !op.client {
            continue;
        }
        let compiled = model
            .compile(op, ctx)
            .map_err(|m| InputError::new(file, op.invoke_line, m.0))?;
        let Compiled::Op { key, op: mop } = compiled else {
            continue;
        };
        match keyed {
            None => keyed = Some((key.is_some(), op.invoke_line)),
            Some((k, line)) if k != key.is_some() => {
                return Err(InputError::new(
                    file,
                    op.invoke_line,
                    format!(
                        "expected every operation to {} a key, like the one on line {line}; this one {}",
                        if k { "carry" } else { "lack" },
                        if k { "has none" } else { "has one" }
                    ),
                ))
            }
            _ => {}
        }
        let g = groups.of(key.as_ref());
        let ret = match op.outcome {
            Outcome::Ok | Outcome::Fail => op.complete,
            Outcome::Info => None,
        };
        groups.push(
            g,
            Entry {
                op: mop,
                call: op.invoke,
                ret,
                orig: op.id,
            },
        );
    }
    let parts = groups
        .into_partitions(model, opts, ctx)
        .map_err(|m| InputError::new("--initial", 0, m.0))?;
    Ok(Ok(parts))
}

/// Builds the evidence for an invalid partition.
#[allow(clippy::too_many_arguments)]
fn counterexample<M: Model, S: OpSource + ?Sized>(
    model: &M,
    states: u64,
    part: &Partition<M>,
    longest: &[Vec<usize>],
    ops: &S,
    ctx: &CompileCtx,
    opts: &CheckOptions,
    check_budget: &Budget,
) -> Counterexample {
    let view = |e: usize| ops.view(part.entries[e].orig);
    let mut paths = Vec::new();
    let mut state_before_stuck = model.show_state(&part.init, ctx);
    for (k, path) in longest.iter().enumerate() {
        // The search linearized this path, so some choice of next states replays it (the
        // only choice for a deterministic model).
        let path_ops: Vec<&M::Op> = path.iter().map(|&e| &part.entries[e].op).collect();
        let states = replay(model, &part.init, &path_ops).expect("a recorded path replays");
        let steps: Vec<Step> = path
            .iter()
            .zip(&states)
            .map(|(&e, state)| Step {
                op: view(e),
                state: model.show_state(state, ctx),
            })
            .collect();
        if k == 0 {
            if let Some(last) = states.last() {
                state_before_stuck = model.show_state(last, ctx);
            }
        }
        paths.push(steps);
    }
    // The op that could not be linearized: the earliest-returning determinate op that the
    // first longest path leaves out.
    let first: std::collections::HashSet<usize> = longest
        .first()
        .map(|p| p.iter().copied().collect())
        .unwrap_or_default();
    let stuck = (0..part.entries.len())
        .filter(|e| !first.contains(e))
        .filter_map(|e| part.entries[e].ret.map(|r| (r, e)))
        .min()
        .map(|(_, e)| e)
        .unwrap_or(0);
    let mut minimal = Vec::new();
    let mut weakened = 0;
    let mut complete = false;
    let mut cut_line = None;
    let mut minimal_path = Vec::new();
    let mut minimal_stuck = None;
    if opts.shrink {
        // By default shrinking explores at most SHRINK_FACTOR times the configurations the
        // check explored (at least SHRINK_FLOOR, for at most SHRINK_CEILING); with
        // --shrink-time, for that long; always within what is left of --time-limit. A
        // sub-history found when that runs out still fails, and is labelled "not proven
        // minimal".
        let now = Instant::now();
        let allowed = opts.shrink_time.unwrap_or(SHRINK_CEILING);
        let work = opts
            .shrink_time
            .is_none()
            .then(|| states.saturating_mul(SHRINK_FACTOR).max(SHRINK_FLOOR));
        let deadline = [Some(now + allowed), check_budget.deadline()]
            .into_iter()
            .flatten()
            .min();
        let budget = Budget::until(
            check_budget.started(),
            check_budget.time_limit(),
            deadline,
            check_budget.memory_limit(),
            check_budget.memory_probe(),
        );
        // Each trial may explore a few times what the whole check needed: a trial that needs
        // more counts as "not failing", which keeps the result sound (only maybe not minimal).
        budget.set_state_limit(states.saturating_mul(8).max(1 << 18));
        // The explanation (one more search, of the shrunk history) gets the same allowance
        // again past shrinking's deadline; when that runs out there is none.
        let explain = Budget::until(
            check_budget.started(),
            check_budget.time_limit(),
            [deadline.map(|d| d + allowed), check_budget.deadline()]
                .into_iter()
                .flatten()
                .min(),
            check_budget.memory_limit(),
            check_budget.memory_probe(),
        );
        explain.set_state_limit(work.unwrap_or(states.saturating_mul(8).max(1 << 18)));
        let s = shrink::shrink(
            model,
            &part.init,
            &part.entries,
            Some(stuck),
            &budget,
            &explain,
            work,
        );
        minimal = s.core.iter().map(|&e| view(e)).collect();
        weakened = s.weakened;
        complete = s.complete;
        let mut state = part.init.clone();
        for &e in &s.path {
            match model.step(&state, &part.entries[e].op) {
                Some(next) => state = next,
                None => break,
            }
            minimal_path.push(Step {
                op: view(e),
                state: model.show_state(&state, ctx),
            });
        }
        if minimal_path.len() == s.path.len() {
            minimal_stuck = s.stuck.map(view);
        } else {
            minimal_path.clear();
        }
        cut_line = s.cut.and_then(|pos| ops.line_at(pos));
    }
    Counterexample {
        key: part.key.clone(),
        stuck: view(stuck),
        longest: paths,
        state_before_stuck,
        minimal,
        minimal_weakened: weakened,
        minimal_complete: complete,
        minimal_cut_line: cut_line,
        minimal_path,
        minimal_stuck,
    }
}
