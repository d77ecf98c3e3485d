//! [`Archive`] on SQLite, for running with nothing installed: the
//! `job_progress` and `schedules` tables of `migrations/sqlite/` in one
//! file (with its `-wal` and `-shm` companions beside it), keeping every
//! promise the PostgreSQL archive keeps (the contract suite in
//! `tests/contract/` runs the same tests against both).
//!
//! How the file is used, and why:
//!
//! - **One writer, a few readers.** SQLite lets one transaction write at a
//!   time. Every write (checkpoints, retention, migrations) goes through a
//!   pool of exactly one connection, so writes queue in the pool, in
//!   order, instead of several connections fighting for the lock and
//!   failing with `SQLITE_BUSY`. Reads go through a separate pool of
//!   [`READERS`] connections.
//! - **WAL journal.** Readers read the last committed state while the
//!   writer writes, so a read never waits for a checkpoint being written,
//!   and the writer never waits for readers.
//! - **`synchronous=NORMAL` for counts, `FULL` for status changes.** In
//!   WAL mode either survives a crash of the process (SIGKILL included): a
//!   commit is in the log before it returns. Against a power cut or a
//!   kernel crash, `NORMAL` (the log synced at its checkpoints, no `fsync`
//!   per commit) may roll back the last commits, never corrupting the file;
//!   that costs counts the next checkpoint rewrites anyway. A batch holding
//!   a status change someone waits to acknowledge
//!   ([`Archive::checkpoint_many_synced`]) is committed with `FULL`: one
//!   `fsync` per batch, so an acknowledged end survives the power cut too
//!   (`checkpoint.rs`; its cost in BENCHMARKS.md, "Status changes:
//!   answered after the commit").
//! - **Busy timeout = the call's timeout.** Should another process write
//!   the same file (a second server, the `sqlite3` shell), a write waits for
//!   its lock as long as a call may last, then fails as a timeout.
//! - **Time as INTEGER microseconds since the epoch.** PostgreSQL keeps
//!   microseconds, so a record reads back from either archive identical.
//!   Integers (rather than text) compare and subtract exactly, take 8 bytes,
//!   and are what the finished list's cursor already carries.
//! - **No in-memory database.** `sqlite::memory:` is refused: the archive
//!   reads on other connections than it writes on, and an in-memory
//!   database is either private to one connection or (shared cache) locked
//!   table by table, without WAL, and gone once its last connection closes.
//!   A file in a temporary folder does what it would.
//!
//! Checkpoints are written by `checkpoint.rs` (a batch in one transaction),
//! read by `reads.rs`, deleted by `retention.rs`; each kind's last runs
//! are kept by `runs.rs` (`kind_runs`); the pools are built in `open.rs`.

mod checkpoint;
mod open;

use checkpoint::Synchronous;
mod reads;
mod retention;
mod runs;
mod sql;
#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{Sqlite, SqlitePool};

use super::{Archive, SqlArchive, StoreError, WriteOutcome, calls, guard::ErrorKind, tails};
use crate::{
    domain::{
        FinishedPage, FinishedQuery, JobFilter, JobId, JobKind, JobTail, ProgressRecord, Schedule,
        ScheduleId,
    },
    store::KindRun,
};

const STORE: &str = "sqlite";

/// Connections of the read pool. Reads are short (an index lookup or a
/// range scan of a page); four let a slow list not hold up single reads,
/// on a machine that may have two cores.
const READERS: u32 = 4;

/// The migrations in `migrations/sqlite/`, embedded in the binary.
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite as the archive.
pub type SqliteArchive = SqlArchive<Sqlite>;

/// SQLite's primary result codes this module tells apart
/// (<https://www.sqlite.org/rescode.html>); an extended code carries its
/// primary code in its low byte.
mod code {
    pub const ERROR: i32 = 1;
    pub const BUSY: i32 = 5;
    pub const LOCKED: i32 = 6;
    pub const TOOBIG: i32 = 18;
    pub const CONSTRAINT: i32 = 19;
    pub const MISMATCH: i32 = 20;
    pub const RANGE: i32 = 25;
}

/// What an error of sqlx says about the SQLite file. A lock another
/// connection held past the busy timeout, or no pooled connection in time,
/// is a timeout; a statement refused on its own merits (a constraint, a
/// wrong type, a bad statement) says nothing about the file's health;
/// anything else (I/O errors, a full disk, a corrupt or unreadable file)
/// is an outage.
fn classify(err: &sqlx::Error) -> ErrorKind {
    match err {
        sqlx::Error::PoolTimedOut => ErrorKind::Timeout,
        sqlx::Error::RowNotFound => ErrorKind::Refused,
        sqlx::Error::Database(db) => {
            let primary = db
                .code()
                .and_then(|code| code.parse::<i32>().ok())
                .map(|code| code & 0xff);
            match primary {
                Some(code::BUSY | code::LOCKED) => ErrorKind::Timeout,
                Some(
                    code::ERROR | code::TOOBIG | code::CONSTRAINT | code::MISMATCH | code::RANGE,
                ) => ErrorKind::Refused,
                _ => ErrorKind::Outage,
            }
        }
        _ => ErrorKind::Outage,
    }
}

impl SqliteArchive {
    /// The file's name in the data folder (`DATA_DIR`) when no
    /// `DATABASE_URL` names one.
    pub const FILE_NAME: &str = "job-progress.db";

    /// Wraps the two pools, guarded by `timeout`.
    fn from_pools(writer: SqlitePool, readers: SqlitePool, timeout: Duration) -> Self {
        Self::new(
            STORE,
            classify,
            &SQLITE_MIGRATOR,
            (writer, readers),
            timeout,
        )
    }
}

#[async_trait]
impl Archive for SqliteArchive {
    #[tracing::instrument(level = "debug", skip_all, fields(jobs = records.len()))]
    async fn checkpoint_many(
        &self,
        records: &[ProgressRecord],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        self.upsert(records, Synchronous::Normal).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(jobs = records.len()))]
    async fn checkpoint_many_synced(
        &self,
        records: &[ProgressRecord],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        self.upsert(records, Synchronous::Full).await
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
        tails::keep(&self.guarded, &self.writer, |n| format!("?{n}"), id, tail).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %id))]
    async fn tail(&self, id: &JobId) -> Result<Option<JobTail>, StoreError> {
        tails::read(&self.guarded, &self.readers, |n| format!("?{n}"), id).await
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
        "sqlite"
    }
}
