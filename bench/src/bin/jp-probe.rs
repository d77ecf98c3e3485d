//! Scenario 4: one request every 50 ms through a Redis outage, logging
//! when each was sent, its status, where its answer came from
//! (`X-Progress-Source`) and how long it took; the script reads the log
//! against the outage's timeline.

use std::{
    io::Write as _,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use clap::Parser;
use job_progress_bench::http1;
use tokio::net::TcpStream;

/// Scenario 4: poll one URL every few ms and log status and source.
#[derive(Parser)]
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ProbeArgs::parse();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args.out)?);
    let request = http1::get_request(&args.path, None);
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
            let stream = stream.as_mut().expect("connected");
            http1::exchange(stream, &mut buf, &request, "x-progress-source").await
        };
        let line = match tokio::time::timeout(Duration::from_secs(2), answer).await {
            Ok(Ok((status, source))) => format!(
                "{at}\t{status}\t{}\t{:.2}",
                source.as_deref().unwrap_or("-"),
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
