//! The background task that copies one job's state out to the stores.
//!
//! Each store is a [`Sink`] that remembers what it holds and when it was
//! last written, and says when it is next due:
//!
//! - a change is due after the store's interval (`flush_interval` for
//!   Redis, `checkpoint_interval` for PostgreSQL), at once for a status
//!   change, a `flush()`, or the end of the job;
//! - with no change, the record is still rewritten every refresh interval
//!   (a heartbeat), so readers can tell a live job from one whose worker
//!   died, and a Redis that restarted empty gets the job back;
//! - after a failure, retries back off from 100 ms to `max_retry_delay`, and
//!   always write the latest state, never a backlog;
//! - when any job's Redis write succeeds after failures (Redis is back), the
//!   writer's epoch moves and every job rewrites its state at once.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::watch;

use super::writer::{Delivered, Shared, WriterConfig};
use crate::{
    domain::{JobStatus, ProgressRecord},
    error::error_chain,
    store::{Archive, HotStore, StoreError, WriteOutcome},
};

/// The first retry delay after a store fails; doubled on each further
/// failure up to `max_retry_delay`. Short, so a store that blinked (a
/// restart, a failover) gets the latest state within a fraction of a second.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);

/// What one store has received of the job, and when to write next.
#[derive(Debug)]
struct Sink {
    name: &'static str,
    /// Spacing of writes while only the counts move.
    interval: Duration,
    /// Longest spacing of writes while nothing moves (heartbeat).
    refresh: Duration,
    max_retry_delay: Duration,
    /// The latest version the store holds.
    stored: u64,
    /// The latest version tried (stored or not).
    tried: u64,
    /// The status the store holds.
    status: Option<JobStatus>,
    last_attempt: Option<Instant>,
    failures: u32,
    /// The writer's Redis epoch as of this sink's last good write.
    epoch: u64,
}

/// Why a sink is being asked when it is due.
#[derive(Debug, Clone, Copy)]
struct Pending {
    version: u64,
    status: JobStatus,
    /// Write now, whatever the interval says.
    urgent: bool,
}

impl Sink {
    fn new(
        name: &'static str,
        interval: Duration,
        refresh: Duration,
        config: &WriterConfig,
    ) -> Self {
        Self {
            name,
            interval,
            refresh: refresh.max(interval),
            max_retry_delay: config.max_retry_delay,
            stored: 0,
            tried: 0,
            status: None,
            last_attempt: None,
            failures: 0,
            epoch: 0,
        }
    }

    /// When the store should next be written.
    fn due(&self, pending: Pending) -> Instant {
        let Some(last) = self.last_attempt else {
            return Instant::now();
        };
        if self.failures > 0 {
            let backoff = FIRST_RETRY_DELAY
                .saturating_mul(1 << self.failures.min(16))
                .min(self.max_retry_delay);
            return last + backoff;
        }
        if pending.version <= self.stored {
            return last + self.refresh;
        }
        if pending.urgent || self.status != Some(pending.status) {
            return Instant::now();
        }
        last + self.interval
    }

    fn settle(&mut self, pending: Pending, result: Result<WriteOutcome, StoreError>) -> Settled {
        self.last_attempt = Some(Instant::now());
        self.tried = pending.version;
        match result {
            Ok(outcome) => {
                let recovered = self.failures > 0;
                if recovered {
                    tracing::info!(
                        store = self.name,
                        "store answers again; latest state written"
                    );
                }
                if outcome == WriteOutcome::Stale {
                    tracing::warn!(
                        store = self.name,
                        "the store holds a later state of this job; write dropped"
                    );
                }
                self.failures = 0;
                self.stored = pending.version;
                self.status = Some(pending.status);
                if recovered {
                    Settled::Recovered
                } else {
                    Settled::Ok
                }
            }
            Err(err) => {
                self.failures = self.failures.saturating_add(1);
                // The first failure is worth a warning; the retries are not.
                if self.failures == 1 {
                    tracing::warn!(store = self.name, error = %error_chain(&err), "progress write failed; will retry");
                } else {
                    tracing::debug!(store = self.name, error = %error_chain(&err), failures = self.failures, "progress write failed again");
                }
                Settled::Failed
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Settled {
    Ok,
    Recovered,
    Failed,
}

/// Runs until the job is finished (or its handle dropped) and both stores
/// hold its last state.
#[tracing::instrument(name = "flusher", skip_all)]
pub(crate) async fn run(
    shared: Arc<Shared>,
    hot: Arc<dyn HotStore>,
    archive: Arc<dyn Archive>,
    config: WriterConfig,
    redis_epoch: watch::Sender<u64>,
) {
    let mut hot_sink = Sink::new(
        "redis",
        config.flush_interval,
        config.heartbeat_interval,
        &config,
    );
    let mut archive_sink = Sink::new(
        "postgres",
        config.checkpoint_interval,
        config.checkpoint_interval.max(config.heartbeat_interval),
        &config,
    );
    let mut epoch = redis_epoch.subscribe();
    hot_sink.epoch = *epoch.borrow_and_update();
    loop {
        // Ask to be woken before reading the state, so a change made after
        // the read still wakes the wait below.
        let wake = shared.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();

        let (record, version, urgent_version, abandoned): (ProgressRecord, u64, u64, bool) = {
            let mut state = shared.lock();
            (
                state.snapshot(),
                state.version,
                state.urgent,
                state.abandoned,
            )
        };
        let status = record.status;
        let finishing = status.is_terminal() || abandoned;
        let current_epoch = *epoch.borrow_and_update();

        let mut next: Option<Instant> = None;
        for sink in [&mut hot_sink, &mut archive_sink] {
            let is_hot = sink.name == "redis";
            let redis_came_back = is_hot && current_epoch > sink.epoch;
            let pending = Pending {
                version,
                status,
                urgent: finishing || urgent_version > sink.tried || redis_came_back,
            };
            let mut due = sink.due(pending);
            if redis_came_back && sink.failures == 0 {
                due = Instant::now();
            }
            if due <= Instant::now() {
                let mut record = record.clone();
                record.refresh_interval_ms =
                    Some(u64::try_from(sink.refresh.as_millis()).unwrap_or(u64::MAX));
                let result = if is_hot {
                    hot.write(&record).await
                } else {
                    archive.checkpoint(&record).await
                };
                let settled = sink.settle(pending, result);
                if is_hot && settled != Settled::Failed {
                    if settled == Settled::Recovered {
                        // Tell every other job of this writer to rewrite.
                        redis_epoch.send_modify(|e| *e += 1);
                    }
                    sink.epoch = *redis_epoch.borrow();
                }
                due = sink.due(Pending {
                    urgent: false,
                    ..pending
                });
            }
            next = Some(next.map_or(due, |n| n.min(due)));
        }

        shared.delivered.send_if_modified(|delivered| {
            let now = Delivered {
                hot_tried: hot_sink.tried,
                hot_stored: hot_sink.stored,
                archive_tried: archive_sink.tried,
                archive_stored: archive_sink.stored,
            };
            let changed = *delivered != now;
            *delivered = now;
            changed
        });
        if finishing && hot_sink.stored >= version && archive_sink.stored >= version {
            return;
        }
        let at = next.unwrap_or_else(|| Instant::now() + config.heartbeat_interval);
        tokio::select! {
            () = &mut wake => {}
            _ = epoch.changed() => {}
            () = tokio::time::sleep_until(at.into()) => {}
        }
    }
}
