//! The active list: one page of the `preparing` and `in_progress` jobs,
//! oldest start first (jobs without a start last, ties by id), and how many
//! there are in all.
//!
//! Each bucket's `active:by-start` index is in that order by itself (a
//! sorted set orders equal scores by member). One Redis has one bucket, so
//! a page is a ZRANGE at the offset. A cluster's page is the merge of the
//! N indexes: each is read from its start in batches, only as far as the
//! merge needs, the N reads of a round running at once (one per bucket,
//! each on its own slot). A deep offset therefore costs reading the
//! members before it, a few thousand per round trip.

use std::collections::{BTreeMap, VecDeque};

use chrono::Utc;
use futures_util::future::try_join_all;
use redis::Script;

use super::{RedisStore, decode};
use crate::{
    domain::{JobFilter, JobId, ProgressRecord},
    store::{StoreError, keys::Bucket},
};

/// How many members one ZRANGE reads at most (a page may hold 10,000).
const PAGE_BATCH: u64 = 1000;

/// How many members one prune or forget call removes at most, so no call
/// holds Redis for long (and Lua's `unpack` stays far below its limit).
const REMOVE_BATCH: usize = 1000;

/// The Lua that removes the members `ids` of a bucket from its two
/// indexes, their kind index and the names hash, whose entry says the kind.
/// KEYS: index by update, index by start, names hash, top-level index (one
/// bucket).
/// ARGV[1]: the bucket's kind index prefix.
const FORGET_LUA: &str = r#"
local function forget(ids)
  redis.call('ZREM', KEYS[1], unpack(ids))
  redis.call('ZREM', KEYS[2], unpack(ids))
  redis.call('ZREM', KEYS[4], unpack(ids))
  for _, id in ipairs(ids) do
    local entry = redis.call('HGET', KEYS[3], id)
    local kind = entry and string.match(entry, '^([^ ]*) ')
    if kind and kind ~= '' then redis.call('ZREM', ARGV[1] .. kind, id) end
  end
  redis.call('HDEL', KEYS[3], unpack(ids))
end
"#;

/// Removes the members of a bucket's update index scored at or below
/// ARGV[2] (not updated for longer than the in-progress TTL, so their
/// value is gone), at most 1,000 per call, as [`FORGET_LUA`] does.
/// Returns how many it removed.
const PRUNE_SCRIPT: &str = r#"
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, 1000)
if #stale > 0 then forget(stale) end
return #stale
"#;

/// Removes the members ARGV[2..] as [`FORGET_LUA`] does.
const FORGET_SCRIPT: &str = r#"
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
if #ids > 0 then forget(ids) end
return #ids
"#;

/// The prune script.
pub(super) fn prune_script() -> Script {
    Script::new(&format!("{FORGET_LUA}{PRUNE_SCRIPT}"))
}

/// The script that removes given members (whose value is gone).
pub(super) fn forget_script() -> Script {
    Script::new(&format!("{FORGET_LUA}{FORGET_SCRIPT}"))
}

/// One bucket's by-start index (or its index of one kind), as far as the
/// merge has read it.
struct Cursor {
    bucket: Bucket,
    /// The index read.
    index: String,
    /// The rank of the next member to read.
    next: u64,
    /// Read and not merged yet: (score, member), in index order.
    read: VecDeque<(f64, String)>,
    /// Nothing is left past `next`.
    exhausted: bool,
}

impl Cursor {
    /// Whether the merge must read more of this index before it can pick.
    fn needs_reading(&self) -> bool {
        self.read.is_empty() && !self.exhausted
    }
}

impl RedisStore {
    /// See [`HotStore::active`](crate::store::HotStore::active).
    /// A `kind=` alone reads the kind's indexes the same way; a `q=`
    /// searches the names hashes (`search.rs`).
    pub(super) async fn active_page(
        &self,
        filter: &JobFilter,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        let buckets: Vec<Bucket> = self.keys.buckets().collect();
        try_join_all(buckets.iter().map(|&bucket| self.prune(bucket))).await?;
        // Top-level jobs of one kind: the names hash has the kinds, the
        // top-level index the rest (as a search does).
        if filter.q.is_some() || (filter.top_level && filter.kind.is_some()) {
            return self.search_page(filter, limit, offset).await;
        }

        // One Redis: its one index is the list, so reading starts at the
        // offset. A cluster's indexes are read from their start, a share
        // of the page each (plus a margin for uneven buckets) at first.
        let single = buckets.len() == 1;
        let wanted = offset.saturating_add(u64::from(limit));
        let mut batch = if single {
            u64::from(limit).clamp(1, PAGE_BATCH)
        } else {
            (wanted.div_ceil(buckets.len() as u64) + 16).min(PAGE_BATCH)
        };
        let mut cursors: Vec<Cursor> = buckets
            .iter()
            .map(|&bucket| Cursor {
                bucket,
                index: match &filter.kind {
                    Some(kind) => self.keys.kind_index(bucket, kind),
                    None if filter.top_level => self.keys.top_index(bucket),
                    None => self.keys.by_start_index(bucket),
                },
                next: if single { offset } else { 0 },
                read: VecDeque::new(),
                exhausted: false,
            })
            .collect();
        let counts =
            try_join_all(cursors.iter_mut().map(|c| self.read_more(c, batch, true))).await?;
        let total: u64 = counts.into_iter().flatten().sum();

        let mut rank = if single { offset } else { 0 };
        let mut members: Vec<(Bucket, String)> = Vec::new();
        while members.len() < limit as usize {
            if cursors.iter().any(Cursor::needs_reading) {
                batch = (batch * 2).min(PAGE_BATCH);
                let needy = cursors.iter_mut().filter(|c| c.needs_reading());
                try_join_all(needy.map(|c| self.read_more(c, batch, false))).await?;
                continue;
            }
            let next = cursors
                .iter_mut()
                .filter(|c| !c.read.is_empty())
                .min_by(|a, b| {
                    let (a, b) = (&a.read[0], &b.read[0]);
                    a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1))
                });
            let Some(cursor) = next else { break };
            let Some((_, member)) = cursor.read.pop_front() else {
                break;
            };
            if rank >= offset {
                members.push((cursor.bucket, member));
            }
            rank += 1;
        }

        self.page_of(members, total).await
    }

    /// The records of a page's `members`, and `total` less those found
    /// gone, which leave the indexes.
    pub(super) async fn page_of(
        &self,
        members: Vec<(Bucket, String)>,
        mut total: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        // A member that is not a valid job id was not written by us: it
        // can never have a value, so it leaves the index like an expired one.
        let mut expired: Vec<(Bucket, String)> = Vec::new();
        let mut ids = Vec::with_capacity(members.len());
        for (bucket, member) in members {
            match JobId::parse(member.as_str()) {
                Ok(id) => ids.push(id),
                Err(_) => expired.push((bucket, member)),
            }
        }
        let values = self.values(&ids).await?;
        let mut page = Vec::with_capacity(values.len());
        for (id, raw) in ids.into_iter().zip(values) {
            let key = self.keys.progress(&id);
            match raw.map(|raw| decode(&key, &raw)) {
                Some(Ok(record)) if record.status.is_active() => page.push(record),
                Some(Err(err)) => tracing::warn!(error = %err, "skipping an unreadable record"),
                Some(Ok(_)) | None => expired.push((self.keys.bucket(&id), id.as_str().to_owned())),
            }
        }
        if !expired.is_empty() {
            tracing::debug!(count = expired.len(), "pruning expired index entries");
            total = total.saturating_sub(expired.len() as u64);
            self.forget(expired).await;
        }
        Ok((page, total))
    }

    /// Removes the bucket's members not updated for longer than the
    /// in-progress TTL (see [`PRUNE_SCRIPT`]).
    async fn prune(&self, bucket: Bucket) -> Result<(), StoreError> {
        let cutoff = Utc::now().timestamp_millis()
            - i64::try_from(self.ttls.in_progress.as_millis()).unwrap_or(i64::MAX);
        let mut conn = self.conn.clone();
        let mut invocation = self.prune_script.key(self.keys.active_index(bucket));
        invocation
            .key(self.keys.by_start_index(bucket))
            .key(self.keys.names(bucket))
            .key(self.keys.top_index(bucket))
            .arg(self.keys.kind_index_prefix(bucket))
            .arg(cutoff);
        let _pruned: i64 = self
            .call(bucket, invocation.invoke_async(&mut conn))
            .await?;
        Ok(())
    }

    /// Reads up to `batch` more members of the cursor's index, with their
    /// scores; with `count`, also the index's size (in the same round
    /// trip), which it returns.
    async fn read_more(
        &self,
        cursor: &mut Cursor,
        batch: u64,
        count: bool,
    ) -> Result<Option<u64>, StoreError> {
        let index = &cursor.index;
        let first = i64::try_from(cursor.next).unwrap_or(i64::MAX);
        let last = first.saturating_add(i64::try_from(batch).unwrap_or(i64::MAX) - 1);
        let mut pipe = redis::pipe();
        if count {
            pipe.cmd("ZCARD").arg(index);
        }
        pipe.cmd("ZRANGE").arg(index).arg(first).arg(last);
        // Scores only matter to a merge: one Redis's single index is
        // taken as it comes.
        let merging = self.keys.is_bucketed();
        if merging {
            pipe.arg("WITHSCORES");
        }
        let mut conn = self.conn.clone();
        let (size, reply): (Option<u64>, Vec<String>) = if count {
            self.call(cursor.bucket, pipe.query_async(&mut conn))
                .await?
        } else {
            let (reply,): (Vec<String>,) = self
                .call(cursor.bucket, pipe.query_async(&mut conn))
                .await?;
            (None, reply)
        };
        // The store speaks RESP2: WITHSCORES is member, score, member, ...,
        // each a string ("inf" for +inf, which parses as such).
        let read: Vec<(f64, String)> = if merging {
            reply
                .chunks_exact(2)
                .map(|pair| (pair[1].parse().unwrap_or(f64::INFINITY), pair[0].clone()))
                .collect()
        } else {
            reply.into_iter().map(|member| (0.0, member)).collect()
        };
        cursor.exhausted = (read.len() as u64) < batch;
        cursor.next = cursor.next.saturating_add(read.len() as u64);
        cursor.read.extend(read);
        Ok(size)
    }

    /// Removes members whose value is gone from every index of their
    /// bucket and from its names hash. A failure is only logged: the
    /// listing is still right, and the next one prunes again.
    pub(super) async fn forget(&self, expired: Vec<(Bucket, String)>) {
        let mut by_bucket: BTreeMap<Bucket, Vec<String>> = BTreeMap::new();
        for (bucket, member) in expired {
            by_bucket.entry(bucket).or_default().push(member);
        }
        let batches = by_bucket.into_iter().flat_map(|(bucket, members)| {
            members
                .chunks(REMOVE_BATCH)
                .map(|chunk| (bucket, chunk.to_vec()))
                .collect::<Vec<_>>()
        });
        let removals = batches.map(|(bucket, members)| {
            let mut conn = self.conn.clone();
            let mut invocation = self.forget_script.key(self.keys.active_index(bucket));
            invocation
                .key(self.keys.by_start_index(bucket))
                .key(self.keys.names(bucket))
                .key(self.keys.top_index(bucket))
                .arg(self.keys.kind_index_prefix(bucket))
                .arg(members);
            async move {
                self.call(bucket, invocation.invoke_async::<i64>(&mut conn))
                    .await
            }
        });
        if let Err(err) = try_join_all(removals).await {
            tracing::warn!(error = %err, "could not prune the active index");
        }
    }
}
