//! The webhook outbox: the [`Outbox`] interface both archives implement
//! (`store/archive/outbox/`), and the rows it takes and gives.
//!
//! An event is an [`OutboxEvent`] row, written in the transaction that
//! makes the status change durable (the archive's checkpoint, given the
//! [`EventSet`] some subscription wants) or, for a stall, by the instance
//! whose insert wins the unique key. The delivery loop then routes each new
//! event to the subscriptions that want it ([`Outbox::route`]), claims due
//! deliveries ([`Outbox::claim`]) and settles each attempt
//! ([`Outbox::settle`]). The loop, the subscriptions and the HTTP calls
//! live above, in `notify/`; this layer knows only rows.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::{EventSet, EventType, JobId, ProgressRecord};

/// One event to announce: the outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// `msg_` and 32 random hex digits: the `webhook-id` of every attempt.
    pub id: String,
    /// The job.
    pub job_id: JobId,
    /// Its attempt.
    pub attempt: u32,
    /// What happened.
    pub event: EventType,
    /// Which stall of the attempt (the record version at which it stalled);
    /// 0 for the other events.
    pub episode: u64,
    /// The record, as the read path serves it (JSON): the event's `data`.
    pub payload: String,
}

impl OutboxEvent {
    /// The event `event` of `record`, with a new id; `None` when the record
    /// cannot be rendered (plain data: only a bug could make it fail).
    pub fn of(record: &ProgressRecord, event: EventType, episode: u64) -> Option<Self> {
        Some(Self {
            id: message_id(),
            job_id: record.job_id.clone(),
            attempt: record.attempt(),
            event,
            episode,
            payload: serde_json::to_string(record).ok()?,
        })
    }

    /// The events a checkpoint of `records` may announce, among `wanted`:
    /// each record's status's event ([`EventType::of_status`]). The archive
    /// writes one only when the job's status (or attempt) changed with the
    /// write, and the unique key keeps a repeated one out.
    pub fn of_checkpoints(records: &[ProgressRecord], wanted: EventSet) -> Vec<Self> {
        if wanted.is_empty() {
            return Vec::new();
        }
        records
            .iter()
            .filter_map(|record| {
                let event = EventType::of_status(record.status)?;
                wanted
                    .contains(event)
                    .then(|| Self::of(record, event, 0))
                    .flatten()
            })
            .collect()
    }
}

/// A new message id: `msg_` and 128 random bits in hex. Random, so two
/// instances never make the same one; `thread_rng`-free, from the
/// operating system, like the tokens' secrets.
fn message_id() -> String {
    let mut bytes = [0u8; 16];
    // The operating system's generator does not fail on the systems this
    // runs on; should it, the time keeps ids distinct within this process.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        bytes[..8].copy_from_slice(&nanos.to_le_bytes());
    }
    format!("msg_{}", hex::encode(bytes))
}

/// An event not yet routed to its subscriptions.
#[derive(Debug, Clone)]
pub struct Unrouted {
    /// The message id.
    pub id: String,
    /// The job.
    pub job_id: String,
    /// `job.completed`, ...
    pub event_type: String,
    /// The record (JSON).
    pub payload: String,
}

/// A delivery claimed for an attempt: nobody else sends it until its
/// lease runs out.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The message id (`webhook-id`).
    pub message_id: String,
    /// The subscription's name.
    pub subscription: String,
    /// `job.completed`, ...
    pub event_type: String,
    /// The job.
    pub job_id: String,
    /// When the event was written: its `timestamp`.
    pub created_at: DateTime<Utc>,
    /// The record (JSON).
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// What became of an attempt, and so of its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx: done.
    Delivered,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// Given up: a dead letter, until someone retries it.
    Dead,
}

impl Verdict {
    /// The delivery's state after it (`delivered`, `pending`, `dead`).
    pub fn state(self) -> &'static str {
        match self {
            Verdict::Delivered => "delivered",
            Verdict::RetryAt(_) => "pending",
            Verdict::Dead => "dead",
        }
    }
}

/// One attempt, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Its row's id (0 before it is stored): the deliveries page's cursor.
    pub id: i64,
    /// The message id.
    pub message_id: String,
    /// The subscription's name.
    pub subscription: String,
    /// The event type of the message (empty before it is stored).
    pub event_type: String,
    /// The job (empty before it is stored).
    pub job_id: String,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The answer's status; `None` when none came (refused, timed out).
    pub status_code: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
    /// `delivered`, `retry`, `dead`, `disabled`.
    pub outcome: String,
    /// The first 1 KB of the answer, or what went wrong.
    pub response: String,
    /// The delivery's state now (`pending`, `delivered`, `dead`; empty
    /// before it is stored).
    pub state: String,
}

/// A subscription's deliveries, summed up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Deliveries given up.
    pub dead: u64,
    /// Deliveries waiting for their next attempt.
    pub pending: u64,
    /// Its latest attempt.
    pub last: Option<Attempt>,
}

/// The outbox's operations, on the archive's database.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Writes `events`, leaving out any whose (job, attempt, event,
    /// episode) is already there; returns how many it wrote. The stall
    /// watch's way in: of several instances, the first insert wins.
    async fn enqueue(&self, events: &[OutboxEvent]) -> Result<u64, StoreError>;

    /// Routes at most `limit` new events, oldest first: for each, one
    /// pending delivery, due now, per subscription `pick` names. Events
    /// and their deliveries are written in one transaction, so a crash
    /// cannot lose one; on PostgreSQL, events another instance is routing
    /// are skipped. Returns how many events it routed.
    async fn route(
        &self,
        limit: u32,
        pick: &(dyn for<'e> Fn(&'e Unrouted) -> Vec<String> + Send + Sync),
    ) -> Result<usize, StoreError>;

    /// Claims at most `limit` pending deliveries due by now, soonest first,
    /// pushing their next attempt to now + `lease` so no one else takes
    /// them meanwhile (on PostgreSQL with `FOR UPDATE SKIP LOCKED`: two
    /// instances never claim the same one). An instance that dies holding
    /// one leaves it to be claimed again when the lease runs out.
    async fn claim(&self, limit: u32, lease: Duration) -> Result<Vec<Claimed>, StoreError>;

    /// Keeps `attempt` and moves its delivery as `verdict` says.
    async fn settle(&self, attempt: &Attempt, verdict: Verdict) -> Result<(), StoreError>;

    /// Disables `subscription` (its receiver said 410 Gone): its pending
    /// deliveries are given up, and it gets no more.
    async fn disable(&self, subscription: &str) -> Result<(), StoreError>;

    /// The subscriptions disabled so far.
    async fn disabled(&self) -> Result<Vec<String>, StoreError>;

    /// Each of `subscriptions`' dead and pending counts and latest attempt.
    async fn stats(&self, subscriptions: &[String]) -> Result<Vec<DeliveryStats>, StoreError>;

    /// A page of `subscription`'s attempts, newest first, from before the
    /// attempt `before` (the cursor) on.
    async fn attempts(
        &self,
        subscription: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError>;

    /// Makes `subscription`'s dead delivery of `message_id` pending and due
    /// now; `false` when there is no such dead delivery.
    async fn retry(&self, subscription: &str, message_id: &str) -> Result<bool, StoreError>;

    /// When the oldest event still waiting (unrouted, or with a pending
    /// delivery) was written.
    async fn oldest_waiting(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Deletes at most `batch` of each of: attempts made, finished
    /// deliveries and routed events written, more than `keep` ago; returns
    /// how many rows it deleted.
    async fn prune(&self, keep: Duration, batch: u32) -> Result<u64, StoreError>;
}

/// Microseconds since the epoch: how the outbox's tables keep times.
pub(crate) fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

/// The time `micros` microseconds after the epoch.
pub(crate) fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::JobStatus;

    fn record(id: &str, status: JobStatus) -> ProgressRecord {
        ProgressRecord::new(JobId::parse(id).unwrap(), status, Some(10))
    }

    #[test]
    fn checkpoints_announce_only_wanted_events_of_their_status() {
        let records = [
            record("a", JobStatus::Preparing),
            record("b", JobStatus::InProgress),
            record("c", JobStatus::Completed),
            record("d", JobStatus::Failed),
        ];
        let wanted = EventSet::NONE
            .with(EventType::Completed)
            .with(EventType::Started);
        let events = OutboxEvent::of_checkpoints(&records, wanted);
        let names: Vec<_> = events
            .iter()
            .map(|e| (e.job_id.as_str(), e.event))
            .collect();
        assert_eq!(
            names,
            [("b", EventType::Started), ("c", EventType::Completed)]
        );
        assert!(events[0].id.starts_with("msg_") && events[0].id.len() == 36);
        assert_ne!(events[0].id, events[1].id);
        assert!(OutboxEvent::of_checkpoints(&records, EventSet::NONE).is_empty());
    }
}
