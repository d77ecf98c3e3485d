// Acting on a job from its page: the Cancel button (shown only to a
// `control` token, for a job still running), which asks for a reason and
// a confirmation before it sends `POST .../cancel`; and, for everyone,
// who asked the job to stop, and whether its worker has answered.

import { el, fromNow } from "./format.js";
import { currentCaller, postJson, Unauthorized } from "./live.js";

const $ = (id) => document.getElementById(id);
const ACTIVE = new Set(["preparing", "in_progress"]);

/** Whether this page's token may cancel `record` now: a control token, a
 * running job, no request yet. */
function mayCancel(record) {
  const caller = currentCaller();
  return !!caller && caller.scope === "control" && ACTIVE.has(record.status) && !record.cancelRequested;
}

/** The cancel controls of the job `id`'s page. */
export class CancelControl {
  constructor(id) {
    this.id = id;
    this.record = null;
    $("cancel-open").onclick = () => this.open();
    $("cancel-keep").onclick = () => this.close();
    $("cancel-form").onsubmit = (event) => { event.preventDefault(); this.send(); };
    this.close();
    $("cancel-error").textContent = "";
  }

  /** Shows what the record says, and the button if this token may use it. */
  show(record) {
    this.record = record;
    const asked = record.cancelRequested;
    const line = $("cancel-status");
    if (asked) {
      const reason = asked.reason ? `: “${asked.reason}”` : "";
      const waiting = ACTIVE.has(record.status) && record.stalled ? " (cancel requested, worker not answering)" : "";
      line.replaceChildren(el("strong", "Cancel requested"), ` by ${asked.by} ${fromNow(asked.at)}${reason}${waiting}`);
      line.dataset.waiting = String(!!waiting);
    } else {
      line.replaceChildren();
      delete line.dataset.waiting;
    }
    line.hidden = !asked;
    const may = mayCancel(record);
    $("cancel-open").hidden = !may || !$("cancel-form").hidden;
    // What this page decided, for the reader's tools and the tests.
    $("job-control").dataset.mayCancel = String(may);
    if (!may) this.close();
  }

  open() {
    $("cancel-form").hidden = false;
    $("cancel-open").hidden = true;
    $("cancel-reason").focus();
  }

  close() {
    $("cancel-form").hidden = true;
    $("cancel-reason").value = "";
    if (this.record) $("cancel-open").hidden = !mayCancel(this.record);
  }

  async send() {
    const reason = $("cancel-reason").value.trim();
    const path = `/api/v1/jobs/${encodeURIComponent(this.id)}/cancel`;
    $("cancel-confirm").disabled = true;
    try {
      const answer = await postJson(path, reason ? { reason } : {});
      $("cancel-error").textContent = "";
      this.close();
      if (answer && answer.data && answer.data.cancelRequested && this.record) {
        this.show({ ...this.record, cancelRequested: answer.data.cancelRequested });
      }
    } catch (err) {
      $("cancel-error").textContent = err instanceof Unauthorized
        ? "This token may not cancel jobs." : `Not cancelled: ${err.message}`;
    } finally {
      $("cancel-confirm").disabled = false;
    }
  }
}
