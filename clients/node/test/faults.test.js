// Answers a real server seldom gives on demand (503, 429, each 409
// reason), from a tiny scripted HTTP server in the test.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { Client, Finished, Refused, Unavailable } from "job-progress";
import { eventually } from "./support.js";

const RECORD = { jobId: "j1", status: "in_progress", successCount: 0, failureCount: 0 };
const script = new Map();
let seen = [];
let http;
let api;

before(async () => {
  http = createServer(async (req, res) => {
    let raw = "";
    for await (const chunk of req) raw += chunk;
    const body = raw ? JSON.parse(raw) : {};
    seen.push([req.method, req.url, body]);
    const queue = script.get(req.url) ?? [];
    let [status, headers, data] = queue.length ? queue.shift() : [200, {}, RECORD];
    if (!queue.length && status === 200 && req.url === "/api/v1/progress" && data === RECORD) {
      data = body.updates.map((u) => ({ jobId: u.jobId, statusCode: 200, message: "OK", data: { ...RECORD, ...u } }));
    }
    res.writeHead(status, { "Content-Type": "application/json", ...headers });
    res.end(JSON.stringify({ statusCode: status, message: "scripted", data }));
  });
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  api = `http://127.0.0.1:${http.address().port}`;
});
after(() => http.close());

function quietClient(options = {}) {
  script.clear();
  seen = [];
  const client = new Client({ api, token: "t0ken-t0ken-t0ken", handleSignals: false, ...options });
  const waits = [];
  client._transport.sleep = async (ms) => { waits.push(ms); };
  return [client, waits];
}
const calls = (method, path) => seen.filter(([m, p]) => m === method && p === path).map(([, , b]) => b);

test("503 and 429 are retried after the server's Retry-After", async () => {
  const [client, waits] = quietClient();
  script.set("/api/v1/jobs/j1", [[503, { "Retry-After": "1" }, null], [429, { "Retry-After": "7" }, null], [201, {}, RECORD]]);
  const job = await client.job("j1", { total: 10 });
  assert.equal(job.record.jobId, "j1");
  assert.deepEqual(waits, [1000, 7000]);
  assert.equal(calls("PUT", "/api/v1/jobs/j1").length, 3);
});

test("5xx without Retry-After backs off, doubling with jitter", async () => {
  const [client, waits] = quietClient();
  const job = await client.job("j1", { total: 10 });
  script.set("/api/v1/jobs/j1/complete", [[502, {}, null], [502, {}, null], [502, {}, null]]);
  await job.complete();
  assert.equal(waits.length, 3);
  waits.forEach((wait, attempt) => {
    const ceiling = 100 * 2 ** attempt;
    assert.ok(wait >= ceiling / 2 && wait <= ceiling, String(waits));
  });
});

test("a server that keeps failing is given up with Unavailable", async () => {
  quietClient();
  script.set("/api/v1/jobs/j1", Array(1000).fill([503, {}, null]));
  const client = new Client({ api, token: "t0ken-t0ken-t0ken", retryFor: 300, handleSignals: false });
  const err = await client.job("j1", { total: 10 }).catch((e) => e);
  assert.ok(err instanceof Unavailable);
  assert.ok(!err.message.includes("t0ken"));
});

test("409 stale is ignored and unknown reasons throw", async () => {
  const warnings = [];
  const [client] = quietClient({ interval: 50, logger: { warn: (m) => warnings.push(m) } });
  const job = await client.job("j1", { total: 10 });
  script.set("/api/v1/progress", [[200, {}, [{ jobId: "j1", statusCode: 409, message: "overtaken", data: { reason: "stale" } }]]]);
  job.advance(2);
  await eventually(() => calls("POST", "/api/v1/progress").length, { what: "a report" });
  assert.equal(await job.flush(5000), true);
  assert.deepEqual(warnings, []);
  assert.equal(job.ended, false);
  script.set("/api/v1/jobs/j1/complete", [[409, {}, { reason: "a_reason_from_the_future" }]]);
  await assert.rejects(job.complete(), (err) => err instanceof Refused && err.reason === "a_reason_from_the_future");
  await client.close();
});

test("409 finished at the end throws Finished", async () => {
  const [client] = quietClient();
  const job = await client.job("j1", { total: 10 });
  script.set("/api/v1/jobs/j1/fail", [[409, {}, { reason: "finished" }]]);
  await assert.rejects(job.fail(new Error("boom")), Finished);
  assert.equal(job.ended, true);
});

test("a report the batch answers 503 for is sent again", async () => {
  const [client] = quietClient({ interval: 50 });
  const job = await client.job("j1", { total: 10 });
  script.set("/api/v1/progress", [[200, {}, [{ jobId: "j1", statusCode: 503, message: "busy", data: null }]], [503, { "Retry-After": "0" }, null]]);
  job.progress(4, 1);
  await eventually(() => calls("POST", "/api/v1/progress").length >= 3, { what: "the report sent three times" });
  assert.equal(calls("POST", "/api/v1/progress")[2].updates[0].successCount, 4);
  assert.equal(await client.close(5000), true);
});

test("fields an older server refuses are left out and the counts still go", async () => {
  const [client] = quietClient({ interval: 50 });
  const job = await client.job("j1", { total: 10 });
  const unknown = "invalid item: updates[0].stage: unknown field `stage`, expected one of `jobId`, `successCount`";
  script.set("/api/v1/progress", [[200, {}, [{ jobId: null, statusCode: 400, message: unknown, data: null }]]]);
  job.stage("load");
  job.advance(3);
  await eventually(() => calls("POST", "/api/v1/progress").length >= 2, { what: "the report sent again" });
  const resent = calls("POST", "/api/v1/progress")[1].updates[0];
  assert.equal(resent.stage, undefined);
  assert.equal(resent.successCount, 3);
  assert.deepEqual([...client.unsupportedFields], ["stage"]);
  await client.close();
});
