//! Prometheus metrics, served at `GET /metrics` (`http/routes/metrics.rs`).
//!
//! Two registries, by who owns what is measured:
//!
//! - [`ServerMetrics`]: one per API server, in its [`AppState`]: HTTP
//!   requests (the edge middleware, `http/edge.rs`), response cache
//!   lookups ([`read::cache`]), answers by source (`http/respond.rs`),
//!   active jobs ([`read::ProgressReader`]), open streams ([`push::Hub`],
//!   read at each scrape), and updates received by the HTTP write API.
//! - [`process`]: the `metrics` facade's global recorder, for the library
//!   parts any program may run: store calls and breakers
//!   (`store/guard.rs`, the one place every store call passes) and the
//!   writer (`write/flusher.rs`).
//!
//! [`names`] spells every metric once, with its help text and labels;
//! `docs/operations.md`'s "Metrics" section lists them.
//!
//! Why not one global registry: the facade's recorder is process-wide, and
//! a test process runs many servers at once; a server of its own lets a
//! test assert exact counts of its own requests. The facade's
//! `with_local_recorder` cannot help, since it only covers synchronous
//! code on one thread, and requests run on actix's worker threads.
//!
//! [`AppState`]: crate::http::AppState
//! [`read::cache`]: crate::read::cache
//! [`read::ProgressReader`]: crate::read::ProgressReader
//! [`push::Hub`]: crate::push::Hub

pub mod names;
pub mod process;
mod server;

pub use server::{IngestOutcome, ServerMetrics, UPKEEP_EVERY};
