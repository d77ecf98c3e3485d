//! Each kind's last finished runs on PostgreSQL (`kind_runs`, migration
//! `20261209000101_kind_runs.sql`): a run added and the kind trimmed to
//! its newest [`KIND_RUNS_KEPT`] in one transaction, and read back newest
//! first through `kind_runs_latest_idx`.

use super::PgArchive;
use crate::{
    domain::JobKind,
    store::{KIND_RUNS_KEPT, KindRun, StoreError},
};

/// Adds a run, unless it is recorded already.
const INSERT_SQL: &str = "INSERT INTO kind_runs (kind, job_id, attempt, summary) \
     VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (kind, job_id, attempt) DO NOTHING";

/// Forgets the kind's runs older than its newest `$2`.
const TRIM_SQL: &str = "DELETE FROM kind_runs WHERE kind = $1 AND id < (\
     SELECT min(id) FROM (\
       SELECT id FROM kind_runs WHERE kind = $1 ORDER BY id DESC LIMIT $2) AS kept)";

/// The kind's newest `$2` summaries, newest first.
const HISTORY_SQL: &str =
    "SELECT summary::text FROM kind_runs WHERE kind = $1 ORDER BY id DESC LIMIT $2";

impl PgArchive {
    /// See [`crate::store::Archive::record_run`].
    pub(super) async fn add_run(&self, kind: &JobKind, run: &KindRun) -> Result<(), StoreError> {
        let write = async {
            let mut tx = self.writer.begin().await?;
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
