//! The server with nothing installed: the real binary with neither
//! `REDIS_URL` nor `DATABASE_URL`, restarted over its own SQLite file; and
//! `job-progress demo`.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::Command,
};

use support::{Tokens, Worker, counts, eventually, server_process::ServerProcess};

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn restarting_the_embedded_server_loses_no_checkpointed_job() {
    let data = tempfile::tempdir().unwrap();
    let tokens = Tokens::new();

    let server = ServerProcess::start(crate::SERVER_BINARY.as_ref(), data.path(), &tokens).await;
    let (_, _, ready) = server.get("/readyz").await;
    assert_eq!(ready["data"]["hot"]["store"], "in-process");
    assert_eq!(ready["data"]["archive"]["store"], "sqlite");
    for id in ["sent", "broken", "running"] {
        let (status, body) = server.declare(id, json!({"total": 100})).await;
        assert_eq!(status, 201, "{body}");
    }
    assert_eq!(server.complete("sent", counts(95, 5)).await.0, 200);
    let failure = json!({"errorMessage": "the provider said no", "successCount": 30});
    assert_eq!(server.fail("broken", failure).await.0, 200);
    assert_eq!(server.report("running", counts(40, 0)).await.0, 200);
    server.stop().await;

    let server = ServerProcess::start(crate::SERVER_BINARY.as_ref(), data.path(), &tokens).await;
    let (status, source, body) = server.get("/api/v1/jobs/sent/progress").await;
    assert_eq!((status, source.as_str()), (200, "database"), "{body}");
    assert_eq!(body["data"]["status"], "completed");
    assert_eq!(body["data"]["successCount"], 95);
    let (status, _, body) = server.get("/api/v1/jobs/broken/progress").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["status"], "failed");
    assert_eq!(body["data"]["errorMessage"], "the provider said no");
    // The running job's checkpoint is its declaration at least (a status
    // change is checkpointed at once); it comes back live at its next
    // update, which goes on from there.
    let (status, _, body) = server.get("/api/v1/jobs/running/progress").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["status"], "in_progress");
    let (status, body) = server.report("running", counts(60, 0)).await;
    assert_eq!(status, 200, "{body}");
    let (_, _, finished) = server.get("/api/v1/jobs").await;
    let listed: Vec<&str> = finished["data"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["jobId"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "both finished jobs are listed: {finished}");
    eventually(LIMIT, "the running job is live again", || async {
        let (_, source, body) = server.get("/api/v1/jobs/running/progress").await;
        source != "database" && body["data"]["successCount"] == 60
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn the_demo_serves_moving_campaigns_and_stops_cleanly_on_ctrl_c() {
    let mut demo = Command::new(crate::SERVER_BINARY)
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the demo starts");
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(LIMIT, lines.next_line())
        .await
        .expect("the demo prints its address")
        .unwrap()
        .expect("a line");
    let url = first
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .trim_end_matches('/')
        .to_owned();

    let mut token = None;
    while token.is_none() {
        let line = tokio::time::timeout(LIMIT, lines.next_line())
            .await
            .expect("the demo prints its write token")
            .unwrap()
            .expect("a line");
        token = line
            .split("Bearer ")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .map(str::to_owned);
    }
    let token = token.unwrap();

    let page = support::http_get(format!("{url}/")).await.unwrap();
    assert_eq!(page.status(), 200, "the dashboard is served");
    let worker = Worker::new(&url, support::http_client(), &token);
    let (status, body) = worker.declare("my-job", json!({"total": 1000})).await;
    assert_eq!(
        status, 201,
        "a worker reports with the printed token: {body}"
    );
    let active = |url: String| async move {
        let body: Value = support::http_get(format!("{url}/api/v1/jobs/active"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["data"].as_array().cloned().unwrap_or_default()
    };
    eventually(LIMIT, "four campaigns and mine are running", || async {
        active(url.clone()).await.len() >= 5
    })
    .await;
    let sent = |jobs: &[Value]| -> u64 {
        jobs.iter()
            .map(|job| job["currentSentCount"].as_u64().unwrap())
            .sum()
    };
    let before = sent(&active(url.clone()).await);
    eventually(LIMIT, "the campaigns move", || async {
        sent(&active(url.clone()).await) > before
    })
    .await;

    let started = Instant::now();
    let pid = demo.id().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .await
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(LIMIT, demo.wait())
        .await
        .expect("the demo stops on Ctrl-C")
        .unwrap();
    assert!(status.success(), "a clean exit: {status}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A burst of completions, then SIGTERM at once: every one reaches SQLite
/// before the process exits (the checkpoints drain on the main runtime,
/// not on the HTTP workers', which stop first).
#[tokio::test]
async fn a_stop_right_after_a_burst_of_completions_loses_none_of_them() {
    const JOBS: usize = 300;
    let data = tempfile::tempdir().unwrap();
    let tokens = Tokens::new();

    let server = ServerProcess::start(crate::SERVER_BINARY.as_ref(), data.path(), &tokens).await;
    for n in 0..JOBS {
        let id = format!("burst-{n}");
        assert_eq!(server.declare(&id, json!({"total": 10})).await.0, 201);
        let (status, body) = server.complete(&id, counts(10, 0)).await;
        assert_eq!(status, 200, "{body}");
    }
    server.stop().await;

    let server = ServerProcess::start(crate::SERVER_BINARY.as_ref(), data.path(), &tokens).await;
    let mut unfinished = Vec::new();
    for n in 0..JOBS {
        let (_, _, body) = server
            .get(&format!("/api/v1/jobs/burst-{n}/progress"))
            .await;
        if body["data"]["status"] != "completed" {
            unfinished.push(n);
        }
    }
    assert!(unfinished.is_empty(), "not checkpointed: {unfinished:?}");
    server.stop().await;
}
