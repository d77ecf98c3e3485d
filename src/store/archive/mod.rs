//! The archives: the [`Archive`] contract, and [`PgArchive`] and
//! [`SqliteArchive`], one folder each with the same files for the same
//! ideas (`mod.rs` the type and the contract's implementation, `open.rs`,
//! `checkpoint.rs` the batched upsert, `reads.rs`, `retention.rs`,
//! `runs.rs` each kind's last finished runs, `sql.rs` its statements).
//! What they share is written once here: the type both are
//! ([`SqlArchive`], `sql_archive.rs`), the SQL (`sql.rs`), the rows and
//! their conversion (`rows.rs`), the calls they make alike (`calls.rs`),
//! the webhook outbox's statements (`outbox.rs`) and a finished job's
//! kept log and history (`tails.rs`). Beside the checkpoints, each keeps
//! the last [`KIND_RUNS_KEPT`] finished runs of every kind of job, from
//! which the ETA of the kind's next jobs learns.

mod calls;
mod filter;
mod outbox;
mod postgres;
mod rows;
mod sql;
mod sql_archive;
mod sqlite;
mod tails;

use std::time::Duration;

use async_trait::async_trait;

// `guard`: a store-wide name the archives below take from `super::`.
use super::{StoreError, WriteOutcome, guard};
use crate::domain::{
    FinishedPage, FinishedQuery, JobFilter, JobId, JobKind, JobTail, ProgressRecord, Schedule,
    ScheduleId,
};

pub use self::postgres::PgArchive;
pub use self::sql_archive::SqlArchive;
pub use self::sqlite::SqliteArchive;

/// How long an active checkpoint stays in the active list without an
/// update, unless the archive is told otherwise: the in-progress TTL of
/// the hot store's default ([`Ttls`](crate::store::Ttls)).
const DEFAULT_ACTIVE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Finished runs an archive keeps per kind of job (the newest), whatever
/// the retention of checkpoints says: what the estimator's history of a
/// kind holds (`write/eta/history.rs`, `HISTORY_LEN`).
pub const KIND_RUNS_KEPT: u32 = 50;

/// One finished run of a kind of job, as the archive keeps it. The
/// summary is the estimator's (`RunSummary`, in JSON): the archive stores
/// it as it comes, as the hot store keeps a job's writer state, without
/// knowing its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindRun {
    /// The job that ran.
    pub job_id: JobId,
    /// Which run of the job it was (the first is 1): with the kind and the
    /// job, what makes a run one (recording it again changes nothing).
    pub attempt: u32,
    /// The run's summary, a JSON object.
    pub summary: String,
}

/// The durable store: one checkpoint per job, and the scheduled sends.
#[async_trait]
pub trait Archive: Send + Sync + 'static {
    /// Upserts the job's checkpoint (and its schedule's start and end),
    /// unless the archive holds a later state of the job: a batch of one
    /// ([`checkpoint_many`](Self::checkpoint_many)), so one upsert and one
    /// never-backwards rule serve both.
    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %record.job_id))]
    async fn checkpoint(&self, record: &ProgressRecord) -> Result<WriteOutcome, StoreError> {
        let outcomes = self.checkpoint_many(std::slice::from_ref(record)).await?;
        Ok(outcomes.first().copied().unwrap_or(WriteOutcome::Stale))
    }

    /// Upserts several jobs' checkpoints (each job at most once), like
    /// [`checkpoint`](Self::checkpoint) for each, and says what became of
    /// each, in order. The whole batch succeeds or fails together:
    /// PostgreSQL sends one statement, SQLite one transaction.
    async fn checkpoint_many(
        &self,
        records: &[ProgressRecord],
    ) -> Result<Vec<WriteOutcome>, StoreError>;

    /// [`checkpoint_many`](Self::checkpoint_many) for a batch that holds a
    /// status change someone is waiting to acknowledge: once it returns
    /// `Ok`, the batch must survive a power cut, not only a crash of this
    /// process. PostgreSQL's commits already do (`synchronous_commit` on,
    /// its default), so the default is `checkpoint_many`; SQLite writes
    /// the batch with `synchronous=FULL`.
    async fn checkpoint_many_synced(
        &self,
        records: &[ProgressRecord],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        self.checkpoint_many(records).await
    }

    /// The job's last checkpoint.
    async fn read(&self, id: &JobId) -> Result<Option<ProgressRecord>, StoreError>;

    /// The last checkpoints of several jobs in one query (the cache's
    /// batched loads), in the order asked: `None` for a job without one,
    /// `Err` for an unreadable row; the outer `Err` is the query failing.
    /// The default reads them one by one.
    async fn read_many(
        &self,
        ids: &[JobId],
    ) -> Result<Vec<Result<Option<ProgressRecord>, StoreError>>, StoreError> {
        let mut each = Vec::with_capacity(ids.len());
        for id in ids {
            match self.read(id).await {
                Err(err @ StoreError::Corrupt { .. }) => each.push(Err(err)),
                other => each.push(Ok(other?)),
            }
        }
        Ok(each)
    }

    /// `preparing` or `in_progress` checkpoints updated within the
    /// in-progress TTL that `filter` admits, oldest start first, and how
    /// many there are in all.
    async fn active(
        &self,
        filter: &JobFilter,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError>;

    /// Up to `limit` checkpoints of `parent`'s children, by id, after the
    /// child `after` (from the first when `None`).
    async fn children(
        &self,
        parent: &JobId,
        after: Option<&JobId>,
        limit: u32,
    ) -> Result<Vec<ProgressRecord>, StoreError>;

    /// One page of completed and/or failed checkpoints, the most recent
    /// final record first, from `query.after` on (keyset pagination).
    async fn finished(&self, query: &FinishedQuery) -> Result<FinishedPage, StoreError>;

    /// Deletes at most `batch` checkpoints of finished (completed or
    /// failed) jobs last written more than `keep` ago by the archive's own
    /// clock, in one statement; returns how many it deleted. Active jobs
    /// are never deleted. [`Retention`](super::Retention) runs it batch after batch.
    async fn delete_finished(&self, keep: Duration, batch: u32) -> Result<u64, StoreError>;

    /// Keeps `tail` (a finished job's last log lines and downsampled
    /// history) beside the job's checkpoint, which must exist, replacing
    /// what was kept before; it goes when retention deletes the job.
    async fn keep_tail(&self, id: &JobId, tail: &JobTail) -> Result<(), StoreError>;

    /// What [`keep_tail`](Self::keep_tail) kept of the job, if anything.
    async fn tail(&self, id: &JobId) -> Result<Option<JobTail>, StoreError>;

    /// Adds a finished run to its kind's history and, in the same
    /// transaction, forgets the kind's runs beyond the newest
    /// [`KIND_RUNS_KEPT`]. A run already recorded (the same kind, job and
    /// attempt) is left as it is. Retention never deletes runs.
    async fn record_run(&self, kind: &JobKind, run: &KindRun) -> Result<(), StoreError>;

    /// The summaries of the kind's last [`KIND_RUNS_KEPT`] runs, oldest
    /// first; none for a kind never recorded.
    async fn kind_history(&self, kind: &JobKind) -> Result<Vec<String>, StoreError>;

    /// Schedules that have started and not ended, oldest start first.
    async fn active_schedules(&self) -> Result<Vec<Schedule>, StoreError>;

    /// One schedule.
    async fn schedule(&self, id: &ScheduleId) -> Result<Option<Schedule>, StoreError>;

    /// Answers when the store can serve.
    async fn ping(&self) -> Result<(), StoreError>;

    /// What it is (`postgres`, `sqlite`), for `/readyz` and the logs.
    fn name(&self) -> &'static str;
}
