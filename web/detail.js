// What a job says about itself: its name and kind, its steps, its latest
// message, the link to its result and its metadata. Text only; the one
// link a worker supplies is checked here before it becomes an href.

import { el, n } from "./format.js";

/** The job's title: its name, or its id when it has none. */
export function title(record) {
  return record.name || record.jobId;
}

/**
 * The result's address as an absolute http(s) URL, or null. The server
 * refuses other schemes already; this is the second lock: `javascript:`,
 * `data:`, `//host` (scheme-relative) and anything unparsable never
 * become a link.
 */
export function resultHref(value) {
  if (typeof value !== "string" || value === "") return null;
  const path = value.startsWith("/") && !value.startsWith("//") && !value.startsWith("/\\");
  if (!path && !/^https?:\/\//i.test(value)) return null;
  let url;
  try { url = new URL(value, location.origin); } catch { return null; }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (path && url.origin !== location.origin) return null;
  return url.href;
}

/** The result link, or null. Absolute, so the page's router leaves it alone. */
export function resultLink(record, text = "Open the result") {
  const href = resultHref(record.resultUrl);
  if (!href) return null;
  return el("a", text, { href, class: "result", rel: "noopener noreferrer", target: "_blank" });
}

/** A badge with the job's kind, or null. */
export function kindBadge(record) {
  return record.kind ? el("span", record.kind, { class: "badge kind", "data-kind": record.kind }) : null;
}

/** "step 2 of 4: transcribe", or null when the job has no steps. */
export function stepSummary(record) {
  const steps = record.steps || [];
  if (steps.length === 0) return record.stage ? record.stage : null;
  const running = steps.findIndex((s) => s.state === "running");
  const done = steps.filter((s) => s.state === "done" || s.state === "skipped").length;
  const at = running >= 0 ? running + 1 : Math.min(done + (record.status === "completed" ? 0 : 1), steps.length);
  const name = running >= 0 ? steps[running].name : record.stage;
  return `step ${at} of ${steps.length}${name ? `: ${name}` : ""}`;
}

/** The step strip: one chip per step, the running one highlighted. */
export function stepStrip(record) {
  const steps = record.steps || [];
  if (steps.length === 0) return null;
  const list = el("ol", null, { class: "steps", "aria-label": stepSummary(record) });
  for (const step of steps) {
    list.append(el("li", step.name, {
      class: `step step-${step.state}`,
      "data-state": step.state,
      "aria-current": step.state === "running" ? "step" : null,
      title: step.state,
    }));
  }
  return list;
}

/** What "Processed" says: counts against a total, or the steps' percentage. */
export function processed(record) {
  if (record.totalTargetCount != null) return `${n(record.currentSentCount)} of ${n(record.totalTargetCount)}`;
  const steps = record.steps || [];
  if (steps.length) return `${record.progressPercentage || 0} % of ${n(steps.length)} steps`;
  return `${n(record.currentSentCount)} (no total)`;
}

/** The metadata as a two-column table; values that are not text as JSON. */
export function metadataTable(metadata) {
  const entries = Object.entries(metadata || {});
  if (entries.length === 0) return null;
  const table = el("table", null, { class: "metadata" });
  const body = el("tbody");
  for (const [key, value] of entries) {
    const row = el("tr");
    row.append(
      el("th", key, { scope: "row" }),
      el("td", typeof value === "string" ? value : JSON.stringify(value), { class: "wrap" }),
    );
    body.append(row);
  }
  table.append(body);
  return table;
}

/** "3 of 12 children running · 8 completed · 1 failed", or null for a job
 * without children. */
export function childrenSummary(record) {
  const c = record.children;
  if (!c) return null;
  const parts = [`${n(c.total)} ${c.total === 1 ? "child" : "children"}`];
  if (c.running) parts.push(`${n(c.running)} running`);
  if (c.completed) parts.push(`${n(c.completed)} completed`);
  if (c.failed) parts.push(`${n(c.failed)} failed`);
  if (c.cancelled) parts.push(`${n(c.cancelled)} cancelled`);
  return parts.join(" · ");
}

/** The line under a bar: the stage and the latest message, or nothing. */
export function underBar(record) {
  const box = el("span", null, { class: "under" });
  const summary = stepSummary(record);
  if (summary) box.append(el("span", summary, { class: "stage" }));
  const children = childrenSummary(record);
  if (children) box.append(el("span", children, { class: "children" }));
  if (record.message) box.append(el("span", record.message, { class: "message" }));
  return box.childNodes.length ? box : null;
}
