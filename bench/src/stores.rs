//! The stores a helper writes to, as command-line arguments, and the two
//! ways it writes: through the real `ProgressWriter` (as a worker does),
//! or straight through `RedisStore::write` (one script call per record,
//! so a stream client and its writer share one process and one clock).

use std::{sync::Arc, time::Duration};

use anyhow::bail;
use chrono::{DateTime, Utc};
use clap::Args;
use job_progress::{
    domain::{JobId, JobStatus, ProgressRecord},
    store::{HotStore as _, HotWrite, Keys, PgArchive, RedisStore, Ttls},
    write::{ProgressWriter, WriterConfig},
};

/// The bench Redis and the key prefix every key of the run is under.
#[derive(Args, Clone)]
pub struct RedisArgs {
    /// The bench's Redis.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: String,
    /// Every key of the run starts with this.
    #[arg(long, env = "KEY_PREFIX")]
    pub key_prefix: String,
}

impl RedisArgs {
    /// The hot store as the server builds it; `timeout` is its limit per
    /// command (100 ms in production).
    pub fn store(&self, timeout: Duration) -> anyhow::Result<RedisStore> {
        RedisStore::new(
            &self.redis_url,
            Keys::new(self.key_prefix.clone()),
            Ttls::default(),
            timeout,
        )
    }
}

/// Both stores: the bench Redis and the bench database.
#[derive(Args, Clone)]
pub struct Stores {
    /// The hot store.
    #[command(flatten)]
    pub redis: RedisArgs,
    /// The bench's PostgreSQL database.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
}

impl Stores {
    /// A writer as a worker has it: `pool` connections to PostgreSQL, and
    /// `redis_timeout` the store's limit per command (100 ms in production).
    pub fn writer(&self, pool: u32, redis_timeout: Duration) -> anyhow::Result<ProgressWriter> {
        let redis = self.redis.store(redis_timeout)?;
        let pg = PgArchive::connect_lazy(
            &self.database_url,
            pool,
            Duration::from_secs(5),
            Duration::from_secs(10),
        )?;
        Ok(ProgressWriter::new(
            Arc::new(redis),
            Arc::new(pg),
            WriterConfig::default(),
        ))
    }
}

/// Job `<prefix><i>`.
pub fn job_id(prefix: &str, i: u64) -> anyhow::Result<JobId> {
    Ok(JobId::parse(format!("{prefix}{i}"))?)
}

/// Jobs `<prefix>0` to `<prefix><n - 1>`.
pub fn job_ids(prefix: &str, n: u64) -> anyhow::Result<Vec<JobId>> {
    (0..n).map(|i| job_id(prefix, i)).collect()
}

/// Writes records of in-progress jobs the way a worker's flush does: one
/// `RedisStore::write` (store, index, publish in one script call).
pub struct RecordWriter {
    store: RedisStore,
    started_at: DateTime<Utc>,
}

impl RecordWriter {
    /// A writer to the store `redis` names.
    pub fn new(redis: &RedisArgs) -> anyhow::Result<Self> {
        // Set-up and measurement alike: a generous timeout, never hit.
        let store = redis.store(Duration::from_secs(2))?;
        Ok(Self {
            store,
            started_at: Utc::now(),
        })
    }

    /// Stores `id` as having processed `count` targets (the count says which
    /// write a client got).
    pub async fn write(&self, id: &JobId, count: u64) -> anyhow::Result<()> {
        let mut record = ProgressRecord::new(id.clone(), JobStatus::InProgress, Some(1_000_000_000));
        record.current_sent_count = count;
        record.success_count = count;
        record.started_at = Some(self.started_at);
        record.updated_at = Some(Utc::now());
        let written = self.store.write(&record.normalized()).await?;
        if !matches!(written, HotWrite::Written { .. }) {
            bail!("write {count} of {id} refused as stale");
        }
        Ok(())
    }
}
