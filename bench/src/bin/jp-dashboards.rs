//! Scenario 12: what an open dashboard costs the API. Many active jobs
//! (10,000) each written once a second, and N dashboards' streams of the
//! active list's first page (`limit=50`): the server's CPU over the same
//! window with no dashboard and with N, and the difference per dashboard.
//!
//! Writes go straight through `RedisStore::write` (the write script that
//! stores, indexes and publishes), as a worker's flush does.
//!
//! With `--page`, a third window of the same length, the N streams still
//! open and the writes going on: the real dashboard page (`/`) in a
//! headless Chromium, and the CPU its renderer and the whole browser use
//! (see `measure_page`). It runs here rather than in a program of its own
//! because it must see the same writes: a second program would need a
//! second writer, or a way to share this one's pace.
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
    browser::Browser,
    measure::result,
    procfs::cpu_time,
    sse::{Event, Tally, open_streams},
    stores::{RecordWriter, RedisArgs, job_ids},
};

/// Scenario 12: API CPU per open dashboard at many active jobs.
#[derive(Parser)]
struct DashboardsArgs {
    #[command(flatten)]
    redis: RedisArgs,
    /// Server address, e.g. 127.0.0.1:18080.
    #[arg(long)]
    addr: String,
    /// Active jobs, each written once a second.
    #[arg(long, default_value_t = 10_000)]
    jobs: u64,
    /// Dashboards, each one stream of the active list's first page.
    #[arg(long, default_value_t = 100)]
    dashboards: usize,
    /// The page a dashboard shows.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Each measuring window, without and with the dashboards.
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// The server process: its CPU time from /proc.
    #[arg(long)]
    server_pid: u32,
    #[arg(long, default_value = "bench-dash-")]
    id_prefix: String,
    /// Also open the dashboard page in Chromium and measure its CPU.
    #[arg(long)]
    page: bool,
    /// The WebDriver server `--page` starts.
    #[arg(long, env = "CHROMEDRIVER", default_value = "/usr/bin/chromedriver")]
    chromedriver: String,
    /// The browser `--page` opens.
    #[arg(long, env = "CHROME_BIN", default_value = "/usr/bin/chromium")]
    chrome: String,
}

/// The rows the page shows (`PAGE` of web/overview.js).
const PAGE_ROWS: u64 = 50;

/// The sum of the Processed counts the page's rows show ("1,234 of
/// 1,000,000,000"): each write moves its job's count one forward, so the
/// sum's growth is the progress events the page received and showed.
const SHOWN_PROCESSED: &str = "return [...document.querySelectorAll('#active-rows td.processed')]
    .reduce((sum, td) => sum + Number(td.textContent.split(' ')[0].replaceAll(',', '')), 0)";

/// The writer: every job once a second, the jobs spread evenly over it
/// (a batch every 10 ms), until `stop`; counts its writes (a writer that
/// falls behind shows as fewer than `jobs` a second).
async fn write_every_second(
    writer: Arc<RecordWriter>,
    ids: Arc<Vec<JobId>>,
    stop: Arc<AtomicBool>,
    writes: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    const TICK: Duration = Duration::from_millis(10);
    let per_tick = ids.len().div_ceil(100);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut count = 1;
    while !stop.load(Ordering::Relaxed) {
        count += 1;
        for batch in ids.chunks(per_tick) {
            tick.tick().await;
            let sent = batch.iter().map(|id| writer.write(id, count));
            for written in futures_util::future::join_all(sent).await {
                written?;
            }
            writes.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// The server's CPU time, in µs.
fn server_cpu_us(pid: u32) -> anyhow::Result<u64> {
    Ok(cpu_time(pid)?.as_micros() as u64)
}

/// The server's cores busy over `secs` (CPU seconds per second), and the
/// writes made meanwhile per second.
async fn measure(pid: u32, secs: u64, writes: &AtomicU64) -> anyhow::Result<(f64, f64)> {
    let (cpu0, writes0, t0) = (
        server_cpu_us(pid)?,
        writes.load(Ordering::Relaxed),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = (server_cpu_us(pid)? - cpu0) as f64 / 1e6;
    let written = (writes.load(Ordering::Relaxed) - writes0) as f64;
    Ok((cpu / elapsed, written / elapsed))
}

/// What the page cost over its window, in cores (CPU seconds per second).
struct PageCost {
    /// The renderer processes: the page's own work (script, style,
    /// layout, paint; one renderer holds the tab, the others idle).
    renderer: f64,
    /// Every process below the driver: the renderers and the browser, GPU
    /// and network service processes.
    browser: f64,
    /// How many renderers, and processes in all.
    renderers: usize,
    processes: usize,
    /// DevTools `Performance.getMetrics`: the page's main-thread tasks (a
    /// cross-check of `renderer`, which also counts the compositor and IO
    /// threads; wall time, so a busy core stretches it), and among them
    /// script, and style recalculation with layout.
    tasks: f64,
    script: f64,
    style_layout: f64,
    /// Progress events the rows showed per second.
    shown_per_sec: f64,
    /// The connection indicator at the end ("live" while the stream is).
    state_at_end: String,
}

impl PageCost {
    fn report(&self) {
        result("page_renderer_cores", format!("{:.4}", self.renderer));
        result("page_browser_cores", format!("{:.4}", self.browser));
        result("page_renderers", self.renderers);
        result("page_browser_processes", self.processes);
        result("page_task_cores", format!("{:.4}", self.tasks));
        result("page_script_cores", format!("{:.4}", self.script));
        result(
            "page_style_layout_cores",
            format!("{:.4}", self.style_layout),
        );
        result("page_events_per_sec", format!("{:.1}", self.shown_per_sec));
        result("page_state_at_end", &self.state_at_end);
    }
}

/// `Performance.getMetrics`' `name`, in seconds.
fn metric(metrics: &serde_json::Value, name: &str) -> f64 {
    metrics["metrics"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["name"] == name))
        .and_then(|m| m["value"].as_f64())
        .unwrap_or(0.0)
}

/// Opens the dashboard in Chromium, waits until it is live (its rows shown,
/// its stream open, and an update shown after the first rows), then
/// measures it for `secs`.
async fn measure_page(args: &DashboardsArgs) -> anyhow::Result<PageCost> {
    let browser = Browser::start(&args.chromedriver, &args.chrome, 1280, 900).await?;
    browser.goto(&format!("http://{}/", args.addr)).await?;
    let rows = PAGE_ROWS.min(args.jobs);
    browser
        .wait_for(
            Duration::from_secs(30),
            "the page's rows shown and its stream open",
            &format!(
                "return document.getElementById('conn').dataset.state === 'live' \
                 && document.querySelectorAll('#active-rows tr').length === {rows}"
            ),
        )
        .await?;
    let first = browser.eval(SHOWN_PROCESSED).await?;
    browser
        .wait_for(
            Duration::from_secs(10),
            "an update shown after the first rows",
            &format!("{SHOWN_PROCESSED} > {first}"),
        )
        .await?;
    browser
        .cdp("Performance.enable", serde_json::json!({}))
        .await?;

    let sample = async || -> anyhow::Result<_> {
        let metrics = browser
            .cdp("Performance.getMetrics", serde_json::json!({}))
            .await?;
        let shown = browser.eval(SHOWN_PROCESSED).await?.as_f64().unwrap_or(0.0);
        Ok((browser.cpu()?, metrics, shown, Instant::now()))
    };
    let (cpu0, metrics0, shown0, t0) = sample().await?;
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    let (cpu1, metrics1, shown1, t1) = sample().await?;
    let state_at_end = browser
        .eval("return document.getElementById('conn').dataset.state")
        .await?;
    browser.quit().await?;

    let elapsed = (t1 - t0).as_secs_f64();
    let used = cpu1.since(&cpu0);
    for (pid, kind, secs) in &used {
        eprintln!("  chromium {kind} (pid {pid}): {:.4} cores", secs / elapsed);
    }
    let renderers: Vec<f64> = used
        .iter()
        .filter(|(_, kind, _)| *kind == "renderer")
        .map(|(.., secs)| *secs)
        .collect();
    let busy = |name| (metric(&metrics1, name) - metric(&metrics0, name)) / elapsed;
    Ok(PageCost {
        renderer: renderers.iter().sum::<f64>() / elapsed,
        browser: used.iter().map(|(.., secs)| secs).sum::<f64>() / elapsed,
        renderers: renderers.len(),
        processes: used.len(),
        tasks: busy("TaskDuration"),
        script: busy("ScriptDuration"),
        style_layout: busy("RecalcStyleDuration") + busy("LayoutDuration"),
        shown_per_sec: (shown1 - shown0) / elapsed,
        state_at_end: state_at_end.as_str().unwrap_or("?").to_owned(),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = DashboardsArgs::parse();
    let writer = Arc::new(RecordWriter::new(&args.redis)?);
    let ids = Arc::new(job_ids(&args.id_prefix, args.jobs)?);
    eprintln!("seeding {} active jobs", ids.len());
    for batch in ids.chunks(100) {
        for written in
            futures_util::future::join_all(batch.iter().map(|id| writer.write(id, 1))).await
        {
            written?;
        }
    }

    let (stop, writes) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let updates = tokio::spawn(write_every_second(
        writer.clone(),
        ids.clone(),
        stop.clone(),
        writes.clone(),
    ));
    // Two seconds for the writer to settle into its pace.
    tokio::time::sleep(Duration::from_secs(2)).await;
    eprintln!("no dashboard: {} s", args.secs);
    let (idle_cores, idle_writes) = measure(args.server_pid, args.secs, &writes).await?;

    let tally = Arc::new(Tally::default());
    let path = format!("/api/v1/jobs/active/events?limit={}", args.limit);
    let streams = open_streams(
        &args.addr,
        &[path],
        args.dashboards,
        50,
        false,
        &tally,
        |_: usize, _: usize, _: &Event, _: Instant| {},
    )
    .await;
    let opened = tally.opened.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    eprintln!("{opened} dashboards: {} s", args.secs);
    let events0 = tally.events.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let (busy_cores, busy_writes) = measure(args.server_pid, args.secs, &writes).await?;
    let events =
        (tally.events.load(Ordering::Relaxed) - events0) as f64 / t0.elapsed().as_secs_f64();
    let open_at_end = opened - tally.ended.load(Ordering::Relaxed);

    // A page that cannot be measured (no Chromium) costs its rows, not the
    // API's figures above.
    let page = if args.page {
        eprintln!("the dashboard page in Chromium: {} s", args.secs);
        measure_page(&args)
            .await
            .inspect_err(|err| {
                eprintln!("the page not measured: {err:#} (scripts/services.sh installs Chromium)")
            })
            .ok()
    } else {
        None
    };

    stop.store(true, Ordering::Relaxed);
    drop(streams);
    updates.await??;

    result("jobs", args.jobs);
    result("dashboards_requested", args.dashboards);
    result("dashboards_opened", opened);
    result("dashboards_failed", tally.failed.load(Ordering::Relaxed));
    result("dashboards_open_at_end", open_at_end);
    result("page_limit", args.limit);
    result("window_secs", args.secs);
    result("writes_per_sec_0", format!("{idle_writes:.0}"));
    result("writes_per_sec_n", format!("{busy_writes:.0}"));
    result("server_cores_0", format!("{idle_cores:.3}"));
    result("server_cores_n", format!("{busy_cores:.3}"));
    result(
        "events_per_dashboard_per_sec",
        format!("{:.1}", events / opened.max(1) as f64),
    );
    result(
        "api_cores_per_dashboard",
        format!("{:.4}", (busy_cores - idle_cores) / opened.max(1) as f64),
    );
    if let Some(page) = page {
        page.report();
    }
    std::process::exit(0);
}
