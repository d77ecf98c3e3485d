//! What a job written over HTTP keeps in the hot store beside its record,
//! between two updates: its writer's state, when it was last
//! checkpointed and whether the archive is known to hold its status.
//! Encoded with postcard (a compact binary serde format) and a leading
//! format byte, so a later format can tell old values apart.

use chrono::{DateTime, Utc};

use crate::{
    domain::JobStatus,
    write::state::{Saved, SavedV2},
};

/// The format byte in front of every value. 4: the mark says whether its
/// status's commit was heard (a staged job carries its kind's step times
/// since 3; the prior of a job with a total is the estimator's since 2).
/// Values of formats 3 and 2 still decode, their marks as confirmed (what
/// they marked was either committed or unmarked when it was not); one of
/// format 1 decodes as none, and its job's estimate starts afresh.
const FORMAT: u8 = 4;

/// What an encoded state is given room for up front: more than most
/// take (a few hundred bytes: the estimator's window and chunk samples).
const ENCODED_ROOM: usize = 1024;

/// The format before the mark's confirmation, still read.
const FORMAT_V3: u8 = 3;

/// The format before the kind's step times, still read.
const FORMAT_V2: u8 = 2;

/// The state kept beside a job's record: the writer's, and its ledger.
/// While an update runs, the writer's state is out in a `JobState` and
/// the ledger travels alone (`apply.rs`); the two meet again to be stored.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Stored {
    /// The estimator and its clock.
    pub(super) job: Saved,
    /// The declaration's chunking and the checkpoint mark. (postcard lays
    /// out a nested struct's fields as if they were this one's: format 4
    /// is as it was before they were gathered here.)
    pub(super) ledger: Ledger,
}

/// What the stored state keeps besides the writer's: the declared shape's
/// chunking, when the job was last checkpointed and whether the archive
/// is known to hold its status.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Ledger {
    /// The declared shape's chunking, which the record does not carry:
    /// repeating a declaration is compared against it.
    pub(super) declared: Declared,
    /// When the archive was last sent a checkpoint (ms since the epoch),
    /// and of which status: the mark.
    pub(super) checkpointed: Option<(i64, JobStatus)>,
    /// Whether the archive is known to have committed the marked status.
    /// A write whose answer waits for its commit stores `false`, and sets
    /// it once the commit is heard: should that write fail after the hot
    /// store took it (a timeout), or its commit not come in time, the next
    /// update still finds the status unconfirmed and waits for it.
    pub(super) confirmed: bool,
}

/// [`Stored`] as format 3 laid it out.
#[derive(Debug, serde::Deserialize)]
struct StoredV3 {
    job: Saved,
    declared: Declared,
    checkpointed: Option<(i64, JobStatus)>,
}

impl From<StoredV3> for Stored {
    fn from(old: StoredV3) -> Self {
        Stored {
            job: old.job,
            ledger: Ledger {
                declared: old.declared,
                checkpointed: old.checkpointed,
                confirmed: true,
            },
        }
    }
}

/// [`Stored`] as format 2 laid it out.
#[derive(Debug, serde::Deserialize)]
struct StoredV2 {
    job: SavedV2,
    declared: Declared,
    checkpointed: Option<(i64, JobStatus)>,
}

/// A format-2 value steps up to format 3 (its job gains the kind's step
/// times, none), and from there to the current one.
impl From<StoredV2> for Stored {
    fn from(old: StoredV2) -> Self {
        Stored::from(StoredV3 {
            job: old.job.into(),
            declared: old.declared,
            checkpointed: old.checkpointed,
        })
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
        // Room for a typical state at once: encoding it was a tenth of an
        // update's CPU on the embedded stores, much of it growing the
        // buffer a few bytes at a time (BENCHMARKS.md, "Ingest on the
        // embedded stores").
        let mut bytes = Vec::with_capacity(ENCODED_ROOM);
        bytes.push(FORMAT);
        postcard::to_extend(self, bytes)
    }

    /// The stored state, or `None` (logged) when it cannot be read: the job
    /// then goes on with a fresh estimator rather than failing.
    pub(super) fn decode(bytes: &[u8]) -> Option<Self> {
        let decoded = match bytes.split_first() {
            Some((&FORMAT, rest)) => postcard::from_bytes(rest).map_err(|err| err.to_string()),
            Some((&FORMAT_V3, rest)) => postcard::from_bytes::<StoredV3>(rest)
                .map(Stored::from)
                .map_err(|err| err.to_string()),
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
}

impl Ledger {
    /// A job's first ledger: nothing checkpointed yet.
    pub(super) fn new(declared: Declared) -> Self {
        Ledger {
            declared,
            checkpointed: None,
            confirmed: false,
        }
    }

    /// Whether `status` is not known to be in the archive (not marked, or
    /// marked but its commit not heard): a status change, whose answer
    /// waits for its commit.
    pub(super) fn status_change(&self, status: JobStatus) -> bool {
        !(self.confirmed && matches!(self.checkpointed, Some((_, seen)) if seen == status))
    }

    /// Marks a checkpoint of `status` sent at `at` (ms since the epoch);
    /// `awaited`: its update waits for the commit, so the mark stays
    /// unconfirmed until the commit is heard (`commit.rs`). (A checkpoint
    /// not awaited is of a status confirmed already.)
    pub(super) fn mark(&mut self, at: i64, status: JobStatus, awaited: bool) {
        self.checkpointed = Some((at, status));
        self.confirmed = !awaited;
    }

    /// Whether the mark is of `status` and still waits for its commit to
    /// be heard.
    pub(super) fn unconfirmed(&self, status: JobStatus) -> bool {
        !self.confirmed && matches!(self.checkpointed, Some((_, seen)) if seen == status)
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
        let mut ledger = Ledger::new(Declared::default());
        ledger.mark(0, JobStatus::InProgress, false);
        let stored = Stored {
            job: state.saved(),
            ledger,
        };
        stored.encode().unwrap()
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
        let back = Stored::decode(&stored(&leaning)).expect("format 4 reads back");
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
        assert_eq!(stored.ledger.declared.chunk_size, Some(500));
        assert_eq!(
            stored.ledger.checkpointed,
            Some((1_700_000_000_500, JobStatus::InProgress))
        );
        assert!(
            stored.ledger.confirmed,
            "its mark was committed or taken back"
        );
        assert!(Stored::decode(&[1, 0, 0]).is_none(), "format 1 does not");
    }

    #[test]
    fn a_state_of_format_3_reads_with_its_mark_confirmed() {
        let state = JobState::on_wall_clock(
            ProgressRecord::new(JobId::parse("j").unwrap(), JobStatus::InProgress, Some(10)),
            SHAPE,
        );
        // Format 3's layout: format 4's without the confirmation.
        let old = (
            state.saved(),
            Declared::default(),
            Some((1_700_000_000_500i64, JobStatus::InProgress)),
        );
        let mut bytes = vec![FORMAT_V3];
        bytes.extend(postcard::to_allocvec(&old).unwrap());
        let stored = Stored::decode(&bytes).expect("format 3 reads");
        assert!(stored.ledger.confirmed);
        assert!(!stored.ledger.status_change(JobStatus::InProgress));
    }

    #[test]
    fn a_status_marked_but_not_confirmed_is_still_a_status_change() {
        let state = JobState::on_wall_clock(
            ProgressRecord::new(JobId::parse("j").unwrap(), JobStatus::InProgress, Some(10)),
            SHAPE,
        );
        let mut ledger = Ledger::new(Declared::default());
        assert!(ledger.status_change(JobStatus::InProgress), "never sent");
        ledger.mark(1, JobStatus::InProgress, true);
        let stored = Stored {
            job: state.saved(),
            ledger: ledger.clone(),
        };
        let back = Stored::decode(&stored.encode().unwrap()).unwrap().ledger;
        assert!(back.unconfirmed(JobStatus::InProgress));
        assert!(back.status_change(JobStatus::InProgress), "sent, not heard");
        ledger.confirmed = true;
        assert!(!ledger.status_change(JobStatus::InProgress), "heard");
        assert!(ledger.status_change(JobStatus::Completed), "another status");
        ledger.mark(2, JobStatus::InProgress, false);
        assert!(
            !ledger.status_change(JobStatus::InProgress),
            "a count checkpoint keeps it"
        );
    }
}
