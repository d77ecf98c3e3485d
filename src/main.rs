//! `job-progress`: parses the command line and hands over to the library.
//!
//! The command line (its subcommands) lives here, with the one program
//! that parses it: each subcommand's settings are the library's own
//! (`config`, `cli`, `demo`), and the library imports none of this.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use job_progress::{
    cli::{self, LsArgs, WatchArgs},
    config::{DatabaseSettings, LogFormat, ServeSettings},
    demo::{self, DemoArgs},
    http::tokens::{self, Scope},
    startup::Application,
    telemetry,
};

/// The `job-progress` command line.
#[derive(Debug, Parser)]
#[command(
    name = "job-progress",
    version,
    about = "Progress of long-running jobs: API and tools"
)]
struct Cli {
    /// Log output format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve(Box<ServeSettings>),
    /// Apply the database migrations and exit.
    Migrate(DatabaseSettings),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Follow one job to its end: a bar at a terminal, plain lines in logs,
    /// `--json` lines for programs. Exits 0 when it completes, 1 when it
    /// fails, 2 when it is unknown or stalled past --timeout, 3 when the
    /// API cannot be asked, 4 when it is cancelled.
    Watch(WatchArgs),
    /// List the active jobs.
    Ls(LsArgs),
    /// Try it with nothing installed: the server on the embedded stores,
    /// with simulated campaigns moving on its dashboard.
    Demo(DemoArgs),
}

/// `job-progress token ...`.
#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a fresh random token (first line) and the line that admits it
    /// in the tokens file (second line). The server keeps only the hash:
    /// the token is shown this once.
    New {
        /// What the token may do.
        #[arg(long, value_enum)]
        scope: Scope,
        /// Who holds it (1-64 characters of `[A-Za-z0-9._:-]`); logs and
        /// rate limits name the token by it.
        #[arg(long)]
        name: String,
    },
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match cli.command {
        Command::Serve(settings) => {
            let app = Application::build(*settings.clone()).await?;
            tracing::info!(addr = %settings.listen_addr, port = app.port(), "serving");
            app.run_until_stopped().await.context("the server failed")
        }
        Command::Migrate(settings) => {
            let archive = settings.archive()?;
            archive.migrate().await?;
            tracing::info!(archive = %archive.location(), "database migrations applied");
            Ok(())
        }
        Command::Token(TokenCommand::New { scope, name }) => {
            let made = tokens::new_token(scope, &name)?;
            eprintln!(
                "A {scope} token for {name}: hand it over now, it is not stored anywhere; \
                 then add the second line to the tokens file (TOKENS_FILE) and restart."
            );
            println!("{}\n{}", made.token, made.line);
            Ok(())
        }
        // The exit code is the answer (0 completed, 1 failed, ...).
        Command::Watch(args) => std::process::exit(cli::watch::run(args).await.into()),
        Command::Ls(args) => std::process::exit(cli::ls::run(args).await.into()),
        Command::Demo(args) => demo::run(args).await,
    }
}
