//! The life cycle of a job.

use std::{
    collections::HashSet,
    fmt,
    str::FromStr,
    sync::{Mutex, OnceLock},
};

use serde::{Deserialize, Serialize};

/// Where a job stands. Moves forward only:
/// `preparing` -> `in_progress` -> `completed` | `failed` | `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Created; targets are being gathered, nothing sent yet.
    Preparing,
    /// Sending.
    InProgress,
    /// Finished; every target was processed (some may have failed).
    Completed,
    /// Stopped by an error before the end.
    Failed,
    /// Stopped on request: someone asked for it to be cancelled and its
    /// worker stopped.
    Cancelled,
    /// A status this release does not know, read from a record a later
    /// release wrote (during a rolling upgrade), kept by name and served
    /// as it is. This release treats it as final: it is not listed among
    /// the active jobs and this release never writes over it, since it
    /// cannot know whether any move out of it is allowed. Never parsed from
    /// a request ([`FromStr`] knows only the four above).
    Other(&'static str),
}

/// The most distinct unknown statuses kept by name; past it (a record
/// store written by something else entirely) they read as `unknown`.
const MAX_OTHER: usize = 32;
/// The longest unknown status kept by name.
const MAX_OTHER_LEN: usize = 32;

/// The name of an unknown status as a `&'static str`, so the status stays
/// `Copy`: the few names a later release adds are kept once for the life
/// of the process ([`MAX_OTHER`] of them at most, so this cannot grow).
fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let valid = !name.is_empty()
        && name.len() <= MAX_OTHER_LEN
        && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if !valid {
        return "unknown";
    }
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = names.get(name) {
        return known;
    }
    if names.len() >= MAX_OTHER {
        return "unknown";
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// The text is not one of the four statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}: expected preparing, in_progress, completed, failed or cancelled")]
pub struct UnknownStatus(pub String);

impl JobStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Preparing,
        JobStatus::InProgress,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// The wire name (`in_progress`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Preparing => "preparing",
            JobStatus::InProgress => "in_progress",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Other(name) => name,
        }
    }

    /// The status a stored record names: one of [`Self::ALL`], or
    /// [`Self::Other`] for a name this release does not know.
    pub fn from_stored(name: &str) -> Self {
        name.parse()
            .unwrap_or_else(|_| JobStatus::Other(intern(name)))
    }

    /// `preparing` or `in_progress`: listed among the active jobs.
    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }

    /// `completed`, `failed` or `cancelled` (or a status this release
    /// does not know): nothing will change any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled | JobStatus::Other(_)
        )
    }

    /// Position in the life cycle; a write may never lower it.
    pub fn rank(self) -> u8 {
        match self {
            JobStatus::Preparing => 0,
            JobStatus::InProgress => 1,
            JobStatus::Completed
            | JobStatus::Failed
            | JobStatus::Cancelled
            | JobStatus::Other(_) => 2,
        }
    }
}

impl Serialize for JobStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Reads any name ([`JobStatus::from_stored`]): records are read from
/// stores a later release may have written. Requests never reach this:
/// their bodies name the statuses they accept in their own types.
impl<'de> Deserialize<'de> for JobStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor rather than a `String`: no allocation per record read.
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = JobStatus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status name")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<JobStatus, E> {
                Ok(JobStatus::from_stored(name))
            }
        }
        deserializer.deserialize_str(Name)
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

    #[test]
    fn an_unknown_stored_status_is_kept_by_name_and_final() {
        let status: JobStatus = serde_json::from_str("\"paused_by_rule\"").unwrap();
        assert_eq!(status, JobStatus::Other("paused_by_rule"));
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            "\"paused_by_rule\""
        );
        assert!(status.is_terminal() && !status.is_active());
        assert!(
            "paused_by_rule".parse::<JobStatus>().is_err(),
            "never from a request"
        );
        let odd: JobStatus = serde_json::from_str("\"<b>x</b>\"").unwrap();
        assert_eq!(odd.as_str(), "unknown");
    }
}
