//! [`HotStore`] on Redis. The key layout is documented in [`super::keys`].
//!
//! One multiplexed connection ([`ConnectionManager`]) serves the whole
//! process: commands from every request are pipelined on it, it reconnects
//! by itself after Redis restarts, and it costs one socket per process rather
//! than a pool's worth. Each call is cut off after a short timeout so a hung
//! Redis delays a request by at most that much.

use std::{sync::LazyLock, time::Duration};

use async_trait::async_trait;
use chrono::Utc;
use futures_util::FutureExt as _;
use redis::{
    Client, RedisError, Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use super::{
    Held, HotStore, HotWrite, Keys, Replaced, StoreError,
    breaker::BreakerConfig,
    guard::{ErrorKind, Guarded},
};
use crate::domain::{JobId, JobStatus, ProgressRecord};

/// How many members of a page one ZRANGE reads (a page may hold 10,000).
const PAGE_BATCH: i64 = 1000;

/// How many values one MGET asks for: a page of 1,000 takes four round
/// trips, and no single command keeps Redis busy for long (500 values, about
/// 190 KB, once took 3.5 ms while Redis shared its core with the load).
const MGET_BATCH: usize = 250;

/// Writes the value, its TTL and the index entry in one atomic step, and
/// refuses a write that would move the job backwards: a lower status rank,
/// a finished job turned into anything else, or a lower processed count.
/// The ranks come from [`JobStatus::rank`], the one source of the rule
/// (the PostgreSQL upsert renders its own from the same place).
///
/// The stored JSON gets the new version put in front: the larger of the old
/// version plus one and the update score, so versions only grow, even after
/// Redis lost the key. What is stored is published on the events channel
/// (unless ARGV[10] is empty: another bus carries the events).
///
/// A job written over HTTP also keeps its writer's state (ARGV[12]) beside
/// the value, with the same TTL, and is written only if the stored version
/// is still the one its update started from (ARGV[11]; 0: no value), so
/// two instances updating one job at once never lose either update: the
/// second is told to start again from what the first stored.
///
/// KEYS: value key, index by update, index by start, state key.
/// ARGV: json (no version), ttl seconds, update score (ms), job id, "1" if
///       active, status rank, processed count, status, start score (ms or
///       "+inf"), events channel or "", expected version or "", state or "".
/// Returns the new version, 0 when refused as stale, -1 when the stored
/// version is not the expected one.
static WRITE_SCRIPT: LazyLock<String> = LazyLock::new(|| {
    let ranks: Vec<String> = JobStatus::ALL
        .iter()
        .map(|status| format!("{} = {}", status.as_str(), status.rank()))
        .collect();
    let finished = JobStatus::Completed.rank();
    WRITE_SCRIPT_TEMPLATE
        .replace("RANKS", &ranks.join(", "))
        .replace("FINISHED", &finished.to_string())
});

const WRITE_SCRIPT_TEMPLATE: &str = r#"
local current = redis.call('GET', KEYS[1])
local version = 0
local ok, old = false, nil
if current then
  ok, old = pcall(cjson.decode, current)
  if ok and type(old) == 'table' then
    version = tonumber(old.version) or 0
  end
end
if ARGV[11] ~= '' and version ~= tonumber(ARGV[11]) then return -1 end
if current then
  if ok and type(old) == 'table' then
    local ranks = { RANKS }
    local old_rank = ranks[old.status]
    if old_rank then
      if tonumber(ARGV[6]) < old_rank then return 0 end
      if old_rank == FINISHED and old.status ~= ARGV[8] then return 0 end
    end
    local old_sent = tonumber(old.currentSentCount)
    if old_sent and tonumber(ARGV[7]) < old_sent then return 0 end
  end
end
version = math.max(version + 1, tonumber(ARGV[3]))
local json = '{"version":' .. string.format('%d', version) .. ',' .. string.sub(ARGV[1], 2)
redis.call('SET', KEYS[1], json, 'EX', ARGV[2])
if ARGV[12] ~= '' then
  redis.call('SET', KEYS[4], ARGV[12], 'EX', ARGV[2])
end
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
  redis.call('ZADD', KEYS[3], ARGV[9], ARGV[4])
else
  redis.call('ZREM', KEYS[2], ARGV[4])
  redis.call('ZREM', KEYS[3], ARGV[4])
end
if ARGV[10] ~= '' then
  redis.call('PUBLISH', ARGV[10], json)
end
return version
"#;

/// Removes from both indexes the members of the update index scored at or
/// below ARGV[1] (not updated for longer than the in-progress TTL, so their
/// value is gone), at most 1,000 per call so no call holds Redis for long.
/// KEYS: index by update, index by start. Returns how many it removed.
const PRUNE_SCRIPT: &str = r#"
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
if #stale > 0 then
  redis.call('ZREM', KEYS[1], unpack(stale))
  redis.call('ZREM', KEYS[2], unpack(stale))
end
return #stale
"#;

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
    /// For connections of their own (the events subscriber).
    client: Client,
    conn: ConnectionManager,
    keys: Keys,
    ttls: Ttls,
    write_script: Script,
    prune_script: Script,
    /// Where writes are published; `None` when another bus carries them.
    events: Option<String>,
    guarded: Guarded<RedisError>,
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
/// (the connection), or Redis refusing one command (a script error),
/// which says nothing about its health.
fn classify(err: &RedisError) -> ErrorKind {
    if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_unrecoverable_error()
    {
        ErrorKind::Outage
    } else {
        ErrorKind::Refused
    }
}

impl RedisStore {
    /// A store for `url` that connects lazily: it can be built while Redis
    /// is down, and every call made meanwhile fails fast with an error.
    /// Must be called inside a Tokio runtime.
    pub fn new(url: &str, keys: Keys, ttls: Ttls, timeout: Duration) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let client = Client::open(url).with_context(|| "invalid Redis URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // Reconnect attempts happen in the background; a request never
            // waits for more than `timeout` either way.
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .context("cannot set up the Redis connection")?;
        let ping_conn = conn.clone();
        let ping = move || {
            let mut conn = ping_conn.clone();
            async move { redis::cmd("PING").query_async::<()>(&mut conn).await }.boxed()
        };
        Ok(Self {
            client,
            conn,
            events: Some(keys.events_channel()),
            keys,
            ttls,
            write_script: Script::new(&WRITE_SCRIPT),
            prune_script: Script::new(PRUNE_SCRIPT),
            guarded: Guarded::new(STORE, timeout, classify, ping),
        })
    }

    /// Replaces the default circuit breaker (3 failures, 250 ms cool-off).
    pub fn with_breaker(mut self, config: BreakerConfig) -> Self {
        self.guarded.set_breaker(config);
        self
    }

    /// Stops publishing writes on the events channel: another bus (NATS)
    /// carries them.
    pub fn without_publishing(mut self) -> Self {
        self.events = None;
        self
    }

    /// A connection of its own to the same Redis, for a subscriber.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The key layout in use.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    async fn mget(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        for batch in keys.chunks(MGET_BATCH) {
            let mut conn = self.conn.clone();
            let part: Vec<Option<String>> = self
                .guarded
                .call(redis::cmd("MGET").arg(batch).query_async(&mut conn))
                .await?;
            values.extend(part);
        }
        Ok(values)
    }
}

/// Parses a stored value; `key` names it in the error.
fn decode(key: &str, raw: &str) -> Result<ProgressRecord, StoreError> {
    serde_json::from_str::<ProgressRecord>(raw)
        .map(ProgressRecord::normalized)
        .map_err(|err| StoreError::Corrupt {
            key: key.to_owned(),
            source: Box::new(err),
        })
}

impl RedisStore {
    /// Runs the write script; `held` is the expected version and the
    /// writer's state, for a job written over HTTP. Returns what the script
    /// returns (see [`WRITE_SCRIPT`]).
    async fn run_write(
        &self,
        record: &ProgressRecord,
        held: Option<(u64, &[u8])>,
    ) -> Result<i64, StoreError> {
        let key = self.keys.progress(&record.job_id);
        let json = record.to_stored_json().map_err(|err| StoreError::Corrupt {
            key: key.clone(),
            source: Box::new(err),
        })?;
        let score = record
            .updated_at
            .unwrap_or_else(Utc::now)
            .timestamp_millis();
        let ttl = self.ttls.for_status(record.status).as_secs().max(1);
        let mut conn = self.conn.clone();
        let mut invocation = self.write_script.key(key);
        invocation
            .key(self.keys.active_index())
            .key(self.keys.by_start_index())
            .key(self.keys.state(&record.job_id))
            .arg(json)
            .arg(ttl)
            .arg(score)
            .arg(record.job_id.as_str())
            .arg(if record.status.is_active() { "1" } else { "0" })
            .arg(record.status.rank())
            .arg(record.current_sent_count)
            .arg(record.status.as_str())
            .arg(
                record
                    .started_at
                    .map_or_else(|| "+inf".to_owned(), |at| at.timestamp_millis().to_string()),
            )
            .arg(self.events.as_deref().unwrap_or(""));
        match held {
            Some((expected, state)) => invocation.arg(expected).arg(state),
            None => invocation.arg("").arg(""),
        };
        self.guarded.call(invocation.invoke_async(&mut conn)).await
    }
}

#[async_trait]
impl HotStore for RedisStore {
    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %record.job_id))]
    async fn write(&self, record: &ProgressRecord) -> Result<HotWrite, StoreError> {
        Ok(match self.run_write(record, None).await? {
            version @ 1.. => HotWrite::Written {
                version: version.unsigned_abs(),
            },
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
            match self.run_write(record, Some((expected, state))).await? {
                version @ 1.. => Replaced::Written {
                    version: version.unsigned_abs(),
                },
                0 => Replaced::Stale,
                _ => Replaced::Moved,
            },
        )
    }

    #[tracing::instrument(level = "debug", skip_all, fields(job_id = %id))]
    async fn load(&self, id: &JobId) -> Result<Option<Held>, StoreError> {
        let key = self.keys.progress(id);
        let mut conn = self.conn.clone();
        let (raw, state): (Option<String>, Option<Vec<u8>>) = self
            .guarded
            .call(
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
        let key = self.keys.progress(id);
        let mut conn = self.conn.clone();
        let raw: Option<String> = self
            .guarded
            .call(redis::cmd("GET").arg(&key).query_async(&mut conn))
            .await?;
        raw.map(|raw| decode(&key, &raw)).transpose()
    }

    async fn read_many(&self, ids: &[JobId]) -> Result<Vec<Option<ProgressRecord>>, StoreError> {
        let keys: Vec<String> = ids.iter().map(|id| self.keys.progress(id)).collect();
        let values = self.mget(&keys).await?;
        Ok(keys
            .iter()
            .zip(values)
            .map(|(key, raw)| {
                raw.and_then(|raw| match decode(key, &raw) {
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
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        let (by_update, by_start) = (self.keys.active_index(), self.keys.by_start_index());
        let cutoff = Utc::now().timestamp_millis()
            - i64::try_from(self.ttls.in_progress.as_millis()).unwrap_or(i64::MAX);
        let mut conn = self.conn.clone();
        let mut invocation = self.prune_script.key(&by_update);
        invocation.key(&by_start).arg(cutoff);
        let _pruned: i64 = self
            .guarded
            .call(invocation.invoke_async(&mut conn))
            .await?;

        // One page of members, oldest start first (ties by id, jobs without
        // a start last), read in batches so no command holds Redis for long.
        let first = i64::try_from(offset).unwrap_or(i64::MAX);
        let last = first.saturating_add(i64::from(limit)).saturating_sub(1);
        let mut members: Vec<String> = Vec::new();
        let mut total: u64 = 0;
        let mut from = first;
        while from <= last {
            let to = last.min(from + PAGE_BATCH - 1);
            let (count, batch): (u64, Vec<String>) = self
                .guarded
                .call(
                    redis::pipe()
                        .cmd("ZCARD")
                        .arg(&by_start)
                        .cmd("ZRANGE")
                        .arg(&by_start)
                        .arg(from)
                        .arg(to)
                        .query_async(&mut conn),
                )
                .await?;
            total = count;
            let done = batch.len() < usize::try_from(to - from + 1).unwrap_or(usize::MAX);
            members.extend(batch);
            if done {
                break;
            }
            from = to + 1;
        }
        // A member that is not a valid job id was not written by us: it
        // can never have a value, so it leaves the index like an expired one.
        let mut expired: Vec<String> = Vec::new();
        let mut ids = Vec::with_capacity(members.len());
        for member in members {
            match JobId::parse(member.as_str()) {
                Ok(id) => ids.push(id),
                Err(_) => expired.push(member),
            }
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.progress(id)).collect();
        let values = self.mget(&keys).await?;

        let mut page = Vec::with_capacity(values.len());
        for ((id, key), raw) in ids.into_iter().zip(&keys).zip(values) {
            match raw.map(|raw| decode(key, &raw)) {
                Some(Ok(record)) if record.status.is_active() => page.push(record),
                Some(Err(err)) => tracing::warn!(error = %err, "skipping an unreadable record"),
                Some(Ok(_)) | None => expired.push(id.as_str().to_owned()),
            }
        }
        if !expired.is_empty() {
            tracing::debug!(count = expired.len(), "pruning expired index entries");
            total = total.saturating_sub(expired.len() as u64);
            let pruned: Result<(), _> = self
                .guarded
                .call(
                    redis::pipe()
                        .cmd("ZREM")
                        .arg(&by_update)
                        .arg(&expired)
                        .ignore()
                        .cmd("ZREM")
                        .arg(&by_start)
                        .arg(&expired)
                        .ignore()
                        .query_async(&mut conn),
                )
                .await;
            if let Err(err) = pruned {
                // The listing is still right; the next one prunes again.
                tracing::warn!(error = %err, "could not prune the active index");
            }
        }
        Ok((page, total))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: String = self
            .guarded
            .call(redis::cmd("PING").query_async(&mut conn))
            .await?;
        Ok(())
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}
