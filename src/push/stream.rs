//! What one stream sends, run by its response body (`push/outbox.rs`).
//!
//! A stream of one job sends its snapshot (unless `Last-Event-ID` says the
//! client has it), then every newer change, then `end` once the job has
//! completed or failed (a stream of the active list: `push/page.rs`).
//! Both read through the response cache every
//! [`POLL_INTERVAL`] while the bus is down, and for one cache period more
//! once it is back (what happened while it was down was missed, and the
//! cache may still hold an answer from before). The stream ends when the
//! job ends or the server stops; when the client goes, the connection drops
//! its body, and this code with it.
//!
//! A parent's stream also carries its children's changes: each child's
//! change moves its parent's `children` channel in the hub, and the
//! stream reads the parent again (its record with the children's roll-up)
//! at most once a second (`CHILDREN_INTERVAL`, `push/coalesce.rs`),
//! however many children write; sent when it differs from what the client
//! has, under the same version when only the roll-up moved.

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

pub use super::context::Context;
use super::{
    change::Change,
    coalesce::Coalesced,
    hub::JobWatch,
    logs::{LogCursor, event_id},
    outbox::Outbox,
};
use crate::domain::JobId;
use actix_web::web::Bytes;
use actix_web_lab::sse::{Data, Event};
use bytestring::ByteString;

/// How often a stream re-reads its jobs while the bus is down: the
/// response cache's period, so a watcher sees polling latency at worst and
/// the stores see no more reads than from pollers.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// When a stream reads through the cache instead of waiting for the bus.
pub(super) struct Polling {
    bus: tokio::sync::watch::Receiver<super::hub::BusState>,
    /// Poll until then, though the bus is up: it just came back.
    catch_up_until: Option<Instant>,
    /// How long after the bus came back a read may still be stale.
    staleness: Duration,
    /// Ticks while polling only: a stream whose bus is up holds no timer.
    tick: Option<tokio::time::Interval>,
}

impl Polling {
    pub(super) fn new(ctx: &Context) -> Self {
        let mut bus = ctx.hub.bus_state();
        bus.borrow_and_update();
        Self {
            bus,
            catch_up_until: None,
            staleness: ctx.reader.staleness(),
            tick: None,
        }
    }

    /// Whether to read through the cache on the next tick.
    fn active(&self) -> bool {
        !self.bus.borrow().up
            || self
                .catch_up_until
                .is_some_and(|until| Instant::now() < until)
    }

    /// Resolves on each read to make: a tick while polling, or the bus
    /// coming back (which starts a catch-up of one cache period).
    pub(super) async fn next(&mut self) {
        loop {
            let polling = self.active();
            // The timer lives while polling lasts; its first tick is at
            // once, as a read should be when polling starts.
            if !polling {
                self.tick = None;
            } else if self.tick.is_none() {
                let mut tick = tokio::time::interval(POLL_INTERVAL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                self.tick = Some(tick);
            }
            let (tick, bus) = (&mut self.tick, &mut self.bus);
            tokio::select! {
                () = next_tick(tick), if polling => return,
                changed = bus.changed() => {
                    if changed.is_err() {
                        std::future::pending::<()>().await;
                    }
                    if bus.borrow_and_update().up {
                        self.catch_up_until = Some(Instant::now() + self.staleness + POLL_INTERVAL);
                        return;
                    }
                }
            }
        }
    }
}

/// Resolves at the timer's next tick; never without a timer.
async fn next_tick(tick: &mut Option<tokio::time::Interval>) {
    match tick {
        Some(tick) => {
            tick.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Sends one event (see [`Outbox::send`]).
pub(super) async fn send(tx: &Outbox, event: Event) -> bool {
    tx.send(event).await
}

/// `data` as event data: JSON is UTF-8, so this never fails in practice.
pub(super) fn text(data: &Bytes) -> ByteString {
    ByteString::try_from(data.clone()).unwrap_or_default()
}

/// `event: progress` with the change's [event id](Change::event_id)
/// (when its version is known), and the last log line sent (`seq`; see
/// [`event_id`]).
pub(super) fn progress(change: &Change, seq: u64) -> Event {
    let data = Data::new(text(change.data())).event("progress");
    match event_id(change, seq) {
        Some(id) => data.id(id).into(),
        None => data.into(),
    }
}

/// What a client's `Last-Event-ID` says it has: a version, whether the
/// record it saw said the job was stalled (`<version>s`), and the last
/// log line it got (`<version>[s]-<seq>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventId {
    /// The record's version.
    pub version: u64,
    /// The record said `stalled: true`.
    pub stalled: bool,
    /// The last log line's sequence number; `None` for an id without one
    /// (no line was sent yet: the client has none).
    pub seq: Option<u64>,
}

impl EventId {
    /// `<version>`, `<version>s`, `<version>-<seq>` or `<version>s-<seq>`;
    /// `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let (record, seq) = match raw.split_once('-') {
            Some((record, seq)) => (record, Some(seq.parse().ok()?)),
            None => (raw, None),
        };
        let (digits, stalled) = match record.strip_suffix('s') {
            Some(digits) => (digits, true),
            None => (record, false),
        };
        let version = digits.parse().ok()?;
        Some(Self {
            version,
            stalled,
            seq,
        })
    }
}

fn end() -> Event {
    Data::new("").event("end").into()
}

pub(super) fn stopping() -> Event {
    Event::Comment("the server is stopping; reconnect".into())
}

/// The job's current state through the response cache, if it can be read.
pub(super) async fn read_job(ctx: &Context, id: &JobId) -> Option<Change> {
    // Boxed: the read path's future is several KB, and a stream's code
    // would hold room for it for as long as it is open, idle or not.
    let served = Box::pin(ctx.reader.job(id.clone(), &ctx.request_id)).await;
    Change::from_rendered(&served.response)
}

/// The stream of one job, from its `snapshot` on.
pub async fn job(
    ctx: Context,
    mut watch: JobWatch,
    mut snapshot: Change,
    last_event_id: Option<EventId>,
    tx: Outbox,
) {
    let id = snapshot.job_id.clone();
    // Of one version, the stalled record is the later: only a write
    // (a new version) ends a stall. So a client that saw the version
    // stalled has it even when the snapshot, read a moment earlier
    // through the cache, does not say so yet.
    let client_has_it = snapshot.version > 0
        && last_event_id.is_some_and(|seen| {
            seen.version == snapshot.version && (seen.stalled || !snapshot.stalled)
        });
    if client_has_it && last_event_id.is_some_and(|seen| seen.stalled) {
        snapshot.stalled = true;
    }
    // Every kept line after the one the client has (all of them for a
    // new stream), then each line as it comes.
    let mut log = LogCursor::after(last_event_id.and_then(|seen| seen.seq).unwrap_or(0));
    if !client_has_it && !send(&tx, progress(&snapshot, log.seq)).await {
        return;
    }
    // The log's reads and sends are boxed, as `read_job` is: a stream's
    // state has room for the largest thing it awaits, and an idle stream
    // awaits only the select below.
    if !Box::pin(log.catch_up(&ctx, &id, &snapshot, &tx)).await {
        return;
    }
    if snapshot.terminal {
        send(&tx, end()).await;
        return;
    }
    let mut last = Arc::new(snapshot);
    // A job no write has touched since this instance started has no
    // deadline yet: its snapshot sets one.
    ctx.hub.track(&last);
    let mut polling = Polling::new(&ctx);
    let mut children = Coalesced::default();
    loop {
        let mut rolled_up = false;
        let next = tokio::select! {
            () = ctx.hub.stopping() => {
                send(&tx, stopping()).await;
                return;
            }
            changed = watch.receiver.changed() => match changed {
                Ok(()) => {
                    let change = watch.receiver.borrow_and_update().clone();
                    // A parent's own write is stored without its
                    // children's roll-up: read it again for them.
                    if last.rolled_up {
                        children.due();
                    }
                    change
                }
                Err(_) => return,
            },
            changed = watch.children.changed() => match changed {
                Ok(()) => {
                    children.due();
                    continue;
                }
                Err(_) => return,
            },
            () = children.wait() => {
                rolled_up = true;
                read_job(&ctx, &id).await.map(Arc::new)
            }
            received = watch.logs.recv(), if log.is_open() => {
                let forward = log.forward(received, &mut watch.logs, &ctx, &id, &last, &tx);
                if !Box::pin(forward).await {
                    return;
                }
                continue;
            }
            () = polling.next() => {
                if !Box::pin(log.catch_up(&ctx, &id, &last, &tx)).await {
                    return;
                }
                read_job(&ctx, &id).await.map(Arc::new)
            }
        };
        let Some(change) = next else { continue };
        if !change.supersedes(&last, rolled_up) {
            continue;
        }
        if !send(&tx, progress(&change, log.seq)).await {
            return;
        }
        if change.terminal {
            // Lines written before the end may still be on the bus: the
            // store has them.
            if Box::pin(log.catch_up(&ctx, &id, &change, &tx)).await {
                send(&tx, end()).await;
            }
            return;
        }
        last = change;
    }
}
