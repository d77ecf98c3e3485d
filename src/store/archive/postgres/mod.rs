//! [`Archive`] on PostgreSQL: the `job_progress` and `schedules` tables of
//! `migrations/postgres/`. Checkpoints are written by `checkpoint.rs` (one
//! upsert for any number of jobs), read by `reads.rs`, deleted by
//! `retention.rs`; each kind's last runs are kept by `runs.rs`
//! (`kind_runs`); the pool is made in `open.rs`.

mod checkpoint;
mod open;
mod reads;
mod retention;
mod runs;
mod sql;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::Postgres;

use super::{Archive, SqlArchive, StoreError, WriteOutcome, calls, guard::ErrorKind, tails};
use crate::{
    domain::{
        FinishedPage, FinishedQuery, JobFilter, JobId, JobKind, JobTail, ProgressRecord, Schedule,
        ScheduleId,
    },
    store::KindRun,
};

const STORE: &str = "postgres";

/// The migrations in `migrations/postgres/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// PostgreSQL as the archive.
pub type PgArchive = SqlArchive<Postgres>;

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

#[async_trait]
impl Archive for PgArchive {
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

    #[tracing::instrument(level = "debug", skip_all, fields(jobs = ids.len()))]
    async fn read_many(
        &self,
        ids: &[JobId],
    ) -> Result<Vec<Result<Option<ProgressRecord>, StoreError>>, StoreError> {
        self.read_each(ids).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn active(
        &self,
        filter: &JobFilter,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        self.active_page(filter, limit, offset).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn finished(&self, query: &FinishedQuery) -> Result<FinishedPage, StoreError> {
        self.finished_page(query).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %parent))]
    async fn children(
        &self,
        parent: &JobId,
        after: Option<&JobId>,
        limit: u32,
    ) -> Result<Vec<ProgressRecord>, StoreError> {
        self.children_page(parent, after, limit).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_finished(&self, keep: Duration, batch: u32) -> Result<u64, StoreError> {
        self.delete_old_finished(keep, batch).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %id))]
    async fn keep_tail(&self, id: &JobId, tail: &JobTail) -> Result<(), StoreError> {
        tails::keep(&self.guarded, &self.writer, |n| format!("${n}"), id, tail).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %id))]
    async fn tail(&self, id: &JobId) -> Result<Option<JobTail>, StoreError> {
        tails::read(&self.guarded, &self.readers, |n| format!("${n}"), id).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(kind = %kind, job_id = %run.job_id))]
    async fn record_run(&self, kind: &JobKind, run: &KindRun) -> Result<(), StoreError> {
        self.add_run(kind, run).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(kind = %kind))]
    async fn kind_history(&self, kind: &JobKind) -> Result<Vec<String>, StoreError> {
        self.runs_of(kind).await
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
        calls::ping(&self.guarded, &self.readers).await
    }

    fn name(&self) -> &'static str {
        "postgres"
    }
}
