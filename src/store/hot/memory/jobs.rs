//! The map of jobs and its indexes, kept under the store's one lock: each
//! job's [`Entry`] (its stored JSON and what the rules compare), the
//! active index in list order and by kind, expiry in order, and the
//! finished logs. Its own file so that the store's module reads as the
//! store (its writes and its [`HotStore`](super::super::HotStore) side),
//! and this as the data it keeps.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::Instant,
};

use super::{kept_log::KeptLog, kept_rollups::KeptRollups};
use crate::domain::{History, JobFilter, JobId, JobKind, ProgressRecord};

/// Where a job sorts in the active list: jobs with a start first, by
/// start; then those without; ties by id (Redis orders equal scores by
/// member, byte by byte, as `String`'s `Ord` does).
pub(super) type StartKey = (bool, i64, JobId);

/// One job's value and what is kept beside it.
pub(super) struct Entry {
    /// The record as a read of its stored JSON gives it
    /// ([`ProgressRecord::stored_form`]): kept decoded, so loads and reads
    /// clone it rather than parse it (parsing was a tenth of a report), and
    /// a write's rules and the filters read its fields.
    pub(super) record: Arc<ProgressRecord>,
    /// The processed count as written, before the record was normalized:
    /// what the never-backwards rule compares, as the script compares the
    /// stored JSON's.
    pub(super) sent: u64,
    /// The writer's state (jobs written over HTTP).
    pub(super) state: Option<Arc<[u8]>>,
    pub(super) expires_at: Instant,
    /// Its place in the active index, while it is active.
    pub(super) start: Option<StartKey>,
    /// Its log, once a line was written.
    pub(super) log: Option<KeptLog>,
    /// When it finished, if it has a log: its place among the logs that go
    /// first past the cap.
    pub(super) log_finished: Option<i64>,
    /// Its progress samples.
    pub(super) history: History,
}

impl Entry {
    /// It has a parent (it is left out of the top-level index).
    fn child(&self) -> bool {
        self.record.parent_job_id.is_some()
    }

    /// Where it is in the active indexes: its start, kind and whether it
    /// has a parent, while it is active.
    fn place(&self) -> Option<(&StartKey, Option<&JobKind>, bool)> {
        let start = self.start.as_ref()?;
        Some((start, self.record.kind.as_ref(), self.child()))
    }
}

#[derive(Default)]
pub(super) struct Jobs {
    /// Hashed with foldhash, seeded per process (ids are the clients'
    /// choice): every read and write looks a job up here, and SipHash was
    /// a few percent of a write.
    pub(super) entries: HashMap<JobId, Entry, foldhash::fast::RandomState>,
    /// The active index: every active, unexpired job, in list order.
    pub(super) by_start: BTreeSet<StartKey>,
    /// The same jobs less those with a parent.
    pub(super) top: BTreeSet<StartKey>,
    /// The same jobs by kind, each kind's in list order.
    pub(super) by_kind: HashMap<JobKind, BTreeSet<StartKey>>,
    /// Every value by expiry, so expired ones leave in order, each found
    /// once, without a scan.
    pub(super) by_expiry: BTreeSet<(Instant, JobId)>,
    /// The bytes of every kept log together (see `log.rs`).
    pub(super) log_bytes: usize,
    /// Finished jobs with a log, by when they finished: whose logs go
    /// first past the cap.
    pub(super) finished_logs: BTreeSet<(i64, JobId)>,
    /// Parents' roll-ups of their children.
    pub(super) rollups: KeptRollups,
}

impl Jobs {
    /// Drops every value whose TTL ran out, with its index entries, and
    /// every parent's roll-up whose TTL ran out.
    pub(super) fn expire(&mut self, now: Instant) {
        self.rollups.expire(now);
        while let Some((at, _)) = self.by_expiry.first() {
            if *at > now {
                break;
            }
            if let Some((_, id)) = self.by_expiry.pop_first()
                && let Some(gone) = self.remove(&id)
            {
                self.forget_log(&id, &gone);
            }
        }
    }

    pub(super) fn remove(&mut self, id: &JobId) -> Option<Entry> {
        let entry = self.entries.remove(id)?;
        self.by_expiry.remove(&(entry.expires_at, id.clone()));
        self.unlist(&entry);
        Some(entry)
    }

    /// Stores `entry` as `id`'s in place of `old`, which the caller took
    /// out of the map (`None`: the job is new). Index entries move only
    /// where the job's place changed: a job's start, kind and parent stay
    /// the same from one report to the next, so most writes touch no
    /// active index (moving them every write was a tenth of a write).
    pub(super) fn put(&mut self, id: &JobId, entry: Entry, old: Option<&Entry>) {
        match old {
            Some(old) if old.expires_at == entry.expires_at => {}
            Some(old) => {
                self.by_expiry.remove(&(old.expires_at, id.clone()));
                self.by_expiry.insert((entry.expires_at, id.clone()));
            }
            None => {
                self.by_expiry.insert((entry.expires_at, id.clone()));
            }
        }
        if old.is_none_or(|old| old.place() != entry.place()) {
            if let Some(old) = old {
                self.unlist(old);
            }
            self.list(&entry);
        }
        self.entries.insert(id.clone(), entry);
    }

    /// Puts an active entry in the active index, the top-level one unless
    /// it has a parent, and its kind's.
    fn list(&mut self, entry: &Entry) {
        let Some(start) = &entry.start else {
            return;
        };
        self.by_start.insert(start.clone());
        if !entry.child() {
            self.top.insert(start.clone());
        }
        if let Some(kind) = &entry.record.kind {
            self.by_kind
                .entry(kind.clone())
                .or_default()
                .insert(start.clone());
        }
    }

    /// Takes an entry out of the indexes [`list`](Self::list) put it in.
    fn unlist(&mut self, entry: &Entry) {
        let Some(start) = &entry.start else {
            return;
        };
        self.by_start.remove(start);
        self.top.remove(start);
        if let Some(kind) = &entry.record.kind
            && let Some(index) = self.by_kind.get_mut(kind)
        {
            index.remove(start);
            if index.is_empty() {
                self.by_kind.remove(kind);
            }
        }
    }

    /// The active jobs `filter` admits, in list order.
    pub(super) fn admitted<'a>(
        &'a self,
        filter: &'a JobFilter,
    ) -> impl Iterator<Item = &'a JobId> + 'a {
        let index = match &filter.kind {
            Some(kind) => self.by_kind.get(kind),
            None if filter.top_level => Some(&self.top),
            None => Some(&self.by_start),
        };
        index
            .into_iter()
            .flatten()
            .map(|(_, _, id)| id)
            .filter(move |id| {
                !(filter.top_level && filter.kind.is_some())
                    || self.entries.get(*id).is_some_and(|entry| !entry.child())
            })
            .filter(move |id| {
                filter.q.is_none()
                    || self.entries.get(*id).is_some_and(|entry| {
                        filter.admits(
                            id.as_str(),
                            entry.record.kind.as_ref().map(JobKind::as_str),
                            entry.record.name.as_ref().map(|name| name.as_str()),
                        )
                    })
            })
    }

    /// Puts `state` in place of the live entry's, if the entry is still
    /// at `version`; whether it did. Nothing else changes (see
    /// `HotStore::replace_state`).
    pub(super) fn replace_state(&mut self, id: &JobId, state: &[u8], version: u64) -> bool {
        self.expire(Instant::now());
        match self.entries.get_mut(id) {
            Some(entry) if entry.record.version == version => {
                entry.state = Some(Arc::from(state));
                true
            }
            _ => false,
        }
    }

    /// The live entry of `id` (expired ones are dropped first).
    pub(super) fn live(&mut self, id: &JobId) -> Option<&Entry> {
        self.expire(Instant::now());
        self.entries.get(id)
    }
}
