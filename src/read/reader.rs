//! [`ProgressReader`]: the hot store first, the archive when it cannot
//! answer, each answer rendered once and cached.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures_util::{FutureExt as _, future::BoxFuture};

use super::{
    ReadError,
    cache::{CacheKey, ResponseCache, Served},
    envelope::Rendered,
    error::warn_fallback,
    loads::JobLoads,
};
use crate::{
    domain::{
        FinishedQuery, JobFilter, JobId, ProgressRecord, Schedule, ScheduleId, ScheduleProgress,
        Source, StallPolicy,
    },
    metrics::ServerMetrics,
    store::{Archive, HotStore},
};

/// One page of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// At most this many items.
    pub limit: u32,
    /// Skip this many first.
    pub offset: u64,
}

/// Which stores answer, for `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// The hot store answers.
    pub hot: bool,
    /// The archive answers.
    pub archive: bool,
    /// Which hot store it is ([`HotStore::name`]).
    pub hot_store: &'static str,
    /// Which archive it is ([`Archive::name`]).
    pub archive_store: &'static str,
}

impl Readiness {
    /// Ready while at least one store can serve.
    pub fn ready(&self) -> bool {
        self.hot || self.archive
    }
}

/// Serves progress reads.
#[derive(Clone)]
pub struct ProgressReader {
    pub(super) hot: Arc<dyn HotStore>,
    pub(super) archive: Arc<dyn Archive>,
    cache: ResponseCache,
    loads: JobLoads,
    stall: StallPolicy,
    metrics: Option<ServerMetrics>,
}

impl std::fmt::Debug for ProgressReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressReader")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// What a load needs; cloned only when a load starts, so a cache hit
/// clones nothing.
pub(super) struct Stores {
    pub(super) hot: Arc<dyn HotStore>,
    pub(super) archive: Arc<dyn Archive>,
    loads: JobLoads,
    pub(super) stall: StallPolicy,
    metrics: Option<ServerMetrics>,
}

/// A list's answer: its items, from where, and how many there are in all.
fn listed<T: serde::Serialize>(items: &T, source: Source, total: u64) -> Rendered {
    let mut rendered = Rendered::ok(items, source);
    rendered.total_count = Some(total);
    rendered
}

impl ProgressReader {
    /// A reader over the two stores with the given cache; records are
    /// marked stalled by `stall`.
    pub fn new(
        hot: Arc<dyn HotStore>,
        archive: Arc<dyn Archive>,
        cache: ResponseCache,
        stall: StallPolicy,
    ) -> Self {
        Self {
            loads: JobLoads::new(Arc::clone(&hot), Arc::clone(&archive)),
            hot,
            archive,
            cache,
            stall,
            metrics: None,
        }
    }

    /// The same reader, counting its answers by source, its cache's hits
    /// and misses, and the active jobs in `metrics`.
    pub fn observed_by(mut self, metrics: ServerMetrics) -> Self {
        self.cache = self.cache.observed_by(metrics.clone());
        self.metrics = Some(metrics);
        self
    }

    /// The cached answer for `key`, or the one `load` renders from the
    /// stores; a [`ReadError`] becomes its error envelope here, and only
    /// here. `request_id` names the request that started the load in its
    /// log lines.
    pub(super) async fn serve<L, F>(&self, key: CacheKey, request_id: &str, load: L) -> Served
    where
        L: FnOnce(Stores) -> F,
        F: Future<Output = Result<Rendered, ReadError>> + Send + 'static,
    {
        let served = self
            .cache
            .get_or_load(key, request_id, self.start(load))
            .await;
        self.counted(served)
    }

    /// What a load needs, handed to `load` on a miss only, and its
    /// [`ReadError`] rendered.
    fn start<L, F>(&self, load: L) -> impl FnOnce() -> BoxFuture<'static, Rendered>
    where
        L: FnOnce(Stores) -> F,
        F: Future<Output = Result<Rendered, ReadError>> + Send + 'static,
    {
        move || {
            let load = load(Stores {
                hot: Arc::clone(&self.hot),
                archive: Arc::clone(&self.archive),
                loads: self.loads.clone(),
                stall: self.stall,
                metrics: self.metrics.clone(),
            });
            async move { load.await.unwrap_or_else(Rendered::from) }.boxed()
        }
    }

    /// `served`, counted by where its data came from.
    fn counted(&self, served: Served) -> Served {
        if let (Some(metrics), Some(source)) = (&self.metrics, served.source()) {
            metrics.answer(source);
        }
        served
    }

    /// The most an answer can lag behind the stores (the cache period).
    pub fn staleness(&self) -> Duration {
        self.cache.period()
    }

    /// One job's progress if the cache holds it, looked up by the path's
    /// text (`raw`, not parsed: no text that fails to parse is cached).
    /// The hot route asks this first, so a hit parses, copies and
    /// allocates nothing; on `None` it parses the id and calls
    /// [`job`](Self::job).
    pub async fn cached_job(&self, raw: &str) -> Option<Served> {
        Some(self.counted(self.cache.hit(raw).await?))
    }

    /// One job's progress: the hot store, else the checkpoint, else 404;
    /// read with the other jobs' loads of the moment (`loads.rs`).
    pub async fn job(&self, id: JobId, request_id: &str) -> Served {
        let key = id.clone();
        let load = self.start(|stores| async move {
            let (record, source) = stores.loads.job(id).await?;
            Ok(Rendered::ok(
                &record.with_stall_check(Utc::now(), &stores.stall),
                source,
            ))
        });
        let served = self.cache.get_or_load_job(key, request_id, load).await;
        self.counted(served)
    }

    /// The active jobs, oldest start first: from the hot store, or from the
    /// checkpoints when it cannot answer.
    pub async fn active(&self, page: Page, request_id: &str) -> Served {
        self.active_filtered(page, JobFilter::default(), request_id)
            .await
    }

    /// The active jobs `filter` admits, as [`active`](Self::active) lists
    /// them; the total counts what it admits.
    pub async fn active_filtered(&self, page: Page, filter: JobFilter, request_id: &str) -> Served {
        let key = CacheKey::Active {
            limit: page.limit,
            offset: page.offset,
            filter: filter.clone(),
        };
        self.serve(key, request_id, move |stores| async move {
            let now = Utc::now();
            let listed_hot = stores.hot.active(&filter, page.limit, page.offset).await;
            let (records, total, source) = match listed_hot {
                Ok((records, total)) => (records, total, Source::Hot),
                Err(err) => {
                    warn_fallback("hot store active list", &err);
                    let (records, total) = stores
                        .archive
                        .active(&filter, page.limit, page.offset)
                        .await
                        .map_err(|err| ReadError::unavailable("archive active list", &err))?;
                    (records, total, Source::Archive)
                }
            };
            // The gauge counts the jobs the default list counts (every
            // active job without a parent), never a kind's or a search's
            // share: it moves with the list people look at, and the
            // unfiltered list (children too) counts another thing.
            if let Some(metrics) = &stores.metrics
                && filter.kind.is_none()
                && filter.q.is_none()
                && filter.top_level
            {
                metrics.active_jobs(total);
            }
            let records = if source == Source::Hot {
                super::rollups::with_rollups(&stores.hot, records, now).await
            } else {
                records
            };
            let records = mark_stalled(records, now, &stores.stall);
            Ok(listed(&records, source, total))
        })
        .await
    }

    /// A page of recently finished jobs, from the archive: the hot store
    /// forgets finished jobs (a completed one after an hour), the archive
    /// keeps each one's final checkpoint.
    pub async fn finished(&self, query: FinishedQuery, request_id: &str) -> Served {
        self.serve(
            CacheKey::Finished(query.clone()),
            request_id,
            |stores| async move {
                let page = stores
                    .archive
                    .finished(&query)
                    .await
                    .map_err(|err| ReadError::unavailable("archive finished list", &err))?;
                Ok(Rendered::ok(&page, Source::Archive))
            },
        )
        .await
    }

    /// Every schedule that has started and not ended, with live counts.
    pub async fn active_schedules(&self, request_id: &str) -> Served {
        self.serve(CacheKey::ActiveSchedules, request_id, |stores| async move {
            let schedules = stores
                .archive
                .active_schedules()
                .await
                .map_err(|err| ReadError::unavailable("archive schedule list", &err))?;
            let (items, source) = join_live(&stores, schedules).await;
            Ok(listed(&items, source, items.len() as u64))
        })
        .await
    }

    /// One schedule with its job's progress.
    pub async fn schedule(&self, id: ScheduleId, request_id: &str) -> Served {
        self.serve(
            CacheKey::Schedule(id.clone()),
            request_id,
            |stores| async move {
                let schedule = stores
                    .archive
                    .schedule(&id)
                    .await
                    .map_err(|err| ReadError::unavailable("archive schedule read", &err))?
                    .ok_or_else(|| ReadError::ScheduleNotFound(id.clone()))?;
                let (mut items, source) = join_live(&stores, vec![schedule]).await;
                let item = items.pop().ok_or(ReadError::ScheduleNotFound(id))?;
                Ok(Rendered::ok(&item, source))
            },
        )
        .await
    }

    /// Pings both stores at once (not cached).
    pub async fn readiness(&self) -> Readiness {
        let (hot, archive) = tokio::join!(self.hot.ping(), self.archive.ping());
        Readiness {
            hot: hot.is_ok(),
            archive: archive.is_ok(),
            hot_store: self.hot.name(),
            archive_store: self.archive.name(),
        }
    }
}

pub(super) fn mark_stalled(
    records: Vec<ProgressRecord>,
    now: DateTime<Utc>,
    stall: &StallPolicy,
) -> Vec<ProgressRecord> {
    records
        .into_iter()
        .map(|record| record.with_stall_check(now, stall))
        .collect()
}

/// Joins schedules with their jobs' live records from the hot store; when
/// it cannot answer, every schedule keeps its checkpoint's counts.
async fn join_live(stores: &Stores, schedules: Vec<Schedule>) -> (Vec<ScheduleProgress>, Source) {
    let now = Utc::now();
    let job_ids: Vec<JobId> = schedules.iter().filter_map(|s| s.job_id.clone()).collect();
    let (mut live, source) = if job_ids.is_empty() {
        (Vec::new(), Source::Hot)
    } else {
        match stores.hot.read_many(&job_ids).await {
            Ok(records) => (records, Source::Hot),
            Err(err) => {
                warn_fallback("hot store read of scheduled jobs", &err);
                (Vec::new(), Source::Archive)
            }
        }
    };
    live.resize(job_ids.len(), None);
    let mut live = live.into_iter();
    let items = schedules
        .into_iter()
        .map(|schedule| {
            let record = if schedule.job_id.is_some() {
                live.next().flatten()
            } else {
                None
            };
            let mut item = ScheduleProgress::from_parts(schedule, record);
            item.progress = item
                .progress
                .map(|p| p.with_stall_check(now, &stores.stall));
            item
        })
        .collect();
    (items, source)
}
