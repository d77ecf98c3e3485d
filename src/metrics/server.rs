//! [`ServerMetrics`]: what one API server measures of its own requests, in
//! a registry of its own.
//!
//! Each [`Application`](crate::startup::Application) owns one, so two
//! servers in one process (the tests start dozens) never count each
//! other's requests. The series whose labels are known up front are
//! registered once, and the HTTP series once per route, method and
//! status, so the hot path of a cached read is a read lock, a map lookup
//! and two atomic updates, with no allocation beyond the route pattern
//! actix hands over.

use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use ::metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder as _};
use ::metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use actix_web::http::{Method, StatusCode};

use super::names::{self, Described};
use crate::domain::Source;

/// How often recorded latencies are folded into their buckets when
/// nobody scrapes (rendering folds them too): the exporter keeps each
/// sample until then, so this bounds the memory a busy, unscraped server
/// spends on them.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The outcome of one update received by the HTTP write API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Stored.
    Accepted,
    /// Bad input, answered with a 4xx.
    Refused,
    /// Older than what the store holds; dropped.
    Stale,
}

impl IngestOutcome {
    fn index(self) -> usize {
        match self {
            IngestOutcome::Accepted => 0,
            IngestOutcome::Refused => 1,
            IngestOutcome::Stale => 2,
        }
    }
}

/// One HTTP series: the request counter and the latency histogram of a
/// route, method and status.
struct HttpSeries {
    requests: Counter,
    duration: Histogram,
}

/// The key of an HTTP series: the route pattern (`None` when no route
/// matched), the method's label, the status. A pattern the route named
/// itself is borrowed, so its lookup allocates nothing.
type HttpKey = (Option<Cow<'static, str>>, &'static str, u16);

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// Hashed with foldhash: looked up on every answer, by keys the server
    /// makes (route patterns, not paths).
    http: RwLock<HashMap<HttpKey, HttpSeries, foldhash::fast::RandomState>>,
    cache_hit: Counter,
    cache_miss: Counter,
    /// By [`Source`]: cache, redis, database.
    answers: [Counter; 3],
    active_jobs: Gauge,
    sse_streams_open: Gauge,
    /// By [`IngestOutcome`].
    ingest: [Counter; 3],
}

/// The server's own metrics; cloning shares them.
#[derive(Clone)]
pub struct ServerMetrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ServerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerMetrics").finish_non_exhaustive()
    }
}

impl Default for ServerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), ::metrics::Level::INFO, Some(module_path!()));

/// Gives `metric` its help text in `recorder`.
fn describe(recorder: &PrometheusRecorder, metric: Described) {
    let (name, help) = (KeyName::from_const_str(metric.name), metric.help.into());
    // The exporter keeps one help text per name, whatever the kind.
    recorder.describe_counter(name, None, help);
}

fn counter(
    recorder: &PrometheusRecorder,
    metric: Described,
    labels: &[(&'static str, &'static str)],
) -> Counter {
    recorder.register_counter(&key(metric, labels), &METADATA)
}

fn key(metric: Described, labels: &[(&'static str, &'static str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|&(k, v)| Label::from_static_parts(k, v))
        .collect();
    Key::from_parts(metric.name, labels)
}

impl ServerMetrics {
    /// An empty registry with every fixed series at zero, so a scrape
    /// shows them before the first request.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(names::HTTP_DURATION.name.into()),
                names::HTTP_BUCKETS,
            )
            .expect("the buckets are not empty")
            .build_recorder();
        for metric in [
            names::HTTP_REQUESTS,
            names::HTTP_DURATION,
            names::CACHE_LOOKUPS,
            names::READ_ANSWERS,
            names::ACTIVE_JOBS,
            names::SSE_STREAMS_OPEN,
            names::INGEST_UPDATES,
        ] {
            describe(&recorder, metric);
        }
        let source = |s: Source| counter(&recorder, names::READ_ANSWERS, &[("source", s.as_str())]);
        let ingest = |o: &'static str| counter(&recorder, names::INGEST_UPDATES, &[("outcome", o)]);
        let inner = Inner {
            handle: recorder.handle(),
            http: RwLock::default(),
            cache_hit: counter(&recorder, names::CACHE_LOOKUPS, &[("result", "hit")]),
            cache_miss: counter(&recorder, names::CACHE_LOOKUPS, &[("result", "miss")]),
            answers: [
                source(Source::Cache),
                source(Source::Hot),
                source(Source::Archive),
            ],
            active_jobs: recorder.register_gauge(&key(names::ACTIVE_JOBS, &[]), &METADATA),
            sse_streams_open: recorder
                .register_gauge(&key(names::SSE_STREAMS_OPEN, &[]), &METADATA),
            ingest: [ingest("accepted"), ingest("refused"), ingest("stale")],
            recorder,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// One answered request: `route` is the matched pattern
    /// (`HttpRequest::match_pattern`, or the one the route named), `None`
    /// for an unknown path.
    pub fn http_request(
        &self,
        route: Option<Cow<'static, str>>,
        method: &Method,
        status: StatusCode,
        took: Duration,
    ) {
        let key = (route, method_label(method), status.as_u16());
        let record = |series: &HttpSeries| {
            series.requests.increment(1);
            series.duration.record(took.as_secs_f64());
        };
        {
            let http = self.inner.http.read().unwrap_or_else(|p| p.into_inner());
            if let Some(series) = http.get(&key) {
                return record(series);
            }
        }
        let mut http = self.inner.http.write().unwrap_or_else(|p| p.into_inner());
        let series = http
            .entry(key)
            .or_insert_with_key(|(route, method, status)| {
                let route = Label::new(
                    "route",
                    route
                        .as_deref()
                        .unwrap_or(names::UNMATCHED_ROUTE)
                        .to_owned(),
                );
                let method = Label::from_static_parts("method", method);
                let status = Label::new("status", status.to_string());
                let recorder = &self.inner.recorder;
                HttpSeries {
                    requests: recorder.register_counter(
                        &Key::from_parts(
                            names::HTTP_REQUESTS.name,
                            vec![route.clone(), method.clone(), status],
                        ),
                        &METADATA,
                    ),
                    duration: recorder.register_histogram(
                        &Key::from_parts(names::HTTP_DURATION.name, vec![route, method]),
                        &METADATA,
                    ),
                }
            });
        record(series);
    }

    /// A response cache lookup: `hit` when another request's load answered.
    pub fn cache_lookup(&self, hit: bool) {
        if hit {
            self.inner.cache_hit.increment(1);
        } else {
            self.inner.cache_miss.increment(1);
        }
    }

    /// A progress answer whose data came from `source`.
    pub fn answer(&self, source: Source) {
        let index = match source {
            Source::Cache => 0,
            Source::Hot => 1,
            Source::Archive => 2,
        };
        self.inner.answers[index].increment(1);
    }

    /// The active list was loaded: `total` jobs are active.
    pub fn active_jobs(&self, total: u64) {
        self.inner.active_jobs.set(total as f64);
    }

    /// An update received by the HTTP write API, and what became of it.
    pub fn ingest_update(&self, outcome: IngestOutcome) {
        self.inner.ingest[outcome.index()].increment(1);
    }

    /// The text exposition of this server's series, with `streams_open`
    /// as the open stream count.
    pub fn render(&self, streams_open: usize) -> String {
        self.inner.sse_streams_open.set(streams_open as f64);
        self.inner.handle.render()
    }

    /// Folds recorded latencies into their buckets every [`UPKEEP_EVERY`],
    /// for as long as the runtime runs.
    pub fn spawn_upkeep(&self) {
        let handle = self.inner.handle.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });
    }
}

/// A method's label: the ones the API knows by name, any other as
/// [`names::OTHER_METHOD`], so made-up methods cannot add series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => names::OTHER_METHOD,
    }
}
