//! The subscriber of [`Bus::RedisCluster`](super::Bus::RedisCluster):
//! sharded pub/sub on every key bucket's shard channel.
//!
//! The cluster client keeps one connection per master (RESP3, so messages
//! arrive as pushes beside the replies) and, when one reconnects, repeats
//! that master's subscriptions by itself. But what was published while a
//! connection was away is lost, and the client does not say when it is
//! whole again, so this task keeps its own account of the channels it
//! holds:
//!
//! - a connection lost (the client's `Disconnection` push) or a channel
//!   dropped by Redis (`sunsubscribe`: its slot moved to another master)
//!   takes the bus down, and every channel is subscribed again
//!   (`SSUBSCRIBE` of a channel already held is answered and changes
//!   nothing), with a growing pause between failed rounds;
//! - once all N are confirmed, the bus is up again: the hub counts a
//!   resync, and every stream re-reads the jobs it may have missed.

use std::{sync::Arc, time::Duration};

use redis::{ProtocolVersion, PushInfo, PushKind, Value, cluster::ClusterClientBuilder};

use super::{hub::Hub, resubscribe::RESUBSCRIBE};
use crate::error::error_chain;

/// Subscribes to `channels` of the cluster the node at `url` belongs to,
/// for as long as the process lives; `timeout` bounds each command.
pub(super) async fn subscriber(
    url: String,
    channels: Vec<String>,
    timeout: Duration,
    hub: Arc<Hub>,
) {
    let (pushes_to, mut pushes) = tokio::sync::mpsc::unbounded_channel::<PushInfo>();
    let client = ClusterClientBuilder::new([url.as_str()])
        .use_protocol(ProtocolVersion::RESP3)
        .push_sender(pushes_to)
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .build();
    let client = match client {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %error_chain(&err), "cannot set up the Redis Cluster subscriber; streams poll");
            return;
        }
    };
    let mut delays = RESUBSCRIBE.delays();
    let mut conn = loop {
        match client.get_async_connection().await {
            Ok(conn) => break conn,
            Err(err) => {
                hub.bus_down();
                tracing::debug!(error = %error_chain(&err), "cannot reach the Redis Cluster to subscribe");
                tokio::time::sleep(delays.next_delay()).await;
            }
        }
    };

    let mut missing: Vec<&str> = channels.iter().map(String::as_str).collect();
    let mut retry_at = tokio::time::Instant::now();
    let mut delays = RESUBSCRIBE.delays();
    loop {
        tokio::select! {
            push = pushes.recv() => {
                let Some(push) = push else { break };
                match push.kind {
                    PushKind::SMessage => {
                        if let Some(Value::BulkString(payload)) = push.data.get(1) {
                            hub.deliver(payload);
                        }
                    }
                    PushKind::Disconnection | PushKind::SUnsubscribe => {
                        if missing.is_empty() {
                            hub.bus_down();
                            tracing::warn!("lost a shard subscription; streams poll until it is back");
                        }
                        missing = channels.iter().map(String::as_str).collect();
                        retry_at = tokio::time::Instant::now();
                    }
                    _ => {}
                }
            }
            () = tokio::time::sleep_until(retry_at), if !missing.is_empty() => {
                let mut failed = Vec::new();
                for channel in missing {
                    match tokio::time::timeout(timeout, conn.ssubscribe(channel)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(err)) => {
                            tracing::debug!(channel, error = %error_chain(&err), "cannot subscribe to a shard channel");
                            failed.push(channel);
                        }
                        Err(_) => failed.push(channel),
                    }
                }
                missing = failed;
                if missing.is_empty() {
                    tracing::info!(channels = channels.len(), "subscribed to the shard channels");
                    hub.bus_up();
                    delays.reset();
                } else {
                    retry_at = tokio::time::Instant::now() + delays.next_delay();
                }
            }
        }
    }
    hub.bus_down();
}
