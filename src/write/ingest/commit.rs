//! Checkpoints of updates taken over HTTP, and the wait that makes a
//! status change's answer mean "durable": each checkpoint is sent in the
//! background (retried for [`CHECKPOINT_PATIENCE`]) and reports its
//! commit on a oneshot; the update of a status change waits on it for at
//! most [`COMMIT_WAIT`], never holding a lock, and when the archive does
//! not commit in time takes back its sent-mark in the hot store, so that
//! the retried update checkpoints and waits again. A completed job's run
//! joins its kind's history in the background too: the answer waits for
//! the job's end to be durable, not for that.

use std::time::Duration;

use tokio::sync::oneshot;

use super::{Ingest, IngestError, MAX_ATTEMPTS, stored::Stored};
use crate::{
    backoff::Backoff,
    domain::{JobId, JobKind, JobStatus, ProgressRecord},
    error::error_chain,
    store::{KindRun, Replaced},
    write::{checkpoints::COMMIT_WAIT, tail},
};

/// How long a failed checkpoint is retried (by [`CHECKPOINT_RETRY`])
/// before it is left to the job's next one.
const CHECKPOINT_PATIENCE: Duration = Duration::from_secs(60);
/// The pauses between tries of a failed checkpoint: doubling from 100 ms
/// up to 2 s.
const CHECKPOINT_RETRY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));

impl Ingest {
    /// Waits (at most [`COMMIT_WAIT`]) for the archive to commit the
    /// checkpoint that `committed` reports on. When it does not, the
    /// update's status (`marked`, if its checkpoint was marked as sent in
    /// the hot store) is unmarked, so that the retry checkpoints it again
    /// and waits, and the update is refused as not durable.
    pub(super) async fn committed(
        &self,
        id: &JobId,
        committed: oneshot::Receiver<()>,
        marked: Option<JobStatus>,
    ) -> Result<(), IngestError> {
        if let Ok(Ok(())) = tokio::time::timeout(COMMIT_WAIT, committed).await {
            return Ok(());
        }
        if let Some(status) = marked {
            self.unmark(id, status).await;
        }
        Err(IngestError::NotDurable(id.clone()))
    }

    /// Forgets, in the hot store, that a checkpoint of `status` was sent
    /// (it did not commit in time): the job's next update checkpoints it
    /// again. Best effort: should the hot store fail now, the retry of the
    /// update still waits for the commit if it repeats a declaration or an
    /// ending; only a retried report that moved the job to `in_progress`
    /// would then be answered before its checkpoint.
    async fn unmark(&self, id: &JobId, status: JobStatus) {
        for _ in 0..MAX_ATTEMPTS {
            let Ok(Some(held)) = self.hot.load(id).await else {
                return;
            };
            let Some(mut stored) = held.state.as_deref().and_then(Stored::decode) else {
                return;
            };
            if !matches!(stored.checkpointed, Some((_, seen)) if seen == status) {
                return; // a later update has moved on
            }
            stored.checkpointed = None;
            let Ok(bytes) = stored.encode() else {
                return;
            };
            let expected = held.record.version;
            match self.hot.replace(&held.record, &bytes, expected).await {
                Ok(Replaced::Moved) => continue,
                Ok(_) => return,
                Err(err) => {
                    tracing::warn!(job_id = %id, error = %error_chain(&err), "could not unmark an uncommitted checkpoint");
                    return;
                }
            }
        }
    }

    /// Adds a completed run to its kind's history in the background (a
    /// failure is logged: it costs the kind's next jobs a little of their
    /// estimate, never this job its answer). `shutdown` waits for it.
    pub(super) fn record_run(&self, kind: JobKind, run: KindRun) {
        let kinds = self.kinds.clone();
        let task = async move { kinds.record_or_log(&kind, &run).await };
        match &self.runtime {
            Some(runtime) => drop(self.checkpoints.spawn_on(task, runtime)),
            None => drop(self.checkpoints.spawn(task)),
        }
    }

    /// Sends a checkpoint in the background, retrying for a while; a
    /// status change (`synced`) goes in a synced batch. The receiver hears
    /// once it is committed (and is dropped unheard if it never is).
    pub(super) fn checkpoint(&self, record: ProgressRecord, synced: bool) -> oneshot::Receiver<()> {
        let batcher = self.batcher.clone();
        let (hot, archive) = (self.hot.clone(), self.archive.clone());
        let (committed, heard) = oneshot::channel();
        let task = async move {
            let started = tokio::time::Instant::now();
            let mut delays = CHECKPOINT_RETRY.delays();
            loop {
                let submitted = if synced {
                    batcher.submit_synced(record.clone()).await
                } else {
                    batcher.submit(record.clone()).await
                };
                match submitted {
                    Ok(_) => {
                        let _ = committed.send(());
                        if record.status.is_terminal() {
                            tail::keep(hot.as_ref(), archive.as_ref(), &record.job_id).await;
                        }
                        return;
                    }
                    Err(err) => {
                        let delay = delays.next_delay();
                        if started.elapsed() + delay > CHECKPOINT_PATIENCE {
                            tracing::warn!(job_id = %record.job_id, error = %error_chain(&err), "checkpoint failed; the job's next one will carry its state");
                            return;
                        }
                        tracing::debug!(job_id = %record.job_id, error = %error_chain(&err), "checkpoint failed; retrying");
                        tokio::time::sleep(delay).await;
                    }
                }
            }
        };
        match &self.runtime {
            Some(runtime) => drop(self.checkpoints.spawn_on(task, runtime)),
            None => drop(self.checkpoints.spawn(task)),
        }
        heard
    }
}
