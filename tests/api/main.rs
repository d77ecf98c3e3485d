//! Integration tests: the real app, real Redis, real PostgreSQL.
//!
//! What the tests share (spawning the app, HTTP and token helpers, local
//! servers to break, the cluster harness, the SSE and WebDriver clients)
//! is the `support` crate, `tests/support/`.

/// The server binary cargo built for these tests (the support crate's
/// `ServerProcess` runs it).
const SERVER_BINARY: &str = env!("CARGO_BIN_EXE_job-progress");

mod auth;
mod cache;
mod cancel;
mod checkpoints;
mod children;
mod cli;
mod clients;
mod cluster;
mod config;
mod conflicts;
mod dashboard;
mod dashboard_cancel;
mod dashboard_children;
mod dashboard_fields;
mod dashboard_logs;
mod dashboard_pages;
mod dashboard_webhooks;
mod details;
mod durability;
mod embedded;
mod errors;
mod events;
mod fallback;
mod faults;
mod filters;
mod finished;
mod health;
mod ingest;
mod kinds;
mod limits;
mod log_events;
mod logs;
mod metrics;
mod objects;
mod page_events;
mod progress;
mod proxies;
mod read_tokens;
mod retention;
mod schedules;
mod stalls;
mod stream_slots;
mod webhook_admin;
mod webhooks;
mod writer;
