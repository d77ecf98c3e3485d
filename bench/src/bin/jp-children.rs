//! One parent with many children reporting at once: whether the children's
//! writes queue on their parent, and what the parent's read costs. See
//! BENCHMARKS.md, "Parents and children".
//!
//! `--children` children of one parent (1,000 by default) each write their
//! record through `HotStore::write` once a second (spread evenly over the
//! second) for `--secs` seconds: every write is the child's write script
//! and then the roll-up script on the parent's slot. Meanwhile one reader
//! reads the parent (`HotStore::read`: its record and its counters in one
//! round trip) every 10 ms. Before that, the same reads of a parent
//! without children give the baseline. Prints the stored writes per
//! second, their latency, Redis's CPU (INFO cpu, summed over the masters),
//! this process's CPU, and the parent's read latency with and without the
//! children writing. `--no-parent` writes the same jobs without a
//! parent: the write script alone, what the roll-up adds to.
//!
//! Everything is written under a prefix of its own (`children-<pid>:`) and
//! expires with the in-progress TTL (set `PROGRESS_TTL_SECS` low to have it
//! gone sooner).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use job_progress::{
    config::RedisSettings,
    domain::{JobId, JobStatus, ProgressRecord},
    store::{HotStore, RedisStore},
};
use job_progress_bench::{procfs, redis_stats};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    redis: RedisSettings,
    /// Children of the one parent, each writing once a second.
    #[arg(long, default_value_t = 1_000)]
    children: u64,
    /// Seconds of writing measured.
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// The same jobs written without a parent: the write script alone,
    /// the baseline the roll-up adds to.
    #[arg(long)]
    no_parent: bool,
}

fn record(id: &str, parent: Option<&JobId>, sent: u64) -> ProgressRecord {
    let mut record = ProgressRecord::new(
        JobId::parse(id).expect("a valid id"),
        JobStatus::InProgress,
        Some(1_000_000),
    );
    let now = chrono::Utc::now();
    record.started_at = Some(now);
    record.updated_at = Some(now);
    record.success_count = sent;
    record.current_sent_count = sent;
    record.rate_per_second = Some(10.0);
    record.parent_job_id = parent.cloned();
    record
}

/// The masters' addresses: the one Redis, or every master of the cluster.
async fn masters(settings: &RedisSettings) -> anyhow::Result<Vec<String>> {
    let url = settings
        .redis_url
        .clone()
        .ok_or_else(|| anyhow::anyhow!("set REDIS_URL: this measures Redis"))?;
    if !settings.redis_cluster {
        return Ok(vec![url]);
    }
    let mut conn = redis_stats::connect(&url).await?;
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

/// CPU seconds the masters' server processes have used (INFO cpu).
async fn redis_cpu(masters: &[String]) -> anyhow::Result<f64> {
    let mut sum = 0.0;
    for url in masters {
        let mut conn = redis_stats::connect(url).await?;
        let info: String = redis::cmd("INFO").arg("cpu").query_async(&mut conn).await?;
        for field in ["used_cpu_user", "used_cpu_sys"] {
            sum += redis_stats::parse_info::<f64>(&info, "cpu", field)?;
        }
    }
    Ok(sum)
}

fn own_cpu() -> f64 {
    procfs::cpu_time(std::process::id()).map_or(0.0, |cpu| cpu.as_secs_f64())
}

/// The median and the 99th percentile of `samples`, in ms.
fn quantiles(mut samples: Vec<Duration>) -> (f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0);
    }
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() - 1) as f64 * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99))
}

/// Reads `parent` every 10 ms until `until`: each read's latency.
async fn read_parent(store: RedisStore, parent: JobId, until: Instant) -> Vec<Duration> {
    let mut latencies = Vec::new();
    while Instant::now() < until {
        let start = Instant::now();
        let read = store.read(&parent).await;
        latencies.push(start.elapsed());
        if let Ok(Some(record)) = &read
            && latencies.len() == 1
        {
            eprintln!("parent as read: children {:?}", record.children);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    latencies
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    args.redis.key_prefix = format!("children-{}:", std::process::id());
    let store = args.redis.redis()?;
    let masters = masters(&args.redis).await?;
    let parent = JobId::parse("parent").expect("a valid id");
    store.write(&record("parent", None, 0)).await?;

    eprintln!("baseline: reading the parent with no child writing");
    let baseline = read_parent(
        store.clone(),
        parent.clone(),
        Instant::now() + Duration::from_secs(5),
    )
    .await;

    let secs = args.secs;
    let no_parent = args.no_parent;
    eprintln!(
        "{} children writing once a second for {secs} s",
        args.children
    );
    let stored = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let (cpu_before, own_before) = (redis_cpu(&masters).await?, own_cpu());
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let reader = tokio::spawn(read_parent(store.clone(), parent.clone(), until));
    let children: Vec<_> = (0..args.children)
        .map(|n| {
            let (store, stored, failed, parent) = (
                store.clone(),
                stored.clone(),
                failed.clone(),
                parent.clone(),
            );
            let offset = Duration::from_micros(1_000_000 * n / args.children.max(1));
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut ticks = tokio::time::interval_at(
                    tokio::time::Instant::from_std(started + offset),
                    Duration::from_secs(1),
                );
                let mut sent = 0;
                loop {
                    ticks.tick().await;
                    if Instant::now() >= until {
                        break;
                    }
                    sent += 10;
                    let start = Instant::now();
                    match store
                        .write(&record(
                            &format!("child-{n}"),
                            (!no_parent).then_some(&parent),
                            sent,
                        ))
                        .await
                    {
                        Ok(_) => stored.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    latencies.push(start.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut writes = Vec::new();
    for child in children {
        writes.extend(child.await?);
    }
    let loaded = reader.await?;
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu_after, own_after) = (redis_cpu(&masters).await?, own_cpu());

    let rollup = store.rollup(&parent).await?;
    eprintln!("roll-up at the end: {rollup:?}");
    let stored = stored.load(Ordering::Relaxed);
    let (write_p50, write_p99) = quantiles(writes);
    let (base_p50, base_p99) = quantiles(baseline);
    let (read_p50, read_p99) = quantiles(loaded);
    println!("RESULT\twrites_per_sec\t{:.0}", stored as f64 / elapsed);
    println!("RESULT\twrite_failures\t{}", failed.load(Ordering::Relaxed));
    println!("RESULT\twrite_ms_p50\t{write_p50:.2}");
    println!("RESULT\twrite_ms_p99\t{write_p99:.2}");
    println!(
        "RESULT\tredis_cpu_cores\t{:.3}",
        (cpu_after - cpu_before) / elapsed
    );
    println!(
        "RESULT\tclient_cpu_cores\t{:.3}",
        (own_after - own_before) / elapsed
    );
    println!("RESULT\tparent_read_ms_p50_idle\t{base_p50:.2}");
    println!("RESULT\tparent_read_ms_p99_idle\t{base_p99:.2}");
    println!("RESULT\tparent_read_ms_p50_loaded\t{read_p50:.2}");
    println!("RESULT\tparent_read_ms_p99_loaded\t{read_p99:.2}");
    Ok(())
}
