//! [`Hub`]: one per API instance. The bus subscription feeds it; every open
//! stream reads from it.
//!
//! Like mini-redis's pub/sub, one shared state owns the channels and each
//! stream holds a receiver; a slow stream never blocks the hub:
//!
//! - a stream of one job holds a [`watch`] receiver of that job: progress
//!   is a state, not a log, so the channel keeps only the latest change and
//!   a stream that was busy reads just that;
//! - a stream of the active list holds the same [`watch`] receivers, of
//!   the jobs on its page only, so a change of a job on no page costs one
//!   map lookup here and nothing per stream; and one hub-wide
//!   `watch<u64>` that moves when the active set may have changed (a job
//!   appeared, started or ended), on which it reads its page again;
//! - a job's log lines are a log: a stream of one job also holds a
//!   [`broadcast`] receiver of its job's [`LogBatch`]es; one that falls
//!   more than [`LOG_BACKLOG`] batches behind is told it lagged and reads
//!   the lines it missed from the store;
//! - a job's channels are removed in one place, when its last stream ends
//!   ([`JobWatch`]'s `Drop`).

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard, OnceLock},
};

use chrono::Utc;
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{
    change::Change,
    slots::{Refused, Slots, StreamSlot},
    stalls::Stalls,
};
use crate::domain::{JobId, LogBatch, ProgressRecord, StallPolicy};

/// Changes the memory store's feed (the bus of a single process) holds
/// for a hub that is busy: about ten seconds of 100 updates a second (100
/// jobs each flushing once a second); a hub that falls further behind
/// resyncs its streams, as after a bus drop.
pub const FEED_CAPACITY: usize = 1024;

/// Batches of log lines a stream of one job may fall behind before it
/// reads what it missed from the store: a batch is one worker's call (up
/// to 100 lines), so this is a second of a busy job's flushes.
pub const LOG_BACKLOG: usize = 16;

/// What the hub holds per watched job.
#[derive(Debug)]
struct JobChannels {
    /// The latest change.
    progress: watch::Sender<Option<Arc<Change>>>,
    /// Its log lines as they are stored.
    logs: broadcast::Sender<Arc<LogBatch>>,
    /// Moves on every change of one of its children: its streams re-read
    /// it (coalesced, see `stream.rs`) for the children's roll-up.
    children: watch::Sender<u64>,
}

/// Whether the bus delivers, and how often it came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BusState {
    /// The subscription is up: changes arrive as they happen.
    pub up: bool,
    /// Moves every time the subscription is (re-)established: changes made
    /// while it was down were missed, so every stream re-reads its jobs.
    pub resyncs: u64,
}

/// The hub itself; share it with `Arc`.
#[derive(Debug)]
pub struct Hub {
    /// A std mutex: held for a map lookup, never across an await.
    jobs: Mutex<HashMap<JobId, JobChannels>>,
    /// Moves when a change may have moved a job into or out of the
    /// active list (see `moves_membership`).
    active_set: watch::Sender<u64>,
    /// The active jobs this instance has seen a change of and that have
    /// not ended or stalled since: a change of a job not in it may be a
    /// job appearing. A std mutex: held for one set operation.
    seen: Mutex<HashSet<JobId>>,
    bus: watch::Sender<BusState>,
    slots: Arc<Slots>,
    /// A std mutex: held for a few set operations, never across an await.
    stalls: Mutex<Stalls>,
    stall_policy: StallPolicy,
    /// Wakes the stall watch when a deadline earlier than its sleep comes.
    earlier_stall: Notify,
    /// Told of each stall as the watch finds it (the webhooks' `job.stalled`).
    stall_listener: OnceLock<mpsc::Sender<ProgressRecord>>,
    shutdown: CancellationToken,
}

impl Hub {
    /// A hub that lets at most `max_streams` streams be open at once, and
    /// `max_per_client` of one client address (0: no cap per client);
    /// jobs count as stalled by `stall_policy`, as the read path says.
    pub fn new(max_streams: usize, max_per_client: usize, stall_policy: StallPolicy) -> Self {
        Self {
            jobs: Mutex::default(),
            active_set: watch::Sender::new(0),
            seen: Mutex::default(),
            bus: watch::Sender::new(BusState::default()),
            slots: Arc::new(Slots::new(max_streams, max_per_client)),
            stalls: Mutex::default(),
            stall_policy,
            earlier_stall: Notify::new(),
            stall_listener: OnceLock::new(),
            shutdown: CancellationToken::new(),
        }
    }

    fn stalls(&self) -> MutexGuard<'_, Stalls> {
        // Each operation leaves the sets whole, so a poisoned lock is usable.
        self.stalls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes `change` as its job's latest, for the stall watch: a stream's
    /// snapshot of a job no write has touched since start counts too.
    pub fn track(&self, change: &Arc<Change>) {
        if self.stalls().track(change, &self.stall_policy) {
            self.earlier_stall.notify_one();
        }
    }

    /// Publishes each tracked job's record, `stalled` set, as it crosses
    /// its stall threshold: one task per instance, until the server stops.
    pub fn spawn_stall_watch(self: &Arc<Self>) {
        let hub = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let next = hub.stalls().next();
                // Nothing tracked: sleep until a deadline comes.
                let wait = next.map_or(std::time::Duration::from_secs(3600), |at| {
                    (at - Utc::now()).to_std().unwrap_or_default()
                });
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = hub.earlier_stall.notified() => continue,
                    () = hub.stopping() => return,
                }
                let now = Utc::now();
                let due = hub.stalls().due(now);
                for change in due {
                    if let Some(stalled) = change.stalled_at(now, &hub.stall_policy) {
                        hub.tell_stall(&stalled);
                        hub.publish(stalled);
                    }
                }
            }
        });
    }

    /// Sends each stall the watch finds to `listener` (once per hub: a
    /// second listener is refused). A full channel drops the stall with a
    /// warning rather than hold up the watch.
    pub fn on_stall(&self, listener: mpsc::Sender<ProgressRecord>) -> bool {
        self.stall_listener.set(listener).is_ok()
    }

    fn tell_stall(&self, stalled: &Change) {
        let Some(listener) = self.stall_listener.get() else {
            return;
        };
        let mut record = stalled.record().clone();
        record.version = stalled.version;
        if listener.try_send(record).is_err() {
            tracing::warn!(job_id = %stalled.job_id, "stall not announced: its listener is behind");
        }
    }

    fn jobs(&self) -> MutexGuard<'_, HashMap<JobId, JobChannels>> {
        // Each operation leaves the map whole, so a poisoned lock is usable.
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hands a change to the streams watching its job, and tells the
    /// streams of the active list when the set of active jobs may have
    /// changed.
    pub fn publish(&self, change: Change) {
        let change = Arc::new(change);
        self.track(&change);
        let jobs = self.jobs();
        if let Some(job) = jobs.get(&change.job_id) {
            job.progress.send_replace(Some(Arc::clone(&change)));
        }
        if let Some(parent) = change.parent.as_ref().and_then(|id| jobs.get(id)) {
            parent.children.send_modify(|n| *n = n.wrapping_add(1));
        }
        drop(jobs);
        if self.moves_membership(&change) {
            self.active_set.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Whether `change` may move its job into, out of, or within the
    /// active list (ordered by start): a job this instance has not seen
    /// (new, or older than the instance: one needless re-read of the
    /// pages each), a job that ended, or one not started yet. A job that
    /// stalls leaves the set without moving (so jobs abandoned without an
    /// end do not stay in it), and its recovery counts as new. Every
    /// other change leaves the pages as they were.
    fn moves_membership(&self, change: &Change) -> bool {
        // Each operation leaves the set whole, so a poisoned lock is usable.
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if change.terminal {
            seen.remove(&change.job_id);
            return true;
        }
        if change.stalled {
            seen.remove(&change.job_id);
            return false;
        }
        seen.insert(change.job_id.clone()) || change.unstarted()
    }

    /// Hands a job's new log lines to the streams of that job.
    pub fn publish_log(&self, batch: LogBatch) {
        if let Some(job) = self.jobs().get(&batch.job_id) {
            // No receiver is no error: its last stream is just ending.
            let _ = job.logs.send(Arc::new(batch));
        }
    }

    /// Hands one payload published on the bus to the streams: a stored
    /// record, or a batch of log lines ([`LogBatch::is_payload`]). The
    /// one place a payload is decoded, whichever bus carried it; an
    /// unreadable one is skipped with a log line.
    pub fn deliver(&self, payload: &[u8]) {
        let delivered = if LogBatch::is_payload(payload) {
            serde_json::from_slice(payload).map(|batch| self.publish_log(batch))
        } else {
            Change::decode(payload).map(|change| self.publish(change))
        };
        if let Err(err) = delivered {
            tracing::warn!(error = %err, "skipping an unreadable event on the bus");
        }
    }

    /// Watches one job from now on.
    pub fn watch_job(self: &Arc<Self>, id: JobId) -> JobWatch {
        let mut jobs = self.jobs();
        let job = jobs.entry(id.clone()).or_insert_with(|| JobChannels {
            progress: watch::Sender::new(None),
            logs: broadcast::Sender::new(LOG_BACKLOG),
            children: watch::Sender::new(0),
        });
        let receiver = job.progress.subscribe();
        let logs = job.logs.subscribe();
        let children = job.children.subscribe();
        drop(jobs);
        JobWatch {
            hub: Arc::clone(self),
            id,
            receiver,
            logs,
            children,
        }
    }

    /// Moves whenever the set of active jobs may have changed: a job
    /// appeared, started or ended.
    pub fn active_set(&self) -> watch::Receiver<u64> {
        self.active_set.subscribe()
    }

    /// The bus's state, to wait on.
    pub fn bus_state(&self) -> watch::Receiver<BusState> {
        self.bus.subscribe()
    }

    /// The bus subscription is up (again): streams re-read their jobs.
    pub fn bus_up(&self) {
        self.bus.send_modify(|state| {
            state.up = true;
            state.resyncs += 1;
        });
    }

    /// The bus subscription is down: streams poll until it is back.
    pub fn bus_down(&self) {
        self.bus
            .send_if_modified(|state| std::mem::replace(&mut state.up, false));
    }

    /// A slot for one more stream of `client`, unless a cap is reached.
    /// The response body holds it, so it is released with the connection.
    pub fn open_stream(&self, client: IpAddr) -> Result<StreamSlot, Refused> {
        self.slots.open(client)
    }

    /// Whether `client` could open a stream now, taking nothing.
    pub fn check_stream(&self, client: IpAddr) -> Result<(), Refused> {
        self.slots.check(client)
    }

    /// How many streams are open.
    pub fn open_streams(&self) -> usize {
        self.slots.open_streams()
    }

    /// Ends every stream (the server is stopping); they close with a retry
    /// hint so clients reconnect elsewhere.
    pub fn shut_down(&self) {
        self.shutdown.cancel();
    }

    /// Resolves when the server is stopping.
    pub fn stopping(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.shutdown.cancelled()
    }
}

/// One stream's watch of one job. The job's channel leaves the hub when
/// its last watch is dropped.
#[derive(Debug)]
pub struct JobWatch {
    hub: Arc<Hub>,
    id: JobId,
    /// The latest change published since the watch began.
    pub receiver: watch::Receiver<Option<Arc<Change>>>,
    /// The job's log lines published since the watch began.
    pub logs: broadcast::Receiver<Arc<LogBatch>>,
    /// Moves when one of the job's children changes.
    pub children: watch::Receiver<u64>,
}

impl Drop for JobWatch {
    fn drop(&mut self) {
        let mut jobs = self.hub.jobs();
        // New watches subscribe under this lock, so the count is exact:
        // one means this watch is the last.
        if jobs
            .get(&self.id)
            .is_some_and(|job| job.progress.receiver_count() <= 1)
        {
            jobs.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobStatus, ProgressRecord};

    fn change(id: &str, version: u64, status: JobStatus) -> Change {
        let mut record = ProgressRecord::new(JobId::parse(id).unwrap(), status, Some(10));
        record.version = version;
        record.started_at = Some(Utc::now());
        Change::of(&record)
    }

    #[test]
    fn a_slow_watcher_sees_only_the_latest_change() {
        let hub = Arc::new(Hub::new(10, 0, StallPolicy::default()));
        let mut watch = hub.watch_job(JobId::parse("a").unwrap());
        for version in 1..=10 {
            hub.publish(change("a", version, JobStatus::InProgress));
        }
        hub.publish(change("b", 99, JobStatus::InProgress));
        let latest = watch.receiver.borrow_and_update().clone().unwrap();
        assert_eq!(latest.version, 10, "coalesced, not queued");
        assert!(
            !watch.receiver.has_changed().unwrap(),
            "other jobs don't wake it"
        );
    }

    #[test]
    fn versions_decide_and_a_checkpoint_never_goes_back() {
        let live = |version, processed| {
            let mut record =
                ProgressRecord::new(JobId::parse("a").unwrap(), JobStatus::InProgress, Some(10));
            record.version = version;
            record.current_sent_count = processed;
            Change::of(&record)
        };
        assert!(live(5, 3).is_newer_than(&live(4, 3)));
        assert!(!live(4, 3).is_newer_than(&live(4, 3)));
        assert!(
            !live(0, 2).is_newer_than(&live(4, 3)),
            "an older checkpoint"
        );
        assert!(
            live(0, 4).is_newer_than(&live(4, 3)),
            "a checkpoint further on"
        );
        assert!(
            live(4, 3).is_newer_than(&live(0, 3)),
            "live after a checkpoint"
        );
    }

    #[test]
    fn a_jobs_channel_leaves_with_its_last_watch() {
        let hub = Arc::new(Hub::new(10, 0, StallPolicy::default()));
        let id = JobId::parse("a").unwrap();
        let first = hub.watch_job(id.clone());
        let second = hub.watch_job(id.clone());
        drop(first);
        assert!(hub.jobs().contains_key(&id), "one watch is left");
        drop(second);
        assert!(hub.jobs().is_empty());
    }

    #[test]
    fn only_a_job_appearing_or_ending_moves_the_active_set() {
        let hub = Hub::new(1, 0, StallPolicy::default());
        let mut set = hub.active_set();
        hub.publish(change("a", 1, JobStatus::InProgress));
        assert!(set.has_changed().unwrap(), "a new job");
        set.borrow_and_update();
        hub.publish(change("a", 2, JobStatus::InProgress));
        assert!(!set.has_changed().unwrap(), "progress of a listed job");
        hub.publish(change("a", 3, JobStatus::Completed));
        assert!(set.has_changed().unwrap(), "it ended");
    }

    #[test]
    fn every_return_of_the_bus_is_a_resync() {
        let hub = Hub::new(1, 0, StallPolicy::default());
        let state = hub.bus_state();
        hub.bus_up();
        hub.bus_down();
        hub.bus_up();
        assert_eq!(
            *state.borrow(),
            BusState {
                up: true,
                resyncs: 2
            }
        );
    }
}
