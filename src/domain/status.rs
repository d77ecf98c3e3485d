//! The life cycle of a job.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Where a job stands. Moves forward only:
/// `preparing` -> `in_progress` -> `completed` | `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Created; targets are being gathered, nothing sent yet.
    Preparing,
    /// Sending.
    InProgress,
    /// Finished; every target was processed (some may have failed).
    Completed,
    /// Stopped by an error before the end.
    Failed,
}

/// The text is not one of the four statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}: expected preparing, in_progress, completed or failed")]
pub struct UnknownStatus(pub String);

impl JobStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [JobStatus; 4] = [
        JobStatus::Preparing,
        JobStatus::InProgress,
        JobStatus::Completed,
        JobStatus::Failed,
    ];

    /// The wire name (`in_progress`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Preparing => "preparing",
            JobStatus::InProgress => "in_progress",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }

    /// `preparing` or `in_progress`: listed among the active jobs.
    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }

    /// `completed` or `failed`: nothing will change any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed)
    }

    /// Position in the life cycle; a write may never lower it.
    pub fn rank(self) -> u8 {
        match self {
            JobStatus::Preparing => 0,
            JobStatus::InProgress => 1,
            JobStatus::Completed | JobStatus::Failed => 2,
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for status in JobStatus::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(status.as_str().parse::<JobStatus>(), Ok(status));
        }
        assert!("done".parse::<JobStatus>().is_err());
    }
}
