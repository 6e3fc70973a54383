//! set-full's per-element timeline (see [`super::set_full`]): what an element is after all
//! reads — stable, lost or never read, by Jepsen's rules on file positions — whether it was
//! stale, and its latencies in milliseconds from the `time` fields.

use crate::history::Operation;
use serde_json::{Map, Value};

/// One element's timeline.
pub struct Track<'a> {
    /// The element (an add's value).
    pub element: Value,
    /// The operation (ok add or ok read) whose completion first made it known.
    pub known: Option<&'a Operation>,
    /// The latest-invoked ok read that contained it.
    pub last_present: Option<&'a Operation>,
    /// The latest-invoked ok read (completed after the add's invocation) that missed it.
    pub last_absent: Option<&'a Operation>,
}

/// What one element turned out to be.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Read present, and not missed by any read invoked after that.
    Stable,
    /// Known, then missed by the latest reads.
    Lost,
    /// Neither.
    NeverRead,
}

/// Stable, lost or never read (Jepsen's rules, by file position).
pub fn judge(t: &Track) -> Fate {
    let inv = |op: Option<&Operation>| op.map(|o| o.invoke);
    let (present, absent) = (inv(t.last_present), inv(t.last_absent));
    if let Some(p) = present {
        if absent.map_or(true, |a| a < p) {
            return Fate::Stable;
        }
    }
    if let (Some(known), Some(a)) = (t.known, absent) {
        let known_at = known.complete.unwrap_or(known.invoke);
        if present.map_or(true, |p| p < a) && known_at < a {
            return Fate::Lost;
        }
    }
    Fate::NeverRead
}

/// A stable element that some read invoked after it was known still missed.
pub fn is_stale(t: &Track) -> bool {
    match (t.known, t.last_absent) {
        (Some(k), Some(a)) => a.invoke > k.complete.unwrap_or(k.invoke),
        _ => false,
    }
}

/// Milliseconds between two `time`s (nanoseconds), at least 0, truncated as in Jepsen.
fn latency(from: Option<i64>, to: Option<i64>) -> Option<i64> {
    Some((to? - from?).max(0) / 1_000_000)
}

/// Known → stable: up to just after the invocation of the last read that missed it (0 when no
/// read missed it).
pub fn stable_latency(t: &Track) -> Option<i64> {
    let known = t.known?.complete_time;
    match t.last_absent {
        Some(a) => latency(known, a.invoke_time.map(|x| x + 1)),
        None => Some(0),
    }
}

/// Known → lost: up to just after the invocation of the last read that saw it (0 when none).
pub fn lost_latency(t: &Track) -> Option<i64> {
    let known = t.known?.complete_time;
    match t.last_present {
        Some(p) => latency(known, p.invoke_time.map(|x| x + 1)),
        None => Some(0),
    }
}

/// Jepsen's latency quantiles (0, 0.5, 0.95, 0.99, 1), or null when there are none.
pub fn quantiles(mut v: Vec<i64>) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    v.sort_unstable();
    let n = v.len();
    let mut m = Map::new();
    for (name, p) in [
        ("0", 0.0),
        ("0.5", 0.5),
        ("0.95", 0.95),
        ("0.99", 0.99),
        ("1", 1.0),
    ] {
        let i = ((n as f64 * p).floor() as usize).min(n - 1);
        m.insert(name.to_string(), Value::from(v[i]));
    }
    Value::Object(m)
}
