//! A simulated chunked sender built on the progress writer: the example to
//! copy into a real worker.
//!
//! It "sends" `--total` notifications in chunks of `--chunk-size`, spending
//! `--work-ms` on each chunk and pausing `--pause-ms` between chunks, with
//! `--failure-rate` of the targets failing. Progress goes to Redis and
//! PostgreSQL exactly as a real worker's would; a request to stop it
//! (`POST /api/v1/jobs/{jobId}/cancel`) ends it `cancelled` at its next
//! write.
//!
//! ```text
//! cargo run --example send_campaign -- --job-id demo-1 --total 5000 \
//!     --chunk-size 500 --pause-ms 2000 --work-ms 300
//! curl -s localhost:8080/api/v1/jobs/demo-1/progress
//! ```

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use clap::Parser;
use job_progress::{
    config::{DatabaseSettings, RedisSettings, WriterSettings},
    domain::{JobId, ScheduleId},
    write::{JobSpec, ProgressWriter},
};

/// Simulate a chunked send and report its progress.
#[derive(Debug, Parser)]
struct Args {
    /// The job's id (1-128 of `[A-Za-z0-9._:-]`).
    #[arg(long)]
    job_id: String,
    /// Targets to send to.
    #[arg(long, default_value_t = 10_000)]
    total: u64,
    /// Targets per chunk.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    chunk_size: u64,
    /// Pause between chunks, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pause_ms: u64,
    /// Time one chunk takes to send, in milliseconds.
    #[arg(long, default_value_t = 300)]
    work_ms: u64,
    /// Share of targets that fail, 0.0 to 1.0.
    #[arg(long, default_value_t = 0.01)]
    failure_rate: f64,
    /// The scheduled send this job carries out, if any.
    #[arg(long)]
    schedule_id: Option<String>,
    #[command(flatten)]
    redis: RedisSettings,
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    writer: WriterSettings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    job_progress::telemetry::init(job_progress::config::LogFormat::Pretty);
    if !(0.0..=1.0).contains(&args.failure_rate) {
        anyhow::bail!("--failure-rate must be between 0.0 and 1.0");
    }
    let job_id = JobId::parse(args.job_id.clone()).context("--job-id")?;
    let schedule = args
        .schedule_id
        .clone()
        .map(ScheduleId::parse)
        .transpose()
        .context("--schedule-id")?;

    let archive = args.database.archive()?;
    archive.migrate().await?;
    let mut writer = ProgressWriter::new(
        Arc::new(args.redis.redis()?),
        archive.shared(),
        args.writer.config(),
    );
    // With BUS_URL=nats://..., live streams hear of each write through NATS.
    if let Some(publisher) = args.redis.publisher().await? {
        writer = writer.with_publisher(publisher);
    }

    let pause = Duration::from_millis(args.pause_ms);
    let mut spec = JobSpec::new(args.total).chunked(args.chunk_size, pause);
    if let Some(schedule) = schedule {
        spec = spec.schedule(schedule);
    }
    let chunks = spec.total_chunks.unwrap_or(0);
    println!(
        "job {job_id}: sending to {} targets in {chunks} chunks of {} ({} ms work, {} ms pause)",
        args.total, args.chunk_size, args.work_ms, args.pause_ms
    );
    let job = writer.start(job_id.clone(), spec);

    let send = async {
        let mut left = args.total;
        for chunk in 1..=chunks {
            job.set_chunk(chunk)?;
            let size = left.min(args.chunk_size);
            tokio::time::sleep(Duration::from_millis(args.work_ms)).await;
            let failed = (0..size)
                .filter(|_| fastrand::f64() < args.failure_rate)
                .count() as u64;
            job.record(size - failed, failed)?;
            left -= size;
            let now = job.progress();
            println!(
                "chunk {chunk}/{chunks}: {} sent ({} failed), {}%, ETA {}",
                now.current_sent_count,
                now.failure_count,
                now.progress_percentage,
                now.estimated_end_at
                    .map_or("unknown".into(), |t| t.to_rfc3339()),
            );
            if chunk < chunks {
                tokio::time::sleep(pause).await;
            }
        }
        anyhow::Ok(())
    };

    tokio::select! {
        sent = send => {
            sent?;
            let flushed = job.complete().await?;
            println!("job {job_id}: completed (redis written: {}, postgres written: {})", flushed.hot, flushed.archive);
        }
        // Someone pressed Cancel (POST .../cancel): the writer hears of it
        // with its next write; stop sending and say so.
        asked = job.cancellation() => {
            let why = asked.reason.as_deref().unwrap_or("no reason given");
            println!("job {job_id}: cancel requested by {} ({why}); stopping", asked.by);
            job.confirm_cancelled().await?;
            println!("job {job_id}: cancelled");
        }
        _ = tokio::signal::ctrl_c() => {
            job.fail("interrupted").await?;
            println!("job {job_id}: interrupted; marked failed");
        }
    }
    writer.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
