// The front page: active jobs (live), recently finished jobs, and the
// scheduled sends in progress.

import { kindBadge, processed, resultLink, title, underBar } from "./detail.js";
import { DASH, duration, el, fromNow, n, perSecond, ran, status, time } from "./format.js";
import { Feed, Poller, Unauthorized, getJson } from "./live.js";
import { patchRows, replaceRows } from "./rows.js";

const PAGE = 50;
const CHILDREN_PAGE = 100; // an expanded parent's children shown under it
const OTHERS_MS = 10000; // finished jobs and schedules: every 10 s, and at once when a job ends
const $ = (id) => document.getElementById(id);

/** One job's progress bar and percentage, labelled for screen readers. */
export function bar(record) {
  const wrap = el("span");
  const pct = record.progressPercentage || 0;
  wrap.append(
    el("progress", null, {
      max: "100",
      value: String(pct),
      "aria-label": `${title(record)}: ${pct} % (${processed(record)})`,
    }),
    el("span", ` ${pct} %`, { class: "pct" }),
  );
  return wrap;
}

/** The job's name (or id) as a link to its page, the id beneath a name,
 * its kind, and a stalled badge when it is. */
export function jobCell(record, label = "Job") {
  const td = el("td", null, { "data-label": label });
  td.append(el("a", title(record), { href: `/jobs/${encodeURIComponent(record.jobId)}`, class: "title" }));
  const kind = kindBadge(record);
  if (kind) td.append(" ", kind);
  if (record.name) td.append(el("span", record.jobId, { class: "small id" }));
  const state = el("span", status(record.status), { class: `small status-${record.status}` });
  td.append(state);
  if (record.stalled) {
    td.append(" ", el("span", "stalled", {
      class: "badge stalled",
      title: `no update since ${time(record.updatedAt)}: its worker has most likely stopped`,
    }));
  }
  return td;
}

export function etaCell(record) {
  const td = el("td", null, { "data-label": "ETA" });
  if (!record.estimatedEndAt) { td.textContent = DASH; return td; }
  td.append(el("span", `${time(record.estimatedEndAt)}`), el("span", ` ${fromNow(record.estimatedEndAt)}`, { class: "muted" }));
  const range = record.estimatedEndRange;
  if (range) td.append(el("span", `${time(range.earliest)} – ${time(range.latest)}`, { class: "small" }));
  return td;
}

/** The button that shows or hides a parent's children under its row. */
function expandButton(record, expanded) {
  const total = record.children.total;
  return el("button", `${expanded ? "▾" : "▸"} ${n(total)} ${total === 1 ? "child" : "children"}`, {
    type: "button",
    class: "expand small",
    "data-parent": record.jobId,
    "aria-expanded": String(expanded),
  });
}

function activeRow(record, expanded = null) {
  const tr = el("tr", null, { "data-job-id": record.jobId, "data-stalled": String(!!record.stalled) });
  const progress = el("td", null, { "data-label": "Progress" });
  progress.append(bar(record));
  const under = underBar(record);
  if (under) progress.append(under);
  const chunk = record.totalChunks ? `${n(record.currentChunk)} of ${n(record.totalChunks)}` : DASH;
  const job = jobCell(record);
  if (expanded != null && record.children && record.children.total > 0) job.append(" ", expandButton(record, expanded));
  tr.append(
    job,
    progress,
    el("td", processed(record), { class: "num processed", "data-label": "Processed" }),
    el("td", `${n(record.successCount)} / ${n(record.failureCount)}`, { class: "num", "data-label": "OK / failed" }),
    el("td", perSecond(record.ratePerSecond), { class: "num", "data-label": "Rate" }),
    etaCell(record),
    el("td", chunk, { class: "num", "data-label": "Chunk" }),
    el("td", time(record.startedAt), { "data-label": "Started" }),
    el("td", `${fromNow(record.updatedAt)}`, { "data-label": "Updated", title: time(record.updatedAt) }),
    scheduleCell(record.scheduleId),
  );
  return tr;
}

/** A job's row, and when it is `open` its `children`'s rows under it. */
function activeRows(record, open, children) {
  const row = activeRow(record, open);
  if (!open) return [row];
  return [row, ...(children || []).map((child) => {
    const tr = activeRow(child);
    tr.classList.add("child");
    tr.dataset.parent = record.jobId;
    return tr;
  })];
}

function scheduleCell(id) {
  const td = el("td", id ? null : DASH, { "data-label": "Schedule" });
  if (id) td.append(el("a", id, { href: "/#schedules" }));
  return td;
}

function finishedRow(record) {
  const tr = el("tr", null, { "data-job-id": record.jobId });
  const state = el("td", status(record.status), { class: `status-${record.status}`, "data-label": "Status" });
  const result = resultLink(record, "result");
  if (result) state.append(" ", result);
  tr.append(
    jobCell(record),
    state,
    el("td", processed(record), { class: "num", "data-label": "Processed" }),
    el("td", `${n(record.successCount)} / ${n(record.failureCount)}`, { class: "num", "data-label": "OK / failed" }),
    el("td", duration(ran(record)), { class: "num", "data-label": "Duration" }),
    el("td", time(record.completedAt || record.updatedAt), { "data-label": "Finished" }),
    el("td", record.errorMessage || "", { class: "wrap error", "data-label": "Error" }),
  );
  return tr;
}

function scheduleRow(item) {
  const tr = el("tr", null, { "data-schedule-id": item.scheduleId });
  const job = el("td", null, { "data-label": "Job" });
  if (item.jobId) job.append(el("a", item.jobId, { href: `/jobs/${encodeURIComponent(item.jobId)}` }));
  else job.textContent = DASH;
  const progress = el("td", null, { "data-label": "Progress" });
  if (item.progress) progress.append(bar(item.progress));
  else progress.textContent = DASH;
  tr.append(
    el("td", item.name ? `${item.name} (${item.scheduleId})` : item.scheduleId, { "data-label": "Schedule" }),
    el("td", time(item.scheduledAt), { "data-label": "Scheduled for" }),
    el("td", time(item.actualStartAt), { "data-label": "Started" }),
    job,
    progress,
  );
  return tr;
}

function byStart(a, b) {
  const sa = a.startedAt ? Date.parse(a.startedAt) : Infinity;
  const sb = b.startedAt ? Date.parse(b.startedAt) : Infinity;
  return sa - sb || (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0);
}

/** The front page's state and its three feeds. */
export class Overview {
  constructor(onUnauthorized) {
    this.jobs = new Map();
    this.page = 0;
    this.filter = "";
    this.kind = "";
    this.kinds = new Set(); // every kind seen, for the kind filter
    this.expanded = new Map(); // parent id -> its children's records (null while loading)
    this.cursors = [null]; // the finished list's pages seen: their cursors
    this.justFinished = new Map(); // ended on the stream, maybe not yet in the archive
    this.lastFinished = null;
    this.pending = false;
    this.total = null; // how many active jobs the filter admits, from the page's read
    this.feed = null;
    const fail = (err) => { if (err instanceof Unauthorized) onUnauthorized(); };
    this.finished = new Poller(() => this.finishedUrl(), OTHERS_MS, (body) => this.showFinished(body.data), fail);
    // The page's read counts the list (X-Total-Count) for "1–50 of N";
    // asked again when jobs join or leave the page.
    this.count = new Poller(() => this.pageUrl("/api/v1/jobs/active"), OTHERS_MS, (body) => {
      if (body.total != null) { this.total = body.total; this.invalidate(); }
    }, fail);
    this.onUnauthorized = onUnauthorized;
    this.schedules = new Poller(() => "/api/v1/schedules/active", OTHERS_MS, (body) => this.showSchedules(body.data), fail);
    this.clock = null;
    // The active list's rows as last shown, by job id: { record, open,
    // children, rows }. A row is built again only when its record (or
    // its parent's children, or whether it is open) is another object.
    this.blocks = new Map();
    this.stale = false; // relative times moved: every row is built again
    this.bind();
  }

  bind() {
    const restart = () => { this.cursors = [null]; this.finished.refresh(); };
    // Both lists are paged by the server, so a filter asks again: the
    // active page's stream is opened anew (q=, kind=).
    let typing = null;
    $("filter").addEventListener("input", (e) => {
      this.filter = e.target.value.trim();
      clearTimeout(typing);
      typing = setTimeout(() => { this.page = 0; this.follow(); restart(); }, 300);
    });
    $("kind").addEventListener("change", (e) => { this.kind = e.target.value; this.page = 0; this.follow(); restart(); });
    $("active-rows").addEventListener("click", (e) => {
      const button = e.target.closest("button.expand");
      if (!button) return;
      const id = button.dataset.parent;
      if (this.expanded.has(id)) this.expanded.delete(id);
      else { this.expanded.set(id, null); this.loadChildren(id); }
      this.render();
    });
    $("active-prev").addEventListener("click", () => { this.page = Math.max(0, this.page - 1); this.follow(); });
    $("active-next").addEventListener("click", () => { this.page += 1; this.follow(); });
    $("finished-status").addEventListener("change", restart);
    $("finished-since").addEventListener("change", restart);
    $("finished-first").addEventListener("click", restart);
    $("finished-next").addEventListener("click", () => {
      if (this.next) { this.cursors.push(this.next); this.finished.refresh(); }
    });
  }

  /** `base` with the page's query: its offset, the kind and the text. */
  pageUrl(base) {
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(this.page * PAGE) });
    if (this.kind) params.set("kind", this.kind);
    if (this.filter) params.set("q", this.filter);
    return `${base}?${params}`;
  }

  /**
   * Follows the page shown: its stream sends the page's jobs only (the
   * server keeps what a dashboard costs to its page, not to every job),
   * so another page, kind or text opens another stream.
   */
  follow() {
    if (this.feed) this.feed.stop();
    this.jobs = new Map();
    this.total = null;
    this.feed = new Feed({
      streamUrl: this.pageUrl("/api/v1/jobs/active/events"),
      pollUrl: this.pageUrl("/api/v1/jobs/active"),
      onSnapshot: (list) => this.replace(list),
      onPoll: (body) => { if (body.total != null) this.total = body.total; this.replace(body.data); },
      onProgress: (record) => this.update(record),
      onLeave: ({ jobId }) => this.leave(jobId),
      onUnauthorized: this.onUnauthorized,
    });
    this.feed.start();
    this.count.refresh();
    this.invalidate();
  }

  start() {
    this.follow();
    this.count.start();
    this.finished.start();
    this.schedules.start();
    // Relative times ("in 3 min") move even when no job does; expanded
    // parents' children are read again as often.
    this.clock = setInterval(() => {
      for (const id of this.expanded.keys()) this.loadChildren(id);
      this.stale = true;
      this.invalidate();
    }, 5000);
  }

  stop() {
    if (this.feed) this.feed.stop();
    this.count.stop();
    this.finished.stop();
    this.schedules.stop();
    clearInterval(this.clock);
  }

  finishedUrl() {
    const hours = Number($("finished-since").value);
    // Whole minutes: pollers within a minute ask the same URL, so the
    // server's cache and the ETag both work.
    const since = new Date(Math.floor((Date.now() - hours * 3600e3) / 60000) * 60000).toISOString();
    const params = new URLSearchParams({ since, limit: String(PAGE) });
    const which = $("finished-status").value;
    if (which) params.set("status", which);
    if (this.kind) params.set("kind", this.kind);
    if (this.filter) params.set("q", this.filter);
    const cursor = this.cursors[this.cursors.length - 1];
    if (cursor) params.set("cursor", cursor);
    return `/api/v1/jobs?${params}`;
  }

  /** Reads the first page of a parent's children, shown under its row. */
  async loadChildren(id) {
    let page;
    try {
      page = (await getJson(`/api/v1/jobs/${encodeURIComponent(id)}/children?limit=${CHILDREN_PAGE}`)).data;
    } catch { return; } // the next tick tries again
    if (!this.expanded.has(id)) return; // collapsed meanwhile
    this.expanded.set(id, page.jobs);
    this.invalidate();
  }

  /** A whole list (a snapshot or a read); a record the stream already
   * brought in a later version is kept. */
  replace(list) {
    const jobs = new Map();
    for (const record of list) {
      const known = this.jobs.get(record.jobId);
      jobs.set(record.jobId, known && known.version > record.version ? known : record);
    }
    this.jobs = jobs;
    this.invalidate();
  }

  /** A job left the page (it ended, or moved off it): its row goes. */
  leave(id) {
    this.jobs.delete(id);
    this.count.refresh();
    this.invalidate();
  }

  update(record) {
    if (!this.jobs.has(record.jobId)) this.count.refresh(); // it joined the page
    if (record.status === "completed" || record.status === "failed") {
      this.jobs.delete(record.jobId);
      // Shown among the finished at once, and kept there until the
      // archive's list has it (its checkpoint may land a moment later).
      this.justFinished.set(record.jobId, { record, at: Date.now() });
      if (this.lastFinished) this.showFinished(this.lastFinished);
      this.finished.refresh();
      this.schedules.refresh();
    } else {
      // A parent's own write is published without its children's roll-up,
      // which the list's reads carry: keep the last one seen.
      const known = this.jobs.get(record.jobId);
      if (!record.children && known && known.children) record.children = known.children;
      this.jobs.set(record.jobId, record);
    }
    this.invalidate();
  }

  /** Renders at once, then at most every 100 ms however many events arrive. */
  invalidate() {
    if (this.pending) { this.dirty = true; return; }
    this.render();
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      if (this.dirty) { this.dirty = false; this.invalidate(); }
    }, 100);
  }

  render() {
    const list = [...this.jobs.values()];
    this.learnKinds(list);
    list.sort(byStart);
    const shown = list.slice(0, PAGE);
    this.showActive(shown);
    const offset = this.page * PAGE;
    const total = this.total == null ? offset + shown.length : Math.max(this.total, offset + shown.length);
    $("active-count").textContent = `(${n(total)})`;
    $("active-empty").hidden = shown.length > 0 || this.page > 0;
    $("active-page").textContent = total
      ? `${n(shown.length ? offset + 1 : offset)}–${n(offset + shown.length)} of ${n(total)}` : "";
    $("active-prev").disabled = this.page === 0;
    $("active-next").disabled = offset + PAGE >= total;
  }

  /**
   * Puts the rows of `shown` in the active list, in place: a job's row
   * (with its children's rows under it when it is open) is built again
   * only if what it shows changed, and is then swapped for its old one;
   * the other rows stay the same nodes, moved only when out of order.
   */
  showActive(shown) {
    const fresh = this.stale;
    this.stale = false;
    const blocks = new Map();
    const replaced = new Map(); // an old row -> the row built in its place
    for (const record of shown) {
      const open = this.expanded.has(record.jobId);
      const children = open ? this.expanded.get(record.jobId) : null;
      const old = this.blocks.get(record.jobId);
      if (!fresh && old && old.record === record && old.open === open && old.children === children) {
        blocks.set(record.jobId, old);
        continue;
      }
      const rows = activeRows(record, open, children);
      if (old) replaced.set(old.rows[0], rows[0]);
      blocks.set(record.jobId, { record, open, children, rows });
    }
    this.blocks = blocks;
    patchRows($("active-rows"), [...blocks.values()].flatMap((block) => block.rows), replaced);
  }

  /** Adds the kinds of `records` to the kind filter's choices. */
  learnKinds(records) {
    const before = this.kinds.size;
    for (const record of records) if (record.kind) this.kinds.add(record.kind);
    if (this.kinds.size === before) return;
    const select = $("kind");
    const all = el("option", "all kinds", { value: "" });
    select.replaceChildren(all, ...[...this.kinds].sort().map((kind) => el("option", kind, { value: kind })));
    select.value = this.kind;
  }

  showFinished(page) {
    this.lastFinished = page;
    this.learnKinds(page.jobs);
    this.next = page.nextCursor;
    const listed = new Set(page.jobs.map((record) => record.jobId));
    const which = $("finished-status").value;
    const extra = [];
    for (const [id, { record, at }] of this.justFinished) {
      if (listed.has(id) || Date.now() - at > 60000) this.justFinished.delete(id);
      else if (this.cursors.length === 1 && (!which || which === record.status)
        && (!this.kind || this.kind === record.kind)) extra.push(record);
    }
    const jobs = [...extra.reverse(), ...page.jobs];
    replaceRows($("finished-rows"), jobs.map(finishedRow));
    $("finished-empty").hidden = jobs.length > 0;
    $("finished-next").disabled = !page.nextCursor;
    $("finished-first").disabled = this.cursors.length === 1;
  }

  showSchedules(items) {
    replaceRows($("schedule-rows"), items.map(scheduleRow));
    $("schedules-empty").hidden = items.length > 0;
  }
}
