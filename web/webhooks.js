// The Webhooks page (a control token): each subscription with its last
// delivery, pending and dead counts; a subscription's attempts, a page at a
// time; and a button to send a dead delivery again.

import { DASH, el, fromNow, time } from "./format.js";
import { Poller, Unauthorized, postJson, showState } from "./live.js";

const $ = (id) => document.getElementById(id);

/** The `td` of `text`, labelled for the narrow layout. */
const td = (text, label) => el("td", text == null ? DASH : String(text), { "data-label": label });

export class WebhooksPage {
  constructor(askForToken) {
    this.askForToken = askForToken;
    this.poller = new Poller(() => "/api/v1/webhooks", 5000, (body) => this.render(body.data),
      (err) => this.fail(err));
    this.selected = null;
  }

  start() { showState("polling"); this.poller.start(); }
  stop() { this.poller.stop(); }

  fail(err) {
    if (err instanceof Unauthorized) { this.stop(); this.askForToken("control"); }
    else showState("offline");
  }

  render({ webhooks }) {
    showState("polling");
    $("webhooks-empty").hidden = webhooks.length > 0;
    $("webhook-rows").replaceChildren(...webhooks.map((w) => {
      const name = el("button", w.name, { type: "button", class: "link", "data-name": w.name });
      name.addEventListener("click", () => this.show(w.name, null));
      const last = w.lastDelivery;
      const tr = el("tr", null, { "data-name": w.name });
      const nameCell = el("td", null, { "data-label": "Subscription" });
      nameCell.append(name, el("span", w.url, { class: "small id" }));
      tr.append(
        nameCell,
        td(w.events.join(", "), "Events"),
        td(w.disabled ? "disabled (410 Gone)" : "active", "State"),
        td(last ? `${last.outcome} ${last.statusCode ?? "no answer"}, ${fromNow(last.attemptedAt)}` : null, "Last delivery"),
        td(w.pending, "Pending"),
        td(w.deadLetters, "Dead letters"),
      );
      return tr;
    }));
  }

  /** Shows `name`'s attempts from `cursor` on. */
  async show(name, cursor) {
    this.selected = name;
    $("deliveries").hidden = false;
    $("deliveries-title").textContent = `Deliveries of ${name}`;
    const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
    const url = `/api/v1/webhooks/${encodeURIComponent(name)}/deliveries${query}`;
    let body;
    try {
      body = await this.poller.fetch(url);
    } catch (err) { this.fail(err); return; }
    const { attempts, nextCursor } = body.data;
    $("deliveries-empty").hidden = attempts.length > 0;
    $("delivery-rows").replaceChildren(...attempts.map((a) => this.attemptRow(name, a)));
    const older = $("deliveries-older");
    older.hidden = !nextCursor;
    older.onclick = () => this.show(name, nextCursor);
  }

  attemptRow(name, a) {
    const tr = el("tr", null, { "data-message-id": a.messageId });
    const action = el("td", null, { "data-label": "" });
    if (a.state === "dead") {
      const retry = el("button", "Send again", { type: "button" });
      retry.addEventListener("click", async () => {
        retry.disabled = true;
        try {
          await postJson(`/api/v1/webhooks/${encodeURIComponent(name)}/deliveries/${a.messageId}/retry`);
          retry.textContent = "queued";
        } catch (err) { retry.textContent = err.message; }
      });
      action.append(retry);
    }
    tr.append(
      td(time(a.attemptedAt), "When"),
      td(`${a.eventType} ${a.jobId}`, "Event"),
      td(a.statusCode ?? "no answer", "Status"),
      td(`${a.durationMs} ms`, "Took"),
      td(a.outcome, "Outcome"),
      td(a.response, "Answer"),
      action,
    );
    return tr;
  }
}
