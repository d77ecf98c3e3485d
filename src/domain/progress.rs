//! The progress record: the JSON stored in Redis and served to dashboards.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, ser::SerializeMap as _};

use super::{
    AttemptSummary, CancelRequest, JobId, JobStatus, ScheduleId,
    children::{ChildrenSummary, FailurePolicy},
    detail::{JobKind, JobName, Message, Metadata, ResultUrl},
    steps::{self, Step},
};

/// One job's progress, exactly as it travels: camelCase JSON, the field
/// names dashboards written for the original design already read.
///
/// Every field but `jobId` and `status` has a default, so records written by
/// other programs that lack the newer fields still deserialize; the fields
/// added since (name, kind, steps, ...) are left out when unset, so such a
/// record serializes exactly as before. Fields this release does not know
/// (a later release's, during a rolling upgrade) are kept in
/// [`Self::extra`] and written back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressRecord {
    /// Grows with every write of the record to the hot store (it is at
    /// least the write's `updatedAt` in ms, so it keeps growing even when
    /// the hot store lost the record); the event id of live streams. 0 when
    /// unknown (a record read from the archive).
    #[serde(default)]
    pub version: u64,
    /// The job.
    pub job_id: JobId,
    /// Where the job stands.
    pub status: JobStatus,
    /// How many targets the job has in all; `None` for a job that only
    /// says which of its steps it is in (left out of the JSON, never `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_target_count: Option<u64>,
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
    /// total is 0. A job without a total but with steps counts its steps
    /// (ended ones whole, the running one half); with neither, 0. Always
    /// derived (see [`Self::normalized`]).
    #[serde(default)]
    pub progress_percentage: u8,
    /// How many chunks the job is sent in, when it is chunked.
    #[serde(default)]
    pub total_chunks: Option<u64>,
    /// The chunk being sent (1-based), when it is chunked.
    #[serde(default)]
    pub current_chunk: Option<u64>,
    /// When the job was started.
    #[serde(default, with = "super::rfc3339::option")]
    pub started_at: Option<DateTime<Utc>>,
    /// When this record was written.
    #[serde(default, with = "super::rfc3339::option")]
    pub updated_at: Option<DateTime<Utc>>,
    /// When the job completed or failed.
    #[serde(default, with = "super::rfc3339::option")]
    pub completed_at: Option<DateTime<Utc>>,
    /// When the job is expected to end; `null` until there is enough data.
    #[serde(default, with = "super::rfc3339::option")]
    pub estimated_end_at: Option<DateTime<Utc>>,
    /// An 80 % range for the end: the job should end inside it about four
    /// times in five. Narrow on a steady job; wide before its pace has
    /// settled, after a change, and where interruptions happened. Absent
    /// where there is no estimate.
    #[serde(default)]
    pub estimated_end_range: Option<EndRange>,
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
    /// The writer rewrites this record at least this often while the job's
    /// worker is alive (its heartbeat); `null` for writers that don't say.
    #[serde(default)]
    pub refresh_interval_ms: Option<u64>,
    /// The job is active but its record has not been refreshed for much
    /// longer than its refresh interval: its worker has most likely died.
    /// Computed when the record is read; see [`Self::is_stalled`].
    #[serde(default)]
    pub stalled: bool,
    /// A human title, shown instead of the id where there is room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<JobName>,
    /// The job's type, for filters and estimates from earlier runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<JobKind>,
    /// The planned stages and where each stands (see [`steps`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// The stage the job is in: the running step's name, or free text for
    /// a job without steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The latest sentence the job said about itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// Where the finished job's result can be opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_url: Option<ResultUrl>,
    /// Free-form facts, merged key by key as reports arrive.
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
    /// Which run of the job this is: 1 for the first (left out until a
    /// job is declared with an attempt), higher once it ran again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// What is kept of the earlier attempts, oldest first (the last 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptSummary>,
    /// Someone asked the job to stop; its worker should, and acknowledge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_requested: Option<CancelRequest>,
    /// The job this one is a part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_job_id: Option<JobId>,
    /// A parent's children by where they stand, rolled up from their own
    /// writes (see [`ChildEntry`](super::ChildEntry)); absent for a job without children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<ChildrenSummary>,
    /// The job ends by itself once [`Self::expected_children`] children
    /// were declared and all of them ended.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub complete_with_children: bool,
    /// How many children the job will have (with
    /// [`Self::complete_with_children`]: it does not end before that many
    /// were declared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_children: Option<u64>,
    /// What a failed child does to a job that completes with its children
    /// (`fail` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_policy: Option<FailurePolicy>,
    /// Fields this release does not know, kept as they came and written
    /// back unchanged, so an older instance never erases what a later one
    /// added.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// An 80 % range for a job's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndRange {
    /// The end is unlikely (one time in ten) to come sooner.
    #[serde(with = "super::rfc3339")]
    pub earliest: DateTime<Utc>,
    /// The end is unlikely (one time in ten) to come later.
    #[serde(with = "super::rfc3339")]
    pub latest: DateTime<Utc>,
}

/// When an active job counts as stalled: its record is older than
/// `factor` times its refresh interval, kept between `floor` and `ceiling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StallPolicy {
    /// Never stalled sooner than this after the last update.
    pub floor: std::time::Duration,
    /// Always stalled this long after the last update.
    pub ceiling: std::time::Duration,
    /// The refresh interval assumed for records that don't carry one.
    pub default_refresh: std::time::Duration,
}

impl Default for StallPolicy {
    /// Three missed heartbeats (the writer's default is 15 s, so 45 s),
    /// kept between 30 s and 1 h; records from writers that don't say how
    /// often they refresh are assumed to refresh every minute.
    fn default() -> Self {
        Self {
            floor: std::time::Duration::from_secs(30),
            ceiling: std::time::Duration::from_secs(3600),
            default_refresh: std::time::Duration::from_secs(60),
        }
    }
}

impl StallPolicy {
    /// Missed refreshes after which a job counts as stalled: one can be
    /// lost to a Redis blip and one to a slow event loop; a third means the
    /// writer is gone.
    pub const MISSED_REFRESHES: u32 = 3;

    /// How long after its last update an active job counts as stalled.
    pub fn limit(&self, refresh_interval_ms: Option<u64>) -> std::time::Duration {
        let refresh = refresh_interval_ms
            .map(std::time::Duration::from_millis)
            .unwrap_or(self.default_refresh);
        refresh
            .saturating_mul(Self::MISSED_REFRESHES)
            .clamp(self.floor, self.ceiling.max(self.floor))
    }
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
    pub fn new(job_id: JobId, status: JobStatus, total_target_count: Option<u64>) -> Self {
        Self {
            version: 0,
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
            estimated_end_range: None,
            estimated_remaining_seconds: None,
            rate_per_second: None,
            error_message: None,
            schedule_id: None,
            refresh_interval_ms: None,
            stalled: false,
            name: None,
            kind: None,
            steps: Vec::new(),
            stage: None,
            message: None,
            result_url: None,
            metadata: Metadata::new(),
            attempt: None,
            attempts: Vec::new(),
            cancel_requested: None,
            parent_job_id: None,
            children: None,
            complete_with_children: false,
            expected_children: None,
            failure_policy: None,
            extra: serde_json::Map::new(),
        }
    }

    /// Which run of the job this is (1 unless it ran again).
    pub fn attempt(&self) -> u32 {
        self.attempt.unwrap_or(1)
    }

    /// What is kept of this attempt once another begins.
    pub fn attempt_summary(&self) -> AttemptSummary {
        AttemptSummary {
            attempt: self.attempt(),
            status: self.status,
            started_at: self.started_at,
            ended_at: self.completed_at.or(self.updated_at),
            error_message: self.error_message.clone(),
            success_count: self.success_count,
            failure_count: self.failure_count,
        }
    }

    /// The job's total, 0 for a job without one (where only its steps say
    /// how far it is).
    pub fn total(&self) -> u64 {
        self.total_target_count.unwrap_or(0)
    }

    /// The JSON kept in the hot store: the wire format less its `null`
    /// fields and the fields derived when read (see [`StoredRecord`]).
    pub fn to_stored_json(&self) -> Result<String, serde_json::Error> {
        // Room for a typical record at once (a few hundred bytes), rather
        // than growing the buffer a few bytes at a time.
        let mut json = Vec::with_capacity(1024);
        serde_json::to_writer(&mut json, &StoredRecord(self))?;
        // serde_json writes valid UTF-8 only, so this never fails.
        String::from_utf8(json).map_err(serde::ser::Error::custom)
    }

    /// What [`from_stored_json`](Self::from_stored_json) reads back from
    /// this record's [`to_stored_json`](Self::to_stored_json): the record
    /// less what the stored form leaves out (`stalled`, and
    /// `estimatedRemainingSeconds`, which is derived again). For a store
    /// that keeps records rather than their JSON (the in-process one), so
    /// it answers what Redis would, without parsing its own JSON back.
    /// (Exact for floats too: serde_json parses with `float_roundtrip`.)
    pub fn stored_form(mut self) -> Self {
        self.stalled = false;
        self.estimated_remaining_seconds = None;
        self.normalized()
    }

    /// A record from the hot store's JSON (its stored form, or the full
    /// wire form), with what is derived re-derived (see
    /// [`Self::normalized`]): how every hot store and the bus read a value.
    pub fn from_stored_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice::<ProgressRecord>(json).map(ProgressRecord::normalized)
    }

    /// Whether the job is active but has not been updated for longer than
    /// the policy allows, as of `now`.
    pub fn is_stalled(&self, now: DateTime<Utc>, policy: &StallPolicy) -> bool {
        let Some(updated_at) = self.updated_at else {
            return false;
        };
        let Ok(silent) = (now - updated_at).to_std() else {
            return false; // updated "in the future": clocks differ; not stalled
        };
        self.status.is_active() && silent > policy.limit(self.refresh_interval_ms)
    }

    /// Sets [`Self::stalled`] as of `now`.
    pub fn with_stall_check(mut self, now: DateTime<Utc>, policy: &StallPolicy) -> Self {
        self.stalled = self.is_stalled(now, policy);
        self
    }

    /// Re-derives what is derived, so a record read from another writer is
    /// served with consistent numbers: the percentage always follows the
    /// counts, and `currentSentCount` is at least `success + failure`.
    pub fn normalized(mut self) -> Self {
        let split = self.success_count.saturating_add(self.failure_count);
        if split > self.current_sent_count {
            self.current_sent_count = split;
        }
        self.progress_percentage = match self.total_target_count {
            Some(total) => percentage(self.current_sent_count, total),
            None => steps::percentage(&self.steps).unwrap_or(0),
        };
        if self.estimated_remaining_seconds.is_none()
            && let (Some(end), Some(updated)) = (self.estimated_end_at, self.updated_at)
        {
            self.estimated_remaining_seconds =
                Some(u64::try_from((end - updated).num_seconds()).unwrap_or(0));
        }
        self
    }
}

/// The stored form of a record: the wire format less its `null` fields and
/// the fields derived when read (`estimatedRemainingSeconds`, `stalled`),
/// about 100 bytes a job less. Every field it leaves out defaults when read
/// back, so it reads like the full form (see [`ProgressRecord::normalized`]).
///
/// `version` comes first, and only once known: the hot store's write
/// script puts the version it assigns in front of the rest.
///
/// Written by hand rather than derived, so the wire format stays the one
/// derive: a test checks that both name the same fields.
pub struct StoredRecord<'a>(pub &'a ProgressRecord);

impl Serialize for StoredRecord<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        // A map, not a struct: the fields kept from a later release have
        // names known only at run time.
        let mut out = serializer.serialize_map(None)?;
        if r.version > 0 {
            out.serialize_entry("version", &r.version)?;
        }
        out.serialize_entry("jobId", &r.job_id)?;
        out.serialize_entry("status", &r.status)?;
        if let Some(total) = r.total_target_count {
            out.serialize_entry("totalTargetCount", &total)?;
        }
        out.serialize_entry("currentSentCount", &r.current_sent_count)?;
        out.serialize_entry("successCount", &r.success_count)?;
        out.serialize_entry("failureCount", &r.failure_count)?;
        out.serialize_entry("progressPercentage", &r.progress_percentage)?;
        macro_rules! some {
            ($($name:literal => $field:expr),* $(,)?) => {$(
                if let Some(value) = &$field {
                    out.serialize_entry($name, value)?;
                }
            )*};
        }
        some! {
            "totalChunks" => r.total_chunks,
            "currentChunk" => r.current_chunk,
        }
        let dates = [
            ("startedAt", &r.started_at),
            ("updatedAt", &r.updated_at),
            ("completedAt", &r.completed_at),
            ("estimatedEndAt", &r.estimated_end_at),
        ];
        for (name, at) in dates {
            if let Some(at) = at {
                out.serialize_entry(name, &super::rfc3339::At(at))?;
            }
        }
        some! {
            "estimatedEndRange" => r.estimated_end_range,
            "ratePerSecond" => r.rate_per_second,
            "errorMessage" => r.error_message,
            "scheduleId" => r.schedule_id,
            "refreshIntervalMs" => r.refresh_interval_ms,
            "name" => r.name,
            "kind" => r.kind,
            "stage" => r.stage,
            "message" => r.message,
            "resultUrl" => r.result_url,
            "attempt" => r.attempt,
            "cancelRequested" => r.cancel_requested,
            "parentJobId" => r.parent_job_id,
            "children" => r.children,
            "expectedChildren" => r.expected_children,
            "failurePolicy" => r.failure_policy,
        }
        if r.complete_with_children {
            out.serialize_entry("completeWithChildren", &true)?;
        }
        if !r.attempts.is_empty() {
            out.serialize_entry("attempts", &r.attempts)?;
        }
        if !r.steps.is_empty() {
            out.serialize_entry("steps", &r.steps)?;
        }
        if !r.metadata.is_empty() {
            out.serialize_entry("metadata", &r.metadata)?;
        }
        for (key, value) in &r.extra {
            out.serialize_entry(key, value)?;
        }
        out.end()
    }
}

#[cfg(test)]
mod tests;
