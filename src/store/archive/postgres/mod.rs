//! [`Archive`] on PostgreSQL: the `job_progress` and `schedules` tables of
//! `migrations/postgres/`. Checkpoints are written by `checkpoint.rs` (one
//! upsert for any number of jobs), old ones deleted by `retention.rs`.

mod checkpoint;
mod reads;
mod retention;
mod sql;

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use chrono::{DateTime, Utc};

use super::{
    Archive, DEFAULT_ACTIVE_TTL, StoreError, WriteOutcome,
    breaker::BreakerConfig,
    calls,
    guard::{ErrorKind, Guarded},
    rows::{self, COLUMNS, SCHEDULE_COLUMNS},
    sql::statuses_sql,
};
use crate::domain::{
    FinishedPage, FinishedQuery, JobId, JobStatus, ProgressRecord, Schedule, ScheduleId,
};

/// A `job_progress` row as PostgreSQL gives it.
type CheckpointRow = rows::CheckpointRow<DateTime<Utc>>;
/// A `schedules` row as PostgreSQL gives it.
type ScheduleRow = rows::ScheduleRow<DateTime<Utc>>;

const STORE: &str = "postgres";

/// The migrations in `migrations/postgres/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// PostgreSQL as the archive.
#[derive(Debug, Clone)]
pub struct PgArchive {
    pool: PgPool,
    /// Timeout (bounding one whole call, acquire + query, so a hung server
    /// delays a request by at most this much) and breaker.
    guarded: Guarded<sqlx::Error>,
    /// An active checkpoint not updated for this long is left out of the
    /// active list: its worker is long gone (see [`Self::with_active_ttl`]).
    active_ttl: Duration,
}

/// What an error of sqlx says about PostgreSQL: no pooled connection in
/// time is a timeout; the server refusing one statement (a constraint, a
/// bad row) says nothing about its health; anything else is an outage.
fn classify(err: &sqlx::Error) -> ErrorKind {
    match err {
        sqlx::Error::PoolTimedOut => ErrorKind::Timeout,
        sqlx::Error::Database(_) | sqlx::Error::RowNotFound => ErrorKind::Refused,
        _ => ErrorKind::Outage,
    }
}

impl PgArchive {
    /// A lazily connecting pool for `url`: it can be built while PostgreSQL
    /// is down. `acquire_timeout` bounds the wait for a connection,
    /// `timeout` a whole call.
    pub fn connect_lazy(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let options = PgConnectOptions::from_str(url)
            .context("invalid DATABASE_URL")?
            .application_name("job-progress");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .connect_lazy_with(options);
        Ok(Self::from_pool(pool, timeout))
    }

    /// Wraps an existing pool (tests hand in the one `#[sqlx::test]` made).
    pub fn from_pool(pool: PgPool, timeout: Duration) -> Self {
        Self {
            guarded: calls::guarded(STORE, timeout, classify, &pool),
            pool,
            active_ttl: DEFAULT_ACTIVE_TTL,
        }
    }

    /// Leaves out of the active list the `preparing` and `in_progress`
    /// checkpoints not updated for longer than `ttl`, as the hot store drops
    /// an active job whose record outlived its in-progress TTL
    /// (`PROGRESS_TTL_SECS`): its worker vanished long ago, and it would
    /// otherwise show as stalled for ever. Its checkpoint is still served
    /// by id. Default 24 h.
    pub fn with_active_ttl(mut self, ttl: Duration) -> Self {
        self.active_ttl = ttl;
        self
    }

    /// Replaces the default circuit breaker (3 failures, 250 ms cool-off).
    pub fn with_breaker(mut self, config: BreakerConfig) -> Self {
        self.guarded.set_breaker(config);
        self
    }

    /// The pool, for migrations and tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the embedded migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        calls::migrate(&MIGRATOR, &self.pool).await
    }

    async fn checkpoints(&self, ids: &[String]) -> Result<Vec<ProgressRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT {COLUMNS} FROM job_progress WHERE job_id = ANY($1)");
        let rows: Vec<CheckpointRow> = self
            .guarded
            .call(
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(ids)
                    .fetch_all(&self.pool),
            )
            .await?;
        rows.into_iter().map(ProgressRecord::try_from).collect()
    }

    async fn with_checkpoints(&self, rows: Vec<ScheduleRow>) -> Result<Vec<Schedule>, StoreError> {
        let job_ids: Vec<String> = rows
            .iter()
            .filter_map(|row| row.job_id().map(str::to_owned))
            .collect();
        let checkpoints = self.checkpoints(&job_ids).await?;
        rows::schedules(rows, &checkpoints)
    }
}

#[async_trait]
impl Archive for PgArchive {
    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %record.job_id))]
    async fn checkpoint(&self, record: &ProgressRecord) -> Result<WriteOutcome, StoreError> {
        let outcomes = self.upsert(std::slice::from_ref(record)).await?;
        Ok(outcomes.first().copied().unwrap_or(WriteOutcome::Stale))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(jobs = records.len()))]
    async fn checkpoint_many(
        &self,
        records: &[ProgressRecord],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        self.upsert(records).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %id))]
    async fn read(&self, id: &JobId) -> Result<Option<ProgressRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM job_progress WHERE job_id = $1");
        let rows: Vec<CheckpointRow> =
            calls::rows(&self.guarded, &self.pool, sql, id.as_str()).await?;
        rows.into_iter()
            .next()
            .map(ProgressRecord::try_from)
            .transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn active(
        &self,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        // Live jobs only: active, and updated within the in-progress TTL.
        let live = format!(
            "status IN ({}) AND updated_at > now() - $1 * interval '1 millisecond'",
            statuses_sql(JobStatus::is_active)
        );
        let ttl_ms = i64::try_from(self.active_ttl.as_millis()).unwrap_or(i64::MAX);
        let page = format!(
            "SELECT {COLUMNS} FROM job_progress WHERE {live} \
             ORDER BY started_at, job_id LIMIT $2 OFFSET $3"
        );
        let count = format!("SELECT count(*) FROM job_progress WHERE {live}");
        calls::active::<_, DateTime<Utc>>(
            &self.guarded,
            &self.pool,
            (page, count),
            ttl_ms,
            limit,
            offset,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn active_schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules \
             WHERE actual_start_at IS NOT NULL AND actual_end_at IS NULL \
             ORDER BY actual_start_at, id"
        );
        let rows: Vec<ScheduleRow> = self
            .guarded
            .call(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool))
            .await?;
        self.with_checkpoints(rows).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(schedule_id = %id))]
    async fn schedule(&self, id: &ScheduleId) -> Result<Option<Schedule>, StoreError> {
        let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1");
        let rows: Vec<ScheduleRow> =
            calls::rows(&self.guarded, &self.pool, sql, id.as_str()).await?;
        Ok(self.with_checkpoints(rows).await?.pop())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn finished(&self, query: &FinishedQuery) -> Result<FinishedPage, StoreError> {
        self.finished_page(query).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_finished(&self, keep: Duration, batch: u32) -> Result<u64, StoreError> {
        self.delete_old_finished(keep, batch).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        calls::ping(&self.guarded, &self.pool).await
    }

    fn name(&self) -> &'static str {
        "postgres"
    }
}
