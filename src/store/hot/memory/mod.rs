//! [`HotStore`] in the process's own memory: the default when no
//! `REDIS_URL` is set, so the service runs with nothing installed.
//!
//! It keeps every promise the Redis store keeps, in the same shape:
//!
//! - a job's value is the same stored JSON (the wire format less `null`s
//!   and derived fields, `version` first), decoded on read exactly as a
//!   Redis value is, so both stores answer the same record for the same
//!   writes;
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
//!   subscribes to).
//!
//! What it cannot do: be shared. Several API instances, or workers in
//! other processes using [`ProgressWriter`] directly, each see a store of
//! their own; workers of an embedded server report over HTTP. Everything
//! here is lost when the process stops; the archive keeps the checkpoints.
//!
//! One `std::sync::Mutex` guards the map and its indexes: every critical
//! section is a few map operations with no `.await` inside, so a blocking
//! lock is cheaper than an async one (as in mini-redis's `db.rs`). Values
//! are decoded after the lock is released.
//!
//! [`ProgressWriter`]: crate::write::ProgressWriter

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use actix_web::web::Bytes;
use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::broadcast;

mod kept_log;
mod kept_rollups;
mod log;

use super::{Held, HotStore, HotWrite, ReadOne, Replaced, StoreError, Ttls, decode};
use crate::domain::{
    CancelRequest, ChildEntry, History, JobFilter, JobId, JobKind, JobStatus, LogCap, LogLine,
    LogPage, MAX_ATTEMPTS_KEPT, NewLogLine, ProgressRecord, Rollup, Sample,
};
use kept_log::KeptLog;
use kept_rollups::KeptRollups;

/// Where a job sorts in the active list: jobs with a start first, by
/// start; then those without; ties by id (Redis orders equal scores by
/// member, byte by byte, as `String`'s `Ord` does).
type StartKey = (bool, i64, JobId);

/// One job's value and what the rules compare, kept beside it so a write
/// never parses the old JSON.
struct Entry {
    /// The stored JSON, version first.
    json: Arc<str>,
    /// The writer's state (jobs written over HTTP).
    state: Option<Arc<[u8]>>,
    version: u64,
    status: JobStatus,
    sent: u64,
    /// The attempt it is of, and a request to stop it, which a write of
    /// the same attempt that lacks one keeps (as the script does).
    attempt: u32,
    cancel: Option<CancelRequest>,
    expires_at: Instant,
    /// Its place in the active index, while it is active.
    start: Option<StartKey>,
    /// Its log, once a line was written.
    log: Option<KeptLog>,
    /// When it finished, if it has a log: its place among the logs that go
    /// first past the cap.
    log_finished: Option<i64>,
    /// Its progress samples.
    history: History,
    /// Its kind (it is in that kind's index while active) and name: what
    /// the active list's filters read.
    kind: Option<JobKind>,
    name: Option<String>,
    /// It has a parent (it is left out of the top-level index).
    child: bool,
}

#[derive(Default)]
struct Jobs {
    entries: HashMap<JobId, Entry>,
    /// The active index: every active, unexpired job, in list order.
    by_start: BTreeSet<StartKey>,
    /// The same jobs less those with a parent.
    top: BTreeSet<StartKey>,
    /// The same jobs by kind, each kind's in list order.
    by_kind: HashMap<JobKind, BTreeSet<StartKey>>,
    /// Every value by expiry, so expired ones leave in order, each found
    /// once, without a scan.
    by_expiry: BTreeSet<(Instant, JobId)>,
    /// The bytes of every kept log together (see `log.rs`).
    log_bytes: usize,
    /// Finished jobs with a log, by when they finished: whose logs go
    /// first past the cap.
    finished_logs: BTreeSet<(i64, JobId)>,
    /// Parents' roll-ups of their children.
    rollups: KeptRollups,
}

impl Jobs {
    /// Drops every value whose TTL ran out, with its index entries, and
    /// every parent's roll-up whose TTL ran out.
    fn expire(&mut self, now: Instant) {
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

    fn remove(&mut self, id: &JobId) -> Option<Entry> {
        let entry = self.entries.remove(id)?;
        self.by_expiry.remove(&(entry.expires_at, id.clone()));
        if let Some(start) = &entry.start {
            self.by_start.remove(start);
            self.top.remove(start);
            if let Some(kind) = &entry.kind
                && let Some(index) = self.by_kind.get_mut(kind)
            {
                index.remove(start);
                if index.is_empty() {
                    self.by_kind.remove(kind);
                }
            }
        }
        Some(entry)
    }

    /// The active jobs `filter` admits, in list order.
    fn admitted<'a>(&'a self, filter: &'a JobFilter) -> impl Iterator<Item = &'a JobId> + 'a {
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
                    || self.entries.get(*id).is_some_and(|entry| !entry.child)
            })
            .filter(move |id| {
                filter.q.is_none()
                    || self.entries.get(*id).is_some_and(|entry| {
                        filter.admits(
                            id.as_str(),
                            entry.kind.as_ref().map(JobKind::as_str),
                            entry.name.as_deref(),
                        )
                    })
            })
    }

    /// The live entry of `id` (expired ones are dropped first).
    fn live(&mut self, id: &JobId) -> Option<&Entry> {
        self.expire(Instant::now());
        self.entries.get(id)
    }
}

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

/// The in-process hot store. Cheap to clone: clones share the data.
#[derive(Clone)]
pub struct MemoryStore {
    jobs: Arc<Mutex<Jobs>>,
    ttls: Ttls,
    log_cap: LogCap,
    events: broadcast::Sender<Bytes>,
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

    /// Every stored value, as stored, as it is written: what the Redis
    /// store publishes on its events channel.
    pub fn events(&self) -> broadcast::Sender<Bytes> {
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
    fn store(
        &self,
        record: &ProgressRecord,
        expecting: Option<Expecting<'_>>,
    ) -> Result<Outcome, StoreError> {
        let now = Instant::now();
        let score = record
            .updated_at
            .unwrap_or_else(Utc::now)
            .timestamp_millis();
        let mut jobs = self.lock();
        jobs.expire(now);
        let old = jobs.entries.get(&record.job_id);
        let old_version = old.map_or(0, |old| old.version);
        if let Some(expecting) = &expecting
            && expecting.version != old_version
        {
            return Ok(Outcome::Moved);
        }
        if let Some(old) = old
            && moves_back(old, record)
        {
            return Ok(Outcome::Stale);
        }
        let version = (old_version + 1).max(u64::try_from(score).unwrap_or(0));
        let mut stored = record.clone();
        stored.version = version;
        let mut kept_cancel = None;
        if let Some(old) = old {
            if old.attempt == record.attempt() && record.cancel_requested.is_none() {
                kept_cancel.clone_from(&old.cancel);
                stored.cancel_requested.clone_from(&old.cancel);
            }
            if record.attempt() > old.attempt && record.attempts.is_empty() {
                // A new attempt from a writer that does not carry the
                // earlier ones: the old value says what they were.
                if let Ok(previous) = decode(&record.job_id, &old.json) {
                    let mut attempts = previous.attempts.clone();
                    attempts.push(previous.attempt_summary());
                    let excess = attempts.len().saturating_sub(MAX_ATTEMPTS_KEPT);
                    attempts.drain(..excess);
                    stored.attempts = attempts;
                }
            }
        }
        let json: Arc<str> = stored
            .to_stored_json()
            .map_err(|err| StoreError::corrupt(record.job_id.to_string(), err))?
            .into();
        let (old_state, log, mut history, old_finished, restarted) = jobs
            .remove(&record.job_id)
            .map_or((None, None, History::default(), None, false), |old| {
                // A new attempt's chart starts from its own start.
                let restarted = record.attempt() > old.attempt;
                let history = if restarted {
                    History::default()
                } else {
                    old.history
                };
                (old.state, old.log, history, old.log_finished, restarted)
            });
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
        let child = record.parent_job_id.is_some();
        if let Some(start) = &start {
            jobs.by_start.insert(start.clone());
            if !child {
                jobs.top.insert(start.clone());
            }
            if let Some(kind) = &record.kind {
                jobs.by_kind
                    .entry(kind.clone())
                    .or_default()
                    .insert(start.clone());
            }
        }
        jobs.by_expiry.insert((expires_at, record.job_id.clone()));
        jobs.entries.insert(
            record.job_id.clone(),
            Entry {
                json: Arc::clone(&json),
                state: kept_state,
                version,
                status: record.status,
                sent: record.current_sent_count,
                attempt: record.attempt(),
                cancel: stored.cancel_requested.clone(),
                expires_at,
                start,
                log,
                log_finished,
                history,
                kind: record.kind.clone(),
                name: record.name.as_ref().map(|name| name.as_str().to_owned()),
                child,
            },
        );
        if let Some(parent) = &record.parent_job_id {
            let entry = ChildEntry::of(record, version);
            let until = now + self.ttls.in_progress;
            jobs.rollups.set(parent, &record.job_id, entry, now, until);
        }
        drop(jobs);
        // No subscriber (no stream open) is not an error.
        let _ = self.events.send(Bytes::from(json.as_bytes().to_vec()));
        Ok(Outcome::Written(version, kept_cancel))
    }
}

/// The never-backwards rule, as the Redis write script and the PostgreSQL
/// upsert state it: an earlier attempt (a later one always goes in), or
/// within one attempt a lower status rank, a finished job turned into
/// anything else, or a lower processed count.
fn moves_back(old: &Entry, new: &ProgressRecord) -> bool {
    if new.attempt() != old.attempt {
        return new.attempt() < old.attempt;
    }
    new.status.rank() < old.status.rank()
        || (old.status.is_terminal() && old.status != new.status)
        || new.current_sent_count < old.sent
}

#[async_trait]
impl HotStore for MemoryStore {
    async fn write(&self, record: &ProgressRecord) -> Result<HotWrite, StoreError> {
        Ok(match self.store(record, None)? {
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
        Ok(match self.store(record, Some(expecting))? {
            Outcome::Written(version, _) => Replaced::Written { version },
            Outcome::Stale => Replaced::Stale,
            Outcome::Moved => Replaced::Moved,
        })
    }

    async fn read(&self, id: &JobId) -> Result<Option<ProgressRecord>, StoreError> {
        let (json, rollup) = {
            let mut jobs = self.lock();
            let json = jobs.live(id).map(|entry| Arc::clone(&entry.json));
            (json, jobs.rollups.rollup(id, Instant::now()))
        };
        let Some(json) = json else {
            return Ok(None);
        };
        let mut record = decode(id, &json)?;
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
            .map(|entry| (Arc::clone(&entry.json), entry.state.clone()));
        let Some((json, state)) = found else {
            return Ok(None);
        };
        Ok(Some(Held {
            record: decode(id, &json)?,
            state: state.map(|state| state.to_vec()),
        }))
    }

    async fn read_many(&self, ids: &[JobId]) -> Result<Vec<Option<ProgressRecord>>, StoreError> {
        let values: Vec<Option<Arc<str>>> = {
            let mut jobs = self.lock();
            jobs.expire(Instant::now());
            ids.iter()
                .map(|id| jobs.entries.get(id).map(|entry| Arc::clone(&entry.json)))
                .collect()
        };
        Ok(ids
            .iter()
            .zip(values)
            .map(|(id, json)| json.and_then(|json| decode(id, &json).ok()))
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
            let page: Vec<(JobId, Arc<str>)> = jobs
                .admitted(filter)
                .skip(skip)
                .take(limit as usize)
                .filter_map(|id| {
                    let json = Arc::clone(&jobs.entries.get(id)?.json);
                    Some((id.clone(), json))
                })
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
        let mut records = Vec::with_capacity(page.len());
        for (id, json) in page {
            match decode(&id, &json) {
                Ok(record) => records.push(record),
                Err(err) => tracing::warn!(error = %err, "skipping an unreadable record"),
            }
        }
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
