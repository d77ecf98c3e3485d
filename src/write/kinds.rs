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
