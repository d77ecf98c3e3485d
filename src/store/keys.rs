//! The Redis key layout, built in this one place.
//!
//! There are two layouts: one for a single Redis (the default) and one for
//! a Redis Cluster (`REDIS_CLUSTER=true`). Both are described below with
//! the default prefix `job:` (set with `KEY_PREFIX`).
//!
//! # One Redis
//!
//! | key                      | type       | value                                   | TTL |
//! |--------------------------|------------|-----------------------------------------|-----|
//! | `job:progress:<jobId>`   | string     | the [`ProgressRecord`] as JSON          | `completed`: 1 h; any other status: 24 h; reset on every write |
//! | `job:state:<jobId>`      | string     | the estimator state of a job written over HTTP (postcard; a few hundred bytes, under 17 KiB for the longest job), written with the record by the same script | the record's |
//! | `job:log:<jobId>`        | hash       | the job's log: field `<seq>` = the line's JSON (`{"seq","at","level","message"}`), and `first`, `last` (the kept lines' sequence numbers), `bytes` (their JSON's total); the last 1,000 lines or 256 KiB, whichever is fewer, written by the log script | the record's (set by the log script, carried by every write of the record) |
//! | `job:history:<jobId>`    | list       | the job's progress samples: first the spacing in ms (5000, doubled at each thinning), then `<ms>:<processed>:<failed>` per sample, oldest first; appended by the write script at most once per spacing (and for a final state), every other dropped when past 720 | the record's |
//! | `job:active`             | sorted set | member `<jobId>`, score = `updatedAt` in ms since the epoch | none |
//! | `job:active:by-start`    | sorted set | member `<jobId>`, score = `startedAt` in ms (`+inf` when unknown) | none |
//! | `job:events`             | pub/sub channel | every stored record, as stored, published by the write script | - |
//! | `job:active:kind:<kind>` | sorted set | the active jobs of one kind, scored as `active:by-start`; `kind=` pages read it | none |
//! | `job:active:names`       | hash       | field `<jobId>`, value `<kind> <name>` (either may be empty; a kind holds no space) of every active job; `q=` reads it, never the records | none |
//! | `job:logs:bytes`         | string     | the bytes of every job's log together, as the log script counted them (see `LOG_MAX_TOTAL_MB`) | none |
//! | `job:logs:sizes`         | hash       | field `<jobId>`, value the bytes of that job's log | none |
//! | `job:logs:finished`      | sorted set | member `<jobId>` of a finished job with a log, score = when it finished, in ms: past the cap, the log script deletes these logs first, oldest first | none |
//! | `job:active:top`         | sorted set | the active jobs without a parent, scored as `active:by-start`; the active list's default page reads it | none |
//! | `job:children:<jobId>`   | hash       | the job's children's roll-up: field `<childId>` = the child's entry `<version>:<state>:<processed>:<failed>:<total or -1>:<rate in thousandths/s>` ([`ChildEntry`]), and the counters `#n` (children), `#r`, `#c`, `#f`, `#x` (running, completed, failed, cancelled), `#p`, `#e` (targets processed, failed), `#t` (targets), `#u` (running children without a total), `#rate`; written by the roll-up script after each write of a child | 24 h (the in-progress TTL), reset by every child's write |
//!
//! # Redis Cluster
//!
//! A script may only touch keys of one hash slot, and the write script
//! touches a job's value, its state and both index entries at once. So
//! every job belongs to one of N *buckets* (`REDIS_BUCKETS`, default 16):
//! bucket = xxh3-64 of the job id, mod N. Every key of a bucket starts
//! with the hash tag `{<prefix><bucket>}`, so it lives on that tag's slot,
//! while the N tags spread the jobs over the masters. For bucket 3:
//!
//! | key                          | type       | value |
//! |------------------------------|------------|-------|
//! | `{job:3}progress:<jobId>`    | string     | as above, same TTL |
//! | `{job:3}state:<jobId>`       | string     | as above, same TTL |
//! | `{job:3}log:<jobId>`         | hash       | as above, same TTL |
//! | `{job:3}history:<jobId>`     | list       | as above, same TTL |
//! | `{job:3}active`              | sorted set | the bucket's active jobs, by last update, as above |
//! | `{job:3}active:by-start`     | sorted set | the bucket's active jobs, by start, as above |
//! | `{job:3}active:kind:<kind>`  | sorted set | the bucket's active jobs of one kind, as above |
//! | `{job:3}active:names`        | hash       | the bucket's active jobs' kinds and names, as above |
//! | `{job:3}logs:bytes`, `{job:3}logs:sizes`, `{job:3}logs:finished` | string, hash, sorted set | the bucket's logs' bytes, as above; the cap is shared evenly by the buckets |
//! | `{job:3}active:top`          | sorted set | the bucket's active jobs without a parent, as above |
//! | `{job:3}children:<jobId>`    | hash       | the roll-up of a job of bucket 3, as above: in its parent's bucket, not its children's |
//! | `{job:3}events`              | shard channel | the bucket's stored records, published with `SPUBLISH` |
//!
//! A shard channel is served by the master of its slot alone, so the write
//! script can publish on it, and an API instance subscribes to all N
//! (`SSUBSCRIBE`). Every writer and API instance must agree on the prefix
//! and on N: with another N, a job's keys are somewhere else.
//!
//! # Both
//!
//! The value's JSON starts with `"version"`, which the write script keeps:
//! the larger of the previous version plus one and the write's `updatedAt`
//! in ms, so it only grows, even across a Redis that lost the key.
//!
//! A job is in its bucket's two indexes, its kind's index and the names
//! hash exactly while its value's status is `preparing` or `in_progress`:
//! one Lua script writes the value, its TTL and the index entries
//! together, so a reader never sees one without the other (the names
//! entry holds the kind, so the script and the pruning find the kind
//! index to leave without the record).
//! One Redis has a single bucket, whose keys carry no tag. A page
//! of the active list is read from the `active:by-start` indexes (one
//! ZRANGE on one Redis; on a cluster, the N indexes merged: oldest start
//! first, ties by id) and one MGET per bucket of that page's values: never
//! `KEYS` or `SCAN`, and never more values than the page. Members whose
//! value has expired (a worker died, the TTL ran out) are removed from
//! both indexes as they are found, and members of `active` not updated for
//! longer than the in-progress TTL are removed from both by score.
//!
//! A child's keys are in its own bucket and its parent's roll-up in the
//! parent's, so on a cluster a child's write is two scripts on two slots:
//! the write script (atomic, as above), then the roll-up script (atomic
//! on the parent's slot). Each roll-up sets the child's whole entry, so a
//! roll-up lost between the two (the process died) is made good by the
//! child's next write; only a child that never writes again stays as its
//! last roll-up said. One Redis runs the same two scripts.
//!
//! [`ProgressRecord`]: crate::domain::ProgressRecord
//! [`ChildEntry`]: crate::domain::ChildEntry

use std::num::NonZeroU16;

use crate::domain::{JobId, JobKind};

/// Builds every key under one prefix, in one of the two layouts. Tests
/// give each run its own prefix, so parallel tests never see each other's
/// data.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    /// `None`: one Redis, today's untagged keys; `Some(n)`: a cluster's n
    /// tagged buckets.
    buckets: Option<NonZeroU16>,
}

/// The group of keys one job's writes touch together: on a cluster, one
/// hash slot. One Redis has a single bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bucket(u16);

impl Bucket {
    /// Its number, `0..N`.
    pub fn index(self) -> u16 {
        self.0
    }
}

impl Keys {
    /// Keys for one Redis under `prefix` (the default is `job:`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            buckets: None,
        }
    }

    /// The same prefix in the cluster layout: `buckets` hash tags.
    pub fn bucketed(self, buckets: NonZeroU16) -> Self {
        Self {
            buckets: Some(buckets),
            ..self
        }
    }

    /// The prefix every key starts with (after the `{` of a hash tag).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether this is the cluster layout.
    pub fn is_bucketed(&self) -> bool {
        self.buckets.is_some()
    }

    /// Every bucket, in order: one on one Redis, N on a cluster.
    pub fn buckets(&self) -> impl ExactSizeIterator<Item = Bucket> + use<> {
        let count = self.buckets.map_or(1, NonZeroU16::get);
        (0..count).map(Bucket)
    }

    /// The job's bucket: xxh3-64 of its id mod N, the same in every
    /// process and version.
    pub fn bucket(&self, id: &JobId) -> Bucket {
        match self.buckets {
            None => Bucket(0),
            Some(count) => {
                let hash = xxhash_rust::xxh3::xxh3_64(id.as_str().as_bytes());
                // The remainder is below a u16, so the cast never truncates.
                Bucket((hash % u64::from(count.get())) as u16)
            }
        }
    }

    /// What every key of `bucket` starts with: the prefix, or on a
    /// cluster the bucket's hash tag `{<prefix><bucket>}`.
    fn head(&self, bucket: Bucket) -> String {
        match self.buckets {
            None => self.prefix.clone(),
            Some(_) => format!("{{{}{}}}", self.prefix, bucket.0),
        }
    }

    /// `<head>progress:<jobId>`: the job's JSON record.
    pub fn progress(&self, id: &JobId) -> String {
        format!("{}progress:{}", self.head(self.bucket(id)), id)
    }

    /// `<head>state:<jobId>`: what the writer of a job written over HTTP
    /// keeps between updates (its estimator).
    pub fn state(&self, id: &JobId) -> String {
        format!("{}state:{}", self.head(self.bucket(id)), id)
    }

    /// `<head>log:<jobId>`: the job's log, one hash (see the layout).
    pub fn log(&self, id: &JobId) -> String {
        format!("{}{}", self.log_prefix(self.bucket(id)), id)
    }

    /// `<head>log:`: what the bucket's log keys start with; the log
    /// script appends the id of a finished job whose log it evicts.
    pub fn log_prefix(&self, bucket: Bucket) -> String {
        format!("{}log:", self.head(bucket))
    }

    /// `<head>logs:bytes`: the bytes of all the bucket's logs, as the
    /// scripts counted them.
    pub fn log_bytes(&self, bucket: Bucket) -> String {
        format!("{}logs:bytes", self.head(bucket))
    }

    /// `<head>logs:sizes`: `<jobId>` -> the bytes of that job's log.
    pub fn log_sizes(&self, bucket: Bucket) -> String {
        format!("{}logs:sizes", self.head(bucket))
    }

    /// `<head>logs:finished`: the bucket's finished jobs that have a log,
    /// by when they finished: whose logs go first past the cap.
    pub fn finished_logs(&self, bucket: Bucket) -> String {
        format!("{}logs:finished", self.head(bucket))
    }

    /// `<head>history:<jobId>`: the job's progress samples, one list (see
    /// the layout).
    pub fn history(&self, id: &JobId) -> String {
        format!("{}history:{}", self.head(self.bucket(id)), id)
    }

    /// `<head>active`: the bucket's active jobs, by last update.
    pub fn active_index(&self, bucket: Bucket) -> String {
        format!("{}active", self.head(bucket))
    }

    /// `<head>active:by-start`: the same jobs, by start time; pages of
    /// the active list are read from it.
    pub fn by_start_index(&self, bucket: Bucket) -> String {
        format!("{}active:by-start", self.head(bucket))
    }

    /// `<head>active:kind:<kind>`: the bucket's active jobs of `kind`, in
    /// the order of [`by_start_index`](Self::by_start_index).
    pub fn kind_index(&self, bucket: Bucket, kind: &JobKind) -> String {
        format!("{}{}", self.kind_index_prefix(bucket), kind)
    }

    /// `<head>active:kind:`: what the bucket's kind indexes start with;
    /// the write and prune scripts append a kind they read from the names
    /// hash.
    pub fn kind_index_prefix(&self, bucket: Bucket) -> String {
        format!("{}active:kind:", self.head(bucket))
    }

    /// `<head>active:names`: `<jobId>` -> `<kind> <name>` of the bucket's
    /// active jobs, which a search by `q` reads instead of the records.
    pub fn names(&self, bucket: Bucket) -> String {
        format!("{}active:names", self.head(bucket))
    }

    /// `<head>active:top`: the bucket's active jobs without a parent, in
    /// the order of [`by_start_index`](Self::by_start_index).
    pub fn top_index(&self, bucket: Bucket) -> String {
        format!("{}active:top", self.head(bucket))
    }

    /// `<head>children:<jobId>`: the roll-up of the job's children, in the
    /// job's own bucket (see the layout).
    pub fn children(&self, parent: &JobId) -> String {
        format!("{}children:{}", self.head(self.bucket(parent)), parent)
    }

    /// `<prefix>events`: the channel every write is published on by one
    /// Redis, and the NATS subject of the same name in either layout.
    pub fn events_channel(&self) -> String {
        format!("{}events", self.prefix)
    }

    /// Where the write script publishes the writes of `bucket`: the events
    /// channel on one Redis, the bucket's shard channel `{<prefix><bucket>}events`
    /// on a cluster (same slot as the bucket's keys).
    pub fn publish_channel(&self, bucket: Bucket) -> String {
        match self.buckets {
            None => self.events_channel(),
            Some(_) => format!("{}events", self.head(bucket)),
        }
    }

    /// The command that publishes on [`publish_channel`](Self::publish_channel):
    /// `PUBLISH` on one Redis, `SPUBLISH` (sharded pub/sub) on a cluster,
    /// where a plain `PUBLISH` would travel to every node.
    pub fn publish_command(&self) -> &'static str {
        match self.buckets {
            None => "PUBLISH",
            Some(_) => "SPUBLISH",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout_matches_the_documented_keys() {
        let keys = Keys::new("job:");
        let id = JobId::parse("abc").unwrap();
        let [only] = keys.buckets().collect::<Vec<_>>()[..] else {
            panic!("one Redis has one bucket");
        };
        assert_eq!(keys.bucket(&id), only);
        assert_eq!(keys.progress(&id), "job:progress:abc");
        assert_eq!(keys.state(&id), "job:state:abc");
        assert_eq!(keys.log(&id), "job:log:abc");
        assert_eq!(keys.history(&id), "job:history:abc");
        assert_eq!(keys.active_index(only), "job:active");
        assert_eq!(keys.by_start_index(only), "job:active:by-start");
        let kind = JobKind::parse("import").unwrap();
        assert_eq!(keys.kind_index(only, &kind), "job:active:kind:import");
        assert_eq!(keys.names(only), "job:active:names");
        assert_eq!(keys.top_index(only), "job:active:top");
        assert_eq!(keys.children(&id), "job:children:abc");
        assert_eq!(keys.events_channel(), "job:events");
        assert_eq!(keys.publish_channel(only), "job:events");
        assert_eq!(keys.publish_command(), "PUBLISH");
    }

    #[test]
    fn cluster_layout_tags_every_key_of_a_job_with_its_bucket() {
        let keys = Keys::new("job:").bucketed(NonZeroU16::new(16).unwrap());
        let id = JobId::parse("abc").unwrap();
        let bucket = keys.bucket(&id);
        // Pinned: writers and API instances of every version must agree.
        // xxh3-64("abc") = 0x78af5f94892f3950, and 0x...0 mod 16 = 0.
        assert_eq!(bucket.index(), 0);
        let other = JobId::parse("job-1").unwrap();
        assert_eq!(
            u64::from(keys.bucket(&other).index()),
            xxhash_rust::xxh3::xxh3_64(b"job-1") % 16
        );
        assert_eq!(keys.progress(&id), "{job:0}progress:abc");
        assert_eq!(keys.state(&id), "{job:0}state:abc");
        assert_eq!(keys.log(&id), "{job:0}log:abc");
        assert_eq!(keys.history(&id), "{job:0}history:abc");
        assert_eq!(keys.active_index(bucket), "{job:0}active");
        assert_eq!(keys.by_start_index(bucket), "{job:0}active:by-start");
        let kind = JobKind::parse("import").unwrap();
        assert_eq!(keys.kind_index(bucket, &kind), "{job:0}active:kind:import");
        assert_eq!(keys.names(bucket), "{job:0}active:names");
        assert_eq!(keys.top_index(bucket), "{job:0}active:top");
        assert_eq!(keys.children(&id), "{job:0}children:abc");
        assert_eq!(keys.publish_channel(bucket), "{job:0}events");
        assert_eq!(keys.events_channel(), "job:events", "the NATS subject");
        assert_eq!(keys.publish_command(), "SPUBLISH");
        assert_eq!(keys.buckets().len(), 16);
    }

    #[test]
    fn jobs_spread_over_every_bucket() {
        let keys = Keys::new("job:").bucketed(NonZeroU16::new(16).unwrap());
        let mut seen = [0u32; 16];
        for n in 0..1600 {
            let id = JobId::parse(format!("job-{n}")).unwrap();
            seen[usize::from(keys.bucket(&id).index())] += 1;
        }
        assert!(
            seen.iter().all(|&count| (60..=140).contains(&count)),
            "{seen:?}"
        );
    }
}
