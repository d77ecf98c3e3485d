//! What a status change's synced commit costs on SQLite: batches of
//! completions written with `checkpoint_many` (`synchronous=NORMAL`, as
//! count checkpoints are) against `checkpoint_many_synced`
//! (`synchronous=FULL`, as batches holding a status change are), one
//! fresh file per mode in `--dir` (put it on the disk the archive uses:
//! a tmpfs makes `fsync` free).
//!
//! Each mode first inserts the jobs (running), untimed, then times
//! `--commits` batches of `--batch` completions each. Prints `RESULT`
//! lines. See BENCHMARKS.md, "Status changes: answered after the commit".
//!
//! ```sh
//! cargo run --release --manifest-path bench/Cargo.toml --bin sqlite_commit -- --commits 300 --batch 1
//! cargo run --release --manifest-path bench/Cargo.toml --bin sqlite_commit -- --commits 300 --batch 50
//! ```
//!
//! With `--url` it measures the same end to end instead, over HTTP: a
//! running server (`job-progress serve`, a write token in `TOKEN`) gets
//! `--commits` jobs declared and completed by `--batch` concurrent
//! workers, each answer waiting for its commit; it prints the completions
//! answered per second and the completions' latency.

use std::{path::PathBuf, time::Duration};

use clap::Parser;
use job_progress::{
    domain::{JobId, JobStatus, ProgressRecord},
    store::{Archive, SqliteArchive},
};
use tokio::time::Instant;

#[derive(Parser)]
struct Args {
    /// Timed commits per mode.
    #[arg(long, default_value_t = 300)]
    commits: usize,
    /// Completions per commit (the queue gathers what arrives within
    /// 5 ms: 1 when workers finish one at a time, tens under load).
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Where the files go.
    #[arg(long, default_value = "target")]
    dir: PathBuf,
    /// Measure over HTTP against the server at this URL instead.
    #[arg(long)]
    url: Option<String>,
}

fn record(i: usize, status: JobStatus) -> ProgressRecord {
    let id = JobId::parse(format!("job-{i:07}")).expect("a valid id");
    let mut record = ProgressRecord::new(id, status, Some(1_000));
    if status == JobStatus::Completed {
        record.success_count = 990;
        record.failure_count = 10;
        record.current_sent_count = 1_000;
        record.completed_at = Some(chrono::Utc::now());
    }
    record
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(url) = &args.url {
        return over_http(url, args.commits, args.batch).await;
    }
    std::fs::create_dir_all(&args.dir)?;
    let jobs = args.commits * args.batch;
    for synced in [false, true] {
        let folder = tempfile::tempdir_in(&args.dir)?;
        let archive = SqliteArchive::open(&folder.path().join("a.db"), Duration::from_secs(10))?;
        archive.migrate().await?;
        let running: Vec<ProgressRecord> = (0..jobs)
            .map(|i| record(i, JobStatus::InProgress))
            .collect();
        for chunk in running.chunks(500) {
            archive.checkpoint_many(chunk).await?;
        }
        let done: Vec<ProgressRecord> =
            (0..jobs).map(|i| record(i, JobStatus::Completed)).collect();
        let started = Instant::now();
        for chunk in done.chunks(args.batch) {
            if synced {
                archive.checkpoint_many_synced(chunk).await?;
            } else {
                archive.checkpoint_many(chunk).await?;
            }
        }
        let took = started.elapsed().as_secs_f64();
        let mode = if synced { "full" } else { "normal" };
        let batch = args.batch;
        println!(
            "RESULT\t{mode}_batch{batch}_commits_per_s\t{:.0}",
            args.commits as f64 / took
        );
        println!(
            "RESULT\t{mode}_batch{batch}_completions_per_s\t{:.0}",
            jobs as f64 / took
        );
        println!(
            "RESULT\t{mode}_batch{batch}_ms_per_commit\t{:.2}",
            took * 1000.0 / args.commits as f64
        );
    }
    Ok(())
}

/// `jobs` jobs declared and completed over HTTP by `workers` at once.
async fn over_http(url: &str, jobs: usize, workers: usize) -> anyhow::Result<()> {
    use futures_util::{StreamExt as _, stream};
    let token = std::env::var("TOKEN")?;
    let client = job_progress::outbound::client_builder(None)?.build()?;
    let run = std::process::id();
    let one = |n: usize| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            let job = format!("{url}/api/v1/jobs/commit-{run}-{n}");
            let declared = client
                .put(&job)
                .bearer_auth(&token)
                .json(&serde_json::json!({"total": 1000}))
                .send()
                .await?;
            anyhow::ensure!(declared.status() == 201, "declare: {}", declared.status());
            let started = Instant::now();
            let completed = client
                .post(format!("{job}/complete"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"successCount": 990, "failureCount": 10}))
                .send()
                .await?;
            anyhow::ensure!(
                completed.status() == 200,
                "complete: {}",
                completed.status()
            );
            anyhow::Ok(started.elapsed())
        }
    };
    let started = Instant::now();
    let mut latencies: Vec<Duration> = stream::iter(0..jobs)
        .map(one)
        .buffer_unordered(workers.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let took = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    println!("RESULT\thttp_jobs_per_s\t{:.0}", jobs as f64 / took);
    println!("RESULT\thttp_complete_p50_ms\t{:.1}", at(0.5));
    println!("RESULT\thttp_complete_p99_ms\t{:.1}", at(0.99));
    Ok(())
}
