//! A circuit breaker in front of a store.
//!
//! When a store fails `failures` times in a row (errors or timeouts), it is
//! skipped for a `cool_off`: calls fail at once instead of each waiting for
//! the timeout, so a hung Redis costs the API a few slow requests, not every
//! request. After the cool-off a probe (a ping) runs in the background: its
//! success closes the breaker, its failure opens it for another cool-off.
//! No request ever waits for a probe: while the breaker is open, every call
//! is skipped at once.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::StoreError;

/// When to open and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker (0: never open).
    pub failures: u32,
    /// How long an open breaker skips the store before probing it.
    pub cool_off: Duration,
}

impl Default for BreakerConfig {
    /// Three failures in a row, then a 250 ms cool-off: with a 100 ms Redis
    /// timeout, an outage costs about 300 ms of slow answers; after that the
    /// probes run in the background (four a second, each a PING), so a
    /// returning store is used again within about a quarter of a second
    /// (plus the response cache's period).
    fn default() -> Self {
        Self {
            failures: 3,
            cool_off: Duration::from_millis(250),
        }
    }
}

/// The breaker refused the call: the store is being skipped.
#[derive(Debug, thiserror::Error)]
#[error("skipped: the store failed {failures} times in a row; probing again within {cool_off:?}")]
pub struct CircuitOpen {
    failures: u32,
    cool_off: Duration,
}

#[derive(Debug, Default)]
struct State {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    /// A probe is out since then. A probe whose caller went away never
    /// reports; after a cool-off another probe may go.
    probe_since: Option<Instant>,
}

/// The breaker itself; one per store.
#[derive(Debug, Default)]
pub struct Breaker {
    config: BreakerConfig,
    /// A std mutex: held for a few comparisons, never across an await.
    state: Mutex<State>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// May a call go to the store at `now`? `Err(probe)` when it is
    /// skipped; `probe` is true when the cool-off is over and no probe is
    /// out, so the caller should start one.
    fn admit(&self, now: Instant) -> Result<(), (CircuitOpen, bool)> {
        let mut state = self.state();
        let Some(open_until) = state.open_until else {
            return Ok(());
        };
        let probe_out = state
            .probe_since
            .is_some_and(|since| now < since + self.config.cool_off);
        let skipped = CircuitOpen {
            failures: state.consecutive_failures,
            cool_off: self.config.cool_off,
        };
        if now < open_until || probe_out {
            return Err((skipped, false));
        }
        state.probe_since = Some(now);
        Err((skipped, true))
    }

    /// Reports how an admitted call went.
    pub fn record(&self, ok: bool) {
        self.record_at(ok, Instant::now());
    }

    /// Reports how a call went, as of `now`.
    fn record_at(&self, ok: bool, now: Instant) {
        let mut state = self.state();
        if ok {
            if state.open_until.is_some() {
                tracing::info!("store answers again; circuit closed");
            }
            *state = State::default();
            return;
        }
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        let was_open = state.open_until.is_some();
        if self.config.failures > 0
            && (was_open || state.consecutive_failures >= self.config.failures)
        {
            if !was_open {
                tracing::warn!(
                    failures = state.consecutive_failures,
                    cool_off = ?self.config.cool_off,
                    "store keeps failing; skipping it (circuit open)"
                );
            }
            state.open_until = Some(now + self.config.cool_off);
            state.probe_since = None;
        }
    }

    /// Runs `call` if the breaker admits it, and records how it went (only
    /// [outages](StoreError::is_outage) count against the store). While the
    /// breaker is open the call is skipped at once, and once a cool-off is
    /// over `probe` runs in a task of its own to see whether the store is
    /// back.
    pub(crate) async fn guard<T, P>(
        self: &Arc<Self>,
        store: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
        probe: impl FnOnce() -> P,
    ) -> Result<T, StoreError>
    where
        P: Future<Output = bool> + Send + 'static,
    {
        if let Err((open, start_probe)) = self.admit(Instant::now()) {
            if start_probe {
                let breaker = Arc::clone(self);
                let probe = probe();
                tokio::spawn(async move { breaker.record(probe.await) });
            }
            return Err(StoreError::unavailable(store, open));
        }
        let result = call.await;
        self.record(!result.as_ref().is_err_and(StoreError::is_outage));
        result
    }

    /// Whether calls are being skipped now.
    pub fn is_open(&self) -> bool {
        self.state().open_until.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(cool_off_ms: u64) -> Breaker {
        Breaker::new(BreakerConfig {
            failures: 3,
            cool_off: Duration::from_millis(cool_off_ms),
        })
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let (b, now) = (breaker(60_000), Instant::now());
        b.record_at(false, now);
        b.record_at(false, now);
        b.record_at(true, now);
        b.record_at(false, now);
        b.record_at(false, now);
        assert!(b.admit(now).is_ok(), "two failures since the last success");
        b.record_at(false, now);
        assert!(matches!(b.admit(now), Err((_, false))), "three in a row");
        assert!(b.is_open());
    }

    #[test]
    fn lets_one_probe_through_after_the_cool_off() {
        let (b, now) = (breaker(250), Instant::now());
        for _ in 0..3 {
            b.record_at(false, now);
        }
        let later = now + Duration::from_millis(250);
        assert!(matches!(b.admit(later), Err((_, true))), "asks for a probe");
        b.record_at(true, later);
        assert!(!b.is_open());
        assert!(b.admit(later).is_ok());
    }

    #[test]
    fn a_failed_probe_reopens_for_another_cool_off() {
        let (b, now) = (breaker(250), Instant::now());
        for _ in 0..3 {
            b.record_at(false, now);
        }
        let later = now + Duration::from_millis(250);
        assert!(matches!(b.admit(later), Err((_, true))));
        b.record_at(false, later);
        assert!(b.is_open());
        assert!(
            matches!(b.admit(later + Duration::from_millis(249)), Err((_, false))),
            "skipped until the new cool-off is over"
        );
    }

    #[test]
    fn concurrent_calls_are_skipped_while_the_probe_is_out() {
        let (b, now) = (breaker(50), Instant::now());
        for _ in 0..3 {
            b.record_at(false, now);
        }
        let later = now + Duration::from_millis(60);
        assert!(
            matches!(b.admit(later), Err((_, true))),
            "asks for the probe"
        );
        assert!(
            matches!(b.admit(later), Err((_, false))),
            "one probe at a time"
        );
    }
}
