//! A job's log on Redis: one hash per job (see [`super::super::keys`]),
//! appended and bounded by one script, read by another.

use redis::Script;

use super::RedisStore;
use crate::{
    domain::{JobId, KEPT_BYTES, KEPT_LINES, LogBatch, LogLine, LogPage, NewLogLine},
    store::{StoreError, keys::Keys},
};

/// Appends lines to a job's log, only while the job has a record, and
/// trims the oldest until at most ARGV[3] lines and ARGV[4] bytes are
/// kept; the hash gets the record's TTL. One hash holds the lines (field
/// `<seq>`) and the counters (`first`, `last`, `bytes`), so a log is one
/// bounded structure that expires whole.
///
/// Then the bucket's cap (`LOG_MAX_TOTAL_MB`): the job's log size goes into
/// the bucket's sizes hash and total; while the total passes ARGV[5],
/// whole logs of the bucket's finished jobs are deleted, the longest
/// finished first (at most [`EVICTIONS_PER_CALL`] a call). Counts of logs
/// that expired with their records stay in the total until found: when
/// no finished log is left to delete, a few random entries are checked
/// and those whose log is gone are dropped.
///
/// The new lines are published as one [`LogBatch`] on the bucket's events
/// channel with the layout's command, beside the records (unless ARGV[1]
/// is empty: another bus carries the events).
///
/// KEYS: the record's key, the log's key, the bucket's log bytes, sizes
///       and finished logs.
/// ARGV: events channel or "", the batch payload's head (up to its first
///       line), most lines kept, most bytes kept, the bucket's cap in
///       bytes, the bucket's log key prefix, the job's id, then each
///       line's JSON without its `seq` (`{"at":..}`; the script puts
///       `"seq":n,` in front).
/// Returns the last line's sequence number, or -1 when the job has no
/// record.
const APPEND_SCRIPT: &str = r#"
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return -1 end
local last = tonumber(redis.call('HGET', KEYS[2], 'last')) or 0
local first = tonumber(redis.call('HGET', KEYS[2], 'first')) or (last + 1)
local bytes = tonumber(redis.call('HGET', KEYS[2], 'bytes')) or 0
local added = {}
for i = 8, #ARGV do
  last = last + 1
  local line = '{"seq":' .. string.format('%d', last) .. ',' .. string.sub(ARGV[i], 2)
  redis.call('HSET', KEYS[2], string.format('%d', last), line)
  bytes = bytes + #line
  added[#added + 1] = line
end
local most_lines, most_bytes = tonumber(ARGV[3]), tonumber(ARGV[4])
while first <= last and (last - first + 1 > most_lines or bytes > most_bytes) do
  local field = string.format('%d', first)
  local old = redis.call('HGET', KEYS[2], field)
  if old then
    bytes = bytes - #old
    redis.call('HDEL', KEYS[2], field)
  end
  first = first + 1
end
redis.call('HSET', KEYS[2], 'first', string.format('%d', first),
  'last', string.format('%d', last), 'bytes', string.format('%d', bytes))
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
local job = ARGV[7]
local was = tonumber(redis.call('HGET', KEYS[4], job)) or 0
redis.call('HSET', KEYS[4], job, string.format('%d', bytes))
local total = redis.call('INCRBY', KEYS[3], bytes - was)
local cap = tonumber(ARGV[5])
local evictions = 0
while total > cap and evictions < EVICTIONS_PER_CALL do
  evictions = evictions + 1
  local victim = redis.call('ZRANGE', KEYS[5], 0, 0)[1]
  local candidates = {}
  if victim then
    redis.call('ZREM', KEYS[5], victim)
    candidates[1] = victim
  else
    -- No finished log left: drop the counts of logs that expired.
    for _, other in ipairs(redis.call('HRANDFIELD', KEYS[4], 8)) do
      if other ~= job and redis.call('EXISTS', ARGV[6] .. other) == 0 then
        candidates[#candidates + 1] = other
      end
    end
    if #candidates == 0 then break end
  end
  for _, other in ipairs(candidates) do
    local size = tonumber(redis.call('HGET', KEYS[4], other)) or 0
    redis.call('HDEL', KEYS[4], other)
    redis.call('DEL', ARGV[6] .. other)
    total = redis.call('DECRBY', KEYS[3], size)
  end
end
if ARGV[1] ~= '' and #added > 0 then
  redis.call('PUBLISH_COMMAND', ARGV[1], ARGV[2] .. table.concat(added, ',') .. ']}')
end
return last
"#;

/// The most logs one append deletes to get its bucket under the cap: a
/// flood of small jobs cannot make one call slow, and the next appends
/// go on where it stopped.
const EVICTIONS_PER_CALL: u32 = 16;

/// Reads at most ARGV[2] lines numbered after ARGV[1] (or, when ARGV[1]
/// is `tail`, the last ARGV[2] lines), in one step so the counters and
/// the lines agree.
///
/// KEYS: the log's key. Returns `{last, line, ...}`; `{}` for no log.
const READ_SCRIPT: &str = r#"
local first = tonumber(redis.call('HGET', KEYS[1], 'first'))
if not first then return {} end
local last = tonumber(redis.call('HGET', KEYS[1], 'last'))
local from
if ARGV[1] == 'tail' then
  from = math.max(first, last - tonumber(ARGV[2]) + 1)
else
  from = math.max(first, tonumber(ARGV[1]) + 1)
end
local to = math.min(last, from + tonumber(ARGV[2]) - 1)
if from > to then return { string.format('%d', last) } end
local fields = {}
for seq = from, to do fields[#fields + 1] = string.format('%d', seq) end
local lines = redis.call('HMGET', KEYS[1], unpack(fields))
table.insert(lines, 1, string.format('%d', last))
return lines
"#;

/// The scripts, loaded once per store.
#[derive(Debug, Clone)]
pub(super) struct LogScripts {
    append: Script,
    read: Script,
}

impl LogScripts {
    /// The scripts for `keys`' layout (its publish command).
    pub(super) fn new(keys: &Keys) -> Self {
        Self {
            append: Script::new(
                &APPEND_SCRIPT
                    .replace("PUBLISH_COMMAND", keys.publish_command())
                    .replace("EVICTIONS_PER_CALL", &EVICTIONS_PER_CALL.to_string()),
            ),
            read: Script::new(READ_SCRIPT),
        }
    }
}

impl RedisStore {
    /// Runs the append script (see [`APPEND_SCRIPT`]).
    pub(super) async fn run_append_log(
        &self,
        id: &JobId,
        lines: &[NewLogLine],
    ) -> Result<Option<u64>, StoreError> {
        let channel = if self.publishing {
            self.keys.publish_channel(self.keys.bucket(id))
        } else {
            String::new()
        };
        let bucket = self.keys.bucket(id);
        let mut invocation = self.log_scripts.append.key(self.keys.progress(id));
        invocation
            .key(self.keys.log(id))
            .key(self.keys.log_bytes(bucket))
            .key(self.keys.log_sizes(bucket))
            .key(self.keys.finished_logs(bucket))
            .arg(channel)
            .arg(LogBatch::payload_head(id))
            .arg(KEPT_LINES)
            .arg(KEPT_BYTES)
            .arg(self.log_cap.per_bucket(self.keys.buckets().len()))
            .arg(self.keys.log_prefix(bucket))
            .arg(id.as_str());
        for line in lines {
            invocation.arg(line.to_unnumbered_json());
        }
        let mut conn = self.conn.clone();
        // Both keys are of the job's bucket: one slot on a cluster.
        let last: i64 = self
            .call(self.keys.bucket(id), invocation.invoke_async(&mut conn))
            .await?;
        Ok(u64::try_from(last).ok())
    }

    /// Runs the read script (see [`READ_SCRIPT`]) and decodes its lines:
    /// at most `limit` after `after`, or with `None` the last `limit`.
    pub(super) async fn run_read_log(
        &self,
        id: &JobId,
        after: Option<u64>,
        limit: u32,
    ) -> Result<LogPage, StoreError> {
        let key = self.keys.log(id);
        let mut invocation = self.log_scripts.read.key(&key);
        match after {
            Some(after) => invocation.arg(after),
            None => invocation.arg("tail"),
        };
        invocation.arg(limit);
        let mut conn = self.conn.clone();
        let answer: Vec<Option<String>> = self
            .call(self.keys.bucket(id), invocation.invoke_async(&mut conn))
            .await?;
        let mut answer = answer.into_iter();
        let Some(last) = answer.next().flatten() else {
            return Ok(LogPage::default());
        };
        let last: u64 = last
            .parse()
            .map_err(|err| StoreError::corrupt(key.clone(), err))?;
        let lines = answer
            .flatten()
            .map(|raw| serde_json::from_str::<LogLine>(&raw))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| StoreError::corrupt(key.clone(), err))?;
        Ok(LogPage::of(lines, last))
    }
}
