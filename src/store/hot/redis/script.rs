//! The write script: how a record gets into Redis, in one atomic step.

use chrono::Utc;
use redis::Script;

use super::RedisStore;
use crate::{
    domain::{HISTORY_SAMPLES, HISTORY_SPACING_MS, JobStatus, ProgressRecord},
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
/// The job's log (its own script, `log.rs`) lives as long as the record:
/// each write carries the record's TTL to it, when there is one.
///
/// A written record also appends a progress sample (ARGV[13]) to the
/// job's history when the spacing (the list's first element) has passed
/// since the last one, or the record is final (ARGV[14] is "1"); past
/// HISTORY_SAMPLES, every other sample is dropped (the newest kept) and
/// the spacing doubles: the one rewrite, once per doubling.
///
/// KEYS: value key, index by update, index by start, state key, log key,
///       history key.
/// ARGV: json (no version), ttl seconds, update score (ms), job id, "1" if
///       active, status rank, processed count, status, start score (ms or
///       "+inf"), events channel or "", expected version or "", state or "",
///       sample (`<ms>:<processed>:<failed>`), "1" if final.
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
redis.call('EXPIRE', KEYS[5], ARGV[2])
local spacing = tonumber(redis.call('LINDEX', KEYS[6], 0)) or HISTORY_SPACING
local previous = redis.call('LINDEX', KEYS[6], -1)
local due = true
if previous and redis.call('LLEN', KEYS[6]) > 1 and ARGV[14] ~= '1' then
  local previous_ms = tonumber(string.match(previous, '^(-?%d+):'))
  local ms = tonumber(string.match(ARGV[13], '^(-?%d+):'))
  due = (not previous_ms) or (not ms) or ms - previous_ms >= spacing
end
if due then
  if redis.call('LLEN', KEYS[6]) == 0 then redis.call('RPUSH', KEYS[6], HISTORY_SPACING) end
  if redis.call('RPUSH', KEYS[6], ARGV[13]) - 1 > HISTORY_SAMPLES then
    local samples = redis.call('LRANGE', KEYS[6], 1, -1)
    local kept = {}
    for i = 1, #samples do
      if (#samples - i) % 2 == 0 then kept[#kept + 1] = samples[i] end
    end
    redis.call('DEL', KEYS[6])
    redis.call('RPUSH', KEYS[6], string.format('%d', spacing * 2), unpack(kept))
  end
end
redis.call('EXPIRE', KEYS[6], ARGV[2])
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
  redis.call('ZADD', KEYS[3], ARGV[9], ARGV[4])
else
  redis.call('ZREM', KEYS[2], ARGV[4])
  redis.call('ZREM', KEYS[3], ARGV[4])
end
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
            .replace("HISTORY_SPACING", &HISTORY_SPACING_MS.to_string())
            .replace("HISTORY_SAMPLES", &HISTORY_SAMPLES.to_string())
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
            .key(self.keys.log(&record.job_id))
            .key(self.keys.history(&record.job_id))
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
            .arg(record.sample().to_stored())
            .arg(if record.status.is_terminal() {
                "1"
            } else {
                "0"
            });
        self.call(bucket, invocation.invoke_async(&mut conn)).await
    }
}
