#!/usr/bin/env node
// A worker in JavaScript (Node 20+, no dependencies) reporting a simulated
// chunked job over the HTTP API.
//
//   JOB_PROGRESS_TOKEN=jp_w_... node examples/worker.mjs import-42
//
// Declares the job, reports absolute counts after each chunk, completes it.
// Retries 5xx and 429 with backoff (honouring Retry-After). A 409 says why
// in data.reason: "stale" (a later state is stored already) is ignored,
// "finished" (the job has ended elsewhere) stops the worker, and any other
// reason, known or not, is an error; so is any other 4xx (a bug in the
// request): exit 1.

const API = (process.env.JOB_PROGRESS_API ?? "http://127.0.0.1:8080").replace(/\/$/, "");
const TOKEN = process.env.JOB_PROGRESS_TOKEN;
const [TOTAL, CHUNK, PAUSE_MS] = [2000, 200, 50];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Refused extends Error {
  constructor(status, message, reason) {
    super(`${status}: ${message}`);
    this.status = status;
    this.reason = reason; // a 409's data.reason
  }
}

/** The job has completed or failed already: nothing more to report. */
class Finished extends Refused {}

/** Sends one request; returns the envelope's data, retrying what is transient. */
async function call(method, path, body = {}, attempts = 6) {
  for (let attempt = 0; attempt < attempts; attempt++) {
    let delay = 2 ** attempt * 100;
    try {
      const response = await fetch(API + path, {
        method,
        headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      if (response.ok) return (await response.json()).data;
      if (response.status !== 429 && response.status < 500) {
        const { message, data } = await response.json().catch(() => ({ message: response.statusText }));
        const reason = data?.reason;
        throw new (reason === "finished" ? Finished : Refused)(response.status, message, reason);
      }
      const retryAfter = Number(response.headers.get("Retry-After"));
      if (retryAfter > 0) delay = retryAfter * 1000;
    } catch (err) {
      if (err instanceof Refused) throw err; // network errors and timeouts are retried
    }
    await sleep(Math.min(delay, 10_000));
  }
  throw new Error(`${method} ${path}: still failing after ${attempts} attempts`);
}

async function main() {
  if (process.argv.length !== 3 || !TOKEN) throw new Error("usage: JOB_PROGRESS_TOKEN=... worker.mjs JOB_ID");
  const job = encodeURIComponent(process.argv[2]);
  await call("PUT", `/api/v1/jobs/${job}`, { total: TOTAL, chunkSize: CHUNK, pauseMs: PAUSE_MS });
  let [succeeded, failed] = [0, 0];
  for (let chunk = 1; chunk <= TOTAL / CHUNK; chunk++) {
    await sleep(PAUSE_MS); // the real work goes here
    failed += 3; // say three recipients per chunk bounce
    succeeded += CHUNK - 3;
    try {
      await call("POST", `/api/v1/jobs/${job}/progress`, { successCount: succeeded, failureCount: failed, currentChunk: chunk });
    } catch (err) {
      if (!(err instanceof Refused) || err.reason !== "stale") throw err; // stale: a later state is stored already
    }
  }
  const record = await call("POST", `/api/v1/jobs/${job}/complete`, { successCount: succeeded, failureCount: failed });
  console.log(`${process.argv[2]}: ${record.status}, ${succeeded} sent, ${failed} failed`);
}

main().catch((err) => {
  if (err instanceof Finished) {
    console.log(`${process.argv[2]}: already finished, stopping (${err.message})`);
    return;
  }
  console.error(`worker: ${err.message}`);
  process.exit(1);
});
