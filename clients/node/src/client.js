// The client: declarations, the timer that sends reports, flushes on exit.

import { JobProgressError, Refused, Unavailable } from "./errors.js";
import { Job } from "./job.js";
import * as shutdown from "./shutdown.js";
import { Transport } from "./transport.js";

/** Fields newer servers take; after an older one's 400 naming one, it is left out. */
export const OPTIONAL_FIELDS = new Set(["name", "kind", "steps", "attempt", "stage", "message", "metadata", "resultUrl"]);
const UNKNOWN_FIELD = /unknown field `([A-Za-z]+)`/;
const BATCH_MAX = 1000;
const LOGS_MAX = 100;
const quote = encodeURIComponent;

/**
 * Reports jobs to one job-progress API with one write token. `api` and
 * `token` default to JOB_PROGRESS_API (else http://127.0.0.1:8080) and
 * JOB_PROGRESS_TOKEN. Reports go at most once per `interval` ms per job,
 * all jobs in one batch request; status changes at once, retried for up
 * to `retryFor` ms.
 */
export class Client {
  #transport;
  #jobs = new Map();
  #sending = Promise.resolve();
  #unsupported = new Set();
  #logsUnsupported = false;
  #notBefore = 0;
  #outageLogged = false;
  #timer;

  constructor({ api, token, interval = 1000, timeout = 10_000, retryFor = 30_000, flushTimeout = 5000, heartbeat = 15_000,
    strict = false, logger = {}, handleSignals = true } = {}) {
    api ??= process.env.JOB_PROGRESS_API || "http://127.0.0.1:8080";
    token ??= process.env.JOB_PROGRESS_TOKEN;
    this.#transport = new Transport(api, token, timeout);
    Object.assign(this, { interval, retryFor, flushTimeout, heartbeat, strict, logger });
    shutdown.register(this, handleSignals);
  }

  /** Where the client points, without credentials. */
  get api() {
    return this.#transport.base;
  }

  /** Optional fields the server refused as unknown (it predates them). */
  get unsupportedFields() {
    return new Set(this.#unsupported);
  }

  /** For tests: the transport, whose `sleep` may be replaced. */
  get _transport() {
    return this.#transport;
  }

  toString() {
    return `Client(${this.#transport.base})`;
  }

  [Symbol.for("nodejs.util.inspect.custom")]() {
    return this.toString();
  }

  toJSON() {
    return { api: this.#transport.base, interval: this.interval };
  }

  /**
   * Declares `id` and resolves to its handle; rejects when the server refuses
   * (Unauthorized, Finished, Refused) or stays unavailable.
   */
  async job(id, { total, name, kind, steps, chunkSize, totalChunks, pauseMs, scheduleId, attempt, preparing, onCancel } = {}) {
    const body = { refreshIntervalMs: Math.round(this.heartbeat) };
    const fields = { total, name, kind, chunkSize, totalChunks, pauseMs, scheduleId, attempt };
    for (const [key, value] of Object.entries(fields)) if (value !== undefined && value !== null) body[key] = value;
    if (steps) body.steps = [...steps];
    if (preparing) body.status = "preparing";
    let record;
    try {
      record = await this._callOptional("PUT", "", body, id);
    } catch (err) {
      if (!(total == null && err instanceof Refused && err.status === 400 && err.serverMessage.includes("total"))) throw err;
      record = await this.#declareWithStoredTotal(id, body);
    }
    const handle = new Job(this, id, record ?? {}, total, onCancel);
    this.#jobs.set(id, handle);
    this.#start();
    return handle;
  }

  // Declares on a server that predates optional totals: with the total a
  // handle of this client knows (a job retried at once), else 0 for a new
  // job, else (409: the job exists and has counts) the stored one. Reports
  // carry the real total later.
  async #declareWithStoredTotal(id, body) {
    const known = this.#jobs.get(id);
    const local = known?.total ?? known?.record?.totalTargetCount;
    if (local != null) return this._callOptional("PUT", "", { ...body, total: local }, id);
    try {
      return await this._callOptional("PUT", "", { ...body, total: 0 }, id);
    } catch (err) {
      if (!(err instanceof Refused) || err.reason !== "exceeds_total") throw err;
    }
    const record = await this.#transport.call("GET", `/api/v1/jobs/${quote(id)}/progress`, undefined, { retryForMs: this.retryFor, jobId: id });
    return this._callOptional("PUT", "", { ...body, total: record?.totalTargetCount ?? 0 }, id);
  }

  async _callOptional(method, suffix, body, jobId) {
    const path = `/api/v1/jobs/${quote(jobId)}${suffix}`;
    for (;;) {
      const sent = Object.fromEntries(Object.entries(body).filter(([key]) => !this.#unsupported.has(key)));
      try {
        return await this.#transport.call(method, path, sent, { retryForMs: this.retryFor, jobId });
      } catch (err) {
        if (err instanceof Refused && err.status === 400 && this._learnUnsupported({ message: err.serverMessage })) continue;
        throw err;
      }
    }
  }

  _learnUnsupported(answer) {
    const found = UNKNOWN_FIELD.exec(String(answer?.message ?? ""));
    if (!found || !OPTIONAL_FIELDS.has(found[1]) || this.#unsupported.has(found[1])) return false;
    this.#unsupported.add(found[1]);
    this.logger.warn?.(`the server does not know the field \`${found[1]}\` (it predates it); it is left out`);
    return true;
  }

  /** Sends every job's pending state now; resolves true once the server has it all. */
  flush(timeoutMs) {
    return this._flush([...this.#jobs.values()], timeoutMs);
  }

  /** Flushes (bounded by `timeoutMs`, default flushTimeout) and stops the timer. */
  async close(timeoutMs) {
    const done = await this.flush(timeoutMs);
    clearInterval(this.#timer);
    this.#timer = undefined;
    shutdown.unregister(this);
    return done;
  }

  /** Whether any job has something not yet sent. */
  get pending() {
    for (const job of this.#jobs.values()) if (job._version > job._sent.version || job._logs.length) return true;
    return false;
  }

  _forget(job) {
    if (this.#jobs.get(job.id) === job) this.#jobs.delete(job.id);
  }

  #start() {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (Date.now() < this.#notBefore || !this.#jobs.size) return;
      this.#exclusive(() => this.#send([...this.#jobs.values()], false, 0)).catch((err) => {
        this.logger.warn?.(`the progress timer failed: ${err.message}`);
      });
    }, this.interval);
    this.#timer.unref(); // the timer alone never keeps a process alive: exits flush instead
  }

  // One round at a time, so two rounds never send the same report.
  #exclusive(round) {
    const next = this.#sending.then(round, round);
    this.#sending = next.catch(() => {});
    return next;
  }

  _flush(jobs, timeoutMs = this.flushTimeout, final = false) {
    const deadline = Date.now() + timeoutMs;
    return this.#exclusive(async () => {
      for (;;) {
        const left = await this.#send(jobs, final, deadline);
        if (!left || Date.now() >= deadline) return !left;
        await new Promise((resolve) => setTimeout(resolve, Math.min(200, Math.max(0, deadline - Date.now()))));
      }
    });
  }

  async #send(jobs, final, deadline) {
    const now = Date.now();
    const taken = [];
    for (const job of jobs) {
      const got = job._take(now, this.heartbeat, final, this.#unsupported);
      if (got) taken.push([job, got]);
    }
    let left = false;
    for (let start = 0; start < taken.length; start += BATCH_MAX) {
      const chunk = taken.slice(start, start + BATCH_MAX);
      const results = await this.#postBatch(chunk.map(([, got]) => got.item), deadline);
      chunk.forEach(([job, got], index) => {
        left = job._taken(got.memo, results?.[index] ?? null, now) || left;
      });
    }
    if (!this.#logsUnsupported) for (const job of jobs) left = (await this.#sendLogs(job, deadline)) || left;
    return left;
  }

  async #postBatch(items, deadline) {
    const retryForMs = deadline ? Math.max(0, deadline - Date.now()) : 0;
    let results;
    try {
      results = await this.#transport.call("POST", "/api/v1/progress", { updates: items }, { retryForMs });
    } catch (err) {
      if (!(err instanceof JobProgressError)) throw err;
      if (err instanceof Unavailable && err.retryAfterMs) this.#notBefore = Date.now() + err.retryAfterMs;
      if (!this.#outageLogged) {
        this.#outageLogged = true;
        this.logger.warn?.(`progress reports are not getting through (retried): ${err.message}`);
      }
      return null;
    }
    if (this.#outageLogged) {
      this.#outageLogged = false;
      this.logger.info?.("progress reports are getting through again");
    }
    return Array.isArray(results) ? results : null;
  }

  async #sendLogs(job, deadline) {
    const lines = job._logs.splice(0);
    const retryForMs = deadline ? Math.max(0, deadline - Date.now()) : 0;
    for (let start = 0; start < lines.length; start += LOGS_MAX) {
      try {
        await this.#transport.call("POST", `/api/v1/jobs/${quote(job.id)}/logs`, { lines: lines.slice(start, start + LOGS_MAX) },
          { retryForMs, jobId: job.id });
      } catch (err) {
        if (err instanceof Refused) {
          if (err.status === 405 || (err.status === 404 && err.serverMessage.includes("no such endpoint"))) {
            this.#logsUnsupported = true;
            this.logger.warn?.("the server takes no log lines (it predates them); they are dropped");
          } else job._reportFailure(err);
          return false;
        }
        if (!(err instanceof JobProgressError)) throw err;
        job._logs.unshift(...lines.slice(start));
        return true;
      }
    }
    return false;
  }
}
