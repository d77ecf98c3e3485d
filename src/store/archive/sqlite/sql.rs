//! The SQLite statements that carry a rule, built around the SQL both
//! archives share (`archive/sql.rs`): the checkpoint upsert and the schedule
//! upsert that follows it in the same transaction.

use std::sync::LazyLock;

use crate::store::archive::{
    rows::COLUMNS,
    sql::{CHECKPOINT_ASSIGNMENTS, NEVER_BACKWARDS, SCHEDULE_ASSIGNMENTS, SCHEDULE_FROM_JOB},
};

/// The database's clock, in microseconds since the epoch (to the
/// millisecond: SQLite's `'now'` goes no finer). The migration's column
/// defaults say the same.
pub(super) const NOW_MICROS: &str = "CAST(unixepoch('now', 'subsec') * 1000000 AS INTEGER)";

/// Jobs per upsert statement, at most. sqlx runs SQLite on a thread of
/// its own, and each statement is a round trip to it; a batch of 500 jobs
/// as 500 statements spent most of its time on those (BENCHMARKS.md,
/// "SQLite archive"). 64 rows bind 1,600 values, far below SQLite's limit
/// of 32,766.
pub(super) const ROWS_PER_STATEMENT: usize = 64;

/// The checkpoint upsert of `rows` jobs (1 to [`ROWS_PER_STATEMENT`]):
/// the first job's columns are `?1` to `?25`, in the order of
/// [`COLUMNS`], the next job's `?26` to `?50`, and so on; times as
/// microseconds. Each job may appear only once.
///
/// It refuses to move a job backwards ([`NEVER_BACKWARDS`]) and returns
/// the ids of the rows it wrote; the others were stale. One statement per
/// number of rows, made once, so each is prepared once per connection.
pub(super) fn checkpoint_sql(rows: usize) -> &'static str {
    static BY_ROWS: LazyLock<Vec<String>> =
        LazyLock::new(|| (1..=ROWS_PER_STATEMENT).map(upsert_of).collect());
    &BY_ROWS[rows.clamp(1, ROWS_PER_STATEMENT) - 1]
}

fn upsert_of(rows: usize) -> String {
    let columns = COLUMNS.split(',').count();
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=columns)
                .map(|column| format!("?{}", row * columns + column))
                .collect();
            format!("({}, {NOW_MICROS})", params.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO job_progress ({COLUMNS}, checkpointed_at) \
         VALUES {values} \
         ON CONFLICT (job_id) DO UPDATE SET {CHECKPOINT_ASSIGNMENTS} \
         WHERE {never_backwards} \
         RETURNING job_id",
        values = values.join(", "),
        never_backwards = *NEVER_BACKWARDS,
    )
}

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
