//! Recently finished jobs, newest first, one keyset page at a time: a
//! range scan of `job_progress_finished_idx` (migration
//! `20261128100000_finished_index.sql`) from the cursor on, so page 500
//! costs what page 1 does.

use super::{
    PgArchive,
    rows::{COLUMNS, CheckpointRow, bigint},
    sql::statuses_sql_of,
};
use crate::{
    domain::{FinishedCursor, FinishedPage, FinishedQuery, ProgressRecord},
    store::StoreError,
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
        let mut rows = self.guarded.call(statement.fetch_all(&self.pool)).await?;
        let more = rows.len() > query.limit as usize;
        rows.truncate(query.limit as usize);
        let jobs = rows
            .into_iter()
            .map(ProgressRecord::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = match jobs.last() {
            Some(last) if more => last.updated_at.map(|updated_at| FinishedCursor {
                updated_at,
                job_id: last.job_id.clone(),
            }),
            _ => None,
        };
        Ok(FinishedPage { jobs, next_cursor })
    }
}
