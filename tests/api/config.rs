//! The command line as an operator meets it: `--help` and the variables
//! each subcommand reads, through the real binary.

use std::{process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::Command,
};

/// Stands for a password in every setting that can hold one.
const MARKER: &str = "s3cret-marker";

/// The server binary, built by cargo for these tests.
fn job_progress() -> Command {
    Command::new(crate::SERVER_BINARY)
}

#[tokio::test]
async fn help_never_prints_a_secret_found_in_the_environment() {
    for subcommand in ["serve", "demo", "migrate", "watch", "ls"] {
        let output = job_progress()
            .args([subcommand, "--help"])
            .env("REDIS_URL", format!("redis://:{MARKER}@127.0.0.1:6379"))
            .env(
                "DATABASE_URL",
                format!("postgres://postgres:{MARKER}@127.0.0.1/postgres"),
            )
            .env("BUS_URL", format!("nats://user:{MARKER}@127.0.0.1:4222"))
            .env("METRICS_TOKEN", format!("{MARKER}-{MARKER}"))
            .env("TOKEN_SIGNING_KEY", format!("{MARKER}-{MARKER}-{MARKER}"))
            .env("JOB_PROGRESS_TOKEN", MARKER)
            .env(
                "JOB_PROGRESS_API",
                format!("https://user:{MARKER}@jobs.example.com"),
            )
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{subcommand} --help");
        let help = String::from_utf8(output.stdout).unwrap();
        assert!(
            !help.contains(MARKER),
            "{subcommand} --help printed a secret:\n{help}"
        );
        if subcommand == "serve" {
            // Still says which variable the setting is read from.
            for name in [
                "REDIS_URL",
                "DATABASE_URL",
                "BUS_URL",
                "METRICS_TOKEN",
                "TOKEN_SIGNING_KEY",
            ] {
                assert!(help.contains(&format!("[env: {name}")), "{name}:\n{help}");
            }
        }
    }
}

#[tokio::test]
async fn a_bus_url_that_is_refused_is_not_echoed() {
    let output = job_progress()
        .args(["serve", "--skip-migrations", "--listen-addr", "127.0.0.1:0"])
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env("BUS_URL", format!("redis://:{MARKER}@127.0.0.1:6379"))
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("BUS_URL is not a NATS URL"), "{stderr}");
    assert!(!stderr.contains(MARKER), "{stderr}");
}

#[tokio::test]
async fn the_demo_listens_on_listen_addr_like_serve() {
    // A port that was free a moment ago, so the test can tell it from the
    // demo's default (8080).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let mut demo = job_progress()
        .arg("demo")
        .arg("--data-dir")
        .arg(data.path())
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the demo starts");
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the demo prints its address")
        .unwrap()
        .expect("a line");
    let url = format!("http://127.0.0.1:{port}/");
    assert!(first.contains(&url), "{url} in {first:?}");
    let health = support::http_get(format!("{url}healthz")).await.unwrap();
    assert_eq!(health.status(), 200, "the demo answers on LISTEN_ADDR");
    demo.kill().await.unwrap();
}
