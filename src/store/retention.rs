//! Retention: the checkpoints of finished jobs, and webhook attempts and
//! deliveries, are deleted once they are older than `RETENTION_DAYS`, so
//! the archive stops growing for ever.
//!
//! A pass deletes in small batches ([`Retention::batch`] rows, 1,000 by
//! default) through [`Archive::delete_finished`], so no statement holds
//! its locks for long; each archive picks its rows through a partial index
//! of its own (PostgreSQL also skips rows another transaction holds).
//! Active jobs are never deleted, however old. This file is the schedule
//! and the loop, the same for every archive, so startup can run retention
//! on whichever archive it built.

use std::{sync::Arc, time::Duration};

use super::{Archive, Outbox, StoreError};
use crate::error::error_chain;

/// What to delete, and how gently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// A finished job's checkpoint is deleted once it has not been written
    /// for this long.
    pub keep: Duration,
    /// Rows per delete statement. Default 1,000: a few milliseconds of
    /// work, with its locks held only that long.
    pub batch: u32,
    /// The pause between two statements of one pass, so a large backlog
    /// (the first pass after an upgrade) leaves room for checkpoints.
    /// Default 20 ms.
    pub pause: Duration,
    /// Time between passes. Default 1 h: a finished checkpoint then lives
    /// at most an hour past `keep`.
    pub every: Duration,
}

impl Retention {
    /// Keeps finished checkpoints for `keep`, with the default batch, pause
    /// and period.
    pub fn keeping(keep: Duration) -> Self {
        Self {
            keep,
            batch: 1_000,
            pause: Duration::from_millis(20),
            every: Duration::from_secs(3600),
        }
    }

    /// One pass over `archive`: deletes batch after batch until a batch
    /// comes back short. Returns how many checkpoints it deleted.
    pub async fn prune(&self, archive: &dyn Archive) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            let n = archive.delete_finished(self.keep, self.batch).await?;
            deleted += n;
            if n < u64::from(self.batch) {
                return Ok(deleted);
            }
            tokio::time::sleep(self.pause).await;
        }
    }

    /// One pass over the webhook outbox: attempts, finished deliveries and
    /// routed events older than [`Self::keep`], batch after batch until
    /// a batch comes back short. Returns how many rows it deleted.
    pub async fn prune_outbox(&self, outbox: &dyn Outbox) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            let n = outbox.prune(self.keep, self.batch).await?;
            deleted += n;
            // Three deletes of at most a batch each: short when all were.
            if n < u64::from(self.batch) {
                return Ok(deleted);
            }
            tokio::time::sleep(self.pause).await;
        }
    }

    /// Prunes `archive` (and the webhook `outbox` on it) now and then
    /// every [`Self::every`], for as long as the runtime lives. A failed
    /// pass is logged and tried again at the next.
    pub fn spawn(
        self,
        archive: Arc<dyn Archive>,
        outbox: Arc<dyn Outbox>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match self.prune(archive.as_ref()).await {
                    Ok(0) => tracing::debug!("retention: nothing to delete"),
                    Ok(deleted) => {
                        tracing::info!(deleted, "retention: old finished checkpoints deleted");
                    }
                    Err(err) => {
                        tracing::warn!(error = %error_chain(&err), "retention pass failed; trying again later");
                    }
                }
                match self.prune_outbox(outbox.as_ref()).await {
                    Ok(0) => {}
                    Ok(deleted) => {
                        tracing::info!(deleted, "retention: old webhook attempts deleted")
                    }
                    Err(err) => {
                        tracing::warn!(error = %error_chain(&err), "webhook retention pass failed; trying again later");
                    }
                }
            }
        })
    }
}
