//! Retention's delete on SQLite (the pass and its schedule are
//! `store/retention.rs`): at most a batch of old finished checkpoints per
//! statement, found through `job_progress_retention_idx`. Each statement
//! is one short write transaction on the writer's connection, so
//! checkpoints queued behind it wait milliseconds.

use std::time::Duration;

use super::{SqliteArchive, sql::NOW_MICROS};
use crate::{
    domain::JobStatus,
    store::{StoreError, archive::sql::statuses_sql},
};

/// Deletes at most `?2` finished checkpoints written more than `?1`
/// microseconds ago.
pub(super) fn delete_sql() -> String {
    // `checkpointed_at` is the database's clock at the upsert, and so is
    // the cutoff: a worker's skewed clock cannot age a row.
    format!(
        "DELETE FROM job_progress WHERE job_id IN (\
           SELECT job_id FROM job_progress \
           WHERE status IN ({finished}) AND checkpointed_at < {NOW_MICROS} - ?1 \
           LIMIT ?2)",
        finished = statuses_sql(JobStatus::is_terminal)
    )
}

impl SqliteArchive {
    /// See [`crate::store::Archive::delete_finished`].
    pub(super) async fn delete_old_finished(
        &self,
        keep: Duration,
        batch: u32,
    ) -> Result<u64, StoreError> {
        let keep = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
        let done = self
            .guarded
            .call(
                sqlx::query(sqlx::AssertSqlSafe(delete_sql()))
                    .bind(keep)
                    .bind(i64::from(batch))
                    .execute(&self.writer),
            )
            .await?;
        Ok(done.rows_affected())
    }
}
