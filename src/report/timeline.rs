//! The data behind report.html: every operation as a compact row, the nemesis windows, and
//! which operations the verdict's evidence points at (between "check" and the HTML page).
//!
//! The page draws from this data with JavaScript and only ever puts the visible window of
//! operations in the DOM, so this module keeps the rows small (arrays, not objects) and caps
//! their number ([`MAX_OPS`]): past the cap it keeps the operations around the anomaly (or the
//! start of the history) and says so in `note`.

use super::evidence::{evidence_parts, short};
use super::source::Source;
use checkers::history::{OpView, Operation, Outcome};
use checkers::perf;
use checkers::Report;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Most operations embedded in one page (each is one short JSON array).
pub const MAX_OPS: usize = 200_000;

/// Builds the JSON object the page's script reads (see `html.rs` for how it is drawn).
pub fn data(file: &str, ops: &Source, evidence: &Report) -> PageData {
    let use_time = !ops.is_empty()
        && ops.views().all(|o| {
            o.invoke_time.is_some() && (o.complete.is_none() || o.complete_time.is_some())
        });
    let start = |o: &OpView<'_>| {
        if use_time {
            o.invoke_time.unwrap_or(0)
        } else {
            o.invoke as i64
        }
    };
    let end = |o: &OpView<'_>| {
        if use_time {
            o.complete_time
        } else {
            o.complete.map(|c| c as i64)
        }
    };
    // The fault windows on the chosen axis: the perf module's rule, fed the axis as times
    // (plus one stand-in operation at the end, where a window still open at the end closes).
    let history_end = ops
        .views()
        .map(|o| end(&o).unwrap_or_else(|| start(&o)))
        .max()
        .unwrap_or(0);
    let mut axis_ops: Vec<Operation> = (0..ops.len())
        .filter(|&i| !ops.view(i).client)
        .filter_map(|i| {
            let v = ops.view(i);
            let mut o = ops.get(i)?.into_owned();
            o.invoke_time = Some(start(&v));
            o.complete_time = end(&v);
            Some(o)
        })
        .collect();
    if let Some(last) = axis_ops.last() {
        let mut marker = last.clone();
        marker.f = None;
        marker.invoke_time = Some(history_end);
        marker.complete_time = Some(history_end);
        axis_ops.push(marker);
    }
    let windows = perf::fault_windows(&axis_ops);

    // Evidence names operations by line: the invocation's or the completion's.
    let by_line = ops.lines();
    let (marks, verdict, checker, explanation, cycles) = evidence_parts(evidence, &by_line);
    drop(by_line);

    // Which rows to embed: all of them, or the MAX_OPS around the first marked operation.
    let (from, to, note) = if ops.len() <= MAX_OPS {
        (0, ops.len(), Value::Null)
    } else {
        let centre = marks
            .minimal
            .iter()
            .chain(&marks.other)
            .next()
            .copied()
            .unwrap_or(0);
        let from = centre.saturating_sub(MAX_OPS / 2).min(ops.len() - MAX_OPS);
        let note = format!(
            "this history has {} operations; the page holds operations {}–{} ({}) — the full \
             history is in the history file",
            ops.len(),
            from,
            from + MAX_OPS - 1,
            if marks.minimal.is_empty() && marks.other.is_empty() {
                "the first ones"
            } else {
                "around the anomaly"
            }
        );
        (from, from + MAX_OPS, Value::String(note))
    };

    let mut processes: Vec<String> = Vec::new();
    let mut process_index: HashMap<String, usize> = HashMap::new();
    // Rows go straight to JSON text: as `Value`s they cost some 2 KB each (400 MB for a full
    // page), as text about 80 bytes.
    let mut rows = String::from("[");
    for i in from..to {
        let (Some(op), view) = (ops.get(i), ops.view(i)) else {
            continue;
        };
        let name = match &op.process {
            Some(p) => p.to_string(),
            None => "?".to_string(),
        };
        let lane = *process_index.entry(name.clone()).or_insert_with(|| {
            processes.push(name);
            processes.len() - 1
        });
        let outcome = match op.outcome {
            Outcome::Ok => 0,
            Outcome::Fail => 1,
            Outcome::Info => 2,
        };
        let result = if op.outcome == Outcome::Ok {
            short(&op.output)
        } else {
            op.error.as_deref().map(short).unwrap_or_default()
        };
        let mut f = op.f.clone().unwrap_or_default();
        if let Some(key) = &op.key {
            f = format!("{f} {}", short(key));
        }
        if rows.len() > 1 {
            rows.push(',');
        }
        let row = json!([
            i,
            lane,
            f,
            start(&view),
            end(&view),
            outcome,
            short(&op.input),
            result,
            op.invoke_line,
            op.complete_line,
            u8::from(!op.client),
            op.key.as_ref().map(short),
        ]);
        rows.push_str(&row.to_string());
    }
    rows.push(']');
    let focus = marks
        .minimal
        .iter()
        .chain(&marks.other)
        .filter(|&&i| i < ops.len())
        .map(|&i| ops.view(i))
        .fold(None, |acc: Option<(i64, i64)>, o| {
            let (s, e) = (start(&o), end(&o).unwrap_or_else(|| start(&o)));
            Some(acc.map_or((s, e), |(a, b)| (a.min(s), b.max(e))))
        });
    let meta = json!({
        "file": file,
        "verdict": verdict,
        "checker": checker,
        "axis": if use_time { "ns" } else { "event" },
        "processes": processes,
        "windows": windows.iter().map(|w| json!([w.start, w.end, w.kind])).collect::<Vec<_>>(),
        "minimal": marks.minimal,
        "stuck": marks.stuck,
        "longest": marks.longest,
        "other": marks.other,
        "focus": focus.map(|(a, b)| json!([a, b])),
        "key": evidence.counterexample.as_ref().and_then(|c| c.key.as_ref()).map(short),
        "explanation": explanation,
        "cycles": cycles,
        "note": note,
    });
    PageData { meta, rows }
}

/// What the page's script reads: one JSON object, `meta` with `"ops": rows` added.
#[derive(Debug, Clone, PartialEq)]
pub struct PageData {
    /// Everything but the rows.
    pub meta: Value,
    /// The rows, as the text of one JSON array.
    pub rows: String,
}

impl PageData {
    /// The whole object as JSON text.
    pub fn to_json(&self) -> String {
        let meta = self.meta.to_string();
        let Some(body) = meta.strip_suffix('}') else {
            return meta;
        };
        let mut out = String::with_capacity(meta.len() + self.rows.len() + 8);
        out.push_str(body);
        if body.len() > 1 {
            out.push(',');
        }
        out.push_str("\"ops\":");
        out.push_str(&self.rows);
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::history::{pair_anonymous, read_history};
    use checkers::Validity;

    /// A G-single cycle as the Elle checker reports it in `details.anomalies`.
    fn g_single() -> (Vec<Operation>, Report) {
        let text = r#"{"process":0,"type":"invoke","f":"txn","value":[["append","x",1]]}
{"process":0,"type":"ok","f":"txn","value":[["append","x",1]]}
{"process":1,"type":"invoke","f":"txn","value":[["r","x",null],["append","y",1]]}
{"process":1,"type":"ok","f":"txn","value":[["r","x",[1]],["append","y",1]]}
{"process":2,"type":"invoke","f":"txn","value":[["r","y",null],["r","x",null]]}
{"process":2,"type":"ok","f":"txn","value":[["r","y",[1]],["r","x",[]]]}
"#;
        let history = read_history("t.jsonl", text.as_bytes(), None).unwrap();
        let ops = pair_anonymous(&history).unwrap();
        let step = |line: usize, kind: &str, key: &str| {
            json!({"op": {"index": 0, "process": "0", "type": "ok", "value": [], "line": line + 1,
                          "invoke_line": line},
                   "edge": {"kind": kind, "key": key, "why": format!("{kind} on {key}")}})
        };
        let report = Report {
            valid: Validity::Invalid,
            stats: checkers::Stats {
                ops: 3,
                millis: 0.1,
                ..Default::default()
            },
            anomalies: vec!["G-single".into()],
            explanation: vec!["G-single: T1 < T2 < T3 < T1".into()],
            details: json!({"anomalies": {"G-single": [{
                "cycle": [step(1, "wr", "x"), step(3, "wr", "y"), step(5, "rw", "x")],
                "explanation": "T1 < T2 < T3 < T1"}]}}),
            ..Report::new("list-append", checkers::CheckerKind::Workload)
        };
        (ops, report)
    }

    #[test]
    fn a_transactional_cycle_is_extracted_with_its_labelled_edges_and_marks_its_ops() {
        let (ops, report) = g_single();
        let data = data("t.jsonl", &Source::All(ops), &report);
        assert_eq!(data.meta["verdict"], "invalid");
        let cycle = &data.meta["cycles"][0]["steps"];
        assert_eq!(cycle.as_array().unwrap().len(), 3);
        assert_eq!(cycle[0]["kind"], "wr");
        assert_eq!(cycle[2]["kind"], "rw");
        assert_eq!(cycle[2]["key"], "x");
        assert_eq!(data.meta["other"], json!([0, 1, 2]));
        assert!(data.meta["focus"].is_array(), "the page opens on the cycle");
        if let Some(path) = std::env::var_os("FAULTLINE_SAMPLE_CYCLE_REPORT") {
            std::fs::write(path, super::super::html::page(&data)).unwrap();
        }
    }

    #[test]
    fn a_page_cannot_be_closed_early_by_the_data() {
        let (ops, mut report) = g_single();
        report.explanation = vec!["</script><script>alert(1)</script>".into()];
        let page = super::super::html::page(&data("t.jsonl", &Source::All(ops), &report));
        assert_eq!(
            page.matches("</script>").count(),
            2,
            "only the page's own two scripts close"
        );
    }
}
