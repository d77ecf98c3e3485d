//! [`JobLink`]: the one owner of what a [`JobHandle`](super::JobHandle) and
//! its flusher task share.
//!
//! The handle changes the job's state and asks for flushes; the flusher
//! takes snapshots and reports what each store received. Both sides use the
//! named operations below and nothing else, so the protocol (versions, the
//! urgent mark, abandonment, delivery) lives in this file only.

use std::{
    collections::VecDeque,
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use tokio::sync::{Notify, futures::Notified, watch};

use super::{error::WriteError, state::JobState};
use crate::domain::{CancelRequest, KEPT_LINES, NewLogLine, ProgressRecord};

/// The outcome of a flush: whether the state reached each store (for
/// [`JobHandle::flush`](super::JobHandle::flush), at the first attempt;
/// for `complete` and `fail`, the archive always has). A store that missed
/// it keeps being retried in the background for as long as the process
/// lives (see [`ProgressWriter::shutdown`](super::ProgressWriter::shutdown)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// The hot store has the final state.
    pub hot: bool,
    /// The archive has the final state.
    pub archive: bool,
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

/// What the flusher takes on each round.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The record to write, with a fresh `updatedAt` and ETA.
    pub(crate) record: ProgressRecord,
    /// The version of the state it shows.
    pub(crate) version: u64,
    /// The latest version the handle asked to have written at once.
    pub(crate) urgent: u64,
    /// The handle was dropped without finishing the job.
    pub(crate) abandoned: bool,
}

struct Inner {
    state: JobState,
    /// Bumped by every change; the flusher writes while it is ahead of what
    /// a store holds.
    version: u64,
    urgent: u64,
    abandoned: bool,
    /// Log lines waiting for the flusher, oldest first: at most
    /// [`KEPT_LINES`] (the hot store would drop older ones anyway), so a
    /// job that logs faster than the store takes lines never grows memory.
    logs: VecDeque<NewLogLine>,
}

/// Shared by one job's handle and its flusher.
pub(crate) struct JobLink {
    /// A std mutex: it is held for a few memory operations, never across an
    /// await, so the async one would only add cost.
    inner: Mutex<Inner>,
    /// Wakes the flusher after a change.
    wake: Notify,
    /// What the flusher has delivered so far; waited on by `flush`.
    delivered: watch::Sender<Delivered>,
    /// A request to stop the job, once the hot store has told of one.
    cancel: watch::Sender<Option<CancelRequest>>,
}

impl JobLink {
    pub(crate) fn new(state: JobState) -> Self {
        Self {
            inner: Mutex::new(Inner {
                state,
                version: 1,
                urgent: 0,
                abandoned: false,
                logs: VecDeque::new(),
            }),
            wake: Notify::new(),
            delivered: watch::Sender::new(Delivered::default()),
            cancel: watch::Sender::new(None),
        }
    }

    // --- a request to stop ---------------------------------------------------

    /// The flusher heard from the hot store that someone asked the job to
    /// stop: the state carries it from now on (so later writes keep it
    /// without the store's help), and the handle's waiters wake.
    pub(crate) fn heard_cancel(&self, cancel: CancelRequest) {
        self.lock()
            .state
            .record
            .cancel_requested
            .get_or_insert_with(|| cancel.clone());
        self.cancel.send_if_modified(|current| {
            let news = current.is_none();
            if news {
                *current = Some(cancel);
            }
            news
        });
    }

    /// The request to stop, if one has been heard of.
    pub(crate) fn cancel_requested(&self) -> Option<CancelRequest> {
        self.cancel.borrow().clone()
    }

    /// Resolves once a request to stop has been heard of.
    pub(crate) async fn cancellation(&self) -> CancelRequest {
        let mut heard = self.cancel.subscribe();
        loop {
            if let Some(cancel) = heard.borrow_and_update().clone() {
                return cancel;
            }
            if heard.changed().await.is_err() {
                // The sender lives as long as this link, which `self`
                // borrows: never, in practice.
                return std::future::pending().await;
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the state half
        // changed (each change is validated first), so a poisoned lock is
        // still safe to use.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // --- the handle's side -------------------------------------------------

    /// Applies `change` to the state; when it succeeds, that is a new
    /// version and the flusher is woken. A refused change changes nothing.
    pub(crate) fn change(
        &self,
        change: impl FnOnce(&mut JobState) -> Result<(), WriteError>,
    ) -> Result<(), WriteError> {
        {
            let mut inner = self.lock();
            change(&mut inner.state)?;
            inner.version += 1;
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Reads the state (`f` may refresh its ETA, which is no new version).
    pub(crate) fn inspect<T>(&self, f: impl FnOnce(&mut JobState) -> T) -> T {
        f(&mut self.lock().state)
    }

    /// Asks for the current version to be written at once, and returns it.
    pub(crate) fn request_flush(&self) -> u64 {
        let version = {
            let mut inner = self.lock();
            inner.urgent = inner.version;
            inner.version
        };
        self.wake.notify_one();
        version
    }

    /// Queues a log line for the flusher's next round (no new version:
    /// the record does not change). Wakes the flusher only when the queue
    /// was empty, so a burst of lines costs one wake.
    pub(crate) fn log(&self, line: NewLogLine) {
        let first = {
            let mut inner = self.lock();
            inner.logs.push_back(line);
            if inner.logs.len() > KEPT_LINES {
                inner.logs.pop_front();
            }
            inner.logs.len() == 1
        };
        if first {
            self.wake.notify_one();
        }
    }

    /// The handle is gone without finishing the job: the flusher writes the
    /// last state and stops.
    pub(crate) fn abandon(&self) {
        self.lock().abandoned = true;
        self.wake.notify_one();
    }

    /// Waits until `version` has been tried on both stores; says which
    /// stored it.
    pub(crate) async fn delivery_of(&self, version: u64) -> Flushed {
        let mut delivered = self.delivered.subscribe();
        let tried = delivered
            .wait_for(|d| d.hot_tried >= version && d.archive_tried >= version)
            .await
            .map(|d| *d);
        match tried {
            Ok(d) => Flushed {
                hot: d.hot_stored >= version,
                archive: d.archive_stored >= version,
            },
            // Unreachable while `self` lives (it owns the sender), kept
            // for safety: nothing was confirmed.
            Err(_) => Flushed {
                hot: false,
                archive: false,
            },
        }
    }

    /// Waits until the archive has committed `version` (and the hot store
    /// has been tried with it), at most `within`. `Err` carries what had
    /// been delivered when the time ran out.
    pub(crate) async fn durable_of(
        &self,
        version: u64,
        within: Duration,
    ) -> Result<Flushed, Flushed> {
        let mut delivered = self.delivered.subscribe();
        let durable = tokio::time::timeout(
            within,
            delivered.wait_for(|d| d.hot_tried >= version && d.archive_stored >= version),
        )
        .await;
        let d = match durable {
            Ok(Ok(d)) => *d,
            // The sender lives as long as `self`: only the timeout is left.
            Ok(Err(_)) | Err(_) => *self.delivered.borrow(),
        };
        let flushed = Flushed {
            hot: d.hot_stored >= version,
            archive: d.archive_stored >= version,
        };
        if flushed.archive {
            Ok(flushed)
        } else {
            Err(flushed)
        }
    }

    // --- the flusher's side ------------------------------------------------

    /// A wait for the next change. Enable it before [`take`](Self::take),
    /// so a change made after the snapshot still ends the wait.
    pub(crate) fn changed(&self) -> Notified<'_> {
        self.wake.notified()
    }

    /// The current state, to write.
    pub(crate) fn take(&self) -> Snapshot {
        let mut inner = self.lock();
        Snapshot {
            record: inner.state.snapshot(),
            version: inner.version,
            urgent: inner.urgent,
            abandoned: inner.abandoned,
        }
    }

    /// Whether log lines are waiting.
    pub(crate) fn has_logs(&self) -> bool {
        !self.lock().logs.is_empty()
    }

    /// Takes at most `most` waiting log lines, oldest first.
    pub(crate) fn take_logs(&self, most: usize) -> Vec<NewLogLine> {
        let mut inner = self.lock();
        let n = most.min(inner.logs.len());
        inner.logs.drain(..n).collect()
    }

    /// Puts back lines the hot store did not take, ahead of any logged
    /// since (still bounded, oldest dropped first).
    pub(crate) fn return_logs(&self, lines: Vec<NewLogLine>) {
        let mut inner = self.lock();
        for line in lines.into_iter().rev() {
            inner.logs.push_front(line);
        }
        while inner.logs.len() > KEPT_LINES {
            inner.logs.pop_front();
        }
    }

    /// Publishes what the stores have received (waking `delivery_of` only
    /// when it changed).
    pub(crate) fn report(&self, now: Delivered) {
        self.delivered.send_if_modified(|delivered| {
            let changed = *delivered != now;
            *delivered = now;
            changed
        });
    }
}
