//! Reading the archive: one job, the active list, a page of finished
//! jobs, schedules. The finished list is a range scan of
//! `job_progress_finished_idx` (migration
//! `20261128100000_finished_index.sql`) from the cursor on, so page 500
//! costs what page 1 does.

use chrono::{DateTime, Utc};

use super::PgArchive;
use crate::{
    domain::{
        FinishedPage, FinishedQuery, JobFilter, JobId, JobStatus, ProgressRecord, Schedule,
        ScheduleId,
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

/// A `job_progress` row as PostgreSQL gives it.
type CheckpointRow = rows::CheckpointRow<DateTime<Utc>>;
/// A `schedules` row as PostgreSQL gives it.
type ScheduleRow = rows::ScheduleRow<DateTime<Utc>>;

impl PgArchive {
    /// See [`crate::store::Archive::read`].
    pub(super) async fn read_one(&self, id: &JobId) -> Result<Option<ProgressRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM job_progress WHERE job_id = $1");
        let rows: Vec<CheckpointRow> =
            calls::rows(&self.guarded, &self.readers, sql, id.as_str()).await?;
        rows.into_iter()
            .next()
            .map(ProgressRecord::try_from)
            .transpose()
    }

    /// See [`crate::store::Archive::read_many`]: one `= ANY($1)`.
    pub(super) async fn read_each(
        &self,
        ids: &[JobId],
    ) -> Result<Vec<Result<Option<ProgressRecord>, StoreError>>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM job_progress WHERE job_id = ANY($1)");
        let wanted: Vec<&str> = ids.iter().map(JobId::as_str).collect();
        let rows: Vec<CheckpointRow> = self
            .guarded
            .call(
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&wanted)
                    .fetch_all(&self.readers),
            )
            .await?;
        Ok(rows::each_of(ids, rows))
    }

    /// See [`crate::store::Archive::active`].
    pub(super) async fn active_page(
        &self,
        filter: &JobFilter,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        // Live jobs only: active, and updated within the in-progress TTL.
        let live = format!(
            "status IN ({}) AND updated_at > now() - $1 * interval '1 millisecond'",
            statuses_sql(JobStatus::is_active)
        );
        let ttl_ms = i64::try_from(self.active_ttl.as_millis()).unwrap_or(i64::MAX);
        // The same conditions after the page's three parameters and after
        // the count's one: the same text bound to other numbers.
        let in_page = conditions(filter, 4, Dialect::Postgres, Lookup::Scan);
        let in_count = conditions(filter, 2, Dialect::Postgres, Lookup::Scan);
        let page = format!(
            "SELECT {COLUMNS} FROM job_progress WHERE {live}{} \
             ORDER BY started_at, job_id LIMIT $2 OFFSET $3",
            in_page.sql
        );
        let count = format!(
            "SELECT count(*) FROM job_progress WHERE {live}{}",
            in_count.sql
        );
        calls::active::<_, DateTime<Utc>>(
            &self.guarded,
            &self.readers,
            (page, count),
            &in_page.binds,
            ttl_ms,
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
             WHERE parent_job_id = $1 AND job_id > $2 ORDER BY job_id LIMIT $3"
        );
        let after = after.map_or("", JobId::as_str);
        calls::children::<_, DateTime<Utc>>(
            &self.guarded,
            &self.readers,
            sql,
            parent.as_str(),
            after,
            limit,
        )
        .await
    }

    /// One page of `query`; see [`crate::store::Archive::finished`].
    pub(super) async fn finished_page(
        &self,
        query: &FinishedQuery,
    ) -> Result<FinishedPage, StoreError> {
        // The statuses are written into the statement, not bound: only then
        // can the planner see that the partial index covers them.
        let statuses = statuses_sql_of(query.which.statuses());
        let after = if query.after.is_some() {
            "AND (updated_at, job_id) < ($3, $4)"
        } else {
            ""
        };
        let first = if query.after.is_some() { 5 } else { 3 };
        let filter = conditions(&query.filter, first, Dialect::Postgres, Lookup::Indexed);
        let sql = format!(
            "SELECT {COLUMNS} FROM job_progress \
             WHERE status IN ({statuses}) AND updated_at >= $1 {after}{filter} \
             ORDER BY updated_at DESC, job_id DESC LIMIT $2",
            filter = filter.sql
        );
        // One more than asked: whether it exists says if a next page does.
        let mut statement = sqlx::query_as::<_, CheckpointRow>(sqlx::AssertSqlSafe(sql))
            .bind(query.since)
            .bind(bigint(u64::from(query.limit) + 1));
        if let Some(after) = &query.after {
            statement = statement.bind(after.updated_at).bind(after.job_id.as_str());
        }
        for value in &filter.binds {
            statement = statement.bind(value.as_str());
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
        let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1");
        let rows: Vec<ScheduleRow> =
            calls::rows(&self.guarded, &self.readers, sql, id.as_str()).await?;
        Ok(self.with_checkpoints(rows).await?.pop())
    }

    /// The schedules of `rows`, each with its job's checkpoint, read in
    /// one statement.
    async fn with_checkpoints(&self, rows: Vec<ScheduleRow>) -> Result<Vec<Schedule>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM job_progress \
             WHERE job_id IN (SELECT jsonb_array_elements_text($1::jsonb))"
        );
        calls::with_checkpoints(&self.guarded, &self.readers, rows, sql).await
    }
}
