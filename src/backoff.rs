//! How long to wait before trying again something that failed: a first
//! wait, doubled after each further failure up to a cap.
//!
//! Every retry in the crate waits by this one rule: the flusher retrying
//! a store (`write/flusher.rs`), the HTTP ingest retrying a checkpoint
//! (`write/ingest/commit.rs`), the bus subscribers resubscribing
//! (`push/resubscribe.rs`), and `job-progress watch` retrying the API
//! (`cli/retry.rs`). Each site names its own numbers, with the reason for
//! them, beside the code that waits; what a site adds of its own (a
//! server's `Retry-After`, a deadline to give up by) stays there too.
//!
//! The waits are exact, without jitter; should many clients come to retry
//! one server in step, a random spread belongs here, for every site.

use std::time::Duration;

/// A retry policy: `first`, then doubled on each further attempt, never
/// more than `max`. A plain value (`Copy`, `const`): a site names its
/// policy as a constant, or builds it from its configuration.
///
/// ```
/// use std::time::Duration;
/// use job_progress::backoff::Backoff;
///
/// const RETRY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
///
/// // By attempt number: 0 is the wait after the first failure.
/// assert_eq!(RETRY.delay(0), Duration::from_millis(100));
/// assert_eq!(RETRY.delay(3), Duration::from_millis(800));
/// assert_eq!(RETRY.delay(u32::MAX), Duration::from_secs(2));
///
/// // Or one wait after another, starting afresh after a success.
/// let mut waits = RETRY.delays();
/// assert_eq!(waits.next_delay(), Duration::from_millis(100));
/// assert_eq!(waits.next_delay(), Duration::from_millis(200));
/// waits.reset();
/// assert_eq!(waits.next_delay(), Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
}

impl Backoff {
    /// Waits `first`, then twice as long after each further failure, up to
    /// `max`. A `max` below `first` caps every wait at `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self { first, max }
    }

    /// The wait before retry number `attempt` (0: the first retry), that
    /// is `first * 2^attempt`, capped at `max`. Any attempt number is
    /// safe: the arithmetic saturates instead of overflowing.
    pub fn delay(&self, attempt: u32) -> Duration {
        // 2^32 and above do not fit a `u32`; any such factor is past every
        // cap a `Duration` can hold but the largest, so saturate.
        let doubled = match 1u32.checked_shl(attempt) {
            Some(factor) => self.first.saturating_mul(factor),
            None => Duration::MAX,
        };
        doubled.min(self.max)
    }

    /// The waits one after another, for a loop that retries until it
    /// succeeds and then starts afresh ([`Delays::reset`]).
    pub const fn delays(self) -> Delays {
        Delays {
            policy: self,
            attempt: 0,
        }
    }
}

/// A run of failures under a [`Backoff`]: each [`next_delay`](Self::next_delay)
/// is the wait before the next try.
#[derive(Debug, Clone)]
pub struct Delays {
    policy: Backoff,
    /// Waits handed out since the last reset.
    attempt: u32,
}

impl Delays {
    /// The wait before the next try; the one after will be twice as long
    /// (up to the cap).
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.policy.delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// A try succeeded: the next failure waits the first delay again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn waits_double_from_the_first_up_to_the_cap() {
        let policy = Backoff::new(100 * MS, 2000 * MS);
        let waits: Vec<Duration> = (0..7).map(|n| policy.delay(n)).collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1600, 2000, 2000].map(|ms| ms * MS)
        );
    }

    #[test]
    fn delays_walk_the_same_waits_and_start_afresh_on_reset() {
        let policy = Backoff::new(500 * MS, 10_000 * MS);
        let mut delays = policy.delays();
        let walked: Vec<Duration> = (0..7).map(|_| delays.next_delay()).collect();
        let by_number: Vec<Duration> = (0..7).map(|n| policy.delay(n)).collect();
        assert_eq!(walked, by_number);
        delays.reset();
        assert_eq!(delays.next_delay(), 500 * MS);
        assert_eq!(delays.next_delay(), 1000 * MS);
    }

    #[test]
    fn large_attempt_numbers_stay_at_the_cap_without_overflow() {
        // The widest first wait and cap a `Duration` allows, at attempt
        // numbers whose factor overflows a `u32` or the `Duration`.
        for policy in [
            Backoff::new(100 * MS, 2000 * MS),
            Backoff::new(Duration::MAX, Duration::MAX),
            Backoff::new(Duration::from_secs(u64::MAX / 2), Duration::MAX),
        ] {
            for attempt in [31, 32, 33, 64, 1000, u32::MAX] {
                assert_eq!(policy.delay(attempt), policy.max, "attempt {attempt}");
            }
        }
        let mut delays = Backoff::new(MS, 2 * MS).delays();
        delays.attempt = u32::MAX;
        assert_eq!(delays.next_delay(), 2 * MS);
        assert_eq!(delays.next_delay(), 2 * MS, "the count saturates");
    }

    #[test]
    fn a_cap_below_the_first_wait_caps_every_wait() {
        let policy = Backoff::new(2000 * MS, 100 * MS);
        assert_eq!(policy.delay(0), 100 * MS);
        assert_eq!(policy.delay(5), 100 * MS);
        assert_eq!(Backoff::new(MS, Duration::ZERO).delay(0), Duration::ZERO);
    }
}
