//! [`IngestError`]: why an update taken over HTTP was refused, each
//! variant with the status its answer carries.

use crate::{domain::JobId, store::StoreError, write::WriteError};

/// Why an update was not taken. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// 404: the job was never declared (or expired long ago).
    #[error("job {0} is unknown: declare it first with PUT /api/v1/jobs/{0}")]
    UnknownJob(JobId),
    /// 409: the update contradicts the job's state (counts going down, a
    /// finished job, a status going back, more processed than the job's
    /// total, a chunk past its last). Well-formed input can meet any of
    /// these, depending on the job: so a conflict, not a bad request.
    #[error(transparent)]
    Refused(#[from] WriteError),
    /// 409: a repeated declaration differs in what cannot change.
    #[error("job {job_id} was declared with {field} {declared}; a declaration cannot change it")]
    Redeclared {
        /// The job.
        job_id: JobId,
        /// The field that differs (its JSON name).
        field: &'static str,
        /// What it was declared with.
        declared: String,
    },
    /// 400: the declared parent is a grandchild already (jobs nest at
    /// most two deep).
    #[error("job {job_id} cannot be a child of the parentJobId given: {reason}")]
    Parent {
        /// The job declared.
        job_id: JobId,
        /// What is wrong with its parent.
        reason: String,
    },
    /// 409: the declared parent is not known (yet): whether it is depends
    /// on what was declared before, not on the input alone.
    #[error("job {job_id} names parent job {parent}, which is unknown: declare the parent first")]
    UnknownParent {
        /// The job declared.
        job_id: JobId,
        /// The parent it names.
        parent: JobId,
    },
    /// 409 `unknown_parent`: the job names itself as its parent (a parent
    /// is declared before its children, and no job before itself).
    #[error("job {0} cannot be its own parent")]
    OwnParent(JobId),
    /// 409: the hot store holds a later state of the job, written past
    /// this API (by a worker's own `ProgressWriter`).
    #[error("the stored state of job {0} is ahead of this update")]
    Stale(JobId),
    /// 503: other updates of this job kept coming first; retry.
    #[error("job {0} is being updated by too many requests at once; retry")]
    Contended(JobId),
    /// 503: the hot store cannot take writes now; retry.
    #[error("progress cannot be stored right now")]
    Unavailable(#[source] StoreError),
    /// 503: the status change is in the hot store, but the archive has not
    /// committed it within [`COMMIT_WAIT`](crate::write::COMMIT_WAIT). It
    /// is still being tried; the same update, retried, answers 2xx once it
    /// is committed.
    #[error(
        "job {0}'s change is taken but not yet durable (the archive has not committed it); retry the same request"
    )]
    NotDurable(JobId),
}
