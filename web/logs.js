// A job's log on its page: the lines so far (GET .../logs, page by page),
// then each stream `log` event, or, while polling, `?after=` the last line
// shown. Keeps the last 1,000 lines, coloured by level, text only. It
// follows the newest line unless the reader has scrolled up to read.

import { el, time } from "./format.js";
import { getJson } from "./live.js";

export const KEEP = 1000;

/** The log panel of one job. */
export class LogPanel {
  constructor(list, jobId) {
    this.list = list;
    this.url = `/api/v1/jobs/${encodeURIComponent(jobId)}/logs`;
    this.last = 0; // the seq of the newest line shown
    this.busy = false;
    this.following = true;
    this.list.replaceChildren();
    this.list.onscroll = () => {
      const atEnd = this.list.scrollTop + this.list.clientHeight >= this.list.scrollHeight - 4;
      this.following = atEnd;
      const note = document.getElementById("logs-paused");
      if (note) note.hidden = atEnd;
    };
  }

  /** Shows `lines` ({seq, at, level, message}) not shown yet, in order. */
  add(lines) {
    const fresh = lines.filter((line) => line.seq > this.last);
    if (fresh.length === 0) return;
    for (const line of fresh) {
      this.last = line.seq;
      const level = String(line.level || "info");
      const item = el("li", null, { class: `log log-${level.replace(/[^a-z]/g, "")}`, "data-seq": String(line.seq) });
      item.append(
        el("time", time(line.at), { datetime: line.at }),
        el("span", level, { class: "level" }),
        el("span", line.message, { class: "text" }),
      );
      this.list.append(item);
    }
    while (this.list.childElementCount > KEEP) this.list.firstElementChild.remove();
    const count = document.getElementById("logs-count");
    if (count) count.textContent = `(last ${this.list.childElementCount})`;
    if (this.following) this.list.scrollTop = this.list.scrollHeight;
  }

  /** Reads the lines after the newest shown, page by page. A job without
   * a log (or a server without logs) just shows none. */
  async catchUp() {
    if (this.busy) return;
    this.busy = true;
    try {
      for (let pages = 0; pages < 20; pages += 1) {
        const body = await getJson(`${this.url}?after=${this.last}&limit=${KEEP}`);
        const page = body && body.data;
        if (!page) return;
        this.add(page.lines || []);
        if (page.next == null || (page.lines || []).length === 0) return;
      }
    } catch { /* the log is an extra: the page goes on without it */ } finally {
      this.busy = false;
    }
  }
}
