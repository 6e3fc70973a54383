//! Explaining a cycle to a person: each transaction named T1, T2, … with its file lines and
//! micro-operations, each edge justified in one sentence ("T1 < T2 because T2 read key 253
//! after T1 appended 4 to it"), plus the JSON form and a DOT and a small SVG drawing of the
//! cycle (nodes on a circle, labelled edges) written by `check --out DIR`.

use super::cases::{lines, txn_json, txn_text};
use super::graph::{kind_name, Cycle, PROCESS, REALTIME};
use super::list_append::{self, AppendIndex};
use super::rw_register::{self, RegisterIndex};
use super::txns::Txns;
use crate::history::Operation;
use crate::verdict::Artifact;
use serde_json::{json, Value};
use std::fmt::Write;

/// Cycles longer than this are abbreviated in the human explanation.
const LONG_CYCLE: usize = 12;

/// The inference results an edge explanation needs.
pub enum Index {
    /// list-append.
    Append(Box<AppendIndex>),
    /// rw-register.
    Register(RegisterIndex),
}

/// One explained cycle.
pub struct Explained {
    /// Lines for the human report.
    pub lines: Vec<String>,
    /// JSON details.
    pub json: Value,
    /// `(key or "", sentence)` per edge, for drawings.
    pub edges: Vec<(String, String)>,
}

#[allow(clippy::too_many_arguments)]
fn edge_why(
    ops: &[Operation],
    tx: &Txns,
    ix: &Index,
    a: u32,
    b: u32,
    kind: u8,
    na: &str,
    nb: &str,
) -> (String, String) {
    let found = match (kind, ix) {
        (PROCESS, _) => {
            let p = ops[tx.txns[b as usize].op]
                .process
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default();
            Some((
                String::new(),
                format!("{na} < {nb} because process {p} ran {nb} next after {na} completed"),
            ))
        }
        (REALTIME, _) => {
            let ca = ops[tx.txns[a as usize].op].complete_line.unwrap_or(0);
            let ib = ops[tx.txns[b as usize].op].invoke_line;
            Some((String::new(), format!("{na} < {nb} because {na} completed (line {ca}) before {nb} was invoked (line {ib})")))
        }
        (_, Index::Append(x)) => list_append::why(tx, x, a, b, kind, na, nb),
        (_, Index::Register(x)) => rw_register::why(x, tx, a, b, kind, na, nb),
    };
    found.unwrap_or_else(|| {
        (
            String::new(),
            format!("{na} < {nb} by a {} dependency", kind_name(kind)),
        )
    })
}

/// Explains one cycle.
pub fn explain(ops: &[Operation], tx: &Txns, ix: &Index, cycle: &Cycle) -> Explained {
    let nodes: Vec<u32> = cycle.edges.iter().map(|e| e.0).collect();
    let name = |t: u32| {
        format!(
            "T{}",
            nodes.iter().position(|&x| x == t).map_or(0, |i| i + 1)
        )
    };
    let mut out = Vec::new();
    for &t in &nodes {
        out.push(format!(
            "  {} = {} (process {}): {}",
            name(t),
            lines(ops, tx, t),
            ops[tx.txns[t as usize].op]
                .process
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "?".into()),
            txn_text(ops, tx, t)
        ));
    }
    let mut steps = Vec::new();
    let mut whys = Vec::new();
    for &(a, b, k) in &cycle.edges {
        let (key, why) = edge_why(ops, tx, ix, a, b, k, &name(a), &name(b));
        out.push(format!("  {why};"));
        steps.push(json!({
            "op": txn_json(ops, tx, a),
            "edge": {"kind": kind_name(k), "key": key, "why": why},
        }));
        whys.push((key, why));
    }
    if let Some(last) = out.last_mut() {
        last.pop();
        last.push('.');
    }
    let order: Vec<String> = if nodes.len() > LONG_CYCLE {
        vec![
            name(nodes[0]),
            name(nodes[1]),
            format!("… ({} more) …", nodes.len() - 3),
            name(nodes[nodes.len() - 1]),
            name(nodes[0]),
        ]
    } else {
        nodes
            .iter()
            .chain(nodes.first())
            .map(|&t| name(t))
            .collect()
    };
    let summary = format!(
        "{}: {} — a cycle, so no order of the transactions explains what they saw.",
        cycle.name,
        order.join(" < ")
    );
    let mut text = vec![summary.clone()];
    // A long cycle is shown by its first and last transactions and edges; the JSON has all.
    let n = nodes.len();
    if n > LONG_CYCLE {
        let keep = |i: usize| i < 4 || i >= n - 2;
        let mut shown: Vec<String> = Vec::new();
        for (i, line) in out.iter().take(n).enumerate().filter(|(i, _)| keep(*i)) {
            if i == n - 2 {
                shown.push(format!(
                    "  … {} more transactions (details.anomalies has them all)",
                    n - 6
                ));
            }
            shown.push(line.clone());
        }
        for (i, line) in out.iter().skip(n).enumerate().filter(|(i, _)| keep(*i)) {
            if i == n - 2 {
                shown.push(format!("  … {} more steps", n - 6));
            }
            shown.push(line.clone());
        }
        text.extend(shown);
    } else {
        text.extend(out);
    }
    let json = json!({
        "cycle": steps,
        "explanation": text.join("\n"),
    });
    Explained {
        lines: text,
        json,
        edges: whys,
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The DOT and SVG drawings of a cycle, named `cycle-<class>-<n>.dot|svg`.
pub fn drawings(
    ops: &[Operation],
    tx: &Txns,
    cycle: &Cycle,
    ex: &Explained,
    n: usize,
) -> Vec<Artifact> {
    let nodes: Vec<u32> = cycle.edges.iter().map(|e| e.0).collect();
    let label = |i: usize| format!("T{} ({})", i + 1, lines(ops, tx, nodes[i]));
    let mut dot = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
        cycle.name
    );
    for (i, &t) in nodes.iter().enumerate() {
        let _ = writeln!(
            dot,
            "  t{i} [label=\"{}\\n{}\"];",
            label(i),
            txn_text(ops, tx, t).replace('"', "\\\"")
        );
    }
    for (i, &(_, _, k)) in cycle.edges.iter().enumerate() {
        let key = &ex.edges[i].0;
        let tag = if key.is_empty() {
            kind_name(k).to_string()
        } else {
            format!("{} {}", kind_name(k), key)
        };
        let _ = writeln!(
            dot,
            "  t{i} -> t{} [label=\"{}\"];",
            (i + 1) % nodes.len(),
            tag.replace('"', "\\\"")
        );
    }
    dot.push_str("}\n");
    // SVG: nodes on a circle, straight labelled arrows.
    let n_nodes = nodes.len();
    let r = 60.0 + 25.0 * n_nodes as f64;
    let (w, h) = (2.0 * r + 260.0, 2.0 * r + 120.0);
    let (cx, cy) = (w / 2.0, h / 2.0);
    let pos: Vec<(f64, f64)> = (0..n_nodes)
        .map(|i| {
            let a = -std::f64::consts::FRAC_PI_2
                + 2.0 * std::f64::consts::PI * i as f64 / n_nodes as f64;
            (cx + r * a.cos(), cy + r * a.sin())
        })
        .collect();
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"12\">\n<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\"/></marker></defs>\n<text x=\"10\" y=\"18\" font-weight=\"bold\">{}</text>\n",
        escape(&cycle.name)
    );
    for (i, &(_, _, k)) in cycle.edges.iter().enumerate() {
        let (x1, y1) = pos[i];
        let (x2, y2) = pos[(i + 1) % n_nodes];
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        let (sx, sy, ex2, ey2) = (
            x1 + ux * 30.0,
            y1 + uy * 30.0,
            x2 - ux * 30.0,
            y2 - uy * 30.0,
        );
        // Two-node cycles: bend the arrows apart.
        let (ox, oy) = if n_nodes == 2 {
            (-uy * 25.0, ux * 25.0)
        } else {
            (0.0, 0.0)
        };
        let (mx, my) = ((sx + ex2) / 2.0 + ox, (sy + ey2) / 2.0 + oy);
        let color = match k {
            super::graph::RW => "#c0392b",
            super::graph::WR => "#2471a3",
            super::graph::WW => "#1e8449",
            _ => "#7f8c8d",
        };
        let _ = writeln!(svg, "<path d=\"M{sx:.1},{sy:.1} Q{mx:.1},{my:.1} {ex2:.1},{ey2:.1}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" marker-end=\"url(#arrow)\"/>");
        let key = &ex.edges[i].0;
        let tag = if key.is_empty() {
            kind_name(k).to_string()
        } else {
            format!("{} {}", kind_name(k), key)
        };
        let _ = writeln!(svg, "<text x=\"{mx:.1}\" y=\"{:.1}\" fill=\"{color}\" text-anchor=\"middle\"><title>{}</title>{}</text>", my - 4.0, escape(&ex.edges[i].1), escape(&tag));
    }
    for (i, &(x, y)) in pos.iter().enumerate() {
        let _ = writeln!(svg, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"28\" fill=\"#fdfefe\" stroke=\"#34495e\" stroke-width=\"1.5\"><title>{}</title></circle>", escape(&txn_text(ops, tx, nodes[i])));
        let _ = writeln!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\">T{}</text>",
            y + 4.0,
            i + 1
        );
        let _ = writeln!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{}</text>",
            y + 42.0,
            escape(&lines(ops, tx, nodes[i]))
        );
    }
    svg.push_str("</svg>\n");
    let base = format!("cycle-{}-{n}", cycle.name);
    vec![
        Artifact {
            name: format!("{base}.dot"),
            contents: dot,
        },
        Artifact {
            name: format!("{base}.svg"),
            contents: svg,
        },
    ]
}
