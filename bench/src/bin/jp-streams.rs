//! Scenarios 8 and 9: many streams held open, idle (the server's RSS per
//! stream, its CPU, and its Redis connections before, with and after
//! them), then a few updates of job 0 fanned out to all of its streams
//! (the time to the first and to the last stream, per update).
//!
//! Writes go straight through `RedisStore::write`, so the writer and the
//! clients share one process and one monotonic clock.
//!
//! Every result is printed on stdout as `RESULT<TAB>name<TAB>value`.

use std::{
    sync::{Arc, Mutex, atomic::Ordering},
    time::{Duration, Instant},
};

use clap::Parser;
use job_progress_bench::{
    http1,
    measure::{ms, percentile, result},
    procfs::{cpu_time, vm_rss_kib},
    redis_stats::{self, server_redis_clients},
    sse::{Dial, Event, SentAt, Tally, event_paths, loopback_sources, open_streams},
    stores::{RecordWriter, RedisArgs, job_ids},
};
use tokio::net::TcpStream;

/// Scenarios 8 and 9: many open streams; memory, Redis connections,
/// fan-out of an update.
#[derive(Parser)]
struct StreamsArgs {
    #[command(flatten)]
    redis: RedisArgs,
    #[arg(long)]
    addr: String,
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// The streams are spread evenly over this many jobs.
    #[arg(long, default_value_t = 1)]
    jobs: u64,
    /// How long to hold every stream open, idle, before any update.
    #[arg(long, default_value_t = 20)]
    hold_secs: u64,
    /// Then this many updates of job 0, one at a time: each is timed until
    /// every stream of the job has it (or 10 s).
    #[arg(long, default_value_t = 0)]
    updates: u64,
    /// The server process: its VmRSS, CPU time and Redis connections.
    #[arg(long)]
    server_pid: u32,
    /// The port of the bench Redis (to find the server's connections to it).
    #[arg(long)]
    redis_port: u16,
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
    /// Client source addresses 127.0.0.2, 127.0.0.3, ...: one address has
    /// about 28,000 ephemeral ports to the server's port. Default: none up
    /// to 20,000 streams, else one per 20,000.
    #[arg(long)]
    source_addrs: Option<usize>,
    #[arg(long, default_value = "bench-watched-")]
    id_prefix: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = StreamsArgs::parse();
    let writer = RecordWriter::new(&args.redis)?;
    let ids = job_ids(&args.id_prefix, args.jobs)?;
    for id in &ids {
        writer.write(id, 1).await?;
    }
    let mut stats = redis_stats::connect(&args.redis.redis_url).await?;
    // One read first: the store connects on first use, and "before" should
    // be a server that has served.
    let mut warm = TcpStream::connect(&args.addr).await?;
    http1::poll_once(
        &mut warm,
        &mut Vec::new(),
        &format!("/api/v1/jobs/{}/progress", ids[0]),
        None,
    )
    .await?;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = vm_rss_kib(args.server_pid)?;
    let redis_before = server_redis_clients(&mut stats, args.server_pid, args.redis_port).await?;

    // (round, stream) -> µs from just before the write to the event.
    let sent: SentAt = Arc::default();
    let got = Arc::new(Mutex::new(Vec::<(u64, u64)>::new()));
    let tally = Arc::new(Tally::default());
    let on_event = {
        let (sent, got) = (sent.clone(), got.clone());
        move |_stream: usize, job: usize, event: &Event, at: Instant| {
            let Some(count) = event.count() else { return };
            if let Some(t0) = sent.lock().unwrap().get(&(job, count)).copied() {
                got.lock()
                    .unwrap()
                    .push((count, at.duration_since(t0).as_micros() as u64));
            }
        }
    };
    let sources = loopback_sources(args.streams, args.source_addrs);
    let started = Instant::now();
    let tasks = open_streams(
        Dial {
            addr: &args.addr,
            sources: &sources,
        },
        &event_paths(&ids),
        args.streams,
        args.connect_concurrency,
        false,
        &tally,
        on_event,
    )
    .await;
    let opened = tally.opened.load(Ordering::Relaxed);
    let connect_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{opened} streams open in {connect_secs:.1} s ({} failed); holding {} s",
        tally.failed.load(Ordering::Relaxed),
        args.hold_secs
    );
    let redis_during = server_redis_clients(&mut stats, args.server_pid, args.redis_port).await?;
    let hold_until = Instant::now() + Duration::from_secs(args.hold_secs);
    let mut rss_max = 0;
    let cpu_hold0 = cpu_time(args.server_pid)?.as_micros() as u64;
    let hold_t0 = Instant::now();
    while Instant::now() < hold_until {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_max = rss_max.max(vm_rss_kib(args.server_pid)?);
    }
    let cpu_hold = cpu_time(args.server_pid)?.as_micros() as u64 - cpu_hold0;
    let hold_secs = hold_t0.elapsed().as_secs_f64();
    let idle_events = tally.events.load(Ordering::Relaxed);

    // Fan-out rounds: one write, wait until every stream of job 0 has it.
    let watchers = (opened as usize).div_ceil(ids.len()) as u64;
    let mut rounds = Vec::new();
    for round in 0..args.updates {
        let count = 2 + round;
        got.lock().unwrap().clear();
        let cpu0 = cpu_time(args.server_pid)?.as_micros() as u64;
        let t0 = Instant::now();
        sent.lock().unwrap().insert((0, count), t0);
        writer.write(&ids[0], count).await?;
        let rtt = t0.elapsed().as_micros() as u64;
        let deadline = t0 + Duration::from_secs(10);
        while (got.lock().unwrap().len() as u64) < watchers && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let cpu = cpu_time(args.server_pid)?.as_micros() as u64 - cpu0;
        let mut times: Vec<u64> = got.lock().unwrap().iter().map(|&(_, us)| us).collect();
        times.sort_unstable();
        eprintln!(
            "round {round}: {} of {watchers} streams in {} ms (first {} ms)",
            times.len(),
            ms(times.last().copied().unwrap_or(0)),
            ms(times.first().copied().unwrap_or(0))
        );
        rounds.push((times, rtt, cpu));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let open_at_end = opened - tally.ended.load(Ordering::Relaxed);
    drop(tasks);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = vm_rss_kib(args.server_pid)?;
    let redis_after = server_redis_clients(&mut stats, args.server_pid, args.redis_port).await?;

    result("streams_requested", args.streams);
    result("streams_opened", opened);
    result("streams_failed", tally.failed.load(Ordering::Relaxed));
    result("source_addrs", sources.len().max(1));
    result("streams_open_at_end", open_at_end);
    result("jobs", args.jobs);
    result("connect_secs", format!("{connect_secs:.1}"));
    result("rss_before_kib", rss_before);
    result("rss_during_kib", rss_max);
    result("rss_after_kib", rss_after);
    result(
        "rss_per_stream_bytes",
        format!(
            "{:.0}",
            (rss_max.saturating_sub(rss_before) * 1024) as f64 / opened.max(1) as f64
        ),
    );
    result(
        "hold_server_cpu_pct",
        format!("{:.2}", cpu_hold as f64 / 1e4 / hold_secs),
    );
    result("hold_progress_events", idle_events);
    for (name, (n, cmds)) in [
        ("before", redis_before),
        ("during", redis_during),
        ("after", redis_after),
    ] {
        result(&format!("redis_conns_{name}"), n);
        result(&format!("redis_conns_{name}_cmds"), cmds);
    }
    if !rounds.is_empty() {
        result("fanout_watchers", watchers);
        let fmt = |pick: &dyn Fn(&Vec<u64>) -> u64| {
            rounds
                .iter()
                .map(|(t, _, _)| ms(pick(t)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        result("fanout_first_ms", fmt(&|t| t.first().copied().unwrap_or(0)));
        result("fanout_p50_ms", fmt(&|t| percentile(t, 50.0)));
        result("fanout_p99_ms", fmt(&|t| percentile(t, 99.0)));
        result("fanout_last_ms", fmt(&|t| t.last().copied().unwrap_or(0)));
        result(
            "fanout_received",
            rounds
                .iter()
                .map(|(t, _, _)| t.len().to_string())
                .collect::<Vec<_>>()
                .join(" "),
        );
        let mut last: Vec<u64> = rounds
            .iter()
            .map(|(t, _, _)| t.last().copied().unwrap_or(u64::MAX))
            .collect();
        last.sort_unstable();
        result("fanout_last_median_ms", ms(last[last.len() / 2]));
        result("fanout_last_worst_ms", ms(*last.last().unwrap_or(&0)));
        let mut first: Vec<u64> = rounds
            .iter()
            .map(|(t, _, _)| t.first().copied().unwrap_or(0))
            .collect();
        first.sort_unstable();
        result("fanout_first_median_ms", ms(first[first.len() / 2]));
        let min_received = rounds.iter().map(|(t, _, _)| t.len()).min().unwrap_or(0);
        result("fanout_min_received", min_received);
        result(
            "fanout_write_rtt_ms",
            rounds
                .iter()
                .map(|(_, rtt, _)| ms(*rtt))
                .collect::<Vec<_>>()
                .join(" "),
        );
        let mut cpu: Vec<u64> = rounds.iter().map(|(_, _, c)| *c).collect();
        cpu.sort_unstable();
        result("fanout_server_cpu_ms_median", ms(cpu[cpu.len() / 2]));
        result(
            "fanout_server_cpu_us_per_stream",
            format!("{:.1}", cpu[cpu.len() / 2] as f64 / watchers.max(1) as f64),
        );
    }
    std::process::exit(0);
}
