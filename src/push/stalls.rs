//! [`Stalls`]: when each active job the hub has seen will cross its stall
//! threshold, so the hub can tell streams the moment it does.
//!
//! `stalled` is derived when a record is read (no write announces that a
//! writer went silent), so without this a stream would never learn it.
//! One structure per instance, not a timer per stream: a job's deadline is
//! its last update plus its stall limit; the hub's one task sleeps until
//! the earliest and publishes the job's record, `stalled` set, as a change
//! of its own. A recovery needs nothing here: it is a write, and every
//! write is a change.
//!
//! Entries are the active jobs seen since start (a write, or a stream's
//! snapshot); one leaves when its job finishes or its deadline passes.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use chrono::{DateTime, Utc};

use super::change::Change;
use crate::domain::{JobId, StallPolicy};

/// The deadlines, earliest first, and each job's latest change.
#[derive(Debug, Default)]
pub struct Stalls {
    deadlines: BTreeSet<(DateTime<Utc>, JobId)>,
    latest: HashMap<JobId, (DateTime<Utc>, Arc<Change>)>,
}

impl Stalls {
    /// Takes `change` as its job's latest (unless an entry holds a newer
    /// version); returns whether the earliest deadline moved earlier, so
    /// the sleeper must wake.
    pub fn track(&mut self, change: &Arc<Change>, policy: &StallPolicy) -> bool {
        if let Some((_, held)) = self.latest.get(&change.job_id)
            && held.version > change.version
        {
            return false;
        }
        if let Some((deadline, _)) = self.latest.remove(&change.job_id) {
            self.deadlines.remove(&(deadline, change.job_id.clone()));
        }
        let Some(deadline) = change.stall_deadline(policy) else {
            return false; // finished, already stalled, or never updated
        };
        let earliest = self.next().is_none_or(|next| deadline < next);
        self.deadlines.insert((deadline, change.job_id.clone()));
        self.latest
            .insert(change.job_id.clone(), (deadline, Arc::clone(change)));
        earliest
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<DateTime<Utc>> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// Removes and returns the changes whose deadline is `now` or before.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Arc<Change>> {
        let mut due = Vec::new();
        while let Some((deadline, _)) = self.deadlines.first()
            && *deadline <= now
        {
            let Some((_, id)) = self.deadlines.pop_first() else {
                break;
            };
            if let Some((_, change)) = self.latest.remove(&id) {
                due.push(change);
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobStatus, ProgressRecord};

    fn change(id: &str, version: u64, status: JobStatus, updated_ms: i64) -> Arc<Change> {
        let mut record = ProgressRecord::new(JobId::parse(id).unwrap(), status, Some(10));
        record.version = version;
        record.updated_at = DateTime::from_timestamp_millis(updated_ms);
        Arc::new(Change::of(&record))
    }

    fn policy() -> StallPolicy {
        StallPolicy {
            floor: std::time::Duration::from_secs(1),
            ceiling: std::time::Duration::from_secs(1),
            default_refresh: std::time::Duration::from_secs(1),
        }
    }

    #[test]
    fn a_job_is_due_at_its_deadline_once_and_a_newer_change_moves_it() {
        let mut stalls = Stalls::default();
        assert!(stalls.track(&change("a", 1, JobStatus::InProgress, 0), &policy()));
        assert!(!stalls.track(&change("b", 1, JobStatus::InProgress, 500), &policy()));
        assert!(!stalls.track(&change("a", 2, JobStatus::InProgress, 1_000), &policy()));
        let at = |ms| DateTime::from_timestamp_millis(ms).unwrap();
        assert!(stalls.due(at(1_000)).is_empty(), "not past the limit yet");
        let due = stalls.due(at(1_600));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].job_id.as_str(), "b");
        assert_eq!(stalls.due(at(2_100))[0].version, 2, "a's newer change");
        assert!(stalls.latest.is_empty(), "each is due once");
    }

    #[test]
    fn finished_jobs_and_older_versions_are_not_tracked() {
        let mut stalls = Stalls::default();
        stalls.track(&change("a", 5, JobStatus::InProgress, 0), &policy());
        stalls.track(&change("a", 4, JobStatus::InProgress, 0), &policy());
        assert_eq!(
            stalls.latest[&JobId::parse("a").unwrap()].1.version,
            5,
            "an older change is ignored"
        );
        stalls.track(&change("a", 6, JobStatus::Completed, 0), &policy());
        assert!(stalls.latest.is_empty() && stalls.next().is_none());
    }
}
