// Getting data to the page: the bearer token, JSON reads with ETags, and a
// Feed that follows a Server-Sent-Event stream while it can be opened and
// polls every 3 s (with If-None-Match) while it cannot, trying the stream
// again every 20 s. While live it reads nothing on a timer: the server
// sends an event when a job turns stalled, too. The indicator says which.

export const POLL_MS = 3000;
const STREAM_RETRY_MS = 20000;
const TOKEN_KEY = "job-progress-token";

/** The read token, kept for this tab's session only. */
export const auth = {
  get token() { return sessionStorage.getItem(TOKEN_KEY) || ""; },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/**
 * Who the token in use is (`GET /api/v1/token`): `{name, scope}`, both
 * null without a token; null until asked. The Cancel button reads it.
 */
let caller = null;

/** Asks the server who the token in use is; null when it cannot say. */
export async function whoAmI() {
  try { caller = (await getJson("/api/v1/token")).data; } catch { caller = null; }
  return caller;
}

/** What `whoAmI` last learnt. */
export function currentCaller() { return caller; }

/** POSTs `body` (if any) as JSON to `url` with the token; resolves to the envelope. */
export async function postJson(url, body) {
  const headers = {};
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  const init = { method: "POST", headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  let answer = null;
  try { answer = await response.json(); } catch { /* not an envelope */ }
  if (response.status === 401 || response.status === 403) throw new Unauthorized();
  if (!response.ok) throw new HttpError(response.status, (answer && answer.message) || `HTTP ${response.status}`);
  return answer;
}

/** The server wants a (better) token: 401 or 403. */
export class Unauthorized extends Error {
  constructor() { super("unauthorized"); this.name = "Unauthorized"; }
}
/** The server answered with an error envelope. */
export class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/** `url` with `?access_token=` when there is a token (EventSource cannot send headers). */
function withToken(url) {
  if (!auth.token) return url;
  return `${url}${url.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(auth.token)}`;
}

/**
 * GETs the envelope at `url`. With `etags` (a Map), sends the ETag last
 * seen for the URL and resolves to null on 304 Not Modified.
 */
export async function getJson(url, etags) {
  const headers = {};
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  const etag = etags && etags.get(url);
  if (etag) headers["If-None-Match"] = etag;
  // no-store: the browser's cache stays out; the ETag exchange is ours.
  const response = await fetch(url, { headers, cache: "no-store" });
  if (response.status === 304) return null;
  if (response.status === 401 || response.status === 403) throw new Unauthorized();
  let body = null;
  try { body = await response.json(); } catch { /* not an envelope */ }
  if (!response.ok) throw new HttpError(response.status, (body && body.message) || `HTTP ${response.status}`);
  if (etags && response.headers.get("ETag")) etags.set(url, response.headers.get("ETag"));
  // A list's size, from its header: `total` beside `data`.
  const total = response.headers.get("X-Total-Count");
  if (total !== null && body) body.total = Number(total);
  return body;
}

// --- the indicator --------------------------------------------------------
const indicator = () => document.getElementById("conn");
let offlineSince = null;

/** Shows `state`: live, polling, offline (since the first failure), paused, done. */
export function showState(state) {
  const el = indicator();
  if (!el) return;
  if (state !== "offline") offlineSince = null;
  else if (!offlineSince) offlineSince = new Date();
  const text = {
    live: "live",
    polling: `polling every ${POLL_MS / 1000} s`,
    offline: `offline since ${offlineSince && offlineSince.toLocaleTimeString()}`,
    paused: "paused",
    done: "finished: no more updates",
    connecting: "connecting…",
  }[state];
  el.dataset.state = state;
  el.textContent = text;
}

/**
 * Follows a stream, or polls. Callbacks: `onSnapshot(array)`,
 * `onProgress(record)`, `onLeave({jobId})` and `onLog({lines})` for
 * stream events,
 * `onPoll(envelope)` for a changed
 * poll answer, `onEnd()` when a job's stream says it is over,
 * `onUnauthorized()`, `onError(HttpError)` for a 4xx poll answer.
 */
export class Feed {
  constructor(options) {
    this.o = options;
    this.etags = new Map();
    this.es = null;
    this.pollTimer = null;
    this.retryTimer = null;
    this.running = false;
  }

  start() {
    this.running = true;
    showState("connecting");
    this.openStream();
  }

  stop() {
    this.running = false;
    if (this.es) this.es.close();
    this.es = null;
    clearTimeout(this.pollTimer);
    clearTimeout(this.retryTimer);
    this.pollTimer = this.retryTimer = null;
  }

  openStream() {
    this.retryTimer = null;
    if (!this.running) return;
    if (!window.EventSource) { this.startPolling(); return; }
    const es = new EventSource(withToken(this.o.streamUrl));
    this.es = es;
    es.onopen = () => {
      clearTimeout(this.pollTimer);
      this.pollTimer = null;
      showState("live");
    };
    es.addEventListener("snapshot", (e) => this.o.onSnapshot(JSON.parse(e.data)));
    es.addEventListener("progress", (e) => this.o.onProgress(JSON.parse(e.data)));
    if (this.o.onLog) es.addEventListener("log", (e) => this.o.onLog(JSON.parse(e.data)));
    if (this.o.onLeave) es.addEventListener("leave", (e) => this.o.onLeave(JSON.parse(e.data)));
    es.addEventListener("end", () => {
      es.close();
      this.stop();
      if (this.o.onEnd) this.o.onEnd();
    });
    // Refused (503 when the server has too many streams, 401), blocked, or
    // broken: EventSource would give up or retry blindly. Poll instead,
    // and try the stream again a little later.
    es.onerror = () => {
      es.close();
      if (this.es !== es) return;
      this.es = null;
      if (!this.running) return;
      this.startPolling();
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.openStream(), STREAM_RETRY_MS);
    };
  }

  startPolling() {
    if (this.pollTimer || !this.running) return;
    const tick = async () => {
      try {
        const body = await getJson(this.o.pollUrl, this.etags);
        if (!this.running) return;
        if (body) this.o.onPoll(body);
        if (!this.es || this.es.readyState !== EventSource.OPEN) showState("polling");
      } catch (err) {
        if (!this.running) return;
        if (err instanceof Unauthorized) { this.stop(); this.o.onUnauthorized(); return; }
        if (err instanceof HttpError && err.status < 500 && this.o.onError) this.o.onError(err);
        else showState("offline");
      }
      if (this.es && this.es.readyState === EventSource.OPEN) { this.pollTimer = null; return; }
      this.pollTimer = setTimeout(tick, POLL_MS);
    };
    this.pollTimer = setTimeout(tick, 0);
  }
}

/** Polls `url()` every `ms` with its ETag; `refresh()` asks at once. */
export class Poller {
  constructor(url, ms, onData, onFail) {
    Object.assign(this, { url, ms, onData, onFail, etags: new Map(), timer: null, running: false });
  }
  start() { this.running = true; this.refresh(); }
  stop() { this.running = false; clearTimeout(this.timer); }
  /** One GET with the same token, outside the schedule. */
  fetch(url) { return getJson(url); }
  async refresh() {
    clearTimeout(this.timer);
    if (!this.running) return;
    try {
      const body = await getJson(this.url(), this.etags);
      if (body && this.running) this.onData(body);
    } catch (err) {
      if (this.running) this.onFail(err);
    }
    if (this.running) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.refresh(), this.ms);
    }
  }
}
