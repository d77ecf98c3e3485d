//! [`Guarded`]: every call to a store goes through one of these.
//!
//! It bounds the call by the store's timeout, turns the client library's
//! error into a [`StoreError`] of the [`ErrorKind`] the store's own
//! `classify` gives it (each store knows its client's errors, so the
//! decision whether an error is an outage is made there), and runs it
//! under a [`Breaker`]: the store's one breaker, or the breaker of the
//! part of the store the call goes to (a [`Scope`]: on a Redis Cluster,
//! the master serving the call's slot, see `redis/nodes.rs`). The probe a
//! breaker needs once a cool-off is over is its scope's own ping, under
//! the same timeout.
//!
//! Being the one place every store call passes, it also reports each
//! call's outcome and latency, and the breakers' states, to
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

/// A ping: answers `Ok` when what it pings can serve.
type Ping<E> = Arc<dyn Fn() -> BoxFuture<'static, Result<(), E>> + Send + Sync>;

/// One breaker and what it guards: the whole store, or one node of it,
/// with the ping that probes that while the breaker is open.
pub(crate) struct Scope<E> {
    /// The node's address (`host:port`), the breaker gauge's `node`
    /// label; `None` for the whole store.
    node: Option<String>,
    breaker: Arc<Breaker>,
    ping: Ping<E>,
}

impl<E> Scope<E> {
    /// A closed breaker of `config` over `node` (`None`: the whole store),
    /// probed by `ping`.
    pub(crate) fn new(
        node: Option<String>,
        config: BreakerConfig,
        ping: impl Fn() -> BoxFuture<'static, Result<(), E>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            node,
            breaker: Arc::new(Breaker::new(config)),
            ping: Arc::new(ping),
        }
    }

    /// The node it guards, if it guards one.
    pub(crate) fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// Whether its calls are being skipped now.
    pub(crate) fn is_open(&self) -> bool {
        self.breaker.is_open()
    }
}

impl<E> std::fmt::Debug for Scope<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("node", &self.node)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

/// Timeout, error classification and circuit breaker around one store's
/// client, whose calls fail with `E`.
pub(crate) struct Guarded<E> {
    store: &'static str,
    timeout: Duration,
    classify: fn(&E) -> ErrorKind,
    /// The whole store's breaker.
    whole: Arc<Scope<E>>,
}

impl<E> Clone for Guarded<E> {
    fn clone(&self) -> Self {
        Self {
            store: self.store,
            timeout: self.timeout,
            classify: self.classify,
            whole: Arc::clone(&self.whole),
        }
    }
}

impl<E> std::fmt::Debug for Guarded<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("store", &self.store)
            .field("timeout", &self.timeout)
            .field("breaker", &self.whole.breaker)
            .finish_non_exhaustive()
    }
}

impl<E: std::error::Error + Send + Sync + 'static> Guarded<E> {
    /// Guards the store named `store` (`redis`, `postgres`): calls are cut
    /// off after `timeout`, errors classified by `classify`, and `ping`
    /// probes the store while its breaker (default configuration) is open.
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
            whole: Arc::new(Scope::new(None, BreakerConfig::default(), ping)),
        }
    }

    /// Replaces the store's breaker with a fresh one of `config`.
    pub(crate) fn set_breaker(&mut self, config: BreakerConfig) {
        self.whole = Arc::new(Scope {
            node: None,
            breaker: Arc::new(Breaker::new(config)),
            ping: Arc::clone(&self.whole.ping),
        });
    }

    /// Runs `call` under the timeout and the store's breaker.
    pub(crate) async fn call<T>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreError> {
        self.call_in(&self.whole, call).await
    }

    /// Runs `call` under the timeout and the breaker of `scope`.
    pub(crate) async fn call_in<T>(
        &self,
        scope: &Scope<E>,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreError> {
        // Cloned only when a probe is due, not on every call.
        let probe = || {
            let guarded = self.clone();
            let ping = Arc::clone(&scope.ping);
            async move { guarded.bounded(ping()).await.is_ok() }
        };
        let started = Instant::now();
        let result = scope
            .breaker
            .guard(self.store, self.bounded(call), probe)
            .await;
        process::store_call(self.store, outcome(&result), started.elapsed());
        // As of this call: a probe that closed the breaker since the last
        // one shows at the next call.
        process::breaker_open(self.store, scope.node(), scope.is_open());
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

/// `scope` guards nothing any more (its node left the cluster's slot
/// map): its gauge says closed, since nothing is skipped for it.
pub(crate) fn retire<E>(store: &'static str, scope: &Scope<E>) {
    process::breaker_open(store, scope.node(), false);
}
