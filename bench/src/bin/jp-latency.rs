//! Scenario 7: per-event delivery latency, writer to client. Streams on a
//! set of jobs that a writer updates (and, apart, streams of the active
//! list); the time from just before each Redis write to the moment each
//! stream has parsed that event.
//!
//! Writes go straight through `RedisStore::write` (the write script that
//! stores, indexes and publishes), so the writer and the clients share one
//! process and one monotonic clock.
//!
//! Every result is printed on stdout as `RESULT<TAB>name<TAB>value`.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use job_progress_bench::{
    measure::{ms, percentile, result},
    sse::{Event, SentAt, Tally, event_paths, open_streams},
    stores::{RecordWriter, RedisArgs, job_ids},
};

/// Scenario 7: per-event delivery latency, writer to client.
#[derive(Parser)]
struct LatencyArgs {
    #[command(flatten)]
    redis: RedisArgs,
    /// Server address, e.g. 127.0.0.1:18080.
    #[arg(long)]
    addr: String,
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// The streams are spread evenly over this many jobs.
    #[arg(long, default_value_t = 100)]
    jobs: u64,
    /// Each job is written this often (the writes of all jobs spread evenly).
    #[arg(long, default_value_t = 1000)]
    job_interval_ms: u64,
    /// How long the writer writes.
    #[arg(long, default_value_t = 30)]
    secs: u64,
    /// Also this many streams of the active list (every job's changes),
    /// timed separately.
    #[arg(long, default_value_t = 0)]
    active_streams: usize,
    /// The clients ACK every read at once (TCP_QUICKACK).
    #[arg(long)]
    quickack: bool,
    #[arg(long, default_value = "bench-sse-")]
    id_prefix: String,
}

/// Records, per event, the µs from its write to its arrival; events whose
/// write is unknown are counted apart.
#[derive(Clone, Default)]
struct Arrivals {
    sent: SentAt,
    latencies: Arc<Mutex<Vec<u64>>>,
    unmatched: Arc<AtomicU64>,
}

impl Arrivals {
    fn arrived(&self, job: usize, count: u64, at: Instant) {
        let t0 = self.sent.lock().unwrap().get(&(job, count)).copied();
        match t0 {
            Some(t0) => self
                .latencies
                .lock()
                .unwrap()
                .push(at.duration_since(t0).as_micros() as u64),
            None => {
                self.unmatched.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn sorted(&self) -> Vec<u64> {
        let mut lat = std::mem::take(&mut *self.latencies.lock().unwrap());
        lat.sort_unstable();
        lat
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = LatencyArgs::parse();
    let writer = RecordWriter::new(&args.redis)?;
    let ids = job_ids(&args.id_prefix, args.jobs)?;
    for id in &ids {
        writer.write(id, 1).await?;
    }
    let arrivals = Arrivals::default();
    let sent = arrivals.sent.clone();
    let tally = Arc::new(Tally::default());
    let on_event = {
        let arrivals = arrivals.clone();
        move |_stream: usize, job: usize, event: &Event, at: Instant| {
            if let Some(count) = event.count() {
                arrivals.arrived(job, count, at);
            }
        }
    };
    let started = Instant::now();
    let tasks = open_streams(
        &args.addr,
        &event_paths(&ids),
        args.streams,
        200,
        args.quickack,
        &tally,
        on_event,
    )
    .await;
    // Streams of the active list: the job is named in each event.
    let active = Arrivals {
        sent: sent.clone(),
        ..Arrivals::default()
    };
    let active_tally = Arc::new(Tally::default());
    let on_active = {
        let (active, prefix) = (active.clone(), args.id_prefix.clone());
        move |_stream: usize, _: usize, event: &Event, at: Instant| {
            let job = event
                .job_id()
                .and_then(|id| id.strip_prefix(prefix.as_str()))
                .and_then(|n| n.parse::<usize>().ok());
            if let (Some(job), Some(count)) = (job, event.count()) {
                active.arrived(job, count, at);
            }
        }
    };
    let active_paths = vec!["/api/v1/jobs/active/events".to_owned()];
    let active_tasks = open_streams(
        &args.addr,
        &active_paths,
        args.active_streams,
        200,
        args.quickack,
        &active_tally,
        on_active,
    )
    .await;
    eprintln!(
        "{} streams open in {:.1?} ({} failed); writing for {} s",
        tally.opened.load(Ordering::Relaxed),
        started.elapsed(),
        tally.failed.load(Ordering::Relaxed),
        args.secs
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    // One write every job_interval / jobs, round-robin over the jobs.
    let step = Duration::from_micros(args.job_interval_ms * 1000 / args.jobs.max(1));
    let mut tick = tokio::time::interval(step);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut counts = vec![1u64; ids.len()];
    let mut write_rtt = Vec::new();
    let until = Instant::now() + Duration::from_secs(args.secs);
    let mut k = 0usize;
    while Instant::now() < until {
        tick.tick().await;
        let job = k % ids.len();
        k += 1;
        counts[job] += 1;
        let t0 = Instant::now();
        sent.lock().unwrap().insert((job, counts[job]), t0);
        writer.write(&ids[job], counts[job]).await?;
        write_rtt.push(t0.elapsed().as_micros() as u64);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open_at_end = tally.opened.load(Ordering::Relaxed) - tally.ended.load(Ordering::Relaxed);
    drop(tasks);
    drop(active_tasks);

    let writes = write_rtt.len() as u64;
    let streams_per_job = |job: usize| {
        let opened = tally.opened.load(Ordering::Relaxed) as usize;
        (opened / ids.len() + usize::from(job < opened % ids.len())) as u64
    };
    let expected: u64 = (0..ids.len())
        .map(|job| (counts[job] - 1) * streams_per_job(job))
        .sum();
    let lat = arrivals.sorted();
    write_rtt.sort_unstable();
    result("streams_requested", args.streams);
    result("streams_opened", tally.opened.load(Ordering::Relaxed));
    result("streams_failed", tally.failed.load(Ordering::Relaxed));
    result("streams_open_at_end", open_at_end);
    result("jobs", args.jobs);
    result("writes", writes);
    result(
        "writes_per_sec",
        format!("{:.0}", writes as f64 / args.secs as f64),
    );
    result("events_expected", expected);
    result("events_received", lat.len());
    result(
        "events_unmatched",
        arrivals.unmatched.load(Ordering::Relaxed),
    );
    result("latency_p50_ms", ms(percentile(&lat, 50.0)));
    result("latency_p90_ms", ms(percentile(&lat, 90.0)));
    result("latency_p99_ms", ms(percentile(&lat, 99.0)));
    result("latency_p999_ms", ms(percentile(&lat, 99.9)));
    result("latency_max_ms", ms(lat.last().copied().unwrap_or(0)));
    if args.active_streams > 0 {
        let lat = active.sorted();
        result(
            "active_streams_opened",
            active_tally.opened.load(Ordering::Relaxed),
        );
        result(
            "active_events_expected",
            writes * active_tally.opened.load(Ordering::Relaxed),
        );
        result("active_events_received", lat.len());
        result("active_latency_p50_ms", ms(percentile(&lat, 50.0)));
        result("active_latency_p99_ms", ms(percentile(&lat, 99.0)));
        result(
            "active_latency_max_ms",
            ms(lat.last().copied().unwrap_or(0)),
        );
    }
    result("write_rtt_p50_ms", ms(percentile(&write_rtt, 50.0)));
    result("write_rtt_p99_ms", ms(percentile(&write_rtt, 99.0)));
    std::process::exit(0);
}
