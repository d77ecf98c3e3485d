#!/usr/bin/env node
// What 100 jobs calling progress() as fast as they can for 10 s cost:
// requests the client sends, calls a second, CPU per call (the timer's
// sends included). Starts its own server (embedded stores) and counts the
// requests it answered from its /metrics.
//
//   node clients/node/bench/progress-calls.mjs [jobs] [seconds]

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { Client } from "../src/index.js";

const [jobsWanted = 100, seconds = 10] = process.argv.slice(2).map(Number);
const repo = resolve(fileURLToPath(import.meta.url), "../../../..");
const token = randomBytes(32).toString("base64url");
const dir = mkdtempSync(join(tmpdir(), "jp-bench-"));
writeFileSync(join(dir, "tokens"), `write ${createHash("sha256").update(token).digest("hex")} bench\n`);
const port = 20000 + Math.floor(Math.random() * 20000);
const api = `http://127.0.0.1:${port}`;
const env = { ...process.env, LISTEN_ADDR: `127.0.0.1:${port}`, DATA_DIR: join(dir, "data"), TOKENS_FILE: join(dir, "tokens"), RUST_LOG: "warn" };
delete env.REDIS_URL;
delete env.DATABASE_URL;
const server = spawn(process.env.JOB_PROGRESS_BIN ?? join(repo, "target/debug/job-progress"), ["serve"], { env, stdio: "ignore" });

async function requestsAnswered(route) {
  const text = await (await fetch(`${api}/metrics`)).text();
  return text.split("\n").filter((line) => line.startsWith(`job_progress_http_requests_total{route="${route}",method="POST",`))
    .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
}

try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${api}/healthz`)).ok) break;
    } catch {
      if (i > 600) throw new Error("the server never answered");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const client = new Client({ api, token, handleSignals: false });
  const jobs = await Promise.all(Array.from({ length: jobsWanted }, (_, n) => client.job(`bench-${n}`, { total: 1e12 })));
  const before = await requestsAnswered("/api/v1/progress");
  let calls = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    for (let round = 0; round < 100; round++) for (const job of jobs) job.progress(calls, 0);
    calls += 100 * jobs.length;
    await new Promise((r) => setImmediate(r)); // the timer gets its turn, as between real work
  }
  const wall = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await client.close();
  const sent = (await requestsAnswered("/api/v1/progress")) - before;
  const cpuNs = ((used.user + used.system) * 1000) / calls;
  console.log(`node: ${jobsWanted} jobs, ${wall.toFixed(1)} s: ${calls.toLocaleString("en")} progress() calls, ` +
    `${Math.round(calls / wall).toLocaleString("en")} calls/s, ${cpuNs.toFixed(0)} ns CPU per call, ${sent} batch requests (${(sent / wall).toFixed(2)}/s)`);
} finally {
  server.kill();
  rmSync(dir, { recursive: true, force: true });
}
