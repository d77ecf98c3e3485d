//! [`HotStore`] in the process's own memory: the default when no
//! `REDIS_URL` is set, so the service runs with nothing installed.
//!
//! It keeps every promise the Redis store keeps, in the same shape:
//!
//! - a job's value is the record a read of the same stored JSON (the wire
//!   format less `null`s and derived fields, `version` first) gives back,
//!   kept decoded ([`ProgressRecord::stored_form`]), so both stores answer
//!   the same record for the same writes, and what it publishes is that
//!   record itself ([`MemoryEvent::Stored`]), what a subscriber of Redis
//!   decodes from the JSON it is sent;
//! - the version rule (the larger of the old version plus one and the
//!   update's time in ms), the never-backwards rule (status rank, finished
//!   status, processed count, from [`JobStatus::rank`]) and the expected
//!   version of [`HotStore::replace`] are checked and applied under one
//!   lock, as the write script does in one atomic step;
//! - TTL by status ([`Ttls`]), reset on every write; an expired value is
//!   gone for every reader at once and leaves the active index with it;
//! - the active index in start order (jobs without a start last, ties by
//!   id), exactly while the value's status is active, with an index per
//!   kind beside it and each active job's name kept for `q`;
//! - a job's progress history, sampled and thinned by the rules the
//!   write script keeps ([`History`]);
//! - a job's log, numbered and bounded as the Redis log script keeps it
//!   (`memory/kept_log.rs`, `memory/log.rs`), living and expiring with
//!   its record;
//! - a parent's roll-up of its children, set by each child's write as
//!   the Redis roll-up script sets it (`memory/kept_rollups.rs`), here
//!   under the same lock as the child's write;
//! - every stored value, and every batch of log lines, is published to
//!   the streams of this process
//!   ([`MemoryStore::events`], which the push hub's in-process bus
//!   subscribes to): no value is encoded to be published or decoded to be
//!   heard, as the bus of a single process needs no wire format.
//!
//! What it cannot do: be shared. Several API instances, or workers in
//! other processes using [`ProgressWriter`] directly, each see a store of
//! their own; workers of an embedded server report over HTTP. Everything
//! here is lost when the process stops; the archive keeps the checkpoints.
//!
//! One `std::sync::Mutex` guards the map and its indexes
//! (`memory/jobs.rs`): every critical section is a few map operations
//! with no `.await` inside, so a blocking lock is cheaper than an async
//! one (as in mini-redis's `db.rs`). Values are cloned after the lock is
//! released.
//!
//! [`ProgressWriter`]: crate::write::ProgressWriter

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use actix_web::web::Bytes;
use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::broadcast;

mod jobs;
mod kept_log;
mod kept_rollups;
mod log;

use super::{Held, HotStore, HotWrite, ReadOne, Replaced, StoreError, Ttls};
use crate::domain::{
    CancelRequest, ChildEntry, History, JobFilter, JobId, LogCap, LogLine, LogPage,
    MAX_ATTEMPTS_KEPT, NewLogLine, ProgressRecord, Rollup, Sample,
};
use jobs::{Entry, Jobs};

/// What a write asks beyond the record: the version it started from and
/// the state to keep (jobs written over HTTP).
struct Expecting<'a> {
    version: u64,
    state: &'a [u8],
}

/// What a write did.
enum Outcome {
    /// Stored as this version; the request to stop kept from the old value.
    Written(u64, Option<CancelRequest>),
    Stale,
    Moved,
}

/// What the in-process store publishes, as Redis publishes its values and
/// log lines on the events channel.
#[derive(Debug, Clone)]
pub enum MemoryEvent {
    /// A value as stored: the record the store now holds, shared with it.
    Stored(Arc<ProgressRecord>),
    /// Log lines just stored, as the Redis log script publishes them
    /// ([`LogBatch::payload`](crate::domain::LogBatch::payload)).
    Log(Bytes),
}

/// The in-process hot store. Cheap to clone: clones share the data.
#[derive(Clone)]
pub struct MemoryStore {
    jobs: Arc<Mutex<Jobs>>,
    ttls: Ttls,
    log_cap: LogCap,
    events: broadcast::Sender<MemoryEvent>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("ttls", &self.ttls)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store whose values live as long as `ttls` says; a
    /// subscriber of [`events`](Self::events) may fall `events_capacity`
    /// changes behind before it is told it lagged (whoever builds the
    /// store for a hub passes the hub's own feed capacity).
    pub fn new(ttls: Ttls, events_capacity: usize) -> Self {
        Self {
            jobs: Arc::default(),
            ttls,
            log_cap: LogCap::default(),
            events: broadcast::channel(events_capacity).0,
        }
    }

    /// Caps all logs together at `cap` (default 256 MiB).
    pub fn with_log_cap(mut self, cap: LogCap) -> Self {
        self.log_cap = cap;
        self
    }

    /// Every stored value, as stored, as it is written, and every batch of
    /// log lines: what the Redis store publishes on its events channel.
    pub fn events(&self) -> broadcast::Sender<MemoryEvent> {
        self.events.clone()
    }

    /// How many values it holds, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether it holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Jobs> {
        // A panic while holding the lock leaves plain data behind, each
        // operation complete or not begun: safe to go on with.
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The write script's steps, under the lock.
    fn store(&self, record: &ProgressRecord, expecting: Option<Expecting<'_>>) -> Outcome {
        let now = Instant::now();
        let score = record
            .updated_at
            .unwrap_or_else(Utc::now)
            .timestamp_millis();
        let mut jobs = self.lock();
        jobs.expire(now);
        let old = jobs.entries.get(&record.job_id);
        let old_version = old.map_or(0, |old| old.record.version);
        if let Some(expecting) = &expecting
            && expecting.version != old_version
        {
            return Outcome::Moved;
        }
        if let Some(old) = old
            && moves_back(old, record)
        {
            return Outcome::Stale;
        }
        let version = (old_version + 1).max(u64::try_from(score).unwrap_or(0));
        let mut stored = record.clone();
        stored.version = version;
        let mut kept_cancel = None;
        if let Some(old) = old {
            let old_attempt = old.record.attempt();
            if old_attempt == record.attempt() && record.cancel_requested.is_none() {
                kept_cancel.clone_from(&old.record.cancel_requested);
                stored
                    .cancel_requested
                    .clone_from(&old.record.cancel_requested);
            }
            if record.attempt() > old_attempt && record.attempts.is_empty() {
                // A new attempt from a writer that does not carry the
                // earlier ones: the old value says what they were.
                let mut attempts = old.record.attempts.clone();
                attempts.push(old.record.attempt_summary());
                let excess = attempts.len().saturating_sub(MAX_ATTEMPTS_KEPT);
                attempts.drain(..excess);
                stored.attempts = attempts;
            }
        }
        let mut old = jobs.entries.remove(&record.job_id);
        // A new attempt's chart starts from its own start.
        let restarted = old
            .as_ref()
            .is_some_and(|old| record.attempt() > old.record.attempt());
        let (old_state, log, mut history, old_finished) = match &mut old {
            Some(old) => (
                old.state.take(),
                old.log.take(),
                if restarted {
                    History::default()
                } else {
                    std::mem::take(&mut old.history)
                },
                old.log_finished,
            ),
            None => (None, None, History::default(), None),
        };
        // A finished job's log joins the first to go past the cap, at its
        // first final write; a job that runs again leaves them.
        let log_finished = match old_finished {
            Some(at) if !restarted => Some(at),
            _ if record.status.is_terminal() && log.is_some() => Some(score),
            _ => None,
        };
        jobs.move_finished_log(&record.job_id, old_finished, log_finished);
        history.record(record.sample(), record.status.is_terminal());
        let kept_state = match expecting {
            Some(expecting) => Some(Arc::from(expecting.state)),
            // A write without state leaves the state as it is, as the
            // script's SET of the value alone does (its TTL is reset).
            None => old_state,
        };
        let expires_at = now + self.ttls.for_status(record.status);
        let start = record.status.is_active().then(|| {
            let started = record.started_at.map(|at| at.timestamp_millis());
            (
                started.is_none(),
                started.unwrap_or(i64::MAX),
                record.job_id.clone(),
            )
        });
        let kept = Arc::new(stored.stored_form());
        let entry = Entry {
            record: Arc::clone(&kept),
            sent: record.current_sent_count,
            state: kept_state,
            expires_at,
            start,
            log,
            log_finished,
            history,
        };
        jobs.put(&record.job_id, entry, old.as_ref());
        if let Some(parent) = &record.parent_job_id {
            let entry = ChildEntry::of(record, version);
            let until = now + self.ttls.in_progress;
            jobs.rollups.set(parent, &record.job_id, entry, now, until);
        }
        drop(jobs);
        // No subscriber (no stream open) is not an error.
        let _ = self.events.send(MemoryEvent::Stored(kept));
        Outcome::Written(version, kept_cancel)
    }
}

/// The never-backwards rule, as the Redis write script and the PostgreSQL
/// upsert state it: an earlier attempt (a later one always goes in), or
/// within one attempt a lower status rank, a finished job turned into
/// anything else, or a lower processed count.
fn moves_back(old: &Entry, new: &ProgressRecord) -> bool {
    let (attempt, status) = (old.record.attempt(), old.record.status);
    if new.attempt() != attempt {
        return new.attempt() < attempt;
    }
    new.status.rank() < status.rank()
        || (status.is_terminal() && status != new.status)
        || new.current_sent_count < old.sent
}

#[async_trait]
impl HotStore for MemoryStore {
    async fn write(&self, record: &ProgressRecord) -> Result<HotWrite, StoreError> {
        Ok(match self.store(record, None) {
            Outcome::Written(version, cancel) => HotWrite::Written { version, cancel },
            Outcome::Stale | Outcome::Moved => HotWrite::Stale,
        })
    }

    async fn replace(
        &self,
        record: &ProgressRecord,
        state: &[u8],
        expected: u64,
    ) -> Result<Replaced, StoreError> {
        let expecting = Expecting {
            version: expected,
            state,
        };
        Ok(match self.store(record, Some(expecting)) {
            Outcome::Written(version, _) => Replaced::Written { version },
            Outcome::Stale => Replaced::Stale,
            Outcome::Moved => Replaced::Moved,
        })
    }

    async fn replace_state(
        &self,
        id: &JobId,
        state: &[u8],
        version: u64,
    ) -> Result<bool, StoreError> {
        Ok(self.lock().replace_state(id, state, version))
    }

    async fn read(&self, id: &JobId) -> Result<Option<ProgressRecord>, StoreError> {
        let (kept, rollup) = {
            let mut jobs = self.lock();
            let kept = jobs.live(id).map(|entry| Arc::clone(&entry.record));
            (kept, jobs.rollups.rollup(id, Instant::now()))
        };
        let Some(kept) = kept else {
            return Ok(None);
        };
        let mut record = ProgressRecord::clone(&kept);
        if let Some(rollup) = rollup {
            record.roll_up(&rollup, Utc::now());
        }
        Ok(Some(record))
    }

    async fn read_each(&self, ids: &[JobId]) -> Result<Vec<ReadOne>, StoreError> {
        let mut each = Vec::with_capacity(ids.len());
        for id in ids {
            each.push(self.read(id).await);
        }
        Ok(each)
    }

    async fn rollup(&self, parent: &JobId) -> Result<Option<Rollup>, StoreError> {
        Ok(self.lock().rollups.rollup(parent, Instant::now()))
    }

    async fn child_entries(&self, parent: &JobId) -> Result<Vec<(JobId, ChildEntry)>, StoreError> {
        Ok(self.lock().rollups.entries(parent, Instant::now()))
    }

    async fn load(&self, id: &JobId) -> Result<Option<Held>, StoreError> {
        let found = self
            .lock()
            .live(id)
            .map(|entry| (Arc::clone(&entry.record), entry.state.clone()));
        let Some((kept, state)) = found else {
            return Ok(None);
        };
        Ok(Some(Held {
            record: ProgressRecord::clone(&kept),
            state: state.map(|state| state.to_vec()),
        }))
    }

    async fn read_many(&self, ids: &[JobId]) -> Result<Vec<Option<ProgressRecord>>, StoreError> {
        let kept: Vec<Option<Arc<ProgressRecord>>> = {
            let mut jobs = self.lock();
            jobs.expire(Instant::now());
            ids.iter()
                .map(|id| jobs.entries.get(id).map(|entry| Arc::clone(&entry.record)))
                .collect()
        };
        Ok(kept
            .into_iter()
            .map(|kept| kept.map(|kept| ProgressRecord::clone(&kept)))
            .collect())
    }

    async fn active(
        &self,
        filter: &JobFilter,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        let (page, total) = {
            let mut jobs = self.lock();
            jobs.expire(Instant::now());
            let skip = usize::try_from(offset).unwrap_or(usize::MAX);
            let page: Vec<Arc<ProgressRecord>> = jobs
                .admitted(filter)
                .skip(skip)
                .take(limit as usize)
                .filter_map(|id| Some(Arc::clone(&jobs.entries.get(id)?.record)))
                .collect();
            let total = if filter.q.is_none() && !(filter.top_level && filter.kind.is_some()) {
                // An index's own size: no walk.
                match &filter.kind {
                    Some(kind) => jobs.by_kind.get(kind).map_or(0, BTreeSet::len),
                    None if filter.top_level => jobs.top.len(),
                    None => jobs.by_start.len(),
                }
            } else {
                jobs.admitted(filter).count()
            };
            (page, total as u64)
        };
        let records = page
            .iter()
            .map(|kept| ProgressRecord::clone(kept))
            .collect();
        Ok((records, total))
    }

    async fn append_log(
        &self,
        id: &JobId,
        lines: &[NewLogLine],
    ) -> Result<Option<u64>, StoreError> {
        Ok(self.append_lines(id, lines))
    }

    async fn read_log(&self, id: &JobId, after: u64, limit: u32) -> Result<LogPage, StoreError> {
        self.log_page(id, Some(after), limit)
    }

    async fn log_tail(&self, id: &JobId, most: u32) -> Result<Vec<LogLine>, StoreError> {
        Ok(self.log_page(id, None, most)?.lines)
    }

    async fn history(&self, id: &JobId) -> Result<Vec<Sample>, StoreError> {
        Ok(self
            .lock()
            .live(id)
            .map(|entry| entry.history.samples().to_vec())
            .unwrap_or_default())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "in-process"
    }
}
