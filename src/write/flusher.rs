//! The background task that copies one job's state out to the stores.
//!
//! Each store is a [`Sink`] that remembers what it holds and when it was
//! last written, and says when it is next due:
//!
//! - a change is due after the store's interval (`flush_interval` for
//!   the hot store, `checkpoint_interval` for the archive), at once for a status
//!   change, a `flush()`, or the end of the job;
//! - with no change, the record is still rewritten every refresh interval
//!   (a heartbeat), so readers can tell a live job from one whose worker
//!   died, and a hot store that restarted empty gets the job back;
//! - archive checkpoints go through the writer's shared [`Checkpoints`]
//!   queue, which sends many jobs' checkpoints in one statement; the
//!   flusher waits for its record's outcome there as it would for its own
//!   statement; a status change goes in a synced batch (on SQLite,
//!   `synchronous=FULL`), since `complete()` and `fail()` answer on its
//!   commit;
//! - after a failure, retries back off from 100 ms to `max_retry_delay`, and
//!   always write the latest state, never a backlog;
//! - when the bus is not the hot store itself (NATS), each stored record
//!   is published to it after the write, with the version the store gave;
//! - when any job's hot-store write succeeds after failures (the store is
//!   back), the writer's epoch moves and every job rewrites its state at
//!   once;
//! - log lines queued by `JobHandle::log` follow the record, at most once
//!   per flush interval ([`LogShipper`], `write/logs.rs`).
//! - once a job of a kind has completed and both stores hold its end, its
//!   run is added to the kind's history (`kinds.rs`).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::watch;

use super::{
    checkpoints::{CheckpointBatching, Checkpoints},
    kinds::Kinds,
    link::{Delivered, JobLink},
    logs::LogShipper,
    tail,
};
use crate::{
    backoff::Backoff,
    domain::JobStatus,
    error::error_chain,
    metrics::process,
    push::Publisher,
    store::{HotStore, HotWrite, StoreError, WriteOutcome},
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
    /// from one whose worker died, and a hot store that lost its data gets
    /// the job back. The record says it in `refreshIntervalMs`.
    pub heartbeat_interval: Duration,
    /// How the writer's jobs' checkpoints are gathered into statements.
    pub checkpoint_batching: CheckpointBatching,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_secs(1),
            checkpoint_interval: Duration::from_secs(30),
            max_retry_delay: Duration::from_secs(2),
            heartbeat_interval: Duration::from_secs(15),
            checkpoint_batching: CheckpointBatching::default(),
        }
    }
}

/// The two stores a job is copied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Hot,
    Archive,
}

impl Store {
    /// The name in log lines.
    fn name(self) -> &'static str {
        match self {
            Store::Hot => "hot",
            Store::Archive => "archive",
        }
    }
}

/// The first step of the retry delays after a store fails, doubled on
/// each further failure up to `max_retry_delay`. Short, so a store that
/// blinked (a restart, a failover) gets the latest state within a fraction
/// of a second: the first retry waits this long.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);

/// How many failed rounds a finished job's last log lines get before its
/// flusher stops anyway: with the retries' 100 ms doubling, about 0.7 s.
const LOG_TRIES_AT_END: u32 = 3;

/// What one store has received of the job, and when to write next.
#[derive(Debug)]
struct Sink {
    store: Store,
    /// Spacing of writes while only the counts move.
    interval: Duration,
    /// Longest spacing of writes while nothing moves (heartbeat).
    refresh: Duration,
    /// The delays between retries while the store fails.
    retry: Backoff,
    /// The latest version the store holds.
    stored: u64,
    /// The latest version tried (stored or not).
    tried: u64,
    /// The status the store holds.
    status: Option<JobStatus>,
    last_attempt: Option<Instant>,
    failures: u32,
    /// The writer's hot-store epoch as of this sink's last good write.
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
    fn new(store: Store, interval: Duration, refresh: Duration, config: &WriterConfig) -> Self {
        Self {
            store,
            interval,
            refresh: refresh.max(interval),
            retry: Backoff::new(FIRST_RETRY_DELAY, config.max_retry_delay),
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
            // The first failure waits the first step (attempt 0).
            return last + self.retry.delay(self.failures - 1);
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
        let outcome = match &result {
            Ok(WriteOutcome::Stale) => "stale",
            Ok(WriteOutcome::Written) => "written",
            Err(_) => "failed",
        };
        let store = match self.store {
            Store::Hot => "redis",
            Store::Archive => "postgres",
        };
        process::writer_write(store, outcome, self.failures > 0);
        self.last_attempt = Some(Instant::now());
        self.tried = pending.version;
        match result {
            Ok(outcome) => {
                let recovered = self.failures > 0;
                if recovered {
                    tracing::info!(
                        store = self.store.name(),
                        "store answers again; latest state written"
                    );
                }
                if outcome == WriteOutcome::Stale {
                    tracing::warn!(
                        store = self.store.name(),
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
                    tracing::warn!(store = self.store.name(), error = %error_chain(&err), "progress write failed; will retry");
                } else {
                    tracing::debug!(store = self.store.name(), error = %error_chain(&err), failures = self.failures, "progress write failed again");
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
    link: Arc<JobLink>,
    hot: Arc<dyn HotStore>,
    checkpoints: Checkpoints,
    config: WriterConfig,
    hot_epoch: watch::Sender<u64>,
    publisher: Option<Publisher>,
    kinds: Kinds,
) {
    let mut hot_sink = Sink::new(
        Store::Hot,
        config.flush_interval,
        config.heartbeat_interval,
        &config,
    );
    let mut archive_sink = Sink::new(
        Store::Archive,
        config.checkpoint_interval,
        config.checkpoint_interval.max(config.heartbeat_interval),
        &config,
    );
    let mut logs = LogShipper::new(
        config.flush_interval,
        Backoff::new(FIRST_RETRY_DELAY, config.max_retry_delay),
    );
    let mut epoch = hot_epoch.subscribe();
    hot_sink.epoch = *epoch.borrow_and_update();
    loop {
        // Ask to be woken before taking the state, so a change made after
        // the snapshot still wakes the wait below.
        let wake = link.changed();
        tokio::pin!(wake);
        wake.as_mut().enable();

        let snapshot = link.take();
        let (version, status) = (snapshot.version, snapshot.record.status);
        let finishing = status.is_terminal() || snapshot.abandoned;
        let current_epoch = *epoch.borrow_and_update();

        let mut next: Option<Instant> = None;
        for sink in [&mut hot_sink, &mut archive_sink] {
            let hot_came_back = sink.store == Store::Hot && current_epoch > sink.epoch;
            let pending = Pending {
                version,
                status,
                urgent: finishing || snapshot.urgent > sink.tried || hot_came_back,
            };
            let mut due = sink.due(pending);
            if hot_came_back && sink.failures == 0 {
                due = Instant::now();
            }
            if due <= Instant::now() {
                let mut record = snapshot.record.clone();
                record.refresh_interval_ms =
                    Some(u64::try_from(sink.refresh.as_millis()).unwrap_or(u64::MAX));
                let result = match sink.store {
                    Store::Hot => match hot.write(&record).await {
                        Ok(HotWrite::Written { version, cancel }) => {
                            if let Some(cancel) = cancel {
                                link.heard_cancel(cancel);
                            }
                            if let Some(publisher) = &publisher {
                                record.version = version;
                                publisher.publish(&record).await;
                            }
                            Ok(WriteOutcome::Written)
                        }
                        other => other.map(|written| written.outcome()),
                    },
                    // A status change goes in a synced batch: its
                    // `complete()` or `fail()` waits for it.
                    Store::Archive if sink.status != Some(status) => {
                        checkpoints.submit_synced(record).await
                    }
                    Store::Archive => checkpoints.submit(record).await,
                };
                let settled = sink.settle(pending, result);
                if sink.store == Store::Hot && settled != Settled::Failed {
                    if settled == Settled::Recovered {
                        // Tell every other job of this writer to rewrite.
                        hot_epoch.send_modify(|e| *e += 1);
                    }
                    sink.epoch = *hot_epoch.borrow();
                }
                due = sink.due(Pending {
                    urgent: false,
                    ..pending
                });
            }
            next = Some(next.map_or(due, |n| n.min(due)));
        }

        // Log lines follow the record: the store takes them only for a job
        // it holds.
        if hot_sink.stored > 0 {
            let id = &snapshot.record.job_id;
            logs.ship(&link, id, hot.as_ref(), publisher.as_ref()).await;
            if link.has_logs() {
                let due = logs.due();
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }

        link.report(Delivered {
            hot_tried: hot_sink.tried,
            hot_stored: hot_sink.stored,
            archive_tried: archive_sink.tried,
            archive_stored: archive_sink.stored,
        });
        // A finished job's last lines get a few tries; they are not worth
        // keeping the task alive for as long as its counts are.
        let logs_settled = !link.has_logs() || logs.failures() >= LOG_TRIES_AT_END;
        if finishing && hot_sink.stored >= version && archive_sink.stored >= version && logs_settled
        {
            if status.is_terminal() {
                tail::keep(hot.as_ref(), checkpoints.archive(), &snapshot.record.job_id).await;
            }
            // A completed job of a kind joins the kind's history.
            if let Some((kind, run)) = link.inspect(|state| state.finished_run()) {
                kinds.record_or_log(&kind, &run).await;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_of_a_failing_store_double_from_100_ms_up_to_the_cap() {
        let config = WriterConfig::default();
        let mut sink = Sink::new(
            Store::Hot,
            config.flush_interval,
            config.heartbeat_interval,
            &config,
        );
        let last = Instant::now();
        sink.last_attempt = Some(last);
        let pending = Pending {
            version: 1,
            status: JobStatus::InProgress,
            urgent: true,
        };
        let waits: Vec<u128> = [1, 2, 3, 4, 5, 6, 40, u32::MAX]
            .map(|failures| {
                sink.failures = failures;
                (sink.due(pending) - last).as_millis()
            })
            .into();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    }
}
