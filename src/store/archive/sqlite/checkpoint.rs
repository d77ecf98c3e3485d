//! Writing checkpoints: a batch is one transaction on the writer's
//! connection, an upsert per [`ROWS_PER_STATEMENT`] jobs
//! ([`checkpoint_sql`]) and then one for the schedules they name
//! ([`SCHEDULES_SQL`]).
//!
//! When some webhook subscription wants the events a batch makes happen,
//! they are written to the outbox in the same transaction.
//!
//! Both [`Archive::checkpoint`](crate::store::Archive::checkpoint) and
//! [`Archive::checkpoint_many`](crate::store::Archive::checkpoint_many)
//! come here, so there is one upsert and one never-backwards rule, whatever
//! the batch size.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{Connection as _, Sqlite, SqlitePool, query::QueryScalar, sqlite::SqliteArguments};

use super::{
    STORE, SqliteArchive,
    sql::{ROWS_PER_STATEMENT, SCHEDULES_SQL, checkpoint_sql},
};
use crate::{
    domain::{JobId, JobKind, JobName, ProgressRecord, ScheduleId},
    store::{
        OutboxEvent, StoreError, WriteOutcome,
        archive::rows::{bigint, cancel_json, detail_json},
    },
};

/// A batch named one job twice. PostgreSQL refuses such a batch (an upsert
/// cannot change one row twice), and so does this archive, so that both
/// behave alike.
#[derive(Debug, thiserror::Error)]
#[error("the batch names the job {0} more than once")]
struct NamedTwice(JobId);

/// The time as stored: microseconds since the epoch.
pub(super) fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

/// How hard a batch's commit is pushed to the disk (SQLite's
/// `synchronous`, set on the writer's connection before each batch, since
/// it cannot change inside a transaction).
///
/// In WAL mode both survive a crash of the process (SIGKILL, a panic, the
/// OOM killer): a commit is in the log file, in the operating system's
/// hands, before it returns. They differ on a power cut or a kernel crash:
/// `Normal` syncs the log only at its checkpoints, so the last commits
/// before the cut may roll back (the file stays intact); `Full` syncs the
/// log at every commit, so a commit that returned stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Synchronous {
    /// Counts: a later checkpoint rewrites them anyway.
    Normal,
    /// A status change someone acknowledges once this returns. Costs one
    /// `fsync` per batch (BENCHMARKS.md, "Status changes: answered after
    /// the commit").
    Full,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "PRAGMA synchronous = NORMAL",
            Synchronous::Full => "PRAGMA synchronous = FULL",
        }
    }
}

impl SqliteArchive {
    /// Upserts `records` (each job at most once) in one transaction, under
    /// the guard, committed as `sync` says; says, per record in order,
    /// whether it was written or stale. The whole batch is written or none
    /// of it.
    pub(super) async fn upsert(
        &self,
        records: &[ProgressRecord],
        sync: Synchronous,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut seen = HashSet::with_capacity(records.len());
        if let Some(twice) = records.iter().find(|r| !seen.insert(&r.job_id)) {
            return Err(StoreError::refused(STORE, NamedTwice(twice.job_id.clone())));
        }
        let events = OutboxEvent::of_checkpoints(records, self.events.get());
        self.guarded
            .call(write(&self.writer, records, &events, sync))
            .await
    }
}

/// The upsert's statement, returning the ids it wrote.
type Upsert<'q> = QueryScalar<'q, Sqlite, String, SqliteArguments>;

/// Binds `r`'s columns, in the order of `COLUMNS`; `now` stands for a
/// missing `updated_at`.
fn bind<'q>(query: Upsert<'q>, r: &'q ProgressRecord, now: DateTime<Utc>) -> Upsert<'q> {
    query
        .bind(r.job_id.as_str())
        .bind(r.status.as_str())
        .bind(r.total_target_count.map(bigint))
        .bind(bigint(r.current_sent_count))
        .bind(bigint(r.success_count))
        .bind(bigint(r.failure_count))
        .bind(r.total_chunks.map(bigint))
        .bind(r.current_chunk.map(bigint))
        .bind(r.started_at.map(micros))
        .bind(micros(r.updated_at.unwrap_or(now)))
        .bind(r.completed_at.map(micros))
        .bind(r.estimated_end_at.map(micros))
        .bind(r.estimated_remaining_seconds.map(bigint))
        .bind(r.rate_per_second)
        .bind(r.error_message.as_deref())
        .bind(r.schedule_id.as_ref().map(ScheduleId::as_str))
        .bind(r.refresh_interval_ms.map(bigint))
        .bind(r.estimated_end_range.map(|range| micros(range.earliest)))
        .bind(r.estimated_end_range.map(|range| micros(range.latest)))
        .bind(r.name.as_ref().map(JobName::as_str))
        .bind(r.kind.as_ref().map(JobKind::as_str))
        .bind(detail_json(r))
        .bind(i64::from(r.attempt()))
        .bind(cancel_json(r))
        .bind(r.parent_job_id.as_ref().map(JobId::as_str))
}

async fn write(
    writer: &SqlitePool,
    records: &[ProgressRecord],
    events: &[OutboxEvent],
    sync: Synchronous,
) -> Result<Vec<WriteOutcome>, sqlx::Error> {
    let mut connection = writer.acquire().await?;
    // Set before every batch, not restored after: a batch that failed
    // midway cannot leave the next one with another level.
    sqlx::query(sync.pragma()).execute(&mut *connection).await?;
    // IMMEDIATE takes the write lock now: should another process hold it,
    // this waits for it (the busy timeout) instead of failing midway.
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
    let now = Utc::now();
    // Before the upsert: which jobs' status or attempt the batch changes.
    let prior = if events.is_empty() {
        HashMap::new()
    } else {
        prior_states(&mut tx, events).await?
    };
    let mut written = HashSet::with_capacity(records.len());
    for chunk in records.chunks(ROWS_PER_STATEMENT) {
        let mut upsert = sqlx::query_scalar(sqlx::AssertSqlSafe(checkpoint_sql(chunk.len())));
        for record in chunk {
            upsert = bind(upsert, record, now);
        }
        written.extend(upsert.fetch_all(&mut *tx).await?);
    }
    let scheduled: Vec<&str> = records
        .iter()
        .filter(|r| r.schedule_id.is_some() && written.contains(r.job_id.as_str()))
        .map(|r| r.job_id.as_str())
        .collect();
    if !scheduled.is_empty() {
        // Ids are plain text (`[A-Za-z0-9._:-]`): a JSON array of them
        // cannot fail to encode.
        let ids = serde_json::to_string(&scheduled).unwrap_or_default();
        sqlx::query(sqlx::AssertSqlSafe(SCHEDULES_SQL.as_str()))
            .bind(ids)
            .execute(&mut *tx)
            .await?;
    }
    let statuses: HashMap<&str, &str> = records
        .iter()
        .map(|r| (r.job_id.as_str(), r.status.as_str()))
        .collect();
    for event in events {
        let job = event.job_id.as_str();
        let changed = prior.get(job).is_none_or(|(attempt, status)| {
            *attempt != i64::from(event.attempt) || statuses.get(job) != Some(&status.as_str())
        });
        if changed && written.contains(job) {
            sqlx::query(OUTBOX_INSERT_SQL)
                .bind(&event.id)
                .bind(event.job_id.as_str())
                .bind(i64::from(event.attempt))
                .bind(event.event.as_str())
                .bind(&event.payload)
                .bind(micros(now))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(WriteOutcome::of_each(records, &written))
}

/// A webhook event, written in the checkpoint's transaction unless its key
/// is already there (see `CHECKPOINT_WITH_OUTBOX_SQL` on PostgreSQL).
const OUTBOX_INSERT_SQL: &str = "INSERT INTO webhook_outbox \
    (id, job_id, attempt, event_type, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
    ON CONFLICT DO NOTHING";

/// The attempt and status stored for each job `events` name, before the
/// batch's upsert: an event is written only when the write changes them.
async fn prior_states(
    tx: &mut sqlx::SqliteConnection,
    events: &[OutboxEvent],
) -> Result<HashMap<String, (i64, String)>, sqlx::Error> {
    let ids: Vec<&str> = events.iter().map(|e| e.job_id.as_str()).collect();
    // Ids are plain text: a JSON array of them cannot fail to encode.
    let ids = serde_json::to_string(&ids).unwrap_or_default();
    let rows: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT job_id, attempt, status FROM job_progress \
         WHERE job_id IN (SELECT value FROM json_each(?1))",
    )
    .bind(ids)
    .fetch_all(tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(job, attempt, status)| (job, (attempt, status)))
        .collect())
}
