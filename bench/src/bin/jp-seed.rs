//! Seeds the jobs scenarios 1-4 and 6 read: writes them through the real
//! `ProgressWriter` (`RedisStore` + `PgArchive`) and flushes them to both
//! stores.
//!
//! Prints `RESULT<TAB>seeded<TAB>n`; progress notes go to stderr.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use job_progress::write::JobSpec;
use job_progress_bench::{
    measure::result,
    stores::{Stores, job_id},
};

/// Write jobs through ProgressWriter and flush them to both stores.
#[derive(Parser)]
struct SeedArgs {
    #[command(flatten)]
    stores: Stores,
    /// How many jobs.
    #[arg(long, default_value_t = 1)]
    jobs: u64,
    /// Job ids are `<id-prefix><n>`, n from 0.
    #[arg(long, default_value = "bench-job-")]
    id_prefix: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = SeedArgs::parse();
    let started = Instant::now();
    // Seeding is set-up, not a measurement: a generous timeout, so a busy
    // machine does not fail it.
    let writer = args.stores.writer(8, Duration::from_secs(2))?;
    let mut jobs = Vec::with_capacity(args.jobs as usize);
    for i in 0..args.jobs {
        let job = writer.start(
            job_id(&args.id_prefix, i)?,
            JobSpec::new(500_000).chunked(500, Duration::from_secs(2)),
        );
        job.set_chunk(3)?;
        job.record(990 + i % 7, 10)?;
        jobs.push(job);
    }
    // A second observation a little later, so the record carries an ETA and
    // a rate like a real running job's (its size matters to scenarios 1, 5).
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (i, job) in jobs.iter().enumerate() {
        job.set_chunk(4)?;
        job.record(480 + (i as u64) % 11, 20)?;
    }
    // Flush every job (a few hundred at a time), then again those that
    // missed a store, a few times.
    let mut pending: Vec<&_> = jobs.iter().collect();
    let (mut hot_missed, mut archive_missed) = (0u64, 0u64);
    for attempt in 1..=5 {
        let mut missed = Vec::new();
        (hot_missed, archive_missed) = (0, 0);
        for batch in pending.chunks(250) {
            let results = futures_util::future::join_all(batch.iter().map(|job| job.flush())).await;
            for (job, flushed) in batch.iter().zip(results) {
                hot_missed += u64::from(!flushed.hot);
                archive_missed += u64::from(!flushed.archive);
                if !(flushed.hot && flushed.archive) {
                    missed.push(*job);
                }
            }
        }
        if missed.is_empty() {
            break;
        }
        eprintln!(
            "seed attempt {attempt}: {} jobs missed a store; again",
            missed.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        // A new version, so the next flush really tries again.
        for job in &missed {
            job.set_chunk(4)?;
        }
        pending = missed;
    }
    eprintln!(
        "seeded {} jobs in {:.1?} (missed: redis {hot_missed}, postgres {archive_missed})",
        args.jobs,
        started.elapsed()
    );
    result("seeded", args.jobs);
    if hot_missed + archive_missed > 0 {
        bail!("{hot_missed} Redis and {archive_missed} PostgreSQL writes failed");
    }
    // Exit with the jobs still open: dropping the handles would abandon them.
    std::process::exit(0);
}
