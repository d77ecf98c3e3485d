// A real BullMQ worker (Redis broker) reporting to a real server on
// Redis + PostgreSQL.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";

import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { Client } from "job-progress";
import { withProgress } from "job-progress/bullmq";
import { Server, eventually } from "./support.js";

const redisUrl = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
const connection = { host: redisUrl.hostname, port: Number(redisUrl.port || 6379), maxRetriesPerRequest: null };
// A queue of the run's own: job ids (`<queue>:<id>`) are unique in the shared PostgreSQL archive.
const run = randomBytes(4).toString("hex");
const prefix = `jp-bull-${run}`;
const queueName = `imports-${run}`;
let server, client, queue, worker, progress;

/** 2,000 items, one in fifty failing, the stage changing halfway; `data.failAt` throws there. */
async function importRows(job) {
  const { total = 2000, pauseMs = 0, failAt, failAttempts = 99 } = job.data;
  let failed = 0;
  await job.updateProgress({ current: 0, total, stage: "load" });
  for (let i = 1; i <= total; i++) {
    if (i === failAt && job.attemptsMade < failAttempts) throw new Error(`row ${i} broke the import`);
    if (i % 50 === 0) failed++;
    await job.updateProgress(i === total / 2 ? { current: i, total, failed, stage: "write" } : { current: i, total, failed });
    if (pauseMs && i % 100 === 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  await job.log("all rows written");
  return { failed, resultUrl: `/imports/${job.id}` };
}

before(async () => {
  server = await Server.start({ pg: true });
  client = new Client({ api: server.api, token: server.writeToken, handleSignals: false });
  progress = withProgress(client);
  queue = new Queue(queueName, { connection, prefix });
  worker = progress.attach(new Worker(queueName, progress.processor(importRows), { connection, prefix }));
});

after(async () => {
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  await client.close();
  await server.close();
  const redis = new Redis(redisUrl.toString());
  for (const pattern of [`${prefix}:*`, `${server.env.KEY_PREFIX}*`]) {
    const keys = await redis.keys(pattern);
    if (keys.length) await redis.del(...keys);
  }
  redis.disconnect();
});

const idOf = (bullJob) => `${queueName}:${bullJob.id}`;
const ended = (id, status) => eventually(async () => {
  const record = await server.get(id);
  return record?.status === status && record;
}, { timeout: 60_000, what: `${id} ${status}` });

test("a BullMQ job reports its items, failures and stage, and completes", async () => {
  const bullJob = await queue.add("nightly-import", { total: 2000 });
  const record = await ended(idOf(bullJob), "completed");
  assert.deepEqual([record.totalTargetCount, record.successCount, record.failureCount], [2000, 1960, 40]);
  assert.equal(record.stage, "write");
  assert.equal(record.resultUrl, `/imports/${bullJob.id}`);
  const logs = await server.logs(idOf(bullJob));
  assert.ok(logs.some((line) => line.message === "all rows written"), JSON.stringify(logs));
  if ("name" in record) assert.deepEqual([record.name, record.kind], ["nightly-import", queueName]);
});

test("a failed attempt that BullMQ retries keeps the job running until it completes", async () => {
  const bullJob = await queue.add("flaky-import", { total: 200, failAt: 100, failAttempts: 1 }, { attempts: 2 });
  const record = await ended(idOf(bullJob), "completed");
  assert.equal(record.successCount + record.failureCount, 200);
});

test("a BullMQ job that fails for good fails its job with the error", async () => {
  const bullJob = await queue.add("broken-import", { total: 2000, failAt: 1500 }, { attempts: 1 });
  const record = await ended(idOf(bullJob), "failed");
  assert.equal(record.errorMessage, "row 1500 broke the import");
});

test("a server restarted mid-job loses no final report", async () => {
  const bullJob = await queue.add("slow-import", { total: 2000, pauseMs: 200 });
  const id = idOf(bullJob);
  await eventually(async () => (await server.get(id))?.successCount > 0, { timeout: 60_000, what: "the first reports" });
  await server.restart(); // the same port, Redis prefix and PostgreSQL
  const record = await ended(id, "completed");
  assert.deepEqual([record.successCount, record.failureCount], [1960, 40]);
});

test("a cancelled BullMQ job's processor is aborted before its end and the job ends cancelled", async () => {
  const bullJob = await queue.add("slow-import", { total: 2000, pauseMs: 250 });
  const id = idOf(bullJob);
  await eventually(async () => (await server.get(id))?.successCount > 0, { timeout: 60_000, what: "the first reports" });
  const [status, body] = await server.write("POST", `/api/v1/jobs/${id}/cancel`, { reason: "wrong file" }, server.controlToken);
  assert.equal(status, 200, JSON.stringify(body));
  const record = await ended(id, "cancelled");
  assert.ok(record.currentSentCount < 2000, "the processor stopped before its end");
  assert.equal(record.cancelRequested.reason, "wrong file");
});
