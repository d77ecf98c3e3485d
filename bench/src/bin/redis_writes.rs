//! What the hot store's write script costs, on one Redis or on a Redis
//! Cluster (`--redis-cluster`): write updates per second, and Redis memory
//! per job. See BENCHMARKS.md, "Redis Cluster".
//!
//! - Throughput: `--jobs` jobs each call `HotStore::write` in a loop (the
//!   next update as soon as the last is stored) for `--secs` seconds; the
//!   `RESULT writes` line gives the stored updates per second, the failed
//!   ones (timeouts under load), and the cores this client and the Redis
//!   servers (INFO cpu, summed over the masters) used meanwhile.
//! - Memory: `used_memory` (INFO memory, summed over every master) before
//!   and after `--memory-jobs` fresh jobs, divided by their number; once
//!   written with `write` (the record and two index entries), once with
//!   `replace` and `--state-bytes` of writer state beside each (what a job
//!   written over HTTP keeps).
//!
//! Everything is written under a prefix of its own (`redis-writes-<pid>:`)
//! and deleted at the end.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use futures_util::StreamExt as _;
use job_progress::{
    config::RedisSettings,
    domain::{JobId, JobStatus, ProgressRecord},
    store::{HotStore, RedisStore},
};
use job_progress_bench::{procfs, redis_stats};
use redis::aio::ConnectionLike;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    redis: RedisSettings,
    /// Jobs written at once, each in a loop.
    #[arg(long, default_value_t = 64)]
    jobs: u64,
    /// Seconds of writing measured.
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// Fresh jobs written to measure memory per job (0: skip).
    #[arg(long, default_value_t = 10_000)]
    memory_jobs: u64,
    /// Bytes of writer state beside each job in the second memory run (a
    /// short job's estimator is a few hundred; the largest 16.3 KiB).
    #[arg(long, default_value_t = 400)]
    state_bytes: usize,
    /// Records carry every field a job can say about itself: a name, a
    /// kind, six steps (three ended), a message and 1 KB of metadata.
    #[arg(long)]
    described: bool,
}

/// Whether records carry every descriptive field (`--described`).
static DESCRIBED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `record` with a name, a kind, six steps (three ended, one running), a
/// message and 1 KB of metadata, as a busy pipeline's record holds.
fn described(mut record: ProgressRecord) -> ProgressRecord {
    use job_progress::domain::{JobKind, JobName, Message, steps};
    let now = chrono::Utc::now();
    record.name = JobName::parse("Transcribe and index the March customer interviews").ok();
    record.kind = JobKind::parse("ai.pipeline.transcribe").ok();
    let names: Vec<String> = ["fetch", "transcode", "transcribe", "summarize", "embed", "index"]
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    record.steps = steps::plan(&names).unwrap_or_default();
    let _ = steps::enter(&mut record.steps, "summarize", &[], now);
    record.stage = Some("summarize".into());
    record.message =
        Message::parse("waiting for the rate limit to reset before the next 50 files").ok();
    for n in 0..16 {
        record
            .metadata
            .insert(format!("field_{n:02}"), format!("{:0>50}", n).into());
    }
    record
}

/// `REDIS_URL`: this measures Redis, never the in-process store.
fn url(settings: &RedisSettings) -> anyhow::Result<&str> {
    settings
        .redis_url
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("set REDIS_URL: this measures Redis"))
}

/// A plain connection to look behind the store: one Redis, or the cluster
/// (single-key commands routed by the client).
#[derive(Clone)]
enum Raw {
    Node(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Raw {
    async fn connect(settings: &RedisSettings) -> anyhow::Result<Self> {
        Ok(if settings.redis_cluster {
            let client = redis::cluster::ClusterClient::new([url(settings)?])?;
            Raw::Cluster(client.get_async_connection().await?)
        } else {
            let client = redis::Client::open(url(settings)?)?;
            Raw::Node(client.get_multiplexed_async_connection().await?)
        })
    }

    /// The masters' addresses: the one Redis, or every master of the
    /// cluster (`CLUSTER NODES`).
    async fn masters(&self, settings: &RedisSettings) -> anyhow::Result<Vec<String>> {
        let Raw::Cluster(_) = self else {
            return Ok(vec![url(settings)?.to_owned()]);
        };
        let client = redis::Client::open(url(settings)?)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut conn)
            .await?;
        Ok(nodes
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let address = fields.get(1)?.split('@').next()?;
                fields
                    .get(2)?
                    .contains("master")
                    .then(|| format!("redis://{address}"))
            })
            .collect())
    }
}

impl ConnectionLike for Raw {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Raw::Node(conn) => conn.req_packed_command(cmd),
            Raw::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Raw::Node(conn) => conn.req_packed_commands(pipeline, offset, count),
            Raw::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// The sum over `masters` of the INFO `section` fields named `fields`.
async fn info_sum(masters: &[String], section: &str, fields: &[&str]) -> anyhow::Result<f64> {
    let mut sum = 0.0;
    for url in masters {
        let mut conn = redis_stats::connect(url).await?;
        let info: String = redis::cmd("INFO")
            .arg(section)
            .query_async(&mut conn)
            .await?;
        for field in fields {
            sum += redis_stats::parse_info::<f64>(&info, section, field)?;
        }
    }
    Ok(sum)
}

/// `used_memory` summed over `masters`.
async fn used_memory(masters: &[String]) -> anyhow::Result<u64> {
    Ok(info_sum(masters, "memory", &["used_memory"]).await? as u64)
}

/// CPU seconds the masters' server processes have used (INFO cpu).
async fn redis_cpu(masters: &[String]) -> anyhow::Result<f64> {
    info_sum(masters, "cpu", &["used_cpu_user", "used_cpu_sys"]).await
}

/// CPU seconds this process has used (user + system, /proc/self/stat, in
/// clock ticks of 10 ms).
fn own_cpu() -> f64 {
    procfs::cpu_time(std::process::id()).map_or(0.0, |cpu| cpu.as_secs_f64())
}

fn record(id: &str, sent: u64) -> ProgressRecord {
    let mut record = ProgressRecord::new(
        JobId::parse(id).expect("a valid id"),
        JobStatus::InProgress,
        Some(1_000_000_000),
    );
    let now = chrono::Utc::now();
    record.started_at = Some(now);
    record.updated_at = Some(now);
    record.success_count = sent;
    record.current_sent_count = sent;
    if DESCRIBED.load(Ordering::Relaxed) {
        return described(record);
    }
    record
}

/// Stored updates and failures of `jobs` jobs writing in a loop for `secs`.
async fn throughput(store: &RedisStore, jobs: u64, secs: u64) -> (u64, u64) {
    let (stored, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let until = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..jobs)
        .map(|n| {
            let (store, stored, failed) = (store.clone(), stored.clone(), failed.clone());
            tokio::spawn(async move {
                let mut sent = 0;
                while Instant::now() < until {
                    sent += 1;
                    match store.write(&record(&format!("load-{n}"), sent)).await {
                        Ok(_) => stored.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a load task");
    }
    (
        stored.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    )
}

/// Memory per job of `count` fresh jobs `mem-<n>`, with `state` beside
/// each when given.
async fn memory_per_job(
    store: &RedisStore,
    masters: &[String],
    count: u64,
    state: Option<&[u8]>,
) -> anyhow::Result<f64> {
    let before = used_memory(masters).await?;
    let writes = (0..count).map(|n| async move {
        let record = record(&format!("mem-{n:05}"), 1);
        match state {
            Some(state) => store.replace(&record, state, 0).await.map(|_| ()),
            None => store.write(&record).await.map(|_| ()),
        }
    });
    let failed = futures_util::stream::iter(writes)
        .buffer_unordered(50)
        .filter(|written| std::future::ready(written.is_err()))
        .count()
        .await;
    anyhow::ensure!(failed == 0, "{failed} memory writes failed");
    let after = used_memory(masters).await?;
    Ok((after as f64 - before as f64) / count as f64)
}

/// Deletes every key the run wrote.
async fn clean(store: &RedisStore, raw: &Raw, args: &Args) -> anyhow::Result<()> {
    let keys = store.keys();
    let mut names: Vec<String> = keys
        .buckets()
        .flat_map(|bucket| [keys.active_index(bucket), keys.by_start_index(bucket)])
        .collect();
    let ids = (0..args.jobs)
        .map(|n| format!("load-{n}"))
        .chain((0..args.memory_jobs).map(|n| format!("mem-{n:05}")));
    for id in ids {
        let id = JobId::parse(id)?;
        names.extend([keys.progress(&id), keys.state(&id)]);
    }
    let deletes = names.into_iter().map(|name| {
        let mut conn = raw.clone();
        async move {
            redis::cmd("DEL")
                .arg(name)
                .query_async::<i64>(&mut conn)
                .await
        }
    });
    let results: Vec<_> = futures_util::stream::iter(deletes)
        .buffer_unordered(100)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    args.redis.key_prefix = format!("redis-writes-{}:", std::process::id());
    let mode = if args.redis.redis_cluster {
        "cluster"
    } else {
        "node"
    };
    let store = args.redis.redis()?;
    let raw = Raw::connect(&args.redis).await?;
    let masters = raw.masters(&args.redis).await?;
    // Loads the script on every master, so the runs below measure writes.
    store.write(&record("warm-up", 1)).await?;

    let (client_before, redis_before) = (own_cpu(), redis_cpu(&masters).await?);
    let (stored, failed) = throughput(&store, args.jobs, args.secs).await;
    let secs = args.secs as f64;
    let client_cores = (own_cpu() - client_before) / secs;
    let redis_cores = (redis_cpu(&masters).await? - redis_before) / secs;
    println!(
        "RESULT writes mode={mode} masters={} jobs={} secs={} updates={stored} failed={failed} \
         per_second={:.0} client_cores={client_cores:.2} redis_cores={redis_cores:.2}",
        masters.len(),
        args.jobs,
        args.secs,
        stored as f64 / secs
    );
    clean(&store, &raw, &args).await?;

    DESCRIBED.store(args.described, Ordering::Relaxed);
    if args.described {
        let json = record("mem-00000", 1).to_stored_json()?;
        println!("RESULT record stored_json_bytes={}", json.len());
    }
    if args.memory_jobs > 0 {
        let plain = memory_per_job(&store, &masters, args.memory_jobs, None).await?;
        clean(&store, &raw, &args).await?;
        let state = vec![0xA5; args.state_bytes];
        let with_state = memory_per_job(&store, &masters, args.memory_jobs, Some(&state)).await?;
        clean(&store, &raw, &args).await?;
        println!(
            "RESULT memory mode={mode} masters={} jobs={} per_job_bytes={plain:.0} \
             per_job_with_state_bytes={with_state:.0} state_bytes={}",
            masters.len(),
            args.memory_jobs,
            args.state_bytes
        );
    }
    let id = JobId::parse("warm-up")?;
    let mut conn = raw.clone();
    let _: i64 = redis::cmd("DEL")
        .arg(store.keys().progress(&id))
        .query_async(&mut conn)
        .await?;
    Ok(())
}
