//! `job-progress`: parses the command line and hands over to the library.

use anyhow::Context as _;
use clap::Parser as _;
use job_progress::{
    cli,
    config::{Cli, Command, TokenCommand},
    demo,
    http::tokens,
    startup::Application,
    telemetry,
};

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
