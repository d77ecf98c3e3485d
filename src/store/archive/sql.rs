//! SQL both archives share, word for word: the status rules rendered from
//! [`JobStatus`] (the one source of the status rank and of which statuses
//! are active or finished; the Redis write script renders its own from
//! it), the never-backwards condition of the checkpoint upsert, and what
//! the upsert sets. PostgreSQL and SQLite read all of it alike (`EXCLUDED`,
//! `CASE`, `COALESCE`); each database's statements are built around it in
//! its own `sql.rs`.

use std::sync::LazyLock;

use crate::domain::JobStatus;

/// `(CASE <column> WHEN 'preparing' THEN 0 ... END)`: the status rank of
/// [`JobStatus::rank`] in SQL.
fn rank_sql(column: &str) -> String {
    let arms: String = JobStatus::ALL
        .iter()
        .map(|status| format!(" WHEN '{}' THEN {}", status.as_str(), status.rank()))
        .collect();
    format!("(CASE {column}{arms} END)")
}

/// The statuses `keep` holds for, as an SQL list: `'completed', 'failed'`.
pub(super) fn statuses_sql(keep: fn(JobStatus) -> bool) -> String {
    let kept: Vec<JobStatus> = JobStatus::ALL
        .into_iter()
        .filter(|status| keep(*status))
        .collect();
    statuses_sql_of(&kept)
}

/// `statuses` as an SQL list: `'completed', 'failed'`.
pub(super) fn statuses_sql_of(statuses: &[JobStatus]) -> String {
    let names: Vec<String> = statuses
        .iter()
        .map(|status| format!("'{}'", status.as_str()))
        .collect();
    names.join(", ")
}

/// The condition under which the checkpoint upsert may replace a stored
/// row (`job_progress`) by the incoming one (`EXCLUDED`): never backwards,
/// like the Redis script. A later attempt always replaces an earlier one
/// (a job run again starts over), an earlier one never replaces a later
/// one; within one attempt, a row is left alone when it already holds a
/// higher processed count, a higher status rank, or a finished job of
/// another status (a retried final write, of the same status, is taken).
pub(super) static NEVER_BACKWARDS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "(EXCLUDED.attempt > job_progress.attempt OR (EXCLUDED.attempt = job_progress.attempt \
         AND job_progress.current_sent_count <= EXCLUDED.current_sent_count \
         AND {old} <= {new} \
         AND (job_progress.status NOT IN ({finished}) OR job_progress.status = EXCLUDED.status)))",
        old = rank_sql("job_progress.status"),
        new = rank_sql("EXCLUDED.status"),
        finished = statuses_sql(JobStatus::is_terminal),
    )
});

/// What the checkpoint upsert sets on a row it may replace: everything the
/// incoming record says, but `started_at`, which is kept once set within
/// an attempt, and a request to stop, which only a later attempt clears (a
/// worker's checkpoint, made without knowing of the request, must not
/// erase it).
pub(super) const CHECKPOINT_ASSIGNMENTS: &str = "
        status = EXCLUDED.status,
        total_target_count = EXCLUDED.total_target_count,
        current_sent_count = EXCLUDED.current_sent_count,
        success_count = EXCLUDED.success_count,
        failure_count = EXCLUDED.failure_count,
        total_chunks = EXCLUDED.total_chunks,
        current_chunk = EXCLUDED.current_chunk,
        started_at = CASE WHEN EXCLUDED.attempt > job_progress.attempt THEN EXCLUDED.started_at
            ELSE COALESCE(job_progress.started_at, EXCLUDED.started_at) END,
        updated_at = EXCLUDED.updated_at,
        completed_at = EXCLUDED.completed_at,
        estimated_end_at = EXCLUDED.estimated_end_at,
        estimated_remaining_seconds = EXCLUDED.estimated_remaining_seconds,
        rate_per_second = EXCLUDED.rate_per_second,
        error_message = EXCLUDED.error_message,
        schedule_id = EXCLUDED.schedule_id,
        refresh_interval_ms = EXCLUDED.refresh_interval_ms,
        estimated_end_earliest = EXCLUDED.estimated_end_earliest,
        estimated_end_latest = EXCLUDED.estimated_end_latest,
        name = EXCLUDED.name,
        kind = EXCLUDED.kind,
        detail = EXCLUDED.detail,
        attempt = EXCLUDED.attempt,
        cancel_requested = CASE WHEN EXCLUDED.attempt > job_progress.attempt
            THEN EXCLUDED.cancel_requested
            ELSE COALESCE(EXCLUDED.cancel_requested, job_progress.cancel_requested) END,
        parent_job_id = EXCLUDED.parent_job_id,
        checkpointed_at = EXCLUDED.checkpointed_at";

/// A schedule's row, upserted from the job that names it: its job, and its
/// actual start, end and total unless already known.
pub(super) const SCHEDULE_ASSIGNMENTS: &str = "
        job_id = EXCLUDED.job_id,
        actual_start_at = COALESCE(schedules.actual_start_at, EXCLUDED.actual_start_at),
        actual_end_at = COALESCE(schedules.actual_end_at, EXCLUDED.actual_end_at),
        total_target_count = COALESCE(schedules.total_target_count, EXCLUDED.total_target_count)";

/// What a checkpointed job gives its schedule, selected from the written
/// row: `schedule_id, job_id, actual_start_at, actual_end_at,
/// total_target_count` (the job's start, or its first record's time; its
/// end once finished).
pub(super) static SCHEDULE_FROM_JOB: LazyLock<String> = LazyLock::new(|| {
    format!(
        "schedule_id, job_id, COALESCE(started_at, updated_at), \
         CASE WHEN status IN ({finished}) THEN COALESCE(completed_at, updated_at) END, \
         total_target_count",
        finished = statuses_sql(JobStatus::is_terminal),
    )
});
