//! [`Guarded`]: every call to a store goes through one of these.
//!
//! It bounds the call by the store's timeout, turns the client library's
//! error into a [`StoreError`] of the [`ErrorKind`] the store's own
//! `classify` gives it (each store knows its client's errors, so the
//! decision whether an error is an outage is made there), and runs it
//! under the store's [`Breaker`]. The probe the breaker needs once
//! a cool-off is over is the store's own ping, under the same timeout.
//! Being the one place every store call passes, it also reports each
//! call's outcome and latency, and the breaker's state, to
//! [`metrics::process`](crate::metrics::process), in the metrics' own
//! plain labels: the metrics know nothing of the stores.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::future::BoxFuture;

use crate::metrics::process::{self, StoreOutcome};

use super::{
    StoreError,
    breaker::{Breaker, BreakerConfig, CircuitOpen},
};

/// What an error of a store's client library means for the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The client gave up waiting.
    Timeout,
    /// The store cannot be reached (connection refused, dropped, broken).
    Outage,
    /// The store answered, refusing this one command.
    Refused,
}

/// The store's ping: answers `Ok` when the store can serve.
type Ping<E> = Arc<dyn Fn() -> BoxFuture<'static, Result<(), E>> + Send + Sync>;

/// Timeout, error classification and circuit breaker around one store's
/// client, whose calls fail with `E`.
pub(crate) struct Guarded<E> {
    store: &'static str,
    timeout: Duration,
    classify: fn(&E) -> ErrorKind,
    ping: Ping<E>,
    breaker: Arc<Breaker>,
}

impl<E> Clone for Guarded<E> {
    fn clone(&self) -> Self {
        Self {
            store: self.store,
            timeout: self.timeout,
            classify: self.classify,
            ping: Arc::clone(&self.ping),
            breaker: Arc::clone(&self.breaker),
        }
    }
}

impl<E> std::fmt::Debug for Guarded<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("store", &self.store)
            .field("timeout", &self.timeout)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<E: std::error::Error + Send + Sync + 'static> Guarded<E> {
    /// Guards the store named `store` (`redis`, `postgres`): calls are cut
    /// off after `timeout`, errors classified by `classify`, and `ping`
    /// probes the store while the breaker (default configuration) is open.
    pub(crate) fn new(
        store: &'static str,
        timeout: Duration,
        classify: fn(&E) -> ErrorKind,
        ping: impl Fn() -> BoxFuture<'static, Result<(), E>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            store,
            timeout,
            classify,
            ping: Arc::new(ping),
            breaker: Arc::new(Breaker::new(BreakerConfig::default())),
        }
    }

    /// Replaces the breaker with a fresh one of `config`.
    pub(crate) fn set_breaker(&mut self, config: BreakerConfig) {
        self.breaker = Arc::new(Breaker::new(config));
    }

    /// Runs `call` under the timeout and the breaker.
    pub(crate) async fn call<T>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreError> {
        // Cloned only when a probe is due, not on every call.
        let probe = || {
            let guarded = self.clone();
            async move { guarded.bounded((guarded.ping)()).await.is_ok() }
        };
        let started = Instant::now();
        let result = self
            .breaker
            .guard(self.store, self.bounded(call), probe)
            .await;
        process::store_call(self.store, outcome(&result), started.elapsed());
        // As of this call: a probe that closed the breaker since the last
        // one shows at the next call.
        process::breaker_open(self.store, None, self.breaker.is_open());
        result
    }

    /// `call` under the timeout alone.
    async fn bounded<T>(&self, call: impl Future<Output = Result<T, E>>) -> Result<T, StoreError> {
        let timeout = StoreError::Timeout {
            store: self.store,
            timeout: self.timeout,
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(match (self.classify)(&err) {
                ErrorKind::Timeout => timeout,
                ErrorKind::Outage => StoreError::unavailable(self.store, err),
                ErrorKind::Refused => StoreError::refused(self.store, err),
            }),
            Err(_) => Err(timeout),
        }
    }
}

/// How a call went, in the metrics' terms.
fn outcome<T>(result: &Result<T, StoreError>) -> StoreOutcome {
    match result {
        Ok(_) => StoreOutcome::Ok,
        Err(StoreError::Timeout { .. }) => StoreOutcome::Timeout,
        Err(StoreError::Unavailable { source, .. }) if source.is::<CircuitOpen>() => {
            StoreOutcome::Skipped
        }
        Err(StoreError::Unavailable { .. }) => StoreOutcome::Unavailable,
        Err(StoreError::Refused { .. }) => StoreOutcome::Refused,
        Err(StoreError::Corrupt { .. }) => StoreOutcome::Corrupt,
    }
}
