//! `watch --logs`: the job's log lines, each printed once, in order.
//!
//! Lines come from two places: the stream's `log` events
//! (`data: {"lines": [...]}`) while it is open, and
//! `GET /api/v1/jobs/{id}/logs?after=<seq>` when polling, at the start
//! (what was logged before the watch began) and at the end (what was
//! logged after the last event). Both can repeat a line (a stream that
//! reopens, a page read after an event); the sequence number decides.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One log line as the API gives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LogLine {
    /// Its place in the job's log: increasing, never reused.
    pub seq: u64,
    /// When the worker logged it.
    pub at: DateTime<Utc>,
    /// `debug`, `info`, `warn` or `error` (others are shown as they come).
    pub level: String,
    /// The text.
    pub message: String,
}

/// A batch of lines: a `log` event's data or a page of `/logs`.
#[derive(Debug, Clone, Deserialize)]
pub struct LogPage {
    /// The lines, oldest first.
    pub lines: Vec<LogLine>,
    /// The `after=` of the next page, or none when this one is the last.
    #[serde(default)]
    pub next: Option<u64>,
}

/// The last sequence number printed; lines at or before it are repeats.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogCursor {
    last: Option<u64>,
}

impl LogCursor {
    /// The `after=` to ask with, and the sequence number for
    /// `Last-Event-ID` (0 before any line).
    pub fn after(&self) -> u64 {
        self.last.unwrap_or(0)
    }

    /// The lines of `lines` not printed yet, in order; they count as
    /// printed from now on.
    pub fn fresh(&mut self, lines: Vec<LogLine>) -> Vec<LogLine> {
        let mut fresh = Vec::new();
        for line in lines {
            if self.last.is_none_or(|last| line.seq > last) {
                self.last = Some(line.seq);
                fresh.push(line);
            }
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64) -> LogLine {
        LogLine {
            seq,
            at: Utc::now(),
            level: "info".into(),
            message: format!("line {seq}"),
        }
    }

    #[test]
    fn each_line_is_printed_once_in_order() {
        let mut cursor = LogCursor::default();
        assert_eq!(cursor.after(), 0);
        let seqs = |lines: Vec<LogLine>| lines.iter().map(|l| l.seq).collect::<Vec<_>>();
        assert_eq!(seqs(cursor.fresh(vec![line(1), line(2)])), [1, 2]);
        assert_eq!(seqs(cursor.fresh(vec![line(2), line(3)])), [3], "a repeat");
        assert_eq!(seqs(cursor.fresh(vec![line(1)])), Vec::<u64>::new());
        assert_eq!(cursor.after(), 3);
    }

    #[test]
    fn an_event_and_a_page_have_the_shapes_the_api_sends() {
        let page: LogPage = serde_json::from_str(
            r#"{"lines":[{"seq":4,"at":"2026-12-07T10:00:00Z","level":"warn","message":"slow"}],"next":null}"#,
        )
        .unwrap();
        assert_eq!(page.lines[0].level, "warn");
        assert_eq!(page.next, None);
        let event: LogPage = serde_json::from_str(r#"{"lines":[]}"#).unwrap();
        assert!(event.lines.is_empty());
    }
}
