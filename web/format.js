// Numbers and times for people: thousands separators and the viewer's
// own time zone and language, through Intl.

const count = new Intl.NumberFormat();
const rate = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const clock = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
const dated = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export const DASH = "—";

/** 1,234,567 */
export function n(value) {
  return value == null ? DASH : count.format(value);
}

/** 516.2/s */
export function perSecond(value) {
  return value == null ? DASH : `${rate.format(value)}/s`;
}

/** A time of day, with the date when it is not today. */
export function time(iso) {
  if (!iso) return DASH;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return DASH;
  const today = new Date();
  return date.toDateString() === today.toDateString() ? clock.format(date) : dated.format(date);
}

/** "in 12 minutes", "3 seconds ago". */
export function fromNow(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = (new Date(iso).getTime() - now) / 1000;
  const size = Math.abs(seconds);
  if (size < 60) return relative.format(Math.round(seconds), "second");
  if (size < 3600) return relative.format(Math.round(seconds / 60), "minute");
  if (size < 86400) return relative.format(Math.round(seconds / 3600), "hour");
  return relative.format(Math.round(seconds / 86400), "day");
}

/** 1 h 02 min, 3 min 12 s, 45 s. */
export function duration(ms) {
  if (ms == null || Number.isNaN(ms) || ms < 0) return DASH;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, "0")} min`;
  if (m > 0) return `${m} min ${String(sec).padStart(2, "0")} s`;
  return `${sec} s`;
}

/** How long a job ran: start to completion (or to its last update). */
export function ran(record) {
  if (!record.startedAt) return null;
  const end = record.completedAt || record.updatedAt;
  return end ? new Date(end) - new Date(record.startedAt) : null;
}

/** The status as shown: "in progress". */
export function status(value) {
  return String(value).replace("_", " ");
}

/** An element with text, class and attributes; never HTML. */
export function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text != null) node.textContent = text;
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  return node;
}
