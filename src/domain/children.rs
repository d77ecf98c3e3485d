//! Parent and child jobs: how a job that is a part of another is counted in
//! its parent's record.
//!
//! A child's every stored write sets its [`ChildEntry`] in its parent's
//! roll-up (`children:<parentId>` in `store/keys.rs`; the in-process store
//! keeps the same). Setting an entry adjusts the parent's counters by the
//! difference between the child's old and new entry, so the counters are
//! right whatever order the children write in, a repeated write changes
//! nothing, and no child ever writes its parent's record: a thousand
//! children reporting at once never queue on one record. A parent's read
//! folds the counters ([`Rollup`]) into its record
//! ([`ProgressRecord::roll_up`]).

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::{JobStatus, ProgressRecord};

/// How deep jobs nest: a job, its children and their children. A job whose
/// parent is itself a grandchild is refused.
pub const MAX_DEPTH: u32 = 2;

/// A parent's children by where they stand (`children` in its record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildrenSummary {
    /// Every child declared so far.
    pub total: u64,
    /// `preparing` or `in_progress`.
    pub running: u64,
    /// `completed`.
    pub completed: u64,
    /// `failed`.
    pub failed: u64,
    /// `cancelled`.
    pub cancelled: u64,
}

impl ChildrenSummary {
    /// How many children have ended, whichever way.
    pub fn ended(&self) -> u64 {
        self.completed + self.failed + self.cancelled
    }
}

/// What a parent declared with `completeWithChildren` does when a child
/// fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// The parent fails once its children have ended, if any failed.
    #[default]
    Fail,
    /// The parent completes once its children have ended, whatever they
    /// did (their counts say who failed).
    Continue,
}

/// How a child stands, as its parent's roll-up keeps it: one short string
/// per child, `<version>:<state>:<processed>:<failed>:<total or -1>:<rate in
/// thousandths a second>`. The Lua roll-up script reads the same form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildEntry {
    /// The child record's version: an entry older than the kept one is
    /// dropped, so two writes of one child that reach the roll-up out of
    /// order leave the later.
    pub version: u64,
    /// `r` running, `c` completed, `f` failed, `x` cancelled.
    pub state: char,
    /// Targets processed.
    pub processed: u64,
    /// Targets that failed.
    pub failed: u64,
    /// The child's total, if it has one.
    pub total: Option<u64>,
    /// Its rate in thousandths of a target a second, while it runs (0
    /// once it ended): the parent's rate is their sum.
    pub rate_milli: u64,
}

impl ChildEntry {
    /// The entry of a child record as stored under `version`.
    pub fn of(record: &ProgressRecord, version: u64) -> Self {
        let state = match record.status {
            JobStatus::Completed => 'c',
            JobStatus::Failed => 'f',
            JobStatus::Cancelled => 'x',
            _ => 'r',
        };
        let rate_milli = if state == 'r' {
            record
                .rate_per_second
                .filter(|rate| rate.is_finite() && *rate > 0.0)
                .map_or(0, |rate| (rate * 1000.0).round() as u64)
        } else {
            0
        };
        Self {
            version,
            state,
            processed: record.current_sent_count,
            failed: record.failure_count,
            total: record.total_target_count,
            rate_milli,
        }
    }

    /// The stored form (see the type's doc).
    pub fn to_stored(&self) -> String {
        let total = self.total.map_or(-1, i128::from);
        format!(
            "{}:{}:{}:{}:{}:{}",
            self.version, self.state, self.processed, self.failed, total, self.rate_milli
        )
    }

    /// Reads the stored form back; `None` when it is not one.
    pub fn from_stored(raw: &str) -> Option<Self> {
        let mut parts = raw.split(':');
        let version = parts.next()?.parse().ok()?;
        let state = parts.next()?.chars().next()?;
        let processed = parts.next()?.parse().ok()?;
        let failed = parts.next()?.parse().ok()?;
        let total: i128 = parts.next()?.parse().ok()?;
        let rate_milli = parts.next()?.parse().ok()?;
        Some(Self {
            version,
            state,
            processed,
            failed,
            total: u64::try_from(total).ok(),
            rate_milli,
        })
    }

    /// Whether the child is still running.
    pub fn is_running(&self) -> bool {
        self.state == 'r'
    }
}

/// A parent's counters, summed over its children's entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollup {
    /// The children by where they stand.
    pub children: ChildrenSummary,
    /// Targets the children processed.
    pub processed: u64,
    /// Targets the children failed.
    pub failed: u64,
    /// The children's totals, summed (those without one count 0).
    pub targets: u64,
    /// Running children without a total: while there is one, the parent's
    /// end cannot be estimated.
    pub open_ended: u64,
    /// The running children's rates, summed, in thousandths a second.
    pub rate_milli: u64,
}

impl Rollup {
    /// Adds (`sign` 1) or takes away (`sign` -1) one child's entry: what
    /// the roll-up script does to its counters.
    pub fn count(&mut self, entry: &ChildEntry, sign: i64) {
        let apply = |value: &mut u64, by: u64| {
            *value = if sign > 0 {
                value.saturating_add(by)
            } else {
                value.saturating_sub(by)
            };
        };
        apply(&mut self.children.total, 1);
        match entry.state {
            'c' => apply(&mut self.children.completed, 1),
            'f' => apply(&mut self.children.failed, 1),
            'x' => apply(&mut self.children.cancelled, 1),
            _ => apply(&mut self.children.running, 1),
        }
        apply(&mut self.processed, entry.processed);
        apply(&mut self.failed, entry.failed);
        apply(&mut self.targets, entry.total.unwrap_or(0));
        if entry.is_running() && entry.total.is_none() {
            apply(&mut self.open_ended, 1);
        }
        apply(&mut self.rate_milli, entry.rate_milli);
    }

    /// When the children's remaining work ends at their summed rate, as
    /// of `now`: `None` while a running child has no total or nothing
    /// moves.
    ///
    /// The rolled-up rate over the remaining work, rather than the latest
    /// child's own estimate: the counters keep it up to date in O(1) per
    /// child write (a latest-of-all would need every entry read), and
    /// children that share a pool of workers speed up as others end,
    /// which a sum of rates reflects and a per-child estimate does not.
    pub fn estimated_end(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.open_ended > 0 || self.rate_milli == 0 {
            return None;
        }
        let left = self.targets.saturating_sub(self.processed);
        let ms = u128::from(left) * 1_000_000 / u128::from(self.rate_milli);
        let ms = i64::try_from(ms).ok()?;
        now.checked_add_signed(TimeDelta::try_milliseconds(ms)?)
    }
}

impl ProgressRecord {
    /// Folds its children's roll-up into a parent's record: `children`
    /// always; for a parent declared without a total of its own, the
    /// children's summed counts and total and, while it runs, an end from
    /// their summed rate (see [`Rollup::estimated_end`]). A parent's end
    /// keeps what it folded in its stored record, whose total it then has.
    pub fn roll_up(&mut self, rollup: &Rollup, now: DateTime<Utc>) {
        self.children = Some(rollup.children);
        if self.total_target_count.is_some() {
            return;
        }
        self.success_count = rollup.processed.saturating_sub(rollup.failed);
        self.failure_count = rollup.failed;
        self.current_sent_count = rollup.processed;
        if rollup.open_ended == 0 {
            self.total_target_count = Some(rollup.targets.max(rollup.processed));
        }
        if let Some(end) = rollup
            .estimated_end(now)
            .filter(|_| self.status.is_active())
        {
            self.estimated_end_at = Some(end);
            self.estimated_end_range = None;
            self.estimated_remaining_seconds =
                Some(u64::try_from((end - now).num_seconds()).unwrap_or(0));
            self.rate_per_second = Some(rollup.rate_milli as f64 / 1000.0);
        }
        if let Some(total) = self.total_target_count {
            self.progress_percentage = super::percentage(self.current_sent_count, total);
        }
    }

    /// Whether a parent declared with `completeWithChildren` is due to
    /// end, and how: `Some(true)` completed, `Some(false)` failed, `None`
    /// not yet (fewer children declared than it expects, or some still
    /// running).
    pub fn children_settled(&self, rollup: &Rollup) -> Option<bool> {
        if !self.complete_with_children || self.status.is_terminal() {
            return None;
        }
        let expected = self.expected_children.unwrap_or(0);
        let children = &rollup.children;
        if children.total < expected || children.total == 0 || children.running > 0 {
            return None;
        }
        let policy = self.failure_policy.unwrap_or_default();
        Some(policy == FailurePolicy::Continue || children.failed == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::JobId;

    fn child(status: JobStatus, processed: u64, total: Option<u64>) -> ProgressRecord {
        let mut record = ProgressRecord::new(JobId::parse("c").unwrap(), status, total);
        record.current_sent_count = processed;
        record.success_count = processed;
        record.rate_per_second = Some(2.5);
        record
    }

    #[test]
    fn an_entry_reads_back_what_it_wrote() {
        let entry = ChildEntry::of(&child(JobStatus::InProgress, 4, Some(10)), 7);
        assert_eq!(entry.rate_milli, 2500);
        assert_eq!(ChildEntry::from_stored(&entry.to_stored()), Some(entry));
        let open = ChildEntry::of(&child(JobStatus::Completed, 4, None), 8);
        assert_eq!(open.rate_milli, 0, "an ended child adds no rate");
        assert_eq!(ChildEntry::from_stored(&open.to_stored()), Some(open));
        assert_eq!(ChildEntry::from_stored("7:r:x"), None);
    }

    #[test]
    fn replacing_an_entry_moves_the_counters_by_the_difference() {
        let mut rollup = Rollup::default();
        let running = ChildEntry::of(&child(JobStatus::InProgress, 4, Some(10)), 1);
        rollup.count(&running, 1);
        let done = ChildEntry::of(&child(JobStatus::Completed, 10, Some(10)), 2);
        rollup.count(&running, -1);
        rollup.count(&done, 1);
        assert_eq!(rollup.children.total, 1);
        assert_eq!(rollup.children.running, 0);
        assert_eq!(rollup.children.completed, 1);
        assert_eq!(
            (rollup.processed, rollup.targets, rollup.rate_milli),
            (10, 10, 0)
        );
    }

    #[test]
    fn a_parent_without_a_total_shows_its_childrens_counts_and_end() {
        let now = Utc::now();
        let mut rollup = Rollup::default();
        rollup.count(
            &ChildEntry::of(&child(JobStatus::InProgress, 5, Some(10)), 1),
            1,
        );
        rollup.count(
            &ChildEntry::of(&child(JobStatus::InProgress, 5, Some(20)), 1),
            1,
        );
        let mut parent =
            ProgressRecord::new(JobId::parse("p").unwrap(), JobStatus::InProgress, None);
        parent.roll_up(&rollup, now);
        assert_eq!(parent.total_target_count, Some(30));
        assert_eq!(parent.current_sent_count, 10);
        assert_eq!(parent.progress_percentage, 33);
        // 20 left at 5 a second.
        assert_eq!(parent.estimated_remaining_seconds, Some(4));
        assert_eq!(parent.children.map(|c| c.running), Some(2));
    }

    #[test]
    fn a_parent_completes_with_its_children_only_once_all_expected_ended() {
        let mut parent =
            ProgressRecord::new(JobId::parse("p").unwrap(), JobStatus::InProgress, None);
        parent.complete_with_children = true;
        parent.expected_children = Some(2);
        let mut rollup = Rollup::default();
        rollup.count(&ChildEntry::of(&child(JobStatus::Failed, 1, Some(1)), 1), 1);
        assert_eq!(
            parent.children_settled(&rollup),
            None,
            "one of two declared"
        );
        rollup.count(
            &ChildEntry::of(&child(JobStatus::Completed, 1, Some(1)), 1),
            1,
        );
        assert_eq!(parent.children_settled(&rollup), Some(false), "one failed");
        parent.failure_policy = Some(FailurePolicy::Continue);
        assert_eq!(parent.children_settled(&rollup), Some(true));
    }
}
