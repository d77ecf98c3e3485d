//! Scheduled sends: a send planned for a time, carried out by one job.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{JobId, ProgressRecord, ScheduleId};

/// A scheduled send as the archive knows it, with its job's last checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The schedule.
    pub id: ScheduleId,
    /// A human name ("Black Friday push").
    pub name: Option<String>,
    /// When the send was planned to start.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// When its job actually started.
    pub actual_start_at: Option<DateTime<Utc>>,
    /// When its job ended (completed or failed).
    pub actual_end_at: Option<DateTime<Utc>>,
    /// How many targets the send has.
    pub total_target_count: Option<u64>,
    /// The job carrying it out, once started.
    pub job_id: Option<JobId>,
    /// The job's last PostgreSQL checkpoint, if any.
    pub checkpoint: Option<ProgressRecord>,
}

/// A scheduled send with its job's current progress: what the schedule
/// endpoints serve.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleProgress {
    /// The schedule.
    pub schedule_id: ScheduleId,
    /// A human name.
    pub name: Option<String>,
    /// When the send was planned to start.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// When its job actually started.
    pub actual_start_at: Option<DateTime<Utc>>,
    /// When its job ended.
    pub actual_end_at: Option<DateTime<Utc>>,
    /// How many targets the send has.
    pub total_target_count: Option<u64>,
    /// The job carrying it out.
    pub job_id: Option<JobId>,
    /// The job's progress: live from Redis where present, else the last
    /// checkpoint; `null` when neither knows the job.
    pub progress: Option<ProgressRecord>,
    /// Where `progress` came from: `redis`, `database`, or `null`.
    pub progress_source: Option<&'static str>,
}

impl ScheduleProgress {
    /// Joins a schedule with the live record of its job, if Redis has one;
    /// otherwise falls back to the checkpoint's counts (never zeros).
    pub fn from_parts(schedule: Schedule, live: Option<ProgressRecord>) -> Self {
        let (progress, progress_source) = match (live, schedule.checkpoint) {
            (Some(live), _) => (Some(live), Some("redis")),
            (None, Some(checkpoint)) => (Some(checkpoint), Some("database")),
            (None, None) => (None, None),
        };
        Self {
            schedule_id: schedule.id,
            name: schedule.name,
            scheduled_at: schedule.scheduled_at,
            actual_start_at: schedule.actual_start_at,
            actual_end_at: schedule.actual_end_at,
            total_target_count: schedule.total_target_count,
            job_id: schedule.job_id,
            progress,
            progress_source,
        }
    }
}
