// The dashboard: which page is shown (`/`, `/jobs/{id}` or `/webhooks`, switched
// without reloading), the token prompt, and the pause button.

import { JobPage } from "./job.js";
import { auth, getJson, showState, Unauthorized, whoAmI } from "./live.js";
import { Overview } from "./overview.js";
import { WebhooksPage } from "./webhooks.js";

const $ = (id) => document.getElementById(id);
let overview = null;
let current = null;
let paused = false;

/**
 * The token prompt: for a token of `scope` (`read`; the Webhooks page
 * needs `control`), `needed` when the server refused the page's reads
 * (else the header's button asked for it).
 */
function askForToken(scope = "read", needed = true) {
  if (current) current.stop();
  current = null;
  showState("offline");
  $("token-scope").textContent = typeof scope === "string" ? scope : "read";
  $("token-title").textContent = needed === true ? "This server needs a token" : "Use a token";
  $("overview").hidden = true;
  $("job").hidden = true;
  $("webhooks").hidden = true;
  $("token-form").hidden = false;
  $("token").focus();
}

/** The header's token button: who the token in use is, or an offer. */
function showCaller(caller) {
  const button = $("sign-in");
  button.textContent = caller && caller.name ? `${caller.name} (${caller.scope}) · forget` : "Use a token";
  button.dataset.scope = (caller && caller.scope) || "";
}

function signInOrOut() {
  if (auth.token) {
    auth.token = "";
    whoAmI().then(showCaller);
    route();
  } else {
    askForToken("read", false);
  }
}

async function useToken(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  auth.token = token;
  try {
    const caller = await whoAmI();
    if (!caller || !caller.name) throw new Unauthorized();
    // The Webhooks page needs a control token: ask the page's own read.
    if (location.pathname === "/webhooks") await getJson("/api/v1/webhooks");
    showCaller(caller);
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
$("sign-in").addEventListener("click", signInOrOut);
// Who the token is decides what the pages offer (the Cancel button).
whoAmI().then(showCaller).finally(route);
