//! Which stores a process uses, and how to reach them.
//!
//! Each choice is made on its own, from one variable:
//!
//! | set                          | hot store                   | archive |
//! |------------------------------|-----------------------------|---------|
//! | neither                      | in-process                  | SQLite in `DATA_DIR/job-progress.db` |
//! | `REDIS_URL`                  | Redis                       | (as the other column says) |
//! | `DATABASE_URL=postgres://…`  | (as the other column says)  | PostgreSQL |
//! | `DATABASE_URL=sqlite://path` |                             | SQLite at `path` |
//!
//! The embedded pair needs nothing installed and serves one API instance:
//! an in-process store cannot be shared, so several instances, or workers
//! writing to the hot store directly (the Rust [`ProgressWriter`] in
//! another process), need Redis; several instances on several machines
//! need PostgreSQL.
//!
//! [`ProgressWriter`]: crate::write::ProgressWriter

use std::{num::NonZeroU16, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use clap::Args;

use crate::{
    domain::LogCap,
    push::{Bus, FEED_CAPACITY, Publisher},
    store::{
        AnyArchive, BreakerConfig, HotStore, Keys, MemoryStore, PgArchive, RedisStore,
        SqliteArchive, Ttls,
    },
};

/// Where and how to keep live progress: Redis, or this process's memory.
#[derive(Debug, Clone, Args)]
pub struct RedisSettings {
    /// Redis holding live progress (`redis://host:port`). Unset: live
    /// progress is kept in this process (one API instance only; workers
    /// report over HTTP).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key (`<prefix>progress:<jobId>`, `<prefix>active`).
    #[arg(long, env = "KEY_PREFIX", default_value = "job:")]
    pub key_prefix: String,
    /// Longest wait for one Redis command, in milliseconds.
    #[arg(long, env = "REDIS_TIMEOUT_MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_timeout_ms: u64,
    /// TTL of a `preparing`, `in_progress` or `failed` job's record, in seconds.
    #[arg(long, env = "PROGRESS_TTL_SECS", default_value_t = 24 * 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub progress_ttl_secs: u64,
    /// TTL of a `completed` job's record, in seconds.
    #[arg(long, env = "COMPLETED_TTL_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub completed_ttl_secs: u64,
    /// All jobs' logs together in the hot store, in MiB: past it, whole
    /// logs of finished jobs go, the longest finished first (the archive
    /// keeps their last 100 lines). On a cluster, each bucket holds its
    /// share.
    #[arg(long, env = "LOG_MAX_TOTAL_MB", default_value_t = LogCap::DEFAULT_MB,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub log_max_total_mb: u64,
    /// Consecutive Redis failures after which Redis is skipped for a
    /// cool-off (0: never skip).
    #[arg(long, env = "REDIS_BREAKER_FAILURES", default_value_t = 3)]
    pub redis_breaker_failures: u32,
    /// How long Redis is skipped before one probe, in milliseconds.
    #[arg(long, env = "REDIS_BREAKER_COOL_OFF_MS", default_value_t = 250)]
    pub redis_breaker_cool_off_ms: u64,
    /// Where live updates travel between writers and API instances: unset,
    /// Redis pub/sub on this Redis (the write script publishes); a
    /// `nats://host:port` URL, NATS (writers publish after their write).
    /// Needs `REDIS_URL`.
    #[arg(long, env = "BUS_URL", hide_env_values = true)]
    pub bus_url: Option<String>,
    /// Redis is a Redis Cluster, and `REDIS_URL` names any of its nodes:
    /// jobs are spread over `REDIS_BUCKETS` hash tags, and live updates
    /// travel by sharded pub/sub.
    #[arg(long, env = "REDIS_CLUSTER")]
    pub redis_cluster: bool,
    /// On a cluster, how many buckets (hash tags, each one slot) jobs are
    /// spread over: more spread them more evenly over the masters, and
    /// each page of the active list reads every bucket. Every writer and
    /// API instance must use the same number. Ignored on one Redis.
    #[arg(long, env = "REDIS_BUCKETS", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub redis_buckets: u16,
}

/// The bus that carries `store`'s writes to API instances: pub/sub on the
/// events channel of one Redis, or sharded pub/sub on every bucket's
/// channel of a cluster. Built here, where the stores are chosen, so the
/// store knows nothing of the hub.
pub fn redis_bus(store: &RedisStore) -> Bus {
    let keys = store.keys();
    match store.node_client() {
        Some(client) => Bus::Redis {
            client: client.clone(),
            channel: keys.events_channel(),
        },
        None => Bus::RedisCluster {
            url: store.url().to_owned(),
            channels: keys
                .buckets()
                .map(|bucket| keys.publish_channel(bucket))
                .collect(),
            timeout: store.timeout(),
        },
    }
}

/// A bus URL is a NATS one: Redis needs none (it is `REDIS_URL`).
/// Checked here rather than by clap, whose refusal would print the value,
/// and the URL may hold a password.
fn check_bus_url(raw: &str) -> anyhow::Result<&str> {
    anyhow::ensure!(
        raw.starts_with("nats://") || raw.starts_with("tls://"),
        "BUS_URL is not a NATS URL (nats://host:port); leave it unset to use Redis pub/sub"
    );
    Ok(raw)
}

/// The hot store the settings name, and the bus its changes travel on.
#[allow(missing_debug_implementations)]
pub struct OpenedHot {
    /// The store.
    pub store: Arc<dyn HotStore>,
    /// What API instances subscribe to.
    pub bus: Bus,
}

impl RedisSettings {
    /// How long values live, by status.
    pub fn ttls(&self) -> Ttls {
        Ttls {
            in_progress: Duration::from_secs(self.progress_ttl_secs),
            completed: Duration::from_secs(self.completed_ttl_secs),
        }
    }

    /// The cap on all logs together.
    pub fn log_cap(&self) -> LogCap {
        LogCap::megabytes(self.log_max_total_mb)
    }

    /// The hot store these settings pick (Redis connects lazily), with its
    /// bus.
    pub fn open(&self) -> anyhow::Result<OpenedHot> {
        if self.redis_url.is_none() {
            anyhow::ensure!(
                self.bus_url.is_none(),
                "BUS_URL needs REDIS_URL: the in-process store serves one process, \
                 which needs no bus"
            );
            let store = MemoryStore::new(self.ttls(), FEED_CAPACITY).with_log_cap(self.log_cap());
            let bus = Bus::InProcess(store.events());
            return Ok(OpenedHot {
                store: Arc::new(store),
                bus,
            });
        }
        let store = self.redis()?;
        let bus = match &self.bus_url {
            None => redis_bus(&store),
            Some(url) => Bus::Nats {
                url: check_bus_url(url)?.to_owned(),
                subject: store.keys().events_channel(),
            },
        };
        Ok(OpenedHot {
            store: Arc::new(store),
            bus,
        })
    }

    /// The Redis store these settings describe (connects lazily); an
    /// error when `REDIS_URL` is unset, for programs that write from a
    /// process of their own and so cannot use an in-process store.
    pub fn redis(&self) -> anyhow::Result<RedisStore> {
        let url = self.redis_url.as_deref().context(
            "REDIS_URL is not set: a worker in its own process writes to Redis \
             (or reports over HTTP to a server with the in-process store)",
        )?;
        let keys = Keys::new(self.key_prefix.clone());
        let timeout = Duration::from_millis(self.redis_timeout_ms);
        let store = if self.redis_cluster {
            let buckets =
                NonZeroU16::new(self.redis_buckets).context("REDIS_BUCKETS must be at least 1")?;
            RedisStore::cluster(url, keys.bucketed(buckets), self.ttls(), timeout)?
        } else {
            RedisStore::new(url, keys, self.ttls(), timeout)?
        };
        let store = store
            .with_breaker(BreakerConfig {
                failures: self.redis_breaker_failures,
                cool_off: Duration::from_millis(self.redis_breaker_cool_off_ms),
            })
            .with_log_cap(self.log_cap());
        // With another bus, the writer publishes, not the script.
        Ok(if self.bus_url.is_some() {
            store.without_publishing()
        } else {
            store
        })
    }

    /// What a writer publishes to, when the bus is not the hot store itself.
    pub async fn publisher(&self) -> anyhow::Result<Option<Publisher>> {
        match &self.bus_url {
            None => Ok(None),
            Some(url) => {
                let subject = Keys::new(self.key_prefix.clone()).events_channel();
                Publisher::nats(check_bus_url(url)?, subject)
                    .await
                    .map(Some)
            }
        }
    }
}

/// Where and how to keep checkpoints: PostgreSQL, or a SQLite file.
#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// The archive of checkpoints and schedules: `postgres://…` or
    /// `sqlite://path`. Unset: SQLite in `DATA_DIR`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Where the SQLite archive lives when `DATABASE_URL` is unset
    /// (`<dir>/job-progress.db`; created if missing).
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Most connections in the pool (PostgreSQL).
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub db_max_connections: u32,
    /// Longest wait for a pooled connection, in milliseconds.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub db_acquire_timeout_ms: u64,
    /// Longest wait for one whole database call, in milliseconds.
    #[arg(long, env = "DB_TIMEOUT_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub db_timeout_ms: u64,
}

impl DatabaseSettings {
    /// The archive these settings pick (PostgreSQL connects lazily; a
    /// SQLite file is created if missing).
    pub fn archive(&self) -> anyhow::Result<AnyArchive> {
        let timeout = Duration::from_millis(self.db_timeout_ms);
        match self.database_url.as_deref() {
            None => AnyArchive::sqlite_file(&self.data_dir.join(SqliteArchive::FILE_NAME), timeout),
            Some(url) if url.starts_with("sqlite:") => AnyArchive::sqlite_url(url, timeout),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(AnyArchive::Postgres(self.postgres(url)?))
            }
            // Not echoed: the URL may hold a password.
            Some(_) => anyhow::bail!(
                "DATABASE_URL names no database this service uses: postgres://… or \
                 sqlite://path (unset: SQLite in DATA_DIR)"
            ),
        }
    }

    /// The PostgreSQL archive at `url`; an error when the URL names
    /// another database.
    fn postgres(&self, url: &str) -> anyhow::Result<PgArchive> {
        PgArchive::connect_lazy(
            url,
            self.db_max_connections,
            Duration::from_millis(self.db_acquire_timeout_ms),
            Duration::from_millis(self.db_timeout_ms),
        )
    }
}
