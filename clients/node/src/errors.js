// The errors this package throws. None of them ever holds the token.

/** Base of every error thrown by this package. */
export class JobProgressError extends Error {
  get name() {
    return this.constructor.name;
  }
}

/** A 4xx: the request is wrong (retrying will not help). `reason` is a 409's `data.reason`. */
export class Refused extends JobProgressError {
  constructor(status, message, reason = undefined, jobId = undefined) {
    super(`${jobId ? `job ${jobId}: ` : ""}${status}${reason ? ` (${reason})` : ""}: ${message}`);
    this.status = status;
    this.reason = reason;
    this.serverMessage = message;
    this.jobId = jobId;
  }
}

/** 401 or 403: no token, an unknown one, or a read token where a write token is needed. */
export class Unauthorized extends Refused {}

/** 409 `finished`: the job has completed or failed already; stop reporting it. */
export class Finished extends Refused {}

/** The API kept failing (5xx, 429, unreachable) until the retry budget ran out. */
export class Unavailable extends JobProgressError {
  constructor(message, retryAfterMs = undefined) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** Someone asked for the job to be cancelled; `request` is the server's `{at, by, reason}`. */
export class JobCancelled extends JobProgressError {
  constructor(jobId, request) {
    super(`job ${jobId}: cancellation requested by ${request?.by ?? "someone"}${request?.reason ? `: ${request.reason}` : ""}`);
    this.jobId = jobId;
    this.request = request;
  }
}
