//! Stopping a job: a control token asks (`POST .../cancel`), the request
//! shows on the record at once and reaches the worker with its next
//! write, and the worker acknowledges (`POST .../cancelled`, or the Rust
//! writer's `confirm_cancelled`); nothing lost on the way.

use std::time::Duration;

use job_progress::{
    domain::JobStatus,
    write::{JobSpec, WriterConfig},
};
use serde_json::json;

use support::{AppWithTokens, Stores, app_with_tokens, counts, declaration, job};

async fn uncached(stores: Stores) -> AppWithTokens {
    app_with_tokens(stores, |options| options.cache_ttl = Duration::ZERO).await
}

/// `POST .../cancel` with the control token.
async fn cancel(w: &AppWithTokens, id: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    w.send_as(
        Some(&w.tokens.control),
        "POST",
        &format!("/api/v1/jobs/{id}/cancel"),
        body,
    )
    .await
}

async fn a_cancel_reaches_the_worker_over_http_and_its_acknowledgement_ends_the_job(
    stores: Stores,
) {
    let w = uncached(stores).await;
    w.declare("campaign-9", declaration(500_000)).await;
    w.report("campaign-9", counts(50_000, 12)).await;

    let (status, body) = cancel(&w, "campaign-9", json!({"reason": "wrong audience"})).await;
    assert_eq!(status, 200, "{body}");
    let asked = &body["data"]["cancelRequested"];
    assert_eq!(asked["by"], "ops-console", "the control token's name");
    assert_eq!(asked["reason"], "wrong audience");
    assert!(asked["at"].is_string());
    assert_eq!(
        body["data"]["status"], "in_progress",
        "still running until it stops"
    );
    // Durable before the 200, like a status change.
    let archived = w
        .app
        .archive
        .read(&job("campaign-9"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        archived.cancel_requested.map(|c| c.by).as_deref(),
        Some("ops-console")
    );

    let (status, again) = cancel(&w, "campaign-9", json!({"reason": "again"})).await;
    assert_eq!(status, 200, "asking twice is harmless: {again}");
    assert_eq!(
        again["data"]["cancelRequested"]["reason"], "wrong audience",
        "the first stands"
    );

    // The worker's next report tells it.
    let (status, body) = w.report("campaign-9", counts(50_500, 12)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["cancelRequested"]["by"], "ops-console");

    let (status, body) = w
        .send(
            "POST",
            "/api/v1/jobs/campaign-9/cancelled",
            json!({"successCount": 50_600}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "cancelled");
    assert_eq!(body["data"]["successCount"], 50_600);
    let archived = w
        .app
        .archive
        .read(&job("campaign-9"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        archived.status,
        JobStatus::Cancelled,
        "durable before the 200"
    );

    let (status, body) = cancel(&w, "campaign-9", json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["data"]["reason"], "finished");
    let (status, _) = w.report("campaign-9", counts(50_700, 12)).await;
    assert_eq!(status, 409, "a cancelled job never reopens");
    let (status, body) = w
        .send("GET", "/api/v1/jobs?status=cancelled", json!(null))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["jobs"][0]["jobId"], "campaign-9");
}

async fn only_a_control_token_cancels_and_bad_input_changes_nothing(stores: Stores) {
    let w = uncached(stores).await;
    w.declare("guarded", declaration(10)).await;
    let path = "/api/v1/jobs/guarded/cancel";
    let (status, _) = w.send("POST", path, json!({})).await;
    assert_eq!(status, 403, "a write token does not control");
    let (status, _) = w
        .send_as(Some(&w.tokens.read), "POST", path, json!({}))
        .await;
    assert_eq!(status, 403, "a read token does not control");
    let (status, _) = w.send_as(None, "POST", path, json!({})).await;
    assert_eq!(status, 401);
    let (status, body) = cancel(&w, "guarded", json!({"reason": "r".repeat(501)})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("reason"),
        "{body}"
    );
    let (status, _) = cancel(&w, "nobody", json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = w
        .send_as(
            Some(&w.tokens.control),
            "POST",
            "/api/v1/jobs/guarded/progress",
            counts(1, 0),
        )
        .await;
    assert_eq!(status, 403, "a control token does not write progress");
    assert!(w.record("guarded").await.get("cancelRequested").is_none());
}

async fn a_rust_worker_hears_of_the_cancel_with_its_next_write_and_stops(stores: Stores) {
    let w = uncached(stores).await;
    let writer = w.app.writer(WriterConfig {
        flush_interval: Duration::from_millis(20),
        ..WriterConfig::default()
    });
    let handle = writer.start(job("rust-stop"), JobSpec::new(1_000));
    handle.record(10, 0).unwrap();
    handle.flush().await;
    assert!(handle.cancel_requested().is_none());

    let (status, body) = cancel(&w, "rust-stop", json!({"reason": "stop it"})).await;
    assert_eq!(status, 200, "{body}");

    // The worker goes on recording; its next write carries the news back.
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        let mut sent = 10;
        loop {
            tokio::select! {
                cancel = handle.cancellation() => break cancel,
                () = tokio::time::sleep(Duration::from_millis(10)) => {
                    sent += 1;
                    handle.record(1, 0).unwrap();
                    assert!(sent < 1_000, "the job ran to its end unstopped");
                }
            }
        }
    })
    .await
    .expect("the worker hears of the cancel");
    assert_eq!(heard.by, "ops-console");
    assert_eq!(heard.reason.as_deref(), Some("stop it"));
    // Its own writes never erased the request.
    assert_eq!(
        w.record("rust-stop").await["cancelRequested"]["by"],
        "ops-console"
    );

    handle.confirm_cancelled().await.expect("durable");
    let read = w.record("rust-stop").await;
    assert_eq!(read["status"], "cancelled");
    assert_eq!(read["cancelRequested"]["reason"], "stop it");
    assert!(writer.shutdown(Duration::from_secs(5)).await);
}

support::on_both_stores!(
    a_cancel_reaches_the_worker_over_http_and_its_acknowledgement_ends_the_job,
    only_a_control_token_cancels_and_bad_input_changes_nothing,
    a_rust_worker_hears_of_the_cancel_with_its_next_write_and_stops,
);

async fn a_job_runs_again_as_a_later_attempt_and_keeps_the_first_ones_summary(stores: Stores) {
    let w = uncached(stores).await;
    w.declare("nightly", declaration(100)).await;
    w.report("nightly", counts(40, 2)).await;
    let (status, body) = w
        .fail("nightly", json!({"errorMessage": "provider down"}))
        .await;
    assert_eq!(status, 200, "{body}");

    let mut again = declaration(100);
    again["attempt"] = json!(2);
    let (status, body) = w.declare("nightly", again).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(
        (data["attempt"].as_u64(), data["status"].as_str()),
        (Some(2), Some("in_progress"))
    );
    assert_eq!(data["successCount"], 0, "a new attempt counts from zero");
    assert_eq!(data["attempts"][0]["attempt"], 1);
    assert_eq!(data["attempts"][0]["status"], "failed");
    assert_eq!(data["attempts"][0]["errorMessage"], "provider down");
    assert_eq!(data["attempts"][0]["successCount"], 40);
    let archived = w.app.archive.read(&job("nightly")).await.unwrap().unwrap();
    assert_eq!(archived.attempt(), 2, "durable before the 200");

    let mut old = counts(50, 2);
    old["attempt"] = json!(1);
    let (status, body) = w.report("nightly", old).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["data"]["reason"], "stale_attempt");
    let mut ahead = counts(5, 0);
    ahead["attempt"] = json!(3);
    let (status, body) = w.report("nightly", ahead).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["data"]["reason"], "unknown_attempt");
    let (status, body) = w.report("nightly", counts(10, 0)).await;
    assert_eq!(status, 200, "without an attempt, the current one: {body}");

    cancel(&w, "nightly", json!({})).await;
    w.send("POST", "/api/v1/jobs/nightly/cancelled", json!({}))
        .await;
    let mut resumed = declaration(100);
    resumed["attempt"] = json!(3);
    resumed["resume"] = json!(true);
    let (status, body) = w.declare("nightly", resumed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["successCount"], 10,
        "resumed from attempt 2's counts"
    );
    assert!(
        body["data"].get("cancelRequested").is_none(),
        "attempt 2's request is over"
    );
    assert_eq!(body["data"]["attempts"][1]["status"], "cancelled");

    w.complete("nightly", json!({})).await;
    let mut after_success = declaration(100);
    after_success["attempt"] = json!(4);
    let (status, body) = w.declare("nightly", after_success).await;
    assert_eq!(status, 409, "a completed job does not run again: {body}");
    assert_eq!(body["data"]["reason"], "finished");
}

support::on_both_stores!(a_job_runs_again_as_a_later_attempt_and_keeps_the_first_ones_summary);

/// The example worker, a process of its own on Redis and PostgreSQL,
/// stops within one write of a cancel and its job ends `cancelled`.
#[sqlx::test(migrations = "migrations/postgres")]
async fn the_example_worker_process_stops_on_a_cancel(pool: sqlx::PgPool) {
    use std::process::{Command, Stdio};

    let w = app_with_tokens(pool.clone(), |o| o.cache_ttl = Duration::ZERO).await;
    let mut worker = Command::new(support::example_binary("send_campaign"))
        .args(["--job-id", "example-stop", "--total", "1000000"])
        .args(["--chunk-size", "100", "--pause-ms", "20", "--work-ms", "20"])
        .env("REDIS_URL", support::redis_url())
        .env("KEY_PREFIX", w.app.keys.prefix())
        .env("DATABASE_URL", support::database_url_for(&pool))
        .env("FLUSH_INTERVAL_MS", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the example worker starts");
    support::eventually(Duration::from_secs(20), "the worker reports", || async {
        w.record("example-stop").await["currentSentCount"]
            .as_u64()
            .is_some_and(|sent| sent > 0)
    })
    .await;

    let (status, body) = cancel(&w, "example-stop", json!({"reason": "wrong audience"})).await;
    assert_eq!(status, 200, "{body}");
    let exited = tokio::task::spawn_blocking(move || worker.wait())
        .await
        .unwrap()
        .expect("the worker exits");
    assert!(exited.success(), "{exited:?}");

    let read = w.record("example-stop").await;
    assert_eq!(read["status"], "cancelled", "{read}");
    assert_eq!(read["cancelRequested"]["reason"], "wrong audience");
    let sent = read["currentSentCount"].as_u64().unwrap();
    assert!(sent < 1_000_000, "stopped early: {sent}");
}
