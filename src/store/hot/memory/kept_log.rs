//! [`KeptLog`]: a job's log as the in-process store keeps it, bounded as
//! the Redis log script bounds its hash.

use std::{collections::VecDeque, sync::Arc};

use crate::domain::{KEPT_BYTES, KEPT_LINES, NewLogLine, numbered};

/// The kept lines of one job, oldest first, as their stored JSON.
#[derive(Debug, Default, Clone)]
pub(super) struct KeptLog {
    lines: VecDeque<Arc<str>>,
    /// The last line's sequence number (0: none yet).
    last: u64,
    /// The kept lines' JSON, in bytes.
    bytes: usize,
}

impl KeptLog {
    /// Numbers and appends `lines`, then drops the oldest until at most
    /// [`KEPT_LINES`] and [`KEPT_BYTES`] are kept. Returns the last
    /// sequence number.
    pub(super) fn append(&mut self, lines: &[NewLogLine]) -> u64 {
        for line in lines {
            self.last += 1;
            let json: Arc<str> = numbered(self.last, &line.to_unnumbered_json()).into();
            self.bytes += json.len();
            self.lines.push_back(json);
        }
        while self.lines.len() > KEPT_LINES || self.bytes > KEPT_BYTES {
            let Some(old) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= old.len();
        }
        self.last
    }

    /// The kept lines' JSON, in bytes.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The last line's sequence number (0: none yet).
    pub(super) fn last(&self) -> u64 {
        self.last
    }

    /// At most `limit` lines numbered after `after`, as stored, and the
    /// last line's number.
    pub(super) fn after(&self, after: u64, limit: u32) -> (Vec<Arc<str>>, u64) {
        let first = self.last + 1 - self.lines.len() as u64;
        let skip = after.saturating_add(1).saturating_sub(first);
        let lines = self
            .lines
            .iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(limit as usize)
            .cloned()
            .collect();
        (lines, self.last)
    }
}
