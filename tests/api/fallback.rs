//! When Redis has lost a job, or cannot be reached, PostgreSQL answers.

use std::time::{Duration, Instant};

use job_progress::{store::PgArchive, write::JobSpec};

use support::{
    DEAD_POSTGRES, DEAD_REDIS, eager, envelope, job, job_ids, spawn_app, spawn_app_with,
};

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_job_whose_key_is_gone_is_served_from_its_checkpoint(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::ZERO).await;
    let handle = app.writer(eager()).start(job("expired"), JobSpec::new(100));
    handle.record(60, 2).unwrap();
    handle.flush().await;
    app.delete_key("expired").await;

    let response = app.get_progress("expired").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-progress-source"], "database");
    let body = envelope(response).await;
    assert_eq!(body["data"]["currentSentCount"], 62);
    assert_eq!(body["data"]["successCount"], 60);
    assert_eq!(body["data"]["progressPercentage"], 62);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_completed_job_survives_redis_losing_it(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::ZERO).await;
    let handle = app.writer(eager()).start(job("done"), JobSpec::new(5));
    handle.record(5, 0).unwrap();
    let flushed = handle.complete().await.unwrap();
    assert!(flushed.hot && flushed.archive);
    app.delete_key("done").await;

    let body = envelope(app.get_progress("done").await).await;

    assert_eq!(body["data"]["status"], "completed");
    assert_eq!(body["data"]["progressPercentage"], 100);
    assert!(body["data"]["completedAt"].is_string());
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn with_redis_unreachable_reads_come_from_postgres(pool: sqlx::PgPool) {
    // Write through a working app, then read through one whose Redis is down.
    let writer_app = spawn_app(pool.clone()).await;
    let handle = writer_app
        .writer(eager())
        .start(job("far"), JobSpec::new(10));
    handle.record(3, 0).unwrap();
    handle.flush().await;
    let app = spawn_app_with(pool, |o| o.redis_url = DEAD_REDIS.into()).await;

    let single = app.get_progress("far").await;
    assert_eq!(single.status(), 200);
    assert_eq!(single.headers()["x-progress-source"], "database");
    assert_eq!(envelope(single).await["data"]["currentSentCount"], 3);

    let list = app.get_active("").await;
    assert_eq!(list.status(), 200);
    assert_eq!(list.headers()["x-progress-source"], "database");
    let body = envelope(list).await;
    assert_eq!(body["data"][0]["jobId"], "far");

    assert_eq!(app.get_progress("unknown").await.status(), 404);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_corrupt_redis_value_falls_back_and_is_skipped_in_lists(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::ZERO).await;
    let writer = app.writer(eager());
    let good = writer.start(job("good"), JobSpec::new(10));
    good.flush().await;
    let bad = writer.start(job("bad"), JobSpec::new(10));
    bad.record(7, 0).unwrap();
    bad.flush().await;
    app.set_raw("bad", "{not json").await;

    let single = app.get_progress("bad").await;
    assert_eq!(single.status(), 200, "the checkpoint answers");
    assert_eq!(single.headers()["x-progress-source"], "database");
    assert_eq!(envelope(single).await["data"]["currentSentCount"], 7);

    app.set_raw(
        "bad",
        r#"{"jobId":"bad","status":"in_progress","currentSentCount":"many"}"#,
    )
    .await;
    let list = app.get_active("").await;
    assert_eq!(list.status(), 200);
    let body = envelope(list).await;
    let ids = job_ids(&body);
    assert_eq!(ids, ["good"]);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn with_both_stores_down_the_answer_is_a_quick_503(pool: sqlx::PgPool) {
    let dead = PgArchive::connect_lazy(
        DEAD_POSTGRES,
        1,
        Duration::from_millis(300),
        Duration::from_millis(500),
    )
    .unwrap();
    let app = spawn_app_with(pool, |o| {
        o.redis_url = DEAD_REDIS.into();
        o.archive = Some(dead);
    })
    .await;

    for path in [
        "/api/v1/jobs/any/progress",
        "/api/v1/jobs/active",
        "/api/v1/schedules/active",
        "/api/v1/schedules/s1/progress",
    ] {
        let started = Instant::now();
        let response = app.get(path).await;
        let took = started.elapsed();

        assert_eq!(response.status(), 503, "{path}");
        let body = envelope(response).await;
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("temporarily unavailable"), "{message}");
        assert!(
            !message.to_lowercase().contains("redis") && !message.contains("127.0.0.1"),
            "no internals: {message}"
        );
        // Generous bound: the point is "not hung", not a benchmark.
        assert!(took < Duration::from_secs(5), "{path} took {took:?}");
    }
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn an_unreadable_value_without_a_checkpoint_is_a_clear_502(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::ZERO).await;
    app.set_raw("foreign", r#"{"id":"foreign","state":"running"}"#)
        .await;

    let response = app.get_progress("foreign").await;

    assert_eq!(response.status(), 502);
    let body = envelope(response).await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("foreign") && message.contains("format"),
        "{message}"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_eta_and_its_range_read_the_same_from_either_store(pool: sqlx::PgPool) {
    use job_progress::{
        domain::{EndRange, JobStatus, ProgressRecord},
        store::HotStore,
    };
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::ZERO).await;
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-28T10:00:00.123Z")
        .unwrap()
        .to_utc();
    let mut record = ProgressRecord::new(job("ranged"), JobStatus::InProgress, Some(100));
    record.current_sent_count = 40;
    record.success_count = 40;
    record.updated_at = Some(now);
    record.estimated_end_at = Some(now + chrono::Duration::seconds(60));
    record.estimated_end_range = Some(EndRange {
        earliest: now + chrono::Duration::seconds(50),
        latest: now + chrono::Duration::seconds(90),
    });
    app.redis().write(&record).await.unwrap();
    app.archive.checkpoint(&record).await.unwrap();

    let live = envelope(app.get_progress("ranged").await).await;
    app.delete_key("ranged").await;
    let checkpoint = envelope(app.get_progress("ranged").await).await;

    let expected = serde_json::json!({
        "earliest": "2026-11-28T10:00:50.123Z",
        "latest": "2026-11-28T10:01:30.123Z"
    });
    assert_eq!(live["data"]["estimatedEndRange"], expected);
    assert_eq!(checkpoint["data"]["estimatedEndRange"], expected);
    assert_eq!(
        checkpoint["data"]["estimatedEndAt"],
        live["data"]["estimatedEndAt"]
    );
}
