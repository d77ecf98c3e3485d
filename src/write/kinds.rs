//! [`Kinds`]: each kind's history of finished runs, for the jobs of the
//! kind that start, and the runs that finish added to it.
//!
//! A job that declares a `kind` leans on the kind's earlier runs
//! ([`eta`](super::eta): a prior for a job with a total, the step times for
//! a staged one). The history is read when the job starts, never per
//! report, and through a cache per kind: a burst of a thousand jobs of one
//! kind reads it once.
//!
//! - **One load per kind.** The cache keeps a kind's history for
//!   [`KIND_TTL`]; concurrent starts of one kind share one load
//!   (`try_get_with`). A failed load is not cached: the next start tries
//!   again (through the archive's breaker, so an archive that is down
//!   answers at once).
//! - **Never holding a start up for long.** A start waits at most
//!   [`HISTORY_WAIT`] for the load, which runs in a task of its own: when
//!   it is slower, the job goes on without its kind's help and the load,
//!   still running, fills the cache for the kind's next jobs.
//! - **Only completed runs count.** A failed or cancelled run stopped
//!   before its end: its duration says how long it took to fail, not how
//!   long the work takes. A completed run is added once (the archive keys
//!   it by kind, job and attempt), and this process's cache of its kind is
//!   dropped, so the kind's next job here sees it at once; other API
//!   instances see it within [`KIND_TTL`].

use std::{sync::Arc, time::Duration};

use moka::future::Cache;

use super::eta::{HISTORY_LEN, KindHistory, RunSummary};
use crate::{
    domain::JobKind,
    error::error_chain,
    store::{Archive, KIND_RUNS_KEPT, KindRun, StoreError},
};

/// How long a kind's history is reused before it is read again: a minute
/// is nothing to a history of 50 runs that each took minutes or hours,
/// and bounds how long another instance's new runs go unseen.
pub const KIND_TTL: Duration = Duration::from_secs(60);

/// The longest a job's start waits for its kind's history. A healthy
/// archive answers in a few milliseconds (one index range scan of at most
/// 50 rows); 200 ms is still short beside the round trip of a declaration,
/// and a job that starts without its history only estimates as it would
/// have without a kind.
pub const HISTORY_WAIT: Duration = Duration::from_millis(200);

/// Kinds whose history is kept in memory at most. A history is at most
/// about 25 KB (50 runs of about 350 bytes); 1,000 kinds stay below 25 MB,
/// and a service with more kinds than that reads the rarer ones again.
const KINDS_CACHED: u64 = 1_000;

// The archive keeps as many runs as the estimator's history holds.
const _: () = assert!(KIND_RUNS_KEPT as usize == HISTORY_LEN);

/// Each kind's history, read from the archive at most once per
/// [`KIND_TTL`]. Cheap to clone (the cache is shared).
#[derive(Clone)]
pub(crate) struct Kinds {
    archive: Arc<dyn Archive>,
    cache: Cache<JobKind, Arc<KindHistory>>,
}

impl std::fmt::Debug for Kinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kinds")
            .field("cached", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl Kinds {
    /// Histories read from `archive`.
    pub(crate) fn new(archive: Arc<dyn Archive>) -> Self {
        Self {
            archive,
            cache: Cache::builder()
                .max_capacity(KINDS_CACHED)
                .time_to_live(KIND_TTL)
                .build(),
        }
    }

    /// The kind's history, from the cache or the archive; `None` (logged)
    /// when the archive fails or takes longer than [`HISTORY_WAIT`]. Must
    /// be called inside a Tokio runtime.
    pub(crate) async fn history(&self, kind: &JobKind) -> Option<Arc<KindHistory>> {
        if let Some(history) = self.cache.get(kind).await {
            return Some(history);
        }
        let (cache, archive, key) = (self.cache.clone(), Arc::clone(&self.archive), kind.clone());
        // A task of its own, so a load that outlasts the wait is not
        // dropped with it: it finishes and fills the cache.
        let load = tokio::spawn(async move {
            cache
                .try_get_with(key.clone(), async move {
                    let summaries = archive.kind_history(&key).await?;
                    Ok::<_, StoreError>(Arc::new(parse(&key, &summaries)))
                })
                .await
        });
        match tokio::time::timeout(HISTORY_WAIT, load).await {
            Ok(Ok(Ok(history))) => Some(history),
            Ok(Ok(Err(err))) => {
                tracing::warn!(kind = %kind, error = %error_chain(err.as_ref()), "cannot read the kind's history; the job starts without it");
                None
            }
            Ok(Err(err)) => {
                tracing::warn!(kind = %kind, error = %err, "the kind's history load stopped; the job starts without it");
                None
            }
            Err(_) => {
                tracing::info!(kind = %kind, wait_ms = HISTORY_WAIT.as_millis(), "the kind's history is slow to read; the job starts without it");
                None
            }
        }
    }

    /// Adds a completed run to its kind's history in the archive, and
    /// drops the kind's cached history so the next job of the kind here
    /// reads it with this run.
    pub(crate) async fn record(&self, kind: &JobKind, run: &KindRun) -> Result<(), StoreError> {
        self.archive.record_run(kind, run).await?;
        self.cache.invalidate(kind).await;
        Ok(())
    }

    /// [`record`](Self::record), logging rather than returning a failure:
    /// a run that misses its kind's history costs the kind's next jobs a
    /// little of their estimate, never this job its answer.
    pub(crate) async fn record_or_log(&self, kind: &JobKind, run: &KindRun) {
        if let Err(err) = self.record(kind, run).await {
            tracing::warn!(kind = %kind, job_id = %run.job_id, error = %error_chain(&err), "the finished run could not be added to its kind's history");
        }
    }
}

/// The history of the archive's `summaries`, oldest first; one that cannot
/// be read (written by a later version, say) is left out.
fn parse(kind: &JobKind, summaries: &[String]) -> KindHistory {
    KindHistory::of(summaries.iter().filter_map(|json| {
        serde_json::from_str::<RunSummary>(json)
            .inspect_err(|err| tracing::warn!(kind = %kind, error = %err, "an unreadable run in the kind's history is left out"))
            .ok()
    }))
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use async_trait::async_trait;

    use super::{HISTORY_WAIT, Kinds};
    use crate::{
        domain::{
            FinishedPage, FinishedQuery, JobFilter, JobId, JobKind, JobTail, ProgressRecord,
            Schedule, ScheduleId,
        },
        store::{Archive, KindRun, SqliteArchive, StoreError, WriteOutcome},
        write::eta::{RunSummary, StepTime},
    };

    /// A SQLite archive whose history reads take `delay` longer.
    struct Slow {
        inner: SqliteArchive,
        delay: Duration,
    }

    #[async_trait]
    impl Archive for Slow {
        async fn checkpoint_many(
            &self,
            records: &[ProgressRecord],
        ) -> Result<Vec<WriteOutcome>, StoreError> {
            self.inner.checkpoint_many(records).await
        }
        async fn read(&self, id: &JobId) -> Result<Option<ProgressRecord>, StoreError> {
            self.inner.read(id).await
        }
        async fn active(
            &self,
            filter: &JobFilter,
            limit: u32,
            offset: u64,
        ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
            self.inner.active(filter, limit, offset).await
        }
        async fn finished(&self, query: &FinishedQuery) -> Result<FinishedPage, StoreError> {
            self.inner.finished(query).await
        }
        async fn delete_finished(&self, keep: Duration, batch: u32) -> Result<u64, StoreError> {
            self.inner.delete_finished(keep, batch).await
        }
        async fn children(
            &self,
            parent: &JobId,
            after: Option<&JobId>,
            limit: u32,
        ) -> Result<Vec<ProgressRecord>, StoreError> {
            self.inner.children(parent, after, limit).await
        }
        async fn keep_tail(&self, id: &JobId, tail: &JobTail) -> Result<(), StoreError> {
            self.inner.keep_tail(id, tail).await
        }
        async fn tail(&self, id: &JobId) -> Result<Option<JobTail>, StoreError> {
            self.inner.tail(id).await
        }
        async fn record_run(&self, kind: &JobKind, run: &KindRun) -> Result<(), StoreError> {
            self.inner.record_run(kind, run).await
        }
        async fn kind_history(&self, kind: &JobKind) -> Result<Vec<String>, StoreError> {
            tokio::time::sleep(self.delay).await;
            self.inner.kind_history(kind).await
        }
        async fn active_schedules(&self) -> Result<Vec<Schedule>, StoreError> {
            self.inner.active_schedules().await
        }
        async fn schedule(&self, id: &ScheduleId) -> Result<Option<Schedule>, StoreError> {
            self.inner.schedule(id).await
        }
        async fn ping(&self) -> Result<(), StoreError> {
            self.inner.ping().await
        }
        fn name(&self) -> &'static str {
            "slow"
        }
    }

    #[tokio::test]
    async fn a_slow_history_holds_no_start_up_and_still_fills_the_cache() {
        let folder = tempfile::tempdir().unwrap();
        let inner =
            SqliteArchive::open(&folder.path().join("a.db"), Duration::from_secs(5)).unwrap();
        inner.migrate().await.unwrap();
        let delay = HISTORY_WAIT * 3;
        let kinds = Kinds::new(Arc::new(Slow { inner, delay }));
        let kind = JobKind::parse("render").unwrap();
        let step = StepTime {
            name: "draw".to_owned(),
            ms: 1000,
        };
        let summary = RunSummary::staged(1000, vec![step]);
        let run = KindRun {
            job_id: JobId::parse("r").unwrap(),
            attempt: 1,
            summary: serde_json::to_string(&summary).unwrap(),
        };
        kinds.record(&kind, &run).await.unwrap();

        let asked = tokio::time::Instant::now();
        assert!(kinds.history(&kind).await.is_none(), "too slow: none");
        assert!(
            asked.elapsed() < delay,
            "the start waited {:?}",
            asked.elapsed()
        );
        // The load goes on and fills the cache: a later start has it at once.
        let mut history = None;
        while history.is_none() && asked.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(HISTORY_WAIT).await;
            history = kinds.cache.get(&kind).await;
        }
        let history = history.expect("the load finished in the background");
        assert_eq!(history.len(), 1);
        assert_eq!(kinds.history(&kind).await.map(|h| h.len()), Some(1));
    }
}
