//! report.html: one self-contained page (inline CSS, JavaScript and SVG; no network) that
//! draws the timeline of a checked history — the last step of run → check → report.
//!
//! The data comes from [`super::timeline::data`] and is embedded as JSON; the script draws
//! only the operations in the visible window (at most `MAX_DRAW` bars), starting with the
//! window around the anomaly, so a large history never puts all its operations in the DOM.
//! Every operation is a bar from invocation to completion in its process's lane (green ok,
//! red fail, amber info); nemesis fault windows are shaded across all lanes, each kind in its
//! own colour (partition grey, kill red, pause purple, packet teal, corrupt orange,
//! lose-unfsynced amber, clock faults blue); hovering shows an operation's summary and clicking
//! shows all its fields. The counterexample (minimal failing sub-history, longest partial
//! linearizations, or a transactional cycle with labelled edges) is outlined on the timeline and
//! listed beside it.

use super::timeline::PageData;

/// The page for `data` (the JSON of [`super::timeline::data`]).
pub fn page(data: &PageData) -> String {
    // `<` only occurs inside JSON strings, where `\u003c` means the same: the script element
    // can then never be closed early by the data.
    let json = data.to_json().replace('<', "\\u003c");
    let title = data.meta["file"].as_str().unwrap_or("history");
    let mut out = String::with_capacity(json.len() + TEMPLATE.len() + 256);
    out.push_str(
        &TEMPLATE
            .replace("{{TITLE}}", &escape(title))
            .replace("{{STYLE}}", STYLE),
    );
    let (head, tail) = out.split_at(out.find("{{DATA}}").unwrap_or(out.len()));
    let tail = tail
        .strip_prefix("{{DATA}}")
        .unwrap_or(tail)
        .replace("{{SCRIPT}}", SCRIPT);
    let mut page = String::with_capacity(out.len() + json.len());
    page.push_str(head);
    page.push_str(&json);
    page.push_str(&tail);
    page
}

/// HTML-escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const TEMPLATE: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>faultline — {{TITLE}}</title>
<style>{{STYLE}}</style></head>
<body>
<header><h1>faultline report</h1><div id="summary"></div></header>
<div id="note" class="note" hidden></div>
<section id="evidence"></section>
<section id="controls">
 <button id="b-anomaly" type="button">anomaly</button>
 <button id="b-all" type="button">whole history</button>
 <button id="b-in" type="button">zoom in</button>
 <button id="b-out" type="button">zoom out</button>
 <button id="b-left" type="button">◀</button>
 <button id="b-right" type="button">▶</button>
 <span id="status"></span>
 <span class="legend"><i class="sw ok"></i>ok <i class="sw fail"></i>fail <i class="sw info"></i>info
 <i class="sw win"></i>fault window <i class="sw min"></i>counterexample <i class="sw lin"></i>longest linearization</span>
</section>
<div id="timeline"></div>
<section id="details"><em>Click an operation for its details. Scroll over the timeline to zoom.</em></section>
<script id="data" type="application/json">{{DATA}}</script>
<script>{{SCRIPT}}</script>
</body></html>
"#;

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:0 16px 24px;color:#222;background:#fafafa}
header{display:flex;align-items:baseline;gap:16px}h1{font-size:18px;margin:12px 0}
.verdict{font-weight:700;padding:2px 8px;border-radius:4px;color:#fff}
.verdict.valid{background:#2e7d32}.verdict.invalid{background:#c62828}.verdict.unknown{background:#8d6e00}
.note{background:#fff3cd;border:1px solid #e0c060;padding:6px 10px;margin:6px 0}
#evidence{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0}
#evidence .box{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 12px;max-width:100%;max-height:320px;overflow:auto}
#evidence h2{font-size:15px;margin:2px 0 6px;position:sticky;top:-8px;background:#fff;padding:4px 0}#evidence pre{margin:0;white-space:pre-wrap}
table.ops{border-collapse:collapse;font:12px ui-monospace,Menlo,monospace}
table.ops td,table.ops th{padding:1px 6px;text-align:left;border-bottom:1px solid #eee}
table.ops tr{cursor:pointer}table.ops tr:hover{background:#eef}
#controls{display:flex;flex-wrap:wrap;align-items:center;gap:6px;margin:6px 0}
#status{color:#555;margin-left:8px}.legend{margin-left:auto;color:#444}
.sw{display:inline-block;width:14px;height:10px;margin:0 3px 0 8px;vertical-align:middle;border:1px solid #0003}
.sw.ok{background:#66bb6a}.sw.fail{background:#ef5350}.sw.info{background:#ffca28}
.sw.win{background:#90a4ae55}.sw.min{border:2px solid #b71c1c}.sw.lin{border:2px dashed #1565c0}
#timeline{background:#fff;border:1px solid #ddd;border-radius:6px;overflow:hidden}
#timeline svg{display:block;font:11px ui-monospace,Menlo,monospace}
.lane-label{fill:#333}.lane-line{stroke:#eee}.tick{stroke:#ccc}.tick-label{fill:#666}
.nemesis-window{fill:#90a4ae;fill-opacity:.28}.nemesis-window[data-kind=kill]{fill:#e57373}.nemesis-window[data-kind=pause]{fill:#ba68c8}.nemesis-window[data-kind=packet]{fill:#4db6ac}.nemesis-window[data-kind=corrupt]{fill:#ff8a65}.nemesis-window[data-kind=lose-unfsynced]{fill:#ffd54f}.nemesis-window[data-kind^=clock]{fill:#64b5f6}.nemesis-window-label{fill:#455a64}
.op rect{stroke:#0004;stroke-width:.5}.op.ok rect{fill:#66bb6a}.op.fail rect{fill:#ef5350}
.op.info rect{fill:#ffca28}.op.nemesis-op rect{fill:#78909c}.op text{fill:#111;pointer-events:none}
.op.lin rect{stroke:#1565c0;stroke-width:2;stroke-dasharray:4 2}
.op.minimal rect{stroke:#b71c1c;stroke-width:2.5;stroke-dasharray:none}.op.stuck rect{stroke:#000;stroke-width:3}.op.selected rect{stroke:#6a1b9a;stroke-width:3}
.op{cursor:pointer}.dim{opacity:.35}
#details{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 12px;margin-top:8px}
#details pre{margin:0;white-space:pre-wrap;font:12px ui-monospace,Menlo,monospace}
svg.cycle text{font:11px ui-monospace,Menlo,monospace}svg.cycle{float:left;margin-right:12px}.cycle-box pre{overflow:auto}
svg.cycle .node circle{fill:#ffebee;stroke:#b71c1c;stroke-width:1.5}svg.cycle .edge{stroke:#444;fill:none}
svg.cycle .edge-label{fill:#b71c1c}
"#;

const SCRIPT: &str = include_str!("timeline.js");
