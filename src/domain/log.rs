//! A job's log: the lines its worker writes beside the counts, each given
//! a sequence number by the hot store, and the bounds every store keeps.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::JobId;

/// The most lines one call may send (`POST .../logs`, one flush).
pub const MAX_LINES_PER_CALL: usize = 100;
/// The longest message of one line, in bytes of UTF-8.
pub const MAX_LINE_BYTES: usize = 2048;
/// The hot store keeps at most this many lines of a job ...
pub const KEPT_LINES: usize = 1000;
/// ... and at most this many bytes of them (each line counted as its
/// stored JSON), whichever is reached first: oldest lines go first.
pub const KEPT_BYTES: usize = 256 * 1024;
/// The most lines one read of a log answers.
pub const MAX_LOG_PAGE: u32 = 1000;
/// The archive keeps this many of a finished job's last lines.
pub const ARCHIVED_LINES: usize = 100;

/// The most bytes all jobs' logs together take in one hot store
/// (`LOG_MAX_TOTAL_MB`): past it, whole logs of finished jobs go, the
/// longest finished first (the archive keeps their last lines). Active
/// jobs' logs are never cut for it: each is bounded by [`KEPT_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogCap {
    bytes: u64,
}

impl LogCap {
    /// The default: 256 MiB.
    pub const DEFAULT_MB: u64 = 256;

    /// A cap of `mb` MiB.
    pub fn megabytes(mb: u64) -> Self {
        Self {
            bytes: mb.saturating_mul(1024 * 1024),
        }
    }

    /// The cap in bytes.
    pub fn bytes(self) -> u64 {
        self.bytes
    }

    /// Each bucket's share when the logs are spread over `buckets` (one
    /// Redis: 1; a cluster: its buckets, each counted on its own slot).
    pub fn per_bucket(self, buckets: usize) -> u64 {
        self.bytes / u64::try_from(buckets.max(1)).unwrap_or(1)
    }
}

impl Default for LogCap {
    fn default() -> Self {
        Self::megabytes(Self::DEFAULT_MB)
    }
}

/// How serious a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// What the job is doing.
    Info,
    /// Something to look at; the job goes on.
    Warn,
    /// Something failed.
    Error,
}

/// A line as a worker sends it, checked: its message is at most
/// [`MAX_LINE_BYTES`]. The store gives it its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogLine {
    /// When it happened (the worker's clock, or when it was received).
    pub at: DateTime<Utc>,
    /// How serious it is.
    pub level: LogLevel,
    /// What it says: plain text, shown as text, never as markup.
    pub message: String,
}

/// Why a line cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogLineError {
    /// The message is longer than [`MAX_LINE_BYTES`].
    #[error("message: at most {MAX_LINE_BYTES} bytes, got {0}")]
    TooLong(usize),
}

impl NewLogLine {
    /// A line, unless its message is too long.
    pub fn new(
        at: DateTime<Utc>,
        level: LogLevel,
        message: impl Into<String>,
    ) -> Result<Self, LogLineError> {
        let message = message.into();
        if message.len() > MAX_LINE_BYTES {
            return Err(LogLineError::TooLong(message.len()));
        }
        Ok(Self { at, level, message })
    }

    /// The stored JSON without its sequence number: `{"at":..,"level":..,
    /// "message":..}`, which the store completes to a [`LogLine`] by
    /// putting `"seq":n,` after the brace (as the Redis script does).
    pub fn to_unnumbered_json(&self) -> String {
        #[derive(Serialize)]
        struct Unnumbered<'a> {
            at: &'a DateTime<Utc>,
            level: LogLevel,
            message: &'a str,
        }
        serde_json::to_string(&Unnumbered {
            at: &self.at,
            level: self.level,
            message: &self.message,
        })
        // Plain data with string keys: serializing cannot fail.
        .unwrap_or_else(|_| "{}".to_owned())
    }
}

/// The stored JSON of a line: `"seq":n,` put after the opening brace of
/// its [unnumbered](NewLogLine::to_unnumbered_json) form.
pub fn numbered(seq: u64, unnumbered: &str) -> String {
    format!("{{\"seq\":{seq},{}", unnumbered.get(1..).unwrap_or(""))
}

/// A stored line, as `GET .../logs` serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Its place in the job's log: 1 for the first line ever written,
    /// growing by one per line.
    pub seq: u64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// How serious it is.
    pub level: LogLevel,
    /// What it says.
    pub message: String,
}

/// One page of a job's log, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    /// The lines after the asked sequence number.
    pub lines: Vec<LogLine>,
    /// Ask again with `after=next` for the lines that did not fit; `null`
    /// when this page holds the last kept line.
    pub next: Option<u64>,
}

/// Lines just stored for one job, as they travel on the bus beside the
/// records: `{"log":"<jobId>","lines":[<line>, ...]}`. A record's payload
/// starts with `{"version"`, so the two never look alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogBatch {
    /// The job.
    #[serde(rename = "log")]
    pub job_id: JobId,
    /// Its new lines, oldest first.
    pub lines: Vec<LogLine>,
}

impl LogBatch {
    /// The bus payload of `lines` (each a line's stored JSON, numbered),
    /// built as the Redis log script builds it.
    pub fn payload<S: AsRef<str>>(id: &JobId, lines: &[S]) -> String {
        let mut payload = Self::payload_head(id);
        for (at, line) in lines.iter().enumerate() {
            if at > 0 {
                payload.push(',');
            }
            payload.push_str(line.as_ref());
        }
        payload.push_str("]}");
        payload
    }

    /// What a payload starts with, up to its first line: what the Redis
    /// log script is given, so both stores send one shape.
    pub fn payload_head(id: &JobId) -> String {
        let id = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".to_owned());
        format!("{{\"log\":{id},\"lines\":[")
    }

    /// Whether a bus payload is a batch of lines rather than a record.
    pub fn is_payload(payload: &[u8]) -> bool {
        payload.starts_with(b"{\"log\":")
    }
}

impl LogPage {
    /// The page of `lines` (oldest first) out of a log whose last line is
    /// numbered `last`.
    pub fn of(lines: Vec<LogLine>, last: u64) -> Self {
        let next = lines.last().map(|line| line.seq).filter(|&seq| seq < last);
        Self { lines, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numbered_line_reads_back_as_written() {
        let line = NewLogLine::new(Utc::now(), LogLevel::Warn, "disk \"full\" <b>").unwrap();
        let stored = numbered(7, &line.to_unnumbered_json());
        let read: LogLine = serde_json::from_str(&stored).unwrap();
        assert_eq!(read.seq, 7);
        assert_eq!(read.level, LogLevel::Warn);
        assert_eq!(read.message, line.message);
        assert_eq!(read.at, line.at);
    }

    #[test]
    fn a_batch_payload_reads_back_and_is_told_from_a_record() {
        let id = JobId::parse("job-1").unwrap();
        let line = NewLogLine::new(Utc::now(), LogLevel::Info, "hi").unwrap();
        let lines = [
            numbered(3, &line.to_unnumbered_json()),
            numbered(4, &line.to_unnumbered_json()),
        ];
        let payload = LogBatch::payload(&id, &lines);
        assert!(LogBatch::is_payload(payload.as_bytes()));
        assert!(!LogBatch::is_payload(br#"{"version":1,"jobId":"job-1"}"#));
        let batch: LogBatch = serde_json::from_str(&payload).unwrap();
        assert_eq!(batch.job_id, id);
        assert_eq!(
            batch.lines.iter().map(|l| l.seq).collect::<Vec<_>>(),
            [3, 4]
        );
    }

    #[test]
    fn a_message_past_the_limit_is_refused() {
        let long = "é".repeat(MAX_LINE_BYTES / 2 + 1);
        assert_eq!(
            NewLogLine::new(Utc::now(), LogLevel::Info, long),
            Err(LogLineError::TooLong(MAX_LINE_BYTES + 2))
        );
        assert!(NewLogLine::new(Utc::now(), LogLevel::Info, "x".repeat(MAX_LINE_BYTES)).is_ok());
    }
}
