// One HTTP call to the API, with the retries the server asks for. The
// platform's fetch (undici in Node) keeps connections alive by itself.

import { Finished, Refused, Unauthorized, Unavailable } from "./errors.js";

const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 5000;

/** The wait before retry `attempt` (0-based): doubling, capped, with jitter. */
export function backoff(attempt) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

class Transient extends Error {
  constructor(message, retryAfterMs) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

function retryAfterMs(value) {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Sends requests to one API with one token (kept out of every message). */
export class Transport {
  #headers;
  constructor(api, token, timeoutMs) {
    const url = new URL(api);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError("the API must be an http:// or https:// URL");
    this.base = `${url.protocol}//${url.host}${url.pathname.replace(/\/$/, "")}`;
    this.timeoutMs = timeoutMs;
    this.#headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token) this.#headers.Authorization = `Bearer ${token}`;
    this.sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms)); // replaced in tests
  }

  /** One attempt: the envelope's data for a 2xx; throws Refused for a 4xx, Transient otherwise. */
  async once(method, path, body, jobId) {
    let response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers: this.#headers,
        body: method === "GET" ? undefined : JSON.stringify(body ?? {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new Transient(`${method} ${path}: ${err.cause?.code ?? err.name}`);
    }
    let envelope;
    try {
      envelope = await response.json();
    } catch {
      envelope = { message: response.statusText };
    }
    if (typeof envelope !== "object" || envelope === null) envelope = { message: String(envelope) };
    if (response.ok) return envelope.data;
    const message = String(envelope.message ?? response.statusText);
    if (response.status === 429 || response.status >= 500) {
      throw new Transient(`${method} ${path}: ${response.status}: ${message}`, retryAfterMs(response.headers.get("Retry-After")));
    }
    const reason = envelope.data?.reason;
    if (response.status === 401 || response.status === 403) {
      const hint = !this.#headers.Authorization
        ? "no token was sent: pass token or set JOB_PROGRESS_TOKEN"
        : response.status === 401
          ? "the token is unknown to the server"
          : "the token may not write: use a write token";
      throw new Unauthorized(response.status, `${message} (${hint})`, undefined, jobId);
    }
    throw new (reason === "finished" ? Finished : Refused)(response.status, message, reason, jobId);
  }

  /** Sends until a 2xx or a 4xx, retrying the transient for up to `retryForMs`. */
  async call(method, path, body, { retryForMs, jobId } = {}) {
    const deadline = Date.now() + retryForMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(method, path, body, jobId);
      } catch (err) {
        if (!(err instanceof Transient)) throw err;
        const delay = err.retryAfterMs ?? backoff(attempt);
        if (Date.now() + delay > deadline) {
          throw new Unavailable(`${this.base}: ${err.message} (gave up after ${attempt + 1} attempts)`, err.retryAfterMs);
        }
        await this.sleep(delay);
      }
    }
  }
}
