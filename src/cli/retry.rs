//! How long to wait before trying a failing API again, and when to stop.

use std::time::{Duration, Instant};

use super::client::Failure;
use crate::backoff::{Backoff, Delays};

/// The first wait after a failure; it doubles up to [`MAX_WAIT`]. Half a
/// second rides out a restart's gap without hammering a server that is
/// still starting.
const FIRST_WAIT: Duration = Duration::from_millis(500);
/// The longest wait between tries: a watcher notices a recovered server
/// within ten seconds.
const MAX_WAIT: Duration = Duration::from_secs(10);
/// The wait when the server names none (`Retry-After`).
const WAITS: Backoff = Backoff::new(FIRST_WAIT, MAX_WAIT);

/// Consecutive failures and the backoff they call for.
#[derive(Debug)]
pub struct Retry {
    /// How long failures may go on before giving up (`None`: forever).
    give_up_after: Option<Duration>,
    /// When the current run of failures began.
    failing_since: Option<Instant>,
    waits: Delays,
}

impl Retry {
    /// Gives up once failures have gone on for `give_up_after`.
    pub fn new(give_up_after: Option<Duration>) -> Self {
        Self {
            give_up_after,
            failing_since: None,
            waits: WAITS.delays(),
        }
    }

    /// An answer came: the next failure starts afresh. `true` if it ends
    /// a run of failures.
    pub fn succeeded(&mut self) -> bool {
        self.waits.reset();
        self.failing_since.take().is_some()
    }

    /// Whether the last try failed.
    pub fn is_failing(&self) -> bool {
        self.failing_since.is_some()
    }

    /// How long to wait before the next try after `failure`, or `None`
    /// to give up: it cannot be helped by waiting, or failures have gone
    /// on for too long. The server's `Retry-After` is kept to.
    pub fn after(&mut self, failure: &Failure) -> Option<Duration> {
        if !failure.is_transient() {
            return None;
        }
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        if self
            .give_up_after
            .is_some_and(|limit| since.elapsed() >= limit)
        {
            return None;
        }
        // A `Retry-After` still counts as a failure: the wait after it
        // is the one that would have followed.
        let fallback = self.waits.next_delay();
        Some(failure.retry_after().unwrap_or(fallback))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> Failure {
        Failure::Unreachable {
            api: "http://127.0.0.1:1/".into(),
            cause: "connection refused".into(),
        }
    }

    #[test]
    fn waits_double_up_to_the_cap_and_reset_after_an_answer() {
        let mut retry = Retry::new(None);
        let waits: Vec<u64> = (0..7)
            .map(|_| retry.after(&down()).unwrap().as_millis() as u64)
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert!(retry.is_failing());
        assert!(retry.succeeded(), "a run of failures ended");
        assert!(!retry.succeeded());
        assert_eq!(retry.after(&down()), Some(FIRST_WAIT));
    }

    #[test]
    fn retry_after_is_kept_to_and_permanent_failures_stop_at_once() {
        let mut retry = Retry::new(None);
        assert_eq!(
            retry.after(&Failure::RateLimited(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry.after(&Failure::Forbidden("scope".into())), None);
    }

    #[test]
    fn gives_up_once_failures_last_too_long() {
        let mut retry = Retry::new(Some(Duration::ZERO));
        assert_eq!(retry.after(&down()), None);
    }
}
