// A job handle: what a task calls while it works. progress, advance,
// stage, message, metadata and log only change memory; the client's timer
// sends the latest state at most once per interval. complete, fail and
// cancelled are sent at once and awaited.

import { Finished, JobCancelled, Refused } from "./errors.js";

const LEVELS = new Set(["info", "warn", "error"]);
const MAX_PENDING_LOGS = 10_000;

/** One declared job. Emits `cancel` (an Event) when a cancellation is requested; `signal` aborts then. */
export class Job extends EventTarget {
  #client;
  #abort = new AbortController();
  constructor(client, id, record, total, onCancel) {
    super();
    this.id = id;
    /** The record of the server's latest answer. */
    this.record = record;
    /** `{at, by, reason}` once someone asked for this job to stop, else null. */
    this.cancelRequested = null;
    this.#client = client;
    this.success = record?.successCount ?? 0;
    this.failure = record?.failureCount ?? 0;
    this.chunk = undefined;
    this.total = total;
    this.ended = false;
    this._sent = { version: 0, total, chunk: undefined, stage: undefined, message: undefined, at: 0 };
    this._version = 0;
    this._stage = undefined;
    this._message = undefined;
    this._metadata = {};
    this._logs = [];
    this._error = null;
    this._warned = false;
    this._onCancel = onCancel;
    this._checkCancel(record);
  }

  /** Aborts once a cancellation is requested (its reason a JobCancelled). */
  get signal() {
    return this.#abort.signal;
  }

  /** Sets the absolute counts (and optionally the current chunk and a revised total). */
  progress(success, failure = 0, { chunk, total } = {}) {
    this._raiseIfAsked();
    this.success = success;
    this.failure = failure;
    if (chunk !== undefined) this.chunk = chunk;
    if (total !== undefined) this.total = total;
    this._version++;
  }

  /** Adds `n` successes and `failed` failures. */
  advance(n = 1, failed = 0) {
    this._raiseIfAsked();
    this.success += n;
    this.failure += failed;
    this._version++;
  }

  /** Revises the total (sent with the next report). */
  setTotal(total) {
    this.total = total;
    this._version++;
  }

  /** Names the step the job is in (one of its declared steps, or free text). */
  stage(name) {
    this._stage = name;
    this._version++;
  }

  /** A line for people about what is happening now (at most 500 characters). */
  message(text) {
    this._message = String(text).slice(0, 500);
    this._version++;
  }

  /** Merges `values` into the job's metadata; a null value removes its key. */
  metadata(values) {
    Object.assign(this._metadata, values);
    this._version++;
  }

  /** Adds a line to the job's log (`info`, `warn`, `error`), sent with the next report. */
  log(level, message, at = new Date()) {
    if (!LEVELS.has(level)) throw new TypeError("level must be info, warn or error");
    if (this._logs.length >= MAX_PENDING_LOGS) this._logs.shift();
    this._logs.push({ level, message: String(message).slice(0, 2048), at: at.toISOString() });
  }

  /** Throws JobCancelled once a cancellation was requested. */
  throwIfCancelled() {
    if (this.cancelRequested) throw new JobCancelled(this.id, this.cancelRequested);
  }

  /** Completes the job with its counts; resolves once the server holds it durably. */
  complete({ resultUrl } = {}) {
    const body = { successCount: this.success, failureCount: this.failure };
    if (resultUrl !== undefined) body.resultUrl = resultUrl;
    return this.#end("complete", body);
  }

  /** Fails the job with `error` (an Error's message, or text). */
  fail(error) {
    let text = (error instanceof Error ? error.message : String(error ?? "")).trim();
    if (!text && error instanceof Error) text = error.name;
    return this.#end("fail", { errorMessage: (text || "failed").slice(0, 2048), successCount: this.success, failureCount: this.failure });
  }

  /** Acknowledges a cancellation: the job ends `cancelled`. */
  cancelled() {
    return this.#end("cancelled", { successCount: this.success, failureCount: this.failure });
  }

  /** Sends this job's pending state now; resolves true once the server has it. */
  flush(timeoutMs) {
    return this.#client._flush([this], timeoutMs);
  }

  /** Runs `work(job)`: completes the job when it resolves, fails it (or acknowledges a cancellation) when it throws. */
  async run(work) {
    let result;
    try {
      result = await work(this);
    } catch (err) {
      if (!this.ended) {
        try {
          await (err instanceof JobCancelled ? this.cancelled() : this.fail(err));
        } catch (reportErr) {
          this.#client.logger.warn?.(`job ${this.id}: could not report its failure: ${reportErr.message}`);
        }
      }
      throw err;
    }
    if (!this.ended) await this.complete();
    return result;
  }

  async #end(what, body) {
    if (this.ended) return this.record;
    // Stage, message, total, chunk and log lines first: the server may refuse them after the end.
    await this.#client._flush([this], undefined, true);
    try {
      const record = await this.#client._callOptional("POST", `/${what}`, body, this.id);
      if (record && typeof record === "object") this.record = record;
    } catch (err) {
      if (err instanceof Finished) this._finish();
      throw err;
    }
    this._finish();
    return this.record;
  }

  // ---------------------------------------------------------- for the client

  _finish() {
    this.ended = true;
    this.#client._forget(this);
  }

  _raiseIfAsked() {
    if (this._error && this.#client.strict) {
      const err = this._error;
      this._error = null;
      throw err;
    }
  }

  /** The report to send now, if any, and what to remember once it is taken. */
  _take(now, heartbeatMs, final, unsupported) {
    const s = this._sent;
    const fieldsPending = this._stage !== s.stage || this._message !== s.message || Object.keys(this._metadata).length > 0
      || this.total !== s.total || this.chunk !== s.chunk;
    const due = final ? fieldsPending : this._version > s.version || now - s.at >= heartbeatMs;
    if (this.ended || !due) return null;
    const item = { jobId: this.id, successCount: this.success, failureCount: this.failure };
    if (this.chunk !== undefined) item.currentChunk = this.chunk;
    if (this.total !== undefined && this.total !== null) item.total = this.total;
    if (this._stage !== s.stage && !unsupported.has("stage")) item.stage = this._stage;
    if (this._message !== s.message && !unsupported.has("message")) item.message = this._message;
    const metadata = this._metadata;
    this._metadata = {};
    if (Object.keys(metadata).length && !unsupported.has("metadata")) item.metadata = metadata;
    return { item, memo: { version: this._version, stage: this._stage, message: this._message, total: this.total, chunk: this.chunk, metadata } };
  }

  /** Takes the server's answer to a taken report (null: it never got there); returns whether it is still to be sent. */
  _taken(memo, result, now) {
    const status = result?.statusCode ?? 0;
    const reason = result?.data?.reason;
    if (status === 0 || status === 429 || status >= 500 || (status === 400 && this.#client._learnUnsupported(result))) {
      this._metadata = { ...memo.metadata, ...this._metadata };
      if (status >= 500) this._reportFailure(new Refused(status, String(result.message ?? ""), undefined, this.id));
      return true;
    }
    this._sent = { version: Math.max(this._sent.version, memo.version), stage: memo.stage, message: memo.message, total: memo.total, chunk: memo.chunk, at: now };
    if ((status >= 200 && status < 300) || reason === "stale") {
      this._warned = false;
      if (result.data && typeof result.data === "object" && "jobId" in result.data) {
        this.record = result.data;
        this._checkCancel(result.data);
      }
      return false;
    }
    if (reason === "finished") {
      this.#client.logger.warn?.(`job ${this.id} has ended elsewhere; no more reports are sent`);
      this._finish();
      return false;
    }
    this._reportFailure(new Refused(status, String(result.message ?? ""), reason, this.id));
    return false;
  }

  _reportFailure(err) {
    if (this.#client.strict) this._error = err;
    if (!this._warned) {
      this._warned = true;
      this.#client.logger.warn?.(`a report failed (logged once until one gets through): ${err.message}`);
    }
  }

  _checkCancel(record) {
    const asked = record?.cancelRequested;
    if (!asked || this.cancelRequested) return;
    this.cancelRequested = typeof asked === "object" ? asked : {};
    this.#client.logger.info?.(`job ${this.id}: cancellation requested`);
    this.#abort.abort(new JobCancelled(this.id, this.cancelRequested));
    this.dispatchEvent(new Event("cancel"));
    try {
      this._onCancel?.(this);
    } catch (err) {
      this.#client.logger.warn?.(`job ${this.id}: the cancellation callback failed: ${err.message}`);
    }
  }
}
