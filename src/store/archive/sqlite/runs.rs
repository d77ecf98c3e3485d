//! Each kind's last finished runs on SQLite (`kind_runs`, migration
//! `20261209000101_kind_runs.sql`): a run added and the kind trimmed to
//! its newest [`KIND_RUNS_KEPT`] in one write transaction on the writer's
//! connection, and read back newest first through `kind_runs_latest_idx`.

use sqlx::Connection as _;

use super::SqliteArchive;
use crate::{
    domain::JobKind,
    store::{KIND_RUNS_KEPT, KindRun, StoreError},
};

/// Adds a run, unless it is recorded already.
const INSERT_SQL: &str = "INSERT INTO kind_runs (kind, job_id, attempt, summary) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (kind, job_id, attempt) DO NOTHING";

/// Forgets the kind's runs older than its newest `?2`.
const TRIM_SQL: &str = "DELETE FROM kind_runs WHERE kind = ?1 AND id < (\
     SELECT min(id) FROM (\
       SELECT id FROM kind_runs WHERE kind = ?1 ORDER BY id DESC LIMIT ?2))";

/// The kind's newest `?2` summaries, newest first.
const HISTORY_SQL: &str = "SELECT summary FROM kind_runs WHERE kind = ?1 ORDER BY id DESC LIMIT ?2";

impl SqliteArchive {
    /// See [`crate::store::Archive::record_run`].
    pub(super) async fn add_run(&self, kind: &JobKind, run: &KindRun) -> Result<(), StoreError> {
        let write = async {
            let mut connection = self.writer.acquire().await?;
            // IMMEDIATE takes the write lock now, as a checkpoint's batch
            // does: another process holding it is waited for, not failed.
            let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
            let added = sqlx::query(INSERT_SQL)
                .bind(kind.as_str())
                .bind(run.job_id.as_str())
                .bind(i64::from(run.attempt))
                .bind(run.summary.as_str())
                .execute(&mut *tx)
                .await?;
            if added.rows_affected() > 0 {
                sqlx::query(TRIM_SQL)
                    .bind(kind.as_str())
                    .bind(i64::from(KIND_RUNS_KEPT))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        };
        self.guarded.call(write).await
    }

    /// See [`crate::store::Archive::kind_history`].
    pub(super) async fn runs_of(&self, kind: &JobKind) -> Result<Vec<String>, StoreError> {
        let mut newest_first: Vec<String> = self
            .guarded
            .call(
                sqlx::query_scalar(HISTORY_SQL)
                    .bind(kind.as_str())
                    .bind(i64::from(KIND_RUNS_KEPT))
                    .fetch_all(&self.readers),
            )
            .await?;
        newest_first.reverse();
        Ok(newest_first)
    }
}
