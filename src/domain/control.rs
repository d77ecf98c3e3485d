//! What people do to a job besides watching it: ask it to stop
//! ([`CancelRequest`]), and run it again ([`AttemptSummary`], what is kept
//! of each earlier attempt).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::JobStatus;

/// The longest reason given for a cancel, in characters.
pub const MAX_CANCEL_REASON: usize = 500;
/// How many earlier attempts a record keeps.
pub const MAX_ATTEMPTS_KEPT: usize = 20;

/// Someone asked for the job to stop. It stays on the job until the job
/// ends (the worker acknowledges with `cancelled`, or finishes first), and
/// no write of the job's own worker erases it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    /// When it was asked.
    pub at: DateTime<Utc>,
    /// Who asked: the name of the token that asked.
    pub by: String,
    /// Why, if they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What is kept of an earlier attempt of a job that ran again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptSummary {
    /// Its number (the first is 1).
    pub attempt: u32,
    /// How it ended (`failed`, `cancelled`; or where it stood when the
    /// next attempt began).
    pub status: JobStatus,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended (or was last heard of).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Its successes.
    pub success_count: u64,
    /// Its failures.
    pub failure_count: u64,
}
