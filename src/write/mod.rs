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
//!   `checkpoint_interval` (default 30 s) while counts move.
//!
//! A store that fails is logged and retried with backoff; once it answers,
//! the latest state (not a backlog) is written. So a Redis restart in the
//! middle of a send costs seconds of progress display, never the job.

pub mod eta;
mod flusher;
mod state;
mod writer;

pub use writer::{Flushed, JobHandle, JobSpec, ProgressWriter, WriterConfig};

use crate::domain::{JobId, JobStatus};

/// Input the writer refuses. Nothing is changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// More targets processed than the job has.
    #[error("{processed} targets processed is more than the job's total of {total}")]
    ExceedsTotal {
        /// The processed count asked for.
        processed: u64,
        /// The job's total.
        total: u64,
    },
    /// Absolute counts lower than the ones already recorded.
    #[error(
        "counts may not go down: succeeded {} -> {}, failed {} -> {}",
        succeeded.0, succeeded.1, failed.0, failed.1
    )]
    CountsDecreased {
        /// (recorded, asked) successes.
        succeeded: (u64, u64),
        /// (recorded, asked) failures.
        failed: (u64, u64),
    },
    /// A chunk number past the job's chunk count.
    #[error("chunk {chunk} is past the job's {total} chunks")]
    ChunkOutOfRange {
        /// The chunk asked for.
        chunk: u64,
        /// The job's chunk count.
        total: u64,
    },
    /// The job has completed or failed; it cannot change any more.
    #[error("job {job_id} has already {status}")]
    Finished {
        /// The job.
        job_id: JobId,
        /// `completed` or `failed`.
        status: JobStatus,
    },
    /// A status change that goes back in the life cycle.
    #[error("a job cannot go back from {from} to {to}")]
    Backwards {
        /// The current status.
        from: JobStatus,
        /// The status asked for.
        to: JobStatus,
    },
}
