//! One job's state as the worker sees it: counts, chunk, status, ETA.
//! Changing it is a memory operation; the flusher copies it out to the
//! stores. What it takes from its kind's earlier runs and leaves to the
//! next ones is `state/kind.rs`.

use std::time::Instant;

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};

use super::{
    error::WriteError,
    eta::{Estimator, JobShape, StepRuns},
};
use crate::domain::{EndRange, JobStatus, ProgressRecord, ResultUrl, percentage, steps};

mod kind;

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
    /// A staged job's kind's step times (at most
    /// [`STEP_RUNS_BYTES`](super::eta::STEP_RUNS_BYTES)).
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
    #[cfg(test)]
    pub(crate) fn saved(&self) -> Saved {
        Saved {
            estimator: self.estimator.clone(),
            started_ms: self.started_ms(),
            last_observed_ms: self.last_observed.map(|at| at.timestamp_millis()),
            kind_steps: self.kind_steps.clone(),
        }
    }

    /// [`saved`](Self::saved), for a state not needed after: the estimator
    /// moves rather than being copied (an update's state is saved once).
    pub(crate) fn into_saved(self) -> Saved {
        Saved {
            started_ms: self.started_ms(),
            last_observed_ms: self.last_observed.map(|at| at.timestamp_millis()),
            estimator: self.estimator,
            kind_steps: self.kind_steps,
        }
    }

    /// When the job started on the wall clock, in ms since the epoch.
    fn started_ms(&self) -> i64 {
        let started = match self.clock {
            Clock::Wall(started) => started,
            Clock::Monotonic(_) => {
                let elapsed = TimeDelta::milliseconds(
                    i64::try_from(self.clock.elapsed_ms()).unwrap_or(i64::MAX),
                );
                now().checked_sub_signed(elapsed).unwrap_or_else(now)
            }
        };
        started.timestamp_millis()
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
                .and_then(|runs| kind::from_kind(runs, &record.steps, record.started_at, now))
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

#[cfg(test)]
mod tests;
