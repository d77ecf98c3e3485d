//! # job-progress
//!
//! Tells people how far their long-running background jobs have got.
//!
//! Data takes two paths, and the modules follow them:
//!
//! - **Write path** — worker -> [`write::ProgressWriter`] -> Redis + PostgreSQL.
//!   A worker records counts on a [`write::JobHandle`]; a background task per
//!   job writes the record to the hot store (throttled) and checkpoints it to
//!   the archive; [`write::eta`] estimates the end.
//! - **Read path** — HTTP ([`http`]) -> response cache ([`read::cache`]) ->
//!   Redis -> PostgreSQL fallback -> envelope ([`read::envelope`]).
//!
//! Shared below both:
//!
//! - [`domain`]: the types that cannot hold bad values (`JobId`, status,
//!   the progress record, schedules).
//! - [`store`]: the [`store::HotStore`] and [`store::Archive`] interfaces and
//!   their Redis and PostgreSQL implementations; [`store::keys`] documents
//!   the Redis key layout, [`store::breaker`] the circuit breaker that skips
//!   a failing store.
//! - [`config`] (command line and environment), [`telemetry`] (logs),
//!   [`error`] (error policy), [`startup`] (building the server).

pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod read;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod write;
