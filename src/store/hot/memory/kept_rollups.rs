//! [`KeptRollups`]: parents' roll-ups of their children as the in-process
//! store keeps them, by the rules of the Redis roll-up script
//! (`redis/children.rs`): an entry per child, counters moved by the
//! difference, a later version never replaced by an earlier one, the whole
//! roll-up living a TTL from its last child's write.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::Instant,
};

use crate::domain::{ChildEntry, JobId, Rollup};

/// One parent's roll-up.
#[derive(Debug, Default)]
struct Kept {
    entries: BTreeMap<JobId, ChildEntry>,
    counters: Rollup,
    expires_at: Option<Instant>,
}

/// Every parent's roll-up.
#[derive(Debug, Default)]
pub(super) struct KeptRollups {
    by_parent: HashMap<JobId, Kept>,
    /// Every roll-up by expiry, so expired ones leave in order without a
    /// scan, read again or not.
    by_expiry: BTreeSet<(Instant, JobId)>,
}

impl KeptRollups {
    /// Sets `child`'s entry in `parent`'s roll-up, unless the kept one is
    /// of a later version; the roll-up lives until `expires_at`.
    pub(super) fn set(
        &mut self,
        parent: &JobId,
        child: &JobId,
        entry: ChildEntry,
        now: Instant,
        expires_at: Instant,
    ) {
        self.drop_expired(parent, now);
        let kept = self.by_parent.entry(parent.clone()).or_default();
        if let Some(old) = kept.expires_at.replace(expires_at) {
            self.by_expiry.remove(&(old, parent.clone()));
        }
        self.by_expiry.insert((expires_at, parent.clone()));
        if let Some(old) = kept.entries.get(child) {
            if old.version > entry.version {
                return;
            }
            let old = *old;
            kept.counters.count(&old, -1);
        }
        kept.counters.count(&entry, 1);
        kept.entries.insert(child.clone(), entry);
    }

    /// `parent`'s counters, if it has a roll-up.
    pub(super) fn rollup(&mut self, parent: &JobId, now: Instant) -> Option<Rollup> {
        self.drop_expired(parent, now);
        self.by_parent.get(parent).map(|kept| kept.counters)
    }

    /// `parent`'s children's entries, by child id.
    pub(super) fn entries(&mut self, parent: &JobId, now: Instant) -> Vec<(JobId, ChildEntry)> {
        self.drop_expired(parent, now);
        self.by_parent.get(parent).map_or_else(Vec::new, |kept| {
            kept.entries
                .iter()
                .map(|(id, entry)| (id.clone(), *entry))
                .collect()
        })
    }

    /// Drops every roll-up whose TTL ran out.
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.by_expiry.first() {
            if *at > now {
                break;
            }
            if let Some((_, parent)) = self.by_expiry.pop_first() {
                self.by_parent.remove(&parent);
            }
        }
    }

    fn drop_expired(&mut self, parent: &JobId, now: Instant) {
        if let Some(at) = self.by_parent.get(parent).and_then(|kept| kept.expires_at)
            && at <= now
        {
            self.by_parent.remove(parent);
            self.by_expiry.remove(&(at, parent.clone()));
        }
    }
}
