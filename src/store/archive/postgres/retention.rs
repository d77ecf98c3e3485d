//! Retention's delete on PostgreSQL (the pass and its schedule are
//! `store/retention.rs`).
//!
//! Each statement picks its rows through the partial index of
//! `migrations/postgres/20261129000001_retention_index_named.sql` and
//! skips rows another transaction holds (`FOR UPDATE SKIP LOCKED`): none
//! waits behind a checkpoint being written, and several API instances
//! pruning at once share the work instead of queueing on each other.

use std::time::Duration;

use chrono::Utc;

use super::PgArchive;
use crate::{
    domain::JobStatus,
    store::{StoreError, archive::sql::statuses_sql},
};

impl PgArchive {
    /// See [`crate::store::Archive::delete_finished`].
    pub(super) async fn delete_old_finished(
        &self,
        keep: Duration,
        batch: u32,
    ) -> Result<u64, StoreError> {
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
                    .execute(&self.writer),
            )
            .await?;
        Ok(done.rows_affected())
    }
}
