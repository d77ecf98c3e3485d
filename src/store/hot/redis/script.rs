//! The write script: how a record gets into Redis, in one atomic step.

use chrono::Utc;
use redis::Script;

use super::RedisStore;
use crate::{
    domain::{JobStatus, ProgressRecord},
    store::{StoreError, keys::Keys},
};

/// Writes the value, its TTL and the index entries in one atomic step, and
/// refuses a write that would move the job backwards: a lower status rank,
/// a finished job turned into anything else, a status this release does
/// not know written over, or a lower processed count.
/// The ranks come from [`JobStatus::rank`], the one source of the rule
/// (the PostgreSQL upsert renders its own from the same place).
///
/// The stored JSON gets the new version put in front: the larger of the old
/// version plus one and the update score, so versions only grow, even after
/// Redis lost the key. What is stored is published on the bucket's events
/// channel with the layout's command (`PUBLISH`, or `SPUBLISH` on a
/// cluster), unless ARGV[10] is empty: another bus carries the events.
///
/// A job written over HTTP also keeps its writer's state (ARGV[12]) beside
/// the value, with the same TTL, and is written only if the stored version
/// is still the one its update started from (ARGV[11]; 0: no value), so
/// two instances updating one job at once never lose either update: the
/// second is told to start again from what the first stored.
///
/// Every key and the channel are of the job's bucket, so on a cluster the
/// script runs on one slot.
///
/// The filters' block keeps the job's kind index and names entry (see
/// `keys.rs`) in step with the two indexes.
///
/// KEYS: value key, index by update, index by start, state key, names hash.
/// ARGV: json (no version), ttl seconds, update score (ms), job id, "1" if
///       active, status rank, processed count, status, start score (ms or
///       "+inf"), events channel or "", expected version or "", state or "",
///       kind index prefix, kind or "", name or "".
/// Returns the new version, 0 when refused as stale, -1 when the stored
/// version is not the expected one.
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
    -- A status this release does not know (a later release wrote it):
    -- never written over, as JobStatus::Other is final.
    if type(old.status) == 'string' and not old_rank then return 0 end
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
-- Filters: the kind index and the names entry ("<kind> <name>"), whose
-- kind says which kind index an earlier write put the job in.
local entry = redis.call('HGET', KEYS[5], ARGV[4])
local old_kind = entry and string.match(entry, '^([^ ]*) ')
if old_kind and old_kind ~= '' and (ARGV[5] ~= '1' or old_kind ~= ARGV[14]) then
  redis.call('ZREM', ARGV[13] .. old_kind, ARGV[4])
end
if ARGV[5] == '1' then
  if ARGV[14] ~= '' then redis.call('ZADD', ARGV[13] .. ARGV[14], ARGV[9], ARGV[4]) end
  redis.call('HSET', KEYS[5], ARGV[4], ARGV[14] .. ' ' .. ARGV[15])
elseif entry then
  redis.call('HDEL', KEYS[5], ARGV[4])
end
-- End of the filters' block.
if ARGV[10] ~= '' then
  redis.call('PUBLISH_COMMAND', ARGV[10], json)
end
return version
"#;

/// The write script for `keys`' layout (see [`WRITE_SCRIPT_TEMPLATE`]).
pub(super) fn write_script(keys: &Keys) -> Script {
    let ranks: Vec<String> = JobStatus::ALL
        .iter()
        .map(|status| format!("{} = {}", status.as_str(), status.rank()))
        .collect();
    let finished = JobStatus::Completed.rank();
    Script::new(
        &WRITE_SCRIPT_TEMPLATE
            .replace("RANKS", &ranks.join(", "))
            .replace("FINISHED", &finished.to_string())
            .replace("PUBLISH_COMMAND", keys.publish_command()),
    )
}

impl RedisStore {
    /// Runs the write script; `held` is the expected version and the
    /// writer's state, for a job written over HTTP. Returns what the script
    /// returns (see [`WRITE_SCRIPT_TEMPLATE`]).
    pub(super) async fn run_write(
        &self,
        record: &ProgressRecord,
        held: Option<(u64, &[u8])>,
    ) -> Result<i64, StoreError> {
        let key = self.keys.progress(&record.job_id);
        let bucket = self.keys.bucket(&record.job_id);
        let json = record
            .to_stored_json()
            .map_err(|err| StoreError::corrupt(key.clone(), err))?;
        let score = record
            .updated_at
            .unwrap_or_else(Utc::now)
            .timestamp_millis();
        let ttl = self.ttls.for_status(record.status).as_secs().max(1);
        let channel = if self.publishing {
            self.keys.publish_channel(bucket)
        } else {
            String::new()
        };
        let mut conn = self.conn.clone();
        let mut invocation = self.write_script.key(key);
        invocation
            .key(self.keys.active_index(bucket))
            .key(self.keys.by_start_index(bucket))
            .key(self.keys.state(&record.job_id))
            .key(self.keys.names(bucket))
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
            .arg(channel);
        match held {
            Some((expected, state)) => invocation.arg(expected).arg(state),
            None => invocation.arg("").arg(""),
        };
        invocation
            .arg(self.keys.kind_index_prefix(bucket))
            .arg(record.kind.as_ref().map_or("", |kind| kind.as_str()))
            .arg(record.name.as_ref().map_or("", |name| name.as_str()));
        self.call(bucket, invocation.invoke_async(&mut conn)).await
    }
}
