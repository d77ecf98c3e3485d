//! [`LogShipper`]: the flusher's side of `JobHandle::log`: it sends the
//! lines a job's handle queued on its [`JobLink`] to the hot store, at most
//! once per flush interval, after the record (the store takes lines only
//! for a job it holds), and publishes them on the NATS bus when that is
//! the bus (a Redis store publishes them itself).

use std::time::{Duration, Instant};

use super::link::JobLink;
use crate::{
    backoff::Backoff,
    domain::{JobId, MAX_LINES_PER_CALL},
    error::error_chain,
    push::Publisher,
    store::HotStore,
};

/// The most calls one round makes: 10 of 100 lines. A queue never holds
/// more than the store keeps (1,000), so one round empties it.
const CALLS_PER_ROUND: usize = 10;

/// When a job's queued lines go next, and how a failing store is retried.
#[derive(Debug)]
pub(crate) struct LogShipper {
    interval: Duration,
    retry: Backoff,
    /// When the last round ran (`None`: never).
    last: Option<Instant>,
    failures: u32,
}

impl LogShipper {
    /// Lines go at most once per `interval` (the hot store's flush
    /// interval); failed sends are retried as `retry` says.
    pub(crate) fn new(interval: Duration, retry: Backoff) -> Self {
        Self {
            interval,
            retry,
            last: None,
            failures: 0,
        }
    }

    /// When the next round may run.
    pub(crate) fn due(&self) -> Instant {
        match self.last {
            None => Instant::now(),
            Some(last) if self.failures > 0 => last + self.retry.delay(self.failures - 1),
            Some(last) => last + self.interval,
        }
    }

    /// How many rounds in a row have failed.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    /// Sends the queued lines, if any are due. Lines the store refuses for
    /// a job it no longer holds are dropped (the record expired); lines a
    /// failing store did not take go back to the queue.
    pub(crate) async fn ship(
        &mut self,
        link: &JobLink,
        id: &JobId,
        hot: &dyn HotStore,
        publisher: Option<&Publisher>,
    ) {
        if !link.has_logs() || self.due() > Instant::now() {
            return;
        }
        self.last = Some(Instant::now());
        for _ in 0..CALLS_PER_ROUND {
            let lines = link.take_logs(MAX_LINES_PER_CALL);
            if lines.is_empty() {
                break;
            }
            match hot.append_log(id, &lines).await {
                Ok(Some(last)) => {
                    self.failures = 0;
                    if let Some(publisher) = publisher {
                        publisher.publish_lines(id, last, &lines).await;
                    }
                }
                Ok(None) => {
                    self.failures = 0;
                    tracing::debug!(job_id = %id, lines = lines.len(), "the hot store no longer holds the job; log lines dropped");
                }
                Err(err) => {
                    self.failures = self.failures.saturating_add(1);
                    if self.failures == 1 {
                        tracing::warn!(job_id = %id, error = %error_chain(&err), "log lines not stored; will retry");
                    }
                    link.return_logs(lines);
                    break;
                }
            }
        }
    }
}
