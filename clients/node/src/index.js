// Report job progress to a job-progress server: throttled, batched,
// retried reports; status changes awaited until durable.
//
//   import { Client } from "job-progress";
//   const client = new Client(); // JOB_PROGRESS_API, JOB_PROGRESS_TOKEN
//   const job = await client.job("import-42", { total: rows.length });
//   await job.run(async () => { for (const row of rows) { await importRow(row); job.advance(); } });

export { Client, OPTIONAL_FIELDS } from "./client.js";
export { Finished, JobCancelled, JobProgressError, Refused, Unauthorized, Unavailable } from "./errors.js";
export { Job } from "./job.js";
export { watchJob } from "./watch.js";

/** This package's version. */
export const VERSION = "0.1.0";
