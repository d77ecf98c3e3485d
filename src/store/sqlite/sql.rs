//! The SQLite statements that carry a rule, built around the SQL both
//! archives share (`store/sql.rs`): the checkpoint upsert and the schedule
//! upsert that follows it in the same transaction.

use std::sync::LazyLock;

use crate::store::{
    rows::COLUMNS,
    sql::{CHECKPOINT_ASSIGNMENTS, NEVER_BACKWARDS, SCHEDULE_ASSIGNMENTS, SCHEDULE_FROM_JOB},
};

/// The database's clock, in microseconds since the epoch (to the
/// millisecond: SQLite's `'now'` goes no finer). The migration's column
/// defaults say the same.
pub(super) const NOW_MICROS: &str = "CAST(unixepoch('now', 'subsec') * 1000000 AS INTEGER)";

/// The checkpoint upsert of one job: `?1` to `?19` are the columns of
/// [`COLUMNS`], in its order, times as microseconds. SQLite runs it in
/// process, so one statement per job costs no round trip; a batch is one
/// transaction of them.
///
/// It refuses to move a job backwards ([`NEVER_BACKWARDS`]) and returns
/// the job's id when it wrote the row, nothing when the row was stale.
pub(super) static CHECKPOINT_SQL: LazyLock<String> = LazyLock::new(|| {
    let params: Vec<String> = (1..=COLUMNS.split(',').count())
        .map(|n| format!("?{n}"))
        .collect();
    format!(
        "INSERT INTO job_progress ({COLUMNS}, checkpointed_at) \
         VALUES ({params}, {NOW_MICROS}) \
         ON CONFLICT (job_id) DO UPDATE SET {CHECKPOINT_ASSIGNMENTS} \
         WHERE {never_backwards} \
         RETURNING job_id",
        params = params.join(", "),
        never_backwards = *NEVER_BACKWARDS,
    )
});

/// The schedules of the jobs written by a batch (`?1`: their ids, as a
/// JSON array) learn their job, actual start and actual end. One row per
/// schedule: should two jobs of one batch name the same schedule, the one
/// with the later update wins, as on PostgreSQL.
pub(super) static SCHEDULES_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO schedules (id, job_id, actual_start_at, actual_end_at, total_target_count) \
         SELECT {from_job} FROM ( \
             SELECT *, row_number() OVER ( \
                 PARTITION BY schedule_id ORDER BY updated_at DESC) AS latest \
             FROM job_progress \
             WHERE job_id IN (SELECT value FROM json_each(?1)) AND schedule_id IS NOT NULL) \
         WHERE latest = 1 \
         ON CONFLICT (id) DO UPDATE SET {SCHEDULE_ASSIGNMENTS}",
        from_job = *SCHEDULE_FROM_JOB,
    )
});
