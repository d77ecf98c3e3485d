//! Looking behind the Redis store: raw connections, keys and indexes as
//! the store laid them out, for tests that check or damage what it wrote.

use job_progress::store::keys::Bucket;

use crate::{fixtures::job, spawn::TestApp};

/// Redis for the tests (`REDIS_URL`, default the local one).
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// An address where nothing listens: a store that is down.
pub const DEAD_REDIS: &str = "redis://127.0.0.1:1";

impl TestApp {
    /// A raw Redis connection, to look behind the store.
    pub async fn raw_redis(&self) -> redis::aio::MultiplexedConnection {
        raw_redis_at(&redis_url()).await
    }

    /// The TTL of the job's progress key, in seconds (Redis's TTL).
    pub async fn ttl(&self, id: &str) -> i64 {
        let mut conn = self.raw_redis().await;
        redis::cmd("TTL")
            .arg(self.keys.progress(&job(id)))
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    /// Members of the active index on the test's Redis, in order.
    pub async fn index_members(&self) -> Vec<String> {
        self.index_members_at(&redis_url()).await
    }

    /// Members of the by-start index, in order.
    pub async fn by_start_members(&self) -> Vec<String> {
        zset_members(&redis_url(), &self.keys.by_start_index(self.only_bucket())).await
    }

    /// Members of the active index on the Redis at `url`, in order.
    pub async fn index_members_at(&self, url: &str) -> Vec<String> {
        zset_members(url, &self.keys.active_index(self.only_bucket())).await
    }

    /// The one bucket of the one-Redis layout.
    fn only_bucket(&self) -> Bucket {
        let [only] = self.keys.buckets().collect::<Vec<_>>()[..] else {
            panic!("the app is on one Redis, which has one bucket");
        };
        only
    }

    /// Deletes the job's progress key behind the store's back.
    pub async fn delete_key(&self, id: &str) {
        let mut conn = self.raw_redis().await;
        let _: i64 = redis::cmd("DEL")
            .arg(self.keys.progress(&job(id)))
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    /// Writes `value` as is under the job's progress key.
    pub async fn set_raw(&self, id: &str, value: &str) {
        let mut conn = self.raw_redis().await;
        let _: () = redis::cmd("SET")
            .arg(self.keys.progress(&job(id)))
            .arg(value)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

async fn raw_redis_at(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("redis answers")
}

/// Every member of the sorted set `key`, in order.
async fn zset_members(url: &str, key: &str) -> Vec<String> {
    let mut conn = raw_redis_at(url).await;
    redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap()
}
