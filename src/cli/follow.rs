//! What a watcher concludes from the records it sees: which one is the
//! latest, and when the watch is over.

use std::time::{Duration, Instant};

use crate::domain::{JobStatus, ProgressRecord};

/// How a watch ended: its exit code says it to the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The job completed (exit 0).
    Completed,
    /// The job failed (exit 1).
    Failed,
    /// The server does not know the job (exit 2).
    Unknown,
    /// The job was stalled for longer than `--timeout` (exit 2).
    Stalled,
    /// The API could not be asked: unreachable for too long, a refused
    /// token, an answer that makes no sense (exit 3).
    NoAnswer,
    /// The job was cancelled on request (exit 4).
    Cancelled,
}

impl Verdict {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Verdict::Completed => 0,
            Verdict::Failed => 1,
            Verdict::Unknown | Verdict::Stalled => 2,
            Verdict::NoAnswer => 3,
            Verdict::Cancelled => 4,
        }
    }
}

/// The latest record seen, and how long the job has been stalled.
#[derive(Debug)]
pub struct Follow {
    stall_timeout: Duration,
    latest: Option<ProgressRecord>,
    /// When this watcher first saw the job stalled (reset when a record
    /// says it moves again). Timed on this machine's clock, so a skewed
    /// clock cannot shorten or stretch `--timeout`.
    stalled_since: Option<Instant>,
}

impl Follow {
    /// A watcher that gives up on a job stalled for `stall_timeout`.
    pub fn new(stall_timeout: Duration) -> Self {
        Self {
            stall_timeout,
            latest: None,
            stalled_since: None,
        }
    }

    /// The latest record.
    pub fn latest(&self) -> Option<&ProgressRecord> {
        self.latest.as_ref()
    }

    /// How long the job has been seen stalled.
    pub fn stalled_for(&self) -> Option<Duration> {
        self.stalled_since.map(|since| since.elapsed())
    }

    /// Takes `record` if it is not older than the latest one; `true` if it
    /// changed what is known (so it should be shown).
    pub fn see(&mut self, record: ProgressRecord) -> bool {
        let record = record.normalized();
        if let Some(latest) = &self.latest
            && (!supersedes(&record, latest) || *latest == record)
        {
            return false;
        }
        if record.stalled && record.status.is_active() {
            self.stalled_since.get_or_insert_with(Instant::now);
        } else {
            self.stalled_since = None;
        }
        self.latest = Some(record);
        true
    }

    /// Whether the watch is over, and how.
    pub fn verdict(&self) -> Option<Verdict> {
        match self.latest.as_ref()?.status {
            JobStatus::Completed => Some(Verdict::Completed),
            // A status this release does not know is final, and not a
            // success it can vouch for.
            JobStatus::Failed | JobStatus::Other(_) => Some(Verdict::Failed),
            JobStatus::Cancelled => Some(Verdict::Cancelled),
            JobStatus::Preparing | JobStatus::InProgress => self
                .stalled_for()
                .filter(|stalled| *stalled >= self.stall_timeout)
                .map(|_| Verdict::Stalled),
        }
    }
}

/// Whether `new` may replace `old`. Versions decide where both carry one;
/// a record without one (read from the archive) only by how far the job
/// has got, so a stream and polls interleaving never move the display
/// back. Equal versions pass: a re-read can flip `stalled`.
fn supersedes(new: &ProgressRecord, old: &ProgressRecord) -> bool {
    match (new.version, old.version) {
        (0, _) | (_, 0) => {
            (new.status.rank(), new.current_sent_count)
                >= (old.status.rank(), old.current_sent_count)
        }
        (new, old) => new >= old,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::JobId;

    fn record(version: u64, status: JobStatus, sent: u64) -> ProgressRecord {
        let mut record = ProgressRecord::new(JobId::parse("j").unwrap(), status, Some(100));
        record.version = version;
        record.success_count = sent;
        record
    }

    #[test]
    fn older_records_and_repeats_change_nothing() {
        let mut follow = Follow::new(Duration::from_secs(60));
        assert!(follow.see(record(5, JobStatus::InProgress, 10)));
        assert!(
            !follow.see(record(4, JobStatus::InProgress, 20)),
            "older version"
        );
        assert!(
            !follow.see(record(5, JobStatus::InProgress, 10)),
            "the same"
        );
        assert!(
            !follow.see(record(0, JobStatus::InProgress, 5)),
            "a stale checkpoint"
        );
        assert!(
            follow.see(record(0, JobStatus::InProgress, 30)),
            "a checkpoint further on"
        );
        assert_eq!(follow.latest().unwrap().current_sent_count, 30);
        assert_eq!(follow.verdict(), None);
    }

    #[test]
    fn the_end_decides_the_verdict() {
        let mut follow = Follow::new(Duration::from_secs(60));
        follow.see(record(9, JobStatus::Completed, 100));
        assert_eq!(follow.verdict(), Some(Verdict::Completed));
        let mut follow = Follow::new(Duration::from_secs(60));
        follow.see(record(9, JobStatus::Failed, 3));
        assert_eq!(follow.verdict().map(Verdict::code), Some(1));
    }

    #[test]
    fn a_stall_ends_the_watch_only_after_the_timeout_and_resets_when_the_job_moves() {
        let mut stalled = record(5, JobStatus::InProgress, 10);
        stalled.stalled = true;

        let mut patient = Follow::new(Duration::from_secs(3600));
        assert!(patient.see(stalled.clone()));
        assert!(patient.stalled_for().is_some());
        assert_eq!(patient.verdict(), None);
        assert!(patient.see(record(6, JobStatus::InProgress, 11)));
        assert_eq!(patient.stalled_for(), None, "moving again");

        let mut impatient = Follow::new(Duration::ZERO);
        impatient.see(stalled);
        assert_eq!(impatient.verdict(), Some(Verdict::Stalled));
        assert_eq!(Verdict::Stalled.code(), 2);
    }
}
