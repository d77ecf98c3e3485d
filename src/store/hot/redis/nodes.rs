//! On a Redis Cluster, a circuit breaker per master: one dead master
//! makes its own jobs skipped, not every job.
//!
//! # Why per master, and how a call finds its master's breaker
//!
//! A master is what fails: its process dies, its host hangs, its network
//! goes, and every slot it serves goes with it. So its slots share one
//! breaker: three failed calls open it whichever of its buckets they were
//! for, and one probe per cool-off tells whether it is back. A breaker per
//! bucket would need three failures per bucket to open (a master holds a
//! third of the buckets) and send a probe per bucket. One breaker for the
//! cluster, as with one Redis, lets a dead master's failures skip the
//! healthy masters too.
//!
//! Every command the store sends touches the keys of one bucket (one
//! hash tag, so one slot; see `keys.rs`), so every call has one master.
//! What spans buckets is split by bucket before it is sent (the active
//! list's reads and the MGETs of its values, one per bucket), and each part
//! runs under its own master's breaker. A page of the active list merges
//! every bucket, so it needs every master: while one is skipped, the page
//! fails at once and the reader answers it from the archive, rather than a
//! page that silently lacks a third of the jobs.
//!
//! The cluster client routes each command itself (following `MOVED` and
//! `ASK`) but keeps its slot map to itself, and its errors do not say
//! which node failed. So the store keeps its own map, bucket -> master's
//! address: each bucket's slot (CRC16 of its tag, fixed by the layout),
//! and the slot ranges of `CLUSTER SLOTS`, read at the first call and
//! again every [`REFRESH_EVERY`]. Until the map is read (the cluster was
//! never reachable), calls run under the store's one breaker.
//!
//! The map only names the breaker; it never routes. When slots move, the
//! client follows them at once and the map catches up within
//! [`REFRESH_EVERY`]:
//!
//! - Failover: a replica takes over a dead master's slots. The dead
//!   master's breaker is open, and its probe reads a key of one of its
//!   buckets, so it goes where the client now sends that slot's
//!   commands, to the new master: it answers, the breaker closes
//!   within a cool-off, and the next refresh files those buckets under
//!   the new master's own breaker (the old one is dropped, its gauge set
//!   to 0).
//! - Resharding: a slot migrated between two live masters is counted
//!   against its old master until the next refresh; both answer meanwhile,
//!   so nothing is skipped that should not be.

use std::{
    collections::HashMap,
    sync::{
        Arc, PoisonError, RwLock, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::{FutureExt as _, future::try_join_all};
use redis::{
    RedisError, Value,
    cluster_async::ClusterConnection,
    cluster_routing::{RoutingInfo, SingleNodeRoutingInfo},
};

use super::{RedisStore, STORE, conn::Conn};
use crate::store::{
    StoreError,
    breaker::BreakerConfig,
    guard::{self, Guarded, Scope},
    keys::{Bucket, Keys},
};

/// How often the slot map is read again while the store is in use: a
/// resharded slot is counted against its old master for at most this
/// long. One `CLUSTER SLOTS` (a few hundred bytes) per period per process.
const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// How soon a failed read of the slot map is tried again.
const RETRY_REFRESH: Duration = Duration::from_millis(250);

/// Redis Cluster's number of hash slots.
const SLOTS: u16 = 16384;

/// The breakers of a cluster's masters, and which bucket is on which.
pub(super) struct Nodes {
    conn: ClusterConnection,
    /// A key of each bucket (every key of a bucket has its slot), by
    /// bucket: what a master's probe is routed by.
    probe_keys: Vec<String>,
    /// The slot of each bucket.
    slots: Vec<u16>,
    config: BreakerConfig,
    timeout: Duration,
    map: RwLock<Map>,
    /// A read of the slot map is under way.
    refreshing: AtomicBool,
    /// Itself, for the tasks and probes it starts (a weak one: the probes
    /// live in the map it owns).
    me: Weak<Nodes>,
}

/// The slot map as the store last read it.
#[derive(Default)]
struct Map {
    /// Each bucket's master's breaker; `None` until read, or for a slot no
    /// master serves.
    by_bucket: Vec<Option<Arc<Scope<RedisError>>>>,
    /// Every master's breaker, by address, kept across reads so that a
    /// read does not close an open one.
    by_node: HashMap<String, Arc<Scope<RedisError>>>,
    /// When the map is due to be read again (`None`: now).
    next_read: Option<Instant>,
}

impl Nodes {
    /// The breakers of the masters of the cluster behind `conn`, each of
    /// `config`; the slot map is read at the first call.
    pub(super) fn new(
        conn: ClusterConnection,
        keys: &Keys,
        config: BreakerConfig,
        timeout: Duration,
    ) -> Arc<Self> {
        let probe_keys: Vec<String> = keys
            .buckets()
            .map(|bucket| keys.active_index(bucket))
            .collect();
        let slots = probe_keys.iter().map(|key| slot(key)).collect();
        Arc::new_cyclic(|me| Self {
            conn,
            probe_keys,
            slots,
            config,
            timeout,
            map: RwLock::default(),
            refreshing: AtomicBool::new(false),
            me: me.clone(),
        })
    }

    /// The breaker of the master serving `bucket`, as of the last read of
    /// the slot map (`None`: not known); starts a read when one is due.
    fn scope(&self, bucket: Bucket) -> Option<Arc<Scope<RedisError>>> {
        self.refresh_if_due();
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.by_bucket
            .get(usize::from(bucket.index()))
            .cloned()
            .flatten()
    }

    /// Reads the slot map in a task of its own when a read is due, unless
    /// one is under way.
    fn refresh_if_due(&self) {
        let due = {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            map.next_read.is_none_or(|at| Instant::now() >= at)
        };
        if !due || self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(nodes) = self.me.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            nodes.refresh().await;
            nodes.refreshing.store(false, Ordering::Release);
        });
    }

    /// Reads `CLUSTER SLOTS` (from any node that answers) and files each
    /// bucket under its master's breaker.
    async fn refresh(&self) {
        let read = tokio::time::timeout(self.timeout, self.read_slots()).await;
        let ranges = match read {
            Ok(Ok(ranges)) if !ranges.is_empty() => Some(ranges),
            Ok(Ok(_)) => None,
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "cannot read the cluster's slot map");
                None
            }
            Err(_) => None,
        };
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let Some(ranges) = ranges else {
            map.next_read = Some(Instant::now() + RETRY_REFRESH);
            return;
        };
        let mut by_node: HashMap<String, Arc<Scope<RedisError>>> = HashMap::new();
        let by_bucket = self
            .slots
            .iter()
            .map(|&slot| {
                let (_, _, node) = ranges
                    .iter()
                    .find(|(first, last, _)| (*first..=*last).contains(&slot))?;
                let scope = by_node.entry(node.clone()).or_insert_with(|| {
                    map.by_node
                        .remove(node)
                        .unwrap_or_else(|| Arc::new(self.new_scope(node.clone())))
                });
                Some(Arc::clone(scope))
            })
            .collect();
        // Masters that serve none of the buckets any more (failed over,
        // resharded away) are skipped for nothing: their breakers go.
        for scope in map.by_node.values() {
            guard::retire(STORE, scope);
        }
        *map = Map {
            by_bucket,
            by_node,
            next_read: Some(Instant::now() + REFRESH_EVERY),
        };
    }

    /// The slot ranges and their masters' addresses, from `CLUSTER SLOTS`
    /// asked of a node at random (a few tries: the one picked may be the
    /// one that is down).
    async fn read_slots(&self) -> Result<Vec<(u16, u16, String)>, RedisError> {
        let mut conn = self.conn.clone();
        let mut tries = 3;
        loop {
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("SLOTS");
            let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
            match conn.route_command(cmd, routing).await {
                Ok(reply) => return Ok(parse_slots(reply)),
                Err(err) if tries == 1 => return Err(err),
                Err(_) => tries -= 1,
            }
        }
    }

    /// A closed breaker for the master at `node`, probed by [`ping`](Self::ping).
    fn new_scope(&self, node: String) -> Scope<RedisError> {
        let (me, probed) = (self.me.clone(), node.clone());
        Scope::new(Some(node), self.config, move || {
            let (me, node) = (me.clone(), probed.clone());
            async move {
                match me.upgrade() {
                    Some(nodes) => nodes.ping(&node).await,
                    None => Ok(()),
                }
            }
            .boxed()
        })
    }

    /// The probe of `node`'s breaker: `EXISTS` on a key of one of its
    /// buckets, so it is answered by whoever serves that slot now (after a
    /// failover, the new master). Not a `PING` routed by the slot: while a
    /// master is not connected, the client sends its slots' commands to
    /// any live node and counts on the `MOVED` it answers to a keyed
    /// command, so such a `PING` would be answered by a live node. A node
    /// that serves none of the buckets has nothing left to skip.
    async fn ping(&self, node: &str) -> Result<(), RedisError> {
        let key = {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            map.by_bucket
                .iter()
                .position(|scope| scope.as_ref().is_some_and(|s| s.node() == Some(node)))
                .map(|at| self.probe_keys[at].clone())
        };
        let Some(key) = key else {
            return Ok(());
        };
        let mut conn = self.conn.clone();
        redis::cmd("EXISTS")
            .arg(key)
            .query_async::<i64>(&mut conn)
            .await
            .map(drop)
    }
}

impl Nodes {
    /// Whether every master answers a read of one of its slots, each
    /// under its own breaker (so one that is skipped says so at once);
    /// `None` while the slot map is not known. Not the client's `PING` of
    /// every master: it leaves out a master it is not connected to, so it
    /// answers while one is dead.
    async fn ping_masters(&self, guarded: &Guarded<RedisError>) -> Option<Result<(), StoreError>> {
        let masters: Vec<(String, Arc<Scope<RedisError>>)> = {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            map.by_node
                .iter()
                .map(|(node, scope)| (node.clone(), Arc::clone(scope)))
                .collect()
        };
        if masters.is_empty() {
            return None;
        }
        let pings = masters
            .iter()
            .map(|(node, scope)| guarded.call_in(scope, self.ping(node)));
        Some(try_join_all(pings).await.map(drop))
    }
}

/// The slot ranges of a `CLUSTER SLOTS` reply, each with its master's
/// `host:port` (entries it cannot read are left out).
fn parse_slots(reply: Value) -> Vec<(u16, u16, String)> {
    let Value::Array(ranges) = reply else {
        return Vec::new();
    };
    ranges
        .into_iter()
        .filter_map(|range| {
            let Value::Array(range) = range else {
                return None;
            };
            let (Some(Value::Int(first)), Some(Value::Int(last)), Some(Value::Array(master))) =
                (range.first(), range.get(1), range.get(2))
            else {
                return None;
            };
            let host = match master.first()? {
                Value::BulkString(host) => String::from_utf8_lossy(host).into_owned(),
                Value::SimpleString(host) => host.clone(),
                _ => return None,
            };
            let Some(Value::Int(port)) = master.get(1) else {
                return None;
            };
            let first = u16::try_from(*first).ok()?;
            let last = u16::try_from(*last).ok()?;
            Some((first, last, format!("{host}:{port}")))
        })
        .collect()
}

/// The hash slot of `key`, as Redis Cluster computes it: CRC16 (XMODEM)
/// of its hash tag (what lies between its first `{` and the next `}`,
/// when that is not empty), else of the whole key, mod 16384.
fn slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tag = bytes.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &bytes[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tag.unwrap_or(bytes)) % SLOTS
}

impl RedisStore {
    /// The breakers of a cluster's masters behind `conn`, each of
    /// `config`; none for one Redis, whose one breaker is the store's.
    pub(super) fn nodes_of(
        conn: &Conn,
        keys: &Keys,
        config: BreakerConfig,
        timeout: Duration,
    ) -> Option<Arc<Nodes>> {
        match conn {
            Conn::Cluster(cluster) => Some(Nodes::new(cluster.clone(), keys, config, timeout)),
            Conn::Node(..) => None,
        }
    }

    /// On a cluster, whether every master answers (see
    /// [`Nodes::ping_masters`]); `None` on one Redis, or while the slot map
    /// is not known.
    pub(super) async fn ping_masters(&self) -> Option<Result<(), StoreError>> {
        let nodes = self.nodes.as_ref()?;
        nodes.refresh_if_due();
        nodes.ping_masters(&self.guarded).await
    }

    /// Runs `call`, a command on the keys of `bucket`, under the guard:
    /// on a cluster, under the breaker of the master serving the bucket;
    /// else (or while the slot map is not known) the store's one breaker.
    pub(super) async fn call<T>(
        &self,
        bucket: Bucket,
        call: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        match self.nodes.as_ref().and_then(|nodes| nodes.scope(bucket)) {
            Some(scope) => self.guarded.call_in(&scope, call).await,
            None => self.guarded.call(call).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_redis_clusters() {
        // From Redis's documentation and `CLUSTER KEYSLOT`.
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("somekey"), 11058);
        assert_eq!(slot("{user1000}.following"), slot("user1000"));
        assert_eq!(slot("{user1000}.followers"), slot("user1000"));
        // An empty tag is no tag: the whole key is hashed.
        assert_eq!(slot("foo{}{bar}"), slot_of_bytes(b"foo{}{bar}"));
        assert_eq!(slot("foo{{bar}}zap"), slot("{bar"));
        assert_eq!(slot("{job:3}active"), slot("job:3"));
    }

    fn slot_of_bytes(bytes: &[u8]) -> u16 {
        crc16::State::<crc16::XMODEM>::calculate(bytes) % SLOTS
    }

    #[test]
    fn slot_ranges_are_read_with_their_masters() {
        let node = |host: &str, port: i64| {
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("10.0.0.1", 7000),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(16383),
                node("10.0.0.2", 7001),
                node("10.0.0.3", 7002),
            ]),
            Value::Int(1),
        ]);
        assert_eq!(
            parse_slots(reply),
            [
                (0, 5460, "10.0.0.1:7000".to_owned()),
                (5461, 16383, "10.0.0.2:7001".to_owned())
            ]
        );
    }
}
