//! [`JobTail`]: what the archive keeps of a finished job's log and
//! progress history, so its page still shows why and how it ran once the
//! hot store has let go of it.

use serde::{Deserialize, Serialize};

use super::{ARCHIVED_LINES, ARCHIVED_SAMPLES, LogLine, LogPage, Sample, downsample};

/// A finished job's last [`ARCHIVED_LINES`] log lines and its history
/// downsampled to at most [`ARCHIVED_SAMPLES`] points.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTail {
    /// The kept lines, oldest first, numbered as they were.
    pub lines: Vec<LogLine>,
    /// The number of the last line the job ever wrote.
    pub last_seq: u64,
    /// The downsampled history, oldest first.
    pub samples: Vec<Sample>,
}

impl JobTail {
    /// The tail of a job whose last lines are `lines` (oldest first) and
    /// whose history is `samples`: at most the last [`ARCHIVED_LINES`] of
    /// the one and [`ARCHIVED_SAMPLES`] points of the other.
    pub fn of(mut lines: Vec<LogLine>, samples: &[Sample]) -> Self {
        let excess = lines.len().saturating_sub(ARCHIVED_LINES);
        lines.drain(..excess);
        Self {
            last_seq: lines.last().map_or(0, |line| line.seq),
            lines,
            samples: downsample(samples, ARCHIVED_SAMPLES),
        }
    }

    /// Whether there is nothing to keep.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.samples.is_empty()
    }

    /// At most `limit` of the kept lines numbered after `after`, as a page
    /// of the log.
    pub fn page(&self, after: u64, limit: u32) -> LogPage {
        let lines = self
            .lines
            .iter()
            .filter(|line| line.seq > after)
            .take(limit as usize)
            .cloned()
            .collect();
        LogPage::of(lines, self.last_seq)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::LogLevel;

    fn line(seq: u64) -> LogLine {
        LogLine {
            seq,
            at: Utc::now(),
            level: LogLevel::Info,
            message: format!("line {seq}"),
        }
    }

    #[test]
    fn keeps_the_last_lines_and_pages_them() {
        let tail = JobTail::of((1..=250).map(line).collect(), &[]);
        assert_eq!(tail.lines.len(), ARCHIVED_LINES);
        assert_eq!(tail.lines[0].seq, 151);
        assert_eq!(tail.last_seq, 250);
        let page = tail.page(0, 10);
        assert_eq!(page.lines[0].seq, 151);
        assert_eq!(page.next, Some(160));
        let page = tail.page(245, 10);
        assert_eq!(page.lines.len(), 5);
        assert_eq!(page.next, None);
    }
}
