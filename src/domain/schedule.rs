//! Scheduled sends: a send planned for a time, carried out by one job.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{JobId, ProgressRecord, ScheduleId, Source};

/// A scheduled send as the archive knows it, with its job's last checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// The schedule.
    #[serde(rename = "scheduleId")]
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
    /// The job's last checkpoint, if any (served as `progress` when the hot
    /// store has no live record).
    #[serde(skip)]
    pub checkpoint: Option<ProgressRecord>,
}

/// A scheduled send with its job's current progress: what the schedule
/// endpoints serve.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleProgress {
    /// The schedule's own fields.
    #[serde(flatten)]
    pub schedule: Schedule,
    /// The job's progress: live from the hot store where present, else the
    /// last checkpoint; `null` when neither knows the job.
    pub progress: Option<ProgressRecord>,
    /// Where `progress` came from: `redis`, `database`, or `null`.
    pub progress_source: Option<Source>,
}

impl ScheduleProgress {
    /// Joins a schedule with the live record of its job, if the hot store
    /// has one; otherwise falls back to the checkpoint's counts (never
    /// zeros).
    pub fn from_parts(mut schedule: Schedule, live: Option<ProgressRecord>) -> Self {
        let (progress, progress_source) = match (live, schedule.checkpoint.take()) {
            (Some(live), _) => (Some(live), Some(Source::Hot)),
            (None, Some(checkpoint)) => (Some(checkpoint), Some(Source::Archive)),
            (None, None) => (None, None),
        };
        Self {
            schedule,
            progress,
            progress_source,
        }
    }
}
