//! What checkpoints cost PostgreSQL: N jobs each checkpointing every
//! `--interval-ms`, batched (the writer's shared queue) or not (one
//! statement per checkpoint, as before batching). Prints `RESULT` lines:
//! checkpoints, statements and rows per second reaching PostgreSQL, and
//! the CPU time of the PostgreSQL backends serving this program (from
//! `/proc/<pid>/stat`). See BENCHMARKS.md, scenario 11.

use std::{sync::Arc, time::Duration};

use clap::Parser;
use job_progress::{
    config::DatabaseSettings,
    domain::{JobId, JobStatus, ProgressRecord},
    store::{AnyArchive, Archive},
    write::{CheckpointBatching, Checkpoints},
};
use job_progress_bench::{measure::result, procfs};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    database: DatabaseSettings,
    /// Running jobs.
    #[arg(long, default_value_t = 10_000)]
    jobs: u64,
    /// Each job checkpoints this often.
    #[arg(long, default_value_t = 30_000)]
    interval_ms: u64,
    /// Measured window, after one interval of warm-up.
    #[arg(long, default_value_t = 30)]
    secs: u64,
    /// One statement per checkpoint (no queue).
    #[arg(long)]
    unbatched: bool,
}

/// utime + stime of `pid`, in clock ticks (10 ms); 0 for a backend that
/// has gone.
fn ticks(pid: i32) -> u64 {
    procfs::cpu_time(pid as u32).map_or(0, |cpu| (cpu.as_millis() / 10) as u64)
}

/// The backends of this program's connections, and their CPU ticks.
async fn backends(pool: &sqlx::PgPool) -> Vec<(i32, u64)> {
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'job-progress' \
         AND datname = current_database()",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    pids.into_iter().map(|p| (p, ticks(p))).collect()
}

async fn written_rows(pool: &sqlx::PgPool) -> (i64, i64) {
    // Committed transactions of this database (each statement is one) and
    // rows inserted or updated in job_progress.
    sqlx::query_as(
        "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()), \
                (SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE relname = 'job_progress')",
    )
    .fetch_one(pool)
    .await
    .unwrap_or((0, 0))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let AnyArchive::Postgres(archive) = args.database.archive()? else {
        anyhow::bail!("this measures PostgreSQL: set DATABASE_URL=postgres://...");
    };
    archive.migrate().await?;
    let pool = archive.pool().clone();
    let archive: Arc<dyn Archive> = Arc::new(archive);
    let queue = Checkpoints::new(Arc::clone(&archive), CheckpointBatching::default());
    let interval = Duration::from_millis(args.interval_ms);
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    for i in 0..args.jobs {
        let (archive, queue, done, failed) = (
            Arc::clone(&archive),
            queue.clone(),
            Arc::clone(&done),
            Arc::clone(&failed),
        );
        let unbatched = args.unbatched;
        // Jobs spread evenly over the interval, as real ones drift apart.
        let first = start + interval.mul_f64(i as f64 / args.jobs as f64);
        tokio::spawn(async move {
            let mut record = ProgressRecord::new(
                JobId::parse(format!("load-{i}")).unwrap(),
                JobStatus::InProgress,
                Some(u64::MAX / 2),
            );
            let mut ticks = tokio::time::interval_at(first, interval);
            loop {
                ticks.tick().await;
                record.current_sent_count += 1;
                record.success_count += 1;
                record.updated_at = Some(chrono::Utc::now());
                let written = if unbatched {
                    archive.checkpoint(&record).await
                } else {
                    queue.submit(record.clone()).await
                };
                let counter = if written.is_ok() { &done } else { &failed };
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    tokio::time::sleep(interval + Duration::from_secs(2)).await;
    let (cpu0, (x0, r0)) = (backends(&pool).await, written_rows(&pool).await);
    let (d0, f0) = (
        done.load(std::sync::atomic::Ordering::Relaxed),
        failed.load(std::sync::atomic::Ordering::Relaxed),
    );
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    let (d1, f1) = (
        done.load(std::sync::atomic::Ordering::Relaxed),
        failed.load(std::sync::atomic::Ordering::Relaxed),
    );
    let cpu1 = backends(&pool).await;
    // Statistics reach pg_stat_* up to a second late.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (x1, r1) = written_rows(&pool).await;
    let busy: u64 = cpu1
        .iter()
        .map(|(pid, t)| {
            t - cpu0
                .iter()
                .find(|(p, _)| p == pid)
                .map_or(0, |(_, t0)| *t0)
                .min(*t)
        })
        .sum();
    let secs = args.secs as f64;
    result(
        "mode",
        if args.unbatched {
            "unbatched"
        } else {
            "batched"
        },
    );
    result("jobs", args.jobs);
    result(
        "offered_per_sec",
        format!("{:.0}", args.jobs as f64 * 1000.0 / args.interval_ms as f64),
    );
    result(
        "checkpoints_per_sec",
        format!("{:.0}", (d1 - d0) as f64 / secs),
    );
    result("failed", f1 - f0);
    result(
        "statements_per_sec",
        format!("{:.1}", (x1 - x0) as f64 / secs),
    );
    result("rows_per_sec", format!("{:.0}", (r1 - r0) as f64 / secs));
    result("pg_backend_cpu_pct", format!("{:.1}", busy as f64 / secs));
    result("pg_backends", cpu1.len());
    Ok(())
}
