//! When a job ends, the archive keeps what the hot store will let go of
//! (a [`JobTail`]: the last 100 log lines and the progress history
//! downsampled to 200 points), so a failed job's page still shows why and
//! how it ran after its record's TTL. Both write paths call [`keep`] once
//! the job's final checkpoint has committed (the tail's row hangs off the
//! checkpoint's).
//!
//! Best effort, off the answer's path: a tail that cannot be kept is
//! logged and the job's final state is unaffected. Lines a worker writes
//! after the job ended stay in the hot store only.

use crate::{
    domain::{ARCHIVED_LINES, JobId, JobTail},
    error::error_chain,
    store::{Archive, HotStore},
};

/// Copies the job's log tail and downsampled history from `hot` to
/// `archive`; nothing when it has neither.
pub(crate) async fn keep(hot: &dyn HotStore, archive: &dyn Archive, id: &JobId) {
    let most = u32::try_from(ARCHIVED_LINES).unwrap_or(u32::MAX);
    let read = async {
        Ok::<_, crate::store::StoreError>((hot.log_tail(id, most).await?, hot.history(id).await?))
    };
    let tail = match read.await {
        Ok((lines, samples)) => JobTail::of(lines, &samples),
        Err(err) => {
            tracing::warn!(job_id = %id, error = %error_chain(&err), "cannot read the finished job's log and history to archive them");
            return;
        }
    };
    if tail.is_empty() {
        return;
    }
    if let Err(err) = archive.keep_tail(id, &tail).await {
        tracing::warn!(job_id = %id, error = %error_chain(&err), "cannot archive the finished job's log and history");
    }
}
