//! The in-process store's job logs: appended and read under the store's
//! one lock, as the Redis log scripts do in one step.

use std::time::Instant;

use actix_web::web::Bytes;

use super::MemoryStore;
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
        let last = log.append(lines);
        let (added, _) = log.after(last - lines.len() as u64, u32::MAX);
        drop(jobs);
        if !added.is_empty() {
            // As the Redis log script publishes them; no subscriber is no
            // error.
            let _ = self
                .events
                .send(Bytes::from(LogBatch::payload(id, &added).into_bytes()));
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
