//! The hot stores: the [`HotStore`] contract and its types, and its two
//! implementations, [`MemoryStore`] (`memory.rs`, in this process) and
//! [`RedisStore`] (`redis/`, on one Redis or a Redis Cluster), which keep
//! the same stored JSON and read it through one `decode`.

mod memory;
mod redis;

use async_trait::async_trait;

// `Keys`, `breaker`, `guard` and `keys`: the store-wide names the stores
// below take from `super::`.
use super::{Keys, StoreError, WriteOutcome, breaker, guard, keys};
use crate::domain::{
    CancelRequest, ChildEntry, JobFilter, JobId, LogLine, LogPage, NewLogLine, ProgressRecord,
    Rollup, Sample,
};

pub use self::memory::{MemoryEvent, MemoryStore};
pub use self::redis::{RedisStore, Ttls};

/// Reads a value as both hot stores store it
/// ([`ProgressRecord::from_stored_json`]); `key` names it in the error.
fn decode(key: impl std::fmt::Display, raw: &str) -> Result<ProgressRecord, StoreError> {
    ProgressRecord::from_stored_json(raw.as_bytes())
        .map_err(|err| StoreError::corrupt(key.to_string(), err))
}

/// One job's answer in [`HotStore::read_each`].
pub type ReadOne = Result<Option<ProgressRecord>, StoreError>;

/// What became of a hot-store write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HotWrite {
    /// The record was stored as this version.
    Written {
        /// The version the store gave it (see [`ProgressRecord::version`]).
        version: u64,
        /// A request to stop the job that the store holds and the record
        /// did not carry: kept in the stored record, and news for the
        /// writer (see [`HotStore::write`]).
        cancel: Option<CancelRequest>,
    },
    /// The store already holds a later state of the job; nothing changed.
    Stale,
}

impl HotWrite {
    /// The outcome without the version.
    pub fn outcome(&self) -> WriteOutcome {
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

/// The live store. Every method is bounded by the store's own timeout.
#[async_trait]
pub trait HotStore: Send + Sync + 'static {
    /// Stores the record with its status's TTL and a new version, updates
    /// the active indexes and publishes the change to live streams (when
    /// the store is the bus), in one atomic step, unless the store holds a
    /// later state of the job. A later attempt of the job always replaces
    /// an earlier one; a request to stop that the stored record holds and
    /// this one lacks (of the same attempt) is kept, and returned.
    ///
    /// A child's write (a record with a `parentJobId`) then sets its entry
    /// in its parent's roll-up ([`crate::domain::ChildEntry`]): a second
    /// atomic step, on the parent's slot. A failure of that step is logged
    /// and mended by the child's next write; the child's write stands.
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

    /// Stores `state` beside the job's record in place of the one there,
    /// but only if the record's stored version is still `version`:
    /// whether it did. The record, its version, TTL, indexes and history
    /// stay as they are and nothing is published, so no stream hears of
    /// it (the record did not change): what a writer's own bookkeeping
    /// needs, as when [`crate::write::ingest`] notes that a status it
    /// marked is committed.
    async fn replace_state(
        &self,
        id: &JobId,
        state: &[u8],
        version: u64,
    ) -> Result<bool, StoreError>;

    /// The job's record, or `None` when it is unknown or expired; a
    /// parent's with its children's roll-up folded in
    /// ([`ProgressRecord::roll_up`]), read in the same round trip.
    async fn read(&self, id: &JobId) -> Result<Option<ProgressRecord>, StoreError>;

    /// Each job's record as [`read`](Self::read) gives it (a parent's
    /// with its roll-up), for several jobs in one round trip per bucket:
    /// the cache's batched loads. An unreadable record is its own `Err`;
    /// the outer `Err` is the store failing as a whole.
    async fn read_each(&self, ids: &[JobId]) -> Result<Vec<ReadOne>, StoreError>;

    /// The roll-up of the job's children: `None` when no child of it was
    /// written (or the last one's write is older than the in-progress TTL).
    async fn rollup(&self, parent: &JobId) -> Result<Option<Rollup>, StoreError>;

    /// Each child's entry in the job's roll-up, by child id.
    async fn child_entries(&self, parent: &JobId) -> Result<Vec<(JobId, ChildEntry)>, StoreError>;

    /// The job's record with the state stored beside it, in one round
    /// trip; `None` when the job is unknown or expired.
    async fn load(&self, id: &JobId) -> Result<Option<Held>, StoreError>;

    /// The records of several jobs, in the order asked; an unknown, expired
    /// or unreadable one is `None` (unreadable ones are logged).
    async fn read_many(&self, ids: &[JobId]) -> Result<Vec<Option<ProgressRecord>>, StoreError>;

    /// One page of the `preparing` or `in_progress` jobs that `filter`
    /// admits, oldest start first (jobs without a start last, ties by id),
    /// and how many it admits in all. Index entries whose value has expired
    /// are pruned on the way. A `kind` reads that kind's index; a `q` reads
    /// each job's id, kind and name kept beside the index, never the
    /// records.
    async fn active(
        &self,
        filter: &JobFilter,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError>;

    /// Appends `lines` to the job's log, numbered on from its last line,
    /// and keeps only its last [`KEPT_LINES`] lines or [`KEPT_BYTES`],
    /// whichever is fewer, under the record's TTL (a later write of the
    /// record carries the log's TTL with it). Returns the last line's
    /// sequence number; `None`, storing nothing, when the job has no
    /// record.
    ///
    /// [`KEPT_LINES`]: crate::domain::KEPT_LINES
    /// [`KEPT_BYTES`]: crate::domain::KEPT_BYTES
    async fn append_log(&self, id: &JobId, lines: &[NewLogLine])
    -> Result<Option<u64>, StoreError>;

    /// At most `limit` kept lines of the job's log numbered after `after`,
    /// oldest first; an empty page when there are none (or no such job).
    async fn read_log(&self, id: &JobId, after: u64, limit: u32) -> Result<LogPage, StoreError>;

    /// The last `most` kept lines of the job's log, oldest first (what the
    /// archive keeps of a finished job).
    async fn log_tail(&self, id: &JobId, most: u32) -> Result<Vec<LogLine>, StoreError>;

    /// The job's progress samples, oldest first (see
    /// [`History`](crate::domain::History)): appended by every write of
    /// the record, living as long as it; empty for an unknown job.
    async fn history(&self, id: &JobId) -> Result<Vec<Sample>, StoreError>;

    /// Answers when the store can serve.
    async fn ping(&self) -> Result<(), StoreError>;

    /// What it is (`redis`, `in-process`), for `/readyz` and the logs.
    fn name(&self) -> &'static str;
}
