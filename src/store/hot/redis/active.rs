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
    domain::{JobId, ProgressRecord},
    store::{StoreError, keys::Bucket},
};

/// How many members one ZRANGE reads at most (a page may hold 10,000).
const PAGE_BATCH: u64 = 1000;

/// Removes from both indexes of a bucket the members of its update index
/// scored at or below ARGV[1] (not updated for longer than the in-progress
/// TTL, so their value is gone), at most 1,000 per call so no call holds
/// Redis for long.
/// KEYS: index by update, index by start (one bucket). Returns how many it
/// removed.
const PRUNE_SCRIPT: &str = r#"
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
if #stale > 0 then
  redis.call('ZREM', KEYS[1], unpack(stale))
  redis.call('ZREM', KEYS[2], unpack(stale))
end
return #stale
"#;

/// The prune script.
pub(super) fn prune_script() -> Script {
    Script::new(PRUNE_SCRIPT)
}

/// One bucket's by-start index, as far as the merge has read it.
struct Cursor {
    bucket: Bucket,
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
    pub(super) async fn active_page(
        &self,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        let buckets: Vec<Bucket> = self.keys.buckets().collect();
        try_join_all(buckets.iter().map(|&bucket| self.prune(bucket))).await?;

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
                next: if single { offset } else { 0 },
                read: VecDeque::new(),
                exhausted: false,
            })
            .collect();
        let counts =
            try_join_all(cursors.iter_mut().map(|c| self.read_more(c, batch, true))).await?;
        let mut total: u64 = counts.into_iter().flatten().sum();

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
        invocation.key(self.keys.by_start_index(bucket)).arg(cutoff);
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
        let index = self.keys.by_start_index(cursor.bucket);
        let first = i64::try_from(cursor.next).unwrap_or(i64::MAX);
        let last = first.saturating_add(i64::try_from(batch).unwrap_or(i64::MAX) - 1);
        let mut pipe = redis::pipe();
        if count {
            pipe.cmd("ZCARD").arg(&index);
        }
        pipe.cmd("ZRANGE").arg(&index).arg(first).arg(last);
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

    /// Removes members whose value is gone from both indexes of their
    /// bucket. A failure is only logged: the listing is still right, and
    /// the next one prunes again.
    async fn forget(&self, expired: Vec<(Bucket, String)>) {
        let mut by_bucket: BTreeMap<Bucket, Vec<String>> = BTreeMap::new();
        for (bucket, member) in expired {
            by_bucket.entry(bucket).or_default().push(member);
        }
        let removals = by_bucket.into_iter().map(|(bucket, members)| {
            let mut conn = self.conn.clone();
            let mut pipe = redis::pipe();
            pipe.cmd("ZREM")
                .arg(self.keys.active_index(bucket))
                .arg(&members)
                .ignore()
                .cmd("ZREM")
                .arg(self.keys.by_start_index(bucket))
                .arg(&members)
                .ignore();
            async move { self.call(bucket, pipe.query_async::<()>(&mut conn)).await }
        });
        if let Err(err) = try_join_all(removals).await {
            tracing::warn!(error = %err, "could not prune the active index");
        }
    }
}
