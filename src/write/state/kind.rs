//! What a job takes from its kind's earlier runs and leaves to its next
//! ones: the history it leans on (a prior for a job with a total, the
//! step times for a staged one) and, once it has completed, its run.

use chrono::{DateTime, Utc};

use super::JobState;
use crate::{
    domain::{JobKind, JobStatus, Step, StepState, steps},
    store::KindRun,
    write::eta::{KindHistory, RunSummary, STEP_RUNS_BYTES, StepRuns, StepTime},
};

impl JobState {
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
}

/// The time each step took, from entering it to ending it (a skipped
/// step none); `None` unless every step ended with both times.
fn step_times(steps: &[Step]) -> Option<Vec<StepTime>> {
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
pub(super) fn from_kind(
    runs: &StepRuns,
    steps: &[Step],
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
