//! A parent's roll-up of its children (`children:<jobId>`, see `keys.rs`
//! and `domain/children.rs`): the script a child's write runs on its
//! parent's slot, and its reads.

use std::collections::BTreeMap;

use chrono::Utc;
use futures_util::future::try_join_all;
use redis::{Script, Value};

use super::{Bucket, ReadOne, RedisStore, decode};
use crate::{
    domain::{ChildEntry, JobId, ProgressRecord, Rollup},
    store::StoreError,
};

/// Sets one child's entry (ARGV[2]) in the parent's roll-up (KEYS[1]) and
/// moves the counters by the difference from its old entry, unless the kept
/// entry is of a later version of the child (two writes of one child that
/// arrive out of order leave the later). The hash lives ARGV[3] seconds
/// from the last child's write.
///
/// KEYS: roll-up hash. ARGV: child id, entry, ttl seconds.
/// Returns 1 when set, 0 when the kept entry is later.
const ROLLUP_SCRIPT: &str = r#"
local function parse(e)
  if not e then return nil end
  local v, s, p, f, t, r = string.match(e, '^(%d+):(%a):(%d+):(%d+):(%-?%d+):(%d+)$')
  if not v then return nil end
  return {v = tonumber(v), s = s, p = tonumber(p), f = tonumber(f), t = tonumber(t), r = tonumber(r)}
end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw == ARGV[2] then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return 1
end
local new = parse(ARGV[2])
if not new then return redis.error_reply('not a child entry: ' .. ARGV[2]) end
local old = parse(raw)
if old and old.v > new.v then return 0 end
local function count(e, sign)
  redis.call('HINCRBY', KEYS[1], '#n', sign)
  redis.call('HINCRBY', KEYS[1], '#' .. e.s, sign)
  if e.p > 0 then redis.call('HINCRBY', KEYS[1], '#p', sign * e.p) end
  if e.f > 0 then redis.call('HINCRBY', KEYS[1], '#e', sign * e.f) end
  if e.t > 0 then redis.call('HINCRBY', KEYS[1], '#t', sign * e.t) end
  if e.t < 0 and e.s == 'r' then redis.call('HINCRBY', KEYS[1], '#u', sign) end
  if e.r > 0 then redis.call('HINCRBY', KEYS[1], '#rate', sign * e.r) end
end
if old then count(old, -1) end
count(new, 1)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"#;

/// The counters' fields, in the order [`rollup_of`] reads them. A job id
/// never holds `#`, so they never meet a child's field.
const COUNTERS: [&str; 10] = [
    "#n", "#r", "#c", "#f", "#x", "#p", "#e", "#t", "#u", "#rate",
];

/// The roll-up script.
pub(super) fn rollup_script() -> Script {
    Script::new(ROLLUP_SCRIPT)
}

/// The counters as HMGET gives them; `None` when the hash does not exist.
fn rollup_of(values: &[Option<i64>]) -> Option<Rollup> {
    values.first().copied().flatten()?;
    let at = |i: usize| {
        values
            .get(i)
            .copied()
            .flatten()
            .map_or(0, |v| u64::try_from(v).unwrap_or(0))
    };
    let mut rollup = Rollup::default();
    rollup.children.total = at(0);
    rollup.children.running = at(1);
    rollup.children.completed = at(2);
    rollup.children.failed = at(3);
    rollup.children.cancelled = at(4);
    rollup.processed = at(5);
    rollup.failed = at(6);
    rollup.targets = at(7);
    rollup.open_ended = at(8);
    rollup.rate_milli = at(9);
    Some(rollup)
}

impl RedisStore {
    /// Runs the roll-up script for a child stored as `version`. A failure
    /// is logged, not returned: the child's write stands, and its next
    /// write sets the whole entry again.
    pub(super) async fn roll_up(&self, record: &ProgressRecord, version: u64) {
        let Some(parent) = &record.parent_job_id else {
            return;
        };
        let entry = ChildEntry::of(record, version);
        let ttl = self.ttls.in_progress.as_secs().max(1);
        let mut conn = self.conn.clone();
        let mut invocation = self.rollup_script.key(self.keys.children(parent));
        invocation
            .arg(record.job_id.as_str())
            .arg(entry.to_stored())
            .arg(ttl);
        let result: Result<i64, StoreError> = self
            .call(self.keys.bucket(parent), invocation.invoke_async(&mut conn))
            .await;
        if let Err(err) = result {
            tracing::warn!(job_id = %record.job_id, parent = %parent, error = %err, "could not roll a child up into its parent");
        }
    }

    /// The job's record with its children's roll-up folded in, both read
    /// in one round trip (the two keys share the job's bucket).
    pub(super) async fn read_rolled_up(
        &self,
        id: &JobId,
    ) -> Result<Option<ProgressRecord>, StoreError> {
        let key = self.keys.progress(id);
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(&key);
        pipe.cmd("HMGET")
            .arg(self.keys.children(id))
            .arg(&COUNTERS[..]);
        let mut conn = self.conn.clone();
        let (raw, counters): (Option<String>, Vec<Option<i64>>) = self
            .call(self.keys.bucket(id), pipe.query_async(&mut conn))
            .await?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        let mut record = decode(&key, &raw)?;
        if let Some(rollup) = rollup_of(&counters) {
            record.roll_up(&rollup, Utc::now());
        }
        Ok(Some(record))
    }

    /// See [`HotStore::read_each`](crate::store::HotStore::read_each): one
    /// pipeline of an `MGET` of the records and an `EXISTS` of each one's
    /// roll-up (per bucket on a cluster, where an `MGET` cannot cross
    /// slots; all in one on one Redis), then, only for records that have
    /// children, one pipeline of their roll-ups' `HMGET`s (the reads
    /// [`read_rolled_up`](Self::read_rolled_up) makes for one job). Most
    /// jobs have none: an `EXISTS` is answered with one integer where the
    /// `HMGET` was answered with ten nils, which the client took longer to
    /// parse than the record itself.
    pub(super) async fn read_each_rolled_up(
        &self,
        ids: &[JobId],
    ) -> Result<Vec<ReadOne>, StoreError> {
        let one_node = self.nodes.is_none();
        let mut groups: BTreeMap<Option<Bucket>, Vec<usize>> = BTreeMap::new();
        for (at, id) in ids.iter().enumerate() {
            let bucket = (!one_node).then(|| self.keys.bucket(id));
            groups.entry(bucket).or_default().push(at);
        }
        let reads = groups.into_values().map(|positions| async move {
            // The group's bucket, or (on one Redis) any: its one breaker.
            let bucket = self.keys.bucket(&ids[positions[0]]);
            let mut pipe = redis::pipe();
            let keys: Vec<String> = positions
                .iter()
                .map(|&at| self.keys.progress(&ids[at]))
                .collect();
            pipe.cmd("MGET").arg(&keys);
            for &at in &positions {
                pipe.cmd("EXISTS").arg(self.keys.children(&ids[at]));
            }
            let mut conn = self.conn.clone();
            let read = async move {
                let mut replies = pipe.query_async::<Vec<Value>>(&mut conn).await?.into_iter();
                let raw: Vec<Option<String>> =
                    redis::from_redis_value(replies.next().unwrap_or(Value::Nil))?;
                let parents = replies
                    .map(redis::from_redis_value::<bool>)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok::<_, redis::RedisError>((raw, parents))
            };
            let (raw, parents) = self.call(bucket, read).await?;
            let parents: Vec<usize> = (0..positions.len())
                .filter(|&i| parents.get(i) == Some(&true) && raw[i].is_some())
                .collect();
            let mut counters: Vec<Option<Vec<Option<i64>>>> = vec![None; positions.len()];
            if !parents.is_empty() {
                let mut pipe = redis::pipe();
                for &i in &parents {
                    pipe.cmd("HMGET")
                        .arg(self.keys.children(&ids[positions[i]]))
                        .arg(&COUNTERS[..]);
                }
                let mut conn = self.conn.clone();
                let read =
                    async move { pipe.query_async::<Vec<Vec<Option<i64>>>>(&mut conn).await };
                for (i, read) in parents.into_iter().zip(self.call(bucket, read).await?) {
                    counters[i] = Some(read);
                }
            }
            let now = Utc::now();
            let each = keys
                .iter()
                .zip(raw)
                .zip(counters)
                .map(|((key, raw), counters)| {
                    let Some(raw) = raw else { return Ok(None) };
                    let mut record = decode(key, &raw)?;
                    if let Some(rollup) = counters.as_deref().and_then(rollup_of) {
                        record.roll_up(&rollup, now);
                    }
                    Ok(Some(record))
                });
            Ok::<_, StoreError>(positions.into_iter().zip(each).collect::<Vec<_>>())
        });
        let mut ordered: Vec<ReadOne> = ids.iter().map(|_| Ok(None)).collect();
        for part in try_join_all(reads).await? {
            for (at, one) in part {
                ordered[at] = one;
            }
        }
        Ok(ordered)
    }

    /// See [`HotStore::rollup`](crate::store::HotStore::rollup).
    pub(super) async fn read_rollup(&self, parent: &JobId) -> Result<Option<Rollup>, StoreError> {
        let mut conn = self.conn.clone();
        let counters: Vec<Option<i64>> = self
            .call(
                self.keys.bucket(parent),
                redis::cmd("HMGET")
                    .arg(self.keys.children(parent))
                    .arg(&COUNTERS[..])
                    .query_async(&mut conn),
            )
            .await?;
        Ok(rollup_of(&counters))
    }

    /// See [`HotStore::child_entries`](crate::store::HotStore::child_entries).
    pub(super) async fn read_child_entries(
        &self,
        parent: &JobId,
    ) -> Result<Vec<(JobId, ChildEntry)>, StoreError> {
        let mut conn = self.conn.clone();
        let fields: Vec<(String, String)> = self
            .call(
                self.keys.bucket(parent),
                redis::cmd("HGETALL")
                    .arg(self.keys.children(parent))
                    .query_async(&mut conn),
            )
            .await?;
        let mut entries: Vec<(JobId, ChildEntry)> = fields
            .into_iter()
            .filter(|(field, _)| !field.starts_with('#'))
            .filter_map(|(field, raw)| {
                Some((JobId::parse(field).ok()?, ChildEntry::from_stored(&raw)?))
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }
}
