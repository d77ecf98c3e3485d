//! [`Checkpoints`]: one queue for the archive checkpoints of every job of a
//! writer, sent to the archive as multi-row upserts.
//!
//! Each job's flusher checkpoints its job at most every 30 s (and on every
//! status change). One statement per checkpoint would cost PostgreSQL 333
//! statements a second for 10,000 running jobs, and 33,000 for a million;
//! so the flushers [`submit`](Checkpoints::submit) their records here
//! instead, and one background task per writer gathers what arrives within
//! a few milliseconds (up to [`CheckpointBatching::max_rows`]) into one
//! [`Archive::checkpoint_many`] call: for PostgreSQL one `INSERT ... SELECT
//! FROM UNNEST(...) ON CONFLICT` with the same never-backwards rule
//! (`store/archive/postgres/sql.rs`). Measured in BENCHMARKS.md, scenario 11.
//!
//! It lives on the write path, not in the store, because it is about how
//! writers talk to the archive, not about PostgreSQL: any [`Archive`] can
//! sit behind it (one without a batch write of its own gets its records one
//! by one), and anything that writes checkpoints (a [`ProgressWriter`],
//! the HTTP ingest) can share one through
//! [`ProgressWriter::checkpoints`].
//!
//! What a submitter can rely on:
//!
//! - [`submit`](Checkpoints::submit) resolves once its record has been
//!   *tried*: with the outcome of the statement that carried it, or its
//!   error. So `JobHandle::flush()` still reports delivery, and the flusher
//!   still retries a failed checkpoint with backoff, with its latest state.
//! - The archive's guard (timeout, circuit breaker) wraps each statement,
//!   so a failing batch counts once against the breaker, not once per job.
//! - Two records of one job in one batch collapse to the newer one (an
//!   upsert cannot change one row twice); both submitters get its outcome.
//! - A batch the archive *refuses* (a constraint, a bad row) is retried one
//!   record at a time, so one bad record does not hold back the others.
//! - The queue is bounded ([`CheckpointBatching::queue`]): when the archive
//!   falls behind, submitters (background flushers, never worker code)
//!   wait.
//! - A status change is submitted with [`submit_synced`](Checkpoints::submit_synced):
//!   its batch is written with [`Archive::checkpoint_many_synced`], which
//!   on SQLite also survives a power cut, not only a crash of the process.
//!   Whoever acknowledges a status change waits for that commit, at most
//!   [`COMMIT_WAIT`].
//!
//! [`ProgressWriter`]: super::ProgressWriter
//! [`ProgressWriter::checkpoints`]: super::ProgressWriter::checkpoints

use std::{
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    runtime::Handle,
    sync::{Semaphore, mpsc, oneshot},
    time::Instant,
};

use crate::{
    domain::ProgressRecord,
    error::error_chain,
    store::{Archive, StoreError, WriteOutcome},
};

/// How long an acknowledgement of a status change (an HTTP answer, a
/// `JobHandle::complete`) waits for the archive to commit it. A healthy
/// archive commits within a batch's linger and one statement (milliseconds;
/// BENCHMARKS.md, "Status changes: answered after the commit"); 2 s leaves
/// room for a few retries (100 ms doubling) through a blip or a lock held by
/// another process, and is still short enough for a worker's HTTP client
/// (commonly 5-30 s timeouts) to get a 503 with `Retry-After` rather than
/// time out itself and leave it unsure what happened.
pub const COMMIT_WAIT: Duration = Duration::from_secs(2);

/// How checkpoints are gathered into statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointBatching {
    /// Most records in one statement. Default 1,000: a few milliseconds of
    /// work for PostgreSQL, well inside its call timeout.
    pub max_rows: usize,
    /// How long a batch waits for more records after its first, unless it
    /// is full first. Default 5 ms: what a `flush()` pays in latency.
    pub linger: Duration,
    /// Statements in flight at once. Default 2: one is being written while
    /// the next fills.
    pub in_flight: usize,
    /// Records waiting at most; further submitters wait. Default 10,000.
    pub queue: usize,
}

impl Default for CheckpointBatching {
    fn default() -> Self {
        Self {
            max_rows: 1_000,
            linger: Duration::from_millis(5),
            in_flight: 2,
            queue: 10_000,
        }
    }
}

/// What a [`Checkpoints`] has sent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Records submitted.
    pub submitted: u64,
    /// Archive calls made (for PostgreSQL: statements).
    pub statements: u64,
    /// Records those calls carried (duplicates collapsed).
    pub rows: u64,
    /// Calls that failed.
    pub failed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    submitted: AtomicU64,
    statements: AtomicU64,
    rows: AtomicU64,
    failed: AtomicU64,
}

type Outcome = Result<WriteOutcome, StoreError>;

struct Submission {
    record: ProgressRecord,
    /// A status change: its batch is written synced.
    synced: bool,
    reply: oneshot::Sender<Outcome>,
}

/// The shared checkpoint queue of a writer. Cheap to clone; the task behind
/// it starts with the first submission and ends when the last clone is
/// dropped and the queue has drained.
///
/// That task runs on the runtime the queue was made on, not on the one of
/// whoever submits first: in the server, submissions come from request
/// handlers, whose runtimes (one per HTTP worker thread) stop with the
/// server, while the queue must outlive them to drain at shutdown.
#[derive(Clone)]
pub struct Checkpoints {
    inner: Arc<Inner>,
}

struct Inner {
    archive: Arc<dyn Archive>,
    config: CheckpointBatching,
    queue: OnceLock<mpsc::Sender<Submission>>,
    counters: Arc<Counters>,
    /// The runtime it was made on, if any (else the first submitter's).
    runtime: Option<Handle>,
}

impl std::fmt::Debug for Checkpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoints")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Checkpoints {
    /// The archive the checkpoints go to.
    pub(crate) fn archive(&self) -> &dyn Archive {
        self.inner.archive.as_ref()
    }

    /// A queue in front of `archive`.
    pub fn new(archive: Arc<dyn Archive>, config: CheckpointBatching) -> Self {
        Self {
            inner: Arc::new(Inner {
                archive,
                config,
                queue: OnceLock::new(),
                counters: Arc::default(),
                runtime: Handle::try_current().ok(),
            }),
        }
    }

    /// Queues `record` for the next statement and waits until that has
    /// been tried: `Written`, `Stale` (the archive holds a later state of
    /// the job), or the error the whole batch failed with. The caller
    /// retries on error, with whatever state is latest by then.
    ///
    /// Dropping the future does not withdraw the record; it is still
    /// written.
    pub async fn submit(&self, record: ProgressRecord) -> Result<WriteOutcome, StoreError> {
        self.enqueue(record, false).await
    }

    /// [`submit`](Self::submit) for a status change: the batch that carries
    /// it is written with [`Archive::checkpoint_many_synced`] (on SQLite,
    /// `synchronous=FULL` for that transaction), so once this answers
    /// `Ok`, the change survives a power cut as well as a crash.
    pub async fn submit_synced(&self, record: ProgressRecord) -> Result<WriteOutcome, StoreError> {
        self.enqueue(record, true).await
    }

    async fn enqueue(
        &self,
        record: ProgressRecord,
        synced: bool,
    ) -> Result<WriteOutcome, StoreError> {
        self.inner
            .counters
            .submitted
            .fetch_add(1, Ordering::Relaxed);
        let (reply, outcome) = oneshot::channel();
        let queue = self.inner.queue.get_or_init(|| self.start());
        let submission = Submission {
            record,
            synced,
            reply,
        };
        if queue.send(submission).await.is_err() {
            return Err(gone());
        }
        outcome.await.unwrap_or_else(|_| Err(gone()))
    }

    /// What has been sent so far.
    pub fn stats(&self) -> BatchStats {
        let c = &self.inner.counters;
        BatchStats {
            submitted: c.submitted.load(Ordering::Relaxed),
            statements: c.statements.load(Ordering::Relaxed),
            rows: c.rows.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }

    fn start(&self) -> mpsc::Sender<Submission> {
        let config = self.inner.config;
        let (sender, receiver) = mpsc::channel(config.queue.max(1));
        let task = gather(
            receiver,
            Arc::clone(&self.inner.archive),
            config,
            Arc::clone(&self.inner.counters),
        );
        match &self.inner.runtime {
            Some(runtime) => drop(runtime.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
        sender
    }
}

/// The queue's task has stopped (it panicked): nothing was written.
fn gone() -> StoreError {
    StoreError::unavailable(
        "archive",
        std::io::Error::other("the checkpoint queue has stopped"),
    )
}

/// Takes batches off the queue, at most `in_flight` statements at once.
async fn gather(
    mut queue: mpsc::Receiver<Submission>,
    archive: Arc<dyn Archive>,
    config: CheckpointBatching,
    counters: Arc<Counters>,
) {
    let max_rows = config.max_rows.max(1);
    let slots = Arc::new(Semaphore::new(config.in_flight.max(1)));
    loop {
        // While every slot is busy, records pile up in the queue: the next
        // batch takes them all at once.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(max_rows);
        if queue.recv_many(&mut batch, max_rows).await == 0 {
            return; // every handle is gone and the queue is empty
        }
        let until = Instant::now() + config.linger;
        while batch.len() < max_rows {
            let room = max_rows - batch.len();
            match tokio::time::timeout_at(until, queue.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let archive = Arc::clone(&archive);
        let counters = Arc::clone(&counters);
        tokio::spawn(async move {
            send(archive.as_ref(), batch, &counters).await;
            drop(slot);
        });
    }
}

/// Writes one batch and tells each submitter what became of its record.
async fn send(archive: &dyn Archive, mut batch: Vec<Submission>, counters: &Counters) {
    // A stable sort keeps each job's records in arrival order: the last
    // one is the newest. (The statement writes rows in job-id order too.)
    batch.sort_by(|a, b| a.record.job_id.cmp(&b.record.job_id));
    let synced = batch.iter().any(|submission| submission.synced);
    let mut records: Vec<ProgressRecord> = Vec::with_capacity(batch.len());
    let mut replies: Vec<Vec<oneshot::Sender<Outcome>>> = Vec::with_capacity(batch.len());
    for Submission { record, reply, .. } in batch {
        match (records.last_mut(), replies.last_mut()) {
            (Some(last), Some(waiting)) if last.job_id == record.job_id => {
                *last = record;
                waiting.push(reply);
            }
            _ => {
                records.push(record);
                replies.push(vec![reply]);
            }
        }
    }

    match write(archive, &records, synced, counters).await {
        Ok(outcomes) => {
            for (waiting, outcome) in replies.into_iter().zip(outcomes) {
                deliver(waiting, Ok(outcome));
            }
        }
        Err(err @ StoreError::Refused { .. }) if records.len() > 1 => {
            tracing::warn!(
                error = %error_chain(&err),
                jobs = records.len(),
                "the archive refused a checkpoint batch; writing its records one by one"
            );
            for (record, waiting) in records.iter().zip(replies) {
                let result = write(archive, std::slice::from_ref(record), synced, counters).await;
                let outcome = result.map(|o| o.first().copied().unwrap_or(WriteOutcome::Stale));
                deliver(waiting, outcome);
            }
        }
        Err(err) => deliver(replies.into_iter().flatten().collect(), Err(err)),
    }
}

/// One archive call, counted.
async fn write(
    archive: &dyn Archive,
    records: &[ProgressRecord],
    synced: bool,
    counters: &Counters,
) -> Result<Vec<WriteOutcome>, StoreError> {
    counters.statements.fetch_add(1, Ordering::Relaxed);
    counters
        .rows
        .fetch_add(records.len() as u64, Ordering::Relaxed);
    let result = if synced {
        archive.checkpoint_many_synced(records).await
    } else {
        archive.checkpoint_many(records).await
    };
    if result.is_err() {
        counters.failed.fetch_add(1, Ordering::Relaxed);
    }
    result
}

/// Gives every submitter in `waiting` the same outcome (the last one the
/// original error, source and all). A submitter that stopped waiting is no
/// error.
fn deliver(waiting: Vec<oneshot::Sender<Outcome>>, outcome: Outcome) {
    let mut waiting = waiting.into_iter().peekable();
    while let Some(reply) = waiting.next() {
        if waiting.peek().is_none() {
            let _ = reply.send(outcome);
            return;
        }
        let copy = match &outcome {
            Ok(written) => Ok(*written),
            Err(err) => Err(copy_of(err)),
        };
        let _ = reply.send(copy);
    }
}

/// The cause of a failed batch, for one more of its submitters: the
/// original's message chain, as text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SameCause(String);

/// `err` again, for another submitter of the batch it failed: the same
/// kind (so the same retry and breaker decisions) and the same message.
fn copy_of(err: &StoreError) -> StoreError {
    let cause = |source: &(dyn std::error::Error + Send + Sync + 'static)| {
        Box::new(SameCause(error_chain(source)))
    };
    match err {
        StoreError::Timeout { store, timeout } => StoreError::Timeout {
            store,
            timeout: *timeout,
        },
        StoreError::Unavailable { store, source } => StoreError::Unavailable {
            store,
            source: cause(source.as_ref()),
        },
        StoreError::Refused { store, source } => StoreError::Refused {
            store,
            source: cause(source.as_ref()),
        },
        StoreError::Corrupt { key, source } => StoreError::Corrupt {
            key: key.clone(),
            source: cause(source.as_ref()),
        },
    }
}
