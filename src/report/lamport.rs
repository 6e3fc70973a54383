//! messages.svg: the Lamport (message-flow) diagram of a `faultline maelstrom test` run — the
//! "report" step over the router's journal (`messages.jsonl`, the run's first messages).
//!
//! One vertical lane per endpoint (clients, then nodes, then services); time runs downward;
//! every message is an arrow from its sender's lane at the moment it was sent to its
//! receiver's lane at the moment it was delivered, labelled with its body's `type`. Requests
//! are blue, `*_ok` replies green, errors red, faultline's own `c0` (init, convergence probes)
//! grey; a dropped message (partition, loss, receiver down) is a dashed grey stub ending in ✕.
//! Rows follow the order of events rather than a linear clock, so bursts of messages a
//! microsecond apart stay readable; the left margin gives the time in milliseconds. Hovering an
//! arrow shows the whole message.

use super::html::escape;
use serde_json::Value;
use std::collections::BTreeMap;

/// One journaled message.
struct Arrow {
    sent: u64,
    recv: Option<u64>,
    dropped: bool,
    src: String,
    dest: String,
    kind: String,
    reply: bool,
    line: String,
}

/// The lane order of an endpoint: clients, then nodes, then services; numbers in order.
fn lane_key(name: &str) -> (u8, u64, String) {
    let num = |rest: &str| rest.parse::<u64>().ok();
    if let Some(n) = name.strip_prefix('c').and_then(num) {
        return (0, n, String::new());
    }
    if let Some(n) = name.strip_prefix('n').and_then(num) {
        return (1, n, String::new());
    }
    (2, 0, name.to_string())
}

/// The diagram of the journal `text` (JSON lines as the router writes them), with `total`
/// messages sent in the whole run; `None` when the journal holds no message.
pub fn render(text: &str, total: u64) -> Option<String> {
    let mut arrows = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let msg = &v["msg"];
        let body = &msg["body"];
        let s = |x: &Value| x.as_str().unwrap_or("?").to_string();
        arrows.push(Arrow {
            sent: v["sent"].as_u64().unwrap_or(0),
            recv: v["recv"].as_u64(),
            dropped: v["dropped"].as_bool().unwrap_or(false),
            src: s(&msg["src"]),
            dest: s(&msg["dest"]),
            kind: s(&body["type"]),
            reply: body.get("in_reply_to").is_some(),
            line: msg.to_string(),
        });
    }
    if arrows.is_empty() {
        return None;
    }
    // Lanes.
    let mut lanes: BTreeMap<(u8, u64, String), String> = BTreeMap::new();
    for a in &arrows {
        for n in [&a.src, &a.dest] {
            lanes.insert(lane_key(n), n.clone());
        }
    }
    let lane_x: BTreeMap<String, f64> = lanes
        .values()
        .enumerate()
        .map(|(i, n)| (n.clone(), 90.0 + i as f64 * 120.0))
        .collect();
    // Rows: every distinct event time, in order.
    let mut times: Vec<u64> = arrows
        .iter()
        .flat_map(|a| [Some(a.sent), a.recv])
        .flatten()
        .collect();
    times.sort_unstable();
    times.dedup();
    const TOP: f64 = 50.0;
    const ROW: f64 = 7.0;
    let y = |t: u64| TOP + times.partition_point(|&x| x < t) as f64 * ROW;
    let width = 90.0 + lanes.len() as f64 * 120.0;
    let height = TOP + (times.len() + 4) as f64 * ROW;

    let mut svg = String::with_capacity(arrows.len() * 300 + 4096);
    svg.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"ui-monospace,Menlo,monospace\" font-size=\"10\">\n\
         <defs>{}</defs>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n",
        ["req", "ok", "err", "int"]
            .iter()
            .zip(["#1565c0", "#2e7d32", "#c62828", "#9e9e9e"])
            .map(|(id, c)| format!(
                "<marker id=\"a-{id}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" \
                 markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" fill=\"{c}\"/></marker>"
            ))
            .collect::<String>()
    ));
    let shown = arrows.len() as u64;
    svg.push_str(&format!(
        "<text x=\"8\" y=\"16\" font-size=\"12\">Lamport diagram: {}</text>\n",
        if total > shown {
            format!("the first {shown} of {total} messages")
        } else {
            format!("all {shown} messages")
        }
    ));
    for (name, x) in &lane_x {
        svg.push_str(&format!(
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{height:.0}\" stroke=\"#ddd\"/>\
             <text x=\"{x}\" y=\"38\" text-anchor=\"middle\" font-size=\"12\" font-weight=\"bold\">{}</text>\n",
            TOP - 6.0,
            escape(name)
        ));
    }
    // Time labels every 40 rows.
    for (i, t) in times.iter().enumerate().step_by(40) {
        svg.push_str(&format!(
            "<text x=\"4\" y=\"{:.1}\" fill=\"#777\">{:.1} ms</text>\n",
            TOP + i as f64 * ROW + 3.0,
            *t as f64 / 1000.0
        ));
    }
    for a in &arrows {
        let (Some(&x1), Some(&x2)) = (lane_x.get(&a.src), lane_x.get(&a.dest)) else {
            continue;
        };
        let y1 = y(a.sent);
        let (class, color) = if a.src == "c0" || a.dest == "c0" {
            ("int", "#9e9e9e")
        } else if a.kind == "error" {
            ("err", "#c62828")
        } else if a.reply || a.kind.ends_with("_ok") {
            ("ok", "#2e7d32")
        } else {
            ("req", "#1565c0")
        };
        let title = escape(&super::evidence::short(&Value::String(a.line.clone())));
        let (x2, y2, dash, end) = match a.recv {
            Some(r) if !a.dropped => (x2, y(r), "", format!("marker-end=\"url(#a-{class})\"")),
            // Dropped (or never delivered before the run ended): a stub towards the receiver.
            _ => (
                x1 + (x2 - x1) * 0.4,
                y1 + 3.0 * ROW,
                " stroke-dasharray=\"4 3\"",
                String::new(),
            ),
        };
        let stroke = if dash.is_empty() { color } else { "#9e9e9e" };
        svg.push_str(&format!(
            "<g><title>{title}</title><line x1=\"{x1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" \
             stroke=\"{stroke}\" stroke-width=\"1.2\"{dash} {end}/>",
        ));
        if !dash.is_empty() {
            svg.push_str(&format!(
                "<text x=\"{x2:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#c62828\">✕</text>",
                y2 + 4.0
            ));
        }
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{stroke}\">{}</text></g>\n",
            (x1 + x2) / 2.0,
            (y1 + y2) / 2.0 - 2.0,
            escape(&a.kind)
        ));
    }
    svg.push_str("</svg>\n");
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lamport_diagram_draws_one_arrow_per_message_and_marks_drops() {
        let j = concat!(
            r#"{"sent":10,"recv":20,"dropped":false,"msg":{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":1}}}"#,
            "\n",
            r#"{"sent":21,"recv":30,"dropped":false,"msg":{"src":"n1","dest":"c1","body":{"type":"echo_ok","in_reply_to":1}}}"#,
            "\n",
            r#"{"sent":22,"recv":null,"dropped":true,"msg":{"src":"n1","dest":"n2","body":{"type":"gossip"}}}"#,
            "\n"
        );
        let svg = render(j, 5).unwrap();
        assert_eq!(svg.matches("<g><title>").count(), 3);
        assert!(svg.contains("the first 3 of 5 messages"));
        assert!(svg.contains(">echo_ok</text>") && svg.contains("url(#a-ok)"));
        assert!(svg.contains("stroke-dasharray") && svg.contains('✕'));
        // Lanes: c1, n1, n2 in that order.
        let (c, n1, n2) = (
            svg.find(">c1</text>").unwrap(),
            svg.find(">n1</text>").unwrap(),
            svg.find(">n2</text>").unwrap(),
        );
        assert!(c < n1 && n1 < n2);
        assert!(render("", 0).is_none());
    }
}
