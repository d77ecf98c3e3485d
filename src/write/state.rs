//! One job's state as the worker sees it: counts, chunk, status, ETA.
//! Changing it is a memory operation; the flusher copies it out to the
//! stores.

use std::time::Instant;

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};

use super::{
    error::WriteError,
    eta::{Estimator, JobShape, KindHistory, RunSummary, STEP_RUNS_BYTES, StepRuns, StepTime},
};
use crate::{
    domain::{
        EndRange, JobKind, JobStatus, ProgressRecord, ResultUrl, StepState, percentage, steps,
    },
    store::KindRun,
};

/// The current time at millisecond precision: what JavaScript dashboards
/// parse, and what PostgreSQL and Redis both hold exactly, so a record reads
/// the same (and has the same ETag) from either store.
pub(crate) fn now() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::milliseconds(1))
        .unwrap_or(now)
}

/// What a job's elapsed time (the estimator's clock) is measured from.
#[derive(Debug, Clone, Copy)]
enum Clock {
    /// A job held by one [`JobHandle`](super::JobHandle): the monotonic
    /// clock of its process, which wall-clock adjustments cannot move.
    Monotonic(Instant),
    /// A job written over HTTP, whose next update may reach any API
    /// instance: the wall clock since the job started, the one time every
    /// instance shares.
    Wall(DateTime<Utc>),
}

impl Clock {
    fn elapsed_ms(&self) -> u64 {
        match self {
            Clock::Monotonic(started) => {
                u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
            }
            Clock::Wall(started) => {
                u64::try_from((now() - *started).num_milliseconds()).unwrap_or(0)
            }
        }
    }
}

/// A stored record without what [`JobState::snapshot`] derives afresh,
/// so an estimate that no longer holds is not carried forward, and
/// without its version, which the hot store gives the next write.
fn without_estimate(mut record: ProgressRecord) -> ProgressRecord {
    record.version = 0;
    record.estimated_end_at = None;
    record.estimated_end_range = None;
    record.estimated_remaining_seconds = None;
    record.rate_per_second = None;
    record.stalled = false;
    record
}

/// The state behind a [`JobHandle`](super::JobHandle), or behind one
/// update of a job written over HTTP ([`super::ingest`]).
#[derive(Debug)]
pub(crate) struct JobState {
    pub(crate) record: ProgressRecord,
    estimator: Estimator,
    /// When the job started, for the estimator.
    clock: Clock,
    /// The wall-clock time of the last observation fed to the estimator.
    last_observed: Option<DateTime<Utc>>,
    /// For a staged job (steps, no total): its kind's past step times.
    kind_steps: Option<StepRuns>,
}

/// What a job written over HTTP keeps between two updates besides its
/// record: the estimator and its clock. It travels with the job in the hot
/// store, so any instance can take the next update and estimate exactly as
/// one instance receiving them all would.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Saved {
    estimator: Estimator,
    /// `startedAt`, ms since the epoch: the estimator's time zero.
    started_ms: i64,
    last_observed_ms: Option<i64>,
    /// A staged job's kind's step times (at most [`STEP_RUNS_BYTES`]).
    kind_steps: Option<StepRuns>,
}

/// [`Saved`] as format 2 of the ingest's stored state holds it (before a
/// staged job carried its kind's step times), still read.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct SavedV2 {
    estimator: Estimator,
    started_ms: i64,
    last_observed_ms: Option<i64>,
}

#[cfg(test)]
impl Saved {
    /// The estimator as saved.
    pub(crate) fn estimator(&self) -> &Estimator {
        &self.estimator
    }
}

impl From<SavedV2> for Saved {
    fn from(old: SavedV2) -> Self {
        Saved {
            estimator: old.estimator,
            started_ms: old.started_ms,
            last_observed_ms: old.last_observed_ms,
            kind_steps: None,
        }
    }
}

impl JobState {
    /// A job that starts now.
    pub(crate) fn new(record: ProgressRecord, shape: JobShape) -> Self {
        Self::started_at(record, shape, Instant::now())
    }

    /// A job that started at `started` (tests pass a time in the past
    /// rather than sleep).
    fn started_at(record: ProgressRecord, shape: JobShape, started: Instant) -> Self {
        Self {
            record,
            estimator: Estimator::new(shape),
            clock: Clock::Monotonic(started),
            last_observed: None,
            kind_steps: None,
        }
    }

    /// A job written over HTTP, started at the record's `startedAt` (now
    /// when it has none) with a fresh estimator.
    pub(crate) fn on_wall_clock(mut record: ProgressRecord, shape: JobShape) -> Self {
        let started = *record.started_at.get_or_insert_with(now);
        Self {
            record: without_estimate(record),
            estimator: Estimator::new(shape),
            clock: Clock::Wall(started),
            last_observed: None,
            kind_steps: None,
        }
    }

    /// A job written over HTTP, as its last update left it.
    pub(crate) fn resume(record: ProgressRecord, saved: Saved) -> Self {
        let at = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms);
        Self {
            record: without_estimate(record),
            estimator: saved.estimator,
            clock: Clock::Wall(at(saved.started_ms).unwrap_or_else(now)),
            last_observed: saved.last_observed_ms.and_then(at),
            kind_steps: saved.kind_steps,
        }
    }

    /// What [`resume`](Self::resume) needs. A job held by a handle is
    /// saved as if it had run on the wall clock from the same start.
    pub(crate) fn saved(&self) -> Saved {
        let started = match self.clock {
            Clock::Wall(started) => started,
            Clock::Monotonic(_) => {
                let elapsed = TimeDelta::milliseconds(
                    i64::try_from(self.clock.elapsed_ms()).unwrap_or(i64::MAX),
                );
                now().checked_sub_signed(elapsed).unwrap_or_else(now)
            }
        };
        Saved {
            estimator: self.estimator.clone(),
            started_ms: started.timestamp_millis(),
            last_observed_ms: self.last_observed.map(|at| at.timestamp_millis()),
            kind_steps: self.kind_steps.clone(),
        }
    }

    /// The job's kind, when the job could still use its history: it has a
    /// kind, has not ended, and has not been given the history yet.
    pub(crate) fn wants_history(&self) -> Option<&JobKind> {
        let given = self.estimator.prior().is_some() || self.kind_steps.is_some();
        let open = !self.record.status.is_terminal();
        self.record.kind.as_ref().filter(|_| open && !given)
    }

    /// Leans on the kind's earlier runs: a job with a total gives its
    /// estimator the kind's prior, a staged job keeps the kind's times for
    /// its steps (the newest runs, at most [`STEP_RUNS_BYTES`]).
    pub(crate) fn lean_on(&mut self, history: &KindHistory) {
        if self.record.total_target_count.is_some() {
            if let Some(prior) = history.prior() {
                self.estimator.set_prior(prior);
            }
        } else if !self.record.steps.is_empty() {
            let names: Vec<&str> = self.record.steps.iter().map(|s| s.name.as_str()).collect();
            self.kind_steps = history.step_runs(&names, STEP_RUNS_BYTES);
        }
    }

    /// The run to add to the kind's history: `Some` once a job with a kind
    /// has completed, with its summary (a job with a total only when it
    /// processed all of it: one that completed early says nothing of how
    /// long the whole takes; a staged job when each step has its times).
    pub(crate) fn finished_run(&self) -> Option<(JobKind, KindRun)> {
        let record = &self.record;
        let kind = record.kind.clone()?;
        if record.status != JobStatus::Completed {
            return None;
        }
        let steps = step_times(&record.steps);
        let summary = match record.total_target_count {
            Some(_) => self.estimator.run_summary()?,
            None => {
                let steps = steps.clone()?;
                let duration = record.completed_at? - record.started_at?;
                RunSummary::staged(u64::try_from(duration.num_milliseconds()).ok()?, steps)
            }
        };
        let summary = summary.with_steps(steps.unwrap_or_default());
        let run = KindRun {
            job_id: record.job_id.clone(),
            attempt: record.attempt(),
            summary: serde_json::to_string(&summary)
                .inspect_err(
                    |err| tracing::warn!(error = %err, "a run summary that cannot be written"),
                )
                .ok()?,
        };
        Some((kind, run))
    }

    pub(super) fn ensure_open(&self) -> Result<(), WriteError> {
        if self.record.status.is_terminal() {
            return Err(WriteError::Finished {
                job_id: self.record.job_id.clone(),
                status: self.record.status,
            });
        }
        Ok(())
    }

    /// Sets absolute counts, refusing counts that go down or pass the total.
    pub(crate) fn set_counts(&mut self, succeeded: u64, failed: u64) -> Result<(), WriteError> {
        self.ensure_open()?;
        let record = &self.record;
        if succeeded < record.success_count || failed < record.failure_count {
            return Err(WriteError::CountsDecreased {
                succeeded: (record.success_count, succeeded),
                failed: (record.failure_count, failed),
            });
        }
        let processed = succeeded
            .checked_add(failed)
            .ok_or(WriteError::ExceedsTotal {
                processed: u64::MAX,
                total: record.total(),
            })?;
        if let Some(total) = record.total_target_count
            && processed > total
        {
            return Err(WriteError::ExceedsTotal { processed, total });
        }
        if self.record.status == JobStatus::Preparing && processed > 0 {
            self.record.status = JobStatus::InProgress;
        }
        self.record.success_count = succeeded;
        self.record.failure_count = failed;
        self.record.current_sent_count = processed;
        self.observe();
        Ok(())
    }

    /// Adds to the counts.
    pub(crate) fn add(&mut self, succeeded: u64, failed: u64) -> Result<(), WriteError> {
        let overflow = || WriteError::ExceedsTotal {
            processed: u64::MAX,
            total: self.record.total(),
        };
        let s = self
            .record
            .success_count
            .checked_add(succeeded)
            .ok_or_else(overflow)?;
        let f = self
            .record
            .failure_count
            .checked_add(failed)
            .ok_or_else(overflow)?;
        self.set_counts(s, f)
    }

    pub(crate) fn set_chunk(&mut self, chunk: u64) -> Result<(), WriteError> {
        self.ensure_open()?;
        if let Some(total) = self.record.total_chunks
            && chunk > total
        {
            return Err(WriteError::ChunkOutOfRange { chunk, total });
        }
        self.record.current_chunk = Some(chunk);
        Ok(())
    }

    pub(crate) fn set_total(&mut self, total: u64) -> Result<(), WriteError> {
        self.ensure_open()?;
        if total < self.record.current_sent_count {
            return Err(WriteError::ExceedsTotal {
                processed: self.record.current_sent_count,
                total,
            });
        }
        self.record.total_target_count = Some(total);
        self.estimator.set_total(total);
        Ok(())
    }

    pub(crate) fn set_status(&mut self, status: JobStatus) -> Result<(), WriteError> {
        self.ensure_open()?;
        if status.rank() < self.record.status.rank() {
            return Err(WriteError::Backwards {
                from: self.record.status,
                to: status,
            });
        }
        if status == JobStatus::Completed && self.record.current_sent_count < self.record.total() {
            // A job may complete early (targets vanished); the record then
            // says so by its counts, and the percentage stays honest.
            tracing::debug!(job_id = %self.record.job_id, "completed before processing every target");
        }
        self.record.status = status;
        if status.is_terminal() {
            let at = now();
            self.record.completed_at = Some(at);
            match status {
                JobStatus::Completed => steps::complete(&mut self.record.steps, at),
                JobStatus::Failed => steps::fail(&mut self.record.steps, at),
                JobStatus::Cancelled => steps::stop(&mut self.record.steps),
                _ => {}
            }
        }
        Ok(())
    }

    pub(crate) fn set_error(&mut self, message: String) {
        self.record.error_message = Some(message);
    }

    /// Where the job's result can be opened (set as it completes).
    pub(crate) fn set_result(&mut self, url: ResultUrl) {
        self.record.result_url = Some(url);
    }

    fn observe(&mut self) {
        let elapsed_ms = self.clock.elapsed_ms();
        self.estimator
            .observe(elapsed_ms, self.record.current_sent_count);
        self.last_observed = Some(now());
    }

    /// The record to store now: counts plus a fresh `updatedAt` and ETA.
    /// Tells the estimator the time too (no new progress), so the remaining
    /// time counts down between updates and grows once a chunk is overdue.
    pub(crate) fn snapshot(&mut self) -> ProgressRecord {
        if self.record.status.is_active() && self.last_observed.is_some() {
            self.observe();
        }
        let mut record = self.record.clone();
        let now = now();
        record.updated_at = Some(now);
        record.progress_percentage = match record.total_target_count {
            Some(total) => percentage(record.current_sent_count, total),
            None => steps::percentage(&record.steps).unwrap_or(0),
        };
        if record.status.is_terminal() {
            record.estimated_end_at = record.completed_at;
            record.estimated_end_range = record.completed_at.map(|at| EndRange {
                earliest: at,
                latest: at,
            });
            record.estimated_remaining_seconds = Some(0);
            return record;
        }
        if record.total_target_count.is_none() {
            // No total to count towards: the kind's earlier runs, else
            // the steps' own durations, say how long the rest will take.
            let left = self
                .kind_steps
                .as_ref()
                .and_then(|runs| from_kind(runs, &record.steps, record.started_at, now))
                .or_else(|| steps::remaining(&record.steps, now));
            if let Some(left) = left {
                let end_after = |left: std::time::Duration| {
                    now.checked_add_signed(
                        chrono::Duration::from_std(left).unwrap_or(chrono::Duration::MAX),
                    )
                    .unwrap_or(DateTime::<Utc>::MAX_UTC)
                };
                record.estimated_end_at = Some(end_after(left.remaining));
                record.estimated_end_range = Some(EndRange {
                    earliest: end_after(left.earliest),
                    latest: end_after(left.latest),
                });
                record.estimated_remaining_seconds = Some(left.remaining.as_secs());
            }
            return record;
        }
        if let (Some(estimate), Some(observed_at)) = (self.estimator.estimate(), self.last_observed)
        {
            // Never an end in the past: a job running late ends "now" at
            // the earliest.
            let end_after = |remaining: std::time::Duration| {
                let remaining =
                    chrono::Duration::from_std(remaining).unwrap_or(chrono::Duration::MAX);
                let end = observed_at
                    .checked_add_signed(remaining)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC)
                    .max(now);
                end.duration_trunc(TimeDelta::milliseconds(1))
                    .unwrap_or(end)
            };
            let end = end_after(estimate.remaining);
            record.estimated_end_at = Some(end);
            record.estimated_end_range = Some(EndRange {
                earliest: end_after(estimate.range.earliest),
                latest: end_after(estimate.range.latest),
            });
            record.estimated_remaining_seconds =
                Some(u64::try_from((end - now).num_seconds()).unwrap_or(0));
            // Two decimals are all a dashboard shows; more would only make
            // every record look different.
            record.rate_per_second = Some((estimate.rate_per_second * 100.0).round() / 100.0)
                .filter(|rate| rate.is_finite() && *rate >= 0.0);
        }
        record
    }
}

/// The time each step took, from entering it to ending it (a skipped
/// step none); `None` unless every step ended with both times.
fn step_times(steps: &[crate::domain::Step]) -> Option<Vec<StepTime>> {
    if steps.is_empty() {
        return None;
    }
    steps
        .iter()
        .map(|step| {
            let ms = match step.state {
                StepState::Skipped => 0,
                StepState::Done => (step.ended_at? - step.started_at?).num_milliseconds(),
                StepState::Pending | StepState::Running | StepState::Failed => return None,
            };
            Some(StepTime {
                name: step.name.clone(),
                ms: u64::try_from(ms).unwrap_or(0),
            })
        })
        .collect()
}

/// A staged job's time left from its kind's step times: from the step it
/// is in (the first, from the job's start, before it enters one) and the
/// time it has spent there.
fn from_kind(
    runs: &StepRuns,
    steps: &[crate::domain::Step],
    started_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<steps::StepsRemaining> {
    let (at, since) = match steps.iter().position(|s| s.state == StepState::Running) {
        Some(at) => (at, steps[at].started_at),
        // Not in a step yet (or between steps): the next one to run.
        None => {
            let at = steps.iter().rposition(|s| s.state != StepState::Pending);
            let at = at.map_or(0, |last| last + 1);
            let since = steps[..at].iter().filter_map(|s| s.ended_at).max();
            (at, since.or(started_at))
        }
    };
    let in_step = since.map_or(0, |since| (now - since).num_milliseconds().max(0));
    let left = runs.staged(at, u64::try_from(in_step).unwrap_or(0))?;
    let ms = std::time::Duration::from_millis;
    Some(steps::StepsRemaining {
        remaining: ms(left.remaining_ms),
        earliest: ms(left.earliest_ms),
        latest: ms(left.latest_ms),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::JobId;

    /// A job of `total` targets in chunks of ten, started `ago`.
    fn running_since(total: u64, ago: Duration) -> JobState {
        let record = ProgressRecord::new(
            JobId::parse("t").unwrap(),
            JobStatus::InProgress,
            Some(total),
        );
        let shape = JobShape {
            total,
            chunk_size: Some(10),
            pause: Some(Duration::ZERO),
        };
        JobState::started_at(record, shape, Instant::now() - ago)
    }

    fn running(total: u64) -> JobState {
        running_since(total, Duration::ZERO)
    }

    #[test]
    fn the_eta_appears_with_progress_and_is_never_before_the_update() {
        // Started three seconds ago, so the first chunks took time: a rate
        // exists without the test waiting for one.
        let mut state = running_since(100, Duration::from_secs(3));
        assert_eq!(
            state.snapshot().estimated_end_at,
            None,
            "no data, no estimate"
        );
        for _ in 0..3 {
            state.add(10, 0).unwrap();
        }
        let record = state.snapshot();
        let end = record
            .estimated_end_at
            .expect("an estimate after three chunks");
        assert!(end >= record.updated_at.unwrap());
        let range = record
            .estimated_end_range
            .expect("a range with the estimate");
        assert!(
            range.earliest <= end && end <= range.latest,
            "{range:?} holds {end}"
        );
        assert!(record.rate_per_second.is_some_and(|rate| rate > 0.0));
        assert!(record.estimated_remaining_seconds.is_some());
    }

    #[test]
    fn a_long_jobs_saved_state_is_compact_and_comes_back_exactly() {
        // 1,100 chunks of 500 (550,000 targets, more than the window
        // holds) with a little noise: the largest state a job reaches.
        let mut state = running(1_000_000);
        for chunk in 1..=1_100u64 {
            let elapsed = chunk * 2_150 + (chunk * 7919 % 97);
            state.estimator.observe(elapsed, chunk * 500);
        }
        state.last_observed = Some(now());
        let bytes = postcard::to_allocvec(&state.saved()).unwrap();
        assert!(
            bytes.len() < 17 * 1024,
            "{} bytes: about 16 a chunk, not 32",
            bytes.len()
        );
        let back: Saved = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.estimator.estimate(), state.estimator.estimate());
        let mut resumed = JobState::resume(state.record.clone(), back);
        let end = state.snapshot().estimated_end_at;
        assert!(end.is_some());
        assert_eq!(resumed.snapshot().estimated_end_at, end);
    }

    #[test]
    fn a_finished_job_ends_when_it_completed() {
        let mut state = running(10);
        state.add(10, 0).unwrap();
        state.set_status(JobStatus::Completed).unwrap();
        let record = state.snapshot();
        assert_eq!(record.estimated_end_at, record.completed_at);
        let at = record.completed_at.unwrap();
        assert_eq!(
            record.estimated_end_range,
            Some(EndRange {
                earliest: at,
                latest: at
            })
        );
        assert_eq!(record.estimated_remaining_seconds, Some(0));
        assert_eq!(record.progress_percentage, 100);
        assert!(matches!(state.add(1, 0), Err(WriteError::Finished { .. })));
    }

    /// A kind whose runs each spent 10 s, 20 s and 30 s in the steps
    /// `a`, `b` and `c`.
    fn staged_kind() -> KindHistory {
        let steps = [("a", 10_000), ("b", 20_000), ("c", 30_000)].map(|(name, ms)| StepTime {
            name: name.to_owned(),
            ms,
        });
        KindHistory::of((0..10).map(|_| RunSummary::staged(60_000, steps.to_vec())))
    }

    fn staged_job(kind: Option<&str>) -> JobState {
        let mut record =
            ProgressRecord::new(JobId::parse("s").unwrap(), JobStatus::InProgress, None);
        record.steps = steps::plan(&["a".into(), "b".into(), "c".into()]).unwrap();
        record.kind = kind.map(|kind| JobKind::parse(kind).unwrap());
        JobState::on_wall_clock(
            record,
            JobShape {
                total: 0,
                chunk_size: None,
                pause: None,
            },
        )
    }

    #[test]
    fn a_staged_job_of_a_known_kind_is_estimated_from_its_steps() {
        let stage = |state: &mut JobState, name: &str| {
            let detail = crate::write::Detail {
                stage: Some(name.to_owned()),
                ..Default::default()
            };
            state.describe(&detail).unwrap();
        };
        let mut alone = staged_job(Some("transcode"));
        stage(&mut alone, "a");
        assert_eq!(alone.snapshot().estimated_end_at, None, "no step ended yet");
        let mut state = staged_job(Some("transcode"));
        state.lean_on(&staged_kind());
        stage(&mut state, "a");
        let left = state.snapshot().estimated_remaining_seconds;
        assert!(left.is_some_and(|s| (59..=60).contains(&s)), "{left:?} s");

        let mut state = staged_job(Some("transcode"));
        assert!(state.wants_history().is_some());
        state.lean_on(&staged_kind());
        assert!(state.wants_history().is_none(), "given once");
        stage(&mut state, "b");
        let record = state.snapshot();
        // Just in b: its 20 s and c's 30 s are left.
        let left = record
            .estimated_remaining_seconds
            .expect("an estimate from the kind");
        assert!((49..=50).contains(&left), "{left} s");
        let range = record.estimated_end_range.unwrap();
        assert!(range.earliest <= record.estimated_end_at.unwrap());
        // The stored form carries it to the next update.
        let back = JobState::resume(state.record.clone(), state.saved());
        assert_eq!(back.kind_steps, state.kind_steps);
    }

    #[test]
    fn only_a_completed_job_of_a_kind_leaves_a_run() {
        let finish = |kind: Option<&str>, status: JobStatus| {
            let mut state = running_since(100, Duration::from_secs(5));
            state.record.kind = kind.map(|kind| JobKind::parse(kind).unwrap());
            for _ in 0..10 {
                state.add(10, 0).unwrap();
            }
            state.set_status(status).unwrap();
            state.finished_run()
        };
        let (kind, run) = finish(Some("import"), JobStatus::Completed).expect("a run");
        assert_eq!(
            (kind.as_str(), run.job_id.as_str(), run.attempt),
            ("import", "t", 1)
        );
        let summary: RunSummary = serde_json::from_str(&run.summary).unwrap();
        assert_eq!(summary.total, 100);
        assert!(finish(Some("import"), JobStatus::Failed).is_none());
        assert!(finish(Some("import"), JobStatus::Cancelled).is_none());
        assert!(
            finish(None, JobStatus::Completed).is_none(),
            "no kind, no history"
        );

        let mut staged = staged_job(Some("transcode"));
        staged.set_status(JobStatus::Completed).unwrap();
        let (_, run) = staged.finished_run().expect("a staged run");
        let summary: RunSummary = serde_json::from_str(&run.summary).unwrap();
        let names: Vec<&str> = summary.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn the_first_progress_moves_a_preparing_job_on() {
        let record =
            ProgressRecord::new(JobId::parse("p").unwrap(), JobStatus::Preparing, Some(10));
        let mut state = JobState::new(
            record,
            JobShape {
                total: 10,
                chunk_size: None,
                pause: None,
            },
        );
        state.add(1, 0).unwrap();
        assert_eq!(state.record.status, JobStatus::InProgress);
        assert!(matches!(
            state.set_status(JobStatus::Preparing),
            Err(WriteError::Backwards { .. })
        ));
    }
}
