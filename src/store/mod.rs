//! The two stores behind small interfaces.
//!
//! - [`HotStore`]: where live progress is written and read first. Fast,
//!   forgetful (every value has a TTL). Implemented by [`RedisStore`], on
//!   one Redis or a Redis Cluster, and, with nothing installed,
//!   [`MemoryStore`] (this process only).
//! - [`Archive`]: the durable checkpoint of every job and the schedules.
//!   Implemented by [`PgArchive`] and, for running with nothing installed,
//!   [`SqliteArchive`] (one file). What both write alike, the
//!   never-backwards condition above all, is SQL they share (`sql.rs`),
//!   and both read rows through `rows.rs`; [`Retention`] deletes old
//!   finished checkpoints from either.
//!
//! The handlers and the writer only see these traits; which pair a process
//! uses is picked in [`crate::config`] ([`AnyArchive`] is the archive it
//! opened). One contract suite (`tests/contract/`) runs against every
//! implementation, so they behave alike.

mod any;
mod archive;
pub mod breaker;
mod guard;
mod hot;
pub mod keys;
mod retention;

use std::{collections::HashSet, time::Duration};

use async_trait::async_trait;

use crate::domain::{FinishedPage, FinishedQuery, JobId, ProgressRecord, Schedule, ScheduleId};

pub use self::any::AnyArchive;
pub use self::archive::{PgArchive, SqliteArchive};
pub use self::hot::{MemoryStore, RedisStore, Ttls};
pub use breaker::BreakerConfig;
pub use keys::Keys;
pub use retention::Retention;

/// What became of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The record was stored.
    Written,
    /// The store already holds a later state of the job (a finished job, or
    /// higher counts); the write was dropped so the job never moves backwards.
    Stale,
}

impl WriteOutcome {
    /// What became of each of `records`, in order, given the ids of the
    /// jobs a store wrote (the others were stale).
    pub(crate) fn of_each(records: &[ProgressRecord], written: &HashSet<String>) -> Vec<Self> {
        records
            .iter()
            .map(|record| {
                if written.contains(record.job_id.as_str()) {
                    WriteOutcome::Written
                } else {
                    WriteOutcome::Stale
                }
            })
            .collect()
    }
}

/// What became of a hot-store write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotWrite {
    /// The record was stored as this version.
    Written {
        /// The version the store gave it (see [`ProgressRecord::version`]).
        version: u64,
    },
    /// The store already holds a later state of the job; nothing changed.
    Stale,
}

impl HotWrite {
    /// The outcome without the version.
    pub fn outcome(self) -> WriteOutcome {
        match self {
            HotWrite::Written { .. } => WriteOutcome::Written,
            HotWrite::Stale => WriteOutcome::Stale,
        }
    }
}

/// What became of a [`HotStore::replace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    /// The record and its state were stored as this version.
    Written {
        /// The version the store gave the record.
        version: u64,
    },
    /// The store holds a later state of the job; nothing changed.
    Stale,
    /// The job's stored version is no longer the expected one (another
    /// update came first); nothing changed: load it again and redo.
    Moved,
}

/// A job's record and the state its writer keeps beside it (jobs written
/// over HTTP keep their estimator there; see [`crate::write::ingest`]).
#[derive(Debug, Clone)]
pub struct Held {
    /// The record as stored, with its version.
    pub record: ProgressRecord,
    /// The writer's state, if the job has one.
    pub state: Option<Vec<u8>>,
}

/// A store could not do what was asked. The caller decides whether to fall
/// back, retry or answer 503; the message never reaches an HTTP client.
///
/// Each store decides which kind an error of its client library is, where
/// the error is made (`classify` in its module): only [`Timeout`] and
/// [`Unavailable`] are [outages](Self::is_outage) that count against its
/// circuit breaker.
///
/// [`Timeout`]: Self::Timeout
/// [`Unavailable`]: Self::Unavailable
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer in time (hung, overloaded, far away).
    #[error("{store} did not answer within {timeout:?}")]
    Timeout {
        /// `redis`, `postgres` or `sqlite`.
        store: &'static str,
        /// The limit that ran out.
        timeout: Duration,
    },
    /// The store could not be reached, or is being skipped by its breaker.
    #[error("{store} failed")]
    Unavailable {
        /// `redis`, `postgres` or `sqlite`.
        store: &'static str,
        /// What the client library (or the breaker) said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store answered, refusing this one command (a constraint, a
    /// script error): says nothing about the store's health.
    #[error("{store} refused the command")]
    Refused {
        /// `redis`, `postgres` or `sqlite`.
        store: &'static str,
        /// What the store said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A value could not be understood (not JSON, wrong types), or could
    /// not be encoded for storage.
    #[error("the value stored under {key} is not a valid progress record")]
    Corrupt {
        /// The key or row holding it.
        key: String,
        /// Why it does not parse.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// A timeout or a lost connection: the store itself is in trouble, as
    /// opposed to refusing one command or holding one bad value.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            StoreError::Timeout { .. } | StoreError::Unavailable { .. }
        )
    }

    pub(crate) fn refused(
        store: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Refused {
            store,
            source: Box::new(source),
        }
    }

    pub(crate) fn unavailable(
        store: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Unavailable {
            store,
            source: Box::new(source),
        }
    }
}

/// The live store. Every method is bounded by the store's own timeout.
#[async_trait]
pub trait HotStore: Send + Sync + 'static {
    /// Stores the record with its status's TTL and a new version, updates
    /// the active indexes and publishes the change to live streams (when
    /// the store is the bus), in one atomic step, unless the store holds a
    /// later state of the job.
    async fn write(&self, record: &ProgressRecord) -> Result<HotWrite, StoreError>;

    /// Like [`write`](Self::write), and stores `state` beside the record
    /// (same TTL), but only if the job's stored version is still
    /// `expected` (0: the job has no value), so concurrent updates of one
    /// job from several instances never overwrite each other.
    async fn replace(
        &self,
        record: &ProgressRecord,
        state: &[u8],
        expected: u64,
    ) -> Result<Replaced, StoreError>;

    /// The job's record, or `None` when it is unknown or expired.
    async fn read(&self, id: &JobId) -> Result<Option<ProgressRecord>, StoreError>;

    /// The job's record with the state stored beside it, in one round
    /// trip; `None` when the job is unknown or expired.
    async fn load(&self, id: &JobId) -> Result<Option<Held>, StoreError>;

    /// The records of several jobs, in the order asked; an unknown, expired
    /// or unreadable one is `None` (unreadable ones are logged).
    async fn read_many(&self, ids: &[JobId]) -> Result<Vec<Option<ProgressRecord>>, StoreError>;

    /// One page of the `preparing` or `in_progress` jobs, oldest start
    /// first (jobs without a start last, ties by id), and how many there are
    /// in all. Index entries whose value has expired are pruned on the way.
    async fn active(
        &self,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError>;

    /// Answers when the store can serve.
    async fn ping(&self) -> Result<(), StoreError>;

    /// What it is (`redis`, `in-process`), for `/readyz` and the logs.
    fn name(&self) -> &'static str;
}

/// The durable store: one checkpoint per job, and the scheduled sends.
#[async_trait]
pub trait Archive: Send + Sync + 'static {
    /// Upserts the job's checkpoint (and its schedule's start and end),
    /// unless the archive holds a later state of the job.
    async fn checkpoint(&self, record: &ProgressRecord) -> Result<WriteOutcome, StoreError>;

    /// Upserts several jobs' checkpoints (each job at most once), like
    /// [`checkpoint`](Self::checkpoint) for each, and says what became of
    /// each, in order. The whole batch succeeds or fails together. The
    /// default writes them one by one; PostgreSQL sends one statement,
    /// SQLite one transaction.
    async fn checkpoint_many(
        &self,
        records: &[ProgressRecord],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let mut outcomes = Vec::with_capacity(records.len());
        for record in records {
            outcomes.push(self.checkpoint(record).await?);
        }
        Ok(outcomes)
    }

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

    /// `preparing` or `in_progress` checkpoints updated within the
    /// in-progress TTL, oldest start first, and how many there are in all.
    async fn active(
        &self,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError>;

    /// One page of completed and/or failed checkpoints, the most recent
    /// final record first, from `query.after` on (keyset pagination).
    async fn finished(&self, query: &FinishedQuery) -> Result<FinishedPage, StoreError>;

    /// Deletes at most `batch` checkpoints of finished (completed or
    /// failed) jobs last written more than `keep` ago by the archive's own
    /// clock, in one statement; returns how many it deleted. Active jobs
    /// are never deleted. [`Retention`] runs it batch after batch.
    async fn delete_finished(&self, keep: Duration, batch: u32) -> Result<u64, StoreError>;

    /// Schedules that have started and not ended, oldest start first.
    async fn active_schedules(&self) -> Result<Vec<Schedule>, StoreError>;

    /// One schedule.
    async fn schedule(&self, id: &ScheduleId) -> Result<Option<Schedule>, StoreError>;

    /// Answers when the store can serve.
    async fn ping(&self) -> Result<(), StoreError>;

    /// What it is (`postgres`, `sqlite`), for `/readyz` and the logs.
    fn name(&self) -> &'static str;
}
