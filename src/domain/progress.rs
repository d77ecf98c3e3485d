//! The progress record: the JSON stored in Redis and served to dashboards.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{JobId, JobStatus, ScheduleId};

/// One job's progress, exactly as it travels: camelCase JSON, the field
/// names dashboards written for the original design already read.
///
/// Every field but `jobId` and `status` has a default, so records written by
/// other programs that lack the newer fields still deserialize.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressRecord {
    /// The job.
    pub job_id: JobId,
    /// Where the job stands.
    pub status: JobStatus,
    /// How many targets the job has in all.
    #[serde(default)]
    pub total_target_count: u64,
    /// Targets processed so far: `successCount + failureCount`.
    #[serde(default)]
    pub current_sent_count: u64,
    /// Targets processed successfully.
    #[serde(default)]
    pub success_count: u64,
    /// Targets that failed.
    #[serde(default)]
    pub failure_count: u64,
    /// `currentSentCount * 100 / totalTargetCount`, rounded down; 0 when the
    /// total is 0. Always derived from the counts (see [`Self::normalized`]).
    #[serde(default)]
    pub progress_percentage: u8,
    /// How many chunks the job is sent in, when it is chunked.
    #[serde(default)]
    pub total_chunks: Option<u64>,
    /// The chunk being sent (1-based), when it is chunked.
    #[serde(default)]
    pub current_chunk: Option<u64>,
    /// When the job was started.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When this record was written.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// When the job completed or failed.
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    /// When the job is expected to end; `null` until there is enough data.
    #[serde(default)]
    pub estimated_end_at: Option<DateTime<Utc>>,
    /// Seconds left until `estimatedEndAt`, as of `updatedAt`.
    #[serde(default)]
    pub estimated_remaining_seconds: Option<u64>,
    /// Recent processing rate, targets per second.
    #[serde(default)]
    pub rate_per_second: Option<f64>,
    /// Why the job failed.
    #[serde(default)]
    pub error_message: Option<String>,
    /// The scheduled send this job carries out, if any.
    #[serde(default)]
    pub schedule_id: Option<ScheduleId>,
}

/// `processed * 100 / total`, rounded down and capped at 100; 0 for an empty job.
pub fn percentage(processed: u64, total: u64) -> u8 {
    if total == 0 {
        return 0;
    }
    // u128: processed * 100 cannot overflow.
    let pct = (u128::from(processed) * 100 / u128::from(total)).min(100);
    pct as u8
}

impl ProgressRecord {
    /// A fresh record for a job that has not processed anything yet.
    pub fn new(job_id: JobId, status: JobStatus, total_target_count: u64) -> Self {
        Self {
            job_id,
            status,
            total_target_count,
            current_sent_count: 0,
            success_count: 0,
            failure_count: 0,
            progress_percentage: 0,
            total_chunks: None,
            current_chunk: None,
            started_at: None,
            updated_at: None,
            completed_at: None,
            estimated_end_at: None,
            estimated_remaining_seconds: None,
            rate_per_second: None,
            error_message: None,
            schedule_id: None,
        }
    }

    /// Re-derives what is derived, so a record read from another writer is
    /// served with consistent numbers: the percentage always follows the
    /// counts, and `currentSentCount` is at least `success + failure`.
    pub fn normalized(mut self) -> Self {
        let split = self.success_count.saturating_add(self.failure_count);
        if split > self.current_sent_count {
            self.current_sent_count = split;
        }
        self.progress_percentage = percentage(self.current_sent_count, self.total_target_count);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentage_rounds_down_and_handles_empty_jobs() {
        assert_eq!(percentage(0, 0), 0);
        assert_eq!(percentage(5, 0), 0);
        assert_eq!(percentage(999, 1000), 99);
        assert_eq!(percentage(1000, 1000), 100);
        assert_eq!(percentage(2000, 1000), 100);
        assert_eq!(percentage(u64::MAX, u64::MAX), 100);
    }

    #[test]
    fn reads_a_record_written_without_the_newer_fields() {
        let json = r#"{"jobId":"old-1","status":"in_progress","totalTargetCount":10,
            "currentSentCount":4,"successCount":3,"failureCount":1,"progressPercentage":40,
            "startedAt":"2026-01-01T00:00:00.000Z"}"#;
        let record: ProgressRecord = serde_json::from_str(json).unwrap();
        assert_eq!(record.current_sent_count, 4);
        assert_eq!(record.schedule_id, None);
        assert_eq!(record.estimated_end_at, None);
        assert!(record.started_at.is_some());
    }

    #[test]
    fn normalizing_derives_the_percentage_from_the_counts() {
        let mut record = ProgressRecord::new(JobId::parse("j").unwrap(), JobStatus::InProgress, 8);
        record.success_count = 3;
        record.failure_count = 1;
        record.progress_percentage = 99;
        let record = record.normalized();
        assert_eq!(record.current_sent_count, 4);
        assert_eq!(record.progress_percentage, 50);
    }
}
