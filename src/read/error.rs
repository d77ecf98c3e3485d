//! [`ReadError`]: why a read has no data to answer with.

use actix_web::http::StatusCode;

use crate::{
    domain::{JobId, ScheduleId},
    error::error_chain,
    store::StoreError,
};

/// A read that cannot be answered with data. Each variant says its status;
/// the message is what the client reads, never anything internal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// 404: neither store knows the job.
    #[error(
        "job '{0}' is unknown, or its progress has expired (completed jobs are kept for a limited time)"
    )]
    JobNotFound(JobId),
    /// 404: the archive does not know the schedule.
    #[error("schedule '{0}' is unknown")]
    ScheduleNotFound(ScheduleId),
    /// 502: the hot store holds a value for the job that cannot be read,
    /// and the archive has no checkpoint to fall back on.
    #[error(
        "the progress stored for job '{0}' is not in a format this service can read, and there is no checkpoint to fall back on"
    )]
    Unreadable(JobId),
    /// 503: the store that must answer cannot. Without the archive nobody
    /// can tell "unknown" from "expired", so this is never a 404.
    #[error("progress data is temporarily unavailable; retry in a few seconds")]
    Unavailable,
}

impl ReadError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            ReadError::JobNotFound(_) | ReadError::ScheduleNotFound(_) => StatusCode::NOT_FOUND,
            ReadError::Unreadable(_) => StatusCode::BAD_GATEWAY,
            ReadError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// [`ReadError::Unavailable`], after logging the store's error with
    /// what failed (`what`): the cause goes to the log, never to the client.
    pub fn unavailable(what: &str, err: &StoreError) -> Self {
        tracing::warn!(error = %error_chain(err), "{what} failed");
        ReadError::Unavailable
    }
}

/// Logs a hot-store failure that the archive answers for (the cause to the
/// log, as [`ReadError::unavailable`] does for a failure nothing answers).
pub(super) fn warn_fallback(what: &str, err: &StoreError) {
    tracing::warn!(error = %error_chain(err), "{what} failed; falling back to the archive");
}
