//! [`Archive`] on PostgreSQL: the `job_progress` and `schedules` tables of
//! `migrations/`.

use std::{future::Future, str::FromStr, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{
    Archive, StoreError, WriteOutcome,
    breaker::{Breaker, BreakerConfig},
};
use crate::domain::{JobId, JobStatus, ProgressRecord, Schedule, ScheduleId};

const STORE: &str = "postgres";

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// PostgreSQL as the archive.
#[derive(Debug, Clone)]
pub struct PgArchive {
    pool: PgPool,
    /// Bound on one whole call (acquire + query), so a hung server delays a
    /// request by at most this much.
    timeout: Duration,
    breaker: Arc<Breaker>,
}

/// The columns of `job_progress`, in the order the queries select them.
const COLUMNS: &str = "job_id, status, total_target_count, current_sent_count, success_count, \
     failure_count, total_chunks, current_chunk, started_at, updated_at, completed_at, \
     estimated_end_at, estimated_remaining_seconds, rate_per_second, error_message, schedule_id, \
     refresh_interval_ms";

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    job_id: String,
    status: String,
    total_target_count: i64,
    current_sent_count: i64,
    success_count: i64,
    failure_count: i64,
    total_chunks: Option<i64>,
    current_chunk: Option<i64>,
    started_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    estimated_end_at: Option<DateTime<Utc>>,
    estimated_remaining_seconds: Option<i64>,
    rate_per_second: Option<f64>,
    error_message: Option<String>,
    schedule_id: Option<String>,
    refresh_interval_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ScheduleRow {
    id: String,
    name: Option<String>,
    scheduled_at: Option<DateTime<Utc>>,
    actual_start_at: Option<DateTime<Utc>>,
    actual_end_at: Option<DateTime<Utc>>,
    total_target_count: Option<i64>,
    job_id: Option<String>,
}

fn corrupt(key: String, why: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Corrupt {
        key,
        source: Box::new(why),
    }
}

/// A timeout or a connection problem, as opposed to the server refusing one
/// statement (a constraint, a bad row), which says nothing about its health.
fn is_outage(err: &StoreError) -> bool {
    match err {
        StoreError::Timeout { .. } => true,
        StoreError::Unavailable { source, .. } => !source
            .downcast_ref::<sqlx::Error>()
            .is_some_and(|err| matches!(err, sqlx::Error::Database(_) | sqlx::Error::RowNotFound)),
        StoreError::Corrupt { .. } => false,
    }
}

/// Counts are stored as BIGINT; the table's CHECKs keep them non-negative.
fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn bigint(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl TryFrom<CheckpointRow> for ProgressRecord {
    type Error = StoreError;
    fn try_from(row: CheckpointRow) -> Result<Self, StoreError> {
        let key = format!("job_progress[{}]", row.job_id);
        let job_id = JobId::parse(row.job_id).map_err(|err| corrupt(key.clone(), err))?;
        let status = JobStatus::from_str(&row.status).map_err(|err| corrupt(key.clone(), err))?;
        let schedule_id = row
            .schedule_id
            .map(ScheduleId::parse)
            .transpose()
            .map_err(|err| corrupt(key, err))?;
        let record = ProgressRecord {
            job_id,
            status,
            total_target_count: count(row.total_target_count),
            current_sent_count: count(row.current_sent_count),
            success_count: count(row.success_count),
            failure_count: count(row.failure_count),
            progress_percentage: 0,
            total_chunks: row.total_chunks.map(count),
            current_chunk: row.current_chunk.map(count),
            started_at: row.started_at,
            updated_at: Some(row.updated_at),
            completed_at: row.completed_at,
            estimated_end_at: row.estimated_end_at,
            estimated_remaining_seconds: row.estimated_remaining_seconds.map(count),
            rate_per_second: row.rate_per_second,
            error_message: row.error_message,
            schedule_id,
            refresh_interval_ms: row.refresh_interval_ms.map(count),
            stalled: false,
        };
        Ok(record.normalized())
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
            pool,
            timeout,
            breaker: Arc::new(Breaker::new(BreakerConfig::default())),
        }
    }

    /// Replaces the default circuit breaker (3 failures, 250 ms cool-off).
    pub fn with_breaker(mut self, config: BreakerConfig) -> Self {
        self.breaker = Arc::new(Breaker::new(config));
        self
    }

    /// The pool, for migrations and tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the embedded migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        use anyhow::Context as _;
        MIGRATOR
            .run(&self.pool)
            .await
            .context("cannot apply the database migrations")
    }

    /// Runs one call under the archive's timeout and circuit breaker.
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        // Cloned only when a probe is due, not on every call.
        let probe = || {
            let archive = self.clone();
            async move {
                let one = archive
                    .call(sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&archive.pool))
                    .await;
                one.is_ok()
            }
        };
        self.breaker
            .guard(STORE, self.call(call), is_outage, probe)
            .await
    }

    async fn call<T>(
        &self,
        call: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(sqlx::Error::PoolTimedOut)) | Err(_) => Err(StoreError::Timeout {
                store: STORE,
                timeout: self.timeout,
            }),
            Ok(Err(err)) => Err(StoreError::unavailable(STORE, err)),
        }
    }

    async fn checkpoints(&self, ids: &[String]) -> Result<Vec<ProgressRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT {COLUMNS} FROM job_progress WHERE job_id = ANY($1)");
        let rows: Vec<CheckpointRow> = self
            .timed(
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(ids)
                    .fetch_all(&self.pool),
            )
            .await?;
        rows.into_iter().map(ProgressRecord::try_from).collect()
    }

    async fn with_checkpoints(&self, rows: Vec<ScheduleRow>) -> Result<Vec<Schedule>, StoreError> {
        let job_ids: Vec<String> = rows.iter().filter_map(|row| row.job_id.clone()).collect();
        let checkpoints = self.checkpoints(&job_ids).await?;
        rows.into_iter()
            .map(|row| {
                let key = format!("schedules[{}]", row.id);
                let job_id = row
                    .job_id
                    .map(JobId::parse)
                    .transpose()
                    .map_err(|err| corrupt(key.clone(), err))?;
                let checkpoint = job_id
                    .as_ref()
                    .and_then(|id| checkpoints.iter().find(|c| &c.job_id == id).cloned());
                Ok(Schedule {
                    id: ScheduleId::parse(row.id).map_err(|err| corrupt(key, err))?,
                    name: row.name,
                    scheduled_at: row.scheduled_at,
                    actual_start_at: row.actual_start_at,
                    actual_end_at: row.actual_end_at,
                    total_target_count: row.total_target_count.map(count),
                    job_id,
                    checkpoint,
                })
            })
            .collect()
    }
}

/// The upsert refuses to move a job backwards, like the Redis script: the
/// row is left alone when it already holds a higher status rank, a finished
/// job of another status, or a higher processed count. The schedule row
/// learns its job, actual start and actual end in the same statement.
const CHECKPOINT_SQL: &str = r#"
WITH upsert AS (
    INSERT INTO job_progress (job_id, status, total_target_count, current_sent_count,
        success_count, failure_count, total_chunks, current_chunk, started_at, updated_at,
        completed_at, estimated_end_at, estimated_remaining_seconds, rate_per_second,
        error_message, schedule_id, refresh_interval_ms, checkpointed_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, now())
    ON CONFLICT (job_id) DO UPDATE SET
        status = EXCLUDED.status,
        total_target_count = EXCLUDED.total_target_count,
        current_sent_count = EXCLUDED.current_sent_count,
        success_count = EXCLUDED.success_count,
        failure_count = EXCLUDED.failure_count,
        total_chunks = EXCLUDED.total_chunks,
        current_chunk = EXCLUDED.current_chunk,
        started_at = COALESCE(job_progress.started_at, EXCLUDED.started_at),
        updated_at = EXCLUDED.updated_at,
        completed_at = EXCLUDED.completed_at,
        estimated_end_at = EXCLUDED.estimated_end_at,
        estimated_remaining_seconds = EXCLUDED.estimated_remaining_seconds,
        rate_per_second = EXCLUDED.rate_per_second,
        error_message = EXCLUDED.error_message,
        schedule_id = EXCLUDED.schedule_id,
        refresh_interval_ms = EXCLUDED.refresh_interval_ms,
        checkpointed_at = now()
    WHERE job_progress.current_sent_count <= EXCLUDED.current_sent_count
      AND (CASE job_progress.status WHEN 'preparing' THEN 0 WHEN 'in_progress' THEN 1 ELSE 2 END)
          <= (CASE EXCLUDED.status WHEN 'preparing' THEN 0 WHEN 'in_progress' THEN 1 ELSE 2 END)
      AND (job_progress.status NOT IN ('completed', 'failed')
           OR job_progress.status = EXCLUDED.status)
    RETURNING job_id, status, total_target_count, started_at, updated_at, completed_at, schedule_id
), schedule AS (
    INSERT INTO schedules (id, job_id, actual_start_at, actual_end_at, total_target_count)
    SELECT schedule_id, job_id, COALESCE(started_at, updated_at),
           CASE WHEN status IN ('completed', 'failed') THEN COALESCE(completed_at, updated_at) END,
           total_target_count
    FROM upsert WHERE schedule_id IS NOT NULL
    ON CONFLICT (id) DO UPDATE SET
        job_id = EXCLUDED.job_id,
        actual_start_at = COALESCE(schedules.actual_start_at, EXCLUDED.actual_start_at),
        actual_end_at = COALESCE(schedules.actual_end_at, EXCLUDED.actual_end_at),
        total_target_count = COALESCE(schedules.total_target_count, EXCLUDED.total_target_count)
)
SELECT count(*) FROM upsert
"#;

const SCHEDULE_COLUMNS: &str =
    "id, name, scheduled_at, actual_start_at, actual_end_at, total_target_count, job_id";

#[async_trait]
impl Archive for PgArchive {
    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %record.job_id))]
    async fn checkpoint(&self, record: &ProgressRecord) -> Result<WriteOutcome, StoreError> {
        let written: i64 = self
            .timed(
                sqlx::query_scalar(CHECKPOINT_SQL)
                    .bind(record.job_id.as_str())
                    .bind(record.status.as_str())
                    .bind(bigint(record.total_target_count))
                    .bind(bigint(record.current_sent_count))
                    .bind(bigint(record.success_count))
                    .bind(bigint(record.failure_count))
                    .bind(record.total_chunks.map(bigint))
                    .bind(record.current_chunk.map(bigint))
                    .bind(record.started_at)
                    .bind(record.updated_at.unwrap_or_else(Utc::now))
                    .bind(record.completed_at)
                    .bind(record.estimated_end_at)
                    .bind(record.estimated_remaining_seconds.map(bigint))
                    .bind(record.rate_per_second)
                    .bind(record.error_message.as_deref())
                    .bind(record.schedule_id.as_ref().map(ScheduleId::as_str))
                    .bind(record.refresh_interval_ms.map(bigint))
                    .fetch_one(&self.pool),
            )
            .await?;
        Ok(if written > 0 {
            WriteOutcome::Written
        } else {
            WriteOutcome::Stale
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %id))]
    async fn read(&self, id: &JobId) -> Result<Option<ProgressRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM job_progress WHERE job_id = $1");
        let row: Option<CheckpointRow> = self
            .timed(
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id.as_str())
                    .fetch_optional(&self.pool),
            )
            .await?;
        row.map(ProgressRecord::try_from).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn active(
        &self,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM job_progress WHERE status IN ('preparing', 'in_progress') \
             ORDER BY started_at, job_id LIMIT $1 OFFSET $2"
        );
        let rows: Vec<CheckpointRow> = self
            .timed(
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(i64::from(limit))
                    .bind(bigint(offset))
                    .fetch_all(&self.pool),
            )
            .await?;
        let total: i64 = self
            .timed(
                sqlx::query_scalar(
                    "SELECT count(*) FROM job_progress WHERE status IN ('preparing', 'in_progress')",
                )
                .fetch_one(&self.pool),
            )
            .await?;
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            match ProgressRecord::try_from(row) {
                Ok(record) => records.push(record),
                Err(err) => tracing::warn!(error = %err, "skipping an unreadable checkpoint"),
            }
        }
        Ok((records, count(total)))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn active_schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules \
             WHERE actual_start_at IS NOT NULL AND actual_end_at IS NULL \
             ORDER BY actual_start_at, id"
        );
        let rows: Vec<ScheduleRow> = self
            .timed(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool))
            .await?;
        self.with_checkpoints(rows).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(schedule_id = %id))]
    async fn schedule(&self, id: &ScheduleId) -> Result<Option<Schedule>, StoreError> {
        let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1");
        let row: Option<ScheduleRow> = self
            .timed(
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id.as_str())
                    .fetch_optional(&self.pool),
            )
            .await?;
        Ok(match row {
            Some(row) => self.with_checkpoints(vec![row]).await?.pop(),
            None => None,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: i32 = self
            .timed(sqlx::query_scalar("SELECT 1").fetch_one(&self.pool))
            .await?;
        Ok(())
    }
}
