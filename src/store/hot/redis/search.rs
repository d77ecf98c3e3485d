//! `q=` on the active list: the jobs whose id or name holds the text,
//! found in each bucket's names hash (`<jobId>` -> `<kind> <name>`, kept
//! by the write script), never in the records. The matches' places in the
//! list come from the by-start index (one ZMSCORE per bucket); only the
//! page's records are read. Cost: every active job's entry crosses the
//! wire once per search (at 10,000 jobs, see BENCHMARKS.md, "Filters").

use futures_util::future::try_join_all;

use super::RedisStore;
use crate::{
    domain::{JobFilter, ProgressRecord},
    store::{StoreError, keys::Bucket},
};

impl RedisStore {
    /// One page of the active jobs `filter` (with a `q`, or a `kind` of
    /// top-level jobs) admits, in list order, and how many it admits in
    /// all.
    pub(super) async fn search_page(
        &self,
        filter: &JobFilter,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        let buckets: Vec<Bucket> = self.keys.buckets().collect();
        let found =
            try_join_all(buckets.iter().map(|&bucket| self.matches(bucket, filter))).await?;
        let mut placed: Vec<(f64, String, Bucket)> = found.into_iter().flatten().collect();
        // The list's order: start, then id (as a sorted set orders ties).
        placed.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let total = placed.len() as u64;
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let members = placed
            .into_iter()
            .skip(skip)
            .take(limit as usize)
            .map(|(_, member, bucket)| (bucket, member))
            .collect();
        self.page_of(members, total).await
    }

    /// The bucket's active jobs `filter` admits, with their start scores.
    /// A names entry without a by-start member (a write between the two
    /// reads ended the job) is left out.
    async fn matches(
        &self,
        bucket: Bucket,
        filter: &JobFilter,
    ) -> Result<Vec<(f64, String, Bucket)>, StoreError> {
        let mut conn = self.conn.clone();
        let mut read = redis::cmd("HGETALL");
        read.arg(self.keys.names(bucket));
        let entries: Vec<(String, String)> = self.call(bucket, read.query_async(&mut conn)).await?;
        let admitted: Vec<String> = entries
            .into_iter()
            .filter(|(id, entry)| {
                let (kind, name) = entry.split_once(' ').unwrap_or(("", entry));
                let kind = (!kind.is_empty()).then_some(kind);
                let name = (!name.is_empty()).then_some(name);
                filter.admits(id, kind, name)
            })
            .map(|(id, _)| id)
            .collect();
        if admitted.is_empty() {
            return Ok(Vec::new());
        }
        let mut scores = redis::cmd("ZMSCORE");
        // The top-level index holds the jobs without a parent: a child's
        // missing score leaves it out.
        let index = if filter.top_level {
            self.keys.top_index(bucket)
        } else {
            self.keys.by_start_index(bucket)
        };
        scores.arg(index).arg(&admitted);
        // The store speaks RESP2: each score is a string ("inf" for +inf),
        // or nil for a member the index does not hold.
        let scores: Vec<Option<String>> = self.call(bucket, scores.query_async(&mut conn)).await?;
        Ok(admitted
            .into_iter()
            .zip(scores)
            .filter_map(|(id, score)| {
                let score = score?.parse().unwrap_or(f64::INFINITY);
                Some((score, id, bucket))
            })
            .collect())
    }
}
