// Types of job-progress/bullmq (src/bullmq.js).
import type { Client, Job } from "./index.js";

/** The job-progress id of a BullMQ job: `<queue>:<id>`. */
export declare function jobIdOf(bullJob: { queueName: string; id?: string }): string;

export interface Progress {
  /** Wraps a BullMQ processor; it gets the job's AbortSignal as a third argument. */
  processor<J, R>(fn: (job: J, token: string | undefined, signal: AbortSignal) => Promise<R>): (job: J, token?: string) => Promise<R>;
  /** Reports failures, retries and completions from the worker's events; returns the worker. */
  attach<W extends { on(event: string, listener: (...args: any[]) => void): unknown }>(worker: W): W;
  /** The job handle of a running BullMQ job, if any. */
  jobOf(bullJob: { queueName: string; id?: string }): Job | undefined;
}

export declare function withProgress(client: Client): Progress;
