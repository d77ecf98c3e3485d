//! Scenario 5: N jobs each updating every second through the real
//! `ProgressWriter`, as workers do; what that costs Redis (round trips and
//! memory per job), PostgreSQL (checkpoints a second) and the writer
//! process (CPU per update).
//!
//! Every result is printed on stdout as `RESULT<TAB>name<TAB>value`; the
//! script collects those. Progress notes go to stderr.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use job_progress::write::JobSpec;
use job_progress_bench::{
    measure::result,
    procfs,
    redis_stats::{commandstats, connect, info_field},
    stores::{Stores, job_id},
};

/// Scenario 5: N jobs each updating every second.
#[derive(Parser)]
struct WriterLoadArgs {
    #[command(flatten)]
    stores: Stores,
    #[arg(long, default_value_t = 10_000)]
    jobs: u64,
    /// Length of the measured window.
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// Time between starting the jobs and the measured window (the start
    /// writes every job to both stores at once).
    #[arg(long, default_value_t = 5)]
    warmup_secs: u64,
    #[arg(long, default_value = "bench-writer-")]
    id_prefix: String,
    /// How many value keys `MEMORY USAGE` samples.
    #[arg(long, default_value_t = 200)]
    memory_sample: u64,
}

/// Counts the checkpoints PostgreSQL stores: a trigger on `job_progress`
/// (in the bench's own database) bumps a sequence for every row inserted or
/// updated. Exact and immediate, unlike `pg_stat_user_tables`, which each
/// backend publishes only every second or, when idle, every ten.
async fn count_checkpoints(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    for sql in [
        "CREATE SEQUENCE IF NOT EXISTS jpbench_checkpoints",
        "CREATE OR REPLACE FUNCTION jpbench_count_checkpoint() RETURNS trigger \
         LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('jpbench_checkpoints'); RETURN NULL; END $$",
        "DROP TRIGGER IF EXISTS jpbench_count ON job_progress",
        "CREATE TRIGGER jpbench_count AFTER INSERT OR UPDATE ON job_progress \
         FOR EACH ROW EXECUTE FUNCTION jpbench_count_checkpoint()",
    ] {
        sqlx::query(sql).execute(pool).await?;
    }
    Ok(())
}

/// The checkpoints counted so far.
async fn pg_checkpoints(pool: &sqlx::PgPool) -> anyhow::Result<i64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM jpbench_checkpoints",
    )
    .fetch_one(pool)
    .await?;
    Ok(n)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = WriterLoadArgs::parse();
    let own_pid = std::process::id();
    let key_prefix = &args.stores.redis.key_prefix;
    let writer = args.stores.writer(10, Duration::from_millis(100))?;
    let mut stats_conn = connect(&args.stores.redis.redis_url).await?;
    let pg = sqlx::PgPool::connect(&args.stores.database_url).await?;
    count_checkpoints(&pg).await?;
    let used_before = info_field(&mut stats_conn, "memory", "used_memory").await?;

    let updates = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.jobs as usize);
    for i in 0..args.jobs {
        let job = writer.start(
            job_id(&args.id_prefix, i)?,
            JobSpec::new(10_000_000).chunked(500, Duration::from_secs(1)),
        );
        let (updates, refused, stop) = (updates.clone(), refused.clone(), stop.clone());
        // Each job updates once a second, the jobs spread evenly over the second.
        let phase = Duration::from_micros(i * 1_000_000 / args.jobs.max(1));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(phase).await;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut chunk = 0;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                chunk += 1;
                let ok = job.set_chunk(chunk).is_ok() && job.record(495, 5).is_ok();
                if ok {
                    updates.fetch_add(1, Ordering::Relaxed);
                } else {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Keep the handle (dropping it would abandon the job).
            std::mem::forget(job);
        }));
    }
    eprintln!(
        "started {} jobs in {:.1?}; warming up {} s",
        args.jobs,
        started.elapsed(),
        args.warmup_secs
    );
    tokio::time::sleep(Duration::from_secs(args.warmup_secs)).await;

    let (u0, cpu0, cmd0, pg0, t0) = (
        updates.load(Ordering::Relaxed),
        procfs::cpu_time(own_pid)?,
        commandstats(&mut stats_conn).await?,
        pg_checkpoints(&pg).await?,
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    let (u1, cpu1, cmd1, pg1, elapsed) = (
        updates.load(Ordering::Relaxed),
        procfs::cpu_time(own_pid)?,
        commandstats(&mut stats_conn).await?,
        pg_checkpoints(&pg).await?,
        t0.elapsed(),
    );

    let delta =
        |name: &str| cmd1.get(name).copied().unwrap_or(0) - cmd0.get(name).copied().unwrap_or(0);
    let total: u64 = cmd1
        .iter()
        .map(|(k, v)| v - cmd0.get(k).copied().unwrap_or(0))
        .sum();
    let scripts = delta("evalsha") + delta("eval");
    // Commands a script runs are counted by Redis as well (GET, SET, and a
    // ZADD or ZREM on each of the two indexes per script call); they are not
    // round trips.
    let inner = delta("get").min(scripts)
        + delta("set").min(scripts)
        + (delta("zadd") + delta("zrem")).min(2 * scripts);
    let ours = delta("info");
    let client_commands = total - inner - ours;
    let n_updates = (u1 - u0).max(1);
    let secs = elapsed.as_secs_f64();

    // Memory, while every job is live.
    let mut sample_sum = 0u64;
    let mut sampled = 0u64;
    let step = (args.jobs / args.memory_sample.max(1)).max(1);
    let mut i = 0;
    while i < args.jobs {
        let key = format!("{key_prefix}progress:{}{i}", args.id_prefix);
        let bytes: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&key)
            .query_async(&mut stats_conn)
            .await?;
        if let Some(bytes) = bytes {
            sample_sum += bytes;
            sampled += 1;
        }
        i += step;
    }
    // Both indexes: by last update and by start time.
    let mut index_bytes: Option<u64> = None;
    for index in ["active", "active:by-start"] {
        let bytes: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(format!("{key_prefix}{index}"))
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut stats_conn)
            .await?;
        index_bytes = Some(index_bytes.unwrap_or(0) + bytes.unwrap_or(0));
    }
    let used_after = info_field(&mut stats_conn, "memory", "used_memory").await?;
    let value_len: u64 = redis::cmd("STRLEN")
        .arg(format!("{key_prefix}progress:{}0", args.id_prefix))
        .query_async(&mut stats_conn)
        .await?;
    stop.store(true, Ordering::Relaxed);

    let per_key = sample_sum as f64 / sampled.max(1) as f64;
    let index_share = index_bytes.unwrap_or(0) as f64 / args.jobs.max(1) as f64;
    result("jobs", args.jobs);
    result("window_secs", format!("{secs:.1}"));
    result("updates", u1 - u0);
    result("updates_per_sec", format!("{:.0}", (u1 - u0) as f64 / secs));
    result("refused_updates", refused.load(Ordering::Relaxed));
    result("redis_scripts", scripts);
    result(
        "redis_scripts_per_sec",
        format!("{:.0}", scripts as f64 / secs),
    );
    result("redis_client_commands", client_commands);
    result(
        "redis_round_trips_per_update",
        format!("{:.3}", client_commands as f64 / n_updates as f64),
    );
    result(
        "redis_commands_breakdown",
        format!(
            "evalsha={} eval={} script={} get={} set={} zadd={} zrem={}",
            delta("evalsha"),
            delta("eval"),
            delta("script|load"),
            delta("get"),
            delta("set"),
            delta("zadd"),
            delta("zrem")
        ),
    );
    let cpu = cpu1.saturating_sub(cpu0);
    result("cpu_secs", format!("{:.2}", cpu.as_secs_f64()));
    result("cpu_core_share", format!("{:.3}", cpu.as_secs_f64() / secs));
    result(
        "cpu_us_per_update",
        format!("{:.1}", cpu.as_secs_f64() * 1e6 / n_updates as f64),
    );
    result("pg_checkpoints", pg1 - pg0);
    result(
        "pg_checkpoints_per_sec",
        format!("{:.1}", (pg1 - pg0) as f64 / secs),
    );
    result("value_bytes", value_len);
    result("memory_usage_value_key", format!("{per_key:.0}"));
    result("memory_usage_index_per_job", format!("{index_share:.0}"));
    result("memory_per_job", format!("{:.0}", per_key + index_share));
    result(
        "used_memory_delta_per_job",
        format!(
            "{:.0}",
            used_after.saturating_sub(used_before) as f64 / args.jobs.max(1) as f64
        ),
    );
    std::process::exit(0);
}
