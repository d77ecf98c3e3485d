//! [`HotStore`] on Redis: one Redis, or a Redis Cluster. The key layout of
//! each is documented in [`super::keys`].
//!
//! One connection ([`conn::Conn`]) serves the whole process: commands from
//! every request are pipelined on it, it reconnects by itself after Redis
//! restarts, and it costs one socket per process (per node, on a cluster)
//! rather than a pool's worth. Each call is cut off after a short timeout
//! so a hung Redis delays a request by at most that much.
//!
//! The same code serves both: every command touches the keys of one
//! bucket (one slot on a cluster), and what spans buckets (a page of the
//! active list, [`HotStore::read_many`]) sends one command per bucket.
//!
//! - `script.rs`: the write scripts and their calls;
//! - `log.rs`: a job's log, appended and read by scripts of its own;
//! - `active.rs`: the active list, merged across buckets;
//! - `children.rs`: a parent's roll-up of its children;
//! - `conn.rs`: the connection to one Redis or to a cluster;
//! - `nodes.rs`: on a cluster, a circuit breaker per master.

mod active;
mod children;
mod conn;
mod log;
mod nodes;
mod script;
mod search;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures_util::{FutureExt as _, future::try_join_all};
use redis::{RedisError, Script};

use self::conn::Conn;
use super::{
    Held, HotStore, HotWrite, Keys, ReadOne, Replaced, StoreError,
    breaker::BreakerConfig,
    decode,
    guard::{ErrorKind, Guarded},
    keys::Bucket,
};
use crate::domain::{
    ChildEntry, JobFilter, JobId, JobStatus, LogCap, LogLine, LogPage, NewLogLine, ProgressRecord,
    Rollup, Sample,
};

/// How many values one MGET asks for: a page of 1,000 takes four round
/// trips, and no single command keeps Redis busy for long (500 values, about
/// 190 KB, once took 3.5 ms while Redis shared its core with the load).
const MGET_BATCH: usize = 250;

/// How long values live, by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttls {
    /// `preparing`, `in_progress` and `failed` (default 24 h).
    pub in_progress: Duration,
    /// `completed` (default 1 h).
    pub completed: Duration,
}

impl Default for Ttls {
    fn default() -> Self {
        Self {
            in_progress: Duration::from_secs(24 * 3600),
            completed: Duration::from_secs(3600),
        }
    }
}

impl Ttls {
    /// The TTL a record of this status gets.
    pub fn for_status(&self, status: JobStatus) -> Duration {
        match status {
            JobStatus::Completed => self.completed,
            _ => self.in_progress,
        }
    }
}

/// Redis as the hot store.
#[derive(Clone)]
pub struct RedisStore {
    /// The node a cluster subscriber starts from (`REDIS_URL`).
    url: String,
    conn: Conn,
    keys: Keys,
    ttls: Ttls,
    write_script: Script,
    prune_script: Script,
    log_scripts: log::LogScripts,
    /// All logs together, shared by the buckets.
    log_cap: LogCap,
    forget_script: Script,
    rollup_script: Script,
    /// The write script publishes what it stores; off when another bus
    /// carries the changes.
    publishing: bool,
    timeout: Duration,
    guarded: Guarded<RedisError>,
    /// On a cluster, the breakers of its masters (see `nodes.rs`).
    nodes: Option<Arc<nodes::Nodes>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("keys", &self.keys)
            .field("ttls", &self.ttls)
            .field("guarded", &self.guarded)
            .finish_non_exhaustive()
    }
}

const STORE: &str = "redis";

/// What an error of the client says about Redis: a timeout, an outage
/// (the connection, or a cluster that cannot serve the slot), or Redis
/// refusing one command (a script error), which says nothing about its
/// health.
///
/// A `MOVED` or `ASK` that reaches the store is an outage too: the
/// cluster client follows them by itself, so one it hands back is a
/// redirect it could not follow. That is how a dead master shows: the
/// client sends its slots' commands to any live node, which answers
/// `MOVED` to the dead one, and once its retries are spent the client
/// reports that `MOVED`.
fn classify(err: &RedisError) -> ErrorKind {
    use redis::{ErrorKind as Kind, ServerErrorKind as Server};
    if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_unrecoverable_error()
        || matches!(
            err.kind(),
            Kind::Server(
                Server::ClusterDown
                    | Server::MasterDown
                    | Server::BusyLoading
                    | Server::Moved
                    | Server::Ask
            )
        )
    {
        ErrorKind::Outage
    } else {
        ErrorKind::Refused
    }
}

impl RedisStore {
    /// A store on the one Redis at `url`, in today's key layout
    /// ([`Keys::new`]), that connects lazily: it can be built while Redis
    /// is down, and every call made meanwhile fails fast with an error.
    /// Must be called inside a Tokio runtime.
    pub fn new(url: &str, keys: Keys, ttls: Ttls, timeout: Duration) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !keys.is_bucketed(),
            "the bucketed key layout is for a Redis Cluster (RedisStore::cluster)"
        );
        Self::with_conn(url, Conn::node(url, timeout)?, keys, ttls, timeout)
    }

    /// A store on the Redis Cluster that the node at `url` belongs to, in
    /// the bucketed key layout ([`Keys::bucketed`]); connects lazily, like
    /// [`new`](Self::new).
    pub fn cluster(url: &str, keys: Keys, ttls: Ttls, timeout: Duration) -> anyhow::Result<Self> {
        anyhow::ensure!(
            keys.is_bucketed(),
            "a Redis Cluster needs the bucketed key layout (Keys::bucketed), \
             or the write script would touch several slots"
        );
        Self::with_conn(url, Conn::cluster(url, timeout)?, keys, ttls, timeout)
    }

    fn with_conn(
        url: &str,
        conn: Conn,
        keys: Keys,
        ttls: Ttls,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let ping_conn = conn.clone();
        let ping = move || {
            let mut conn = ping_conn.clone();
            async move { redis::cmd("PING").query_async::<()>(&mut conn).await }.boxed()
        };
        let nodes = Self::nodes_of(&conn, &keys, BreakerConfig::default(), timeout);
        Ok(Self {
            url: url.to_owned(),
            nodes,
            conn,
            write_script: script::write_script(&keys),
            prune_script: active::prune_script(),
            log_scripts: log::LogScripts::new(&keys),
            forget_script: active::forget_script(),
            rollup_script: children::rollup_script(),
            keys,
            ttls,
            log_cap: LogCap::default(),
            publishing: true,
            timeout,
            guarded: Guarded::new(STORE, timeout, classify, ping),
        })
    }

    /// Replaces the default circuit breaker (3 failures, 250 ms cool-off);
    /// on a cluster, each master's.
    pub fn with_breaker(mut self, config: BreakerConfig) -> Self {
        self.guarded.set_breaker(config);
        self.nodes = Self::nodes_of(&self.conn, &self.keys, config, self.timeout);
        self
    }

    /// Caps all logs together at `cap` (default 256 MiB).
    pub fn with_log_cap(mut self, cap: LogCap) -> Self {
        self.log_cap = cap;
        self
    }

    /// Stops publishing writes on the events channels: another bus (NATS)
    /// carries them.
    pub fn without_publishing(mut self) -> Self {
        self.publishing = false;
        self
    }

    /// The client of the one Redis it uses; `None` on a cluster. What a
    /// subscriber to its events channel connects with.
    pub fn node_client(&self) -> Option<&redis::Client> {
        match &self.conn {
            Conn::Node(_, client) => Some(client),
            Conn::Cluster(_) => None,
        }
    }

    /// The node it was given (`REDIS_URL`): where a subscriber to a
    /// cluster's shard channels starts.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The longest wait for one command.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The key layout in use.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The values of `ids`' records, in order: one MGET per bucket (in
    /// batches), the buckets' at once. On a cluster, a bucket is one slot,
    /// so each MGET goes to one master.
    async fn values(&self, ids: &[JobId]) -> Result<Vec<Option<String>>, StoreError> {
        let mut by_bucket: BTreeMap<Bucket, Vec<usize>> = BTreeMap::new();
        for (at, id) in ids.iter().enumerate() {
            by_bucket.entry(self.keys.bucket(id)).or_default().push(at);
        }
        let reads = by_bucket.into_iter().map(|(bucket, positions)| async move {
            let mut values = Vec::with_capacity(positions.len());
            // One batch after the other, so no bucket's page is a burst.
            for batch in positions.chunks(MGET_BATCH) {
                let keys: Vec<String> = batch
                    .iter()
                    .map(|&at| self.keys.progress(&ids[at]))
                    .collect();
                let mut conn = self.conn.clone();
                let part: Vec<Option<String>> = self
                    .call(bucket, redis::cmd("MGET").arg(keys).query_async(&mut conn))
                    .await?;
                values.extend(part);
            }
            Ok::<_, StoreError>((positions, values))
        });
        let mut ordered = vec![None; ids.len()];
        for (positions, values) in try_join_all(reads).await? {
            for (at, value) in positions.into_iter().zip(values) {
                ordered[at] = value;
            }
        }
        Ok(ordered)
    }
}

#[async_trait]
impl HotStore for RedisStore {
    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %record.job_id))]
    async fn write(&self, record: &ProgressRecord) -> Result<HotWrite, StoreError> {
        Ok(match self.run_write(record, None).await? {
            (version @ 1.., cancel) => {
                let version = version.unsigned_abs();
                self.roll_up(record, version).await;
                HotWrite::Written { version, cancel }
            }
            _ => HotWrite::Stale,
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %record.job_id))]
    async fn replace(
        &self,
        record: &ProgressRecord,
        state: &[u8],
        expected: u64,
    ) -> Result<Replaced, StoreError> {
        Ok(
            match self.run_write(record, Some((expected, state))).await?.0 {
                version @ 1.. => {
                    let version = version.unsigned_abs();
                    self.roll_up(record, version).await;
                    Replaced::Written { version }
                }
                0 => Replaced::Stale,
                _ => Replaced::Moved,
            },
        )
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %id))]
    async fn replace_state(
        &self,
        id: &JobId,
        state: &[u8],
        version: u64,
    ) -> Result<bool, StoreError> {
        self.run_replace_state(id, state, version).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %id))]
    async fn load(&self, id: &JobId) -> Result<Option<Held>, StoreError> {
        let key = self.keys.progress(id);
        let mut conn = self.conn.clone();
        // Both keys are of the job's bucket: one slot on a cluster.
        let (raw, state): (Option<String>, Option<Vec<u8>>) = self
            .call(
                self.keys.bucket(id),
                redis::cmd("MGET")
                    .arg(&key)
                    .arg(self.keys.state(id))
                    .query_async(&mut conn),
            )
            .await?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        Ok(Some(Held {
            record: decode(&key, &raw)?,
            state,
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %id))]
    async fn read(&self, id: &JobId) -> Result<Option<ProgressRecord>, StoreError> {
        self.read_rolled_up(id).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %parent))]
    async fn rollup(&self, parent: &JobId) -> Result<Option<Rollup>, StoreError> {
        self.read_rollup(parent).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %parent))]
    async fn child_entries(&self, parent: &JobId) -> Result<Vec<(JobId, ChildEntry)>, StoreError> {
        self.read_child_entries(parent).await
    }

    async fn read_each(&self, ids: &[JobId]) -> Result<Vec<ReadOne>, StoreError> {
        self.read_each_rolled_up(ids).await
    }

    async fn read_many(&self, ids: &[JobId]) -> Result<Vec<Option<ProgressRecord>>, StoreError> {
        let values = self.values(ids).await?;
        Ok(ids
            .iter()
            .zip(values)
            .map(|(id, raw)| {
                raw.and_then(|raw| match decode(self.keys.progress(id), &raw) {
                    Ok(record) => Some(record),
                    Err(err) => {
                        tracing::warn!(error = %err, "skipping an unreadable record");
                        None
                    }
                })
            })
            .collect())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn active(
        &self,
        filter: &JobFilter,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        self.active_page(filter, limit, offset).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %id))]
    async fn append_log(
        &self,
        id: &JobId,
        lines: &[NewLogLine],
    ) -> Result<Option<u64>, StoreError> {
        self.run_append_log(id, lines).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %id))]
    async fn read_log(&self, id: &JobId, after: u64, limit: u32) -> Result<LogPage, StoreError> {
        self.run_read_log(id, Some(after), limit).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %id))]
    async fn log_tail(&self, id: &JobId, most: u32) -> Result<Vec<LogLine>, StoreError> {
        Ok(self.run_read_log(id, None, most).await?.lines)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %id))]
    async fn history(&self, id: &JobId) -> Result<Vec<Sample>, StoreError> {
        let key = self.keys.history(id);
        let mut conn = self.conn.clone();
        let stored: Vec<String> = self
            .call(
                self.keys.bucket(id),
                redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(1)
                    .arg(-1)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(stored
            .iter()
            .filter_map(|raw| Sample::from_stored(raw))
            .collect())
    }

    /// On a cluster, every master must answer: a cluster missing a master
    /// cannot serve that master's jobs (and by default refuses every
    /// command once the others notice). Each master is asked under its
    /// own breaker (see `nodes.rs`); until the slot map is known, the
    /// client's `PING` of every master, under the store's one breaker.
    async fn ping(&self) -> Result<(), StoreError> {
        if let Some(answered) = self.ping_masters().await {
            return answered;
        }
        let mut conn = self.conn.clone();
        let _: String = self
            .guarded
            .call(redis::cmd("PING").query_async(&mut conn))
            .await?;
        Ok(())
    }

    fn name(&self) -> &'static str {
        match self.conn {
            Conn::Cluster(_) => "redis-cluster",
            _ => "redis",
        }
    }
}
