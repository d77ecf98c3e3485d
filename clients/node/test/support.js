// A real job-progress server per test (its own port, data folder and
// tokens; with Redis + PostgreSQL, its own key prefix), and helpers.

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const BINARY = process.env.JOB_PROGRESS_BIN ?? join(REPO, "target/debug/job-progress");
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const unique = (name) => `${name}-${randomBytes(4).toString("hex")}`;

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on("error", rej);
  });
}

/** Polls `check` until it returns something truthy (or throws no more). */
export async function eventually(check, { timeout = 30_000, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} never held; last: ${last?.message ?? JSON.stringify(last)}`);
    await sleep(50);
  }
}

const sha = (t) => createHash("sha256").update(t).digest("hex");

/** One `job-progress serve` process; `restart()` keeps its port and stores. */
export class Server {
  static async start({ pg = false } = {}) {
    const server = new Server();
    server.dir = mkdtempSync(join(tmpdir(), "jp-node-"));
    server.writeToken = randomBytes(32).toString("base64url");
    server.readToken = randomBytes(32).toString("base64url");
    server.controlToken = randomBytes(32).toString("base64url");
    writeFileSync(join(server.dir, "tokens"), `write ${sha(server.writeToken)} test-writer\nread ${sha(server.readToken)} test-reader\ncontrol ${sha(server.controlToken)} test-operator\n`);
    server.port = await freePort();
    server.api = `http://127.0.0.1:${server.port}`;
    const env = { ...process.env, LISTEN_ADDR: `127.0.0.1:${server.port}`, DATA_DIR: join(server.dir, "data"),
      TOKENS_FILE: join(server.dir, "tokens"), LOG_FORMAT: "json", RUST_LOG: "warn", SHUTDOWN_TIMEOUT_SECS: "1" };
    for (const name of ["REDIS_URL", "DATABASE_URL", "BUS_URL", "JOB_PROGRESS_API", "JOB_PROGRESS_TOKEN"]) delete env[name];
    if (pg) {
      env.REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
      env.DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres:postgres@127.0.0.1:5432/postgres";
      env.KEY_PREFIX = `jpclient-${randomBytes(4).toString("hex")}:`;
    }
    server.env = env;
    server.log = createWriteStream(join(server.dir, "server.log"));
    await server.start();
    return server;
  }

  async start() {
    if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`cargo build --bin job-progress\` first`);
    this.process = spawn(BINARY, ["serve"], { env: this.env, stdio: ["ignore", "pipe", "pipe"] });
    this.process.stdout.pipe(this.log, { end: false });
    this.process.stderr.pipe(this.log, { end: false });
    const exited = new Promise((res) => this.process.once("exit", res));
    this.exited = exited;
    await eventually(async () => {
      if (this.process.exitCode !== null) throw new Error(`the server exited; see ${this.dir}/server.log`);
      try {
        return (await fetch(`${this.api}/healthz`)).ok;
      } catch {
        return false;
      }
    }, { timeout: 60_000, what: "the server answering /healthz" });
  }

  async kill() {
    if (this.process && this.process.exitCode === null && this.process.signalCode === null) {
      this.process.kill("SIGKILL");
      await this.exited;
    }
  }

  async restart() {
    await this.kill();
    await this.start();
  }

  async close() {
    await this.kill();
    this.log.end();
  }

  /** The job's record, or null while it is unknown. */
  async get(jobId) {
    const response = await fetch(`${this.api}/api/v1/jobs/${jobId}/progress`, { headers: { Authorization: `Bearer ${this.readToken}` } });
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(`GET ${jobId}: ${response.status}`);
    return (await response.json()).data;
  }

  /** The job's kept log lines. */
  async logs(jobId) {
    const response = await fetch(`${this.api}/api/v1/jobs/${jobId}/logs?limit=1000`, { headers: { Authorization: `Bearer ${this.readToken}` } });
    return (await response.json()).data.lines;
  }

  /** A raw write call (with the write token unless another is given): [status, envelope]. */
  async write(method, path, body, token = this.writeToken) {
    const response = await fetch(this.api + path, { method, body: JSON.stringify(body),
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" } });
    return [response.status, await response.json()];
  }

  /** How many requests this server process has answered on `route` (from /metrics). */
  async requestsTo(route, method = "POST") {
    const text = await (await fetch(`${this.api}/metrics`)).text();
    let sum = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith(`job_progress_http_requests_total{route="${route}",method="${method}",`)) sum += Number(line.split(" ").pop());
    }
    return sum;
  }
}

/** Enough of the browser's EventSource for watchJob (Node 20 has none): one connection, no reconnects. */
export class TinyEventSource extends EventTarget {
  static urls = [];
  constructor(url) {
    super();
    TinyEventSource.urls.push(url);
    this.readyState = 0;
    this.aborter = new AbortController();
    this.#run(url).catch(() => this.#fail());
  }

  async #run(url) {
    const response = await fetch(url, { signal: this.aborter.signal });
    if (!response.ok || !response.headers.get("content-type")?.startsWith("text/event-stream")) return this.#fail();
    this.readyState = 1;
    this.dispatchEvent(new Event("open"));
    let buffer = "";
    for await (const chunk of response.body.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const type = /^event: ?(.*)$/m.exec(block)?.[1] ?? "message";
        const data = [...block.matchAll(/^data: ?(.*)$/gm)].map((m) => m[1]).join("\n");
        if (data || type !== "message") this.dispatchEvent(Object.assign(new Event(type), { data }));
      }
    }
    this.#fail();
  }

  #fail() {
    if (this.readyState === 2) return;
    this.readyState = 2;
    this.dispatchEvent(new Event("error"));
  }

  close() {
    this.readyState = 2;
    this.aborter.abort();
  }
}
