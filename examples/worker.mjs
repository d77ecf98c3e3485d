#!/usr/bin/env node
// A worker reporting a simulated job of 2,000 items in chunks of 200 with the
// job-progress package (`npm install ./clients/node`, then import "job-progress"):
//   JOB_PROGRESS_TOKEN=... node examples/worker.mjs import-43
import { Client, Finished } from "../clients/node/src/index.js";

const id = process.argv[2];
try {
  const job = await new Client().job(id, { total: 2000, chunkSize: 200, pauseMs: 50 });
  await job.run(async () => {
    for (let chunk = 1; chunk <= 10; chunk++) {
      await new Promise((resolve) => setTimeout(resolve, 50)); // the real work: say three recipients a chunk bounce
      job.progress(197 * chunk, 3 * chunk, { chunk });
    }
  });
  console.log(`${id}: ${job.record.status}, ${job.success} sent, ${job.failure} failed`);
} catch (err) {
  if (!(err instanceof Finished)) throw err;
  console.log(`${id}: already finished, stopping (${err.message})`);
}
