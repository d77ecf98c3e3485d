//! Recently finished jobs, newest first, one keyset page at a time: a
//! range scan of `job_progress_finished_idx` (migration
//! `20261128100000_finished_index.sql`) from the cursor on, so page 500
//! costs what page 1 does.

use super::{CheckpointRow, PgArchive};
use crate::{
    domain::{FinishedPage, FinishedQuery},
    store::{
        StoreError,
        archive::{
            rows::{self, COLUMNS, bigint},
            sql::statuses_sql_of,
        },
    },
};

impl PgArchive {
    /// One page of `query`; see [`crate::store::Archive::finished`].
    pub(super) async fn finished_page(
        &self,
        query: &FinishedQuery,
    ) -> Result<FinishedPage, StoreError> {
        // The statuses are written into the statement, not bound: only then
        // can the planner see that the partial index covers them.
        let statuses = statuses_sql_of(query.which.statuses());
        let after = if query.after.is_some() {
            "AND (updated_at, job_id) < ($3, $4)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM job_progress \
             WHERE status IN ({statuses}) AND updated_at >= $1 {after} \
             ORDER BY updated_at DESC, job_id DESC LIMIT $2"
        );
        // One more than asked: whether it exists says if a next page does.
        let mut statement = sqlx::query_as::<_, CheckpointRow>(sqlx::AssertSqlSafe(sql))
            .bind(query.since)
            .bind(bigint(u64::from(query.limit) + 1));
        if let Some(after) = &query.after {
            statement = statement.bind(after.updated_at).bind(after.job_id.as_str());
        }
        let rows = self.guarded.call(statement.fetch_all(&self.pool)).await?;
        rows::finished_page(rows, query.limit)
    }
}
