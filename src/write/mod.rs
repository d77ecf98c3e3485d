//! The write path: worker code -> [`ProgressWriter`] -> Redis + PostgreSQL.
//!
//! A worker starts a job and gets a [`JobHandle`]. Recording progress on the
//! handle only changes memory, so it never waits on a store; a background
//! task per job (the flusher) copies the state out:
//!
//! - to the hot store at most once per `flush_interval` (default 1 s), but at
//!   once when the status changes, and always with the latest counts when
//!   the job completes or fails;
//! - to the archive on every status change and at most every
//!   `checkpoint_interval` (default 30 s) while counts move, through one
//!   queue per writer that sends many jobs' checkpoints in one statement.
//!
//! A store that fails is logged and retried with backoff; once it answers,
//! the latest state (not a backlog) is written. So a Redis restart in the
//! middle of a send costs seconds of progress display, never the job.
//!
//! The one wait: [`JobHandle::complete`] and [`JobHandle::fail`] return
//! once the archive has committed the job's end (or, after
//! [`COMMIT_WAIT`], with [`FinishError::NotDurable`]), since a worker that
//! hears "done" moves on and never sends it again.

//! The files, in the order data flows (each uses only the ones after it):
//!
//! | file          | holds |
//! |---------------|-------|
//! | `writer.rs`   | [`ProgressWriter`], [`JobHandle`]: what workers call |
//! | `spec.rs`     | [`JobSpec`]: what a worker declares about a job when it starts it |
//! | `ingest/`     | [`ingest::Ingest`]: the same for workers reporting over HTTP, one update at a time |
//! | `flusher.rs`  | the task that copies a job out to the stores, and its [`WriterConfig`] |
//! | `checkpoints.rs` | [`Checkpoints`]: the writer's queue of archive checkpoints, sent many to a statement |
//! | `kinds.rs`    | each kind's history of finished runs: read (cached) when a job of the kind starts, added to when one completes |
//! | `link.rs`     | the protocol between a handle and its flusher (versions, flush requests, delivery) |
//! | `state.rs`    | one job's counts, status and ETA, changed in memory |
//! | `detail.rs`   | [`Detail`]: a job's name, stage, message and metadata, taken by its state |
//! | `eta/`        | [`eta`]: the estimator behind the ETA |
//! | `error.rs`    | [`WriteError`]: input the writer refuses |

mod checkpoints;
mod detail;
mod error;
pub mod eta;
mod flusher;
pub mod ingest;
mod kinds;
mod link;
mod logs;
mod spec;
pub(crate) mod state;
mod tail;
mod writer;

pub use checkpoints::{BatchStats, COMMIT_WAIT, CheckpointBatching, Checkpoints};
pub use detail::Detail;
pub use error::{ConflictReason, WriteError};
pub use flusher::WriterConfig;
pub use kinds::{HISTORY_WAIT, KIND_TTL};
pub use link::Flushed;
pub use spec::JobSpec;
pub use writer::{FinishError, JobHandle, ProgressWriter};
