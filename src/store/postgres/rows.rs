//! The rows of `job_progress` and `schedules`, and their conversion to the
//! domain's types.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::{
    domain::{EndRange, JobId, JobStatus, ProgressRecord, ScheduleId},
    store::StoreError,
};

/// The columns of `job_progress`, in the order the queries select them.
pub(super) const COLUMNS: &str = "job_id, status, total_target_count, current_sent_count, success_count, \
     failure_count, total_chunks, current_chunk, started_at, updated_at, completed_at, \
     estimated_end_at, estimated_remaining_seconds, rate_per_second, error_message, schedule_id, \
     refresh_interval_ms, estimated_end_earliest, estimated_end_latest";

#[derive(sqlx::FromRow)]
pub(super) struct CheckpointRow {
    job_id: String,
    status: String,
    total_target_count: i64,
    current_sent_count: i64,
    success_count: i64,
    failure_count: i64,
    total_chunks: Option<i64>,
    current_chunk: Option<i64>,
    started_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    estimated_end_at: Option<DateTime<Utc>>,
    estimated_end_earliest: Option<DateTime<Utc>>,
    estimated_end_latest: Option<DateTime<Utc>>,
    estimated_remaining_seconds: Option<i64>,
    rate_per_second: Option<f64>,
    error_message: Option<String>,
    schedule_id: Option<String>,
    refresh_interval_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(super) struct ScheduleRow {
    pub(super) id: String,
    pub(super) name: Option<String>,
    pub(super) scheduled_at: Option<DateTime<Utc>>,
    pub(super) actual_start_at: Option<DateTime<Utc>>,
    pub(super) actual_end_at: Option<DateTime<Utc>>,
    pub(super) total_target_count: Option<i64>,
    pub(super) job_id: Option<String>,
}

pub(super) fn corrupt(
    key: String,
    why: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::Corrupt {
        key,
        source: Box::new(why),
    }
}

/// Counts are stored as BIGINT; the table's CHECKs keep them non-negative.
pub(super) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub(super) fn bigint(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl TryFrom<CheckpointRow> for ProgressRecord {
    type Error = StoreError;
    fn try_from(row: CheckpointRow) -> Result<Self, StoreError> {
        let key = format!("job_progress[{}]", row.job_id);
        let job_id = JobId::parse(row.job_id).map_err(|err| corrupt(key.clone(), err))?;
        let status = JobStatus::from_str(&row.status).map_err(|err| corrupt(key.clone(), err))?;
        let schedule_id = row
            .schedule_id
            .map(ScheduleId::parse)
            .transpose()
            .map_err(|err| corrupt(key, err))?;
        let record = ProgressRecord {
            // The archive keeps no version: streams that read a checkpoint
            // compare its content instead.
            version: 0,
            job_id,
            status,
            total_target_count: count(row.total_target_count),
            current_sent_count: count(row.current_sent_count),
            success_count: count(row.success_count),
            failure_count: count(row.failure_count),
            progress_percentage: 0,
            total_chunks: row.total_chunks.map(count),
            current_chunk: row.current_chunk.map(count),
            started_at: row.started_at,
            updated_at: Some(row.updated_at),
            completed_at: row.completed_at,
            estimated_end_at: row.estimated_end_at,
            estimated_end_range: row
                .estimated_end_earliest
                .zip(row.estimated_end_latest)
                .map(|(earliest, latest)| EndRange { earliest, latest }),
            estimated_remaining_seconds: row.estimated_remaining_seconds.map(count),
            rate_per_second: row.rate_per_second,
            error_message: row.error_message,
            schedule_id,
            refresh_interval_ms: row.refresh_interval_ms.map(count),
            stalled: false,
        };
        Ok(record.normalized())
    }
}
