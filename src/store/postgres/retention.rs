//! Retention: the checkpoints of finished jobs are deleted once they are
//! older than `RETENTION_DAYS`, so `job_progress` stops growing for ever.
//!
//! Deletion goes in small statements ([`Retention::batch`] rows, 1,000 by
//! default), each picking its rows through the partial index of
//! `migrations/postgres/20261129000001_retention_index_named.sql` and skipping rows another
//! transaction holds (`FOR UPDATE SKIP LOCKED`): no statement holds its
//! locks for long, none waits behind a checkpoint being written, and
//! several API instances pruning at once share the work instead of queueing
//! on each other. Active jobs are never deleted, however old.

use std::time::Duration;

use chrono::Utc;

use super::{PgArchive, sql::statuses_sql};
use crate::{domain::JobStatus, error::error_chain, store::StoreError};

/// What to delete, and how gently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// A finished job's checkpoint is deleted once it has not been written
    /// for this long.
    pub keep: Duration,
    /// Rows per `DELETE` statement. Default 1,000: a few milliseconds of
    /// work, with its row locks held only that long.
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
}

impl PgArchive {
    /// Deletes at most `batch` finished checkpoints last written more than
    /// `keep` ago, in one statement; returns how many it deleted.
    pub async fn delete_finished(&self, keep: Duration, batch: u32) -> Result<u64, StoreError> {
        let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
        let cutoff = Utc::now()
            .checked_sub_signed(keep)
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
        // `checkpointed_at` is the database's own clock (`now()` at the
        // upsert), not a worker's, so a skewed worker cannot age a row.
        let sql = format!(
            "DELETE FROM job_progress WHERE job_id IN (\
               SELECT job_id FROM job_progress \
               WHERE status IN ({finished}) AND checkpointed_at < $1 \
               LIMIT $2 FOR UPDATE SKIP LOCKED)",
            finished = statuses_sql(JobStatus::is_terminal)
        );
        let done = self
            .guarded
            .call(
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(cutoff)
                    .bind(i64::from(batch))
                    .execute(&self.pool),
            )
            .await?;
        Ok(done.rows_affected())
    }

    /// One pass: deletes batch after batch until a batch comes back short.
    /// Returns how many checkpoints it deleted.
    pub async fn prune(&self, retention: &Retention) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            let n = self
                .delete_finished(retention.keep, retention.batch)
                .await?;
            deleted += n;
            if n < u64::from(retention.batch) {
                return Ok(deleted);
            }
            tokio::time::sleep(retention.pause).await;
        }
    }

    /// Prunes now and then every `retention.every`, for as long as the
    /// runtime lives. A failed pass is logged and tried again at the next.
    pub fn spawn_retention(&self, retention: Retention) -> tokio::task::JoinHandle<()> {
        let archive = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(retention.every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match archive.prune(&retention).await {
                    Ok(0) => tracing::debug!("retention: nothing to delete"),
                    Ok(deleted) => {
                        tracing::info!(deleted, "retention: old finished checkpoints deleted");
                    }
                    Err(err) => {
                        tracing::warn!(error = %error_chain(&err), "retention pass failed; trying again later");
                    }
                }
            }
        })
    }
}
