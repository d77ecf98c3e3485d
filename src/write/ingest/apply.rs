//! One update applied to one job, in memory: the job as the update finds
//! it ([`Current`]: new, recovered from the archive, or held in the hot
//! store with its writer's state), and what applying the change gives
//! ([`Applied`]), or the refusal the job's state calls for. Nothing here
//! talks to a store: `mod.rs` loads, applies and writes back.

use super::{
    Change, Declaration, Finish, IngestError, Outcome,
    stored::{Declared, Ledger, Stored},
};
use crate::{
    domain::{CancelRequest, JobId, JobStatus, MAX_ATTEMPTS_KEPT, ProgressRecord},
    store::Held,
    write::{
        JobSpec, WriteError,
        eta::JobShape,
        state::{JobState, now},
    },
};

/// The job as an update finds it. (One lives for one update, on the
/// stack: the size of its variants does not matter.)
#[allow(clippy::large_enum_variant)]
pub(super) enum Current {
    /// Not known anywhere.
    New,
    /// Only in the archive (the hot store lost or expired it).
    Recovered(Box<ProgressRecord>),
    /// In the hot store, with its state when it has one.
    Held(Box<ProgressRecord>, Option<Stored>),
}

/// What applying a change gave.
#[allow(clippy::large_enum_variant)]
pub(super) enum Applied {
    /// Nothing to write (a repeated declaration or ending): the record as
    /// it is.
    Unchanged(Box<ProgressRecord>),
    /// The state to store, and its ledger.
    Changed(JobState, Ledger),
}

impl Current {
    pub(super) fn held(held: Held) -> Self {
        let stored = held.state.as_deref().and_then(Stored::decode);
        Current::Held(Box::new(held.record), stored)
    }

    pub(super) fn is_new(&self) -> bool {
        matches!(self, Current::New)
    }

    /// Applies `change`; refuses what the job's state does not allow.
    pub(super) fn apply(self, id: &JobId, change: &Change) -> Result<Applied, IngestError> {
        let (mut state, ledger) = match self {
            Current::New => {
                let Change::Declare(declaration) = change else {
                    return Err(IngestError::UnknownJob(id.clone()));
                };
                return declare_new(id, declaration);
            }
            Current::Recovered(record) | Current::Held(record, None) => {
                let shape = shape_of(&record_shape(&record));
                let state = JobState::on_wall_clock(*record, shape);
                (state, Ledger::new(Declared::default()))
            }
            Current::Held(record, Some(stored)) => {
                (JobState::resume(*record, stored.job), stored.ledger)
            }
        };
        let current = state.record.attempt();
        match change.attempt() {
            Some(asked) if asked < current => {
                return Err(WriteError::StaleAttempt { asked, current }.into());
            }
            Some(asked) if asked > current => {
                let Change::Declare(declaration) = change else {
                    return Err(WriteError::UnknownAttempt { asked, current }.into());
                };
                if state.record.status == JobStatus::Completed {
                    return Err(WriteError::Finished {
                        job_id: id.clone(),
                        status: JobStatus::Completed,
                    }
                    .into());
                }
                return again(id, state.record, declaration, asked);
            }
            _ => {}
        }
        let record = &state.record;
        if let Change::Finish(finish) = change
            && record.status.is_terminal()
            && finish.repeats(record)
        {
            return Ok(Applied::Unchanged(Box::new(state.record)));
        }
        if let Change::Cancel(_) = change
            && record.cancel_requested.is_some()
            && !record.status.is_terminal()
        {
            return Ok(Applied::Unchanged(Box::new(state.record)));
        }
        if record.status.is_terminal() {
            return Err(WriteError::Finished {
                job_id: id.clone(),
                status: record.status,
            }
            .into());
        }
        match change {
            Change::Declare(declaration) => {
                if !redeclare(&mut state, &ledger.declared, declaration)? {
                    return Ok(Applied::Unchanged(Box::new(state.record)));
                }
            }
            Change::Report(report) => {
                if let Some(total) = report.total {
                    state.set_total(total).map_err(IngestError::from)?;
                }
                state
                    .set_counts(report.succeeded, report.failed)
                    .map_err(IngestError::from)?;
                if let Some(chunk) = report.chunk {
                    state.set_chunk(chunk).map_err(IngestError::from)?;
                }
                state.describe(&report.detail).map_err(IngestError::from)?;
            }
            Change::Finish(finish) => {
                if finish.succeeded.is_some() || finish.failed.is_some() {
                    let record = &state.record;
                    let succeeded = finish.succeeded.unwrap_or(record.success_count);
                    let failed = finish.failed.unwrap_or(record.failure_count);
                    state
                        .set_counts(succeeded, failed)
                        .map_err(IngestError::from)?;
                }
                state.describe(&finish.detail).map_err(IngestError::from)?;
                match &finish.outcome {
                    Outcome::Completed(result) => {
                        state.set_status(JobStatus::Completed).map(|()| {
                            if let Some(url) = result {
                                state.set_result(url.clone());
                            }
                        })
                    }
                    Outcome::Failed(message) => state.set_status(JobStatus::Failed).map(|()| {
                        state.set_error(message.clone());
                    }),
                    Outcome::Cancelled => state.set_status(JobStatus::Cancelled),
                }
                .map_err(IngestError::from)?;
            }
            Change::Cancel(ask) => {
                state.record.cancel_requested = Some(CancelRequest {
                    at: now(),
                    by: ask.by.clone(),
                    reason: ask.reason.clone(),
                });
            }
        }
        Ok(Applied::Changed(state, ledger))
    }
}

impl Finish {
    /// Whether this ending is the one `record` already has (a retried
    /// request), with the same final counts if it names them.
    fn repeats(&self, record: &ProgressRecord) -> bool {
        let status = match self.outcome {
            Outcome::Completed(_) => JobStatus::Completed,
            Outcome::Failed(_) => JobStatus::Failed,
            Outcome::Cancelled => JobStatus::Cancelled,
        };
        record.status == status
            && self.succeeded.is_none_or(|n| n == record.success_count)
            && self.failed.is_none_or(|n| n == record.failure_count)
    }
}

/// What the estimator can know of a job from its record alone (the
/// chunking was declared to a state that is gone).
fn record_shape(record: &ProgressRecord) -> JobSpec {
    JobSpec {
        total: record.total_target_count,
        ..JobSpec::default()
    }
}

/// A job declared for the first time.
fn declare_new(id: &JobId, declaration: &Declaration) -> Result<Applied, IngestError> {
    let spec = &declaration.spec;
    let mut record = ProgressRecord::new(id.clone(), declaration.status, spec.total);
    record.total_chunks = spec.total_chunks;
    record.schedule_id = spec.schedule_id.clone();
    record.name = spec.name.clone();
    record.kind = spec.kind.clone();
    record.steps = spec.steps.clone();
    record.attempt = declaration.attempt.filter(|attempt| *attempt > 1);
    record.parent_job_id = spec.parent.clone();
    record.expected_children = spec.expected_children;
    record.complete_with_children = spec.complete_with_children;
    record.failure_policy = spec.failure_policy;
    record.refresh_interval_ms = declaration
        .refresh_interval
        .map(|every| u64::try_from(every.as_millis()).unwrap_or(u64::MAX));
    let declared = Declared {
        chunk_size: spec.chunk_size,
        pause_ms: spec
            .pause
            .map(|pause| u64::try_from(pause.as_millis()).unwrap_or(u64::MAX)),
    };
    let mut state = JobState::on_wall_clock(record, shape_of(spec));
    state
        .describe(&declaration.detail)
        .map_err(IngestError::from)?;
    Ok(Applied::Changed(state, Ledger::new(declared)))
}

/// A job declared again as a later attempt: a fresh start (counts from
/// zero, or from the earlier attempt's with `resume`), what it declares
/// (its name, kind and steps unless it declares others), and the earlier
/// attempts' summaries with this one's added (the last 20 kept).
fn again(
    id: &JobId,
    previous: ProgressRecord,
    declaration: &Declaration,
    attempt: u32,
) -> Result<Applied, IngestError> {
    let mut declaration = declaration.clone();
    let spec = &mut declaration.spec;
    if spec.name.is_none() {
        spec.name.clone_from(&previous.name);
    }
    if spec.kind.is_none() {
        spec.kind.clone_from(&previous.kind);
    }
    if spec.steps.is_empty() {
        let names: Vec<String> = previous
            .steps
            .iter()
            .map(|step| step.name.clone())
            .collect();
        spec.steps = crate::domain::steps::plan(&names).unwrap_or_default();
    }
    if spec.total.is_none() && spec.steps.is_empty() {
        spec.total = previous.total_target_count;
    }
    let Applied::Changed(mut state, ledger) = declare_new(id, &declaration)? else {
        unreachable!("a first declaration always changes the job")
    };
    let mut attempts = previous.attempts.clone();
    attempts.push(previous.attempt_summary());
    let excess = attempts.len().saturating_sub(MAX_ATTEMPTS_KEPT);
    attempts.drain(..excess);
    state.record.attempts = attempts;
    state.record.attempt = Some(attempt);
    if state.record.parent_job_id.is_none() {
        state.record.parent_job_id = previous.parent_job_id;
    }
    if declaration.resume {
        state
            .set_counts(previous.success_count, previous.failure_count)
            .map_err(IngestError::from)?;
    }
    Ok(Applied::Changed(state, ledger))
}

/// The estimator's view of a declared job.
fn shape_of(spec: &JobSpec) -> JobShape {
    JobShape {
        total: spec.total.unwrap_or(0),
        chunk_size: spec.chunk_size,
        pause: spec.pause,
    }
}

/// Takes a repeated declaration: refuses a different chunking or
/// schedule, takes a revised total, a move to `in_progress` and a new
/// refresh interval. Returns whether anything changed.
fn redeclare(
    state: &mut JobState,
    declared: &Declared,
    declaration: &Declaration,
) -> Result<bool, IngestError> {
    let spec = &declaration.spec;
    let record = &state.record;
    let differs = |field: &'static str, declared: String| IngestError::Redeclared {
        job_id: record.job_id.clone(),
        field,
        declared,
    };
    let shown = |value: Option<u64>| value.map_or_else(|| "none".to_owned(), |v| v.to_string());
    if spec.total_chunks != record.total_chunks {
        return Err(differs("totalChunks", shown(record.total_chunks)));
    }
    if spec.chunk_size != declared.chunk_size {
        return Err(differs("chunkSize", shown(declared.chunk_size)));
    }
    let pause_ms = spec
        .pause
        .map(|pause| u64::try_from(pause.as_millis()).unwrap_or(u64::MAX));
    if pause_ms != declared.pause_ms {
        return Err(differs("pauseMs", shown(declared.pause_ms)));
    }
    if spec.kind.is_some() && spec.kind != record.kind {
        let declared = record
            .kind
            .as_ref()
            .map_or_else(|| "none".to_owned(), ToString::to_string);
        return Err(differs("kind", declared));
    }
    let names = |steps: &[crate::domain::Step]| -> Vec<String> {
        steps.iter().map(|step| step.name.clone()).collect()
    };
    if !spec.steps.is_empty() && names(&spec.steps) != names(&record.steps) {
        return Err(differs("steps", format!("{:?}", names(&record.steps))));
    }
    if spec.parent.is_some() && spec.parent != record.parent_job_id {
        let declared = record
            .parent_job_id
            .as_ref()
            .map_or_else(|| "none".to_owned(), ToString::to_string);
        return Err(differs("parentJobId", declared));
    }
    if spec.schedule_id != record.schedule_id {
        let declared = record
            .schedule_id
            .as_ref()
            .map_or_else(|| "none".to_owned(), ToString::to_string);
        return Err(differs("scheduleId", declared));
    }
    let refresh_ms = declaration
        .refresh_interval
        .map(|every| u64::try_from(every.as_millis()).unwrap_or(u64::MAX));
    let mut changed = false;
    if let Some(total) = spec.total
        && Some(total) != record.total_target_count
    {
        state.set_total(total).map_err(IngestError::from)?;
        changed = true;
    }
    if spec.name.is_some() && spec.name != state.record.name {
        state.record.name.clone_from(&spec.name);
        changed = true;
    }
    if !declaration.detail.is_empty() {
        let before = state.record.clone();
        state
            .describe(&declaration.detail)
            .map_err(IngestError::from)?;
        changed |= state.record != before;
    }
    // A declaration repeated after the job began does not send it back.
    if declaration.status.rank() > state.record.status.rank() {
        state
            .set_status(declaration.status)
            .map_err(IngestError::from)?;
        changed = true;
    }
    if spec.complete_with_children
        && (!state.record.complete_with_children
            || spec.expected_children != state.record.expected_children
            || spec.failure_policy != state.record.failure_policy)
    {
        // A parent may learn how many children it will have once it has
        // listed them.
        state.record.complete_with_children = true;
        state.record.expected_children = spec.expected_children;
        state.record.failure_policy = spec.failure_policy;
        changed = true;
    }
    if refresh_ms.is_some() && refresh_ms != state.record.refresh_interval_ms {
        state.record.refresh_interval_ms = refresh_ms;
        changed = true;
    }
    Ok(changed)
}
