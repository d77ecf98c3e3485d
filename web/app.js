// The dashboard: which page is shown (`/`, `/jobs/{id}` or `/webhooks`, switched
// without reloading), the token prompt, and the pause button.

import { JobPage } from "./job.js";
import { auth, getJson, showState, Unauthorized } from "./live.js";
import { Overview } from "./overview.js";
import { WebhooksPage } from "./webhooks.js";

const $ = (id) => document.getElementById(id);
let overview = null;
let current = null;
let paused = false;

/** Asks for a token of `scope` (`read`; the Webhooks page needs `control`). */
function askForToken(scope = "read") {
  if (current) current.stop();
  current = null;
  showState("offline");
  $("token-scope").textContent = typeof scope === "string" ? scope : "read";
  $("overview").hidden = true;
  $("job").hidden = true;
  $("webhooks").hidden = true;
  $("token-form").hidden = false;
  $("token").focus();
}

async function useToken(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  auth.token = token;
  try {
    await getJson(location.pathname === "/webhooks" ? "/api/v1/webhooks" : "/api/v1/jobs/active?limit=1");
    $("token-error").textContent = "";
    $("token-form").hidden = true;
    $("token").value = "";
    route();
  } catch (err) {
    auth.token = "";
    $("token-error").textContent = err instanceof Unauthorized
      ? "That token is not accepted here." : `The server did not answer: ${err.message}`;
  }
}

/** Shows the page the address names. */
function route() {
  if (current) current.stop();
  current = null;
  const match = location.pathname.match(/^\/jobs\/([^/]+)\/?$/);
  $("token-form").hidden = true;
  $("webhooks").hidden = true;
  if (location.pathname === "/webhooks") {
    $("overview").hidden = true;
    $("job").hidden = true;
    $("webhooks").hidden = false;
    document.title = "Webhooks · job-progress";
    current = new WebhooksPage(askForToken);
  } else if (match) {
    $("overview").hidden = true;
    $("job").hidden = false;
    const id = decodeURIComponent(match[1]);
    document.title = `${id} · job-progress`;
    current = new JobPage(id, askForToken);
  } else {
    $("job").hidden = true;
    $("overview").hidden = false;
    document.title = "job-progress";
    overview = overview || new Overview(askForToken);
    current = overview;
  }
  if (paused) showState("paused");
  else current.start();
  if (location.hash) {
    const target = document.getElementById(location.hash.slice(1));
    if (target) target.scrollIntoView();
  }
}

/** Same-origin links switch pages without a reload. */
function follow(event) {
  const link = event.target.closest("a[href^='/']");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(link.href);
  if (url.pathname === location.pathname && url.hash) return; // the browser scrolls
  event.preventDefault();
  history.pushState(null, "", url.pathname + url.hash);
  route();
  if (!url.hash) window.scrollTo(0, 0);
}

function togglePause() {
  paused = !paused;
  $("pause").setAttribute("aria-pressed", String(paused));
  $("pause").textContent = paused ? "Resume updates" : "Pause updates";
  if (paused) { if (current) current.stop(); showState("paused"); } else route();
}

document.addEventListener("click", follow);
window.addEventListener("popstate", route);
$("token-form").addEventListener("submit", useToken);
$("pause").addEventListener("click", togglePause);
route();
