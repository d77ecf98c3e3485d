//! Checkpoints of updates taken over HTTP, and the wait that makes a
//! status change's answer mean "durable": each checkpoint is sent in the
//! background (retried for [`CHECKPOINT_PATIENCE`]) and reports its
//! commit on a oneshot; the update of a status change waits on it for at
//! most [`COMMIT_WAIT`], never holding a lock.
//!
//! The hot store learns of the commit after the fact: the update marks
//! its status in the job's stored state as sent but *unconfirmed* in the
//! same write that stores the change, and, once the commit is heard,
//! confirms the mark in a write of the state alone (no new version, no
//! event). Whatever goes wrong between the two (the commit does not come
//! in time; the hot store applies the write but its answer is lost, so
//! the update fails; the instance dies), the job's next update finds the
//! mark unconfirmed and waits for the commit as a status change does, so
//! no retry is answered 2xx before the archive holds what it confirms.
//! A lost confirmation costs only that: one more wait. A completed job's
//! run joins its kind's history in the background too: the answer waits
//! for the job's end to be durable, not for that.

use std::time::Duration;

use tokio::sync::oneshot;

use super::{Ingest, IngestError, MAX_ATTEMPTS, stored::Stored};
use crate::{
    backoff::Backoff,
    domain::{JobId, JobKind, ProgressRecord},
    error::error_chain,
    store::KindRun,
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
    /// checkpoint that `committed` reports on; when it does not, the
    /// update is refused as not durable. (Its status stays marked
    /// unconfirmed in the hot store, so the retry waits for the commit
    /// again.)
    pub(super) async fn committed(
        &self,
        id: &JobId,
        committed: oneshot::Receiver<()>,
    ) -> Result<(), IngestError> {
        match tokio::time::timeout(COMMIT_WAIT, committed).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(IngestError::NotDurable(id.clone())),
        }
    }

    /// Confirms, in the hot store, the mark of `record`'s status that
    /// `stored` (the state written with `record`, at its version) holds:
    /// its commit was heard. Only the state is written, and only while the
    /// record is at the version expected, so the record and its events are
    /// untouched; when a later update came first, its state is confirmed
    /// instead if it marks the same status of the same attempt, unconfirmed.
    /// Best effort: a confirmation lost to the hot store failing only makes
    /// the job's next update wait for a commit again.
    ///
    /// A final status is not confirmed: no update reads its mark (a
    /// repeated ending waits for its commit anyway, and a new attempt
    /// starts from a fresh state).
    pub(super) async fn confirm(&self, record: &ProgressRecord, mut stored: Stored) {
        if record.status.is_terminal() {
            return;
        }
        let id = &record.job_id;
        let mut version = record.version;
        for _ in 0..MAX_ATTEMPTS {
            stored.ledger.confirmed = true;
            let Ok(bytes) = stored.encode() else {
                return;
            };
            match self.hot.replace_state(id, &bytes, version).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(job_id = %id, error = %error_chain(&err), "could not confirm a committed checkpoint; the next update waits for it again");
                    return;
                }
            }
            let Ok(Some(held)) = self.hot.load(id).await else {
                return;
            };
            let Some(later) = held.state.as_deref().and_then(Stored::decode) else {
                return;
            };
            if held.record.attempt() != record.attempt() || !later.ledger.unconfirmed(record.status)
            {
                return; // moved on, or confirmed already
            }
            (stored, version) = (later, held.record.version);
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
