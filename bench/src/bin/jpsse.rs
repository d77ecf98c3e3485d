//! The live-push helpers of the benchmark suite (`bench/run.sh` drives
//! them; the polling helpers are in `jpbench`).
//!
//! - `latency`: scenario 7, streams on a set of jobs that a writer updates;
//!   the time from just before each Redis write to the moment each stream
//!   has parsed that event.
//! - `streams`: scenarios 8 and 9, many streams held open (server RSS and
//!   its Redis connections), then a few updates of their job fanned out to
//!   all of them (time to the first and to the last stream).
//! - `cpu`: scenario 10, server CPU per watcher: polling with
//!   `If-None-Match` against streams receiving an update a second.
//!
//! Writes go straight through the library's `RedisStore::write` (the write
//! script that stores, indexes and publishes), so the writer and the
//! clients share one process and one monotonic clock. The streams are raw
//! TCP sockets speaking plain HTTP/1.1, one connection each, decoding the
//! chunked body and splitting events on blank lines.
//!
//! Every result is printed on stdout as `RESULT<TAB>name<TAB>value`.

#[path = "../http1.rs"]
mod http1;
#[path = "../measure.rs"]
mod measure;

use measure::{percentile, result, vm_rss_kib};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use job_progress::{
    domain::{JobId, JobStatus, ProgressRecord},
    store::{HotStore as _, Keys, RedisStore, Ttls},
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    sync::Semaphore,
};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scenario 7: per-event delivery latency, writer to client.
    Latency(LatencyArgs),
    /// Scenarios 8 and 9: many open streams; memory, Redis connections,
    /// fan-out of an update.
    Streams(StreamsArgs),
    /// Scenario 10: server CPU per watcher, polling against streaming.
    Cpu(CpuArgs),
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

// ---------------------------------------------------------------- the server process

/// User + system CPU time of a process (utime + stime of /proc/<pid>/stat,
/// in ticks of 10 ms), in µs.
fn cpu_us(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').context("unexpected stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(ticks * 10_000)
}

/// The local ports of the TCP connections process `pid` holds to
/// `remote_port` (its sockets in /proc/<pid>/fd, matched by inode against
/// /proc/<pid>/net/tcp and tcp6).
fn tcp_ports_to(pid: u32, remote_port: u16) -> anyhow::Result<Vec<u16>> {
    let mut inodes = std::collections::HashSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(link) = std::fs::read_link(fd?.path()) else {
            continue;
        };
        if let Some(inode) = link
            .to_str()
            .and_then(|l| l.strip_prefix("socket:["))
            .and_then(|l| l.strip_suffix(']'))
        {
            inodes.insert(inode.to_owned());
        }
    }
    let port_of = |addr: &str| {
        addr.rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
    };
    let mut ports = Vec::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() < 10 || f[3] != "01" {
                continue; // not ESTABLISHED
            }
            if port_of(f[2]) == Some(remote_port) && inodes.contains(f[9]) {
                ports.extend(port_of(f[1]));
            }
        }
    }
    Ok(ports)
}

/// The server's connections as Redis sees them: the `CLIENT LIST` entries
/// whose port is one of the server's sockets to Redis; returns how many and
/// their last commands (`subscribe` is the bus, the rest the store).
async fn server_redis_clients(
    conn: &mut redis::aio::MultiplexedConnection,
    server_pid: u32,
    redis_port: u16,
) -> anyhow::Result<(usize, String)> {
    let ports = tcp_ports_to(server_pid, redis_port)?;
    let list: String = redis::cmd("CLIENT").arg("LIST").query_async(conn).await?;
    let mut cmds: Vec<String> = Vec::new();
    for line in list.lines() {
        let field = |name: &str| {
            line.split(' ')
                .find_map(|f| f.strip_prefix(name))
                .map(str::to_owned)
        };
        let port = field("addr=")
            .and_then(|a| a.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()));
        if port.is_some_and(|p| ports.contains(&p)) {
            cmds.push(field("cmd=").unwrap_or_default());
        }
    }
    cmds.sort();
    Ok((cmds.len(), cmds.join(",")))
}

// ---------------------------------------------------------------- writes

#[derive(Args, Clone)]
struct Store {
    #[arg(long, env = "REDIS_URL")]
    redis_url: String,
    #[arg(long, env = "KEY_PREFIX")]
    key_prefix: String,
}

/// Writes records of in-progress jobs the way a worker's flush does: one
/// `RedisStore::write` (store, index, publish in one script call).
struct Writer {
    store: RedisStore,
    started_at: DateTime<Utc>,
}

impl Writer {
    fn new(store: &Store) -> anyhow::Result<Self> {
        // Set-up and measurement alike: a generous timeout, never hit.
        let store = RedisStore::new(
            &store.redis_url,
            Keys::new(store.key_prefix.clone()),
            Ttls::default(),
            Duration::from_secs(2),
        )?;
        Ok(Self {
            store,
            started_at: Utc::now(),
        })
    }

    /// Stores `id` as having processed `count` targets (the count says which
    /// write a client got).
    async fn write(&self, id: &JobId, count: u64) -> anyhow::Result<()> {
        let mut record = ProgressRecord::new(id.clone(), JobStatus::InProgress, 1_000_000_000);
        record.current_sent_count = count;
        record.success_count = count;
        record.started_at = Some(self.started_at);
        record.updated_at = Some(Utc::now());
        let written = self.store.write(&record.normalized()).await?;
        if !matches!(written, job_progress::store::HotWrite::Written { .. }) {
            bail!("write {count} of {id} refused as stale");
        }
        Ok(())
    }
}

fn job_ids(prefix: &str, n: u64) -> anyhow::Result<Vec<JobId>> {
    (0..n)
        .map(|i| Ok(JobId::parse(format!("{prefix}{i}"))?))
        .collect()
}

/// When each write (job index, count) was sent: just before its
/// `RedisStore::write`.
type SentAt = Arc<Mutex<HashMap<(usize, u64), Instant>>>;

// ---------------------------------------------------------------- SSE client

/// One event as parsed: its `event:` name (`message` when absent) and data.
struct Event {
    kind: String,
    data: String,
}

impl Event {
    /// The `jobId` of the record in the data.
    fn job_id(&self) -> Option<&str> {
        let at = self.data.find("\"jobId\":\"")? + "\"jobId\":\"".len();
        let len = self.data[at..].find('"')?;
        Some(&self.data[at..at + len])
    }

    /// `currentSentCount` of the record in the data.
    fn count(&self) -> Option<u64> {
        let at = self.data.find("\"currentSentCount\":")? + "\"currentSentCount\":".len();
        let digits: String = self.data[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    }
}

/// A stream of Server-Sent Events over one plain HTTP/1.1 connection.
struct SseClient {
    stream: TcpStream,
    /// Bytes read and not yet decoded (chunk framing included).
    raw: Vec<u8>,
    /// Decoded body not yet split into events.
    body: Vec<u8>,
    chunked: bool,
    /// ACK every read at once (`TCP_QUICKACK`), instead of the kernel's
    /// delayed ACK: a diagnosis of the server's Nagle setting.
    quickack: bool,
}

/// Asks the kernel to ACK what arrived at once; it falls back to delayed
/// ACKs by itself, so this is renewed after every read.
fn quickack(stream: &TcpStream) {
    use std::os::fd::AsRawFd as _;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket and a pointer to an int of the size given.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&raw const one).cast(),
            std::mem::size_of_val(&one) as libc::socklen_t,
        );
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl SseClient {
    /// Connects, asks for `path`, reads the head; fails unless 200.
    async fn open(addr: &str, path: &str, quickack: bool) -> anyhow::Result<Self> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: jpsse\r\n\
             Accept: text/event-stream\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::with_capacity(2048);
        let end = loop {
            if stream.read_buf(&mut raw).await? == 0 {
                bail!("closed before the head");
            }
            if let Some(end) = find(&raw, b"\r\n\r\n") {
                break end;
            }
        };
        let head = std::str::from_utf8(&raw[..end])?.to_owned();
        let status = head.split(' ').nth(1).unwrap_or("");
        if status != "200" {
            bail!("status {status}");
        }
        let chunked = head.lines().any(|l| {
            l.split_once(':').is_some_and(|(n, v)| {
                n.eq_ignore_ascii_case("transfer-encoding")
                    && v.trim().eq_ignore_ascii_case("chunked")
            })
        });
        raw.drain(..end + 4);
        Ok(Self {
            stream,
            raw,
            body: Vec::with_capacity(1024),
            chunked,
            quickack,
        })
    }

    /// Moves whole chunks from `raw` to `body`; `false` at the last chunk.
    fn decode(&mut self) -> anyhow::Result<bool> {
        if !self.chunked {
            self.body.append(&mut self.raw);
            return Ok(true);
        }
        while let Some(line_end) = find(&self.raw, b"\r\n") {
            let size_text = std::str::from_utf8(&self.raw[..line_end])?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .with_context(|| format!("bad chunk size {size_text:?}"))?;
            if size == 0 {
                return Ok(false);
            }
            let need = line_end + 2 + size + 2;
            if self.raw.len() < need {
                break;
            }
            self.body
                .extend_from_slice(&self.raw[line_end + 2..line_end + 2 + size]);
            self.raw.drain(..need);
        }
        Ok(true)
    }

    /// The next event (comments and `retry:` alone are skipped); `None`
    /// when the server ended the stream.
    async fn next(&mut self) -> anyhow::Result<Option<Event>> {
        loop {
            while let Some(end) = find(&self.body, b"\n\n") {
                let block: Vec<u8> = self.body.drain(..end + 2).collect();
                let (mut kind, mut data, mut any) = (String::from("message"), String::new(), false);
                for line in std::str::from_utf8(&block)?.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        if any && !data.is_empty() {
                            data.push('\n');
                        }
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        any = true;
                    }
                }
                if any {
                    return Ok(Some(Event { kind, data }));
                }
            }
            if !self.decode()? {
                return Ok(None);
            }
            if find(&self.body, b"\n\n").is_some() {
                continue;
            }
            if self.stream.read_buf(&mut self.raw).await? == 0 {
                return Ok(None);
            }
            if self.quickack {
                quickack(&self.stream);
            }
        }
    }
}

/// Counters every stream task shares.
#[derive(Default)]
struct Tally {
    opened: AtomicU64,
    failed: AtomicU64,
    ended: AtomicU64,
    events: AtomicU64,
}

/// Opens `n` streams (stream i on `paths[i % paths.len()]`), `gate` at a
/// time, each handing every `progress` event's count and arrival time to
/// `on_event(stream, job, event, at)`; returns once each has its first
/// event or failed (or after two minutes).
async fn open_streams<F>(
    addr: &str,
    paths: &[String],
    n: usize,
    gate: usize,
    quickack: bool,
    tally: &Arc<Tally>,
    on_event: F,
) -> tokio::task::JoinSet<()>
where
    F: Fn(usize, usize, &Event, Instant) + Send + Sync + Clone + 'static,
{
    let gate = Arc::new(Semaphore::new(gate));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (addr, job) = (addr.to_owned(), i % paths.len());
        let path = paths[job].clone();
        let (gate, tally, on_event) = (gate.clone(), tally.clone(), on_event.clone());
        tasks.spawn(async move {
            let permit = gate.acquire_owned().await;
            let opened = tokio::time::timeout(Duration::from_secs(20), async {
                let mut client = SseClient::open(&addr, &path, quickack).await?;
                let first = client.next().await?.context("no first event")?;
                anyhow::Ok((client, first))
            })
            .await;
            drop(permit);
            let Ok(Ok((mut client, _snapshot))) = opened else {
                tally.failed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            tally.opened.fetch_add(1, Ordering::Relaxed);
            while let Ok(Some(event)) = client.next().await {
                let at = Instant::now();
                if event.kind == "progress" {
                    tally.events.fetch_add(1, Ordering::Relaxed);
                    on_event(i, job, &event, at);
                }
            }
            tally.ended.fetch_add(1, Ordering::Relaxed);
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while (tally.opened.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed)) < n as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tasks
}

fn event_paths(ids: &[JobId]) -> Vec<String> {
    ids.iter()
        .map(|id| format!("/api/v1/jobs/{id}/events"))
        .collect()
}

// ---------------------------------------------------------------- latency

#[derive(Args)]
struct LatencyArgs {
    #[command(flatten)]
    store: Store,
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

async fn latency(args: LatencyArgs) -> anyhow::Result<()> {
    let writer = Writer::new(&args.store)?;
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

// ---------------------------------------------------------------- streams

#[derive(Args)]
struct StreamsArgs {
    #[command(flatten)]
    store: Store,
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
    #[arg(long, default_value = "bench-watched-")]
    id_prefix: String,
}

async fn streams(args: StreamsArgs) -> anyhow::Result<()> {
    let writer = Writer::new(&args.store)?;
    let ids = job_ids(&args.id_prefix, args.jobs)?;
    for id in &ids {
        writer.write(id, 1).await?;
    }
    let client = redis::Client::open(args.store.redis_url.as_str())?;
    let mut stats = client.get_multiplexed_async_connection().await?;
    // One read first: the store connects on first use, and "before" should
    // be a server that has served.
    let mut warm = TcpStream::connect(&args.addr).await?;
    poll_once(
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
    let started = Instant::now();
    let tasks = open_streams(
        &args.addr,
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
    let cpu_hold0 = cpu_us(args.server_pid)?;
    let hold_t0 = Instant::now();
    while Instant::now() < hold_until {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_max = rss_max.max(vm_rss_kib(args.server_pid)?);
    }
    let cpu_hold = cpu_us(args.server_pid)? - cpu_hold0;
    let hold_secs = hold_t0.elapsed().as_secs_f64();
    let idle_events = tally.events.load(Ordering::Relaxed);

    // Fan-out rounds: one write, wait until every stream of job 0 has it.
    let watchers = (opened as usize).div_ceil(ids.len()) as u64;
    let mut rounds = Vec::new();
    for round in 0..args.updates {
        let count = 2 + round;
        got.lock().unwrap().clear();
        let cpu0 = cpu_us(args.server_pid)?;
        let t0 = Instant::now();
        sent.lock().unwrap().insert((0, count), t0);
        writer.write(&ids[0], count).await?;
        let rtt = t0.elapsed().as_micros() as u64;
        let deadline = t0 + Duration::from_secs(10);
        while (got.lock().unwrap().len() as u64) < watchers && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let cpu = cpu_us(args.server_pid)? - cpu0;
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

// ---------------------------------------------------------------- cpu

#[derive(Args)]
struct CpuArgs {
    #[command(flatten)]
    store: Store,
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

/// What one keep-alive poll got: the status and the `ETag`.
async fn poll_once(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    path: &str,
    etag: Option<&str>,
) -> anyhow::Result<(u16, Option<String>)> {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: jpsse\r\n");
    if let Some(etag) = etag {
        request.push_str(&format!("If-None-Match: {etag}\r\n"));
    }
    request.push_str("\r\n");
    http1::exchange(stream, buf, request.as_bytes(), "etag").await
}

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
    writer: Arc<Writer>,
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
    let (c0, t0) = (cpu_us(pid)?, Instant::now());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    Ok((cpu_us(pid)? - c0, t0.elapsed().as_secs_f64()))
}

async fn cpu(args: CpuArgs) -> anyhow::Result<()> {
    let writer = Arc::new(Writer::new(&args.store)?);
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

// ---------------------------------------------------------------- main

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Latency(args) => latency(args).await,
        Command::Streams(args) => streams(args).await,
        Command::Cpu(args) => cpu(args).await,
    }
}
