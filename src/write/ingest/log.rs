//! Log lines written over HTTP (`POST /api/v1/jobs/{jobId}/logs`): stored
//! in the hot store beside the job's record, numbered there.

use super::{Ingest, IngestError};
use crate::domain::{JobId, NewLogLine};

impl Ingest {
    /// Appends `lines` to the job's log; returns the last line's sequence
    /// number. A job the hot store does not hold (never declared, or
    /// expired) takes no lines. With NATS as the bus, the lines are
    /// published there (a Redis store publishes them itself).
    pub async fn log(&self, id: JobId, lines: &[NewLogLine]) -> Result<u64, IngestError> {
        let last = match self.hot.append_log(&id, lines).await {
            Ok(Some(last)) => last,
            Ok(None) => return Err(IngestError::UnknownJob(id)),
            Err(err) => return Err(IngestError::Unavailable(err)),
        };
        if let Some(publisher) = &self.publisher {
            publisher.publish_lines(&id, last, lines).await;
        }
        Ok(last)
    }
}
