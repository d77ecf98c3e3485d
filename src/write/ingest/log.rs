//! Log lines written over HTTP (`POST /api/v1/jobs/{jobId}/logs`): stored
//! in the hot store beside the job's record, numbered there.

use super::{Ingest, IngestError};
use crate::domain::{JobId, NewLogLine};

impl Ingest {
    /// Appends `lines` to the job's log; returns the last line's sequence
    /// number. A job the hot store does not hold (never declared, or
    /// expired) takes no lines.
    pub async fn log(&self, id: JobId, lines: &[NewLogLine]) -> Result<u64, IngestError> {
        match self.hot.append_log(&id, lines).await {
            Ok(Some(last)) => Ok(last),
            Ok(None) => Err(IngestError::UnknownJob(id)),
            Err(err) => Err(IngestError::Unavailable(err)),
        }
    }
}
