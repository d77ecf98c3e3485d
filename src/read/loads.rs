//! One job's load, batched: the hot store's records of every job missing
//! from the cache at the same moment in one round trip, then the archive's
//! checkpoints of those it does not hold in one query (`batch.rs`).
//!
//! What a load decides is what it decided alone: a record from the hot
//! store; else the checkpoint; else 404, or 502 when the hot store's
//! value was unreadable and no checkpoint stands in for it; 503 when the
//! archive cannot answer. A store failing a whole batch is logged once for
//! the batch, not once per job.

use std::{sync::Arc, time::Duration};

use futures_util::FutureExt as _;

use super::{ReadError, batch::Batcher, error::warn_fallback};
use crate::{
    domain::{JobId, ProgressRecord, Source},
    store::{Archive, HotStore, ReadOne, StoreError},
};

/// The most jobs one batch reads: one `MGET` of the hot store's usual
/// size (`MGET_BATCH`, 250), whose answer (about 100 KB) keeps Redis busy
/// well under a millisecond.
pub const MAX_BATCH: usize = 250;

/// At most one archive read of one instance begins in each such window:
/// a flood of unknown ids costs PostgreSQL at most 1,000 queries a
/// second, however many ids it holds; each one's 404 is then cached like
/// any answer.
pub const ARCHIVE_WINDOW: Duration = Duration::from_millis(1);

/// How many archive reads may be in flight at once, each begun in a later
/// `ARCHIVE_WINDOW` than the one before: a query's round trip does not
/// hold the next one back, and four of the pool's connections
/// (`DB_MAX_CONNECTIONS`, 10 by default) are the most a flood takes.
pub const ARCHIVE_FLIGHTS: usize = 4;

/// How many hot-store reads may be in flight at once: the next batch
/// goes out while the one before is on its way back.
pub const HOT_FLIGHTS: usize = 2;

/// What a batched read found of one job.
#[derive(Debug)]
enum Found {
    /// Boxed: a record is about 700 bytes, the other answers none.
    Record(Box<ProgressRecord>),
    Missing,
    /// A value that does not parse (logged where it was read).
    Unreadable,
    /// The store did not answer (logged once per batch).
    Failed,
}

/// The two batchers of one reader.
#[derive(Debug, Clone)]
pub(super) struct JobLoads {
    hot: Arc<Batcher<JobId, Found>>,
    archive: Arc<Batcher<JobId, Found>>,
}

impl JobLoads {
    /// Loads reading `hot`, then `archive`.
    pub(super) fn new(hot: Arc<dyn HotStore>, archive: Arc<dyn Archive>) -> Self {
        let hot = Batcher::new(
            Duration::ZERO,
            HOT_FLIGHTS,
            MAX_BATCH,
            Box::new(move |ids: Vec<JobId>| {
                let hot = Arc::clone(&hot);
                async move { each_found(hot.read_each(&ids).await, ids.len(), true) }.boxed()
            }),
        );
        let archive = Batcher::new(
            ARCHIVE_WINDOW,
            ARCHIVE_FLIGHTS,
            MAX_BATCH,
            Box::new(move |ids: Vec<JobId>| {
                let archive = Arc::clone(&archive);
                async move { each_found(archive.read_many(&ids).await, ids.len(), false) }.boxed()
            }),
        );
        Self { hot, archive }
    }

    /// The job's record and which store gave it, or why there is none.
    pub(super) async fn job(&self, id: JobId) -> Result<(ProgressRecord, Source), ReadError> {
        let unreadable = match self.hot.load(id.clone()).await {
            Some(Found::Record(record)) => return Ok((*record, Source::Hot)),
            Some(Found::Unreadable) => true,
            Some(Found::Missing | Found::Failed) | None => false,
        };
        match self.archive.load(id.clone()).await {
            Some(Found::Record(record)) => Ok((*record, Source::Archive)),
            Some(Found::Missing) if unreadable => Err(ReadError::Unreadable(id)),
            Some(Found::Missing) => Err(ReadError::JobNotFound(id)),
            Some(Found::Unreadable | Found::Failed) | None => Err(ReadError::Unavailable),
        }
    }
}

/// A batch's answers as [`Found`]s, one per job of the `n` asked, logging
/// what did not read: a store failing the whole batch once, an unreadable
/// value once per job.
fn each_found(read: Result<Vec<ReadOne>, StoreError>, n: usize, hot: bool) -> Vec<Found> {
    match read {
        Ok(each) => each
            .into_iter()
            .map(|one| match one {
                Ok(Some(record)) => Found::Record(Box::new(record)),
                Ok(None) => Found::Missing,
                Err(err) => failed(&err, hot),
            })
            .collect(),
        Err(err) => {
            failed(&err, hot);
            (0..n).map(|_| Found::Failed).collect()
        }
    }
}

/// Logs what `err` means for the answer: a hot store's unreadable value or
/// failure is answered from the archive, an archive's is a 503.
fn failed(err: &StoreError, hot: bool) -> Found {
    if hot {
        warn_fallback("hot store read", err);
        if matches!(err, StoreError::Corrupt { .. }) {
            return Found::Unreadable;
        }
    } else {
        let _ = ReadError::unavailable("archive read", err);
    }
    Found::Failed
}
