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
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use chrono::{DateTime, Utc};

use super::change::Change;
use crate::domain::{JobId, StallPolicy};

/// The deadlines, earliest first, and each job's latest change.
///
/// Every change of an active job moves its deadline, so this is on the
/// path of every write the hub hears. A job keeps one number for as long
/// as it is tracked, and its deadline is filed under that number: moving
/// it takes the id out of its old place and files it under the new one,
/// with no copy of the id and no comparison of ids (it had been a
/// twentieth of an update's CPU on the embedded stores).
#[derive(Debug, Default)]
pub struct Stalls {
    deadlines: BTreeMap<(DateTime<Utc>, u64), JobId>,
    /// Hashed with foldhash, seeded per process: ids are the clients'.
    latest: HashMap<JobId, Tracked, foldhash::fast::RandomState>,
    /// The number the next job to be tracked gets.
    next_number: u64,
}

/// A tracked job: its deadline, its number, its latest change.
#[derive(Debug)]
struct Tracked {
    deadline: DateTime<Utc>,
    number: u64,
    change: Arc<Change>,
}

impl Stalls {
    /// Takes `change` as its job's latest (unless an entry holds a newer
    /// version); returns whether the earliest deadline moved earlier, so
    /// the sleeper must wake.
    pub fn track(&mut self, change: &Arc<Change>, policy: &StallPolicy) -> bool {
        let deadline = change.stall_deadline(policy);
        let Some(tracked) = self.latest.get_mut(&change.job_id) else {
            let Some(deadline) = deadline else {
                return false; // finished, already stalled, or never updated
            };
            let sooner = earliest(&self.deadlines).is_none_or(|next| deadline < next);
            let number = self.next_number;
            self.next_number += 1;
            self.deadlines
                .insert((deadline, number), change.job_id.clone());
            let tracked = Tracked {
                deadline,
                number,
                change: Arc::clone(change),
            };
            self.latest.insert(change.job_id.clone(), tracked);
            return sooner;
        };
        if tracked.change.version > change.version {
            return false;
        }
        let filed = self.deadlines.remove(&(tracked.deadline, tracked.number));
        let (Some(deadline), Some(id)) = (deadline, filed) else {
            self.latest.remove(&change.job_id);
            return false;
        };
        let sooner = earliest(&self.deadlines).is_none_or(|next| deadline < next);
        self.deadlines.insert((deadline, tracked.number), id);
        tracked.deadline = deadline;
        tracked.change = Arc::clone(change);
        sooner
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<DateTime<Utc>> {
        earliest(&self.deadlines)
    }

    /// Removes and returns the changes whose deadline is `now` or before.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Arc<Change>> {
        let mut due = Vec::new();
        while let Some(entry) = self.deadlines.first_entry()
            && entry.key().0 <= now
        {
            let id = entry.remove();
            if let Some(tracked) = self.latest.remove(&id) {
                due.push(tracked.change);
            }
        }
        due
    }
}

/// The earliest of `deadlines`. A free function, so that `track` can ask
/// while it holds a job's entry.
fn earliest(deadlines: &BTreeMap<(DateTime<Utc>, u64), JobId>) -> Option<DateTime<Utc>> {
    deadlines
        .first_key_value()
        .map(|((deadline, _), _)| *deadline)
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
            stalls.latest[&JobId::parse("a").unwrap()].change.version,
            5,
            "an older change is ignored"
        );
        stalls.track(&change("a", 6, JobStatus::Completed, 0), &policy());
        assert!(stalls.latest.is_empty() && stalls.next().is_none());
    }
}
