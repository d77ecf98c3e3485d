// One job's page: what the job says about itself, every field, its error,
// the charts of the whole run (from its history, then live) and its log.

import { childrenSummary, kindBadge, metadataTable, processed, resultLink, stepStrip, stepSummary, title } from "./detail.js";
import { DASH, duration, el, fromNow, n, perSecond, ran, status, time } from "./format.js";
import { draw, extend, fromHistory } from "./chart.js";
import { Feed, getJson, showState } from "./live.js";
import { bar, etaCell, jobCell } from "./overview.js";

/** Children listed on a parent's page (the first page of /children). */
const CHILDREN_PAGE = 100;
/** The children's list is read again at most this often while they move. */
const CHILDREN_MS = 2000;
import { LogPanel } from "./logs.js";
import { CancelControl } from "./control.js";

const $ = (id) => document.getElementById(id);
function fields(record) {
  const range = record.estimatedEndRange;
  return [
    ["Status", `${status(record.status)}${record.stalled ? " (stalled: no recent update)" : ""}`],
    ["Processed", `${processed(record)} (${record.progressPercentage} %)`],
    ["Stage", stepSummary(record) || DASH],
    ["Kind", record.kind || DASH],
    ["Attempt", attempts(record)],
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
    ["Children", childrenSummary(record) || DASH],
    ["Parent", record.parentJobId || DASH],
    ["Error", record.errorMessage || DASH],
  ];
}

/** "2 (1 earlier: failed)": the attempt and how the earlier ones ended. */
function attempts(record) {
  const earlier = record.attempts || [];
  const now = String(record.attempt || 1);
  if (earlier.length === 0) return now;
  return `${now} (${earlier.length} earlier: ${earlier.map((a) => a.status).join(", ")})`;
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
      onPoll: (body) => { this.show(body.data); this.logs.catchUp(); },
      onLog: (batch) => this.logs.add(batch.lines || []),
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
    $("job-children").replaceChildren();
    $("job-children-box").hidden = true;
    this.childrenAt = 0;
    $("job-missing").hidden = true;
    $("job-body").hidden = false;
    $("chart").replaceChildren();
    $("rate-chart").replaceChildren();
    $("logs-paused").hidden = true;
    $("logs-count").textContent = "";
    $("job-fields").replaceChildren();
    $("job-error").hidden = true;
    this.points = [];
    this.history = null;
    this.logs = new LogPanel($("logs"), this.id);
    this.control = new CancelControl(this.id);
    $("cancel-status").hidden = true;
    this.feed.start();
    this.loadHistory();
    this.logs.catchUp();
    this.clock = setInterval(() => { if (this.record) this.render(); }, 5000);
  }

  stop() {
    this.feed.stop();
    clearInterval(this.clock);
  }

  /** The run from its start: the history's samples under the points seen. */
  async loadHistory() {
    const path = `/api/v1/jobs/${encodeURIComponent(this.id)}/history`;
    try { this.history = fromHistory((await getJson(path)).data.samples); } catch { return; } // the points seen will do
    if (this.mergeHistory()) this.render();
  }

  /** Puts the history under the points seen, once both are here; a job
   * without a total is drawn by its steps' percentage, which counts do not
   * give. True if it did. */
  mergeHistory() {
    if (!this.history || !this.record) return false;
    const history = this.history;
    this.history = null;
    if (this.record.totalTargetCount == null) return false;
    const seen = this.points;
    this.points = history;
    for (const point of seen) extend(this.points, point);
    return true;
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
    // A job without a total moves through its steps: its percentage is drawn.
    extend(this.points, { t, v: record.totalTargetCount == null ? record.progressPercentage : record.currentSentCount });
    this.mergeHistory();
    if (record.status === "completed" || record.status === "failed" || record.status === "cancelled") {
      this.feed.stop();
      showState("done");
      this.logs.catchUp(); // what was logged after the last event
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
    this.control.show(record);
    const list = $("job-fields");
    list.replaceChildren(...fields(record).flatMap(([name, value]) => [el("dt", name), el("dd", value)]));
    list.dataset.status = record.status;
    list.dataset.stalled = String(!!record.stalled);
    draw(this.points, record);
    this.loadChildren();
  }

  /** The first page of the parent's children, read again at most every
   * CHILDREN_MS while its record moves. */
  async loadChildren() {
    if (!this.record || !this.record.children || Date.now() - this.childrenAt < CHILDREN_MS) return;
    this.childrenAt = Date.now();
    const path = `/api/v1/jobs/${encodeURIComponent(this.id)}/children?limit=${CHILDREN_PAGE}`;
    let page;
    try { page = (await getJson(path)).data; } catch { return; } // the next render tries again
    const rows = page.jobs.map((child) => {
      const tr = el("tr", null, { "data-job-id": child.jobId });
      const progress = el("td", null, { "data-label": "Progress" });
      progress.append(bar(child));
      tr.append(
        jobCell(child),
        progress,
        el("td", processed(child), { class: "num", "data-label": "Processed" }),
        el("td", `${n(child.successCount)} / ${n(child.failureCount)}`, { class: "num", "data-label": "OK / failed" }),
        etaCell(child),
      );
      return tr;
    });
    $("job-children").replaceChildren(...rows);
    $("job-children-count").textContent = `(${n(this.record.children.total)})`;
    $("job-children-more").hidden = !page.nextCursor;
    $("job-children-more").textContent = page.nextCursor ? `The first ${n(rows.length)} shown.` : "";
    $("job-children-box").hidden = rows.length === 0;
  }
}
