//! [`Archive`] on PostgreSQL: the `job_progress` and `schedules` tables of
//! `migrations/postgres/`. Checkpoints are written by `checkpoint.rs` (one
//! upsert for any number of jobs), read by `reads.rs`, deleted by
//! `retention.rs`; the pool is made in `open.rs`.

mod checkpoint;
mod open;
mod reads;
mod retention;
mod sql;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;

use super::{
    Archive, DEFAULT_ACTIVE_TTL, StoreError, WriteOutcome,
    breaker::BreakerConfig,
    calls,
    guard::{ErrorKind, Guarded},
};
use crate::domain::{FinishedPage, FinishedQuery, JobId, ProgressRecord, Schedule, ScheduleId};

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
        self.read_one(id).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn active(
        &self,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        self.active_page(limit, offset).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn finished(&self, query: &FinishedQuery) -> Result<FinishedPage, StoreError> {
        self.finished_page(query).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_finished(&self, keep: Duration, batch: u32) -> Result<u64, StoreError> {
        self.delete_old_finished(keep, batch).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn active_schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        self.running_schedules().await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(schedule_id = %id))]
    async fn schedule(&self, id: &ScheduleId) -> Result<Option<Schedule>, StoreError> {
        self.schedule_by_id(id).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        calls::ping(&self.guarded, &self.pool).await
    }

    fn name(&self) -> &'static str {
        "postgres"
    }
}
