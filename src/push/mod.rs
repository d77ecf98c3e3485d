//! Live push: Server-Sent Events per job and for the active list, fanned
//! out to every API instance over a bus.
//!
//! ```text
//! writer ──► Redis write script ──PUBLISH <prefix>events──┐   (or: writer ──► NATS)
//!                                                          ▼
//!            every API instance: one subscription ──► Hub ──► its open streams
//! ```
//!
//! On a Redis Cluster the script `SPUBLISH`es on its key bucket's shard
//! channel (`{<prefix><bucket>}events`), and each instance subscribes to
//! all N.
//!
//! - [`bus`]: the subscription (Redis pub/sub or NATS), resubscribing by
//!   itself; the NATS [`Publisher`] for writers. `push/sharded.rs`: the
//!   subscription to a cluster's shard channels.
//! - [`hub`]: the per-instance fan-out: the latest change per watched job,
//!   whether the active set moved, the bus's state, the cap on streams.
//! - [`slots`]: the caps on open streams, per instance and per client; a
//!   slot belongs to the response body, so it ends with the connection.
//! - `push/stalls.rs`: when each active job will stall, so the hub
//!   announces it (one deadline structure, no timer per stream).
//! - [`outbox`]: a stream's code runs inside its response body, which
//!   takes each event it sends (no task or channel per stream).
//! - [`stream`]: what a stream of one job sends: the snapshot, each change, `end`;
//!   [`logs`]: what it sends of the job's log (`event: log`);
//!   `push/context.rs`: what both need ([`stream::Context`]);
//!   `push/coalesce.rs`: a parent's re-reads for its children's changes,
//!   at most one a second.
//! - [`page`]: what a stream of the active list sends: its page's
//!   `snapshot`, then its jobs' changes and who joined or left the page,
//!   gathered over a window (`push/batch.rs`, `SSE_BATCH_MS`).
//!
//! What the polling design feared, and the answer here:
//!
//! - *Proxies and load balancers cut idle connections* (60 s on an ALB,
//!   some 30 s): a comment every `SSE_HEARTBEAT_SECS` (15 s) keeps the
//!   stream busy; when one is cut anyway, the browser reconnects after the
//!   `retry:` hint with `Last-Event-ID`, and gets nothing it already has.
//! - *Buffering proxies*: `X-Accel-Buffering: no`, `Cache-Control:
//!   no-cache`, and no compression on streams.
//! - *Reconnects*: each job's version only grows, so `Last-Event-ID` says
//!   exactly what the client has; progress is a state, so a client that
//!   missed ten updates gets the latest one, not ten.
//! - *A bus that hangs* (Redis stopped: the connection stays open and
//!   silent): the Redis subscriber `PING`s its connection every
//!   [`bus::BUS_HEALTH_CHECK`] and drops it when no answer comes, so a hang
//!   is noticed within twice that and treated as a drop.
//! - *A bus that drops*: the instance resubscribes, and every stream
//!   re-reads its jobs (nothing missed in between is lost); while it is
//!   down, streams read through the one-second cache, so a watcher sees at
//!   worst polling latency.
//! - *Debugging*: `curl -N .../events` shows the stream as plain text.

mod batch;
pub mod bus;
pub mod change;
mod coalesce;
mod context;
pub mod hub;
pub mod logs;
pub mod outbox;
pub mod page;
mod resubscribe;
mod sharded;
pub mod slots;
mod stalls;
pub mod stream;

pub use bus::{Bus, Publisher};
pub use hub::{FEED_CAPACITY, Hub};
