//! Finished jobs, most recent first: what a page of them asks for, and the
//! cursor that continues it.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{JobFilter, JobId, JobStatus, ProgressRecord};

/// Which finished jobs to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finished {
    /// `completed` only.
    Completed,
    /// `failed` only.
    Failed,
    /// `cancelled` only.
    Cancelled,
    /// Every final status.
    Either,
}

impl Finished {
    /// The statuses listed.
    pub fn statuses(self) -> &'static [JobStatus] {
        match self {
            Finished::Completed => &[JobStatus::Completed],
            Finished::Failed => &[JobStatus::Failed],
            Finished::Cancelled => &[JobStatus::Cancelled],
            Finished::Either => &[
                JobStatus::Completed,
                JobStatus::Failed,
                JobStatus::Cancelled,
            ],
        }
    }
}

/// One page of finished jobs: those of `which` whose final record was
/// written at or after `since`, newest first, after `after` when given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FinishedQuery {
    /// Completed, failed, cancelled, or all of them.
    pub which: Finished,
    /// Jobs whose final record (`updatedAt`) is older are left out.
    pub since: DateTime<Utc>,
    /// At most this many jobs.
    pub limit: u32,
    /// Continue after this job (the previous page's `nextCursor`).
    pub after: Option<FinishedCursor>,
    /// Only the jobs it admits.
    pub filter: JobFilter,
}

/// A page of finished jobs and where the next one starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FinishedPage {
    /// The jobs, newest final record first (ties by job id, descending).
    pub jobs: Vec<ProgressRecord>,
    /// Where the next page starts; `None` when this one is the last.
    pub next_cursor: Option<FinishedCursor>,
}

/// The position of a finished job in the list: its final record's time and
/// its id (the order of the list, and of the index that serves it).
///
/// Clients treat it as opaque; on the wire it reads
/// `<microseconds since the epoch>~<jobId>`, so that every string of that
/// shape is a valid cursor (`~` never occurs in an id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FinishedCursor {
    /// The job's `updatedAt`, to the microsecond (PostgreSQL's precision).
    pub updated_at: DateTime<Utc>,
    /// The job.
    pub job_id: JobId,
}

/// The text is not a cursor this server gave out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor from a previous page (expected <digits>~<jobId>)")]
pub struct BadCursor;

/// Most digits of the time: 16 reach past the year 2286, and keep the
/// value far inside what chrono and PostgreSQL hold.
const MAX_DIGITS: usize = 16;

impl FromStr for FinishedCursor {
    type Err = BadCursor;

    fn from_str(raw: &str) -> Result<Self, BadCursor> {
        let (micros, id) = raw.split_once('~').ok_or(BadCursor)?;
        let digits = micros.strip_prefix('-').unwrap_or(micros);
        if digits.is_empty()
            || digits.len() > MAX_DIGITS
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(BadCursor);
        }
        let micros: i64 = micros.parse().map_err(|_| BadCursor)?;
        Ok(Self {
            updated_at: DateTime::from_timestamp_micros(micros).ok_or(BadCursor)?,
            job_id: JobId::parse(id).map_err(|_| BadCursor)?,
        })
    }
}

impl fmt::Display for FinishedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}~{}", self.updated_at.timestamp_micros(), self.job_id)
    }
}

impl Serialize for FinishedCursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_wrote() {
        let cursor = FinishedCursor {
            updated_at: DateTime::from_timestamp_micros(1_795_865_165_794_123).unwrap(),
            job_id: JobId::parse("a.b:c-1").unwrap(),
        };
        let text = cursor.to_string();
        assert_eq!(text, "1795865165794123~a.b:c-1");
        assert_eq!(text.parse::<FinishedCursor>(), Ok(cursor));
        assert!("-5~x".parse::<FinishedCursor>().is_ok(), "before 1970");
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "~",
            "12",
            "12~",
            "~job",
            "1.5~job",
            "+1~job",
            "--1~job",
            "12345678901234567~job",
            "12~no space",
            "12~a~b",
        ] {
            assert_eq!(bad.parse::<FinishedCursor>(), Err(BadCursor), "{bad:?}");
        }
    }
}
