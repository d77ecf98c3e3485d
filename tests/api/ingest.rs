//! The write API: workers reporting over HTTP with a write token.

use std::time::Duration;

use job_progress::domain::JobStatus;
use serde_json::{Value, json};

use support::{
    Stores, Worker, app_with_tokens, counts, declaration, envelope, eventually, job, spawn_app_with,
};

async fn a_job_declared_reported_and_completed_over_http_reads_back_and_is_checkpointed(
    stores: Stores,
) {
    let w = app_with_tokens(stores, |_| {}).await;

    let (status, body) = w.declare("import-1", declaration(100)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["status"], "in_progress");
    assert_eq!(body["data"]["totalChunks"], 10);
    assert_eq!(body["data"]["refreshIntervalMs"], 5000);
    let (status, _) = w.declare("import-1", declaration(100)).await;
    assert_eq!(status, 200, "a repeated declaration is harmless");

    let (status, body) = w
        .report(
            "import-1",
            json!({ "successCount": 28, "failureCount": 2, "currentChunk": 3 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["currentSentCount"], 30);
    assert_eq!(body["data"]["progressPercentage"], 30);
    assert!(body["data"]["version"].as_u64().unwrap() > 0);

    let read = w.record("import-1").await;
    assert_eq!(read["successCount"], 28);
    assert_eq!(read["currentChunk"], 3);

    let (status, body) = w.complete("import-1", counts(97, 3)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "completed");
    assert_eq!(body["data"]["estimatedRemainingSeconds"], 0);
    let (status, _) = w.complete("import-1", counts(97, 3)).await;
    assert_eq!(status, 200, "a retried completion is harmless");
    let (status, body) = w.report("import-1", counts(98, 2)).await;
    assert_eq!(status, 409, "a finished job never reopens: {body}");

    let archive = w.app.archive.clone();
    eventually(
        Duration::from_secs(5),
        "the completion is checkpointed",
        || {
            let archive = archive.clone();
            async move {
                archive
                    .read(&job("import-1"))
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|r| r.status == JobStatus::Completed && r.success_count == 97)
            }
        },
    )
    .await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn writes_without_a_write_token_are_refused_and_change_nothing(pool: sqlx::PgPool) {
    let w = app_with_tokens(pool, |_| {}).await;
    let (status, body) = w
        .send_as(None, "PUT", "/api/v1/jobs/j", declaration(10))
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = w
        .send_as(
            Some(&w.tokens.read),
            "PUT",
            "/api/v1/jobs/j",
            declaration(10),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = w
        .send_as(
            Some("not-a-token"),
            "PUT",
            "/api/v1/jobs/j",
            declaration(10),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(w.app.get_progress("j").await.status(), 404, "nothing made");
    // (Another job from here: the 404 above is cached for a second.)

    w.declare("k", declaration(10)).await;
    w.report("k", counts(1, 0)).await;
    let (status, _) = w
        .send_as(
            Some(&w.tokens.read),
            "POST",
            "/api/v1/jobs/k/progress",
            counts(5, 0),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = w
        .send_as(
            None,
            "POST",
            "/api/v1/jobs/k/fail",
            json!({"errorMessage": "x"}),
        )
        .await;
    assert_eq!(status, 401);
    let read = w.record("k").await;
    assert_eq!(read["successCount"], 1, "counts unchanged");
    assert_eq!(read["status"], "in_progress", "status unchanged");
}

async fn a_retried_update_is_harmless_and_a_stale_one_is_refused(stores: Stores) {
    let w = app_with_tokens(stores, |_| {}).await;
    w.declare("r", declaration(100)).await;
    for _ in 0..2 {
        let (status, body) = w.report("r", counts(10, 1)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["currentSentCount"], 11);
    }
    let (status, body) = w.report("r", counts(5, 1)).await;
    assert_eq!(status, 409);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("may not go down"),
        "{body}"
    );
    assert_eq!(body["data"], json!({ "reason": "counts_decreased" }));
    assert_eq!(w.record("r").await["successCount"], 10, "nothing changed");

    let (status, body) = w.report("r", counts(100, 1)).await;
    assert_eq!(status, 409, "more processed than the total: {body}");
    let (status, _) = w.report("nope", counts(1, 0)).await;
    assert_eq!(status, 404, "an undeclared job");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn interleaved_updates_over_two_instances_end_with_the_right_counts_and_an_eta(
    pool: sqlx::PgPool,
) {
    let a = app_with_tokens(pool.clone(), |_| {}).await;
    let (keys, path) = (a.app.keys.clone(), a.tokens.path.clone());
    let b_app = spawn_app_with(pool, |o| {
        o.keys = Some(keys);
        o.settings.access.tokens_file = Some(path);
    })
    .await;
    let b = Worker::new(&b_app.address, b_app.client.clone(), &a.tokens.write);
    let (status, _) = a.declare("two", declaration(200)).await;
    assert_eq!(status, 201);

    // One after another, alternating instances: each answer is a later
    // version with higher counts than the one before.
    let mut last_version = 0;
    for step in 1..=20u64 {
        let worker = if step % 2 == 0 { &a.worker } else { &b };
        let (status, body) = worker.report("two", counts(step * 5, 0)).await;
        assert_eq!(status, 200, "{body}");
        let version = body["data"]["version"].as_u64().unwrap();
        assert!(version > last_version, "versions only grow");
        last_version = version;
        assert_eq!(body["data"]["currentSentCount"], step * 5);
        // The worker's pace: the estimator needs time to pass.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let read = a.record("two").await;
    assert_eq!(read["currentSentCount"], 100);
    assert!(read["estimatedEndAt"].is_string(), "an ETA: {read}");
    assert!(read["estimatedEndRange"]["latest"].is_string());
    assert!(read["ratePerSecond"].as_f64().unwrap() > 0.0);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn concurrent_updates_of_one_job_on_two_instances_lose_nothing(pool: sqlx::PgPool) {
    let a = app_with_tokens(pool.clone(), |_| {}).await;
    let (keys, path) = (a.app.keys.clone(), a.tokens.path.clone());
    let b_app = spawn_app_with(pool, |o| {
        o.keys = Some(keys);
        o.settings.access.tokens_file = Some(path);
    })
    .await;
    let b = Worker::new(&b_app.address, b_app.client.clone(), &a.tokens.write);
    a.declare("race", declaration(1000)).await;

    // Twenty reports at once, half through each instance. Each is either
    // stored or refused as stale (a higher count got in first); the
    // highest is never stale, so it must be what remains.
    // A 503 says the job was contended past the instance's retries (more
    // likely on a loaded machine): the report is retried, as the docs tell
    // a worker to, a bounded number of times.
    let reports = (1..=20u64).map(|step| {
        let worker = if step % 2 == 0 { &a.worker } else { &b };
        async move {
            let body = json!({ "successCount": step * 10, "failureCount": step });
            let mut answer = worker.report("race", body.clone()).await;
            for _ in 0..10 {
                if answer.0 != 503 {
                    break;
                }
                answer = worker.report("race", body.clone()).await;
            }
            answer
        }
    });
    let answers = futures_util::future::join_all(reports).await;
    let mut stored: Vec<(u64, u64)> = Vec::new();
    for (status, body) in &answers {
        match status {
            200 => stored.push((
                body["data"]["version"].as_u64().unwrap(),
                body["data"]["currentSentCount"].as_u64().unwrap(),
            )),
            409 => assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .contains("may not go down")
            ),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    stored.sort();
    assert!(
        stored.windows(2).all(|pair| pair[0].1 < pair[1].1),
        "later versions hold higher counts: {stored:?}"
    );
    let read = a.record("race").await;
    assert_eq!(read["successCount"], 200);
    assert_eq!(read["failureCount"], 20);
    assert_eq!(
        stored.last().map(|s| s.1),
        Some(220),
        "the highest report was stored"
    );
}

async fn a_batch_with_bad_items_applies_the_good_ones(stores: Stores) {
    let w = app_with_tokens(stores, |_| {}).await;
    for id in ["b1", "b2", "b3"] {
        w.send("PUT", &format!("/api/v1/jobs/{id}"), declaration(100))
            .await;
    }
    w.report("b3", counts(50, 0)).await;
    let (status, body) = w
        .send(
            "POST",
            "/api/v1/progress",
            json!({ "updates": [
                { "jobId": "b1", "successCount": 10, "failureCount": 0 },
                { "jobId": "b2", "successCount": "many", "failureCount": 0 },
                { "jobId": "unknown", "successCount": 1, "failureCount": 0 },
                { "jobId": "b2", "successCount": 20, "failureCount": 1, "currentChunk": 3 },
                { "jobId": "b3", "successCount": 40, "failureCount": 0 },
                { "jobId": "b1", "sucessCount": 1, "failureCount": 0 },
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let results = body["data"].as_array().unwrap();
    let statuses: Vec<u64> = results
        .iter()
        .map(|r| r["statusCode"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 400, 404, 200, 409, 400]);
    assert!(
        results[1]["message"]
            .as_str()
            .unwrap()
            .contains("updates[1].successCount"),
        "{}",
        results[1]
    );
    assert_eq!(results[4]["data"], json!({ "reason": "counts_decreased" }));
    assert_eq!(results[2]["data"], Value::Null);
    assert_eq!(results[0]["jobId"], "b1");
    assert_eq!(results[0]["data"]["successCount"], 10);
    assert_eq!(w.record("b2").await["currentSentCount"], 21);
    assert_eq!(
        w.record("b3").await["successCount"],
        50,
        "stale item refused"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn bad_bodies_get_clear_errors_naming_the_field(pool: sqlx::PgPool) {
    let w = app_with_tokens(pool, |_| {}).await;
    let cases = [
        ("PUT", "/api/v1/jobs/x", json!({}), 400, "total"),
        (
            "PUT",
            "/api/v1/jobs/x",
            json!({"total": 5, "chunks": 2}),
            400,
            "unknown field `chunks`",
        ),
        (
            "PUT",
            "/api/v1/jobs/x",
            json!({"total": 5, "status": "completed"}),
            400,
            "status",
        ),
        (
            "PUT",
            "/api/v1/jobs/x",
            json!({"total": 5, "chunkSize": 0}),
            400,
            "chunkSize",
        ),
        (
            "PUT",
            "/api/v1/jobs/x",
            json!({"total": 5, "chunkSize": null}),
            400,
            "chunkSize",
        ),
        (
            "PUT",
            "/api/v1/jobs/x",
            json!({"total": 9_007_199_254_740_992u64}),
            400,
            "total",
        ),
        (
            "PUT",
            "/api/v1/jobs/bad%20id",
            json!({"total": 5}),
            400,
            "job id",
        ),
    ];
    for (method, path, body, status, says) in cases {
        let (got, answer) = w.send(method, path, body.clone()).await;
        assert_eq!(got, status, "{method} {path} {body}: {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(says), "{message} names {says}");
    }
    w.declare("x", declaration(10)).await;
    let (status, body) = w.fail("x", json!({})).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("errorMessage"));
    let long = "e".repeat(2049);
    let (status, _) = w.fail("x", json!({ "errorMessage": long })).await;
    assert_eq!(status, 400);

    let big = json!({ "total": 5, "pad": "x".repeat(70 * 1024) });
    let (status, body) = w.declare("x", big).await;
    assert_eq!(status, 413, "{body}");
    let response = w
        .app
        .client
        .post(format!("{}/api/v1/jobs/x/progress", w.app.address))
        .bearer_auth(&w.tokens.write)
        .header("content-type", "text/plain")
        .body("successCount=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = w
        .app
        .client
        .delete(format!("{}/api/v1/jobs/x", w.app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "PUT");
    assert_eq!(
        w.record("x").await["status"],
        "in_progress",
        "nothing changed"
    );

    let (status, body) = w
        .fail("x", json!({ "errorMessage": "the provider refused the batch", "successCount": 3, "failureCount": 7 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "failed");
    assert_eq!(
        body["data"]["errorMessage"],
        "the provider refused the batch"
    );
}

async fn a_job_whose_worker_stops_reporting_shows_stalled_by_its_declared_interval(stores: Stores) {
    let w = app_with_tokens(stores, |o| o.settings.stall_floor_secs = 1).await;
    w.declare("quiet", json!({ "total": 10, "refreshIntervalMs": 100 }))
        .await;
    let (_, body) = w.report("quiet", counts(1, 0)).await;
    assert_eq!(body["data"]["stalled"], false);
    let updated = body["data"]["updatedAt"].clone();
    let app = &w.app;
    let updated = &updated;
    eventually(
        Duration::from_secs(5),
        "the job shows stalled without a heartbeat",
        || async move {
            let record = envelope(app.get_progress("quiet").await).await["data"].clone();
            assert_eq!(&record["updatedAt"], updated, "no one refreshes it");
            record["stalled"] == true
        },
    )
    .await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn checkpoints_follow_the_writer_rule_and_a_lost_job_goes_on_from_its_checkpoint(
    pool: sqlx::PgPool,
) {
    let w = app_with_tokens(pool, |_| {}).await;
    w.declare("cp", declaration(100)).await;
    let archive = w.app.archive.clone();
    let checkpoint = || {
        let archive = archive.clone();
        async move { archive.read(&job("cp")).await.unwrap() }
    };
    eventually(
        Duration::from_secs(5),
        "the declaration is checkpointed",
        || async { checkpoint().await.is_some() },
    )
    .await;
    // Counts moving within the checkpoint interval (30 s) are not sent...
    w.report("cp", counts(10, 0)).await;
    let (_, body) = w.report("cp", counts(20, 0)).await;
    assert_eq!(body["data"]["successCount"], 20);
    // ...but the status change to in progress was, once (the declaration
    // was in progress already, so the archive still holds its counts).
    assert_eq!(checkpoint().await.unwrap().success_count, 0);

    // The hot store loses the job: the next update goes on from the
    // checkpoint instead of refusing an unknown job.
    w.app.delete_key("cp").await;
    let (status, body) = w.report("cp", counts(30, 0)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["successCount"], 30);

    // A finished job known only to the archive does not reopen.
    w.complete("cp", json!({})).await;
    eventually(
        Duration::from_secs(5),
        "the completion is checkpointed",
        || async {
            checkpoint()
                .await
                .is_some_and(|r| r.status == JobStatus::Completed)
        },
    )
    .await;
    w.app.delete_key("cp").await;
    let (status, body) = w.declare("cp", declaration(100)).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = w.complete("cp", json!({})).await;
    assert_eq!(status, 200, "repeating the ending is still harmless");
}

support::on_both_stores!(
    a_job_declared_reported_and_completed_over_http_reads_back_and_is_checkpointed,
    a_retried_update_is_harmless_and_a_stale_one_is_refused,
    a_batch_with_bad_items_applies_the_good_ones,
    a_job_whose_worker_stops_reporting_shows_stalled_by_its_declared_interval,
);
