//! Helper programs of the benchmark suite (`bench/run.sh` drives them).
//!
//! - `seed`: writes jobs through the real `ProgressWriter` (Redis + PostgreSQL).
//! - `writer-load`: scenario 5, many jobs updating every second.
//! - `conns`: scenario 6, many idle keep-alive connections polling slowly.
//! - `probe`: scenario 4, one request every 50 ms, logging where each
//!   answer came from (`X-Progress-Source`).
//! - `keys-listing`: scenario 3, what a `KEYS`-based listing costs next to
//!   the index the API reads.
//!
//! Every result is printed on stdout as `RESULT<TAB>name<TAB>value`; the
//! script collects those. Progress notes go to stderr.

#[path = "../http1.rs"]
mod http1;
#[path = "../measure.rs"]
mod measure;

use measure::{percentile, result, vm_rss_kib};
use std::{
    collections::HashMap,
    io::Write as _,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use job_progress::{
    domain::JobId,
    store::{Keys, PgArchive, RedisStore, Ttls},
    write::{JobSpec, ProgressWriter, WriterConfig},
};
use tokio::net::TcpStream;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write jobs through ProgressWriter and flush them to both stores.
    Seed(SeedArgs),
    /// Scenario 5: N jobs each updating every second.
    WriterLoad(WriterLoadArgs),
    /// Scenario 6: N idle keep-alive connections polling every few seconds.
    Conns(ConnsArgs),
    /// Scenario 4: poll one URL every few ms and log status and source.
    Probe(ProbeArgs),
    /// Scenario 3: time KEYS + MGET against the index + batched MGET.
    KeysListing(KeysListingArgs),
}

#[derive(Args, Clone)]
struct Stores {
    #[arg(long, env = "REDIS_URL")]
    redis_url: String,
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, env = "KEY_PREFIX")]
    key_prefix: String,
}

impl Stores {
    /// A writer as a worker has it; `redis_timeout` is the store's limit
    /// per command (100 ms in production).
    fn writer(&self, pool: u32, redis_timeout: Duration) -> anyhow::Result<ProgressWriter> {
        let redis = RedisStore::new(
            &self.redis_url,
            Keys::new(self.key_prefix.clone()),
            Ttls::default(),
            redis_timeout,
        )?;
        let pg = PgArchive::connect_lazy(
            &self.database_url,
            pool,
            Duration::from_secs(5),
            Duration::from_secs(10),
        )?;
        Ok(ProgressWriter::new(
            Arc::new(redis),
            Arc::new(pg),
            WriterConfig::default(),
        ))
    }
}

fn job_id(prefix: &str, i: u64) -> anyhow::Result<JobId> {
    Ok(JobId::parse(format!("{prefix}{i}"))?)
}

// ---------------------------------------------------------------- seed

#[derive(Args)]
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

async fn seed(args: SeedArgs) -> anyhow::Result<()> {
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

// ---------------------------------------------------------------- writer-load

#[derive(Args)]
struct WriterLoadArgs {
    #[command(flatten)]
    stores: Stores,
    #[arg(long, default_value_t = 10_000)]
    jobs: u64,
    /// Length of the measured window.
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// Time between starting the jobs and the measured window (the start
    /// writes every job to both stores at once).
    #[arg(long, default_value_t = 5)]
    warmup_secs: u64,
    #[arg(long, default_value = "bench-writer-")]
    id_prefix: String,
    /// How many value keys `MEMORY USAGE` samples.
    #[arg(long, default_value_t = 200)]
    memory_sample: u64,
}

/// User + system CPU time of this process (from /proc/self/stat, in USER_HZ
/// = 100 ticks per second, which Linux fixes for user space).
fn process_cpu() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after = stat
        .rsplit_once(')')
        .context("unexpected /proc/self/stat")?
        .1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // after ")": state is field 3, so utime (14) and stime (15) are at 11, 12.
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_millis(ticks * 10))
}

async fn redis_conn(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

/// `INFO commandstats` as command -> calls.
async fn commandstats(
    conn: &mut redis::aio::MultiplexedConnection,
) -> anyhow::Result<HashMap<String, u64>> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await?;
    let mut calls = HashMap::new();
    for line in info.lines() {
        let Some(rest) = line.strip_prefix("cmdstat_") else {
            continue;
        };
        let Some((name, stats)) = rest.split_once(':') else {
            continue;
        };
        for field in stats.split(',') {
            if let Some(n) = field.strip_prefix("calls=") {
                calls.insert(name.to_owned(), n.parse()?);
            }
        }
    }
    Ok(calls)
}

async fn info_field(
    conn: &mut redis::aio::MultiplexedConnection,
    section: &str,
    field: &str,
) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg(section).query_async(conn).await?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .with_context(|| format!("no {field} in INFO {section}"))?
        .trim()
        .parse()
        .context("not a number")
}

/// Counts the checkpoints PostgreSQL stores: a trigger on `job_progress`
/// (in the bench's own database) bumps a sequence for every row inserted or
/// updated. Exact and immediate, unlike `pg_stat_user_tables`, which each
/// backend publishes only every second or, when idle, every ten.
async fn count_checkpoints(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    for sql in [
        "CREATE SEQUENCE IF NOT EXISTS jpbench_checkpoints",
        "CREATE OR REPLACE FUNCTION jpbench_count_checkpoint() RETURNS trigger \
         LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('jpbench_checkpoints'); RETURN NULL; END $$",
        "DROP TRIGGER IF EXISTS jpbench_count ON job_progress",
        "CREATE TRIGGER jpbench_count AFTER INSERT OR UPDATE ON job_progress \
         FOR EACH ROW EXECUTE FUNCTION jpbench_count_checkpoint()",
    ] {
        sqlx::query(sql).execute(pool).await?;
    }
    Ok(())
}

async fn pg_checkpoints(pool: &sqlx::PgPool) -> anyhow::Result<i64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM jpbench_checkpoints",
    )
    .fetch_one(pool)
    .await?;
    Ok(n)
}

async fn writer_load(args: WriterLoadArgs) -> anyhow::Result<()> {
    let writer = args.stores.writer(10, Duration::from_millis(100))?;
    let mut stats_conn = redis_conn(&args.stores.redis_url).await?;
    let pg = sqlx::PgPool::connect(&args.stores.database_url).await?;
    count_checkpoints(&pg).await?;
    let used_before = info_field(&mut stats_conn, "memory", "used_memory").await?;

    let updates = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.jobs as usize);
    for i in 0..args.jobs {
        let job = writer.start(
            job_id(&args.id_prefix, i)?,
            JobSpec::new(10_000_000).chunked(500, Duration::from_secs(1)),
        );
        let (updates, refused, stop) = (updates.clone(), refused.clone(), stop.clone());
        // Each job updates once a second, the jobs spread evenly over the second.
        let phase = Duration::from_micros(i * 1_000_000 / args.jobs.max(1));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(phase).await;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut chunk = 0;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                chunk += 1;
                let ok = job.set_chunk(chunk).is_ok() && job.record(495, 5).is_ok();
                if ok {
                    updates.fetch_add(1, Ordering::Relaxed);
                } else {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Keep the handle (dropping it would abandon the job).
            std::mem::forget(job);
        }));
    }
    eprintln!(
        "started {} jobs in {:.1?}; warming up {} s",
        args.jobs,
        started.elapsed(),
        args.warmup_secs
    );
    tokio::time::sleep(Duration::from_secs(args.warmup_secs)).await;

    let (u0, cpu0, cmd0, pg0, t0) = (
        updates.load(Ordering::Relaxed),
        process_cpu()?,
        commandstats(&mut stats_conn).await?,
        pg_checkpoints(&pg).await?,
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    let (u1, cpu1, cmd1, pg1, elapsed) = (
        updates.load(Ordering::Relaxed),
        process_cpu()?,
        commandstats(&mut stats_conn).await?,
        pg_checkpoints(&pg).await?,
        t0.elapsed(),
    );

    let delta =
        |name: &str| cmd1.get(name).copied().unwrap_or(0) - cmd0.get(name).copied().unwrap_or(0);
    let total: u64 = cmd1
        .iter()
        .map(|(k, v)| v - cmd0.get(k).copied().unwrap_or(0))
        .sum();
    let scripts = delta("evalsha") + delta("eval");
    // Commands a script runs are counted by Redis as well (GET, SET, and a
    // ZADD or ZREM on each of the two indexes per script call); they are not
    // round trips.
    let inner = delta("get").min(scripts)
        + delta("set").min(scripts)
        + (delta("zadd") + delta("zrem")).min(2 * scripts);
    let ours = delta("info");
    let client_commands = total - inner - ours;
    let n_updates = (u1 - u0).max(1);
    let secs = elapsed.as_secs_f64();

    // Memory, while every job is live.
    let mut sample_sum = 0u64;
    let mut sampled = 0u64;
    let step = (args.jobs / args.memory_sample.max(1)).max(1);
    let mut i = 0;
    while i < args.jobs {
        let key = format!("{}progress:{}{i}", args.stores.key_prefix, args.id_prefix);
        let bytes: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&key)
            .query_async(&mut stats_conn)
            .await?;
        if let Some(bytes) = bytes {
            sample_sum += bytes;
            sampled += 1;
        }
        i += step;
    }
    // Both indexes: by last update and by start time.
    let mut index_bytes: Option<u64> = None;
    for index in ["active", "active:by-start"] {
        let bytes: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(format!("{}{index}", args.stores.key_prefix))
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut stats_conn)
            .await?;
        index_bytes = Some(index_bytes.unwrap_or(0) + bytes.unwrap_or(0));
    }
    let used_after = info_field(&mut stats_conn, "memory", "used_memory").await?;
    let value_len: u64 = redis::cmd("STRLEN")
        .arg(format!(
            "{}progress:{}0",
            args.stores.key_prefix, args.id_prefix
        ))
        .query_async(&mut stats_conn)
        .await?;
    stop.store(true, Ordering::Relaxed);

    let per_key = sample_sum as f64 / sampled.max(1) as f64;
    let index_share = index_bytes.unwrap_or(0) as f64 / args.jobs.max(1) as f64;
    result("jobs", args.jobs);
    result("window_secs", format!("{secs:.1}"));
    result("updates", u1 - u0);
    result("updates_per_sec", format!("{:.0}", (u1 - u0) as f64 / secs));
    result("refused_updates", refused.load(Ordering::Relaxed));
    result("redis_scripts", scripts);
    result(
        "redis_scripts_per_sec",
        format!("{:.0}", scripts as f64 / secs),
    );
    result("redis_client_commands", client_commands);
    result(
        "redis_round_trips_per_update",
        format!("{:.3}", client_commands as f64 / n_updates as f64),
    );
    result(
        "redis_commands_breakdown",
        format!(
            "evalsha={} eval={} script={} get={} set={} zadd={} zrem={}",
            delta("evalsha"),
            delta("eval"),
            delta("script|load"),
            delta("get"),
            delta("set"),
            delta("zadd"),
            delta("zrem")
        ),
    );
    let cpu = cpu1.saturating_sub(cpu0);
    result("cpu_secs", format!("{:.2}", cpu.as_secs_f64()));
    result("cpu_core_share", format!("{:.3}", cpu.as_secs_f64() / secs));
    result(
        "cpu_us_per_update",
        format!("{:.1}", cpu.as_secs_f64() * 1e6 / n_updates as f64),
    );
    result("pg_checkpoints", pg1 - pg0);
    result(
        "pg_checkpoints_per_sec",
        format!("{:.1}", (pg1 - pg0) as f64 / secs),
    );
    result("value_bytes", value_len);
    result("memory_usage_value_key", format!("{per_key:.0}"));
    result("memory_usage_index_per_job", format!("{index_share:.0}"));
    result("memory_per_job", format!("{:.0}", per_key + index_share));
    result(
        "used_memory_delta_per_job",
        format!(
            "{:.0}",
            used_after.saturating_sub(used_before) as f64 / args.jobs.max(1) as f64
        ),
    );
    std::process::exit(0);
}

// ---------------------------------------------------------------- raw HTTP

/// What one request got.
struct Answer {
    status: u16,
    source: Option<String>,
}

/// Sends one keep-alive GET on `stream` and reads the whole answer.
async fn http_get(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    request: &[u8],
) -> anyhow::Result<Answer> {
    let (status, source) = http1::exchange(stream, buf, request, "x-progress-source").await?;
    Ok(Answer { status, source })
}

fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: jpbench\r\n\r\n").into_bytes()
}

// ---------------------------------------------------------------- conns

#[derive(Args)]
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

async fn conns(args: ConnsArgs) -> anyhow::Result<()> {
    let rss_before = vm_rss_kib(args.server_pid)?;
    let request: Arc<[u8]> = get_request(&args.path).into();
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
                    http_get(&mut stream, &mut buf, &request),
                )
                .await
                {
                    Ok(Ok(answer)) => {
                        mine.push(sent.elapsed().as_micros() as u64);
                        if answer.status != 200 {
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

// ---------------------------------------------------------------- probe

#[derive(Args)]
struct ProbeArgs {
    #[arg(long)]
    addr: String,
    #[arg(long)]
    path: String,
    #[arg(long, default_value_t = 50)]
    interval_ms: u64,
    #[arg(long)]
    secs: u64,
    /// Lines `epoch_ms<TAB>status<TAB>source<TAB>latency_ms` go here.
    #[arg(long)]
    out: String,
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

async fn probe(args: ProbeArgs) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args.out)?);
    let request = get_request(&args.path);
    let until = Instant::now() + Duration::from_secs(args.secs);
    let mut tick = tokio::time::interval(Duration::from_millis(args.interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(4096);
    while Instant::now() < until {
        tick.tick().await;
        let at = epoch_ms();
        let sent = Instant::now();
        let answer = async {
            if stream.is_none() {
                stream = Some(TcpStream::connect(&args.addr).await?);
            }
            http_get(stream.as_mut().expect("connected"), &mut buf, &request).await
        };
        let line = match tokio::time::timeout(Duration::from_secs(2), answer).await {
            Ok(Ok(a)) => format!(
                "{at}\t{}\t{}\t{:.2}",
                a.status,
                a.source.as_deref().unwrap_or("-"),
                sent.elapsed().as_secs_f64() * 1000.0
            ),
            Ok(Err(_)) => {
                stream = None;
                format!(
                    "{at}\terror\t-\t{:.2}",
                    sent.elapsed().as_secs_f64() * 1000.0
                )
            }
            Err(_) => {
                stream = None;
                format!(
                    "{at}\ttimeout\t-\t{:.2}",
                    sent.elapsed().as_secs_f64() * 1000.0
                )
            }
        };
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    Ok(())
}

// ---------------------------------------------------------------- keys-listing

#[derive(Args)]
struct KeysListingArgs {
    #[arg(long, env = "REDIS_URL")]
    redis_url: String,
    #[arg(long, env = "KEY_PREFIX")]
    key_prefix: String,
    #[arg(long, default_value_t = 3)]
    reps: u32,
}

async fn keys_listing(args: KeysListingArgs) -> anyhow::Result<()> {
    let mut conn = redis_conn(&args.redis_url).await?;
    let dbsize: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await?;
    let pattern = format!("{}progress:*", args.key_prefix);
    let index = format!("{}active", args.key_prefix);
    let (mut keys_t, mut mget_all_t, mut keys_total_t, mut index_t) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut found = 0;
    for _ in 0..args.reps {
        let t = Instant::now();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query_async(&mut conn)
            .await?;
        let keys_elapsed = t.elapsed();
        let t2 = Instant::now();
        let values: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        let mget_elapsed = t2.elapsed();
        found = values.iter().flatten().count();
        keys_t.push(keys_elapsed);
        mget_all_t.push(mget_elapsed);
        keys_total_t.push(keys_elapsed + mget_elapsed);

        // What the API does: the index, then MGET in batches of 500.
        let t = Instant::now();
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(&index)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await?;
        let keys: Vec<String> = members
            .iter()
            .map(|m| format!("{}progress:{m}", args.key_prefix))
            .collect();
        for batch in keys.chunks(500) {
            let _: Vec<Option<String>> =
                redis::cmd("MGET").arg(batch).query_async(&mut conn).await?;
        }
        index_t.push(t.elapsed());
    }
    let ms = |v: &mut Vec<Duration>| {
        v.sort();
        format!("{:.1}", v[v.len() / 2].as_secs_f64() * 1000.0)
    };
    result("dbsize", dbsize);
    result("keys_found_values", found);
    result("keys_ms", ms(&mut keys_t));
    result("keys_mget_all_ms", ms(&mut mget_all_t));
    result("keys_listing_total_ms", ms(&mut keys_total_t));
    result("index_listing_total_ms", ms(&mut index_t));
    Ok(())
}

// ---------------------------------------------------------------- main

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Seed(args) => seed(args).await,
        Command::WriterLoad(args) => writer_load(args).await,
        Command::Conns(args) => conns(args).await,
        Command::Probe(args) => probe(args).await,
        Command::KeysListing(args) => keys_listing(args).await,
    }
}
