//! Reading progress: single job, active list, key layout.

use std::time::Duration;

use job_progress::{domain::JobStatus, write::JobSpec};

use support::{Stores, eager, envelope, job, job_ids, spawn_app, spawn_app_with};

async fn a_running_job_is_served_from_the_hot_store_with_its_counts(stores: Stores) {
    let app = stores.spawn().await;
    let writer = app.writer(eager());
    let handle = writer.start(
        job("job-1"),
        JobSpec::new(1000).chunked(500, Duration::from_secs(2)),
    );
    handle.set_chunk(1).unwrap();
    handle.record(490, 10).unwrap();
    handle.flush().await;

    let response = app.get_progress("job-1").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-progress-source"], "redis");
    assert!(response.headers().contains_key("etag"));
    assert!(response.headers().contains_key("x-request-id"));
    let body = envelope(response).await;
    let data = &body["data"];
    assert_eq!(data["jobId"], "job-1");
    assert_eq!(data["status"], "in_progress");
    assert_eq!(data["totalTargetCount"], 1000);
    assert_eq!(data["currentSentCount"], 500);
    assert_eq!(data["successCount"], 490);
    assert_eq!(data["failureCount"], 10);
    assert_eq!(data["progressPercentage"], 50);
    assert_eq!(data["totalChunks"], 2);
    assert_eq!(data["currentChunk"], 1);
    assert!(data["startedAt"].is_string());
    assert!(data["updatedAt"].is_string());
    assert!(data["completedAt"].is_null());
}

async fn an_unknown_job_is_a_404_that_says_so(stores: Stores) {
    let app = stores.spawn().await;

    let response = app.get_progress("never-started").await;

    assert_eq!(response.status(), 404);
    let body = envelope(response).await;
    assert!(body["data"].is_null());
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("never-started") && message.contains("unknown"),
        "{message}"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn ttl_follows_the_status(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());

    let running = writer.start(job("ttl-running"), JobSpec::new(10));
    running.flush().await;
    let failed = writer.start(job("ttl-failed"), JobSpec::new(10));
    failed.fail("provider down").await.unwrap();
    let done = writer.start(job("ttl-done"), JobSpec::new(10));
    done.record(10, 0).unwrap();
    done.complete().await.unwrap();

    let day = 24 * 3600;
    let running_ttl = app.ttl("ttl-running").await;
    assert!(
        (day - 60..=day).contains(&running_ttl),
        "in progress: {running_ttl}"
    );
    let failed_ttl = app.ttl("ttl-failed").await;
    assert!(
        (day - 60..=day).contains(&failed_ttl),
        "failed: {failed_ttl}"
    );
    let done_ttl = app.ttl("ttl-done").await;
    assert!(
        (3600 - 60..=3600).contains(&done_ttl),
        "completed: {done_ttl}"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_index_follows_the_values_and_prunes_expired_ones(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::ZERO).await;
    let writer = app.writer(eager());
    let a = writer.start(job("a"), JobSpec::new(10));
    let b = writer.prepare(job("b"), JobSpec::new(10));
    let c = writer.start(job("c"), JobSpec::new(10));
    a.flush().await;
    b.flush().await;
    c.flush().await;
    let mut members = app.index_members().await;
    members.sort();
    assert_eq!(members, ["a", "b", "c"]);

    assert_eq!(
        app.by_start_members().await,
        ["a", "b", "c"],
        "by start time"
    );

    // Completing removes from the indexes in the same step as the write.
    c.complete().await.unwrap();
    let mut members = app.index_members().await;
    members.sort();
    assert_eq!(members, ["a", "b"]);
    assert_eq!(app.by_start_members().await, ["a", "b"]);

    // A value that vanished (expired) is pruned from the index when listed.
    app.delete_key("a").await;
    let response = app.get_active("").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-total-count"], "1");
    let body = envelope(response).await;
    let ids = job_ids(&body);
    assert_eq!(ids, ["b"]);
    assert_eq!(body["data"][0]["status"], "preparing");
    assert_eq!(app.index_members().await, ["b"]);
    assert_eq!(app.by_start_members().await, ["b"]);
}

async fn the_active_list_is_sorted_by_start_and_paged(stores: Stores) {
    let app = stores.spawn_with(|o| o.cache_ttl = Duration::ZERO).await;
    let writer = app.writer(eager());
    let mut handles = Vec::new();
    for i in 0..5 {
        let handle = writer.start(job(&format!("job-{i}")), JobSpec::new(100));
        handle.flush().await;
        handles.push(handle);
    }

    let body = envelope(app.get_active("?limit=2&offset=1").await).await;

    let ids = job_ids(&body);
    assert_eq!(ids, ["job-1", "job-2"]);
    let all = envelope(app.get_active("").await).await;
    let statuses: Vec<_> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses.len(), 5);
    assert!(statuses.iter().all(|s| s == JobStatus::InProgress.as_str()));
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn head_is_answered_and_other_methods_are_refused(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;

    let head = app
        .client
        .head(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);

    // POST reports progress (with a write token); other methods are 405.
    let delete = app
        .client
        .delete(format!("{}/api/v1/jobs/x/progress", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 405);
    assert_eq!(delete.headers()["allow"], "GET, HEAD, POST");
    envelope(delete).await;
}

/// A GET of one job's progress is answered before routing (`http::hot`);
/// a HEAD, and an id written with `%` escapes, go through the router.
/// All of them answer alike, and count under the route's pattern.
#[sqlx::test(migrations = "migrations/postgres")]
async fn the_read_before_routing_answers_as_the_routed_one(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let handle = writer.start(job("job-1"), JobSpec::new(10));
    handle.record(4, 1).unwrap();
    handle.flush().await;

    let hot = app.get_progress("job-1").await;
    let escaped = app.get_progress("%6Aob-1").await;
    let head = app
        .client
        .head(format!("{}/api/v1/jobs/job-1/progress", app.address))
        .send()
        .await
        .unwrap();

    let names = |response: &reqwest::Response| {
        let mut names: Vec<String> = response
            .headers()
            .keys()
            .map(|name| name.as_str().to_owned())
            .filter(|name| name != "date")
            .collect();
        names.sort();
        names
    };
    assert_eq!(hot.status(), 200);
    assert_eq!(escaped.status(), 200);
    assert_eq!(head.status(), 200);
    assert_eq!(names(&hot), names(&escaped));
    assert_eq!(names(&hot), names(&head));
    assert_eq!(hot.headers()["etag"], escaped.headers()["etag"]);
    assert_eq!(hot.headers()["etag"], head.headers()["etag"]);
    let (hot, escaped) = (envelope(hot).await, envelope(escaped).await);
    assert_eq!(hot, escaped);
    assert_eq!(hot["data"]["successCount"], 4);

    // An id no route could parse is refused the same way on both paths.
    let bad_hot = app.get_progress("bad*id").await;
    let bad_routed = app.get_progress("bad%2Aid").await;
    assert_eq!(bad_hot.status(), 400);
    assert_eq!(bad_routed.status(), 400);
    assert_eq!(envelope(bad_hot).await, envelope(bad_routed).await);

    let metrics = app.get("/metrics").await.text().await.unwrap();
    let counted = |method: &str, status: u16| {
        metrics.lines().any(|line| {
            line.starts_with("job_progress_http_requests_total{")
                && line.contains(r#"route="/api/v1/jobs/{job_id}/progress""#)
                && line.contains(&format!(r#"method="{method}""#))
                && line.contains(&format!(r#"status="{status}""#))
        })
    };
    assert!(counted("GET", 200), "{metrics}");
    assert!(counted("HEAD", 200), "{metrics}");
    assert!(counted("GET", 400), "{metrics}");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_large_index_is_read_in_batches_without_losing_or_repeating_jobs(pool: sqlx::PgPool) {
    use job_progress::{domain::ProgressRecord, store::HotStore};
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::ZERO).await;
    // 2,500 jobs, all updated in the same millisecond: the hardest case for
    // a score cursor (every batch boundary falls inside one score).
    let updated = chrono::Utc::now();
    let started = updated - chrono::Duration::minutes(5);
    let writes = (0..2500).map(|i| {
        let mut record = ProgressRecord::new(
            job(&format!("bulk-{i:04}")),
            JobStatus::InProgress,
            Some(10),
        );
        record.started_at = Some(started + chrono::Duration::milliseconds(i));
        record.updated_at = Some(updated);
        let redis = app.redis().clone();
        async move { redis.write(&record).await.unwrap() }
    });
    // A few dozen at a time: 2,500 script calls at once can queue past the
    // test store's 200 ms timeout on a busy machine.
    use futures_util::StreamExt as _;
    let written: Vec<_> = futures_util::stream::iter(writes)
        .buffer_unordered(50)
        .collect()
        .await;
    assert_eq!(written.len(), 2500);

    let response = app.get_active("?limit=10000").await;

    assert_eq!(response.headers()["x-total-count"], "2500");
    let body = envelope(response).await;
    let ids = job_ids(&body);
    let expected: Vec<String> = (0..2500).map(|i| format!("bulk-{i:04}")).collect();
    assert_eq!(ids, expected, "every job once, oldest start first");

    let page = envelope(app.get_active("?limit=3&offset=2497").await).await;
    assert_eq!(job_ids(&page), ["bulk-2497", "bulk-2498", "bulk-2499"]);
}

support::on_both_stores!(
    a_running_job_is_served_from_the_hot_store_with_its_counts,
    an_unknown_job_is_a_404_that_says_so,
    the_active_list_is_sorted_by_start_and_paged,
);
