//! Reading the archive, on the readers' pool: one job, the active list,
//! a page of finished jobs, schedules. Each list is served by its partial
//! index of `migrations/sqlite/` (the finished list by a range scan of
//! `job_progress_finished_idx` from the cursor on, so page 500 costs what
//! page 1 does).

use super::{SqliteArchive, checkpoint::micros, sql::NOW_MICROS};
use crate::{
    domain::{
        Finished, FinishedPage, FinishedQuery, JobFilter, JobId, JobStatus, ProgressRecord,
        Schedule, ScheduleId,
    },
    store::{
        StoreError,
        archive::{
            calls,
            filter::{Dialect, Lookup, conditions},
            rows::{self, COLUMNS, SCHEDULE_COLUMNS, bigint},
            sql::{statuses_sql, statuses_sql_of},
        },
    },
};

/// The active list's page (`?1` the TTL in microseconds, `?2` the limit,
/// `?3` the offset, then the filter's) and its count (`?1`, then the
/// filter's), and what the filter's parameters bind.
pub(super) fn active_sql(filter: &JobFilter) -> ((String, String), Vec<String>) {
    // Live jobs only: active, and updated within the in-progress TTL.
    let live = format!(
        "status IN ({}) AND updated_at > {NOW_MICROS} - ?1",
        statuses_sql(JobStatus::is_active)
    );
    // Jobs without a start last, as PostgreSQL orders NULLs (and as the
    // index is laid out).
    let in_page = conditions(filter, 4, Dialect::Sqlite, Lookup::Scan);
    let in_count = conditions(filter, 2, Dialect::Sqlite, Lookup::Scan);
    let page = format!(
        "SELECT {COLUMNS} FROM job_progress WHERE {live}{} \
         ORDER BY started_at IS NULL, started_at, job_id LIMIT ?2 OFFSET ?3",
        in_page.sql
    );
    let count = format!(
        "SELECT count(*) FROM job_progress WHERE {live}{}",
        in_count.sql
    );
    ((page, count), in_page.binds)
}

/// A page of `which` finished jobs: `?1` since, `?2` the limit, after the
/// cursor `(?3, ?4)` when `after`, then the filter's parameters; and what
/// those bind. With a `window`, `q` is matched with `LIKE` over only the
/// newest `window` rows the other conditions leave (see
/// [`SqliteArchive::finished_page`]); without one, through FTS5.
pub(super) fn finished_sql(
    which: Finished,
    after: bool,
    filter: &JobFilter,
    window: Option<u32>,
) -> (String, Vec<String>) {
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
    let first = if after.is_empty() { 3 } else { 5 };
    let lookup = if window.is_some() {
        Lookup::Scan
    } else {
        Lookup::Indexed
    };
    let filter = conditions(filter, first, Dialect::Sqlite, lookup);
    let sql = match window {
        None => format!(
            "SELECT {COLUMNS} FROM job_progress \
             WHERE status IN ({finished}) AND status IN ({statuses}) \
             AND updated_at >= ?1 {after}{} \
             ORDER BY updated_at DESC, job_id DESC LIMIT ?2",
            filter.sql
        ),
        Some(window) => format!(
            "SELECT {COLUMNS} FROM (SELECT * FROM job_progress \
             WHERE status IN ({finished}) AND status IN ({statuses}) \
             AND updated_at >= ?1 {after} \
             ORDER BY updated_at DESC, job_id DESC LIMIT {window}) \
             WHERE 1 = 1{} ORDER BY updated_at DESC, job_id DESC LIMIT ?2",
            filter.sql
        ),
    };
    (sql, filter.binds)
}

/// How many of the newest rows a `q` is first matched against with
/// `LIKE` (through the list's index, in list order), for a page of
/// `limit`: eight pages' worth, at least 2,000 and at most 20,000 rows
/// (a few milliseconds of `LIKE`).
fn q_window(limit: u32) -> u32 {
    limit
        .saturating_add(1)
        .saturating_mul(8)
        .clamp(2_000, 20_000)
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

    /// See [`crate::store::Archive::read_many`]: one `IN`, the ids bound
    /// as one JSON array (`json_each`), so the statement's text is the
    /// same for any number of them.
    pub(super) async fn read_each(
        &self,
        ids: &[JobId],
    ) -> Result<Vec<Result<Option<ProgressRecord>, StoreError>>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM job_progress WHERE job_id IN (SELECT value FROM json_each(?1))"
        );
        let wanted: Vec<&str> = ids.iter().map(JobId::as_str).collect();
        // A list of strings always serializes.
        let wanted = serde_json::to_string(&wanted).unwrap_or_else(|_| "[]".into());
        let rows: Vec<CheckpointRow> =
            calls::rows(&self.guarded, &self.readers, sql, &wanted).await?;
        Ok(rows::each_of(ids, rows))
    }

    /// See [`crate::store::Archive::active`].
    pub(super) async fn active_page(
        &self,
        filter: &JobFilter,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        let ttl = i64::try_from(self.active_ttl.as_micros()).unwrap_or(i64::MAX);
        let (statements, binds) = active_sql(filter);
        calls::active::<_, i64>(
            &self.guarded,
            &self.readers,
            statements,
            &binds,
            ttl,
            limit,
            offset,
        )
        .await
    }

    /// See [`crate::store::Archive::children`].
    pub(super) async fn children_page(
        &self,
        parent: &JobId,
        after: Option<&JobId>,
        limit: u32,
    ) -> Result<Vec<ProgressRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM job_progress \
             WHERE parent_job_id = ?1 AND job_id > ?2 ORDER BY job_id LIMIT ?3"
        );
        let after = after.map_or("", JobId::as_str);
        calls::children::<_, i64>(
            &self.guarded,
            &self.readers,
            sql,
            parent.as_str(),
            after,
            limit,
        )
        .await
    }

    /// See [`crate::store::Archive::finished`].
    ///
    /// A `q` that FTS5 serves is first looked for among the newest rows
    /// through the list's index: FTS5 hands back every matching row, and
    /// a common text (a quarter of a million rows) then costs a sort of
    /// them all, while the newest few thousand rows hold a full page of
    /// it. When they do, that page is the answer (a match outside them is
    /// older than every row in them); when they do not, FTS5 finds the
    /// rare text.
    pub(super) async fn finished_page(
        &self,
        query: &FinishedQuery,
    ) -> Result<FinishedPage, StoreError> {
        let uses_fts = query.filter.q.as_ref().is_some_and(|q| q.chars() >= 3);
        if uses_fts {
            let window = q_window(query.limit);
            let rows = self.finished_rows(query, Some(window)).await?;
            if rows.len() > query.limit as usize {
                return rows::finished_page(rows, query.limit);
            }
        }
        let rows = self.finished_rows(query, None).await?;
        rows::finished_page(rows, query.limit)
    }

    /// The rows of a finished page, one more than asked (whether it exists
    /// says if a next page does).
    async fn finished_rows(
        &self,
        query: &FinishedQuery,
        window: Option<u32>,
    ) -> Result<Vec<CheckpointRow>, StoreError> {
        let (sql, binds) = finished_sql(query.which, query.after.is_some(), &query.filter, window);
        // One more than asked: whether it exists says if a next page does.
        let mut statement = sqlx::query_as::<_, CheckpointRow>(sqlx::AssertSqlSafe(sql))
            .bind(micros(query.since))
            .bind(bigint(u64::from(query.limit) + 1));
        if let Some(after) = &query.after {
            statement = statement
                .bind(micros(after.updated_at))
                .bind(after.job_id.as_str());
        }
        for value in &binds {
            statement = statement.bind(value.as_str());
        }
        self.guarded.call(statement.fetch_all(&self.readers)).await
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
