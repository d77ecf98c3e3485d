//! Reading the archive, on the readers' pool: one job, the active list,
//! a page of finished jobs, schedules. Each list is served by its partial
//! index of `migrations/sqlite/` (the finished list by a range scan of
//! `job_progress_finished_idx` from the cursor on, so page 500 costs what
//! page 1 does).

use super::{SqliteArchive, checkpoint::micros, sql::NOW_MICROS};
use crate::{
    domain::{
        Finished, FinishedPage, FinishedQuery, JobId, JobStatus, ProgressRecord, Schedule,
        ScheduleId,
    },
    store::{
        StoreError,
        archive::{
            calls,
            rows::{self, COLUMNS, SCHEDULE_COLUMNS, bigint},
            sql::{statuses_sql, statuses_sql_of},
        },
    },
};

/// The active list's page (`?1` the TTL in microseconds, `?2` the limit,
/// `?3` the offset) and its count (`?1`).
pub(super) fn active_sql() -> (String, String) {
    // Live jobs only: active, and updated within the in-progress TTL.
    let live = format!(
        "status IN ({}) AND updated_at > {NOW_MICROS} - ?1",
        statuses_sql(JobStatus::is_active)
    );
    // Jobs without a start last, as PostgreSQL orders NULLs (and as the
    // index is laid out).
    let page = format!(
        "SELECT {COLUMNS} FROM job_progress WHERE {live} \
         ORDER BY started_at IS NULL, started_at, job_id LIMIT ?2 OFFSET ?3"
    );
    (
        page,
        format!("SELECT count(*) FROM job_progress WHERE {live}"),
    )
}

/// A page of `which` finished jobs: `?1` since, `?2` the limit, and after
/// the cursor `(?3, ?4)` when `after`.
pub(super) fn finished_sql(which: Finished, after: bool) -> String {
    // The index's own condition is written out, beside the statuses asked
    // for: SQLite uses a partial index only when the query's WHERE names
    // its condition (`status IN ('completed')` alone reads the table).
    let finished = statuses_sql(JobStatus::is_terminal);
    let statuses = statuses_sql_of(which.statuses());
    let after = if after {
        "AND (updated_at, job_id) < (?3, ?4)"
    } else {
        ""
    };
    format!(
        "SELECT {COLUMNS} FROM job_progress \
         WHERE status IN ({finished}) AND status IN ({statuses}) \
         AND updated_at >= ?1 {after} \
         ORDER BY updated_at DESC, job_id DESC LIMIT ?2"
    )
}

/// A `job_progress` row as SQLite gives it (times in microseconds).
type CheckpointRow = rows::CheckpointRow<i64>;
/// A `schedules` row as SQLite gives it.
type ScheduleRow = rows::ScheduleRow<i64>;

impl SqliteArchive {
    pub(super) async fn read_one(&self, id: &JobId) -> Result<Option<ProgressRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM job_progress WHERE job_id = ?1");
        let rows: Vec<CheckpointRow> =
            calls::rows(&self.guarded, &self.readers, sql, id.as_str()).await?;
        rows.into_iter()
            .next()
            .map(ProgressRecord::try_from)
            .transpose()
    }

    /// See [`crate::store::Archive::active`].
    pub(super) async fn active_page(
        &self,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        let ttl = i64::try_from(self.active_ttl.as_micros()).unwrap_or(i64::MAX);
        calls::active::<_, i64>(
            &self.guarded,
            &self.readers,
            active_sql(),
            ttl,
            limit,
            offset,
        )
        .await
    }

    /// See [`crate::store::Archive::finished`].
    pub(super) async fn finished_page(
        &self,
        query: &FinishedQuery,
    ) -> Result<FinishedPage, StoreError> {
        let sql = finished_sql(query.which, query.after.is_some());
        // One more than asked: whether it exists says if a next page does.
        let mut statement = sqlx::query_as::<_, CheckpointRow>(sqlx::AssertSqlSafe(sql))
            .bind(micros(query.since))
            .bind(bigint(u64::from(query.limit) + 1));
        if let Some(after) = &query.after {
            statement = statement
                .bind(micros(after.updated_at))
                .bind(after.job_id.as_str());
        }
        let rows = self
            .guarded
            .call(statement.fetch_all(&self.readers))
            .await?;
        rows::finished_page(rows, query.limit)
    }

    /// See [`crate::store::Archive::active_schedules`].
    pub(super) async fn running_schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        let rows = calls::running_schedules(&self.guarded, &self.readers).await?;
        self.with_checkpoints(rows).await
    }

    /// See [`crate::store::Archive::schedule`].
    pub(super) async fn schedule_by_id(
        &self,
        id: &ScheduleId,
    ) -> Result<Option<Schedule>, StoreError> {
        let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ?1");
        let rows: Vec<ScheduleRow> =
            calls::rows(&self.guarded, &self.readers, sql, id.as_str()).await?;
        Ok(self.with_checkpoints(rows).await?.pop())
    }

    /// The schedules of `rows`, each with its job's checkpoint, read in
    /// one statement.
    async fn with_checkpoints(&self, rows: Vec<ScheduleRow>) -> Result<Vec<Schedule>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM job_progress \
             WHERE job_id IN (SELECT value FROM json_each(?1))"
        );
        calls::with_checkpoints(&self.guarded, &self.readers, rows, sql).await
    }
}
