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

/// [`CHECKPOINT_SQL`] that also writes the webhook events of the jobs it
/// wrote, in the same statement and so the same transaction: `$26` to
/// `$30` are the candidate events (message ids, job ids, attempts, event
/// types, payloads; from `OutboxEvent::of_checkpoints`), `$31` the time
/// (microseconds). An event is written only for a job the upsert wrote
/// whose attempt or status the write changed: the `prior` row is read
/// from the statement's snapshot, before the upsert (every part of one
/// statement sees the same snapshot). The unique key on (job, attempt,
/// event, episode) leaves out what a concurrent or retried write already
/// wrote. Used only when some subscription wants an event, so the
/// checkpoints of a service without webhooks are unchanged.
pub(super) static CHECKPOINT_WITH_OUTBOX_SQL: LazyLock<String> =
    LazyLock::new(|| CHECKPOINT_SQL.replace("\nSELECT job_id FROM upsert", OUTBOX_PART));

const OUTBOX_PART: &str = r#", outbox AS (
    INSERT INTO webhook_outbox (id, job_id, attempt, event_type, payload, created_at)
    SELECT e.id, e.job_id, e.attempt, e.event_type, e.payload, $31
    FROM UNNEST($26::text[], $27::text[], $28::bigint[], $29::text[], $30::text[])
        AS e (id, job_id, attempt, event_type, payload)
    JOIN upsert ON upsert.job_id = e.job_id
    LEFT JOIN job_progress prior ON prior.job_id = e.job_id
    WHERE prior.job_id IS NULL OR prior.attempt <> e.attempt OR prior.status <> upsert.status
    ON CONFLICT DO NOTHING
)
SELECT job_id FROM upsert"#;

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
