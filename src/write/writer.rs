//! [`ProgressWriter`] and [`JobHandle`]: what worker code calls. What a
//! worker declares about a job when it starts it, [`JobSpec`], lives in
//! `spec.rs`.

use std::{sync::Arc, time::Duration};

use chrono::Utc;

use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use super::{
    checkpoints::{COMMIT_WAIT, Checkpoints},
    detail::Detail,
    error::WriteError,
    eta::JobShape,
    flusher::{self, WriterConfig},
    kinds::Kinds,
    link::{Flushed, JobLink},
    spec::JobSpec,
    state::JobState,
};
use crate::{
    domain::{
        CancelRequest, JobId, JobStatus, LogLevel, LogLineError, Message, Metadata, NewLogLine,
        ProgressRecord, ResultUrl, steps,
    },
    push::Publisher,
    store::{Archive, HotStore},
};

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
/// job.complete().await?; // returns once PostgreSQL has committed it
/// writer.shutdown(Duration::from_secs(5)).await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ProgressWriter {
    hot: Arc<dyn HotStore>,
    /// Every job's archive checkpoints go through this one queue.
    checkpoints: Checkpoints,
    config: WriterConfig,
    tasks: TaskTracker,
    /// Moves when a hot-store write succeeds after failures: every flusher
    /// then rewrites its job, in case the store came back empty.
    hot_epoch: watch::Sender<u64>,
    /// Where stored records are published when the hot store does not
    /// publish them itself.
    publisher: Option<Publisher>,
    /// Each kind's history of finished runs, read when a job of the kind
    /// starts.
    kinds: Kinds,
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
            kinds: Kinds::new(Arc::clone(&archive)),
            checkpoints: Checkpoints::new(archive, config.checkpoint_batching),
            config,
            tasks: TaskTracker::new(),
            hot_epoch: watch::Sender::new(0),
            publisher: None,
        }
    }

    /// Publishes every stored record to `publisher` (the NATS bus) after
    /// its hot-store write; the hot store should then not publish itself
    /// ([`RedisStore::without_publishing`](crate::store::RedisStore::without_publishing)).
    pub fn with_publisher(mut self, publisher: Publisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// The queue through which this writer's jobs checkpoint to the
    /// archive, many jobs to a statement. Other writers of checkpoints in
    /// the same process can share it.
    pub fn checkpoints(&self) -> &Checkpoints {
        &self.checkpoints
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
        record.name = spec.name;
        record.kind = spec.kind;
        record.steps = spec.steps;
        record.attempt = spec.attempt;
        record.parent_job_id = spec.parent;
        record.expected_children = spec.expected_children;
        record.complete_with_children = spec.complete_with_children;
        record.failure_policy = spec.failure_policy;
        record.started_at = Some(super::state::now());
        let shape = JobShape {
            total: spec.total.unwrap_or(0),
            chunk_size: spec.chunk_size,
            pause: spec.pause,
        };
        let state = JobState::new(record, shape);
        let kind = state.wants_history().cloned();
        let link = Arc::new(JobLink::new(state));
        if let Some(kind) = kind {
            // In the background: the worker never waits for the archive,
            // and the estimate leans on the kind from then on.
            let (link, kinds) = (Arc::clone(&link), self.kinds.clone());
            self.tasks.spawn(async move {
                if let Some(history) = kinds.history(&kind).await {
                    // A job that ended meanwhile has no use for it.
                    let _ = link.change(|state| {
                        state.ensure_open()?;
                        state.lean_on(&history);
                        Ok(())
                    });
                }
            });
        }
        self.tasks.spawn(flusher::run(
            Arc::clone(&link),
            Arc::clone(&self.hot),
            self.checkpoints.clone(),
            self.config,
            self.hot_epoch.clone(),
            self.publisher.clone(),
            self.kinds.clone(),
        ));
        JobHandle { link }
    }

    /// Waits until every job's flusher has written what it holds (jobs still
    /// open keep theirs running), at most `timeout`. Returns whether all had.
    /// Call it before a worker process exits.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.tasks.close();
        let done = tokio::time::timeout(timeout, async {
            self.tasks.wait().await;
            if let Some(publisher) = &self.publisher {
                publisher.flush().await;
            }
        })
        .await
        .is_ok();
        self.tasks.reopen();
        done
    }
}

/// Why [`JobHandle::complete`] or [`JobHandle::fail`] could not confirm the
/// job's end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinishError {
    /// The end was refused (the job had already ended): nothing changed.
    #[error(transparent)]
    Refused(#[from] WriteError),
    /// The end is recorded (in memory, and in the hot store when `hot`),
    /// but the archive did not commit it within [`COMMIT_WAIT`], so it is
    /// not yet durable: should this process die now, it may be lost. The
    /// writer goes on trying in the background for as long as the process
    /// lives, and [`ProgressWriter::shutdown`] returns `true` only once it
    /// has landed. So: do not acknowledge the work upstream yet (to a
    /// queue, a caller); wait with `shutdown`, or let the work be redone.
    #[error("the job's end is not yet committed to the archive (hot store written: {hot})")]
    NotDurable {
        /// The hot store has the end (readers see it).
        hot: bool,
    },
}

/// One running job. Every recording method only changes memory and returns
/// at once; the flusher task writes to the stores in the background.
///
/// Dropping the handle without [`complete`](Self::complete) or
/// [`fail`](Self::fail) flushes the last state and leaves the job open.
pub struct JobHandle {
    link: Arc<JobLink>,
}

impl std::fmt::Debug for JobHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHandle")
            .field(
                "job_id",
                &self.link.inspect(|state| state.record.job_id.clone()),
            )
            .finish_non_exhaustive()
    }
}

impl JobHandle {
    /// Adds `succeeded` and `failed` targets to the counts.
    pub fn record(&self, succeeded: u64, failed: u64) -> Result<(), WriteError> {
        self.link.change(|state| state.add(succeeded, failed))
    }

    /// Sets the counts to absolute values; they may not go down.
    pub fn set_counts(&self, succeeded: u64, failed: u64) -> Result<(), WriteError> {
        self.link
            .change(|state| state.set_counts(succeeded, failed))
    }

    /// Sets the chunk being sent (1-based).
    pub fn set_chunk(&self, chunk: u64) -> Result<(), WriteError> {
        self.link.change(|state| state.set_chunk(chunk))
    }

    /// Revises the total (it may not drop below what was processed).
    pub fn set_total(&self, total: u64) -> Result<(), WriteError> {
        self.link.change(|state| state.set_total(total))
    }

    /// Enters the stage `stage`: one of the job's steps (the earlier ones
    /// become `done`), or free text for a job without steps. Refused for a
    /// step the job has passed or does not have.
    pub fn stage(&self, stage: impl Into<String>) -> Result<(), WriteError> {
        let stage = stage.into();
        steps::check_step_name("stage", &stage)?;
        self.describe(Detail {
            stage: Some(stage),
            ..Detail::default()
        })
    }

    /// Sets the job's latest sentence ("waiting for the rate limit");
    /// empty clears it.
    pub fn message(&self, message: impl Into<String>) -> Result<(), WriteError> {
        let message = Message::parse(message)?;
        self.describe(Detail {
            message: Some(message),
            ..Detail::default()
        })
    }

    /// Merges `patch` into the job's metadata key by key (`null` removes a
    /// key); refused if the result would pass 4 KB of JSON.
    pub fn metadata(&self, patch: Metadata) -> Result<(), WriteError> {
        self.describe(Detail {
            metadata: Some(patch),
            ..Detail::default()
        })
    }

    /// Adds a line to the job's log, stamped now. It is queued, never
    /// waited on: the flusher sends queued lines after the job's next
    /// write, at most once per flush interval; a queue that outgrows what
    /// the hot store keeps (1,000 lines) drops its oldest. Refused (and
    /// nothing queued) for a message over 2 KiB.
    ///
    /// ```no_run
    /// # fn example(handle: &job_progress::write::JobHandle) -> Result<(), job_progress::domain::LogLineError> {
    /// use job_progress::domain::LogLevel;
    /// handle.log(LogLevel::Warn, "rate limited; waiting 2 s")?;
    /// # Ok(()) }
    /// ```
    pub fn log(&self, level: LogLevel, message: impl Into<String>) -> Result<(), LogLineError> {
        self.link.log(NewLogLine::new(Utc::now(), level, message)?);
        Ok(())
    }

    /// Takes everything `detail` says at once, or none of it.
    pub fn describe(&self, detail: Detail) -> Result<(), WriteError> {
        self.link.change(|state| state.describe(&detail))
    }

    /// The request to stop the job, once the writer has heard of one (the
    /// hot store tells it with the next write after someone asked:
    /// within a flush interval while the job records progress, a
    /// heartbeat interval while it does not).
    pub fn cancel_requested(&self) -> Option<CancelRequest> {
        self.link.cancel_requested()
    }

    /// Resolves once someone has asked the job to stop; select on it
    /// beside the work, then [`confirm_cancelled`](Self::confirm_cancelled).
    pub async fn cancellation(&self) -> CancelRequest {
        self.link.cancellation().await
    }

    /// Ends the job `cancelled` (it stopped on request) and returns like
    /// [`complete`](Self::complete): once durable, or with
    /// [`FinishError::NotDurable`] after [`COMMIT_WAIT`].
    pub async fn confirm_cancelled(self) -> Result<Flushed, FinishError> {
        self.link
            .change(|state| state.set_status(JobStatus::Cancelled))?;
        self.durable().await
    }

    /// Moves a `preparing` job to `in_progress`.
    pub fn begin(&self) -> Result<(), WriteError> {
        self.link
            .change(|state| state.set_status(JobStatus::InProgress))
    }

    /// The job's current state, with a fresh ETA.
    pub fn progress(&self) -> ProgressRecord {
        self.link.inspect(JobState::snapshot)
    }

    /// Writes the current state to both stores now, whatever the
    /// throttle says, and waits until each has been tried once (each try is
    /// bounded by the store's timeout). Useful before a worker exits.
    pub async fn flush(&self) -> Flushed {
        let version = self.link.request_flush();
        self.link.delivery_of(version).await
    }

    /// Marks the job completed with its final counts and returns once that
    /// is durable: committed by the archive (and tried on the hot store;
    /// [`Flushed::hot`] says whether it took it). Waits at most
    /// [`COMMIT_WAIT`] for the commit, then answers
    /// [`FinishError::NotDurable`] and keeps trying in the background.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> anyhow::Result<()> {
    /// use std::{sync::Arc, time::Duration};
    /// use job_progress::{domain::JobId, store::*, write::*};
    ///
    /// let folder = tempfile::tempdir()?;
    /// let archive = SqliteArchive::open(&folder.path().join("jobs.db"), Duration::from_secs(2))?;
    /// archive.migrate().await?;
    /// let hot = MemoryStore::new(Ttls::default(), job_progress::push::FEED_CAPACITY);
    /// let writer = ProgressWriter::new(Arc::new(hot), Arc::new(archive.clone()), WriterConfig::default());
    ///
    /// let job = writer.start(JobId::parse("nightly-export")?, JobSpec::new(10));
    /// job.record(9, 1)?;
    /// match job.complete().await {
    ///     // Committed: it survives this process dying now. Acknowledge it.
    ///     Ok(_) => {}
    ///     // Still on its way: don't acknowledge the work yet.
    ///     Err(FinishError::NotDurable { .. }) => {
    ///         anyhow::ensure!(writer.shutdown(Duration::from_secs(30)).await, "not archived");
    ///     }
    ///     // The job had already ended.
    ///     Err(FinishError::Refused(err)) => return Err(err.into()),
    /// }
    /// let archived = archive.read(&JobId::parse("nightly-export")?).await?.expect("archived");
    /// assert_eq!((archived.status.as_str(), archived.success_count), ("completed", 9));
    /// # Ok(()) }
    /// ```
    pub async fn complete(self) -> Result<Flushed, FinishError> {
        self.link
            .change(|state| state.set_status(JobStatus::Completed))?;
        self.durable().await
    }

    /// Like [`complete`](Self::complete), and says where the result can be
    /// opened; dashboards show it as a link.
    pub async fn complete_with_result(self, url: ResultUrl) -> Result<Flushed, FinishError> {
        self.link.change(|state| {
            state.set_status(JobStatus::Completed)?;
            state.set_result(url);
            Ok(())
        })?;
        self.durable().await
    }

    /// Marks the job failed with `message`, and returns like
    /// [`complete`](Self::complete): once durable, or with
    /// [`FinishError::NotDurable`] after [`COMMIT_WAIT`].
    pub async fn fail(self, message: impl Into<String>) -> Result<Flushed, FinishError> {
        let message = message.into();
        self.link.change(|state| {
            state.set_status(JobStatus::Failed)?;
            state.set_error(message);
            Ok(())
        })?;
        self.durable().await
    }

    /// Writes the current state at once and waits for the archive's
    /// commit, at most [`COMMIT_WAIT`].
    async fn durable(&self) -> Result<Flushed, FinishError> {
        let version = self.link.request_flush();
        self.link
            .durable_of(version, COMMIT_WAIT)
            .await
            .map_err(|flushed| FinishError::NotDurable { hot: flushed.hot })
    }
}

impl Drop for JobHandle {
    fn drop(&mut self) {
        self.link.abandon();
    }
}
