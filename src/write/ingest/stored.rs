//! What a job written over HTTP keeps in the hot store beside its record,
//! between two updates: its writer's state and when it was last
//! checkpointed. Encoded with postcard (a compact binary serde format) and
//! a leading format byte, so a later format can tell old values apart.

use chrono::{DateTime, Utc};

use crate::{
    domain::JobStatus,
    write::state::{Saved, SavedV2},
};

/// The format byte in front of every value. 3: a staged job also carries
/// its kind's step times (the prior of a job with a total is the
/// estimator's, since 2). A value of format 2 still decodes (as a job
/// without them); one of format 1 decodes as none, and its job's estimate
/// starts afresh.
const FORMAT: u8 = 3;

/// The format before the kind's step times, still read.
const FORMAT_V2: u8 = 2;

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

/// [`Stored`] as format 2 laid it out.
#[derive(Debug, serde::Deserialize)]
struct StoredV2 {
    job: SavedV2,
    declared: Declared,
    checkpointed: Option<(i64, JobStatus)>,
}

impl From<StoredV2> for Stored {
    fn from(old: StoredV2) -> Self {
        Stored {
            job: old.job.into(),
            declared: old.declared,
            checkpointed: old.checkpointed,
        }
    }
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
            Some((&FORMAT_V2, rest)) => postcard::from_bytes::<StoredV2>(rest)
                .map(Stored::from)
                .map_err(|err| err.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{JobId, JobKind, ProgressRecord},
        write::{
            eta::{Estimator, JobShape, KindHistory},
            state::JobState,
        },
    };

    const SHAPE: JobShape = JobShape {
        total: 100_000,
        chunk_size: Some(500),
        pause: Some(std::time::Duration::from_millis(500)),
    };

    /// Ten finished runs of a kind whose second half is slower.
    fn history() -> KindHistory {
        KindHistory::of((0..10u64).map(|k| {
            let mut estimator = Estimator::new(SHAPE);
            let mut t = 0;
            for chunk in 1..=200u64 {
                t += if chunk <= 80 { 1_500 } else { 3_000 } + (chunk * 7919 + k * 31) % 400;
                estimator.observe(t, chunk * 500);
            }
            estimator.run_summary().expect("finished")
        }))
    }

    fn stored(state: &JobState) -> Vec<u8> {
        Stored {
            job: state.saved(),
            declared: Declared::default(),
            checkpointed: Some((0, JobStatus::InProgress)),
        }
        .encode()
        .unwrap()
    }

    #[test]
    fn the_kinds_prior_adds_at_most_200_bytes_to_a_jobs_stored_state() {
        let mut record = ProgressRecord::new(
            JobId::parse("j").unwrap(),
            JobStatus::InProgress,
            Some(SHAPE.total),
        );
        record.kind = Some(JobKind::parse("import").unwrap());
        let plain = JobState::on_wall_clock(record, SHAPE);
        let mut leaning = JobState::resume(plain.record.clone(), plain.saved());
        leaning.lean_on(&history());
        let (without, with) = (stored(&plain).len(), stored(&leaning).len());
        assert!(with > without, "the prior is stored");
        assert!(with <= without + 200, "{with} vs {without} bytes");
        let back = Stored::decode(&stored(&leaning)).expect("format 3 reads back");
        assert_eq!(
            back.job.estimator().prior(),
            leaning.saved().estimator().prior()
        );
    }

    #[test]
    fn a_state_of_format_2_still_reads() {
        let estimator = Estimator::new(SHAPE);
        // Format 2's layout: the writer's state without the kind's step
        // times, the declaration, the last checkpoint.
        let old = (
            (estimator, 1_700_000_000_000i64, Some(1_700_000_001_000i64)),
            Declared {
                chunk_size: Some(500),
                pause_ms: Some(500),
            },
            Some((1_700_000_000_500i64, JobStatus::InProgress)),
        );
        let mut bytes = vec![FORMAT_V2];
        bytes.extend(postcard::to_allocvec(&old).unwrap());
        let stored = Stored::decode(&bytes).expect("format 2 reads");
        assert_eq!(stored.declared.chunk_size, Some(500));
        assert_eq!(
            stored.checkpointed,
            Some((1_700_000_000_500, JobStatus::InProgress))
        );
        assert!(Stored::decode(&[1, 0, 0]).is_none(), "format 1 does not");
    }
}
