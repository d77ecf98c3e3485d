// Types of job-progress/watch (src/watch.js).
import type { ProgressRecord } from "./index.js";

export interface WatchOptions {
  /** A read token (it goes into the stream's URL). */
  token?: string;
  onUpdate?: (record: ProgressRecord) => void;
  onEnd?: (record: ProgressRecord | null) => void;
  onError?: (error: unknown) => void;
  /** Polling period when there is no stream (default 3000 ms). */
  pollIntervalMs?: number;
  /** The EventSource to use (default globalThis.EventSource; null: poll). */
  EventSource?: unknown;
}

export declare function watchJob(api: string, jobId: string, options?: WatchOptions): { close(): void };
