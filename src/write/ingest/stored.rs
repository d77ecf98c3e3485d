//! What a job written over HTTP keeps in the hot store beside its record,
//! between two updates: its writer's state and when it was last
//! checkpointed. Encoded with postcard (a compact binary serde format) and
//! a leading format byte, so a later format can tell old values apart.

use chrono::{DateTime, Utc};

use crate::{domain::JobStatus, write::state::Saved};

/// The format byte in front of every value. 2: the estimator also records
/// the run's profile for its kind's history; a value of format 1 decodes
/// as none, and its job's estimate starts afresh.
const FORMAT: u8 = 2;

/// The state kept beside a job's record.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Stored {
    /// The estimator and its clock.
    pub(super) job: Saved,
    /// The declared shape's chunking, which the record does not carry:
    /// repeating a declaration is compared against it.
    pub(super) declared: Declared,
    /// When the archive was last sent a checkpoint (ms since the epoch),
    /// and of which status.
    pub(super) checkpointed: Option<(i64, JobStatus)>,
}

/// The parts of a declaration the record does not hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Declared {
    pub(super) chunk_size: Option<u64>,
    pub(super) pause_ms: Option<u64>,
}

impl Stored {
    pub(super) fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        let mut bytes = vec![FORMAT];
        bytes.extend(postcard::to_allocvec(self)?);
        Ok(bytes)
    }

    /// The stored state, or `None` (logged) when it cannot be read: the job
    /// then goes on with a fresh estimator rather than failing.
    pub(super) fn decode(bytes: &[u8]) -> Option<Self> {
        let decoded = match bytes.split_first() {
            Some((&FORMAT, rest)) => postcard::from_bytes(rest).map_err(|err| err.to_string()),
            Some((format, _)) => Err(format!("unknown format {format}")),
            None => Err("empty".to_owned()),
        };
        decoded
            .inspect_err(|err| tracing::warn!(error = %err, "unreadable job state; the estimate starts afresh"))
            .ok()
    }

    /// Whether `status` is one the archive has not been sent: a status
    /// change, whose answer waits for its commit.
    pub(super) fn status_change(&self, status: JobStatus) -> bool {
        !matches!(self.checkpointed, Some((_, seen)) if seen == status)
    }

    /// Whether a checkpoint of `status` is due at `now`: at once for a
    /// status the archive has not seen, else once per `interval`.
    pub(super) fn checkpoint_due(
        &self,
        status: JobStatus,
        now: DateTime<Utc>,
        interval: std::time::Duration,
    ) -> bool {
        match self.checkpointed {
            Some((at, seen)) if seen == status => {
                let interval = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
                now.timestamp_millis().saturating_sub(at) >= interval
            }
            _ => true,
        }
    }
}
