//! Maelstrom's kafka checker (`--workload kafka`): clients `send` messages to keyed logs,
//! `poll` from offsets, `commit_offsets` and `list_committed_offsets`. History ops (as
//! `faultline maelstrom test -w kafka` records them):
//!
//! - `send`: `key` the log, value the message; an ok completion's value is `[offset, msg]`.
//! - `poll`: value `{key: offset}` requested; ok value `{key: [[offset, msg], …]}`.
//! - `commit_offsets`: value `{key: offset}` (ok: the same).
//! - `list_committed_offsets`: value `[key, …]`; ok value `{key: offset}`.
//!
//! Anomalies, each with lines a person can act on:
//!
//! - `lost-write`: an acknowledged send at offset o that no poll ever returned at o, although
//!   polls returned (or clients committed) an offset at or above o on that key.
//! - `duplicate`: one message at two offsets of a key.
//! - `inconsistent-offsets`: two different messages at one offset of a key (from send
//!   acknowledgements and polls together).
//! - `nonmonotonic-poll`: within one process's polls of a key (inside one poll and between
//!   its successive polls) an offset not above the previous one.
//! - `poll-skip`: the same sequence jumps over an offset that exists (some send was
//!   acknowledged there or some poll returned it). Offsets may have gaps; only known ones
//!   count. A new process (after an indeterminate operation) starts a new sequence.
//! - `nonmonotonic-send`: a process's later send to a key got an offset not above its
//!   earlier one.
//! - `committed-offset-backwards`: `list_committed_offsets` returned an offset below one that
//!   was committed or listed before it began, and no commit of the lower offset could have
//!   come in between.
//!
//! There is no recency requirement: acknowledged sends that no poll returned, above every
//! polled offset, are only counted (`unseen`), as in Maelstrom.

use super::common::{self, Elem};
use crate::budget::Budget;
use crate::history::{Operation, Outcome};
use crate::options::CheckOptions;
use crate::verdict::{Report, Validity};
use crate::InputError;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const NAME: &str = "kafka";

/// Where a message was seen at an offset: the op's line and what kind of op.
#[derive(Clone, Copy)]
struct Seen<'a> {
    op: &'a Operation,
    by_send: bool,
}

impl Seen<'_> {
    fn describe(&self) -> String {
        if self.by_send {
            format!(
                "acknowledged to the send at {}",
                common::whereabouts(self.op)
            )
        } else {
            format!("returned by the poll at {}", common::whereabouts(self.op))
        }
    }
}

/// Everything known about one key's log.
#[derive(Default)]
struct KeyLog<'a> {
    /// Offset → the distinct messages seen there, with the first op that showed each.
    at: BTreeMap<i64, Vec<(Elem, Seen<'a>)>>,
    /// Message → the offsets it was seen at (first sighting each).
    offsets_of: BTreeMap<Elem, BTreeMap<i64, Seen<'a>>>,
    /// (offset, message) pairs some poll returned.
    polled: BTreeSet<(i64, Elem)>,
    /// The highest offset a poll returned, and that poll.
    max_polled: Option<(i64, &'a Operation)>,
    /// The highest offset committed (ok commit, or listed), and the op.
    max_committed: Option<(i64, &'a Operation)>,
}

impl<'a> KeyLog<'a> {
    fn saw(&mut self, offset: i64, msg: &Value, seen: Seen<'a>) {
        let e = Elem(msg.clone());
        let here = self.at.entry(offset).or_default();
        if !here.iter().any(|(m, _)| *m == e) {
            here.push((e.clone(), seen));
        }
        self.offsets_of
            .entry(e)
            .or_default()
            .entry(offset)
            .or_insert(seen);
    }
}

/// One ok poll's entries: per key, `(offset, msg)` in the order returned.
type PollEntries<'v> = Vec<(String, Vec<(i64, &'v Value)>)>;

fn key_name(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn offset(v: &Value) -> Option<i64> {
    common::integer(v).and_then(|i| i64::try_from(i).ok())
}

/// `{key: offset}` of an op, or an error naming the line.
fn offset_map(
    file: &str,
    op: &Operation,
    v: &Value,
    what: &str,
) -> Result<Vec<(String, i64)>, InputError> {
    let bad = || {
        InputError::new(
            file,
            common::result_line(op),
            format!(
                "expected {what} as an object {{key: offset}} with integer offsets, found {}",
                common::show(v)
            ),
        )
    };
    let Value::Object(m) = v else {
        return Err(bad());
    };
    m.iter()
        .map(|(k, o)| offset(o).map(|o| (k.clone(), o)).ok_or_else(bad))
        .collect()
}

/// `{key: [[offset, msg], …]}` of an ok poll, or an error naming the line.
fn poll_msgs<'v>(file: &str, op: &Operation, v: &'v Value) -> Result<PollEntries<'v>, InputError> {
    let bad = || {
        InputError::new(
            file,
            common::result_line(op),
            format!(
                "expected the msgs of an ok poll as {{key: [[offset, msg], …]}} with integer \
                 offsets, found {}",
                common::show(v)
            ),
        )
    };
    let Value::Object(m) = v else {
        return Err(bad());
    };
    let mut out = Vec::new();
    for (k, list) in m {
        let Value::Array(list) = list else {
            return Err(bad());
        };
        let mut entries = Vec::new();
        for pair in list {
            match pair.as_array().map(Vec::as_slice) {
                Some([o, msg]) => entries.push((offset(o).ok_or_else(bad)?, msg)),
                _ => return Err(bad()),
            }
        }
        out.push((k.clone(), entries));
    }
    Ok(out)
}

fn process(op: &Operation) -> String {
    match &op.process {
        Some(p) => format!("process {p}"),
        None => "a process".to_string(),
    }
}

/// Checks a kafka history.
pub fn check(
    file: &str,
    ops: &[Operation],
    _opts: &CheckOptions,
    budget: &Budget,
) -> Result<Report, InputError> {
    let allowed = ["send", "poll", "commit_offsets", "list_committed_offsets"];
    let client = common::client_ops(file, ops, NAME, &allowed)?;
    let mut logs: BTreeMap<String, KeyLog> = BTreeMap::new();
    // Acknowledged sends: key, offset, message, op.
    let mut sends: Vec<(String, i64, &Value, &Operation)> = Vec::new();
    // Polls in invocation order: op and its entries.
    let mut polls: Vec<(&Operation, PollEntries)> = Vec::new();
    // Per key: commits (offset, op; not failed) and observations of committed offsets
    // (offset, op: ok commits and ok lists), and the lists (offset, op).
    let mut commits: BTreeMap<String, Vec<(i64, &Operation)>> = BTreeMap::new();
    let mut observed: BTreeMap<String, Vec<(i64, &Operation)>> = BTreeMap::new();
    let mut lists: Vec<(String, i64, &Operation)> = Vec::new();
    let mut tally: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (i, (op, f)) in client.iter().enumerate() {
        if i % 1024 == 0 {
            if let Some(why) = common::spent(budget) {
                return Ok(common::unknown(NAME, ops, budget, why, json!({})));
            }
        }
        let t = tally.entry(f).or_default();
        t.0 += 1;
        if op.outcome == Outcome::Ok {
            t.1 += 1;
        }
        match *f {
            "send" if op.outcome == Outcome::Ok => {
                let key = op.key.as_ref().map(key_name).ok_or_else(|| {
                    InputError::new(file, op.invoke_line, "expected the key of a send")
                })?;
                let (o, msg) = match op.output.as_array().map(Vec::as_slice) {
                    Some([o, msg]) if offset(o).is_some() => (offset(o).unwrap_or(0), msg),
                    _ => {
                        return Err(InputError::new(
                            file,
                            common::result_line(op),
                            format!(
                                "expected [offset, msg] with an integer offset as the value of \
                                 an ok send, found {}",
                                common::show(&op.output)
                            ),
                        ))
                    }
                };
                logs.entry(key.clone())
                    .or_default()
                    .saw(o, msg, Seen { op, by_send: true });
                sends.push((key, o, msg, op));
            }
            "poll" if op.outcome == Outcome::Ok => {
                let entries = poll_msgs(file, op, &op.output)?;
                for (k, list) in &entries {
                    let log = logs.entry(k.clone()).or_default();
                    for &(o, msg) in list {
                        log.saw(o, msg, Seen { op, by_send: false });
                        log.polled.insert((o, Elem(msg.clone())));
                        if log.max_polled.map_or(true, |(m, _)| o > m) {
                            log.max_polled = Some((o, op));
                        }
                    }
                }
                polls.push((op, entries));
            }
            "commit_offsets" if op.outcome != Outcome::Fail => {
                for (k, o) in offset_map(file, op, &op.input, "the offsets of a commit_offsets")? {
                    commits.entry(k.clone()).or_default().push((o, op));
                    if op.outcome == Outcome::Ok {
                        observed.entry(k.clone()).or_default().push((o, op));
                        let log = logs.entry(k).or_default();
                        if log.max_committed.map_or(true, |(m, _)| o > m) {
                            log.max_committed = Some((o, op));
                        }
                    }
                }
            }
            "list_committed_offsets" if op.outcome == Outcome::Ok => {
                for (k, o) in offset_map(
                    file,
                    op,
                    &op.output,
                    "the offsets of an ok list_committed_offsets",
                )? {
                    observed.entry(k.clone()).or_default().push((o, op));
                    lists.push((k.clone(), o, op));
                    let log = logs.entry(k).or_default();
                    if log.max_committed.map_or(true, |(m, _)| o > m) {
                        log.max_committed = Some((o, op));
                    }
                }
            }
            _ => {}
        }
    }

    let mut found: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut add = |name: &'static str, line: String| found.entry(name).or_default().push(line);

    // Two messages at one offset; one message at two offsets.
    for (k, log) in &logs {
        for (o, here) in &log.at {
            if here.len() > 1 {
                let all: Vec<String> = here
                    .iter()
                    .take(4)
                    .map(|(m, s)| format!("{} {}", common::show(&m.0), s.describe()))
                    .collect();
                add(
                    "inconsistent-offsets",
                    format!(
                        "offset {o} of key {k} holds {} different messages: {}",
                        here.len(),
                        all.join(" and ")
                    ),
                );
            }
        }
        for (m, at) in &log.offsets_of {
            if at.len() > 1 {
                let all: Vec<String> = at
                    .iter()
                    .take(4)
                    .map(|(o, s)| format!("offset {o} {}", s.describe()))
                    .collect();
                add(
                    "duplicate",
                    format!(
                        "message {} of key {k} is at {} offsets: {}",
                        common::show(&m.0),
                        at.len(),
                        all.join(" and ")
                    ),
                );
            }
        }
    }

    // Lost writes and unseen sends.
    let mut unseen = 0usize;
    for (k, o, msg, op) in &sends {
        let log = &logs[k];
        if log.polled.contains(&(*o, Elem((*msg).clone()))) {
            continue;
        }
        let above_poll = log.max_polled.filter(|(m, _)| m > o);
        let above_commit = log.max_committed.filter(|(m, _)| m >= o);
        let bound = match (above_poll, above_commit) {
            (Some((m, p)), _) => format!(
                "though polls returned offsets up to {m} (the poll at {})",
                common::whereabouts(p)
            ),
            (None, Some((m, c))) => format!(
                "though offset {m} was committed ({} at {})",
                c.f.as_deref().unwrap_or("commit"),
                common::whereabouts(c)
            ),
            (None, None) => {
                unseen += 1;
                continue;
            }
        };
        let instead = log
            .at
            .get(o)
            .map(|here| {
                here.iter()
                    .filter(|(m, s)| !s.by_send && m.0 != **msg)
                    .map(|(m, _)| common::show(&m.0))
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty())
            .map(|v| format!(" (polls returned {} there instead)", v.join(", ")))
            .unwrap_or_default();
        add(
            "lost-write",
            format!(
                "send of {} to key {k} was acknowledged at offset {o} (the send at {}) but no poll \
                 ever returned it at offset {o}{instead}, {bound}",
                common::show(msg),
                common::whereabouts(op)
            ),
        );
    }

    // Each process's sequence of polled offsets per key.
    let mut last: BTreeMap<(String, String), (i64, &Operation)> = BTreeMap::new();
    for (op, entries) in &polls {
        let who = process(op);
        for (k, list) in entries {
            let log = &logs[k];
            for &(o, _) in list {
                let slot = (who.clone(), k.clone());
                if let Some(&(prev, prev_op)) = last.get(&slot) {
                    let place = if std::ptr::eq(prev_op, *op) {
                        format!("within the poll at {}", common::whereabouts(op))
                    } else {
                        format!(
                            "from the poll at {} to the poll at {}",
                            common::whereabouts(prev_op),
                            common::whereabouts(op)
                        )
                    };
                    if o <= prev {
                        add(
                            "nonmonotonic-poll",
                            format!(
                                "{who}'s polls of key {k} went from offset {prev} back to \
                                 offset {o}, {place}"
                            ),
                        );
                    } else {
                        let skipped: Vec<(&i64, &Vec<(Elem, Seen)>)> =
                            log.at.range(prev + 1..o).collect();
                        if let Some((s, here)) = skipped.first() {
                            let more = if skipped.len() > 1 {
                                format!(" and {} more", skipped.len() - 1)
                            } else {
                                String::new()
                            };
                            add(
                                "poll-skip",
                                format!(
                                    "{who}'s polls of key {k} jumped from offset {prev} to \
                                     offset {o}, {place}, skipping offset {s}{more}, which \
                                     exists: {} is there, {}",
                                    common::show(&here[0].0 .0),
                                    here[0].1.describe()
                                ),
                            );
                        }
                    }
                }
                last.insert(slot, (o, op));
            }
        }
    }

    // Each process's acknowledged sends per key get increasing offsets.
    let mut last_send: BTreeMap<(String, String), (i64, &Operation)> = BTreeMap::new();
    for (k, o, _, op) in &sends {
        let slot = (process(op), k.clone());
        if let Some(&(prev, prev_op)) = last_send.get(&slot) {
            if *o <= prev {
                add(
                    "nonmonotonic-send",
                    format!(
                        "{}'s sends to key {k} got offset {prev} ({}) and then offset {o} ({}): \
                         a later send was given an offset not above an earlier one",
                        slot.0,
                        common::whereabouts(prev_op),
                        common::whereabouts(op)
                    ),
                );
            }
        }
        last_send.insert(slot, (*o, op));
    }

    // Committed offsets that go backwards.
    for (k, c, list) in &lists {
        let Some(obs) = observed.get(k) else { continue };
        // The observation above c that completed before the list began, invoked last.
        let before = obs
            .iter()
            .filter(|(o, ob)| *o > *c && ob.complete.is_some_and(|d| d < list.invoke))
            .max_by_key(|(_, ob)| ob.invoke);
        let Some(&(high, ob)) = before else { continue };
        let explained = commits.get(k).is_some_and(|cs| {
            cs.iter().any(|(o, cm)| {
                *o == *c
                    && cm.complete.map_or(true, |d| d > ob.invoke)
                    && list.complete.map_or(true, |d| cm.invoke < d)
            })
        });
        if !explained {
            add(
                "committed-offset-backwards",
                format!(
                    "list_committed_offsets at {} returned offset {c} for key {k}, but offset \
                     {high} was {} at {}, which completed before it began, and no commit of \
                     {c} could have come in between",
                    common::whereabouts(list),
                    if ob.f.as_deref() == Some("commit_offsets") {
                        "committed"
                    } else {
                        "listed"
                    },
                    common::whereabouts(ob)
                ),
            );
        }
    }

    let count_of = |f: &str| tally.get(f).copied().unwrap_or((0, 0));
    let (s, sok) = count_of("send");
    let (p, pok) = count_of("poll");
    let (c, cok) = count_of("commit_offsets");
    let (l, lok) = count_of("list_committed_offsets");
    let mut explanation = vec![
        format!(
            "{} ({sok} acknowledged) to {}, {} ({pok} ok), {} ({cok} ok), {l} list_committed_offsets ({lok} ok)",
            common::count(s, "send"),
            common::count(logs.len(), "key"),
            common::count(p, "poll"),
            common::count(c, "commit"),
        ),
        format!(
            "{unseen} acknowledged send(s) above every polled and committed offset were never \
             polled (allowed: no recency requirement)"
        ),
    ];
    let mut details = json!({
        "sends": {"attempted": s, "ok": sok},
        "polls": {"attempted": p, "ok": pok},
        "commits": {"attempted": c, "ok": cok},
        "lists": {"attempted": l, "ok": lok},
        "keys": logs.len(),
        "unseen": unseen,
    });
    for (name, lines) in &found {
        details[format!("{name}_count")] = json!(lines.len());
        details[*name] = json!(lines.iter().take(common::LIST_CAP).collect::<Vec<_>>());
    }
    if found.is_empty() {
        explanation.push(
            "no lost write, no duplicate, no offset with two messages, every process's polls \
             and sends moved forward without skipping, committed offsets never went back"
                .into(),
        );
        return Ok(common::report(
            NAME,
            ops,
            budget,
            Validity::Valid,
            Vec::new(),
            explanation,
            details,
        ));
    }
    for (name, lines) in &found {
        explanation.push(format!("{name}: {}", lines.len()));
        common::push_capped(
            &mut explanation,
            lines.iter(),
            &format!("details.{name}"),
            |l| format!("- {l}"),
        );
    }
    Ok(common::report(
        NAME,
        ops,
        budget,
        Validity::Invalid,
        found.keys().map(|s| s.to_string()).collect(),
        explanation,
        details,
    ))
}
