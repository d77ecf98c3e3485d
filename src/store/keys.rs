//! The Redis key layout, built in this one place.
//!
//! With the default prefix `job:` (set with `KEY_PREFIX`):
//!
//! | key                      | type       | value                                   | TTL |
//! |--------------------------|------------|-----------------------------------------|-----|
//! | `job:progress:<jobId>`   | string     | the [`ProgressRecord`] as JSON          | `completed`: 1 h; any other status: 24 h; reset on every write |
//! | `job:active`             | sorted set | member `<jobId>`, score = `updatedAt` in ms since the epoch | none |
//!
//! A job is in `job:active` exactly while its value's status is `preparing`
//! or `in_progress`: one Lua script writes the value, its TTL and the index
//! entry together, so a reader never sees one without the other. Listing
//! active jobs reads the index (never `KEYS` or `SCAN`) and MGETs the values;
//! members whose value has expired (a worker died, the TTL ran out) are
//! removed as they are found, and members not updated for longer than the
//! in-progress TTL are removed by score.
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

    /// `<prefix>active`: the index of active jobs.
    pub fn active_index(&self) -> String {
        format!("{}active", self.prefix)
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
        assert_eq!(keys.active_index(), "job:active");
    }
}
