//! Log lines written over HTTP (`POST /api/v1/jobs/{jobId}/logs`): stored
//! in the hot store beside the job's record, numbered there.

use super::{Ingest, IngestError};
use crate::domain::{JobId, LogBatch, NewLogLine, numbered};

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
        if let Some(publisher) = &self.publisher
            && !lines.is_empty()
        {
            // At most 100 lines of 2 KiB: all of them are still kept, so
            // they are numbered up to `last`.
            let first = last + 1 - lines.len() as u64;
            let numbered: Vec<String> = (first..)
                .zip(lines)
                .map(|(seq, line)| numbered(seq, &line.to_unnumbered_json()))
                .collect();
            publisher
                .publish_log(LogBatch::payload(&id, &numbered))
                .await;
        }
        Ok(last)
    }
}
