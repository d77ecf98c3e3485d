//! The read path: HTTP -> [cache] -> Redis -> PostgreSQL -> envelope.
//!
//! [`ProgressReader`] answers the three progress reads. Each answer is
//! rendered once (status, envelope bytes, ETag) and cached for the cache
//! period, so a thousand pollers of one job cost one Redis read a second.
//! Redis is asked first; when it does not know the job, fails or times out,
//! the PostgreSQL checkpoint answers. Only when neither can answer is the
//! client told to come back (503).

pub mod cache;
pub mod envelope;

use std::sync::Arc;

use actix_web::http::StatusCode;
use chrono::Utc;

use self::{
    cache::{CacheKey, ResponseCache, Served},
    envelope::{Rendered, Source},
};
use crate::{
    domain::{JobId, ProgressRecord, ScheduleId, ScheduleProgress, StallPolicy},
    error::error_chain,
    store::{Archive, HotStore, StoreError},
};

/// The message of every 503: what happened, in the user's terms, and what
/// to do. The cause goes to the log only.
pub const UNAVAILABLE: &str = "progress data is temporarily unavailable; retry in a few seconds";

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
    /// Redis answers.
    pub redis: bool,
    /// PostgreSQL answers.
    pub postgres: bool,
}

impl Readiness {
    /// Ready while at least one store can serve.
    pub fn ready(&self) -> bool {
        self.redis || self.postgres
    }
}

/// Serves progress reads.
#[derive(Clone)]
pub struct ProgressReader {
    hot: Arc<dyn HotStore>,
    archive: Arc<dyn Archive>,
    cache: ResponseCache,
    stall: StallPolicy,
}

impl std::fmt::Debug for ProgressReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressReader")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

fn log_store_error(what: &str, err: &StoreError) {
    tracing::warn!(error = %error_chain(err), "{what}");
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
            hot,
            archive,
            cache,
            stall,
        }
    }

    /// What a load needs; taken only when a load is started, so a cache
    /// hit clones nothing.
    fn parts(&self) -> (Arc<dyn HotStore>, Arc<dyn Archive>, StallPolicy) {
        (Arc::clone(&self.hot), Arc::clone(&self.archive), self.stall)
    }

    /// One job's progress: Redis, else the checkpoint, else 404.
    pub async fn job(&self, id: JobId) -> Served {
        self.cache
            .get_or_load(CacheKey::Job(id.clone()), move || {
                let (hot, archive, stall) = self.parts();
                async move {
                let now = Utc::now();
                let mut unreadable = false;
                match hot.read(&id).await {
                    Ok(Some(record)) => {
                        return Rendered::ok(&record.with_stall_check(now, &stall), Source::Redis);
                    }
                    Ok(None) => {}
                    Err(err) => {
                        unreadable = matches!(err, StoreError::Corrupt { .. });
                        log_store_error("redis read failed; falling back to postgres", &err);
                    }
                }
                match archive.read(&id).await {
                    Ok(Some(record)) => {
                        Rendered::ok(&record.with_stall_check(now, &stall), Source::Database)
                    }
                    Ok(None) if unreadable => Rendered::error(
                        StatusCode::BAD_GATEWAY,
                        &format!(
                            "the progress stored for job '{id}' is not in a format this service can read, and there is no checkpoint to fall back on"
                        ),
                    ),
                    Ok(None) => Rendered::error(
                        StatusCode::NOT_FOUND,
                        &format!(
                            "job '{id}' is unknown, or its progress has expired (completed jobs are kept for a limited time)"
                        ),
                    ),
                    Err(err) => {
                        log_store_error("postgres read failed", &err);
                        // Without the archive nobody can tell "unknown"
                        // from "expired": not a 404.
                        Rendered::error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)
                    }
                }
            }})
            .await
    }

    /// The active jobs, oldest start first: from Redis, or from the
    /// checkpoints when Redis cannot answer.
    pub async fn active(&self, page: Page) -> Served {
        let key = CacheKey::Active {
            limit: page.limit,
            offset: page.offset,
        };
        self.cache
            .get_or_load(key, move || {
                let (hot, archive, stall) = self.parts();
                async move {
                    let now = Utc::now();
                    match hot.active(page.limit, page.offset).await {
                        Ok((records, total)) => {
                            let records = mark_stalled(records, now, &stall);
                            with_total(Rendered::ok(&records, Source::Redis), total)
                        }
                        Err(err) => {
                            log_store_error(
                                "redis active list failed; falling back to postgres",
                                &err,
                            );
                            match archive.active(page.limit, page.offset).await {
                                Ok((records, total)) => {
                                    let records = mark_stalled(records, now, &stall);
                                    with_total(Rendered::ok(&records, Source::Database), total)
                                }
                                Err(err) => {
                                    log_store_error("postgres active list failed", &err);
                                    Rendered::error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)
                                }
                            }
                        }
                    }
                }
            })
            .await
    }

    /// Every schedule that has started and not ended, with live counts.
    pub async fn active_schedules(&self) -> Served {
        self.cache
            .get_or_load(CacheKey::ActiveSchedules, move || {
                let (hot, archive, stall) = self.parts();
                async move {
                    let schedules = match archive.active_schedules().await {
                        Ok(schedules) => schedules,
                        Err(err) => {
                            log_store_error("postgres schedule list failed", &err);
                            return Rendered::error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
                        }
                    };
                    let (items, source) = join_live(&*hot, schedules, &stall).await;
                    with_total(Rendered::ok(&items, source), items.len() as u64)
                }
            })
            .await
    }

    /// One schedule with its job's progress.
    pub async fn schedule(&self, id: ScheduleId) -> Served {
        self.cache
            .get_or_load(CacheKey::Schedule(id.clone()), move || {
                let (hot, archive, stall) = self.parts();
                async move {
                    match archive.schedule(&id).await {
                        Ok(Some(schedule)) => {
                            let (mut items, source) =
                                join_live(&*hot, vec![schedule], &stall).await;
                            match items.pop() {
                                Some(item) => Rendered::ok(&item, source),
                                None => Rendered::error(StatusCode::NOT_FOUND, "unknown schedule"),
                            }
                        }
                        Ok(None) => Rendered::error(
                            StatusCode::NOT_FOUND,
                            &format!("schedule '{id}' is unknown"),
                        ),
                        Err(err) => {
                            log_store_error("postgres schedule read failed", &err);
                            Rendered::error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)
                        }
                    }
                }
            })
            .await
    }

    /// Pings both stores at once (not cached).
    pub async fn readiness(&self) -> Readiness {
        let (redis, postgres) = tokio::join!(self.hot.ping(), self.archive.ping());
        Readiness {
            redis: redis.is_ok(),
            postgres: postgres.is_ok(),
        }
    }
}

fn mark_stalled(
    records: Vec<ProgressRecord>,
    now: chrono::DateTime<Utc>,
    stall: &StallPolicy,
) -> Vec<ProgressRecord> {
    records
        .into_iter()
        .map(|record| record.with_stall_check(now, stall))
        .collect()
}

fn with_total(mut rendered: Rendered, total: u64) -> Rendered {
    rendered.total_count = Some(total);
    rendered
}

/// Joins schedules with their jobs' live records from Redis; when Redis
/// cannot answer, every schedule keeps its checkpoint's counts.
async fn join_live(
    hot: &dyn HotStore,
    schedules: Vec<crate::domain::Schedule>,
    stall: &StallPolicy,
) -> (Vec<ScheduleProgress>, Source) {
    let now = Utc::now();
    let job_ids: Vec<JobId> = schedules.iter().filter_map(|s| s.job_id.clone()).collect();
    let (mut live, source) = if job_ids.is_empty() {
        (Vec::new(), Source::Redis)
    } else {
        match hot.read_many(&job_ids).await {
            Ok(records) => (records, Source::Redis),
            Err(err) => {
                log_store_error("redis read failed; schedules show their checkpoints", &err);
                (Vec::new(), Source::Database)
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
            item.progress = item.progress.map(|p| p.with_stall_check(now, stall));
            item
        })
        .collect();
    (items, source)
}
