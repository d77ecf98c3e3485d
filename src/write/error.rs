//! [`WriteError`]: input the writer refuses, and [`ConflictReason`]: the
//! name a client branches on when an update conflicts with a job's state.

use crate::domain::{DetailError, JobId, JobStatus};

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
    /// A stage that is none of the steps the job declared.
    #[error("stage {stage:?} is not one of the job's steps ({})", steps.join(", "))]
    UnknownStage {
        /// The stage asked for.
        stage: String,
        /// The job's steps.
        steps: Vec<String>,
    },
    /// A stage the job has already passed.
    #[error("the job is past stage {stage:?} (it is at {current:?}); steps never go back")]
    StageBackwards {
        /// The stage asked for.
        stage: String,
        /// The step the job is at.
        current: String,
    },
    /// An update of an attempt that is over: the job has run again since.
    #[error("attempt {asked} of this job is over: it is at attempt {current}")]
    StaleAttempt {
        /// The attempt the update names.
        asked: u32,
        /// The job's attempt.
        current: u32,
    },
    /// A report of an attempt not yet declared.
    #[error(
        "attempt {asked} of this job was never declared (it is at attempt {current}): declare it with PUT first"
    )]
    UnknownAttempt {
        /// The attempt the update names.
        asked: u32,
        /// The job's attempt.
        current: u32,
    },
    /// A value over its limit once combined with the job's (metadata
    /// merged past its size): a bad request, named by its field.
    #[error("invalid body: {0}")]
    Invalid(#[from] DetailError),
}

impl WriteError {
    /// Why the update conflicts with the job, as a client may branch on
    /// it (the HTTP API's `data.reason` of a 409).
    pub fn reason(&self) -> ConflictReason {
        match self {
            WriteError::ExceedsTotal { .. } => ConflictReason::ExceedsTotal,
            WriteError::CountsDecreased { .. } => ConflictReason::CountsDecreased,
            WriteError::ChunkOutOfRange { .. } => ConflictReason::ChunkOutOfRange,
            WriteError::Finished { .. } => ConflictReason::Finished,
            // A status that would go back comes from an update older than
            // the stored state: as stale as one the store refused.
            WriteError::Backwards { .. } => ConflictReason::Stale,
            WriteError::UnknownStage { .. } => ConflictReason::UnknownStage,
            WriteError::StaleAttempt { .. } => ConflictReason::StaleAttempt,
            WriteError::UnknownAttempt { .. } => ConflictReason::UnknownAttempt,
            // A step that would go back, like a status, comes from an
            // update older than the stored state.
            WriteError::StageBackwards { .. } => ConflictReason::Stale,
            // Answered 400, not 409, by the HTTP API: never a conflict.
            WriteError::Invalid(_) => ConflictReason::Invalid,
        }
    }
}

/// Why an update conflicts with a job's state, by a name that stays put
/// (`snake_case` on the wire). More may be added: a client treats a
/// reason it does not know as an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictReason {
    /// A later state of the job is stored already (written past this
    /// update, or a status that would go back); the update is not needed.
    Stale,
    /// Counts lower than the stored ones: a report older than the stored
    /// state, or a worker that counts wrong.
    CountsDecreased,
    /// The job has completed or failed; nothing more can change it.
    Finished,
    /// More targets processed than the job's total.
    ExceedsTotal,
    /// A chunk number past the job's chunk count.
    ChunkOutOfRange,
    /// A repeated declaration differs in what cannot change (chunking,
    /// pause, schedule, kind, steps).
    Redeclared,
    /// A stage that is none of the steps the job declared.
    UnknownStage,
    /// An update of an earlier attempt: the job has run again since.
    StaleAttempt,
    /// A report of an attempt not yet declared.
    UnknownAttempt,
    /// A declaration naming a parent job not declared (yet).
    UnknownParent,
    /// Not a conflict: input refused once combined with the job's (the
    /// HTTP API answers it 400 and never shows this name).
    Invalid,
}

impl ConflictReason {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictReason::Stale => "stale",
            ConflictReason::CountsDecreased => "counts_decreased",
            ConflictReason::Finished => "finished",
            ConflictReason::ExceedsTotal => "exceeds_total",
            ConflictReason::ChunkOutOfRange => "chunk_out_of_range",
            ConflictReason::Redeclared => "redeclared",
            ConflictReason::UnknownStage => "unknown_stage",
            ConflictReason::StaleAttempt => "stale_attempt",
            ConflictReason::UnknownAttempt => "unknown_attempt",
            ConflictReason::UnknownParent => "unknown_parent",
            ConflictReason::Invalid => "invalid",
        }
    }
}

impl std::fmt::Display for ConflictReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ConflictReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}
