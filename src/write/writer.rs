//! [`ProgressWriter`] and [`JobHandle`]: what worker code calls.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use tokio::sync::{Notify, watch};
use tokio_util::task::TaskTracker;

use super::{WriteError, eta::JobShape, flusher, state::JobState};
use crate::{
    domain::{JobId, JobStatus, ProgressRecord, ScheduleId},
    store::{Archive, HotStore},
};

/// How often the writer talks to the stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterConfig {
    /// At most one hot-store write per job per interval (status changes and
    /// the final state are written at once). Default 1 s.
    pub flush_interval: Duration,
    /// At most one archive checkpoint per job per interval while only the
    /// counts move (status changes are checkpointed at once). Default 30 s.
    pub checkpoint_interval: Duration,
    /// The longest pause between retries of a store that fails. Default 2 s.
    pub max_retry_delay: Duration,
    /// While the job runs, its record is rewritten at least this often even
    /// when nothing changes (default 15 s), so readers can tell a live job
    /// from one whose worker died, and a Redis that lost its data gets the
    /// job back. The record says it in `refreshIntervalMs`.
    pub heartbeat_interval: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_secs(1),
            checkpoint_interval: Duration::from_secs(30),
            max_retry_delay: Duration::from_secs(2),
            heartbeat_interval: Duration::from_secs(15),
        }
    }
}

/// What a worker knows about a job when it starts it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobSpec {
    /// How many targets the job has.
    pub total: u64,
    /// How many chunks it is sent in, if chunked.
    pub total_chunks: Option<u64>,
    /// Targets per chunk, if chunked (helps the ETA).
    pub chunk_size: Option<u64>,
    /// The pause between chunks, if any (helps the ETA).
    pub pause: Option<Duration>,
    /// The scheduled send this job carries out.
    pub schedule_id: Option<ScheduleId>,
}

impl JobSpec {
    /// A job of `total` targets, not chunked.
    pub fn new(total: u64) -> Self {
        Self {
            total,
            ..Self::default()
        }
    }

    /// Sent in chunks of `size` with `pause` between them; also sets
    /// `total_chunks`.
    pub fn chunked(mut self, size: u64, pause: Duration) -> Self {
        let size = size.max(1);
        self.chunk_size = Some(size);
        self.total_chunks = Some(self.total.div_ceil(size));
        self.pause = Some(pause);
        self
    }

    /// Carries out the scheduled send `id`.
    pub fn schedule(mut self, id: ScheduleId) -> Self {
        self.schedule_id = Some(id);
        self
    }
}

/// The outcome of a job's final flush: whether its final state reached each
/// store at the first attempt. A store that missed it keeps being retried in
/// the background for as long as the process lives (see
/// [`ProgressWriter::shutdown`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// The hot store (Redis) has the final state.
    pub hot: bool,
    /// The archive (PostgreSQL) has the final state.
    pub archive: bool,
}

/// Writes job progress. Cheap to clone; share one per process.
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// use std::{sync::Arc, time::Duration};
/// use job_progress::{domain::JobId, store::*, write::*};
///
/// let redis = RedisStore::new("redis://127.0.0.1:6379", Keys::new("job:"),
///     Ttls::default(), Duration::from_millis(100))?;
/// let pg = PgArchive::connect_lazy("postgres://postgres@127.0.0.1/postgres",
///     4, Duration::from_secs(1), Duration::from_secs(2))?;
/// let writer = ProgressWriter::new(Arc::new(redis), Arc::new(pg), WriterConfig::default());
///
/// let job = writer.start(JobId::parse("campaign-42")?,
///     JobSpec::new(1_000).chunked(500, Duration::from_secs(2)));
/// for chunk in 1..=2 {
///     job.set_chunk(chunk)?;
///     // ... send 500 notifications: 490 delivered, 10 refused ...
///     job.record(490, 10)?;
/// }
/// job.complete().await;
/// writer.shutdown(Duration::from_secs(5)).await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ProgressWriter {
    hot: Arc<dyn HotStore>,
    archive: Arc<dyn Archive>,
    config: WriterConfig,
    tasks: TaskTracker,
    /// Moves when a Redis write succeeds after failures: every flusher then
    /// rewrites its job, in case Redis came back empty.
    redis_epoch: watch::Sender<u64>,
}

impl std::fmt::Debug for ProgressWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressWriter")
            .field("config", &self.config)
            .field("jobs", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl ProgressWriter {
    /// A writer over the two stores.
    pub fn new(hot: Arc<dyn HotStore>, archive: Arc<dyn Archive>, config: WriterConfig) -> Self {
        Self {
            hot,
            archive,
            config,
            tasks: TaskTracker::new(),
            redis_epoch: watch::Sender::new(0),
        }
    }

    /// Starts a job that is sending now (`in_progress`). Written to both
    /// stores at once, in the background. Must be called inside a Tokio
    /// runtime.
    pub fn start(&self, id: JobId, spec: JobSpec) -> JobHandle {
        self.open(id, spec, JobStatus::InProgress)
    }

    /// Registers a job that is still gathering its targets (`preparing`);
    /// [`JobHandle::begin`] or the first recorded progress moves it to
    /// `in_progress`.
    pub fn prepare(&self, id: JobId, spec: JobSpec) -> JobHandle {
        self.open(id, spec, JobStatus::Preparing)
    }

    fn open(&self, id: JobId, spec: JobSpec, status: JobStatus) -> JobHandle {
        let mut record = ProgressRecord::new(id, status, spec.total);
        record.total_chunks = spec.total_chunks;
        record.schedule_id = spec.schedule_id;
        record.started_at = Some(super::state::now());
        let shape = JobShape {
            total: spec.total,
            chunk_size: spec.chunk_size,
            pause: spec.pause,
        };
        let (delivered, _) = watch::channel(Delivered::default());
        let shared = Arc::new(Shared {
            state: Mutex::new(JobState::new(record, shape)),
            wake: Notify::new(),
            delivered,
        });
        self.tasks.spawn(flusher::run(
            Arc::clone(&shared),
            Arc::clone(&self.hot),
            Arc::clone(&self.archive),
            self.config,
            self.redis_epoch.clone(),
        ));
        JobHandle { shared }
    }

    /// Waits until every job's flusher has written what it holds (jobs still
    /// open keep theirs running), at most `timeout`. Returns whether all had.
    /// Call it before a worker process exits.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.tasks.close();
        let done = tokio::time::timeout(timeout, self.tasks.wait())
            .await
            .is_ok();
        self.tasks.reopen();
        done
    }
}

/// Which versions of a job's state the flusher has tried on, and stored in,
/// each store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub(crate) hot_tried: u64,
    pub(crate) hot_stored: u64,
    pub(crate) archive_tried: u64,
    pub(crate) archive_stored: u64,
}

/// State shared between a [`JobHandle`] and its flusher task.
pub(crate) struct Shared {
    /// A std mutex: it is held for a few memory operations, never across an
    /// await, so the async one would only add cost.
    pub(crate) state: Mutex<JobState>,
    /// Wakes the flusher after a change.
    pub(crate) wake: Notify,
    /// What the flusher has delivered so far; waited on by `flush`.
    pub(crate) delivered: watch::Sender<Delivered>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, JobState> {
        // A panic while holding the lock cannot leave the state half
        // changed (each change is validated first), so a poisoned lock is
        // still safe to use.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One running job. Every recording method only changes memory and returns
/// at once; the flusher task writes to the stores in the background.
///
/// Dropping the handle without [`complete`](Self::complete) or
/// [`fail`](Self::fail) flushes the last state and leaves the job open.
pub struct JobHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for JobHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHandle")
            .field("job_id", &self.shared.lock().record.job_id)
            .finish_non_exhaustive()
    }
}

impl JobHandle {
    fn change(
        &self,
        f: impl FnOnce(&mut JobState) -> Result<(), WriteError>,
    ) -> Result<(), WriteError> {
        f(&mut self.shared.lock())?;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Adds `succeeded` and `failed` targets to the counts.
    pub fn record(&self, succeeded: u64, failed: u64) -> Result<(), WriteError> {
        self.change(|state| state.add(succeeded, failed))
    }

    /// Sets the counts to absolute values; they may not go down.
    pub fn set_counts(&self, succeeded: u64, failed: u64) -> Result<(), WriteError> {
        self.change(|state| state.set_counts(succeeded, failed))
    }

    /// Sets the chunk being sent (1-based).
    pub fn set_chunk(&self, chunk: u64) -> Result<(), WriteError> {
        self.change(|state| state.set_chunk(chunk))
    }

    /// Revises the total (it may not drop below what was processed).
    pub fn set_total(&self, total: u64) -> Result<(), WriteError> {
        self.change(|state| state.set_total(total))
    }

    /// Moves a `preparing` job to `in_progress`.
    pub fn begin(&self) -> Result<(), WriteError> {
        self.change(|state| state.set_status(JobStatus::InProgress))
    }

    /// The job's current state, with a fresh ETA.
    pub fn progress(&self) -> ProgressRecord {
        self.shared.lock().snapshot()
    }

    /// Writes the current state to both stores now, whatever the
    /// throttle says, and waits until each has been tried once (each try is
    /// bounded by the store's timeout). Useful before a worker exits.
    pub async fn flush(&self) -> Flushed {
        let version = {
            let mut state = self.shared.lock();
            state.urgent = state.version;
            state.version
        };
        self.shared.wake.notify_one();
        self.delivery_of(version).await
    }

    /// Marks the job completed and waits until its final counts have been
    /// tried on both stores (each bounded by its timeout).
    pub async fn complete(self) -> Result<Flushed, WriteError> {
        self.change(|state| state.set_status(JobStatus::Completed))?;
        Ok(self.flush().await)
    }

    /// Marks the job failed with `message`, and waits like
    /// [`complete`](Self::complete).
    pub async fn fail(self, message: impl Into<String>) -> Result<Flushed, WriteError> {
        let message = message.into();
        self.change(|state| {
            state.set_status(JobStatus::Failed)?;
            state.set_error(message);
            Ok(())
        })?;
        Ok(self.flush().await)
    }

    async fn delivery_of(&self, version: u64) -> Flushed {
        let mut delivered = self.shared.delivered.subscribe();
        let tried = delivered
            .wait_for(|d| d.hot_tried >= version && d.archive_tried >= version)
            .await
            .map(|d| *d);
        match tried {
            Ok(d) => Flushed {
                hot: d.hot_stored >= version,
                archive: d.archive_stored >= version,
            },
            // The flusher is gone (the runtime is shutting down).
            Err(_) => Flushed {
                hot: false,
                archive: false,
            },
        }
    }
}

impl Drop for JobHandle {
    fn drop(&mut self) {
        self.shared.lock().abandoned = true;
        self.shared.wake.notify_one();
    }
}
