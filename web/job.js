// One job's page: every field, its error, and a chart of processed over
// time drawn from the updates this page has seen, with the estimated end.

import { kindBadge, metadataTable, processed, resultLink, stepStrip, stepSummary, title } from "./detail.js";
import { DASH, duration, el, fromNow, n, perSecond, ran, status, time } from "./format.js";
import { Feed, showState } from "./live.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const W = 640, H = 220, PAD = { l: 56, r: 12, t: 12, b: 28 };

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

/** The chart: the points seen, and a dashed line to (end, total). */
function drawChart(points, record) {
  const chart = $("chart");
  chart.replaceChildren();
  if (points.length === 0) return;
  const total = Math.max(record.totalTargetCount || 0, ...points.map((p) => p.v), 1);
  const end = record.estimatedEndAt ? Date.parse(record.estimatedEndAt) : null;
  const range = record.estimatedEndRange;
  const latest = range ? Date.parse(range.latest) : end;
  const t0 = points[0].t;
  const t1 = Math.max(points[points.length - 1].t, latest || 0, t0 + 1000);
  const x = (t) => PAD.l + ((t - t0) / (t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v) => H - PAD.b - (v / total) * (H - PAD.t - PAD.b);
  chart.append(
    svg("line", { class: "axis", x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b }),
    svg("line", { class: "axis", x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: H - PAD.b }),
  );
  const label = (text, attrs) => { const t = svg("text", attrs); t.textContent = text; chart.append(t); };
  label(n(total), { x: PAD.l - 4, y: PAD.t + 10, "text-anchor": "end" });
  label("0", { x: PAD.l - 4, y: H - PAD.b, "text-anchor": "end" });
  label(time(new Date(t0).toISOString()), { x: PAD.l, y: H - 8 });
  label(time(new Date(t1).toISOString()), { x: W - PAD.r, y: H - 8, "text-anchor": "end" });
  if (range && record.status !== "completed" && record.status !== "failed") {
    const a = x(Date.parse(range.earliest)), b = x(Date.parse(range.latest));
    chart.append(svg("rect", { class: "range", x: a, y: PAD.t, width: Math.max(1, b - a), height: H - PAD.t - PAD.b }));
  }
  const line = points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
  chart.append(svg("polyline", { class: "done", points: line }));
  if (end && record.status !== "completed" && record.status !== "failed") {
    const last = points[points.length - 1];
    chart.append(svg("line", { class: "eta", x1: x(last.t), y1: y(last.v), x2: x(end), y2: y(total) }));
  }
}

function fields(record) {
  const range = record.estimatedEndRange;
  return [
    ["Status", `${status(record.status)}${record.stalled ? " (stalled: no recent update)" : ""}`],
    ["Processed", `${processed(record)} (${record.progressPercentage} %)`],
    ["Stage", stepSummary(record) || DASH],
    ["Kind", record.kind || DASH],
    ["Successes", n(record.successCount)],
    ["Failures", n(record.failureCount)],
    ["Rate", perSecond(record.ratePerSecond)],
    ["Estimated end", record.estimatedEndAt ? `${time(record.estimatedEndAt)} (${fromNow(record.estimatedEndAt)})` : DASH],
    ["80 % range", range ? `${time(range.earliest)} – ${time(range.latest)}` : DASH],
    ["Remaining", record.estimatedRemainingSeconds == null ? DASH : duration(record.estimatedRemainingSeconds * 1000)],
    ["Chunk", record.totalChunks ? `${n(record.currentChunk)} of ${n(record.totalChunks)}` : DASH],
    ["Started", time(record.startedAt)],
    ["Last update", record.updatedAt ? `${time(record.updatedAt)} (${fromNow(record.updatedAt)})` : DASH],
    ["Completed", time(record.completedAt)],
    ["Duration", duration(ran(record))],
    ["Scheduled send", record.scheduleId || DASH],
    ["Refresh interval", record.refreshIntervalMs == null ? DASH : duration(record.refreshIntervalMs)],
    ["Version", record.version ? String(record.version) : DASH],
    ["Error", record.errorMessage || DASH],
  ];
}

/** The page of the job `id`. */
export class JobPage {
  constructor(id, onUnauthorized) {
    this.id = id;
    this.points = [];
    this.record = null;
    const path = `/api/v1/jobs/${encodeURIComponent(id)}`;
    this.feed = new Feed({
      streamUrl: `${path}/events`,
      pollUrl: `${path}/progress`,
      onSnapshot: () => {},
      onProgress: (record) => this.show(record),
      onPoll: (body) => this.show(body.data),
      onEnd: () => showState("done"),
      onError: (err) => this.missing(err.message),
      onUnauthorized,
    });
    this.clock = null;
  }

  start() {
    $("job-title").textContent = this.id;
    $("job-id").textContent = "";
    $("job-kind").replaceChildren();
    $("job-steps").replaceChildren();
    $("job-message").textContent = "";
    $("job-result").replaceChildren();
    $("job-result").hidden = true;
    $("job-metadata").replaceChildren();
    $("job-metadata-box").hidden = true;
    $("job-missing").hidden = true;
    $("job-body").hidden = false;
    $("chart").replaceChildren();
    $("job-fields").replaceChildren();
    $("job-error").hidden = true;
    this.feed.start();
    this.clock = setInterval(() => { if (this.record) this.render(); }, 5000);
  }

  stop() {
    this.feed.stop();
    clearInterval(this.clock);
  }

  missing(message) {
    this.feed.stop();
    showState("done");
    $("job-missing").textContent = message;
    $("job-missing").hidden = false;
    $("job-body").hidden = true;
  }

  show(record) {
    // A periodic read may be older than what the stream brought.
    if (this.record && record.version && record.version < this.record.version) return;
    this.record = record;
    const t = record.updatedAt ? Date.parse(record.updatedAt) : Date.now();
    const last = this.points[this.points.length - 1];
    if (!last || t > last.t) this.points.push({ t, v: record.currentSentCount });
    if (record.status === "completed" || record.status === "failed") {
      this.feed.stop();
      showState("done");
    }
    this.render();
  }

  render() {
    const record = this.record;
    $("job-bar").value = record.progressPercentage;
    $("job-bar").setAttribute("aria-valuetext", `${record.progressPercentage} %, ${n(record.currentSentCount)} of ${n(record.totalTargetCount)}`);
    $("job-pct").textContent = `${record.progressPercentage} % · ${processed(record)}`;
    $("job-title").textContent = title(record);
    document.title = `${title(record)} · job-progress`;
    $("job-id").textContent = record.name ? record.jobId : "";
    const kind = kindBadge(record);
    $("job-kind").replaceChildren(...(kind ? [kind] : []));
    const strip = stepStrip(record);
    $("job-steps").replaceChildren(...(strip ? [strip] : []));
    $("job-message").textContent = record.message || "";
    const result = record.status === "completed" ? resultLink(record) : null;
    $("job-result").replaceChildren(...(result ? [result] : []));
    $("job-result").hidden = !result;
    const table = metadataTable(record.metadata);
    $("job-metadata").replaceChildren(...(table ? [table] : []));
    $("job-metadata-box").hidden = !table;
    $("job-error").hidden = !record.errorMessage;
    $("job-error").textContent = record.errorMessage || "";
    const list = $("job-fields");
    list.replaceChildren(...fields(record).flatMap(([name, value]) => [el("dt", name), el("dd", value)]));
    list.dataset.status = record.status;
    list.dataset.stalled = String(!!record.stalled);
    drawChart(this.points, record);
  }
}
