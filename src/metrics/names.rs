//! Every metric's name, help text, labels and buckets: the one place they
//! are spelled. `docs/operations.md`'s "Metrics" section lists the same.
//!
//! Names follow the Prometheus conventions: the `job_progress_` prefix,
//! `_total` on counters, base units (`_seconds`), and labels whose values
//! come from small fixed sets (a route's pattern, never its path).

/// A metric: its name and help text.
#[derive(Debug, Clone, Copy)]
pub struct Described {
    /// The name as scraped.
    pub name: &'static str,
    /// The `# HELP` line.
    pub help: &'static str,
}

// ------------------------------------------------------------------ per server

/// Counter, labels `route`, `method`, `status`.
pub const HTTP_REQUESTS: Described = Described {
    name: "job_progress_http_requests_total",
    help: "HTTP requests answered, by route pattern, method and status.",
};

/// Histogram, labels `route`, `method`: from the request's arrival to its
/// response head (a stream's duration is its start, not its life).
pub const HTTP_DURATION: Described = Described {
    name: "job_progress_http_request_duration_seconds",
    help: "Time to answer an HTTP request (until the response head), in seconds.",
};

/// The `route` of a request no route matched: one label for every unknown
/// path, so probes of random paths cannot add series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `method` of a request whose method the API does not use.
pub const OTHER_METHOD: &str = "other";

/// Buckets of [`HTTP_DURATION`]: a cached read takes tens of microseconds,
/// one through Redis about a millisecond, the archive fallback tens, and
/// a store timeout 100 ms (Redis) to 2 s (PostgreSQL).
pub const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Counter, label `result` (`hit`, `miss`).
pub const CACHE_LOOKUPS: Described = Described {
    name: "job_progress_read_cache_lookups_total",
    help: "Response cache lookups by result: hit (another request's load answered) or miss (this one loaded).",
};

/// Counter, label `source` (`cache`, `redis`, `database`): as the
/// `X-Progress-Source` header says.
pub const READ_ANSWERS: Described = Described {
    name: "job_progress_read_answers_total",
    help: "Progress answers by where their data came from (the X-Progress-Source header).",
};

/// Gauge, no label.
pub const ACTIVE_JOBS: Described = Described {
    name: "job_progress_active_jobs",
    help: "Active top-level jobs (without a parent), as of the last load of the default active list from a store.",
};

/// Gauge, no label.
pub const SSE_STREAMS_OPEN: Described = Described {
    name: "job_progress_sse_streams_open",
    help: "Server-Sent Event streams open now.",
};

/// Counter, label `outcome` (`accepted`, `refused`, `stale`): updates
/// received by the HTTP write API.
pub const INGEST_UPDATES: Described = Described {
    name: "job_progress_ingest_updates_total",
    help: "Progress updates received over HTTP, by outcome: accepted, refused (bad input) or stale (older than the stored state).",
};

// ------------------------------------------------------------- per process

/// Counter, labels `store` (`redis`, `postgres`), `outcome` (`ok`,
/// `timeout`, `unavailable`, `refused`, `corrupt`, `skipped`).
pub const STORE_CALLS: Described = Described {
    name: "job_progress_store_calls_total",
    help: "Store calls by store and outcome (skipped: the circuit breaker was open).",
};

/// Histogram, label `store`.
pub const STORE_DURATION: Described = Described {
    name: "job_progress_store_call_duration_seconds",
    help: "Time a store call took, timeouts and skips included, in seconds.",
};

/// Buckets of [`STORE_DURATION`]: a Redis read on the same host takes
/// about 100 µs, a PostgreSQL one about a millisecond; the timeouts are
/// 100 ms and 2 s by default.
pub const STORE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Gauge, label `store`; on a Redis Cluster also `node` (a master's
/// `host:port`), one series per master's breaker.
pub const BREAKER_OPEN: Described = Described {
    name: "job_progress_store_breaker_open",
    help: "1 while a store's circuit breaker is open (the store is skipped), else 0.",
};

/// Counter, labels `store` (`redis`, `postgres`), `outcome` (`written`,
/// `stale`, `failed`).
pub const WRITER_WRITES: Described = Described {
    name: "job_progress_writer_writes_total",
    help: "Writer flushes to Redis and checkpoints to PostgreSQL, by outcome (stale: the store held a later state).",
};

/// Counter, label `store`.
pub const WRITER_RETRIES: Described = Described {
    name: "job_progress_writer_retries_total",
    help: "Writer writes that retried an earlier failure.",
};

// ------------------------------------------------------------------ webhooks

/// Counter, label `outcome` (`delivered`, `retry`, `dead`, `disabled`):
/// one per delivery attempt.
pub const WEBHOOK_DELIVERIES: Described = Described {
    name: "job_progress_webhook_deliveries_total",
    help: "Webhook delivery attempts by outcome: delivered (2xx), retry (to be tried again), dead (given up), disabled (410 Gone).",
};

/// Gauge, no label: 0 when nothing waits.
pub const WEBHOOK_OUTBOX_OLDEST: Described = Described {
    name: "job_progress_webhook_outbox_oldest_seconds",
    help: "Age of the oldest webhook event not yet delivered (or given up), in seconds.",
};
