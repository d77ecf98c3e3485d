// Types of the job-progress client (src/index.js).

export interface Logger {
  warn?(message: string): void;
  info?(message: string): void;
}

export interface ClientOptions {
  /** The API's base URL; default JOB_PROGRESS_API, else http://127.0.0.1:8080. */
  api?: string;
  /** A write token; default JOB_PROGRESS_TOKEN. Never shown in messages. */
  token?: string;
  /** Milliseconds between reports of one job (default 1000). */
  interval?: number;
  /** Milliseconds one request may take (default 10000). */
  timeout?: number;
  /** Milliseconds a status change is retried for (default 30000). */
  retryFor?: number;
  /** Milliseconds a flush on SIGTERM/SIGINT or exit may take (default 5000). */
  flushTimeout?: number;
  /** Milliseconds after which an unchanged job is reported again (default 15000). */
  heartbeat?: number;
  /** Throw a refused report from the job's next call (default false: logged once). */
  strict?: boolean;
  /** Where failed reports are told (default: nowhere). */
  logger?: Logger;
  /** Flush on SIGTERM and SIGINT (default true). */
  handleSignals?: boolean;
}

export interface JobOptions {
  total?: number;
  name?: string;
  kind?: string;
  steps?: Iterable<string>;
  chunkSize?: number;
  totalChunks?: number;
  pauseMs?: number;
  scheduleId?: string;
  attempt?: number;
  preparing?: boolean;
  onCancel?: (job: Job) => void;
}

/** The server's record of a job (see openapi.yaml, ProgressRecord). */
export type ProgressRecord = Record<string, unknown> & {
  jobId: string;
  status: string;
  successCount: number;
  failureCount: number;
  totalTargetCount: number;
};

export interface CancelRequest {
  at?: string;
  by?: string;
  reason?: string;
}

export declare class Client {
  constructor(options?: ClientOptions);
  readonly api: string;
  readonly unsupportedFields: Set<string>;
  readonly pending: boolean;
  interval: number;
  strict: boolean;
  logger: Logger;
  job(id: string, options?: JobOptions): Promise<Job>;
  flush(timeoutMs?: number): Promise<boolean>;
  close(timeoutMs?: number): Promise<boolean>;
}

export declare class Job extends EventTarget {
  readonly id: string;
  record: ProgressRecord;
  cancelRequested: CancelRequest | null;
  readonly signal: AbortSignal;
  success: number;
  failure: number;
  total: number | undefined;
  ended: boolean;
  progress(success: number, failure?: number, options?: { chunk?: number; total?: number }): void;
  advance(n?: number, failed?: number): void;
  setTotal(total: number): void;
  stage(name: string): void;
  message(text: string): void;
  metadata(values: Record<string, unknown>): void;
  log(level: "info" | "warn" | "error", message: string, at?: Date): void;
  throwIfCancelled(): void;
  complete(options?: { resultUrl?: string }): Promise<ProgressRecord>;
  fail(error: unknown): Promise<ProgressRecord>;
  cancelled(): Promise<ProgressRecord>;
  flush(timeoutMs?: number): Promise<boolean>;
  run<T>(work: (job: Job) => T | Promise<T>): Promise<T>;
}

export declare class JobProgressError extends Error {}
export declare class Refused extends JobProgressError {
  status: number;
  reason?: string;
  serverMessage: string;
  jobId?: string;
}
export declare class Unauthorized extends Refused {}
export declare class Finished extends Refused {}
export declare class Unavailable extends JobProgressError {
  retryAfterMs?: number;
}
export declare class JobCancelled extends JobProgressError {
  jobId: string;
  request: CancelRequest;
}

export declare const OPTIONAL_FIELDS: Set<string>;
export declare const VERSION: string;
export { watchJob } from "./watch.js";
