//! A hot store that counts the calls the app makes to it, and can hold its
//! reads at a gate: how the cache and fallback tests see what reached the
//! store.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use async_trait::async_trait;
use job_progress::{
    domain::{
        ChildEntry, JobFilter, JobId, LogLine, LogPage, NewLogLine, ProgressRecord, Rollup, Sample,
    },
    store::{Held, HotStore, HotWrite, ReadOne, Replaced, StoreError},
};
use tokio::sync::Notify;

/// Holds a store's reads until the test opens it: `entered` is signalled
/// when a read arrives, the read goes on once `open` is.
#[derive(Default)]
pub struct Gate {
    /// Signalled when a read arrives at the gate.
    pub entered: Notify,
    /// Lets the waiting read go on.
    pub open: Notify,
}

/// A hot store that counts the calls it passes on to the real one, and
/// holds its single-job reads (and the cache's batched loads of single
/// jobs, one count per batch) at a gate when it has one.
pub struct CountingStore {
    inner: Arc<dyn HotStore>,
    gate: Option<Arc<Gate>>,
    /// Reads passed on so far.
    pub reads: AtomicU64,
    /// Writes passed on so far.
    pub writes: AtomicU64,
}

impl CountingStore {
    /// Counts the calls to `inner`, holding its reads at `gate` if given.
    pub fn new(inner: Arc<dyn HotStore>, gate: Option<Arc<Gate>>) -> Self {
        Self {
            inner,
            gate,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        }
    }
    /// How many reads reached the store.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }
    /// How many writes reached the store.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl HotStore for CountingStore {
    async fn write(&self, record: &ProgressRecord) -> Result<HotWrite, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.write(record).await
    }
    async fn replace(
        &self,
        record: &ProgressRecord,
        state: &[u8],
        expected: u64,
    ) -> Result<Replaced, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.replace(record, state, expected).await
    }
    async fn replace_state(
        &self,
        id: &JobId,
        state: &[u8],
        version: u64,
    ) -> Result<bool, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.replace_state(id, state, version).await
    }
    async fn load(&self, id: &JobId) -> Result<Option<Held>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(id).await
    }
    async fn read(&self, id: &JobId) -> Result<Option<ProgressRecord>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.entered.notify_one();
            gate.open.notified().await;
        }
        self.inner.read(id).await
    }
    async fn read_each(&self, ids: &[JobId]) -> Result<Vec<ReadOne>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.entered.notify_one();
            gate.open.notified().await;
        }
        self.inner.read_each(ids).await
    }
    async fn rollup(&self, parent: &JobId) -> Result<Option<Rollup>, StoreError> {
        self.inner.rollup(parent).await
    }
    async fn child_entries(&self, parent: &JobId) -> Result<Vec<(JobId, ChildEntry)>, StoreError> {
        self.inner.child_entries(parent).await
    }
    async fn read_many(&self, ids: &[JobId]) -> Result<Vec<Option<ProgressRecord>>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_many(ids).await
    }
    async fn active(
        &self,
        filter: &JobFilter,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        self.inner.active(filter, limit, offset).await
    }
    async fn append_log(
        &self,
        id: &JobId,
        lines: &[NewLogLine],
    ) -> Result<Option<u64>, StoreError> {
        self.inner.append_log(id, lines).await
    }
    async fn read_log(&self, id: &JobId, after: u64, limit: u32) -> Result<LogPage, StoreError> {
        self.inner.read_log(id, after, limit).await
    }
    async fn log_tail(&self, id: &JobId, most: u32) -> Result<Vec<LogLine>, StoreError> {
        self.inner.log_tail(id, most).await
    }
    async fn history(&self, id: &JobId) -> Result<Vec<Sample>, StoreError> {
        self.inner.history(id).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    fn name(&self) -> &'static str {
        self.inner.name()
    }
}
