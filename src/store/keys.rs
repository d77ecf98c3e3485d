//! The Redis key layout, built in this one place.
//!
//! With the default prefix `job:` (set with `KEY_PREFIX`):
//!
//! | key                      | type       | value                                   | TTL |
//! |--------------------------|------------|-----------------------------------------|-----|
//! | `job:progress:<jobId>`   | string     | the [`ProgressRecord`] as JSON          | `completed`: 1 h; any other status: 24 h; reset on every write |
//! | `job:state:<jobId>`      | string     | the estimator state of a job written over HTTP (binary, a few KiB at most), written with the record by the same script | the record's |
//! | `job:active`             | sorted set | member `<jobId>`, score = `updatedAt` in ms since the epoch | none |
//! | `job:active:by-start`    | sorted set | member `<jobId>`, score = `startedAt` in ms (`+inf` when unknown) | none |
//! | `job:events`             | pub/sub channel | every stored record, as stored, published by the write script | - |
//!
//! The value's JSON starts with `"version"`, which the write script keeps:
//! the larger of the previous version plus one and the write's `updatedAt`
//! in ms, so it only grows, even across a Redis that lost the key.
//!
//! A job is in both indexes exactly while its value's status is `preparing`
//! or `in_progress`: one Lua script writes the value, its TTL and the index
//! entries together, so a reader never sees one without the other. A page of
//! the active list is one ZRANGE of `active:by-start` (oldest start first,
//! ties by id) and one MGET of that page's values: never `KEYS` or `SCAN`,
//! and never more values than the page. Members whose value has expired (a
//! worker died, the TTL ran out) are removed from both as they are found,
//! and members of `active` not updated for longer than the in-progress TTL
//! are removed from both by score.
//!
//! [`ProgressRecord`]: crate::domain::ProgressRecord

use crate::domain::JobId;

/// Builds every key under one prefix. Tests give each run its own prefix,
/// so parallel tests never see each other's data.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (the default is `job:`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix every key starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>progress:<jobId>`: the job's JSON record.
    pub fn progress(&self, id: &JobId) -> String {
        format!("{}progress:{}", self.prefix, id)
    }

    /// `<prefix>state:<jobId>`: what the writer of a job written over
    /// HTTP keeps between updates (its estimator).
    pub fn state(&self, id: &JobId) -> String {
        format!("{}state:{}", self.prefix, id)
    }

    /// `<prefix>active`: the index of active jobs, by last update.
    pub fn active_index(&self) -> String {
        format!("{}active", self.prefix)
    }

    /// `<prefix>active:by-start`: the same jobs, by start time; pages of the
    /// active list are read from it.
    pub fn by_start_index(&self) -> String {
        format!("{}active:by-start", self.prefix)
    }

    /// `<prefix>events`: the channel every write is published on (the
    /// subject of the same name when the bus is NATS).
    pub fn events_channel(&self) -> String {
        format!("{}events", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout_matches_the_documented_keys() {
        let keys = Keys::new("job:");
        let id = JobId::parse("abc").unwrap();
        assert_eq!(keys.progress(&id), "job:progress:abc");
        assert_eq!(keys.state(&id), "job:state:abc");
        assert_eq!(keys.active_index(), "job:active");
        assert_eq!(keys.by_start_index(), "job:active:by-start");
        assert_eq!(keys.events_channel(), "job:events");
    }
}
