//! What a webhook can announce: the [`EventType`]s and a set of them
//! ([`EventSet`]), the value the write path hands the archive so that it
//! writes an outbox row only for events some subscription wants.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
};

use super::JobStatus;

/// One kind of event a subscription can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// The first report that moved an attempt of the job to `in_progress`.
    Started,
    /// The job completed.
    Completed,
    /// The job failed.
    Failed,
    /// The job stopped on request.
    Cancelled,
    /// The job's writer went silent past its stall limit (once per stall).
    Stalled,
}

/// The text is not an event type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown event {0:?}: expected job.started, job.completed, job.failed, job.cancelled or \
     job.stalled"
)]
pub struct UnknownEvent(pub String);

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 5] = [
        EventType::Started,
        EventType::Completed,
        EventType::Failed,
        EventType::Cancelled,
        EventType::Stalled,
    ];

    /// Its name on the wire (`job.completed`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Started => "job.started",
            EventType::Completed => "job.completed",
            EventType::Failed => "job.failed",
            EventType::Cancelled => "job.cancelled",
            EventType::Stalled => "job.stalled",
        }
    }

    /// The event type named `name`.
    pub fn parse(name: &str) -> Result<Self, UnknownEvent> {
        EventType::ALL
            .into_iter()
            .find(|event| event.as_str() == name)
            .ok_or_else(|| UnknownEvent(name.to_owned()))
    }

    /// The event a checkpoint of a job in `status` announces, when its
    /// status changed: `None` for `preparing` (and for a status this
    /// release does not know). A stall is no status: it has no write.
    pub fn of_status(status: JobStatus) -> Option<Self> {
        match status {
            JobStatus::InProgress => Some(EventType::Started),
            JobStatus::Completed => Some(EventType::Completed),
            JobStatus::Failed => Some(EventType::Failed),
            JobStatus::Cancelled => Some(EventType::Cancelled),
            JobStatus::Preparing | JobStatus::Other(_) => None,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of event types. Empty by default: no webhook, no outbox row, and
/// the checkpoint statement of a service without webhooks is the one it
/// always was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventSet(u8);

impl EventSet {
    /// No event.
    pub const NONE: EventSet = EventSet(0);
    /// Every event: for a writer that checkpoints on its own and cannot
    /// know which events the API's subscriptions want (rows nobody wants
    /// are routed to no one and pruned with the rest).
    pub const ALL: EventSet = EventSet(0b1_1111);

    /// Whether it holds `event`.
    pub fn contains(self, event: EventType) -> bool {
        self.0 & event.bit() != 0
    }

    /// Whether it holds no event.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// It, with `event` too.
    #[must_use]
    pub fn with(self, event: EventType) -> Self {
        EventSet(self.0 | event.bit())
    }

    /// The events of both.
    #[must_use]
    pub fn union(self, other: EventSet) -> Self {
        EventSet(self.0 | other.0)
    }

    /// The events it holds, in [`EventType::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = EventType> {
        EventType::ALL
            .into_iter()
            .filter(move |e| self.contains(*e))
    }
}

impl FromIterator<EventType> for EventSet {
    fn from_iter<I: IntoIterator<Item = EventType>>(events: I) -> Self {
        events.into_iter().fold(EventSet::NONE, EventSet::with)
    }
}

/// The events some subscription wants, shared between the subscriptions
/// (which change on reload) and the archive (which reads it at each
/// checkpoint): a reload that adds an event makes the next checkpoint
/// write it. One atomic load per checkpoint.
#[derive(Debug, Clone, Default)]
pub struct WantedEvents(Arc<AtomicU8>);

impl WantedEvents {
    /// A cell holding `events`.
    pub fn new(events: EventSet) -> Self {
        Self(Arc::new(AtomicU8::new(events.0)))
    }

    /// The events wanted now.
    pub fn get(&self) -> EventSet {
        EventSet(self.0.load(Ordering::Relaxed))
    }

    /// Replaces the events wanted.
    pub fn set(&self, events: EventSet) {
        self.0.store(events.0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sets_hold_what_was_put_in() {
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Ok(event));
        }
        assert!(EventType::parse("job.done").is_err());
        let set: EventSet = [EventType::Completed, EventType::Stalled]
            .into_iter()
            .collect();
        assert!(set.contains(EventType::Completed) && set.contains(EventType::Stalled));
        assert!(!set.contains(EventType::Started));
        assert_eq!(set.iter().count(), 2);
        assert_eq!(
            EventType::ALL.into_iter().collect::<EventSet>(),
            EventSet::ALL
        );
        assert!(EventSet::default().is_empty());
    }

    #[test]
    fn statuses_announce_their_events() {
        assert_eq!(EventType::of_status(JobStatus::Preparing), None);
        assert_eq!(
            EventType::of_status(JobStatus::InProgress),
            Some(EventType::Started)
        );
        assert_eq!(
            EventType::of_status(JobStatus::Cancelled),
            Some(EventType::Cancelled)
        );
    }
}
