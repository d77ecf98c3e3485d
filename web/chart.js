// The job page's two charts over the whole run: processed (with the
// estimated end and its range), and beneath it the rate over the same
// time. Points come from GET .../history, then from each update seen.

import { n, perSecond, time } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 640, PAD = { l: 56, r: 12, t: 12, b: 28 };

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function label(chart, text, attrs) {
  const t = svg("text", attrs);
  t.textContent = text;
  chart.append(t);
}

/** The points `{t, v}` of a history's samples. */
export function fromHistory(samples) {
  return (samples || []).map((s) => ({ t: Date.parse(s.at), v: s.processed }))
    .filter((p) => !Number.isNaN(p.t)).sort((a, b) => a.t - b.t);
}

/** Adds `point` unless it is not later than the last one. */
export function extend(points, point) {
  const last = points[points.length - 1];
  if (!last || point.t > last.t) points.push(point);
  else if (point.t === last.t) last.v = Math.max(last.v, point.v);
}

/** The axis and labels of a chart of height `h`; returns x and y. */
function frame(chart, h, t0, t1, top, topText) {
  const x = (t) => PAD.l + ((t - t0) / (t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v) => h - PAD.b - (v / top) * (h - PAD.t - PAD.b);
  chart.append(
    svg("line", { class: "axis", x1: PAD.l, y1: h - PAD.b, x2: W - PAD.r, y2: h - PAD.b }),
    svg("line", { class: "axis", x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: h - PAD.b }),
  );
  label(chart, topText, { x: PAD.l - 4, y: PAD.t + 10, "text-anchor": "end" });
  label(chart, "0", { x: PAD.l - 4, y: h - PAD.b, "text-anchor": "end" });
  label(chart, time(new Date(t0).toISOString()), { x: PAD.l, y: h - 8 });
  label(chart, time(new Date(t1).toISOString()), { x: W - PAD.r, y: h - 8, "text-anchor": "end" });
  return { x, y };
}

/** Both charts for `points` and the latest `record`. */
export function draw(points, record) {
  const chart = document.getElementById("chart");
  const rates = document.getElementById("rate-chart");
  chart.replaceChildren();
  rates.replaceChildren();
  if (points.length === 0) return;
  const ended = record.status === "completed" || record.status === "failed";
  const staged = record.totalTargetCount == null; // then the points are percentages
  const total = staged ? 100 : Math.max(record.totalTargetCount, ...points.map((p) => p.v), 1);
  const end = record.estimatedEndAt && !ended ? Date.parse(record.estimatedEndAt) : null;
  const range = ended ? null : record.estimatedEndRange;
  const t0 = points[0].t;
  const t1 = Math.max(points[points.length - 1].t, range ? Date.parse(range.latest) : end || 0, t0 + 1000);
  const { x, y } = frame(chart, 220, t0, t1, total, staged ? "100 %" : n(total));
  if (range) {
    const a = x(Date.parse(range.earliest)), b = x(Date.parse(range.latest));
    chart.append(svg("rect", { class: "range", x: a, y: PAD.t, width: Math.max(1, b - a), height: 220 - PAD.t - PAD.b }));
  }
  chart.append(svg("polyline", { class: "done", points: points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ") }));
  if (end) {
    const last = points[points.length - 1];
    chart.append(svg("line", { class: "eta", x1: x(last.t), y1: y(last.v), x2: x(end), y2: y(total) }));
  }
  // The rate between each two points, drawn as steps on the same time axis.
  const steps = [];
  for (let i = 1; i < points.length; i += 1) {
    const dt = (points[i].t - points[i - 1].t) / 1000;
    if (dt > 0) steps.push({ a: points[i - 1].t, b: points[i].t, r: Math.max(0, (points[i].v - points[i - 1].v) / dt) });
  }
  if (steps.length === 0 || staged) return;
  const top = Math.max(...steps.map((s) => s.r), 1);
  const r = frame(rates, 120, t0, t1, top, perSecond(top));
  const line = steps.flatMap((s) => [`${r.x(s.a).toFixed(1)},${r.y(s.r).toFixed(1)}`, `${r.x(s.b).toFixed(1)},${r.y(s.r).toFixed(1)}`]);
  rates.append(svg("polyline", { class: "rate", points: line.join(" ") }));
}

