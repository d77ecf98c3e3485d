//! [`Ingest`]: progress written over HTTP, by workers in any language.
//!
//! The same rules as the [`ProgressWriter`](super::ProgressWriter), through
//! the same code: each update loads the job's record and its writer's state
//! (`Stored`: the estimator, its clock, the last checkpoint) from the hot
//! store, applies the change to a `JobState` exactly as a
//! [`JobHandle`](super::JobHandle) would, and writes record and state back
//! in one script that only succeeds if no other update came in between.
//! When one did (two API instances updating one job at once), the update
//! starts again from what the other stored, so neither is lost and the
//! counts, the ordering and the ETA come out as if one instance had
//! received every update.
//!
//! - No API instance holds a job: there is no flusher and no heartbeat.
//!   The job's liveness is its worker's requests, so a dead worker's job
//!   shows `stalled` by the refresh interval it declared.
//! - The archive gets a checkpoint when the status changes and at most
//!   every `checkpoint_interval` while counts move. An update that changes
//!   the status (a declaration, `preparing` -> `in_progress`, an ending) is
//!   answered only once the archive has committed it: a worker that got a
//!   2xx never retries, so the change must survive the instance dying
//!   right after. Past [`COMMIT_WAIT`](crate::write::COMMIT_WAIT) it is
//!   refused as [`IngestError::NotDurable`] (503), the change staying in
//!   the hot store and its checkpoint still being tried in the background.
//!   The status is marked in the job's state as sent, and confirmed only
//!   once its commit is heard (`commit.rs`): an update that finds it
//!   unconfirmed (the retry of one refused, or of one whose hot-store
//!   write failed after the store had applied it) waits for the commit
//!   too. A repeated declaration or ending answers once the archive holds
//!   it.
//!   Plain count updates are answered before their checkpoint, which goes
//!   out in the background: a crash of the hot store and the instance
//!   together costs at most `checkpoint_interval` of counts.
//! - A job the hot store does not know asks the archive whether it
//!   finished long ago (a finished job never reopens) or ran before the
//!   hot store lost it (it goes on from its checkpoint).
//! - A stored state that cannot be read (an older format) costs the
//!   estimate its history, never the update.
//! - A job declared with a `kind` leans on the kind's earlier runs: the
//!   declaration reads the kind's history (through the per-kind cache of
//!   `write/kinds.rs`, waiting at most
//!   [`HISTORY_WAIT`](crate::write::HISTORY_WAIT)) and the job's stored
//!   state carries what it takes from it; reports never read it. A
//!   completion adds the job's run to it, in the background.

mod apply;
mod commit;
mod error;
mod family;
mod log;
mod stored;

use std::{sync::Arc, time::Duration};

use futures_util::{StreamExt as _, stream};
use tokio::runtime::Handle;
use tokio_util::task::TaskTracker;

pub use self::error::IngestError;
use self::{
    apply::{Applied, Current},
    stored::Stored,
};
use super::{Detail, JobSpec, WriterConfig, checkpoints::Checkpoints, kinds::Kinds, state::now};
use crate::{
    domain::{JobId, JobStatus, ProgressRecord, ResultUrl},
    error::error_chain,
    push::Publisher,
    store::{Archive, HotStore, Replaced, StoreError},
};

/// How many times an update is redone when other updates of the same job
/// keep coming first. Two instances racing settle in one or two; more than
/// this means a client is hammering one job, and is told to retry.
const MAX_ATTEMPTS: usize = 8;

/// How many updates of a batch are in flight at once: enough to hide the
/// round trips, few enough not to crowd out other requests' Redis calls.
const BATCH_CONCURRENCY: usize = 16;

/// A job declared by its worker (`PUT /api/v1/jobs/{jobId}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Declaration {
    /// Its total, chunking, scheduled send, name, kind and steps.
    pub spec: JobSpec,
    /// A first stage, message or metadata.
    pub detail: Detail,
    /// `preparing` or `in_progress`.
    pub status: JobStatus,
    /// How often the worker promises to report; stall detection uses it.
    pub refresh_interval: Option<Duration>,
    /// Which run of the job this declares: one past the stored attempt
    /// starts the job again (after it failed or was cancelled, or while a
    /// dead worker's attempt still shows running); `None` is the current.
    pub attempt: Option<u32>,
    /// A new attempt goes on from the earlier one's counts rather than
    /// from zero.
    pub resume: bool,
}

/// One progress report (`POST /api/v1/jobs/{jobId}/progress`): absolute
/// counts, so a retried report is harmless and a stale one is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Targets processed successfully so far.
    pub succeeded: u64,
    /// Targets that failed so far.
    pub failed: u64,
    /// The chunk being sent (1-based).
    pub chunk: Option<u64>,
    /// A revised total.
    pub total: Option<u64>,
    /// A new name, stage, message or metadata.
    pub detail: Detail,
    /// The attempt the report is of (`None`: the current one); an earlier
    /// one is refused as `stale_attempt`.
    pub attempt: Option<u32>,
}

/// How a job ends (`POST .../complete`, `POST .../fail`).
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    /// `completed`, or `failed` with its message.
    pub outcome: Outcome,
    /// The final successes, if the worker sends them (else the stored
    /// count stands).
    pub succeeded: Option<u64>,
    /// The final failures, likewise.
    pub failed: Option<u64>,
    /// A last message or metadata.
    pub detail: Detail,
}

/// Someone asks a job to stop (`POST .../cancel`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelAsk {
    /// Who asks: the name of their token.
    pub by: String,
    /// Why, if they say.
    pub reason: Option<String>,
}

/// The end of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every target was processed (or the rest vanished), and where the
    /// result can be opened, if anywhere.
    Completed(Option<ResultUrl>),
    /// The job gave up, and why.
    Failed(String),
    /// The job stopped because it was asked to.
    Cancelled,
}

/// An update was taken: the record as stored.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The job's record after the update, with its version.
    pub record: ProgressRecord,
    /// The update created the job.
    pub created: bool,
}

/// Takes progress written over HTTP. Cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    hot: Arc<dyn HotStore>,
    archive: Arc<dyn Archive>,
    checkpoint_interval: Duration,
    publisher: Option<Publisher>,
    /// The archive's batching queue: checkpoints of many jobs go out as
    /// one statement, as the writer's do.
    batcher: Checkpoints,
    /// Checkpoints on their way to the archive.
    checkpoints: TaskTracker,
    /// Each kind's history of finished runs, read when a job of the kind
    /// is declared.
    kinds: Kinds,
    /// Where they run: the runtime `Ingest` was made on (the server's
    /// main one), not the request's, which stops with its HTTP worker
    /// before `shutdown` drains them.
    runtime: Option<Handle>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("checkpoints_in_flight", &self.checkpoints.len())
            .finish_non_exhaustive()
    }
}

/// What an update does to a job, and whether the job must exist.
// One lives for one update, on the stack: the size of its variants does
// not matter.
#[allow(clippy::large_enum_variant)]
enum Change {
    Declare(Declaration),
    Report(Report),
    Finish(Finish),
    Cancel(CancelAsk),
}

impl Change {
    /// The attempt the change names, if it names one.
    fn attempt(&self) -> Option<u32> {
        match self {
            Change::Declare(declaration) => declaration.attempt,
            Change::Report(report) => report.attempt,
            Change::Finish(_) | Change::Cancel(_) => None,
        }
    }
}

impl Ingest {
    /// Takes updates into `hot`, checkpointing to `archive` at the
    /// writer's `checkpoint_interval`.
    pub fn new(hot: Arc<dyn HotStore>, archive: Arc<dyn Archive>, config: WriterConfig) -> Self {
        Self {
            batcher: Checkpoints::new(Arc::clone(&archive), config.checkpoint_batching),
            kinds: Kinds::new(Arc::clone(&archive)),
            hot,
            archive,
            checkpoint_interval: config.checkpoint_interval,
            publisher: None,
            checkpoints: TaskTracker::new(),
            runtime: Handle::try_current().ok(),
        }
    }

    /// Publishes every stored record to `publisher` (the NATS bus), as the
    /// writer does.
    pub fn with_publisher(mut self, publisher: Publisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// Declares a job, or confirms a declaration made before (harmless
    /// when repeated; a revised total or a move from `preparing` to
    /// `in_progress` is taken).
    pub async fn declare(
        &self,
        id: JobId,
        declaration: Declaration,
    ) -> Result<Accepted, IngestError> {
        if let Some(parent) = &declaration.spec.parent {
            self.check_parent(&id, parent).await?;
        }
        self.update(id, &Change::Declare(declaration)).await
    }

    /// Records absolute counts (and the chunk, and a revised total).
    pub async fn report(&self, id: JobId, report: Report) -> Result<Accepted, IngestError> {
        self.update(id, &Change::Report(report)).await
    }

    /// Completes or fails a job. Repeating the same ending is harmless.
    pub async fn finish(&self, id: JobId, finish: Finish) -> Result<Accepted, IngestError> {
        self.update(id, &Change::Finish(finish)).await
    }

    /// Asks the job to stop: its record carries the request (`cancelRequested`)
    /// from now on, every stream shows it, and its worker learns it from
    /// its next write's answer. Answered once the archive holds it, like a
    /// status change; asking again is harmless (the first request stands).
    /// A parent's running children are asked too (and theirs), each
    /// durable before the answer; asking again asks those still running.
    pub async fn cancel(&self, id: JobId, ask: CancelAsk) -> Result<Accepted, IngestError> {
        let accepted = self
            .update(id.clone(), &Change::Cancel(ask.clone()))
            .await?;
        self.cascade_cancel(&id, &ask).await?;
        Ok(accepted)
    }

    /// Many reports at once, each with its own result, in the order given.
    pub async fn report_many(
        &self,
        reports: Vec<(JobId, Report)>,
    ) -> Vec<Result<Accepted, IngestError>> {
        // An update's future is several KB, and `buffered` moves it
        // through its queue several times: boxed, it is moved once (those
        // copies were a few percent of a batch's CPU).
        stream::iter(reports)
            .map(|(id, report)| Box::pin(self.report(id, report)))
            .buffered(BATCH_CONCURRENCY)
            .collect()
            .await
    }

    /// Waits for the checkpoints on their way to the archive, at most
    /// `timeout`; whether all arrived.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.checkpoints.close();
        let done = tokio::time::timeout(timeout, self.checkpoints.wait())
            .await
            .is_ok();
        self.checkpoints.reopen();
        done
    }

    async fn update(&self, id: JobId, change: &Change) -> Result<Accepted, IngestError> {
        for _ in 0..MAX_ATTEMPTS {
            let held = self.hot.load(&id).await.map_err(IngestError::Unavailable)?;
            let (expected, current) = match held {
                Some(held) => (held.record.version, Current::held(held)),
                None => (0, self.recover(&id, change).await?),
            };
            let created = current.is_new();
            // What the archive gave back is in the archive already.
            let from_archive = matches!(current, Current::Recovered(_));
            let (mut state, mut ledger) = match current.apply(&id, change)? {
                Applied::Unchanged(record) => {
                    // A repeated declaration or ending, perhaps the retry
                    // of one answered 503, or sent to another instance
                    // after the first died before its checkpoint: it is
                    // answered 2xx only once the archive holds it too.
                    if !from_archive {
                        let committed = self.checkpoint(record.as_ref().clone(), true);
                        self.committed(&id, committed).await?;
                    }
                    self.after_update(&record).await;
                    return Ok(Accepted {
                        record: *record,
                        created: false,
                    });
                }
                Applied::Changed(state, ledger) => (state, ledger),
            };
            // A job declared (or run again) leans on its kind's earlier
            // runs: read here, once per start, never per report.
            if matches!(change, Change::Declare(_))
                && let Some(kind) = state.wants_history().cloned()
                && let Some(history) = self.kinds.history(&kind).await
            {
                state.lean_on(&history);
            }
            let mut record = state.snapshot();
            if record.status.is_terminal() && ledger.status_change(record.status) {
                // A parent's end keeps its children's roll-up in its
                // stored record (and so in the archive, past the hot TTL).
                match self.hot.rollup(&id).await {
                    Ok(Some(rollup)) => record.roll_up(&rollup, now()),
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(job_id = %id, error = %error_chain(&err), "ending a job without its children's roll-up");
                    }
                }
            }
            // A request to stop is acknowledged like a status change:
            // only once durable. So is any update of a job whose status
            // is not known to be committed (marked unconfirmed: its own
            // update failed or timed out, or is still waiting).
            let awaited =
                ledger.status_change(record.status) || matches!(change, Change::Cancel(_));
            let checkpoint =
                awaited || ledger.checkpoint_due(record.status, now(), self.checkpoint_interval);
            if checkpoint {
                ledger.mark(now().timestamp_millis(), record.status, awaited);
            }
            // A completed run of a kind, for its history: read off the
            // state before the state goes into what is stored.
            let run = matches!(change, Change::Finish(_))
                .then(|| state.finished_run())
                .flatten();
            let stored = Stored {
                job: state.into_saved(),
                ledger,
            };
            let bytes = stored.encode().map_err(|err| {
                IngestError::Unavailable(StoreError::corrupt(id.to_string(), err))
            })?;
            match self
                .hot
                .replace(&record, &bytes, expected)
                .await
                .map_err(IngestError::Unavailable)?
            {
                Replaced::Written { version } => {
                    record.version = version;
                    if let Some(publisher) = &self.publisher {
                        publisher.publish(&record).await;
                    }
                    if let Some((kind, run)) = run {
                        self.record_run(kind, run);
                    }
                    if checkpoint {
                        let committed = self.checkpoint(record.clone(), awaited);
                        if awaited {
                            self.committed(&id, committed).await?;
                            self.confirm(&record, stored).await;
                        }
                    }
                    self.after_update(&record).await;
                    return Ok(Accepted { record, created });
                }
                // The store holds a later state than this update made
                // from what it loaded: a writer that bypasses the
                // versions (a `ProgressWriter` on the same job) got there
                // first, and its state wins.
                Replaced::Stale => return Err(IngestError::Stale(id)),
                Replaced::Moved => continue,
            }
        }
        Err(IngestError::Contended(id))
    }

    /// A job the hot store does not hold: from its checkpoint if it has
    /// one, else new (a declaration) or unknown (anything else). An
    /// archive that cannot answer is passed over for a declaration (the
    /// worker is not kept waiting on PostgreSQL), and reported otherwise.
    async fn recover(&self, id: &JobId, change: &Change) -> Result<Current, IngestError> {
        let checkpoint = match self.archive.read(id).await {
            Ok(checkpoint) => checkpoint,
            Err(err) if matches!(change, Change::Declare(_)) => {
                tracing::warn!(job_id = %id, error = %error_chain(&err), "archive unavailable; declaring without checking for an earlier run");
                None
            }
            Err(err) => return Err(IngestError::Unavailable(err)),
        };
        match (checkpoint, change) {
            (Some(record), _) => Ok(Current::Recovered(Box::new(record))),
            (None, Change::Declare(_)) => Ok(Current::New),
            (None, _) => Err(IngestError::UnknownJob(id.clone())),
        }
    }
}
