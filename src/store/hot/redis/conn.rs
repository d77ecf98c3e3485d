//! [`Conn`]: the one connection a [`RedisStore`](super::RedisStore) sends
//! every command on, to one Redis or to a Redis Cluster. The store's code
//! is the same for both: commands are built once and run on either.
//!
//! - One Redis: a [`ConnectionManager`], one multiplexed socket that
//!   reconnects by itself after Redis restarts.
//! - A cluster: the client's [`ClusterConnection`], one multiplexed socket
//!   per node, each command routed to the master of its keys' slot (MOVED
//!   and ASK are followed, the slot map refreshed when it changes).
//!
//! Both are made lazily: the store can be built while Redis is down, and
//! every call made meanwhile fails fast.

use std::time::Duration;

use anyhow::Context as _;
use redis::{
    Client, Cmd, Pipeline, RedisFuture, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::{ClusterClient, ClusterConfig},
    cluster_async::ClusterConnection,
};

/// How many times either client retries a command by itself before it
/// reports the failure; the store's own timeout bounds the whole call
/// anyway, so retries only help with a blink (a reconnect, a MOVED).
const CLIENT_RETRIES: u32 = 2;

/// A connection to one Redis or to a cluster; cheap to clone (every clone
/// shares the sockets).
#[derive(Clone)]
pub(super) enum Conn {
    /// One Redis, and its client for connections of their own (a
    /// subscriber).
    Node(ConnectionManager, Client),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl Conn {
    /// A lazy connection to the Redis at `url`.
    pub(super) fn node(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = Client::open(url).context("invalid Redis URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // Reconnect attempts happen in the background; a request never
            // waits for more than `timeout` either way.
            .set_number_of_retries(CLIENT_RETRIES as usize)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .context("cannot set up the Redis connection")?;
        Ok(Conn::Node(conn, client))
    }

    /// A lazy connection to the cluster that the node at `url` belongs to
    /// (it reads the slot map from there, then talks to every master).
    pub(super) fn cluster(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = ClusterClient::builder([url])
            .retries(CLIENT_RETRIES)
            .min_retry_wait(10)
            .max_retry_wait(500)
            .build()
            .context("invalid Redis Cluster URL")?;
        // The per-call timeouts are given here: the builder's are replaced
        // by the config's, which would otherwise be none.
        let config = ClusterConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        Ok(Conn::Cluster(
            client.get_pending_async_connection_with_config(config),
        ))
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Node(conn, _) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Node(conn, _) => conn.req_packed_commands(pipeline, offset, count),
            // A pipeline goes to one node: every command in it must be on
            // one slot (the store only pipelines commands of one bucket).
            Conn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Node(conn, _) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}
