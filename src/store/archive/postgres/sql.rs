//! The checkpoint upsert on PostgreSQL, around the never-backwards
//! condition and the assignments both archives share (`archive/sql.rs`).

use std::sync::LazyLock;

use crate::store::archive::sql::{
    CHECKPOINT_ASSIGNMENTS, NEVER_BACKWARDS, SCHEDULE_ASSIGNMENTS, SCHEDULE_FROM_JOB,
};

/// The checkpoint upsert of any number of jobs in one statement. The
/// records arrive as one array per column (`$1` the job ids, `$2` the
/// statuses, ..., in the order of `COLUMNS` in `archive/rows.rs`),
/// unnested into rows: one round trip and one statement however many jobs
/// it carries, where a `VALUES` list would make a different statement (and
/// a different plan to cache) for each batch size. Each job may appear only
/// once: an upsert cannot change one row twice.
///
/// It refuses to move a job backwards ([`NEVER_BACKWARDS`]). It returns
/// the ids of the rows it wrote; the others were stale. The schedule rows
/// learn their job, actual start and actual end in the same statement (one
/// row per schedule: should two jobs of one batch name the same schedule,
/// the later update wins, as it would have one statement after the other).
/// Rows are written in job-id order, so two batches in flight at once lock
/// shared rows in the same order and cannot deadlock.
pub(super) static CHECKPOINT_SQL: LazyLock<String> = LazyLock::new(|| {
    CHECKPOINT_SQL_TEMPLATE
        .replace("ASSIGNMENTS", CHECKPOINT_ASSIGNMENTS)
        .replace("NEVER_BACKWARDS", &NEVER_BACKWARDS)
        .replace("SCHEDULE_SET", SCHEDULE_ASSIGNMENTS)
        .replace("SCHEDULE_FROM_JOB", &SCHEDULE_FROM_JOB)
});

const CHECKPOINT_SQL_TEMPLATE: &str = r#"
WITH incoming AS (
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
        $6::bigint[], $7::bigint[], $8::bigint[], $9::timestamptz[], $10::timestamptz[],
        $11::timestamptz[], $12::timestamptz[], $13::bigint[], $14::float8[], $15::text[],
        $16::text[], $17::bigint[], $18::timestamptz[], $19::timestamptz[], $20::text[],
        $21::text[], $22::text[], $23::bigint[], $24::text[], $25::text[])
    AS t (job_id, status, total_target_count, current_sent_count, success_count,
        failure_count, total_chunks, current_chunk, started_at, updated_at, completed_at,
        estimated_end_at, estimated_remaining_seconds, rate_per_second, error_message,
        schedule_id, refresh_interval_ms, estimated_end_earliest, estimated_end_latest,
        name, kind, detail, attempt, cancel_requested, parent_job_id)
), upsert AS (
    INSERT INTO job_progress (job_id, status, total_target_count, current_sent_count,
        success_count, failure_count, total_chunks, current_chunk, started_at, updated_at,
        completed_at, estimated_end_at, estimated_remaining_seconds, rate_per_second,
        error_message, schedule_id, refresh_interval_ms, estimated_end_earliest,
        estimated_end_latest, name, kind, detail, attempt, cancel_requested, parent_job_id,
        checkpointed_at)
    SELECT incoming.*, now() FROM incoming ORDER BY job_id
    ON CONFLICT (job_id) DO UPDATE SET ASSIGNMENTS
    WHERE NEVER_BACKWARDS
    RETURNING job_id, status, total_target_count, started_at, updated_at, completed_at, schedule_id
), schedule AS (
    INSERT INTO schedules (id, job_id, actual_start_at, actual_end_at, total_target_count)
    SELECT DISTINCT ON (schedule_id) SCHEDULE_FROM_JOB
    FROM upsert WHERE schedule_id IS NOT NULL
    ORDER BY schedule_id, updated_at DESC
    ON CONFLICT (id) DO UPDATE SET SCHEDULE_SET
)
SELECT job_id FROM upsert
"#;
