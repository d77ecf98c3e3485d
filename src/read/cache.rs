//! The one-second response cache in front of the stores.
//!
//! The cache holds *loads*, not just results: the first request for a key
//! inserts a shared future of its load, and every request for that key
//! within the cache period awaits the same future. So
//!
//! - concurrent misses for one key cause one store read;
//! - a client that disconnects drops only its own wait: a list's load goes
//!   on in a task of its own for the others; a job's load is driven by
//!   whichever of its waiters polls it, since its store reads already run
//!   in their batches' tasks (`batch.rs`), and a task per miss was one more
//!   hop for every unknown id of a flood (BENCHMARKS.md);
//! - unknown ids (a rendered 404) are cached like anything else, so a
//!   poller of a wrong id costs the stores one read per period.
//!
//! The period counts from the start of the load, so a cached answer is never
//! older than the period. A list's load runs in a span naming its key and
//! the request that started it, so a store's warning says which list and
//! which request; a job's load, whose store read runs in its batch's task
//! (`loads.rs`), has that span at debug level only; a hit makes no span.

use std::{hash::Hash, panic::AssertUnwindSafe, sync::Arc, time::Duration};

use actix_web::http::StatusCode;
use futures_util::{
    FutureExt,
    future::{BoxFuture, Shared},
};

use tokio::time::Instant;
use tracing::Instrument as _;

use super::envelope::Rendered;
use crate::{
    domain::{FinishedQuery, JobFilter, JobId, ScheduleId, Source},
    metrics::ServerMetrics,
};

/// What a cached response answers, besides one job's progress (which has
/// a map of its own, keyed by the id alone: see [`ResponseCache::hit`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CacheKey {
    /// One page of the active list.
    Active {
        /// Page size.
        limit: u32,
        /// Items skipped.
        offset: u64,
        /// What the list is narrowed to.
        filter: JobFilter,
    },
    /// Every running schedule.
    ActiveSchedules,
    /// One schedule.
    Schedule(ScheduleId),
    /// One page of finished jobs.
    Finished(FinishedQuery),
    /// One page of a parent's children.
    Children {
        /// The parent.
        parent: JobId,
        /// The page starts after this child.
        after: Option<JobId>,
        /// Page size.
        limit: u32,
    },
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheKey::Active { limit, offset, .. } => {
                write!(f, "active jobs (limit {limit}, offset {offset})")
            }
            CacheKey::ActiveSchedules => f.write_str("active schedules"),
            CacheKey::Schedule(id) => write!(f, "schedule {id}"),
            CacheKey::Finished(query) => write!(f, "finished jobs since {}", query.since),
            CacheKey::Children { parent, .. } => write!(f, "children of {parent}"),
        }
    }
}

type SharedLoad = Shared<BoxFuture<'static, Arc<Rendered>>>;

/// The hasher of cache keys: foldhash, several times faster than the
/// standard SipHash on a key of a few dozen bytes, and seeded at random
/// per process, since the ids in the keys are chosen by clients.
type KeyHasher = foldhash::fast::RandomState;

/// A load and when it began (its answer's age).
#[derive(Clone)]
struct Entry {
    began: Instant,
    load: SharedLoad,
}

impl Entry {
    /// Whether the entry still answers at `now`: younger than `period`,
    /// or than `fallback_period` once its load has answered from the
    /// fallback (see [`ResponseCache::fallback_period`]).
    fn fresh(&self, now: Instant, period: Duration, fallback_period: Duration) -> bool {
        let age = now.saturating_duration_since(self.began);
        match self.load.peek() {
            Some(rendered) if rendered.is_fallback() => age < fallback_period,
            _ => age < period,
        }
    }
}

/// Loads by key: `quick_cache`, a sharded map with a capacity bound and
/// an atomic "read, or hold the key while I insert" (`entry`). Its hit is
/// one read lock and a hash lookup; moka, before it, recorded every read
/// for its eviction policy and ran housekeeping on the request's task,
/// and its inserts cost about a tenth of a cache load (BENCHMARKS.md).
/// Expiry is the entry's own age, checked where it is read; expired
/// entries are swept out at most once a period, on a blocking thread (see
/// [`Map::sweep_if_due`]).
struct Map<K> {
    entries: quick_cache::sync::Cache<K, Entry, quick_cache::UnitWeighter, KeyHasher>,
    /// When the last sweep ran.
    swept: std::sync::Mutex<Instant>,
}

impl<K: Hash + Eq + Clone> Map<K> {
    fn new(capacity: u64) -> Self {
        let capacity = usize::try_from(capacity.max(1)).unwrap_or(usize::MAX);
        Self {
            entries: quick_cache::sync::Cache::with(
                capacity,
                capacity as u64,
                quick_cache::UnitWeighter,
                KeyHasher::default(),
                Default::default(),
            ),
            swept: std::sync::Mutex::new(Instant::now()),
        }
    }

    /// Whether a period has passed since the last sweep; if so, the sweep
    /// is now this caller's to run.
    fn sweep_due(&self, now: Instant, period: Duration) -> bool {
        let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
        if now.saturating_duration_since(*swept) < period {
            return false;
        }
        *swept = now;
        true
    }

    /// Drops the entries that no longer answer at `now`: a flood of
    /// one-off keys (unknown ids) would otherwise hold their answers until
    /// the capacity pushed them out.
    fn sweep(&self, now: Instant, period: Duration, fallback_period: Duration) {
        self.entries
            .retain(|_, entry| entry.fresh(now, period, fallback_period));
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Map<K> {
    /// [`sweep`](Self::sweep)s on a blocking thread if one is due: after a
    /// flood of unknown ids it drops some 30,000 entries, which held the
    /// request that ran it, and every request behind it on that worker,
    /// for tens of milliseconds (BENCHMARKS.md).
    fn sweep_if_due(self: &Arc<Self>, now: Instant, period: Duration, fallback_period: Duration) {
        if self.sweep_due(now, period) {
            let map = Arc::clone(self);
            drop(tokio::task::spawn_blocking(move || {
                map.sweep(now, period, fallback_period);
            }));
        }
    }
}

/// A response and whether it came out of the cache.
#[derive(Debug, Clone)]
pub struct Served {
    /// The response.
    pub response: Arc<Rendered>,
    /// `true` when another request's load answered this one.
    pub from_cache: bool,
}

impl Served {
    /// Where the answer's data came from, as `X-Progress-Source` says:
    /// the cache when another request's load answered, else the store the
    /// load read (`None` for an answer without progress data).
    pub fn source(&self) -> Option<Source> {
        let source = self.response.source?;
        Some(if self.from_cache {
            Source::Cache
        } else {
            source
        })
    }
}

/// The cache itself; cloning shares it.
#[derive(Clone)]
pub struct ResponseCache {
    /// `None` when caching is switched off (a period of zero).
    loads: Option<Arc<Map<CacheKey>>>,
    /// One job's progress, the most read answer, by its id: a hit is
    /// looked up by the path's text, without parsing or copying it.
    jobs: Option<Arc<Map<JobId>>>,
    /// How long an answer is kept.
    period: Duration,
    /// How long a fallback answer (from PostgreSQL, or a 5xx) is kept: at
    /// most [`FALLBACK_PERIOD`], so live data is served again soon after
    /// Redis returns.
    fallback_period: Duration,
    /// Counts hits and misses.
    metrics: Option<ServerMetrics>,
}

/// The longest a fallback answer is cached: about one breaker probe
/// interval, so once Redis answers again, pollers see it within about half a
/// second rather than a whole cache period later.
pub const FALLBACK_PERIOD: Duration = Duration::from_millis(250);

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.loads.as_ref().map(|c| c.entries.len()))
            .field("jobs", &self.jobs.as_ref().map(|c| c.entries.len()))
            .finish()
    }
}

impl ResponseCache {
    /// A cache keeping each response for `period`, holding at most
    /// `capacity` responses in all: a quarter of them for lists and
    /// schedules, the rest for single jobs, whose map is the one a flood
    /// of ids fills. A zero period disables it.
    pub fn new(period: Duration, capacity: u64) -> Self {
        fn loads<K: Hash + Eq + Clone>(period: Duration, capacity: u64) -> Option<Arc<Map<K>>> {
            (!period.is_zero()).then(|| Arc::new(Map::new(capacity)))
        }
        Self {
            loads: loads(period, capacity / 4),
            jobs: loads(period, capacity - capacity / 4),
            period,
            fallback_period: period.min(FALLBACK_PERIOD),
            metrics: None,
        }
    }

    /// The same cache, counting its hits and misses in `metrics` (with
    /// the cache off, every lookup is a miss).
    pub fn observed_by(mut self, metrics: ServerMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn count(&self, hit: bool) {
        if let Some(metrics) = &self.metrics {
            metrics.cache_lookup(hit);
        }
    }

    /// How long an answer is kept: the most a read through the cache can
    /// lag behind the stores.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The cached response for `key`, or the result of the load `start`
    /// makes, run once for all concurrent callers in a task of its own (in
    /// a span naming `key` and `request_id`). `start` is only called on a
    /// miss, so a hit builds no load.
    pub async fn get_or_load<S, F>(&self, key: CacheKey, request_id: &str, start: S) -> Served
    where
        S: FnOnce() -> F,
        F: Future<Output = Rendered> + Send + 'static,
    {
        let span = |key: &CacheKey| tracing::info_span!("load", key = %key, request_id);
        self.load_in(self.loads.as_ref(), key, span, start, true)
            .await
    }

    /// One job's cached progress, if the cache holds it: `id` is the
    /// path's text, unparsed (a text that is no valid id is never in it).
    /// A miss is not counted: [`get_or_load_job`](Self::get_or_load_job)
    /// follows and counts it.
    pub async fn hit(&self, id: &str) -> Option<Served> {
        self.cached(self.jobs.as_ref()?, id).await
    }

    /// The answer `loads` holds for `key`, counted as a hit.
    async fn cached<K, Q>(&self, loads: &Map<K>, key: &Q) -> Option<Served>
    where
        K: Hash + Eq + Clone + std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entry = loads.entries.get(key)?;
        if !entry.fresh(Instant::now(), self.period, self.fallback_period) {
            return None;
        }
        self.count(true);
        Some(Served {
            response: entry.load.await,
            from_cache: true,
        })
    }

    /// [`get_or_load`](Self::get_or_load) for one job's progress.
    pub async fn get_or_load_job<S, F>(&self, id: JobId, request_id: &str, start: S) -> Served
    where
        S: FnOnce() -> F,
        F: Future<Output = Rendered> + Send + 'static,
    {
        // A debug span, off at the default level: a job's load waits on
        // its batch's read, which runs (and logs) in a task of its own for
        // every job of the batch, so the span named nothing a warning
        // needed, and making it cost a tenth of the load (BENCHMARKS.md).
        let span = |id: &JobId| tracing::debug_span!("load", key = %id, request_id);
        self.load_in(self.jobs.as_ref(), id, span, start, false)
            .await
    }

    /// The answer `loads` holds for `key`, or the one `start`'s load gives,
    /// shared with every request for `key` in the period: run in a task of
    /// its own if `own_task`, else by its waiters.
    async fn load_in<K, S, F>(
        &self,
        loads: Option<&Arc<Map<K>>>,
        key: K,
        span: impl FnOnce(&K) -> tracing::Span,
        start: S,
        own_task: bool,
    ) -> Served
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        S: FnOnce() -> F,
        F: Future<Output = Rendered> + Send + 'static,
    {
        use quick_cache::sync::{EntryAction, EntryResult};

        let Some(loads) = loads else {
            self.count(false);
            return Served {
                response: Arc::new(start().instrument(span(&key)).await),
                from_cache: false,
            };
        };
        let (period, fallback_period) = (self.period, self.fallback_period);
        let now = Instant::now();
        // Atomically: the entry that still answers, or the key held for
        // this caller alone while it inserts a new load (other callers of
        // the same key wait for that insert, made at once, not for the
        // load).
        let found = loads.entries.entry(&key, None, |_, entry| {
            if entry.fresh(now, period, fallback_period) {
                EntryAction::Retain(entry.load.clone())
            } else {
                EntryAction::ReplaceWithGuard
            }
        });
        let guard = match found {
            EntryResult::Retained(load) => {
                self.count(true);
                return Served {
                    response: load.await,
                    from_cache: true,
                };
            }
            EntryResult::Vacant(guard) | EntryResult::Replaced(guard, _) => Some(guard),
            // Neither is asked for (no removal, no timeout): load uncached.
            EntryResult::Removed(..) | EntryResult::Timeout => None,
        };
        self.count(false);
        let load = start().instrument(span(&key));
        let load = if own_task {
            spawn_shared(load)
        } else {
            shared(load)
        };
        if let Some(guard) = guard {
            let _ = guard.insert(Entry {
                began: now,
                load: load.clone(),
            });
        }
        loads.sweep_if_due(now, period, fallback_period);
        Served {
            response: load.await,
            from_cache: false,
        }
    }
}

/// Starts `load` in its own task and returns a future any number of
/// waiters can share.
fn spawn_shared<F>(load: F) -> SharedLoad
where
    F: Future<Output = Rendered> + Send + 'static,
{
    let task = tokio::spawn(load);
    async move {
        match task.await {
            Ok(rendered) => Arc::new(rendered),
            Err(err) => failed(&err),
        }
    }
    .boxed()
    .shared()
}

/// `load` as a future any number of waiters can share, run by whichever
/// polls it; a panic inside it is caught and answered as
/// [`spawn_shared`]'s task would answer it.
fn shared<F>(load: F) -> SharedLoad
where
    F: Future<Output = Rendered> + Send + 'static,
{
    // Unwind-safe enough: a load that panicked is never polled again.
    AssertUnwindSafe(load)
        .catch_unwind()
        .map(|answer| match answer {
            Ok(rendered) => Arc::new(rendered),
            Err(_) => failed(&"a panic"),
        })
        .boxed()
        .shared()
}

/// A load that panicked: logged, answered with a bare 500.
fn failed(err: &dyn std::fmt::Display) -> Arc<Rendered> {
    tracing::error!(error = %err, "a read failed unexpectedly");
    Arc::new(Rendered::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error",
    ))
}

#[cfg(test)]
mod tests;
