//! A staged job built on the progress writer: an "AI pipeline" of four
//! steps (fetch, transcribe, summarise, publish) with no total, whose
//! steps say how far it is; it sets a message and metadata on the way,
//! logs, and completes with a link to its result. The job's code is
//! `job_progress::demo::pipeline` (`src/demo/pipeline.rs`), the same
//! `job-progress demo` runs; this file adds what a worker process needs
//! around it (the stores, the writer, Ctrl-C).
//!
//! ```text
//! cargo run --example ai_pipeline -- --job-id podcast-7 --episode 7
//! cargo run -- watch podcast-7
//! ```

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use clap::Parser;
use job_progress::{
    config::{DatabaseSettings, RedisSettings, WriterSettings},
    demo::pipeline,
    domain::JobId,
    write::ProgressWriter,
};

/// Run the staged pipeline once and report its progress.
#[derive(Debug, Parser)]
struct Args {
    /// The job's id (1-128 of `[A-Za-z0-9._:-]`).
    #[arg(long)]
    job_id: String,
    /// The episode, for the job's name.
    #[arg(long, default_value_t = 1)]
    episode: u64,
    /// Time one unit of work takes, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pace_ms: u64,
    /// Where results are published: the job's id is appended to it.
    #[arg(long, default_value = "https://example.com/summaries/")]
    result_base: String,
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
    let job_id = JobId::parse(args.job_id.clone()).context("--job-id")?;

    let archive = args.database.archive()?;
    archive.migrate().await?;
    let mut writer = ProgressWriter::new(
        Arc::new(args.redis.redis()?),
        archive.shared(),
        args.writer.config(),
    );
    if let Some(publisher) = args.redis.publisher().await? {
        writer = writer.with_publisher(publisher);
    }

    let job = pipeline::start(&writer, job_id.clone(), args.episode)?;
    println!(
        "job {job_id}: {} steps: {}",
        pipeline::STEPS.len(),
        pipeline::STEPS.join(", ")
    );
    tokio::select! {
        worked = pipeline::work(&job, Duration::from_millis(args.pace_ms)) => {
            worked?;
            pipeline::finish(job, &args.result_base).await?;
            println!("job {job_id}: completed");
        }
        _ = tokio::signal::ctrl_c() => {
            job.fail("interrupted").await?;
            println!("job {job_id}: interrupted; marked failed");
        }
    }
    writer.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
