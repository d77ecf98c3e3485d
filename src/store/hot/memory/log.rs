//! The in-process store's job logs: appended and read under the store's
//! one lock, as the Redis log scripts do in one step, and held under the
//! store's cap on all logs together ([`LogCap`](crate::domain::LogCap)):
//! past it, whole logs of finished jobs go, the longest finished first.

use std::time::Instant;

use actix_web::web::Bytes;

use super::{Entry, Jobs, MemoryEvent, MemoryStore};
use crate::{
    domain::{JobId, LogBatch, LogLine, LogPage, NewLogLine},
    store::StoreError,
};

impl MemoryStore {
    /// Numbers and appends `lines` to the job's log and publishes them;
    /// `None` when the store does not hold the job.
    pub(super) fn append_lines(&self, id: &JobId, lines: &[NewLogLine]) -> Option<u64> {
        let mut jobs = self.lock();
        jobs.expire(Instant::now());
        let entry = jobs.entries.get_mut(id)?;
        let log = entry.log.get_or_insert_default();
        let before = log.bytes();
        let last = log.append(lines);
        let (added, _) = log.after(last - lines.len() as u64, u32::MAX);
        let after = log.bytes();
        jobs.log_bytes = (jobs.log_bytes + after).saturating_sub(before);
        jobs.evict_logs(self.log_cap.bytes());
        drop(jobs);
        if !added.is_empty() {
            // As the Redis log script publishes them; no subscriber is no
            // error.
            let _ = self
                .events
                .send(MemoryEvent::Log(Bytes::from(LogBatch::payload(id, &added))));
        }
        Some(last)
    }

    /// At most `limit` kept lines numbered after `after`, or with `None`
    /// the last `limit`; decoded after the lock is released.
    pub(super) fn log_page(
        &self,
        id: &JobId,
        after: Option<u64>,
        limit: u32,
    ) -> Result<LogPage, StoreError> {
        let found = self.lock().live(id).and_then(|entry| {
            let log = entry.log.as_ref()?;
            let after = after.unwrap_or_else(|| log.last().saturating_sub(u64::from(limit)));
            Some(log.after(after, limit))
        });
        let Some((raw, last)) = found else {
            return Ok(LogPage::default());
        };
        let lines = raw
            .iter()
            .map(|line| serde_json::from_str::<LogLine>(line))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| StoreError::corrupt(format!("log of {id}"), err))?;
        Ok(LogPage::of(lines, last))
    }
}

impl Jobs {
    /// Moves the job's place among the finished logs from `was` to `now`.
    pub(super) fn move_finished_log(&mut self, id: &JobId, was: Option<i64>, now: Option<i64>) {
        if was == now {
            return;
        }
        if let Some(at) = was {
            self.finished_logs.remove(&(at, id.clone()));
        }
        if let Some(at) = now {
            self.finished_logs.insert((at, id.clone()));
        }
    }

    /// Forgets the log of `gone`, an entry that expired.
    pub(super) fn forget_log(&mut self, id: &JobId, gone: &Entry) {
        if let Some(log) = &gone.log {
            self.log_bytes = self.log_bytes.saturating_sub(log.bytes());
        }
        self.move_finished_log(id, gone.log_finished, None);
    }

    /// Deletes whole logs of finished jobs, the longest finished first,
    /// until all logs together are within `cap` bytes or none is left.
    fn evict_logs(&mut self, cap: u64) {
        while u64::try_from(self.log_bytes).unwrap_or(u64::MAX) > cap {
            let Some((_, id)) = self.finished_logs.pop_first() else {
                return;
            };
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.log_finished = None;
                if let Some(log) = entry.log.take() {
                    self.log_bytes = self.log_bytes.saturating_sub(log.bytes());
                }
            }
        }
    }
}
