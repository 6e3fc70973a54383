// faultline report.html: draws the timeline of one checked history from the embedded JSON.
// Only the operations in the visible window are put in the DOM (at most MAX_DRAW bars).
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var MAX_DRAW = 3000, LANE = 22, TOP = 36, LEFT = 110, RIGHT = 12;
  var OUT = ["ok", "fail", "info"];
  // Row fields: [index, lane, f, start, end, outcome, value, result, invoke line, complete line,
  // nemesis, key]. Operations on other keys than the counterexample's are dimmed.
  var ops = D.ops, byIndex = {}, byLine = {};
  var hEnd = 0, hStart = Infinity;
  ops.forEach(function (o) {
    byIndex[o[0]] = o; byLine[o[8]] = o;
    hStart = Math.min(hStart, o[3]); hEnd = Math.max(hEnd, o[4] === null ? o[3] : o[4]);
  });
  D.windows.forEach(function (w) { hEnd = Math.max(hEnd, w[1]); });
  if (!isFinite(hStart)) { hStart = 0; }
  if (hEnd <= hStart) { hEnd = hStart + 1; }
  var minimal = new Set(D.minimal), other = new Set(D.other), lin = new Map();
  (D.longest[0] || []).forEach(function (s, k) { lin.set(s[0], k + 1); });
  var selected = null;
  var view = [hStart, hEnd];

  function el(tag, attrs, parent, text) {
    var e = document.createElementNS(tag === "div" || tag === "pre" || tag === "table" || tag === "tr" ||
      tag === "td" || tag === "th" || tag === "h2" || tag === "span" || tag === "p" ? "http://www.w3.org/1999/xhtml" : NS, tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function endOf(o) { return o[4] === null ? hEnd : o[4]; }
  function fmtTime(t) {
    if (D.axis === "ns") {
      var span = view[1] - view[0];
      return span < 2e9 ? ((t - hStart) / 1e6).toFixed(span < 2e6 ? 3 : 1) + " ms" : ((t - hStart) / 1e9).toFixed(3) + " s";
    }
    return "event " + t;
  }
  function opText(o) {
    var s = o[2] + " " + o[6];
    if (o[5] === 0 && o[7] !== "") { s += " → " + o[7]; }
    if (o[5] !== 0) { s += " (" + OUT[o[5]] + (o[7] ? " " + o[7] : "") + ")"; }
    return s;
  }
  function process(o) { return D.processes[o[1]]; }

  // Summary, note and evidence panels.
  var summary = document.getElementById("summary");
  el("span", { "class": "verdict " + D.verdict }, summary, D.verdict.toUpperCase());
  el("span", {}, summary, " " + D.file + " · " + D.checker + " · " + ops.length + " operations");
  if (D.note) { var n = document.getElementById("note"); n.hidden = false; n.textContent = D.note; }
  var ev = document.getElementById("evidence");
  if (D.explanation.length) {
    var b = el("div", { "class": "box", id: "explanation" }, ev);
    el("h2", {}, b, "Explanation");
    el("pre", {}, b, D.explanation.join("\n"));
  }
  function opTable(title, id, rows, extra) {
    var b = el("div", { "class": "box", id: id }, ev);
    el("h2", {}, b, title);
    var t = el("table", { "class": "ops" }, b);
    var h = el("tr", {}, t);
    ["#", "line", "process", "operation", "outcome"].concat(extra ? [extra] : []).forEach(function (c) { el("th", {}, h, c); });
    rows.forEach(function (r, k) {
      var o = byIndex[r.index];
      if (!o) { return; }
      var tr = el("tr", { "data-id": String(o[0]) }, t);
      el("td", {}, tr, String(k + 1)); el("td", {}, tr, String(o[8]));
      el("td", {}, tr, process(o)); el("td", {}, tr, opText(o)); el("td", {}, tr, OUT[o[5]]);
      if (extra) { el("td", {}, tr, r.extra); }
      tr.addEventListener("click", function () { focusOn([o]); select(o); });
    });
  }
  if (D.minimal.length) {
    opTable("Minimal failing sub-history (" + D.minimal.length + " operations)", "minimal",
      D.minimal.map(function (i) { return { index: i }; }));
  }
  D.longest.forEach(function (l, k) {
    opTable("Longest partial linearization" + (D.longest.length > 1 ? " " + (k + 1) : "") +
      (D.stuck !== null ? " — then line " + (byIndex[D.stuck] || [0, 0, 0, 0, 0, 0, 0, 0, "?"])[8] + " is stuck" : ""),
      "longest-" + k, l.map(function (s) { return { index: s[0], extra: s[1] }; }), "state after");
    // The end of the linearization (next to the stuck operation) is what matters: show it.
    var box = document.getElementById("longest-" + k);
    box.scrollTop = box.scrollHeight;
  });
  D.cycles.forEach(function (c, k) { drawCycle(c, k); });
  if (!D.minimal.length && D.other.length) {
    opTable("Operations named by the anomalies (" + D.other.length + ")", "anomaly-ops",
      D.other.slice(0, 200).map(function (i) { return { index: i }; }));
  }

  // A transactional cycle: transactions on a circle, edges labelled with kind and key.
  function drawCycle(c, k) {
    var b = el("div", { "class": "box cycle-box", id: "cycle-" + k }, ev);
    el("h2", {}, b, "Cycle " + (k + 1));
    var n = c.steps.length, R = 70 + 12 * n, W = 2 * R + 200, H = 2 * R + 60, cx = W / 2, cy = H / 2;
    var svg = el("svg", { "class": "cycle", width: W, height: H, viewBox: "0 0 " + W + " " + H }, b);
    var defs = el("defs", {}, svg);
    var m = el("marker", { id: "arrow" + k, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#444" }, m);
    var pos = c.steps.map(function (s, i) {
      var a = -Math.PI / 2 + 2 * Math.PI * i / n;
      return [cx + R * Math.cos(a), cy + R * Math.sin(a)];
    });
    c.steps.forEach(function (s, i) {
      var p = pos[i], q = pos[(i + 1) % n], dx = q[0] - p[0], dy = q[1] - p[1], L = Math.hypot(dx, dy) || 1;
      // An edge whose reverse is also drawn (both edges of a two-transaction cycle) bows to its
      // left, so the pair shows as two arcs with their labels on either side, never one line.
      var back = n === 2 || c.steps.some(function (t, j) { return pos[j] === q && pos[(j + 1) % n] === p; });
      var bow = back ? Math.max(36, L / 4) : 0, nx = dy / L, ny = -dx / L;
      var mx = (p[0] + q[0]) / 2 + nx * bow, my = (p[1] + q[1]) / 2 + ny * bow;
      var toward = function (a, b) { var ex = b[0] - a[0], ey = b[1] - a[1], E = Math.hypot(ex, ey) || 1; return [a[0] + ex / E * 22, a[1] + ey / E * 22]; };
      var a = toward(p, bow ? [mx, my] : q), z = toward(q, bow ? [mx, my] : p);
      var g = el("g", { "class": "edge-g" }, svg);
      el("path", { "class": "edge", d: "M" + a[0] + "," + a[1] + " Q" + mx + "," + my + " " + z[0] + "," + z[1], fill: "none", "marker-end": "url(#arrow" + k + ")" }, g);
      // Keys as the history wrote them: 2 is an integer, "2" a string.
      var label = String(s.kind || "") + (s.key !== null && s.key !== undefined ? " " + JSON.stringify(s.key) : "");
      var tx = (a[0] + z[0]) / 2 + 4, ty = (a[1] + z[1]) / 2 - 4, anchor = "start";
      if (bow) {
        // Beside the curve's middle, on its outer side, the text growing away from the curve.
        tx = (a[0] + z[0]) / 4 + mx / 2 + nx * 8;
        ty = (a[1] + z[1]) / 4 + my / 2 + ny * 8 + (ny > 0.3 ? 12 : ny < -0.3 ? -4 : 4);
        anchor = nx > 0.3 ? "start" : nx < -0.3 ? "end" : "middle";
      }
      el("text", { "class": "edge-label", x: tx, y: ty, "text-anchor": anchor }, g, label);
      el("title", {}, g, s.why || label);
    });
    c.steps.forEach(function (s, i) {
      var g = el("g", { "class": "node", "data-line": String(s.line) }, svg);
      el("circle", { cx: pos[i][0], cy: pos[i][1], r: 20 }, g);
      el("text", { x: pos[i][0] - 8, y: pos[i][1] + 4 }, g, "T" + (i + 1));
      el("title", {}, g, "T" + (i + 1) + ": line " + s.line + " process " + s.process + " " + (s.value || ""));
      g.style.cursor = "pointer";
      g.addEventListener("click", function () { var o = byLine[s.line]; if (o) { focusOn([o]); select(o); } });
    });
    el("pre", {}, b, c.steps.map(function (s, i) {
      return "T" + (i + 1) + " = line " + s.line + " (process " + s.process + "): " + (s.value || "") +
        "\n   → T" + ((i + 1) % n + 1) + " [" + (s.kind || "") + "] " + (s.why || "");
    }).join("\n"));
  }

  // The timeline.
  var box = document.getElementById("timeline"), status = document.getElementById("status");
  function render() {
    var width = Math.max(600, box.clientWidth || 1200), w = width - LEFT - RIGHT;
    var v0 = view[0], v1 = view[1], span = Math.max(v1 - v0, 1e-9);
    var x = function (t) { return LEFT + (t - v0) / span * w; };
    var visible = [];
    for (var i = 0; i < ops.length; i++) {
      var o = ops[i];
      if (o[3] <= v1 && endOf(o) >= v0) { visible.push(o); }
    }
    var total = visible.length;
    if (total > MAX_DRAW) {
      var marked = visible.filter(function (o) { return minimal.has(o[0]) || other.has(o[0]) || lin.has(o[0]); });
      var rest = visible.filter(function (o) { return !(minimal.has(o[0]) || other.has(o[0]) || lin.has(o[0])); });
      visible = marked.slice(0, MAX_DRAW).concat(rest.slice(0, Math.max(0, MAX_DRAW - marked.length)));
    }
    var laneSet = new Set(visible.map(function (o) { return o[1]; }));
    var lanes = Array.from(laneSet).sort(function (a, b) {
      var na = D.processes[a] === "nemesis", nb = D.processes[b] === "nemesis";
      if (na !== nb) { return na ? 1 : -1; }
      var pa = Number(D.processes[a]), pb = Number(D.processes[b]);
      return isNaN(pa) || isNaN(pb) ? a - b : pa - pb;
    });
    var laneY = {};
    lanes.forEach(function (l, k) { laneY[l] = TOP + k * LANE; });
    var height = TOP + Math.max(lanes.length, 1) * LANE + 8;
    var svg = el("svg", { width: width, height: height, id: "timeline-svg" });
    // Fault windows, shaded across every lane.
    D.windows.forEach(function (win) {
      if (win[1] < v0 || win[0] > v1) { return; }
      var a = Math.max(x(win[0]), LEFT), b = Math.min(x(win[1]), LEFT + w);
      var g = el("g", { "class": "nemesis-window-g" }, svg);
      el("rect", { "class": "nemesis-window", "data-kind": win[2], x: a, y: TOP - 6, width: Math.max(b - a, 2), height: height - TOP }, g);
      el("text", { "class": "nemesis-window-label", x: a + 3, y: TOP - 10 }, g, win[2]);
      el("title", {}, g, win[2] + " from " + fmtTime(win[0]) + " to " + fmtTime(win[1]));
    });
    // Time ticks.
    var ticks = [];
    if (D.axis === "event") {
      var step = Math.max(1, Math.ceil(span / 8));
      for (var e = Math.max(0, Math.ceil(v0 / step) * step); e <= v1; e += step) { ticks.push(e); }
    } else {
      for (var k = 0; k <= 8; k++) { ticks.push(v0 + span * k / 8); }
    }
    ticks.forEach(function (t) {
      var tx = x(t);
      el("line", { "class": "tick", x1: tx, x2: tx, y1: 12, y2: height }, svg);
      el("text", { "class": "tick-label", x: tx + 2, y: 10 }, svg, fmtTime(Math.round(t)));
    });
    lanes.forEach(function (l) {
      el("line", { "class": "lane-line", x1: 0, x2: width, y1: laneY[l] + LANE - 2, y2: laneY[l] + LANE - 2 }, svg);
      el("text", { "class": "lane-label", x: 4, y: laneY[l] + 14 }, svg, D.processes[l] === "nemesis" ? "nemesis" : "process " + D.processes[l]);
    });
    visible.forEach(function (o) {
      var cls = "op " + (o[10] ? "nemesis-op" : OUT[o[5]]);
      if (minimal.has(o[0]) || other.has(o[0])) { cls += " minimal"; }
      if (o[0] === D.stuck) { cls += " stuck"; }
      if (lin.has(o[0])) { cls += " lin"; }
      if (selected === o[0]) { cls += " selected"; }
      if (D.key !== null && D.key !== undefined && !o[10] && o[11] !== D.key) { cls += " dim"; }
      var a = Math.max(x(o[3]), LEFT - 2), b = Math.min(x(endOf(o)), LEFT + w + 2);
      var g = el("g", { "class": cls, "data-id": String(o[0]), "data-line": String(o[8]) }, svg);
      el("rect", { x: a, y: laneY[o[1]] + 2, width: Math.max(b - a, 2), height: LANE - 6, rx: 2 }, g);
      var label = (lin.has(o[0]) ? lin.get(o[0]) + ". " : "") + opText(o);
      if (b - a > 30) {
        var chars = Math.floor((b - a - 6) / 6.6);
        el("text", { x: a + 3, y: laneY[o[1]] + 14 }, g, label.length > chars ? label.slice(0, Math.max(chars - 1, 1)) + "…" : label);
      }
      el("title", {}, g, "line " + o[8] + " · process " + process(o) + " · " + label + " · " +
        fmtTime(o[3]) + " – " + (o[4] === null ? "never completed" : fmtTime(o[4])));
      g.addEventListener("click", function () { select(o); });
    });
    box.replaceChildren(svg);
    status.textContent = fmtTime(Math.round(v0)) + " – " + fmtTime(Math.round(v1)) + " · " +
      (total > visible.length ? "drawing " + visible.length + " of " + total + " operations in view (zoom in for the rest)"
        : total + " operations in view");
    svg.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = svg.getBoundingClientRect(), at = v0 + (e.clientX - r.left - LEFT) / w * span;
      zoom(e.deltaY > 0 ? 1.25 : 0.8, at);
    }, { passive: false });
  }
  function select(o) {
    selected = o[0];
    var d = document.getElementById("details");
    d.replaceChildren();
    el("pre", {}, d, JSON.stringify({
      index: o[0], process: process(o), f: o[2], key: o[11], value: o[6], outcome: OUT[o[5]], result: o[7],
      invoke_line: o[8], complete_line: o[9], invoked: fmtTime(o[3]), completed: o[4] === null ? null : fmtTime(o[4]),
      in_counterexample: minimal.has(o[0]) || other.has(o[0]), stuck: o[0] === D.stuck,
      linearization_position: lin.get(o[0]) || null
    }, null, 2));
    render();
  }
  function zoom(f, at) {
    var s = (view[1] - view[0]) * f;
    if (at === undefined) { at = (view[0] + view[1]) / 2; }
    var r = (at - view[0]) / (view[1] - view[0]);
    view = [at - s * r, at - s * r + s];
    render();
  }
  function pan(f) { var s = (view[1] - view[0]) * f; view = [view[0] + s, view[1] + s]; render(); }
  function focusOn(list) {
    if (!list.length) { return; }
    var a = Math.min.apply(null, list.map(function (o) { return o[3]; }));
    var b = Math.max.apply(null, list.map(endOf));
    var pad = Math.max((b - a) * 0.15, 1);
    view = [a - pad, b + pad];
    render();
  }
  function anomalyView() {
    if (D.focus) {
      var pad = Math.max((D.focus[1] - D.focus[0]) * 0.15, 1);
      view = [D.focus[0] - pad, D.focus[1] + pad];
    } else if (ops.length > 300) {
      view = [hStart, endOf(ops[299])];
    } else {
      view = [hStart, hEnd];
    }
    render();
  }
  document.getElementById("b-anomaly").addEventListener("click", anomalyView);
  document.getElementById("b-all").addEventListener("click", function () { view = [hStart, hEnd]; render(); });
  document.getElementById("b-in").addEventListener("click", function () { zoom(0.5); });
  document.getElementById("b-out").addEventListener("click", function () { zoom(2); });
  document.getElementById("b-left").addEventListener("click", function () { pan(-0.5); });
  document.getElementById("b-right").addEventListener("click", function () { pan(0.5); });
  window.addEventListener("resize", render);
  anomalyView();
})();
