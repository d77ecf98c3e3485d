// The client against a real server (embedded stores).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { after, before, test } from "node:test";
import { inspect } from "node:util";

import { Client, Finished, JobCancelled, Refused, Unauthorized, watchJob } from "job-progress";
import { Server, TinyEventSource, eventually, unique } from "./support.js";

let server;
before(async () => { server = await Server.start(); });
after(async () => { await server.close(); });

const quiet = (options = {}) => new Client({ api: server.api, token: server.writeToken, handleSignals: false, ...options });

test("a job run to its end reports its counts and completes", async () => {
  const client = quiet();
  const id = unique("run");
  const job = await client.job(id, { total: 2000 });
  await job.run(async () => {
    for (let i = 0; i < 2000; i++) i % 100 === 99 ? job.advance(0, 1) : job.advance(1);
  });
  const record = await server.get(id);
  assert.equal(record.status, "completed");
  assert.deepEqual([record.successCount, record.failureCount], [1980, 20]);
  await client.close();
});

test("a throwing run fails the job with the error's message and rethrows", async () => {
  const client = quiet();
  const id = unique("throws");
  const job = await client.job(id, { total: 10 });
  await assert.rejects(job.run(async () => { job.advance(3); throw new Error("row 4 is not a row"); }), /row 4/);
  const record = await server.get(id);
  assert.equal(record.status, "failed");
  assert.equal(record.errorMessage, "row 4 is not a row");
  assert.equal(record.successCount, 3);
});

test("many jobs reporting as fast as they can share one request per interval", async () => {
  const client = quiet({ interval: 500 });
  const jobs = await Promise.all(Array.from({ length: 50 }, (_, n) => client.job(unique(`fast-${n}`), { total: 1_000_000 })));
  const before = await server.requestsTo("/api/v1/progress");
  const started = Date.now();
  for (let round = 0; round < 4000; round++) {
    for (const job of jobs) job.advance(1);
    if (round % 100 === 0) await new Promise((r) => setImmediate(r)); // let the timer run, as real work would
  }
  assert.equal(await client.flush(10_000), true);
  const elapsed = Date.now() - started;
  const sent = (await server.requestsTo("/api/v1/progress")) - before;
  assert.ok(sent >= 1 && sent <= elapsed / client.interval + 2, `${sent} requests in ${elapsed} ms`);
  assert.equal((await server.get(jobs[7].id)).successCount, 4000);
  await client.close();
});

test("a refused token rejects at declaration and never shows the token", async () => {
  const secret = `not-a-token-${"x".repeat(30)}`;
  const client = new Client({ api: server.api, token: secret, handleSignals: false });
  const err = await client.job(unique("denied"), { total: 5 }).catch((e) => e);
  assert.ok(err instanceof Unauthorized);
  assert.equal(err.status, 401);
  assert.match(err.message, /token/);
  for (const shown of [err.message, err.stack, inspect(client), String(client), JSON.stringify(client)]) assert.ok(!shown.includes(secret), shown);
  const readOnly = new Client({ api: server.api, token: server.readToken, handleSignals: false });
  const denied = await readOnly.job(unique("read-only"), { total: 5 }).catch((e) => e);
  assert.equal(denied.status, 403);
  assert.match(denied.message, /write token/);
});

test("a job finished elsewhere stops reporting without throwing", async () => {
  const warnings = [];
  const client = quiet({ interval: 50, logger: { warn: (m) => warnings.push(m) } });
  const id = unique("ended-elsewhere");
  const job = await client.job(id, { total: 10 });
  assert.equal((await server.write("POST", `/api/v1/jobs/${id}/complete`, { successCount: 2 }))[0], 200);
  job.advance(5);
  await eventually(() => job.ended, { what: "the handle stopping" });
  assert.ok(warnings.some((w) => w.includes("ended elsewhere")));
  assert.equal((await server.get(id)).successCount, 2);
  await assert.rejects(client.job(id, { total: 10 }), Finished);
});

test("a refused report is logged once and thrown only when strict", async () => {
  for (const strict of [false, true]) {
    const warnings = [];
    const client = quiet({ interval: 50, strict, logger: { warn: (m) => warnings.push(m) } });
    const job = await client.job(unique(`too-many-${strict}`), { total: 10 });
    job.progress(11, 0); // more than the total: 409 exceeds_total
    await eventually(() => warnings.some((w) => w.includes("exceeds_total")), { what: "the refusal logged" });
    if (strict) {
      assert.throws(() => job.progress(12, 0), (err) => err instanceof Refused && err.reason === "exceeds_total");
    } else {
      job.progress(12, 0);
      await job.flush(5000);
      assert.equal(warnings.filter((w) => w.includes(job.id)).length, 1, warnings.join("\n"));
    }
    await client.close();
  }
});

test("the final report survives a server restart mid-job", async () => {
  const client = quiet({ interval: 100 });
  const id = unique("restart");
  const job = await client.job(id, { total: 2000 });
  for (let i = 0; i < 1000; i++) job.advance(1);
  await eventually(async () => (await server.get(id)).successCount === 1000, { what: "the first half arriving" });
  await server.kill();
  for (let i = 0; i < 990; i++) job.advance(1);
  job.advance(0, 10);
  await server.start(); // the same port and data folder
  await job.complete();
  const record = await server.get(id);
  assert.equal(record.status, "completed");
  assert.deepEqual([record.successCount, record.failureCount], [1990, 10]);
  await client.close();
});

test("SIGTERM mid-job flushes the last counts, then the process dies of it", async () => {
  const id = unique("sigterm");
  const child = spawn(process.execPath, [new URL("./sigterm-child.mjs", import.meta.url).pathname, id], {
    env: { ...process.env, JOB_PROGRESS_API: server.api, JOB_PROGRESS_TOKEN: server.writeToken },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = await once(child.stdout, "data");
  assert.equal(String(line).trim(), "counted");
  child.kill("SIGTERM");
  const [, signal] = await once(child, "exit");
  assert.equal(signal, "SIGTERM");
  const record = await server.get(id);
  assert.deepEqual([record.successCount, record.failureCount], [1234, 5]);
});

test("stage, message, metadata, logs and the result link reach the server", async (t) => {
  const client = quiet({ interval: 50 });
  const id = unique("fields");
  const job = await client.job(id, { total: 10, name: "Nightly export", kind: "export", steps: ["fetch", "write"] });
  job.stage("fetch");
  job.message("fetching page 1");
  job.metadata({ pages: 3, source: "crm" });
  job.log("warn", "page 2 was empty");
  job.advance(10);
  await job.complete({ resultUrl: "https://files.example/export.csv" });
  const missing = [...client.unsupportedFields].filter((f) => ["name", "kind", "steps", "stage", "message", "metadata", "resultUrl"].includes(f));
  if (missing.length) return t.skip(`this server predates ${missing.join(", ")}: the client left them out`);
  const record = await server.get(id);
  assert.equal(record.status, "completed");
  assert.equal(record.name, "Nightly export");
  assert.equal(record.stage, "fetch");
  assert.match(record.resultUrl, /export\.csv$/);
});

test("watchJob follows a job to its end by polling where there is no EventSource", async () => {
  const client = quiet({ interval: 50 });
  const id = unique("watched");
  const job = await client.job(id, { total: 3 });
  const seen = [];
  const ended = new Promise((resolve) => {
    watchJob(server.api, id, { token: server.readToken, pollIntervalMs: 50, EventSource: null,
      onUpdate: (record) => seen.push(record.successCount), onEnd: resolve });
  });
  await eventually(() => seen.length > 0, { what: "a first update" });
  job.advance(2);
  await eventually(() => seen.includes(2), { what: "the update of two" });
  job.advance(1);
  await job.complete();
  const last = await ended;
  assert.equal(last.status, "completed");
  assert.equal(last.successCount, 3);
  await client.close();
});

test("watchJob follows a job over its event stream, the token in the stream's URL", async () => {
  const client = quiet({ interval: 50 });
  const id = unique("streamed");
  const job = await client.job(id, { total: 3 });
  const seen = [];
  const ended = new Promise((resolve) => {
    watchJob(server.api, id, { token: server.readToken, pollIntervalMs: 60_000, EventSource: TinyEventSource,
      onUpdate: (record) => seen.push(record.successCount), onEnd: resolve });
  });
  await eventually(() => seen.length > 0, { what: "the stream's first record" });
  job.advance(2);
  await eventually(() => seen.includes(2), { what: "the update of two" });
  job.advance(1);
  await job.complete();
  const last = await ended; // polling every minute could not have seen it yet
  assert.equal(last.status, "completed");
  assert.equal(last.successCount, 3);
  assert.ok(TinyEventSource.urls.includes(`${server.api}/api/v1/jobs/${id}/events?access_token=${encodeURIComponent(server.readToken)}`));
  await client.close();
});

test("watchJob falls back to polling when the stream cannot be opened", async () => {
  const errors = [];
  const watch = watchJob(server.api, unique("unknown"), { pollIntervalMs: 50, EventSource: TinyEventSource,
    onError: (err) => errors.push(err.message) });
  await eventually(() => errors.some((m) => m.includes("/progress: 404")), { what: "the poll's 404" });
  watch.close();
});

test("a cancel request aborts the job's signal and ends it cancelled", async () => {
  const client = quiet({ interval: 50 });
  const id = unique("cancel");
  const job = await client.job(id, { total: 100 });
  const [status] = await server.write("POST", `/api/v1/jobs/${id}/cancel`, { reason: "wrong file" }, server.controlToken);
  assert.ok(status === 200 || status === 202);
  await assert.rejects(job.run(async () => {
    while (!job.signal.aborted) { job.advance(1); await new Promise((r) => setTimeout(r, 10)); }
    job.throwIfCancelled();
  }), JobCancelled);
  assert.equal((await server.get(id)).status, "cancelled");
});
