//! Scenario 10: server CPU per watcher of one job, polling (with
//! `If-None-Match`, the job still and then moving once a second) against
//! streaming (the job moving once a second), each over the same window and
//! less the idle server's CPU.
//!
//! Every result is printed on stdout as `RESULT<TAB>name<TAB>value`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use job_progress::domain::JobId;
use job_progress_bench::{
    http1::poll_once,
    measure::result,
    procfs::cpu_time,
    sse::{Tally, open_streams},
    stores::{RecordWriter, RedisArgs},
};
use tokio::{net::TcpStream, sync::Semaphore};

/// Scenario 10: server CPU per watcher, polling against streaming.
#[derive(Parser)]
struct WatchersArgs {
    #[command(flatten)]
    redis: RedisArgs,
    #[arg(long)]
    addr: String,
    /// Watchers of one job, in each mode.
    #[arg(long, default_value_t = 5000)]
    watchers: usize,
    /// Length of each measured window.
    #[arg(long, default_value_t = 30)]
    secs: u64,
    /// Pollers ask every this many seconds.
    #[arg(long, default_value_t = 3)]
    poll_secs: u64,
    #[arg(long)]
    server_pid: u32,
    #[arg(long, default_value = "bench-cpu-0")]
    job: String,
}

/// Counters every poller shares: what its polls got.
#[derive(Default)]
struct PollTally {
    connected: AtomicU64,
    failed: AtomicU64,
    ok: AtomicU64,
    not_modified: AtomicU64,
    other: AtomicU64,
}

/// `n` keep-alive pollers of `path`, each asking every `every` with the
/// `ETag` it last got; stops when `stop` is set.
fn spawn_pollers(
    addr: &str,
    path: &str,
    n: usize,
    every: Duration,
    stop: &Arc<AtomicBool>,
    tally: &Arc<PollTally>,
) -> tokio::task::JoinSet<()> {
    let gate = Arc::new(Semaphore::new(200));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (addr, path) = (addr.to_owned(), path.to_owned());
        let (gate, stop, tally) = (gate.clone(), stop.clone(), tally.clone());
        tasks.spawn(async move {
            let permit = gate.acquire_owned().await;
            let mut buf = Vec::with_capacity(2048);
            let first = async {
                let mut stream = TcpStream::connect(&addr).await?;
                stream.set_nodelay(true)?;
                let (_, etag) = poll_once(&mut stream, &mut buf, &path, None).await?;
                anyhow::Ok((stream, etag))
            };
            let Ok(Ok((mut stream, mut etag))) =
                tokio::time::timeout(Duration::from_secs(20), first).await
            else {
                tally.failed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            drop(permit);
            tally.connected.fetch_add(1, Ordering::Relaxed);
            // Spread the polls evenly over the interval.
            tokio::time::sleep(every.mul_f64((i % 1000) as f64 / 1000.0)).await;
            let mut tick = tokio::time::interval(every);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                match poll_once(&mut stream, &mut buf, &path, etag.as_deref()).await {
                    Ok((200, tag)) => {
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                        etag = tag.or(etag);
                    }
                    Ok((304, _)) => {
                        tally.not_modified.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        tally.other.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        });
    }
    tasks
}

/// Writes the job once a second (count growing from `from`) until `stop`.
fn spawn_updates(
    writer: Arc<RecordWriter>,
    id: JobId,
    from: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            let count = from.fetch_add(1, Ordering::Relaxed) + 1;
            if let Err(err) = writer.write(&id, count).await {
                eprintln!("update failed: {err:#}");
            }
        }
    })
}

/// Server CPU µs over a window of `secs`, and the window's length.
async fn measure(pid: u32, secs: u64) -> anyhow::Result<(u64, f64)> {
    let (c0, t0) = (cpu_time(pid)?, Instant::now());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let cpu = cpu_time(pid)? - c0;
    Ok((cpu.as_micros() as u64, t0.elapsed().as_secs_f64()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = WatchersArgs::parse();
    let writer = Arc::new(RecordWriter::new(&args.redis)?);
    let id = JobId::parse(args.job.clone())?;
    let count = Arc::new(AtomicU64::new(1));
    writer.write(&id, 1).await?;
    let poll_path = format!("/api/v1/jobs/{id}/progress");
    let every = Duration::from_secs(args.poll_secs.max(1));
    let n = args.watchers;
    let per_watcher_minute = |cpu: u64, secs: f64| cpu as f64 / n as f64 * 60.0 / secs;

    // Baseline: the server with nothing open.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_cpu, idle_secs) = measure(args.server_pid, args.secs).await?;
    let idle_rate = idle_cpu as f64 / idle_secs; // µs per second
    result("watchers", n);
    result("window_secs", args.secs);
    result(
        "idle_server_cpu_ms_per_min",
        format!("{:.1}", idle_rate * 60.0 / 1000.0),
    );

    // Polling, with the job still (304s), then moving once a second (200s).
    for (mode, moving) in [("poll", false), ("poll_moving", true)] {
        // A fresh write, so the job is not flagged stalled during the window
        // (which would change its ETag); then let the 1 s response cache
        // expire, so the pollers' first answer carries it.
        writer
            .write(&id, count.fetch_add(1, Ordering::Relaxed) + 1)
            .await?;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(PollTally::default());
        let tasks = spawn_pollers(&args.addr, &poll_path, n, every, &stop, &tally);
        while tally.connected.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed)
            < n as u64
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let updates_stop = Arc::new(AtomicBool::new(!moving));
        let updates = spawn_updates(
            writer.clone(),
            id.clone(),
            count.clone(),
            updates_stop.clone(),
        );
        // Let every poller reach its steady pace.
        tokio::time::sleep(every + Duration::from_secs(1)).await;
        let (ok0, nm0) = (
            tally.ok.load(Ordering::Relaxed),
            tally.not_modified.load(Ordering::Relaxed),
        );
        let (cpu, secs) = measure(args.server_pid, args.secs).await?;
        let (ok, nm) = (
            tally.ok.load(Ordering::Relaxed) - ok0,
            tally.not_modified.load(Ordering::Relaxed) - nm0,
        );
        updates_stop.store(true, Ordering::Relaxed);
        stop.store(true, Ordering::Relaxed);
        result(
            &format!("{mode}_connected"),
            tally.connected.load(Ordering::Relaxed),
        );
        result(
            &format!("{mode}_failed"),
            tally.failed.load(Ordering::Relaxed) + tally.other.load(Ordering::Relaxed),
        );
        result(&format!("{mode}_requests_200"), ok);
        result(&format!("{mode}_requests_304"), nm);
        result(
            &format!("{mode}_requests_per_sec"),
            format!("{:.0}", (ok + nm) as f64 / secs),
        );
        result(
            &format!("{mode}_server_cpu_pct"),
            format!("{:.1}", cpu as f64 / 1e4 / secs),
        );
        result(
            &format!("{mode}_us_per_request"),
            format!("{:.1}", cpu as f64 / (ok + nm).max(1) as f64),
        );
        result(
            &format!("{mode}_us_per_watcher_min"),
            format!("{:.0}", per_watcher_minute(cpu, secs)),
        );
        result(
            &format!("{mode}_net_us_per_watcher_min"),
            format!(
                "{:.0}",
                per_watcher_minute(cpu.saturating_sub((idle_rate * secs) as u64), secs)
            ),
        );
        drop(tasks);
        let _ = updates.await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // Streams, the job moving once a second.
    let tally = Arc::new(Tally::default());
    let paths = vec![format!("/api/v1/jobs/{id}/events")];
    let tasks = open_streams(&args.addr, &paths, n, 200, false, &tally, |_, _, _, _| {}).await;
    let updates_stop = Arc::new(AtomicBool::new(false));
    let updates = spawn_updates(
        writer.clone(),
        id.clone(),
        count.clone(),
        updates_stop.clone(),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let events0 = tally.events.load(Ordering::Relaxed);
    let (cpu, secs) = measure(args.server_pid, args.secs).await?;
    let events = tally.events.load(Ordering::Relaxed) - events0;
    updates_stop.store(true, Ordering::Relaxed);
    let open_at_end = tally.opened.load(Ordering::Relaxed) - tally.ended.load(Ordering::Relaxed);
    result("sse_opened", tally.opened.load(Ordering::Relaxed));
    result("sse_failed", tally.failed.load(Ordering::Relaxed));
    result("sse_open_at_end", open_at_end);
    result("sse_events", events);
    result("sse_events_per_sec", format!("{:.0}", events as f64 / secs));
    result(
        "sse_server_cpu_pct",
        format!("{:.1}", cpu as f64 / 1e4 / secs),
    );
    result(
        "sse_us_per_event",
        format!("{:.1}", cpu as f64 / events.max(1) as f64),
    );
    result(
        "sse_us_per_watcher_min",
        format!("{:.0}", per_watcher_minute(cpu, secs)),
    );
    result(
        "sse_net_us_per_watcher_min",
        format!(
            "{:.0}",
            per_watcher_minute(cpu.saturating_sub((idle_rate * secs) as u64), secs)
        ),
    );
    drop(tasks);
    let _ = updates.await;
    std::process::exit(0);
}
