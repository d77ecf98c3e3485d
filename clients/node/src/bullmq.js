// BullMQ integration: each BullMQ job reported as a job-progress job.
//
//   const progress = withProgress(new Client());
//   const worker = new Worker("imports", progress.processor(async (job, token, signal) => { ... }), { connection });
//   progress.attach(worker);
//
// - The job is declared as `<queue>:<BullMQ job id>`, with the BullMQ
//   job's name as `name`, the queue as `kind`, and `attempt`.
// - A processor's result `{ resultUrl }` becomes the job's result link.
// - `job.updateProgress(number | object)` and `job.log(row)` are mirrored
//   (a number is a percentage; an object is `{current, total, failed,
//   stage, message}`), then passed on to BullMQ as usual.
// - Completion is reported by the wrapper before it returns, so BullMQ
//   acknowledges the job only once the server holds its end durably;
//   failures and retries come from the worker's `failed` event (BullMQ
//   decides which), and `completed` completes what the wrapper could not.
// - A cancellation aborts the `signal` given to the processor and rejects
//   it at once with an UnrecoverableError (no retry); the job ends `cancelled`.

import { UnrecoverableError } from "bullmq";

import { JobCancelled, JobProgressError } from "./errors.js";

const ID_CHARS = /[^A-Za-z0-9._:-]/g;

/** The job-progress id of a BullMQ job. */
export const jobIdOf = (bullJob) => `${bullJob.queueName}:${bullJob.id}`.replace(ID_CHARS, "_").slice(0, 128);

/** Reports the BullMQ jobs of processors it wraps through `client`. */
export function withProgress(client) {
  const running = new Map(); // job-progress id -> Job
  const warn = (message) => client.logger.warn?.(message);

  function mirror(job, value) {
    if (typeof value === "number") {
      if (!job.total) job.setTotal(100); // a bare percentage: count out of 100
      job.progress(Math.round((value / 100) * job.total), job.failure);
    } else if (value && typeof value === "object") {
      const failed = Number(value.failed ?? job.failure);
      const total = value.total === undefined ? undefined : Number(value.total);
      if (value.current !== undefined) job.progress(Number(value.current) - failed, failed, { total });
      else if (total !== undefined) job.setTotal(total);
      if (value.stage !== undefined) job.stage(String(value.stage));
      if (value.message !== undefined) job.message(String(value.message));
    }
  }

  return {
    /** The job handle of a running BullMQ job, if any. */
    jobOf: (bullJob) => running.get(jobIdOf(bullJob)),

    /** Wraps a processor `(job, token, signal) => result`. */
    processor(fn) {
      return async (bullJob, token) => {
        const id = jobIdOf(bullJob);
        const attempt = (bullJob.attemptsMade ?? 0) + 1;
        const job = await client.job(id, {
          name: String(bullJob.name).slice(0, 200),
          kind: bullJob.queueName.replace(ID_CHARS, "_").slice(0, 64),
          attempt: attempt > 1 ? attempt : undefined,
        });
        running.set(id, job);
        const updateProgress = bullJob.updateProgress.bind(bullJob);
        bullJob.updateProgress = (value) => {
          mirror(job, value);
          return updateProgress(value);
        };
        const log = bullJob.log.bind(bullJob);
        bullJob.log = (row) => {
          job.log("info", String(row));
          return log(row);
        };
        let onAbort;
        const cancelled = new Promise((_, reject) => {
          onAbort = () => reject(Object.assign(new UnrecoverableError(job.signal.reason.message), { cause: job.signal.reason }));
          if (job.signal.aborted) onAbort();
          else job.signal.addEventListener("abort", onAbort, { once: true });
        });
        cancelled.catch(() => {}); // rejected only while raced
        let result;
        try {
          result = await Promise.race([fn(bullJob, token, job.signal), cancelled]);
        } finally {
          job.signal.removeEventListener("abort", onAbort);
          await job.flush();
        }
        try {
          // A processor that returns `{ resultUrl }` says where the result opens.
          const resultUrl = typeof result?.resultUrl === "string" ? result.resultUrl : undefined;
          await job.complete({ resultUrl });
          running.delete(id);
        } catch (err) {
          // The work is done: a report that failed must not make BullMQ run it again.
          if (!(err instanceof JobProgressError)) throw err;
          warn(`job ${id}: could not report its completion yet: ${err.message}`);
        }
        return result;
      };
    },

    /** Reports failures, retries and completions from `worker`'s events. */
    attach(worker) {
      worker.on("failed", (bullJob, err) => {
        const job = bullJob && running.get(jobIdOf(bullJob));
        if (!job) return;
        const retrying = !(err instanceof UnrecoverableError) && !bullJob.discarded
          && bullJob.attemptsMade < (bullJob.opts?.attempts ?? 1);
        running.delete(job.id);
        if (retrying) {
          job.log("warn", `attempt ${bullJob.attemptsMade} failed, retrying: ${err?.message}`);
          job.message(`retrying after attempt ${bullJob.attemptsMade}: ${err?.message}`);
          job.flush().catch(() => {});
          return;
        }
        const end = err?.cause instanceof JobCancelled ? job.cancelled() : job.fail(err ?? "failed");
        end.catch((reportErr) => {
          if (reportErr instanceof JobProgressError) warn(`job ${job.id}: could not report its failure: ${reportErr.message}`);
        });
      });
      worker.on("completed", (bullJob) => {
        const job = bullJob && running.get(jobIdOf(bullJob));
        if (!job) return;
        running.delete(job.id);
        if (!job.ended) job.complete().catch((err) => warn(`job ${job.id}: could not report its completion: ${err.message}`));
      });
      return worker;
    },
  };
}
