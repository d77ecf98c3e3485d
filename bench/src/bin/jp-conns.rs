//! Scenario 6: N idle keep-alive connections, each polling one job every
//! few seconds; what they cost the server (RSS per connection) and what
//! the polls see (latency, errors).
//!
//! Every result is printed on stdout as `RESULT<TAB>name<TAB>value`; the
//! script collects those. Progress notes go to stderr.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use job_progress_bench::{
    http1,
    measure::{percentile, result},
    procfs::vm_rss_kib,
};
use tokio::net::TcpStream;

/// Scenario 6: N idle keep-alive connections polling every few seconds.
#[derive(Parser)]
struct ConnsArgs {
    /// Server address, e.g. 127.0.0.1:18080.
    #[arg(long)]
    addr: String,
    #[arg(long)]
    path: String,
    #[arg(long, default_value_t = 10_000)]
    conns: u64,
    /// Each connection sends one request every this many seconds.
    #[arg(long, default_value_t = 3)]
    interval_secs: u64,
    /// How long to hold all connections once open.
    #[arg(long, default_value_t = 30)]
    hold_secs: u64,
    /// The server process, whose VmRSS is sampled.
    #[arg(long)]
    server_pid: u32,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ConnsArgs::parse();
    let rss_before = vm_rss_kib(args.server_pid)?;
    let request: Arc<[u8]> = http1::get_request(&args.path, None).into();
    let connected = Arc::new(AtomicU64::new(0));
    let connect_errors = Arc::new(AtomicU64::new(0));
    let request_errors = Arc::new(AtomicU64::new(0));
    let non_200 = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let gate = Arc::new(tokio::sync::Semaphore::new(args.connect_concurrency));
    let interval = Duration::from_secs(args.interval_secs.max(1));
    let started = Instant::now();

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.conns {
        let (request, connected, connect_errors, request_errors, non_200, stop, latencies, gate) = (
            request.clone(),
            connected.clone(),
            connect_errors.clone(),
            request_errors.clone(),
            non_200.clone(),
            stop.clone(),
            latencies.clone(),
            gate.clone(),
        );
        let addr = args.addr.clone();
        tasks.spawn(async move {
            let permit = gate.acquire_owned().await;
            let stream =
                tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&addr)).await;
            drop(permit);
            let mut stream = match stream {
                Ok(Ok(s)) => s,
                _ => {
                    connect_errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            let _ = stream.set_nodelay(true);
            connected.fetch_add(1, Ordering::Relaxed);
            // Spread the polls evenly over the interval.
            let phase = interval.mul_f64((i % 1000) as f64 / 1000.0);
            tokio::time::sleep(phase).await;
            let mut buf = Vec::with_capacity(2048);
            let mut mine = Vec::new();
            let mut tick = tokio::time::interval(interval);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let sent = Instant::now();
                match tokio::time::timeout(
                    Duration::from_secs(5),
                    http1::exchange(&mut stream, &mut buf, &request, "x-progress-source"),
                )
                .await
                {
                    Ok(Ok((status, _source))) => {
                        mine.push(sent.elapsed().as_micros() as u64);
                        if status != 200 {
                            non_200.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        request_errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
            latencies.lock().unwrap().extend(mine);
        });
    }

    // Wait until every connection is open (or failed).
    let deadline = Instant::now() + Duration::from_secs(120);
    while connected.load(Ordering::Relaxed) + connect_errors.load(Ordering::Relaxed) < args.conns
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_time = started.elapsed();
    eprintln!(
        "{} connections open in {connect_time:.1?} ({} failed); holding {} s",
        connected.load(Ordering::Relaxed),
        connect_errors.load(Ordering::Relaxed),
        args.hold_secs
    );
    let hold_until = Instant::now() + Duration::from_secs(args.hold_secs);
    let (mut rss_max, mut rss_last) = (0, 0);
    while Instant::now() < hold_until {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_last = vm_rss_kib(args.server_pid)?;
        rss_max = rss_max.max(rss_last);
    }
    let open_at_end = connected.load(Ordering::Relaxed) - request_errors.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    // Tasks sleeping on their tick see the flag within one interval.
    let _ = tokio::time::timeout(interval + Duration::from_secs(6), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    drop(tasks);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = vm_rss_kib(args.server_pid)?;

    let mut lat = std::mem::take(&mut *latencies.lock().unwrap());
    lat.sort_unstable();
    let during = rss_max.max(rss_last);
    result("conns_requested", args.conns);
    result("conns_opened", connected.load(Ordering::Relaxed));
    result("conns_open_at_end", open_at_end);
    result("connect_errors", connect_errors.load(Ordering::Relaxed));
    result("request_errors", request_errors.load(Ordering::Relaxed));
    result("non_200", non_200.load(Ordering::Relaxed));
    result("connect_secs", format!("{:.1}", connect_time.as_secs_f64()));
    result("polls", lat.len());
    result(
        "poll_p50_ms",
        format!("{:.2}", percentile(&lat, 50.0) as f64 / 1000.0),
    );
    result(
        "poll_p99_ms",
        format!("{:.2}", percentile(&lat, 99.0) as f64 / 1000.0),
    );
    result("rss_before_kib", rss_before);
    result("rss_during_kib", during);
    result("rss_after_kib", rss_after);
    result(
        "rss_per_conn_bytes",
        format!(
            "{:.0}",
            (during.saturating_sub(rss_before) * 1024) as f64 / open_at_end.max(1) as f64
        ),
    );
    Ok(())
}
