//! What both archives keep of a finished job beside its checkpoint (a
//! [`JobTail`]: its last log lines and downsampled history), in the
//! `job_tails` table of `migrations/*/20261209000001_job_tails.sql`: one
//! upsert when the job ends, one select by id when its page asks after
//! the hot store has let go of it. The statements differ between the
//! databases only in how a parameter is written (`$1`, `?1`).

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::{StoreError, guard::Guarded};
use crate::domain::{JobId, JobTail};

/// Keeps `tail` for the job `id`, replacing what was kept before.
/// `param` writes a statement's n-th parameter in the database's way.
pub(super) async fn keep<DB>(
    guarded: &Guarded<sqlx::Error>,
    pool: &Pool<DB>,
    param: fn(usize) -> String,
    id: &JobId,
    tail: &JobTail,
) -> Result<(), StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let sql = format!(
        "INSERT INTO job_tails (job_id, last_seq, lines, samples) VALUES ({}, {}, {}, {}) \
         ON CONFLICT (job_id) DO UPDATE SET last_seq = excluded.last_seq, \
         lines = excluded.lines, samples = excluded.samples",
        param(1),
        param(2),
        param(3),
        param(4)
    );
    // Plain data: serializing it cannot fail.
    let lines = serde_json::to_string(&tail.lines).unwrap_or_else(|_| "[]".to_owned());
    let samples = serde_json::to_string(&tail.samples).unwrap_or_else(|_| "[]".to_owned());
    guarded
        .call(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id.as_str())
                .bind(i64::try_from(tail.last_seq).unwrap_or(i64::MAX))
                .bind(lines)
                .bind(samples)
                .execute(pool),
        )
        .await
        .map(drop)
}

/// The tail kept for the job `id`, if any.
pub(super) async fn read<DB>(
    guarded: &Guarded<sqlx::Error>,
    pool: &Pool<DB>,
    param: fn(usize) -> String,
    id: &JobId,
) -> Result<Option<JobTail>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    (i64, String, String): for<'r> FromRow<'r, DB::Row>,
{
    let sql = format!(
        "SELECT last_seq, lines, samples FROM job_tails WHERE job_id = {}",
        param(1)
    );
    let row: Option<(i64, String, String)> = guarded
        .call(
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id.as_str())
                .fetch_optional(pool),
        )
        .await?;
    let Some((last_seq, lines, samples)) = row else {
        return Ok(None);
    };
    let corrupt = |err| StoreError::corrupt(format!("tail of {id}"), err);
    Ok(Some(JobTail {
        lines: serde_json::from_str(&lines).map_err(corrupt)?,
        last_seq: u64::try_from(last_seq).unwrap_or(0),
        samples: serde_json::from_str(&samples).map_err(corrupt)?,
    }))
}
