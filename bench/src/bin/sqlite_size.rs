//! What the SQLite archive costs: the file's size per 10,000 finished jobs,
//! and checkpoints written per second, batched (`checkpoint_many`, as the
//! writer's queue sends them) against one at a time (`checkpoint`).
//!
//! Each mode gets a fresh file in a temporary folder and writes `--jobs`
//! jobs through their life as the archive sees it: a first checkpoint
//! while running (a new row), then the final one (an update of that row).
//! Then the log is folded into the file (`PRAGMA wal_checkpoint(TRUNCATE)`)
//! and the file measured. Prints `RESULT` lines. See BENCHMARKS.md.
//!
//! ```sh
//! cargo run --release --manifest-path bench/Cargo.toml --bin sqlite_size -- --jobs 10000 --batch 500
//! ```

use std::{path::Path, time::Duration};

use chrono::{DateTime, Utc};
use clap::Parser;
use job_progress::{
    domain::{EndRange, JobId, JobStatus, ProgressRecord, ScheduleId},
    store::{Archive, SqliteArchive},
};
use tokio::time::Instant;

#[derive(Parser)]
struct Args {
    /// Jobs to write.
    #[arg(long, default_value_t = 10_000)]
    jobs: u64,
    /// Records per `checkpoint_many` call in the batched mode (the writer's
    /// queue sends up to 1,000).
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Copy the batched mode's file here, to look inside it (`sqlite3
    /// <file> "SELECT name, sum(pgsize) FROM dbstat GROUP BY name"`).
    #[arg(long)]
    keep: Option<std::path::PathBuf>,
}

/// Job `i` of a campaign, as its worker reports it: running at
/// `fraction` of its targets, or finished when `fraction` is 1 (one in
/// twenty fails part way, with a message). A quarter carry out a
/// schedule.
fn job(i: u64, fraction: f64, base: DateTime<Utc>) -> ProgressRecord {
    let total = 50_000 + (i * 7_919) % 450_000;
    let finished = fraction >= 1.0;
    let failed = finished && i.is_multiple_of(20);
    // A failed job stopped part way.
    let sent = (total as f64 * if failed { 0.7 } else { fraction }) as u64;
    let failures = sent / 50;
    let status = match (finished, failed) {
        (_, true) => JobStatus::Failed,
        (true, false) => JobStatus::Completed,
        (false, _) => JobStatus::InProgress,
    };
    let started = base + chrono::Duration::seconds(i as i64);
    let updated = started + chrono::Duration::milliseconds((fraction * 900_000.0) as i64 + 137);
    let end = started + chrono::Duration::seconds(900);
    let mut record = ProgressRecord::new(
        JobId::parse(format!("campaign-20261124-{i:06}")).unwrap(),
        status,
        Some(total),
    );
    record.current_sent_count = sent;
    record.success_count = sent - failures;
    record.failure_count = failures;
    record.total_chunks = Some(total.div_ceil(500));
    record.current_chunk = Some(sent.div_ceil(500).max(1));
    record.started_at = Some(started);
    record.updated_at = Some(updated);
    record.refresh_interval_ms = Some(15_000);
    record.rate_per_second = Some(516.17 + (i % 100) as f64 / 7.0);
    if finished {
        record.completed_at = Some(updated);
    } else {
        record.estimated_end_at = Some(end);
        record.estimated_end_range = Some(EndRange {
            earliest: end - chrono::Duration::seconds(40),
            latest: end + chrono::Duration::seconds(90),
        });
    }
    if failed {
        record.error_message = Some("SMTP relay refused the connection after 3 retries".into());
    }
    if i.is_multiple_of(4) {
        record.schedule_id = Some(ScheduleId::parse(format!("schedule-{i:06}")).unwrap());
    }
    record.normalized()
}

/// Writes `records` in batches of `batch` (one at a time when `batch` is
/// 1); returns the rows written per second.
async fn write(archive: &SqliteArchive, records: &[ProgressRecord], batch: usize) -> f64 {
    let started = Instant::now();
    if batch == 1 {
        for record in records {
            archive.checkpoint(record).await.expect("written");
        }
    } else {
        for chunk in records.chunks(batch) {
            archive.checkpoint_many(chunk).await.expect("written");
        }
    }
    records.len() as f64 / started.elapsed().as_secs_f64()
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = Utc::now() - chrono::Duration::days(1);
    let running: Vec<_> = (0..args.jobs).map(|i| job(i, 0.4, base)).collect();
    let done: Vec<_> = (0..args.jobs).map(|i| job(i, 1.0, base)).collect();
    for (mode, batch) in [("batched", args.batch), ("one_by_one", 1)] {
        let folder = tempfile::tempdir()?;
        let path = folder.path().join("archive.db");
        let archive = SqliteArchive::open(&path, Duration::from_secs(30))?;
        archive.migrate().await?;

        let inserts = write(&archive, &running, batch).await;
        let updates = write(&archive, &done, batch).await;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(archive.pool())
            .await?;
        let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
            .fetch_one(archive.pool())
            .await?;

        if let (Some(keep), "batched") = (&args.keep, mode) {
            std::fs::copy(&path, keep)?;
        }
        let bytes = size(&path);
        let wal = size(&path.with_extension("db-wal"));
        println!(
            "RESULT mode={mode} batch={batch} new_rows_per_s={inserts:.0} updates_per_s={updates:.0}"
        );
        println!(
            "RESULT mode={mode} jobs={} file_bytes={bytes} bytes_per_job={:.0} wal_bytes={wal} free_pages={free}",
            args.jobs,
            bytes as f64 / args.jobs as f64,
        );
    }
    Ok(())
}
