//! What the library measures wherever it runs: store calls, breakers and
//! the writer, through the `metrics` facade's global recorder.
//!
//! These are reported through the facade, not a server's registry,
//! because stores and writers are not a server's: a worker embedding
//! [`ProgressWriter`](crate::write::ProgressWriter) counts its writes
//! into whatever recorder its program installed (none: the facade's no-op
//! one, next to free). The API server installs [`install`]'s Prometheus recorder,
//! unless its program already installed one, and `/metrics` shows it
//! after the server's own series. It counts every store client in the
//! process: in production one API server's; in a test process, all
//! tests' together.

use std::{sync::OnceLock, time::Duration};

use ::metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::{names, server::UPKEEP_EVERY};

/// The process's Prometheus recorder, once [`install`] has set it.
static INSTALLED: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs a Prometheus recorder as the facade's global one, once per
/// process, and returns its handle; `None` when the program had installed
/// another recorder first (its metrics then go there). A thread folds
/// recorded latencies into their buckets every few seconds.
pub fn install() -> Option<&'static PrometheusHandle> {
    INSTALLED
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(names::STORE_DURATION.name.into()),
                    names::STORE_BUCKETS,
                )
                .expect("the buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            ::metrics::set_global_recorder(recorder).ok()?;
            describe();
            let upkeep = handle.clone();
            // A thread, not a task: the recorder outlives any one runtime.
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(err) = spawned {
                tracing::warn!(error = %err, "no metrics upkeep thread; latencies are folded at each scrape only");
            }
            Some(handle)
        })
        .as_ref()
}

/// The help texts of the process's series.
fn describe() {
    for metric in [
        names::STORE_CALLS,
        names::STORE_DURATION,
        names::BREAKER_OPEN,
        names::WRITER_WRITES,
        names::WRITER_RETRIES,
        names::WEBHOOK_DELIVERIES,
    ] {
        ::metrics::describe_counter!(metric.name, metric.help);
    }
    ::metrics::describe_gauge!(
        names::WEBHOOK_OUTBOX_OLDEST.name,
        names::WEBHOOK_OUTBOX_OLDEST.help
    );
}

/// How a store call went: the `outcome` label of
/// `job_progress_store_calls_total`. Defined here, with plain labels, so
/// the stores report to the metrics and the metrics know nothing of the
/// stores (`store/guard.rs` says which outcome an error is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// It answered.
    Ok,
    /// It did not answer in time.
    Timeout,
    /// The circuit breaker was open: the call was not made.
    Skipped,
    /// The store could not be reached.
    Unavailable,
    /// The store refused the command.
    Refused,
    /// A value could not be read or encoded.
    Corrupt,
}

impl StoreOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreOutcome::Ok => "ok",
            StoreOutcome::Timeout => "timeout",
            StoreOutcome::Skipped => "skipped",
            StoreOutcome::Unavailable => "unavailable",
            StoreOutcome::Refused => "refused",
            StoreOutcome::Corrupt => "corrupt",
        }
    }
}

/// One call to `store` (`redis`, `postgres`), how it went and how long it took.
pub(crate) fn store_call(store: &'static str, outcome: StoreOutcome, took: Duration) {
    ::metrics::counter!(names::STORE_CALLS.name, "store" => store, "outcome" => outcome.as_str())
        .increment(1);
    ::metrics::histogram!(names::STORE_DURATION.name, "store" => store).record(took.as_secs_f64());
}

/// A breaker of `store` opened (`true`) or closed: the store's one
/// breaker, or on a Redis Cluster the breaker of the master at `node`
/// (`host:port`).
pub(crate) fn breaker_open(store: &'static str, node: Option<&str>, open: bool) {
    let value = f64::from(u8::from(open));
    match node {
        None => ::metrics::gauge!(names::BREAKER_OPEN.name, "store" => store).set(value),
        Some(node) => ::metrics::gauge!(
            names::BREAKER_OPEN.name, "store" => store, "node" => node.to_owned()
        )
        .set(value),
    }
}

/// A writer's write to `store`: `written`, `stale` or `failed`; `retry`
/// when it followed a failure.
pub(crate) fn writer_write(store: &'static str, outcome: &'static str, retry: bool) {
    ::metrics::counter!(names::WRITER_WRITES.name, "store" => store, "outcome" => outcome)
        .increment(1);
    if retry {
        ::metrics::counter!(names::WRITER_RETRIES.name, "store" => store).increment(1);
    }
}

/// A webhook delivery attempt ended so: `delivered`, `retry`, `dead` or
/// `disabled`.
pub(crate) fn webhook_attempt(outcome: &'static str) {
    ::metrics::counter!(names::WEBHOOK_DELIVERIES.name, "outcome" => outcome).increment(1);
}

/// The oldest webhook event still waiting is `age` old (zero: none waits).
pub(crate) fn webhook_oldest(age: Duration) {
    ::metrics::gauge!(names::WEBHOOK_OUTBOX_OLDEST.name).set(age.as_secs_f64());
}
