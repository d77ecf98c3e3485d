//! `job-progress demo`: the server on the embedded stores, with simulated
//! campaigns of four shapes and a staged "AI pipeline" (`pipeline.rs`)
//! written through the same [`ProgressWriter`] a worker uses, so the
//! dashboard moves the moment it opens. Needs nothing installed; Ctrl-C
//! stops it.
//!
//! The campaigns run in this process, beside the server, over the very
//! stores the server reads: the in-process hot store (streams hear of each
//! write at once) and SQLite in a folder of its own (temporary unless
//! `--data-dir` names one).

mod campaigns;
pub mod pipeline;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use clap::Args;

use crate::{
    config::ServeSettings,
    http::tokens::{Scope, new_token},
    push::{Bus, FEED_CAPACITY},
    startup::Application,
    store::{AnyArchive, MemoryStore, SqliteArchive},
    write::{ProgressWriter, WriterConfig},
};

pub use campaigns::{CAMPAIGNS, Campaign, Shape};

/// `job-progress demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Address to serve the dashboard and the API on (port 0: any free
    /// one); the same variable as `serve`'s.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Keep the demo's SQLite archive in this folder (default: a temporary
    /// one, removed on exit).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// How long the demo's workers may go silent before their job counts as
/// stalled: short, so the stalling campaign shows its badge within a
/// minute rather than the production floor's half minute after three
/// missed 15 s heartbeats.
const HEARTBEAT: Duration = Duration::from_secs(2);
const STALL_FLOOR_SECS: u64 = 10;

/// Runs the demo until SIGINT or SIGTERM.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // A temporary folder lives until the demo returns, then is removed.
    let (data_dir, _temporary) = match &args.data_dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let temporary = tempfile_dir()?;
            (temporary.path().to_path_buf(), Some(temporary))
        }
    };

    let mut settings = ServeSettings::defaults();
    settings.listen_addr = args.listen;
    settings.stall_floor_secs = STALL_FLOOR_SECS;
    // The dashboard polls and streams from this machine only.
    settings.access.rate_limit_per_second = 0;
    settings.retention_days = 0;
    // A write token of the demo's own, so a worker of yours can report to
    // it as to a real server.
    let token = new_token(Scope::Write, "demo-worker")?;
    let tokens_file = data_dir.join("tokens");
    std::fs::create_dir_all(&data_dir)
        .and_then(|()| std::fs::write(&tokens_file, format!("{}\n", token.line)))
        .with_context(|| format!("cannot write {}", tokens_file.display()))?;
    settings.access.tokens_file = Some(tokens_file);

    let hot = MemoryStore::new(settings.redis.ttls(), FEED_CAPACITY)
        .with_log_cap(settings.redis.log_cap());
    let archive = AnyArchive::sqlite_file(
        &data_dir.join(SqliteArchive::FILE_NAME),
        Duration::from_secs(2),
    )?;
    archive.migrate().await?;
    let archive = archive.shared();
    let bus = Bus::InProcess(hot.events());
    let hot = Arc::new(hot);
    let app = Application::build_with(
        &settings,
        hot.clone(),
        Arc::clone(&archive),
        Some(bus),
        None,
    )?;

    let writer = ProgressWriter::new(
        hot,
        archive,
        WriterConfig {
            heartbeat_interval: HEARTBEAT,
            ..WriterConfig::default()
        },
    );
    let mut campaigns: Vec<_> = CAMPAIGNS
        .iter()
        .map(|campaign| tokio::spawn(campaign.repeat(writer.clone())))
        .collect();
    campaigns.push(tokio::spawn(pipeline::repeat(writer.clone())));

    let url = format!("http://{}:{}/", settings.listen_addr.ip(), app.port());
    println!("job-progress demo: the dashboard is at {url}");
    println!(
        "  {} simulated campaigns (steady, slowing down, failing part-way, stalling) and \
         a staged AI pipeline; the API is at {url}api/v1/jobs/active. Ctrl-C stops.",
        CAMPAIGNS.len()
    );
    println!(
        "  Report a job of your own with this demo's write token:\n    \
         curl -X PUT -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \
         -d '{{\"total\": 1000}}' {url}api/v1/jobs/my-job\n    \
         curl -X POST -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \
         -d '{{\"successCount\": 250}}' {url}api/v1/jobs/my-job/progress",
        token = token.token
    );
    let served = app.run_until_stopped().await;
    for campaign in campaigns {
        campaign.abort();
    }
    writer.shutdown(Duration::from_secs(2)).await;
    served.context("the demo server failed")
}

/// A temporary folder for the demo's archive.
fn tempfile_dir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("job-progress-demo-")
        .tempdir()
        .context("cannot make a temporary folder for the demo's archive")
}
