//! The rows of `job_progress` and `schedules` as both archives select them,
//! and their conversion to the domain's types, written once for both.
//!
//! The databases keep time differently (PostgreSQL as `timestamptz`,
//! SQLite as integer microseconds since the epoch), so a row is generic
//! over the type of its time columns ([`StoredTime`]); everything else,
//! column names included, is the same.

use std::{collections::HashMap, str::FromStr};

use chrono::{DateTime, Utc};

use crate::{
    domain::{
        AttemptSummary, ChildrenSummary, EndRange, FailurePolicy, FinishedCursor, FinishedPage,
        JobId, JobKind, JobName, JobStatus, Message, Metadata, ProgressRecord, ResultUrl, Schedule,
        ScheduleId, Step,
    },
    store::StoreError,
};

/// The columns of `job_progress`, in the order the queries select them.
pub(super) const COLUMNS: &str = "job_id, status, total_target_count, current_sent_count, success_count, \
     failure_count, total_chunks, current_chunk, started_at, updated_at, completed_at, \
     estimated_end_at, estimated_remaining_seconds, rate_per_second, error_message, schedule_id, \
     refresh_interval_ms, estimated_end_earliest, estimated_end_latest, name, kind, detail, \
     attempt, cancel_requested, parent_job_id";

/// The columns of `schedules`, in the order the queries select them.
pub(super) const SCHEDULE_COLUMNS: &str =
    "id, name, scheduled_at, actual_start_at, actual_end_at, total_target_count, job_id";

/// How a database keeps a point in time.
pub(super) trait StoredTime {
    /// The time, or `None` when it is outside what chrono can hold.
    fn to_utc(self) -> Option<DateTime<Utc>>;
}

impl StoredTime for DateTime<Utc> {
    fn to_utc(self) -> Option<DateTime<Utc>> {
        Some(self)
    }
}

/// Microseconds since the epoch (SQLite).
impl StoredTime for i64 {
    fn to_utc(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self)
    }
}

/// A stored time chrono cannot hold (only a row written by hand can have
/// one).
#[derive(Debug, thiserror::Error)]
#[error("the column {0} holds a time out of range")]
struct TimeOutOfRange(&'static str);

#[derive(sqlx::FromRow)]
pub(super) struct CheckpointRow<T> {
    job_id: String,
    status: String,
    total_target_count: Option<i64>,
    current_sent_count: i64,
    success_count: i64,
    failure_count: i64,
    total_chunks: Option<i64>,
    current_chunk: Option<i64>,
    started_at: Option<T>,
    updated_at: T,
    completed_at: Option<T>,
    estimated_end_at: Option<T>,
    estimated_end_earliest: Option<T>,
    estimated_end_latest: Option<T>,
    estimated_remaining_seconds: Option<i64>,
    rate_per_second: Option<f64>,
    error_message: Option<String>,
    schedule_id: Option<String>,
    refresh_interval_ms: Option<i64>,
    name: Option<String>,
    kind: Option<String>,
    detail: Option<String>,
    attempt: i64,
    cancel_requested: Option<String>,
    parent_job_id: Option<String>,
}

/// The `detail` column: what a job says about itself that no query looks
/// into, as one JSON object (absent parts left out; NULL when all are).
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result_url: Option<ResultUrl>,
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    metadata: Metadata,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    attempts: Vec<AttemptSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    children: Option<ChildrenSummary>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    complete_with_children: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expected_children: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure_policy: Option<FailurePolicy>,
}

/// `record`'s `cancel_requested` column: the request as JSON, NULL when
/// there is none.
pub(super) fn cancel_json(record: &ProgressRecord) -> Option<String> {
    // Plain data: it cannot fail to encode.
    record
        .cancel_requested
        .as_ref()
        .map(|cancel| serde_json::to_string(cancel).unwrap_or_default())
}

/// `record`'s `detail` column (see [`Detail`]), NULL when it has none.
pub(super) fn detail_json(record: &ProgressRecord) -> Option<String> {
    let detail = Detail {
        steps: record.steps.clone(),
        stage: record.stage.clone(),
        message: record.message.clone(),
        result_url: record.result_url.clone(),
        metadata: record.metadata.clone(),
        attempts: record.attempts.clone(),
        children: record.children,
        complete_with_children: record.complete_with_children,
        expected_children: record.expected_children,
        failure_policy: record.failure_policy,
    };
    let empty = detail.attempts.is_empty()
        && detail.steps.is_empty()
        && detail.stage.is_none()
        && detail.message.is_none()
        && detail.result_url.is_none()
        && detail.metadata.is_empty()
        && detail.children.is_none()
        && !detail.complete_with_children
        && detail.expected_children.is_none()
        && detail.failure_policy.is_none();
    // Plain data: it cannot fail to encode.
    (!empty).then(|| serde_json::to_string(&detail).unwrap_or_default())
}

#[derive(sqlx::FromRow)]
pub(super) struct ScheduleRow<T> {
    id: String,
    name: Option<String>,
    scheduled_at: Option<T>,
    actual_start_at: Option<T>,
    actual_end_at: Option<T>,
    total_target_count: Option<i64>,
    job_id: Option<String>,
}

/// Counts are stored as BIGINT; the table's CHECKs keep them non-negative.
pub(super) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub(super) fn bigint(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// `column`'s time, if it has one; `Corrupt` (naming `key`) if it is out
/// of range.
fn time<T: StoredTime>(
    value: Option<T>,
    column: &'static str,
    key: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    value
        .map(|value| {
            value
                .to_utc()
                .ok_or_else(|| StoreError::corrupt(key, TimeOutOfRange(column)))
        })
        .transpose()
}

/// The rows of a read of several jobs put back in the order of `ids`:
/// `None` for a job without a row, `Err` for a row that does not read (a
/// job asked twice is answered twice).
pub(super) fn each_of<T: StoredTime>(
    ids: &[JobId],
    rows: Vec<CheckpointRow<T>>,
) -> Vec<Result<Option<ProgressRecord>, StoreError>> {
    let mut asked: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    for id in ids {
        *asked.entry(id.as_str()).or_default() += 1;
    }
    let mut read: HashMap<String, Result<ProgressRecord, StoreError>> = rows
        .into_iter()
        .map(|row| (row.job_id.clone(), ProgressRecord::try_from(row)))
        .collect();
    ids.iter()
        .map(|id| {
            let left = asked.entry(id.as_str()).or_default();
            *left = left.saturating_sub(1);
            if *left == 0 {
                return read.remove(id.as_str()).transpose();
            }
            match read.get(id.as_str()) {
                None => Ok(None),
                Some(Ok(record)) => Ok(Some(record.clone())),
                Some(Err(err)) => Err(StoreError::corrupt(
                    format!("job_progress[{id}]"),
                    std::io::Error::other(err.to_string()),
                )),
            }
        })
        .collect()
}

impl<T: StoredTime> TryFrom<CheckpointRow<T>> for ProgressRecord {
    type Error = StoreError;
    fn try_from(row: CheckpointRow<T>) -> Result<Self, StoreError> {
        let key = format!("job_progress[{}]", row.job_id);
        let job_id = JobId::parse(row.job_id).map_err(|err| StoreError::corrupt(&key, err))?;
        let status =
            JobStatus::from_str(&row.status).map_err(|err| StoreError::corrupt(&key, err))?;
        let schedule_id = row
            .schedule_id
            .map(ScheduleId::parse)
            .transpose()
            .map_err(|err| StoreError::corrupt(&key, err))?;
        let kind = row
            .kind
            .map(JobKind::parse)
            .transpose()
            .map_err(|err| StoreError::corrupt(&key, err))?;
        let detail: Detail = row
            .detail
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|err| StoreError::corrupt(&key, err))?
            .unwrap_or_default();
        let earliest = time(row.estimated_end_earliest, "estimated_end_earliest", &key)?;
        let latest = time(row.estimated_end_latest, "estimated_end_latest", &key)?;
        let record = ProgressRecord {
            // The archive keeps no version: streams that read a checkpoint
            // compare its content instead.
            version: 0,
            job_id,
            status,
            total_target_count: row.total_target_count.map(count),
            current_sent_count: count(row.current_sent_count),
            success_count: count(row.success_count),
            failure_count: count(row.failure_count),
            progress_percentage: 0,
            total_chunks: row.total_chunks.map(count),
            current_chunk: row.current_chunk.map(count),
            started_at: time(row.started_at, "started_at", &key)?,
            updated_at: time(Some(row.updated_at), "updated_at", &key)?,
            completed_at: time(row.completed_at, "completed_at", &key)?,
            estimated_end_at: time(row.estimated_end_at, "estimated_end_at", &key)?,
            estimated_end_range: earliest
                .zip(latest)
                .map(|(earliest, latest)| EndRange { earliest, latest }),
            estimated_remaining_seconds: row.estimated_remaining_seconds.map(count),
            rate_per_second: row.rate_per_second,
            error_message: row.error_message,
            schedule_id,
            refresh_interval_ms: row.refresh_interval_ms.map(count),
            stalled: false,
            // Stored by this program, within its limit: read as it is.
            name: row
                .name
                .map(JobName::parse)
                .transpose()
                .map_err(|err| StoreError::corrupt(&key, err))?,
            kind,
            steps: detail.steps,
            stage: detail.stage,
            message: detail.message,
            result_url: detail.result_url,
            metadata: detail.metadata,
            attempt: (row.attempt > 1).then(|| u32::try_from(row.attempt).unwrap_or(u32::MAX)),
            attempts: detail.attempts,
            cancel_requested: row
                .cancel_requested
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|err| StoreError::corrupt(&key, err))?,
            parent_job_id: row
                .parent_job_id
                .map(JobId::parse)
                .transpose()
                .map_err(|err| StoreError::corrupt(&key, err))?,
            children: detail.children,
            complete_with_children: detail.complete_with_children,
            expected_children: detail.expected_children,
            failure_policy: detail.failure_policy,
            extra: serde_json::Map::new(),
        };
        Ok(record.normalized())
    }
}

/// The records of `rows`, leaving out (with a log line) those that cannot
/// be read, so one bad row does not hide a whole list.
pub(super) fn readable<T: StoredTime>(rows: Vec<CheckpointRow<T>>) -> Vec<ProgressRecord> {
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        match ProgressRecord::try_from(row) {
            Ok(record) => records.push(record),
            Err(err) => tracing::warn!(error = %err, "skipping an unreadable checkpoint"),
        }
    }
    records
}

/// A page of finished jobs from `rows`, selected with one more row than
/// `limit` asks: whether that row exists says if a next page does.
pub(super) fn finished_page<T: StoredTime>(
    mut rows: Vec<CheckpointRow<T>>,
    limit: u32,
) -> Result<FinishedPage, StoreError> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
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

impl<T> ScheduleRow<T> {
    /// The job carrying the schedule out, as stored.
    pub(super) fn job_id(&self) -> Option<&str> {
        self.job_id.as_deref()
    }
}

/// The schedules of `rows`, each with its job's checkpoint when
/// `checkpoints` holds it.
pub(super) fn schedules<T: StoredTime>(
    rows: Vec<ScheduleRow<T>>,
    checkpoints: &[ProgressRecord],
) -> Result<Vec<Schedule>, StoreError> {
    rows.into_iter()
        .map(|row| {
            let key = format!("schedules[{}]", row.id);
            let job_id = row
                .job_id
                .map(JobId::parse)
                .transpose()
                .map_err(|err| StoreError::corrupt(&key, err))?;
            let checkpoint = job_id
                .as_ref()
                .and_then(|id| checkpoints.iter().find(|c| &c.job_id == id).cloned());
            Ok(Schedule {
                scheduled_at: time(row.scheduled_at, "scheduled_at", &key)?,
                actual_start_at: time(row.actual_start_at, "actual_start_at", &key)?,
                actual_end_at: time(row.actual_end_at, "actual_end_at", &key)?,
                id: ScheduleId::parse(row.id).map_err(|err| StoreError::corrupt(key, err))?,
                name: row.name,
                total_target_count: row.total_target_count.map(count),
                job_id,
                checkpoint,
            })
        })
        .collect()
}
