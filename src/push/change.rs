//! [`Change`]: one stored change of a job as every stream sends it, decoded
//! once and rendered at most once. Its own file so that the hub, which fans
//! changes out, and the stall watch, which makes the `stalled` ones, both
//! depend on it and not on each other.
//!
//! The hub takes in every change the bus carries (the stall watch needs
//! each active job's latest): decoded from Redis's or NATS's JSON, or, from
//! the in-process store, the very record it stored, shared. Most changes
//! reach no stream: a job nobody watches, or one off every open page. So a
//! change keeps its record and renders it only when a stream first sends
//! it; before, rendering every change was about half of the hub's work
//! (BENCHMARKS.md, "Ingest on the embedded stores").

use std::sync::{Arc, OnceLock};

use actix_web::web::Bytes;
use chrono::{DateTime, TimeDelta, Utc};

use crate::{
    domain::{JobId, ProgressRecord, StallPolicy},
    read::envelope::Rendered,
};

/// One stored change of a job, decoded once, rendered once when a stream
/// first sends it.
#[derive(Debug)]
pub struct Change {
    /// The job.
    pub job_id: JobId,
    /// Its version (the event id); 0 when unknown (read from the archive).
    pub version: u64,
    /// `completed` or `failed`: the job's last change.
    pub terminal: bool,
    /// The record says the job is stalled (its writer went silent).
    pub stalled: bool,
    /// Still `preparing` or `in_progress`: it can stall.
    active: bool,
    /// The record has no `startedAt` yet: the active list sorts it last
    /// until it has one.
    unstarted: bool,
    /// When the record was last written, and how often its writer said it
    /// would: when it will stall.
    updated_at: Option<DateTime<Utc>>,
    refresh_interval_ms: Option<u64>,
    /// How far the job has got: status rank, then processed count.
    progress: (u8, u64),
    /// The job this one is a part of: its streams hear of the change.
    pub parent: Option<JobId>,
    /// The record carries its children's roll-up (it is a parent).
    pub rolled_up: bool,
    /// The record: shared with the in-process store that published it.
    record: Arc<ProgressRecord>,
    /// The record as the polling endpoint's `data` serves it, rendered
    /// when first asked for ([`data`](Self::data)).
    data: OnceLock<Bytes>,
}

impl Change {
    /// The change `record` is, with its rendering if it has one already.
    fn new(record: Arc<ProgressRecord>, data: Option<Bytes>) -> Self {
        Self {
            job_id: record.job_id.clone(),
            version: record.version,
            terminal: record.status.is_terminal(),
            stalled: record.stalled,
            active: record.status.is_active(),
            unstarted: record.started_at.is_none(),
            updated_at: record.updated_at,
            refresh_interval_ms: record.refresh_interval_ms,
            progress: (record.status.rank(), record.current_sent_count),
            parent: record.parent_job_id.clone(),
            rolled_up: record.children.is_some(),
            record,
            data: data.map(OnceLock::from).unwrap_or_default(),
        }
    }

    /// The change that `record` is.
    pub fn of(record: &ProgressRecord) -> Self {
        Self::new(Arc::new(record.clone()), None)
    }

    /// The change a store published as `record`, as stored (its stored
    /// form: what [`decode`](Self::decode) makes of its JSON).
    pub fn stored(record: Arc<ProgressRecord>) -> Self {
        Self::new(record, None)
    }

    /// A change from a published payload (the stored JSON).
    pub fn decode(payload: &[u8]) -> Result<Self, serde_json::Error> {
        Ok(Self::stored(Arc::new(ProgressRecord::from_stored_json(
            payload,
        )?)))
    }

    /// The change a successful single-job answer of the read path holds;
    /// `None` for an error answer.
    pub fn from_rendered(rendered: &Rendered) -> Option<Self> {
        let data = rendered.data()?;
        let record: ProgressRecord = serde_json::from_slice(&data).ok()?;
        Some(Self::new(Arc::new(record), Some(data)))
    }

    /// The record as the polling endpoint's `data` serves it: rendered
    /// the first time it is asked for, by whichever stream sends it first.
    pub fn data(&self) -> &Bytes {
        self.data.get_or_init(|| {
            // Plain data: only a bug could make it fail; then the stream
            // sends `{}` rather than nothing.
            serde_json::to_vec(&self.record)
                .map(Bytes::from)
                .unwrap_or_else(|_| Bytes::from_static(b"{}"))
        })
    }

    /// The record itself.
    pub fn record(&self) -> &ProgressRecord {
        &self.record
    }

    /// The event id: the version, with `s` appended when the record says
    /// the job is stalled (the same version is sent twice when a job
    /// stalls, and a client reconnecting must say which it saw); `None`
    /// when the version is unknown.
    pub fn event_id(&self) -> Option<String> {
        match (self.version, self.stalled) {
            (0, _) => None,
            (version, false) => Some(version.to_string()),
            (version, true) => Some(format!("{version}s")),
        }
    }

    /// The record has no `startedAt` yet: the active list, ordered by
    /// start, sorts it last and moves it once it starts.
    pub fn unstarted(&self) -> bool {
        self.unstarted
    }

    /// When this record will count as stalled, unless a newer one comes;
    /// `None` when it cannot stall (finished, already stalled, never
    /// updated).
    pub fn stall_deadline(&self, policy: &StallPolicy) -> Option<DateTime<Utc>> {
        if !self.active || self.stalled {
            return None;
        }
        let updated_at = self.updated_at?;
        Some(deadline(updated_at, policy.limit(self.refresh_interval_ms)))
    }

    /// This record with `stalled` set, if it is stalled as of `now`.
    pub fn stalled_at(&self, now: DateTime<Utc>, policy: &StallPolicy) -> Option<Self> {
        let record = self.record.as_ref().clone().with_stall_check(now, policy);
        record.stalled.then(|| Self::new(Arc::new(record), None))
    }

    /// Whether a client that has `than` should get this. Versions decide
    /// where both are known (and of one version, the record that says the
    /// job stalled is the newer); a record from the archive (no version)
    /// only counts when the job has got further, so a stale checkpoint
    /// never replaces a live record.
    pub fn is_newer_than(&self, than: &Change) -> bool {
        self.supersedes(than, false)
    }

    /// Whether this change is to be sent after `than`: newer, or, for a
    /// parent re-read because its children changed (`rolled_up`), the same
    /// version with other content (its own record did not move; its
    /// children's roll-up did).
    pub fn supersedes(&self, than: &Change, rolled_up: bool) -> bool {
        if rolled_up && self.version > 0 && self.version == than.version {
            return self.data() != than.data();
        }
        match (self.version, than.version) {
            (0, 0) => {
                self.progress > than.progress
                    || (self.progress == than.progress && self.data() != than.data())
            }
            (0, _) => self.progress > than.progress,
            (_, 0) => self.progress >= than.progress,
            (ours, theirs) => ours > theirs || (ours == theirs && self.stalled && !than.stalled),
        }
    }
}

/// A deadline just past the limit: a record is stalled once its silence
/// is longer than the limit, not equal to it.
fn deadline(updated_at: DateTime<Utc>, limit: std::time::Duration) -> DateTime<Utc> {
    let limit = TimeDelta::from_std(limit).unwrap_or(TimeDelta::MAX);
    updated_at
        .checked_add_signed(limit + TimeDelta::milliseconds(1))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
