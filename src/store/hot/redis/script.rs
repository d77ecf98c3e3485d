//! The write scripts: how a record gets into Redis, in one atomic step,
//! and how the state beside it is replaced alone.

use std::sync::LazyLock;

use chrono::Utc;
use redis::Script;

use super::RedisStore;
use crate::{
    domain::{
        CancelRequest, HISTORY_SAMPLES, HISTORY_SPACING_MS, JobId, JobStatus, MAX_ATTEMPTS_KEPT,
        ProgressRecord,
    },
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
/// Attempts: a write of a later attempt than the stored one is always
/// taken (a job run again starts over; the stored attempt's summary is
/// added to the new record's `attempts` unless the writer sent them), one
/// of an earlier attempt never; the rules above hold within an attempt.
/// A request to stop (`cancelRequested`) stored by the API is kept when a
/// writer that has not heard of it writes the same attempt, and returned,
/// so the writer learns of it with its next write.
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
/// The filters' block keeps the job's kind index and names entry (see
/// `keys.rs`) in step with the two indexes.
///
/// A job without a parent is also in the top-level index (KEYS[8]) while
/// active, which the active list's default page reads; a child's parent
/// learns of the write from the roll-up script run after this one
/// (`children.rs`).
///
/// A job that finishes with a log joins its bucket's finished logs (first
/// to go past `LOG_MAX_TOTAL_MB`, `log.rs`), at the time of its first
/// final write; a job that runs again leaves them.
///
/// KEYS: value key, index by update, index by start, state key, log key,
///       history key, names hash, top-level index, the bucket's log
///       sizes, its finished logs.
/// ARGV: json (no version), ttl seconds, update score (ms), job id, "1" if
///       active, status rank, processed count, status, start score (ms or
///       "+inf"), events channel or "", expected version or "", state or "",
///       sample (`<ms>:<processed>:<failed>`), "1" if final, attempt, "1"
///       if the json carries cancelRequested else "", "1" if it carries
///       attempts else "", kind index prefix, kind or "", name or "", "1"
///       if the job has no parent else "".
/// Returns {the new version (0 when refused as stale, -1 when the stored
/// version is not the expected one), the kept cancelRequested as JSON or
/// ""}.
const WRITE_SCRIPT_TEMPLATE: &str = r#"
-- What is kept of an attempt once another begins (AttemptSummary), as
-- JSON: integers written as integers, strings through cjson.
local function summary(o)
  local parts = {
    '"attempt":' .. string.format('%d', tonumber(o.attempt) or 1),
    '"status":' .. cjson.encode(tostring(o.status)),
  }
  if type(o.startedAt) == 'string' then
    parts[#parts + 1] = '"startedAt":' .. cjson.encode(o.startedAt)
  end
  local ended = o.endedAt or o.completedAt or o.updatedAt
  if type(ended) == 'string' then
    parts[#parts + 1] = '"endedAt":' .. cjson.encode(ended)
  end
  if type(o.errorMessage) == 'string' then
    parts[#parts + 1] = '"errorMessage":' .. cjson.encode(o.errorMessage)
  end
  parts[#parts + 1] = '"successCount":' .. string.format('%d', tonumber(o.successCount) or 0)
  parts[#parts + 1] = '"failureCount":' .. string.format('%d', tonumber(o.failureCount) or 0)
  return '{' .. table.concat(parts, ',') .. '}'
end

local current = redis.call('GET', KEYS[1])
local version = 0
local ok, old = false, nil
if current then
  ok, old = pcall(cjson.decode, current)
  if ok and type(old) == 'table' then
    version = tonumber(old.version) or 0
  else
    ok = false
  end
end
if ARGV[11] ~= '' and version ~= tonumber(ARGV[11]) then return {-1, ''} end
local attempt = tonumber(ARGV[15])
local old_attempt = ok and (tonumber(old.attempt) or 1) or attempt
if ok then
  if attempt < old_attempt then return {0, ''} end
  if attempt == old_attempt then
    local ranks = { RANKS }
    local old_rank = ranks[old.status]
    -- A status this release does not know (a later release wrote it):
    -- never written over, as JobStatus::Other is final.
    if type(old.status) == 'string' and not old_rank then return {0, ''} end
    if old_rank then
      if tonumber(ARGV[6]) < old_rank then return {0, ''} end
      if old_rank == FINISHED and old.status ~= ARGV[8] then return {0, ''} end
    end
    local old_sent = tonumber(old.currentSentCount)
    if old_sent and tonumber(ARGV[7]) < old_sent then return {0, ''} end
  end
end
version = math.max(version + 1, tonumber(ARGV[3]))
-- The record less its opening brace, so fields can be added at its end.
local body = string.sub(ARGV[1], 2)
local cancel = ''
if ok and attempt == old_attempt and ARGV[16] == '' and type(old.cancelRequested) == 'table' then
  -- A request to stop made since the writer last heard: kept, and told.
  cancel = cjson.encode(old.cancelRequested)
  body = string.sub(body, 1, -2) .. ',"cancelRequested":' .. cancel .. '}'
end
if ok and attempt > old_attempt and ARGV[17] == '' then
  -- A new attempt from a writer that does not carry the earlier ones.
  local kept = {}
  if type(old.attempts) == 'table' then
    for i = math.max(1, #old.attempts - MAX_KEPT + 2), #old.attempts do
      kept[#kept + 1] = summary(old.attempts[i])
    end
  end
  kept[#kept + 1] = summary(old)
  body = string.sub(body, 1, -2) .. ',"attempts":[' .. table.concat(kept, ',') .. ']}'
end
local json = '{"version":' .. string.format('%d', version) .. ',' .. body
redis.call('SET', KEYS[1], json, 'EX', ARGV[2])
if ARGV[12] ~= '' then
  redis.call('SET', KEYS[4], ARGV[12], 'EX', ARGV[2])
end
redis.call('EXPIRE', KEYS[5], ARGV[2])
-- A new attempt's chart starts from its own start, and its log is no
-- finished job's.
if ok and attempt > old_attempt then
  redis.call('DEL', KEYS[6])
  redis.call('ZREM', KEYS[10], ARGV[4])
end
if ARGV[14] == '1' and redis.call('HEXISTS', KEYS[9], ARGV[4]) == 1 then
  redis.call('ZADD', KEYS[10], 'NX', ARGV[3], ARGV[4])
end
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
  if ARGV[21] == '1' then
    redis.call('ZADD', KEYS[8], ARGV[9], ARGV[4])
  else
    redis.call('ZREM', KEYS[8], ARGV[4])
  end
else
  redis.call('ZREM', KEYS[2], ARGV[4])
  redis.call('ZREM', KEYS[3], ARGV[4])
  redis.call('ZREM', KEYS[8], ARGV[4])
end
-- Filters: the kind index and the names entry ("<kind> <name>"), whose
-- kind says which kind index an earlier write put the job in.
local entry = redis.call('HGET', KEYS[7], ARGV[4])
local old_kind = entry and string.match(entry, '^([^ ]*) ')
if old_kind and old_kind ~= '' and (ARGV[5] ~= '1' or old_kind ~= ARGV[19]) then
  redis.call('ZREM', ARGV[18] .. old_kind, ARGV[4])
end
if ARGV[5] == '1' then
  if ARGV[19] ~= '' then redis.call('ZADD', ARGV[18] .. ARGV[19], ARGV[9], ARGV[4]) end
  redis.call('HSET', KEYS[7], ARGV[4], ARGV[19] .. ' ' .. ARGV[20])
elseif entry then
  redis.call('HDEL', KEYS[7], ARGV[4])
end
-- End of the filters' block.
if ARGV[10] ~= '' then
  redis.call('PUBLISH_COMMAND', ARGV[10], json)
end
return {version, cancel}
"#;

/// Replaces the state beside a record (KEYS[2], ARGV[1]) if the record
/// (KEYS[1]) is still at version ARGV[2], giving it the record's remaining
/// TTL; touches nothing else and publishes nothing. The version is read
/// from the front of the stored JSON, where the write script puts it.
/// Returns 1 when it replaced the state, else 0.
static STATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if string.match(current, '^{"version":(%d+),') ~= ARGV[2] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ttl)
else
  redis.call('SET', KEYS[2], ARGV[1])
end
return 1
"#,
    )
});

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
            .replace("MAX_KEPT", &MAX_ATTEMPTS_KEPT.to_string())
            .replace("HISTORY_SPACING", &HISTORY_SPACING_MS.to_string())
            .replace("HISTORY_SAMPLES", &HISTORY_SAMPLES.to_string())
            .replace("PUBLISH_COMMAND", keys.publish_command()),
    )
}

impl RedisStore {
    /// Runs the write script; `held` is the expected version and the
    /// writer's state, for a job written over HTTP. Returns what the script
    /// returns (see [`WRITE_SCRIPT_TEMPLATE`]): the version (or 0, -1) and
    /// a request to stop the writer had not heard of.
    pub(super) async fn run_write(
        &self,
        record: &ProgressRecord,
        held: Option<(u64, &[u8])>,
    ) -> Result<(i64, Option<CancelRequest>), StoreError> {
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
            .key(self.keys.names(bucket))
            .key(self.keys.top_index(bucket))
            .key(self.keys.log_sizes(bucket))
            .key(self.keys.finished_logs(bucket))
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
            })
            .arg(record.attempt())
            .arg(if record.cancel_requested.is_some() {
                "1"
            } else {
                ""
            })
            .arg(if record.attempts.is_empty() { "" } else { "1" })
            .arg(self.keys.kind_index_prefix(bucket))
            .arg(record.kind.as_ref().map_or("", |kind| kind.as_str()))
            .arg(record.name.as_ref().map_or("", |name| name.as_str()))
            .arg(if record.parent_job_id.is_none() {
                "1"
            } else {
                ""
            });
        let (code, cancel): (i64, String) = self
            .call(bucket, invocation.invoke_async(&mut conn))
            .await?;
        // Written by this script from a stored record: unreadable only if
        // something else wrote the key, and then the writer simply does
        // not learn of it.
        let cancel = (!cancel.is_empty())
            .then(|| serde_json::from_str(&cancel).ok())
            .flatten();
        Ok((code, cancel))
    }

    /// Runs [`STATE_SCRIPT`]: `state` in place of the job's, if its record
    /// is still at `version`; whether it was.
    pub(super) async fn run_replace_state(
        &self,
        id: &JobId,
        state: &[u8],
        version: u64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = STATE_SCRIPT.key(self.keys.progress(id));
        invocation
            .key(self.keys.state(id))
            .arg(state)
            .arg(version.to_string());
        let replaced: i64 = self
            .call(self.keys.bucket(id), invocation.invoke_async(&mut conn))
            .await?;
        Ok(replaced == 1)
    }
}
