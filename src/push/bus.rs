//! The bus between writers and API instances: Redis pub/sub (the write
//! script publishes every stored record), sharded pub/sub on a Redis
//! Cluster (the same, one shard channel per key bucket), NATS (the writer
//! publishes after its Redis write), or, with the in-process store, that
//! store's own channel. Each API instance holds one subscription, which
//! feeds its [`Hub`].

use std::{sync::Arc, time::Duration};

use actix_web::web::Bytes;
use anyhow::Context as _;
use futures_util::{
    FutureExt as _, StreamExt as _,
    future::{Fuse, FusedFuture as _},
};
use tokio::sync::broadcast;

use super::{change::Change, hub::Hub, resubscribe::RESUBSCRIBE, sharded};
use crate::{
    domain::{JobId, LogBatch, NewLogLine, ProgressRecord, numbered},
    error::error_chain,
    store::MemoryEvent,
};

/// Which bus carries changes.
#[derive(Debug, Clone)]
pub enum Bus {
    /// Redis pub/sub on the events channel of the key prefix.
    Redis {
        /// The Redis the hot store uses.
        client: redis::Client,
        /// `<prefix>events`.
        channel: String,
    },
    /// Sharded pub/sub on a Redis Cluster: the write script `SPUBLISH`es
    /// on its bucket's shard channel, served by that slot's master alone,
    /// and the instance subscribes to every bucket's.
    RedisCluster {
        /// Any node of the cluster (`REDIS_URL`).
        url: String,
        /// `{<prefix><bucket>}events`, one per bucket.
        channels: Vec<String>,
        /// The longest wait for one node to answer.
        timeout: Duration,
    },
    /// NATS core pub/sub on the subject of the same name.
    Nats {
        /// `nats://host:port`.
        url: String,
        /// `<prefix>events`.
        subject: String,
    },
    /// The in-process store's channel
    /// ([`MemoryStore::events`](crate::store::MemoryStore::events)): the
    /// process is its only reader and writer, and nothing on it is encoded.
    InProcess(broadcast::Sender<MemoryEvent>),
}

impl Bus {
    /// Subscribes in a task of its own, for as long as the process lives,
    /// resubscribing whenever the subscription is lost; tells `hub` each
    /// time it is up or down.
    pub fn spawn_subscriber(self, hub: Arc<Hub>) {
        match self {
            Bus::Redis { client, channel } => {
                tokio::spawn(redis_subscriber(client, channel, hub));
            }
            Bus::RedisCluster {
                url,
                channels,
                timeout,
            } => {
                tokio::spawn(sharded::subscriber(url, channels, timeout, hub));
            }
            Bus::Nats { url, subject } => {
                tokio::spawn(nats_subscriber(url, subject, hub));
            }
            Bus::InProcess(events) => {
                tokio::spawn(in_process_subscriber(events.subscribe(), hub));
            }
        }
    }
}

/// How often the Redis subscriber checks its connection with a `PING`, and
/// how long it waits for the answer: a Redis that hangs (stopped, swapped
/// out, a network that drops packets without a reset) never closes the
/// connection, and a subscription only reads, so without a question of its
/// own the subscriber would wait on a bus that sends nothing. A hang is
/// noticed within twice this; one `PING` per instance per interval costs
/// Redis nothing.
pub const BUS_HEALTH_CHECK: Duration = Duration::from_secs(2);

/// Why a subscription ended.
enum Lost {
    /// The connection closed (Redis restarted, the client was killed).
    Closed,
    /// A `PING` went unanswered for [`BUS_HEALTH_CHECK`], or failed.
    Unanswered,
}

async fn redis_subscriber(client: redis::Client, channel: String, hub: Arc<Hub>) {
    let mut delays = RESUBSCRIBE.delays();
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            redis::RedisResult::Ok(pubsub)
        };
        // Bounded: a hung Redis accepts the connection and never answers.
        match tokio::time::timeout(BUS_HEALTH_CHECK, subscribed).await {
            Ok(Ok(pubsub)) => {
                tracing::info!(channel, "subscribed to the events channel");
                hub.bus_up();
                delays.reset();
                let lost = follow(pubsub, &hub).await;
                hub.bus_down();
                let why = match lost {
                    Lost::Closed => "the connection closed",
                    Lost::Unanswered => "Redis did not answer a PING",
                };
                tracing::warn!(
                    channel,
                    why,
                    "lost the events subscription; streams poll until it is back"
                );
            }
            Ok(Err(err)) => {
                hub.bus_down();
                tracing::debug!(error = %error_chain(&err), "cannot subscribe to the events channel");
            }
            Err(_) => {
                hub.bus_down();
                tracing::debug!("Redis did not answer the subscription in time");
            }
        }
        tokio::time::sleep(delays.next_delay()).await;
    }
}

/// Hands every message of `pubsub` to the hub until the connection closes
/// or stops answering its `PING`s.
async fn follow(pubsub: redis::aio::PubSub, hub: &Hub) -> Lost {
    let (sink, mut messages) = pubsub.split();
    let mut check = tokio::time::interval_at(
        tokio::time::Instant::now() + BUS_HEALTH_CHECK,
        BUS_HEALTH_CHECK,
    );
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The PING in flight, if any: messages keep flowing while it waits.
    let mut ping = std::pin::pin!(Fuse::terminated());
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(message) => hub.deliver(message.get_payload_bytes()),
                None => return Lost::Closed,
            },
            _ = check.tick(), if ping.is_terminated() => {
                let mut sink = sink.clone();
                ping.set(
                    async move {
                        tokio::time::timeout(BUS_HEALTH_CHECK, sink.ping::<redis::Value>()).await
                    }
                    .boxed()
                    .fuse(),
                );
            }
            answer = &mut ping => {
                if !matches!(answer, Ok(Ok(_))) {
                    return Lost::Unanswered;
                }
            }
        }
    }
}

/// How long the in-process subscriber lets writes gather after it wakes
/// for one, before it takes them all.
///
/// The subscriber runs on the server's main thread and the writes on its
/// workers: a subscriber waiting for each change was woken across threads
/// for every one (a system call, and on a busy core a switch of threads
/// each time); the wakes alone were a sixth of the server's CPU under HTTP
/// ingest on the embedded stores (BENCHMARKS.md, "Ingest on the embedded
/// stores"). Waking at most once per gather, it costs streams at most
/// this much latency; the feed holds
/// [`FEED_CAPACITY`](super::FEED_CAPACITY) changes, a gather's worth at
/// several hundred thousand a second.
pub const IN_PROCESS_GATHER: Duration = Duration::from_millis(1);

async fn in_process_subscriber(mut events: broadcast::Receiver<MemoryEvent>, hub: Arc<Hub>) {
    use broadcast::error::{RecvError, TryRecvError};

    // Changes were missed: like a bus that dropped and came back, every
    // stream re-reads its jobs.
    let lagged = |missed: u64| {
        tracing::debug!(missed, "the events subscriber lagged; streams resync");
        hub.bus_down();
        hub.bus_up();
    };
    let deliver = |event| match event {
        MemoryEvent::Stored(record) => hub.publish(Change::stored(record)),
        MemoryEvent::Log(payload) => hub.deliver(&payload),
    };
    hub.bus_up();
    'feed: loop {
        match events.recv().await {
            Ok(event) => deliver(event),
            Err(RecvError::Lagged(missed)) => lagged(missed),
            Err(RecvError::Closed) => break,
        }
        tokio::time::sleep(IN_PROCESS_GATHER).await;
        loop {
            match events.try_recv() {
                Ok(event) => deliver(event),
                Err(TryRecvError::Lagged(missed)) => lagged(missed),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => break 'feed,
            }
        }
    }
    hub.bus_down();
}

async fn nats_subscriber(url: String, subject: String, hub: Arc<Hub>) {
    let events = Arc::clone(&hub);
    // The client reconnects and resubscribes by itself; what was published
    // while it was away is lost, so each reconnection is a resync.
    let options = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .event_callback(move |event| {
            let hub = Arc::clone(&events);
            async move {
                match event {
                    async_nats::Event::Connected => hub.bus_up(),
                    async_nats::Event::Disconnected => {
                        tracing::warn!("lost the NATS connection; streams poll until it is back");
                        hub.bus_down();
                    }
                    _ => {}
                }
            }
        });
    let subscription = async {
        let client = options.connect(url.as_str()).await?;
        let subscriber = client.subscribe(subject.clone()).await?;
        anyhow::Ok((client, subscriber))
    };
    let (client, mut subscriber) = match subscription.await {
        Ok(parts) => parts,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "cannot subscribe to NATS; streams poll");
            return;
        }
    };
    if client.connection_state() == async_nats::connection::State::Connected {
        hub.bus_up();
    }
    tracing::info!(subject, "subscribed to the NATS events subject");
    while let Some(message) = subscriber.next().await {
        hub.deliver(&message.payload);
    }
    hub.bus_down();
}

/// Publishes stored records to NATS, for writers whose hot store does not
/// publish them itself. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Publisher {
    client: async_nats::Client,
    subject: String,
}

impl Publisher {
    /// A publisher on `subject` of the NATS at `url`; connects in the
    /// background, so it can be made while NATS is down.
    pub async fn nats(url: &str, subject: String) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(url)
            .await
            .with_context(|| format!("cannot set up the NATS connection to {url}"))?;
        Ok(Self { client, subject })
    }

    /// Publishes a batch of log lines just stored ([`LogBatch::payload`]),
    /// as the Redis log script does. A failure is logged, not retried: the
    /// lines are in the hot store, and a stream catches up from there.
    ///
    /// [`LogBatch::payload`]: crate::domain::LogBatch::payload
    pub async fn publish_log(&self, payload: String) {
        if let Err(err) = self
            .client
            .publish(self.subject.clone(), Bytes::from(payload))
            .await
        {
            tracing::warn!(error = %err, "cannot publish to NATS");
        }
    }

    /// Publishes `lines`, just stored as the job's lines up to `last`,
    /// as one batch ([`publish_log`](Self::publish_log)).
    pub async fn publish_lines(&self, id: &JobId, last: u64, lines: &[NewLogLine]) {
        if lines.is_empty() {
            return;
        }
        // At most 100 lines of 2 KiB: all of them are still kept, so they
        // are numbered up to `last`.
        let first = (last + 1).saturating_sub(lines.len() as u64);
        let numbered: Vec<String> = (first..)
            .zip(lines)
            .map(|(seq, line)| numbered(seq, &line.to_unnumbered_json()))
            .collect();
        self.publish_log(LogBatch::payload(id, &numbered)).await;
    }

    /// Publishes `record` as stored. A failure is logged, not retried:
    /// streams re-read their jobs when the bus comes back.
    pub async fn publish(&self, record: &ProgressRecord) {
        let payload = match record.to_stored_json() {
            Ok(json) => Bytes::from(json),
            Err(err) => {
                tracing::error!(error = %err, "cannot encode a record for the bus");
                return;
            }
        };
        if let Err(err) = self.client.publish(self.subject.clone(), payload).await {
            tracing::warn!(error = %err, "cannot publish to NATS");
        }
    }

    /// Waits until what was published has left for NATS (the client
    /// buffers): call before the process exits.
    pub async fn flush(&self) {
        if let Err(err) = self.client.flush().await {
            tracing::warn!(error = %err, "cannot flush the NATS connection");
        }
    }
}
