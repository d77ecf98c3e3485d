//! The background task that copies one job's state out to the stores.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use super::writer::{Delivered, Shared, WriterConfig};
use crate::error::error_chain;
use crate::{
    domain::{JobStatus, ProgressRecord},
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
    max_retry_delay: Duration,
    /// The latest version the store holds.
    stored: u64,
    /// The latest version tried (stored or not).
    tried: u64,
    /// The status the store holds.
    status: Option<JobStatus>,
    last_attempt: Option<Instant>,
    failures: u32,
}

impl Sink {
    fn new(name: &'static str, interval: Duration, max_retry_delay: Duration) -> Self {
        Self {
            name,
            interval,
            max_retry_delay,
            stored: 0,
            tried: 0,
            status: None,
            last_attempt: None,
            failures: 0,
        }
    }

    /// When the store should next be written, or `None` if it is up to date.
    fn due(&self, version: u64, status: JobStatus, urgent: bool) -> Option<Instant> {
        if version <= self.stored {
            return None;
        }
        let Some(last) = self.last_attempt else {
            return Some(Instant::now());
        };
        if self.failures > 0 {
            let backoff = FIRST_RETRY_DELAY
                .saturating_mul(1 << self.failures.min(16))
                .min(self.max_retry_delay);
            return Some(last + backoff);
        }
        if urgent || self.status != Some(status) {
            return Some(Instant::now());
        }
        Some(last + self.interval)
    }

    fn settle(
        &mut self,
        version: u64,
        status: JobStatus,
        result: Result<WriteOutcome, StoreError>,
    ) {
        self.last_attempt = Some(Instant::now());
        self.tried = version;
        match result {
            Ok(outcome) => {
                if self.failures > 0 {
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
                self.stored = version;
                self.status = Some(status);
            }
            Err(err) => {
                self.failures = self.failures.saturating_add(1);
                // The first failure is worth a warning; the retries are not.
                if self.failures == 1 {
                    tracing::warn!(store = self.name, error = %error_chain(&err), "progress write failed; will retry");
                } else {
                    tracing::debug!(store = self.name, error = %error_chain(&err), failures = self.failures, "progress write failed again");
                }
            }
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Runs until the job is finished (or its handle dropped) and both stores
/// hold its last state.
#[tracing::instrument(name = "flusher", skip_all)]
pub(crate) async fn run(
    shared: Arc<Shared>,
    hot: Arc<dyn HotStore>,
    archive: Arc<dyn Archive>,
    config: WriterConfig,
) {
    let mut hot_sink = Sink::new("redis", config.flush_interval, config.max_retry_delay);
    let mut archive_sink = Sink::new(
        "postgres",
        config.checkpoint_interval,
        config.max_retry_delay,
    );
    loop {
        // Ask to be woken before reading the state, so a change made after
        // the read still wakes the wait below.
        let wake = shared.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();

        let (record, version, urgent_version, abandoned): (ProgressRecord, u64, u64, bool) = {
            let state = shared.lock();
            (
                state.snapshot(),
                state.version,
                state.urgent,
                state.abandoned,
            )
        };
        let status = record.status;
        let finishing = status.is_terminal() || abandoned;

        let mut next = None;
        for (sink, is_hot) in [(&mut hot_sink, true), (&mut archive_sink, false)] {
            let urgent = finishing || urgent_version > sink.tried;
            match sink.due(version, status, urgent) {
                Some(due) if due <= Instant::now() => {
                    let result = if is_hot {
                        hot.write(&record).await
                    } else {
                        archive.checkpoint(&record).await
                    };
                    sink.settle(version, status, result);
                    next = earliest(next, sink.due(version, status, finishing));
                }
                due => next = earliest(next, due),
            }
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
        match next {
            Some(at) => {
                tokio::select! {
                    () = &mut wake => {}
                    () = tokio::time::sleep_until(at.into()) => {}
                }
            }
            None => wake.await,
        }
    }
}
