//! # job-progress
//!
//! Tells people how far their long-running background jobs have got.
//!
//! Data takes two paths, and the modules follow them:
//!
//! - **Write path** — worker -> [`write::ProgressWriter`] -> hot store +
//!   archive. A worker records counts on a [`write::JobHandle`]
//!   (`write/writer.rs`); a flusher task per job (`write/flusher.rs`) copies
//!   the state out, throttled, talking to its handle only through the
//!   protocol in `write/link.rs`; `write/state.rs` holds the job's counts
//!   and [`write::eta`] estimates the end; `write/checkpoints.rs` batches
//!   the archive's checkpoints. Workers in other languages enter the same
//!   path over HTTP (`http/routes/ingest/`, `http/body.rs` for bodies)
//!   through [`write::ingest::Ingest`], which applies each update to the
//!   same `JobState`, keeping it in the hot store between updates.
//! - **Read path** — HTTP ([`http`]: routes, `http/edge.rs` for request ids
//!   and logs, `http/auth.rs` + `http/tokens.rs` for bearer tokens and
//!   scopes, `http/job_token.rs` for end users' signed one-job read
//!   tokens, `http/client.rs` for who a client is (behind
//!   `TRUSTED_PROXIES` too), `http/limit.rs` for the per-client rate limit,
//!   `http/respond.rs` for ETags) -> [`read::ProgressReader`]
//!   (`read/reader.rs`) -> response cache ([`read::cache`]) -> hot store ->
//!   archive fallback -> envelope ([`read::envelope`]); what cannot be
//!   answered is a [`read::ReadError`], mapped to its status in one place.
//!   The dashboard (`web/`, embedded and served by
//!   `http/routes/dashboard.rs`) is one more client of the same routes.
//!
//! - **Live push** — [`push`]: the write script publishes each stored
//!   record (by sharded pub/sub on a Redis Cluster, `push/sharded.rs`);
//!   every API instance's subscription (health-checked) feeds its hub,
//!   which feeds the event streams (`http/routes/events.rs`); a stream's
//!   slot lives in its response body (`push/slots.rs`), and one deadline
//!   set per instance announces jobs that go silent (`push/stalls.rs`).
//!
//! Shared below both:
//!
//! - [`domain`]: the types that cannot hold bad values (`JobId`, status and
//!   its rank, the progress record and its stored form, schedules,
//!   [`domain::Source`]).
//! - [`store`]: the [`store::HotStore`] and [`store::Archive`] interfaces and
//!   their implementations, a room for each kind: `store/hot/` (Redis, one
//!   node or a cluster, and, with nothing installed, the in-process store)
//!   and `store/archive/` (PostgreSQL and SQLite, the same files in each),
//!   picked by `config/stores.rs`; one contract suite (`tests/contract/`)
//!   runs against each; [`store::keys`] documents the Redis key layout;
//!   every store call runs through one guard (`store/guard.rs`: timeout,
//!   error kind, and the circuit breaker of [`store::breaker`], one per
//!   master on a Redis Cluster).
//! - [`notify`]: signed webhooks (Standard Webhooks) on status changes
//!   and stalls: subscriptions from `WEBHOOKS_FILE`, events written to
//!   the archive's outbox ([`store::Outbox`]) in the transaction of the
//!   change, a delivery loop per API instance that retries on a fixed
//!   schedule and connects only to checked addresses.
//! - [`cli`]: `job-progress watch` and `ls`, terminal clients of the read
//!   path (the event stream, with polling as fallback).
//! - [`demo`]: `job-progress demo`, the server on the embedded stores with
//!   simulated campaigns written through the `ProgressWriter`.
//! - [`outbound`]: the one HTTP client for calls to other servers (the
//!   terminal commands): rustls with `ring`, the system's roots plus
//!   an optional CA bundle.
//! - [`backoff`]: the one retry policy (a first wait doubling to a cap)
//!   of the flusher, the ingest's checkpoints, the bus and `watch`.
//! - [`config`] (command line and environment), [`telemetry`] (logs),
//!   [`metrics`] (Prometheus: every metric's name in `metrics/names.rs`,
//!   a server's own series, the store and writer series of the process),
//!   [`error`] (error policy), [`startup`] (building the server).
//!
//! In code the two stores are the *hot store* (Redis, or the in-process
//! store) and the *archive* (PostgreSQL, or SQLite); `redis` and
//! `database` are only their names on the wire.

pub mod backoff;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod outbound;
pub mod push;
pub mod read;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod write;
