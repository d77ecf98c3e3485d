//! The calls both archives make alike, written once: the guard around a
//! pool (its breaker's probe a `SELECT 1`), the ping, the migrations, a
//! select by one text argument, the active list's page and count, whose
//! statements differ between the databases only in their text, and the
//! running schedules, whose statement does not differ at all, with their
//! jobs' checkpoints.
//! Each archive's `reads.rs` and `mod.rs` hand in their pool and their
//! SQL.
//!
//! Generic over sqlx's [`Database`] rather than behind a trait object:
//! the compiler makes one copy of each function per database, the same
//! code the two hand-written copies compiled to, so sharing costs nothing
//! at run time (no boxing and no dynamic call that was not there before:
//! the probe was boxed already, as [`Guarded`] keeps it).

use std::time::Duration;

use anyhow::Context as _;
use futures_util::FutureExt as _;
use sqlx::{
    Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Type,
    migrate::{Migrate, Migrator},
};

use super::{
    StoreError,
    guard::{ErrorKind, Guarded},
    rows::{self, CheckpointRow, SCHEDULE_COLUMNS, ScheduleRow, StoredTime, count},
};
use crate::domain::{ProgressRecord, Schedule};

/// The guard of the archive `store` on `pool`: calls cut off after
/// `timeout`, errors sorted by `classify`, and a `SELECT 1` on `pool` as
/// the probe while its breaker is open.
pub(super) fn guarded<DB>(
    store: &'static str,
    timeout: Duration,
    classify: fn(&sqlx::Error) -> ErrorKind,
    pool: &Pool<DB>,
) -> Guarded<sqlx::Error>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let pool = pool.clone();
    let ping = move || {
        let pool = pool.clone();
        async move { sqlx::query("SELECT 1").execute(&pool).await.map(drop) }.boxed()
    };
    Guarded::new(store, timeout, classify, ping)
}

/// A `SELECT 1` on `pool`, under the guard: the archive's ping.
pub(super) async fn ping<DB>(
    guarded: &Guarded<sqlx::Error>,
    pool: &Pool<DB>,
) -> Result<(), StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    guarded
        .call(sqlx::query("SELECT 1").execute(pool))
        .await
        .map(drop)
}

/// Applies `migrator`'s migrations (embedded in the binary) on `pool`.
pub(super) async fn migrate<DB>(migrator: &Migrator, pool: &Pool<DB>) -> anyhow::Result<()>
where
    DB: Database,
    DB::Connection: Migrate,
{
    migrator
        .run(pool)
        .await
        .with_context(|| format!("cannot apply the {} migrations", DB::NAME))
}

/// The rows `sql` selects with `arg` bound to its first parameter, under
/// the guard.
pub(super) async fn rows<DB, R>(
    guarded: &Guarded<sqlx::Error>,
    pool: &Pool<DB>,
    sql: String,
    arg: &str,
) -> Result<Vec<R>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    R: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
{
    guarded
        .call(
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(arg)
                .fetch_all(pool),
        )
        .await
}

/// A page of the active list and how many there are in all, under the
/// guard: `page` selects the page (`ttl`, `limit`, `offset` and then
/// `filter` bound in that order), `count` counts (`ttl`, then `filter`
/// bound). Unreadable rows are left out of the page ([`rows::readable`]).
pub(super) async fn active<DB, T>(
    guarded: &Guarded<sqlx::Error>,
    pool: &Pool<DB>,
    (page, count_sql): (String, String),
    filter: &[String],
    ttl: i64,
    limit: u32,
    offset: u64,
) -> Result<(Vec<ProgressRecord>, u64), StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    T: StoredTime,
    CheckpointRow<T>: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
{
    let mut page = sqlx::query_as(sqlx::AssertSqlSafe(page))
        .bind(ttl)
        .bind(i64::from(limit))
        .bind(rows::bigint(offset));
    let mut count_query = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql)).bind(ttl);
    for value in filter {
        page = page.bind(value.as_str());
        count_query = count_query.bind(value.as_str());
    }
    let rows: Vec<CheckpointRow<T>> = guarded.call(page.fetch_all(pool)).await?;
    let total: i64 = guarded.call(count_query.fetch_one(pool)).await?;
    Ok((rows::readable(rows), count(total)))
}

/// Up to `limit` children of `parent` after the child `after` (from the
/// first when empty), by id: `sql` binds the parent, `after` and `limit`
/// in that order (a range scan of the parent index). Unreadable rows are
/// left out ([`rows::readable`]).
pub(super) async fn children<DB, T>(
    guarded: &Guarded<sqlx::Error>,
    pool: &Pool<DB>,
    sql: String,
    parent: &str,
    after: &str,
    limit: u32,
) -> Result<Vec<ProgressRecord>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    T: StoredTime,
    CheckpointRow<T>: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
{
    let query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(parent)
        .bind(after)
        .bind(i64::from(limit));
    let rows: Vec<CheckpointRow<T>> = guarded.call(query.fetch_all(pool)).await?;
    Ok(rows::readable(rows))
}

/// The schedules that have started and not ended, oldest start first, as
/// `DB` keeps them, under the guard.
pub(super) async fn running_schedules<DB, T>(
    guarded: &Guarded<sqlx::Error>,
    pool: &Pool<DB>,
) -> Result<Vec<ScheduleRow<T>>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    ScheduleRow<T>: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
{
    let sql = format!(
        "SELECT {SCHEDULE_COLUMNS} FROM schedules \
         WHERE actual_start_at IS NOT NULL AND actual_end_at IS NULL \
         ORDER BY actual_start_at, id"
    );
    guarded
        .call(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool))
        .await
}

/// The schedules of `rows`, each with its job's checkpoint, read in one
/// statement: `checkpoints` selects the checkpoints of the jobs whose ids
/// its first parameter holds, as a JSON array.
pub(super) async fn with_checkpoints<DB, T>(
    guarded: &Guarded<sqlx::Error>,
    pool: &Pool<DB>,
    rows: Vec<ScheduleRow<T>>,
    checkpoints: String,
) -> Result<Vec<Schedule>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    T: StoredTime,
    CheckpointRow<T>: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
{
    let job_ids: Vec<&str> = rows.iter().filter_map(|row| row.job_id()).collect();
    let found = if job_ids.is_empty() {
        Vec::new()
    } else {
        // Ids are plain text: a JSON array of them cannot fail to encode.
        let ids = serde_json::to_string(&job_ids).unwrap_or_default();
        let found: Vec<CheckpointRow<T>> = self::rows(guarded, pool, checkpoints, &ids).await?;
        found
            .into_iter()
            .map(ProgressRecord::try_from)
            .collect::<Result<Vec<_>, _>>()?
    };
    rows::schedules(rows, &found)
}
