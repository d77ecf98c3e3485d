//! `GET /api/v1/jobs?status=&since=&limit=&cursor=`: recently finished
//! jobs from PostgreSQL, newest first, in keyset pages.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use job_progress::{
    domain::{JobStatus, ProgressRecord},
    write::JobSpec,
};
use serde_json::Value;

use support::{Stores, TestApp, eager, envelope, job, spawn_app};

/// A finished checkpoint whose final record was written at `at`.
async fn finished(app: &TestApp, id: &str, status: JobStatus, at: DateTime<Utc>) {
    let mut record = ProgressRecord::new(job(id), status, Some(10));
    record.success_count = 9;
    record.failure_count = 1;
    record.current_sent_count = 10;
    record.started_at = Some(at - TimeDelta::minutes(5));
    record.updated_at = Some(at);
    record.completed_at = Some(at);
    if status == JobStatus::Failed {
        record.error_message = Some(format!("{id}: the provider refused the batch"));
    }
    app.archive.checkpoint(&record).await.expect("stored");
}

async fn list(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/api/v1/jobs{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    envelope(response).await["data"].clone()
}

fn ids(page: &Value) -> Vec<String> {
    page["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|job| job["jobId"].as_str().unwrap().to_owned())
        .collect()
}

async fn pages_follow_the_cursor_newest_first_without_gaps_or_repeats(stores: Stores) {
    let app = stores.spawn_with(|o| o.cache_ttl = Duration::ZERO).await;
    let now = Utc::now();
    // Two pairs written in the same microsecond: the id decides, and a
    // page boundary may fall between them.
    let at = |minutes| now - TimeDelta::minutes(minutes);
    finished(&app, "a", JobStatus::Completed, at(50)).await;
    finished(&app, "b", JobStatus::Failed, at(40)).await;
    finished(&app, "c", JobStatus::Completed, at(30)).await;
    finished(&app, "d", JobStatus::Completed, at(30)).await;
    finished(&app, "e", JobStatus::Failed, at(20)).await;
    finished(&app, "f", JobStatus::Completed, at(20)).await;
    finished(&app, "g", JobStatus::Completed, at(10)).await;
    // Running jobs are not finished ones.
    let writer = app.writer(eager());
    let running = writer.start(job("running"), JobSpec::new(10));
    running.flush().await;

    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = list(&app, &query).await;
        pages += 1;
        seen.extend(ids(&page));
        match page["nextCursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["g", "f", "e", "d", "c", "b", "a"]);
    assert_eq!(
        pages, 4,
        "7 jobs in pages of 2; the last says there is no next"
    );

    let failed = list(&app, "?status=failed").await;
    assert_eq!(ids(&failed), ["e", "b"]);
    assert_eq!(
        failed["jobs"][0]["errorMessage"],
        "e: the provider refused the batch"
    );
    assert_eq!(failed["nextCursor"], Value::Null);
    assert_eq!(ids(&list(&app, "?status=completed&limit=1").await), ["g"]);
}

async fn since_leaves_out_what_finished_before_it(stores: Stores) {
    let app = stores.spawn().await;
    let now = Utc::now();
    finished(
        &app,
        "old",
        JobStatus::Completed,
        now - TimeDelta::hours(30),
    )
    .await;
    finished(
        &app,
        "hour-ago",
        JobStatus::Completed,
        now - TimeDelta::hours(1),
    )
    .await;
    finished(
        &app,
        "fresh",
        JobStatus::Failed,
        now - TimeDelta::minutes(1),
    )
    .await;

    assert_eq!(
        ids(&list(&app, "").await),
        ["fresh", "hour-ago"],
        "24 hours by default"
    );
    let since = (now - TimeDelta::minutes(30)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert_eq!(
        ids(&list(&app, &format!("?since={since}")).await),
        ["fresh"]
    );
    let since = (now - TimeDelta::days(2)).format("%Y-%m-%dT%H:%M:%S%%2B00:00");
    assert_eq!(
        ids(&list(&app, &format!("?since={since}")).await),
        ["fresh", "hour-ago", "old"],
        "an offset instead of Z"
    );
}

async fn a_job_finished_by_a_writer_is_listed_with_its_final_counts(stores: Stores) {
    let app = stores.spawn_with(|o| o.cache_ttl = Duration::ZERO).await;
    let writer = app.writer(eager());
    let handle = writer.start(job("campaign-7"), JobSpec::new(100));
    handle.record(90, 10).unwrap();
    handle.fail("SMTP relay went away").await.unwrap();

    let page = list(&app, "").await;
    let record = &page["jobs"][0];
    assert_eq!(record["jobId"], "campaign-7");
    assert_eq!(record["status"], "failed");
    assert_eq!(record["successCount"], 90);
    assert_eq!(record["failureCount"], 10);
    assert_eq!(record["errorMessage"], "SMTP relay went away");
    assert!(record["startedAt"].is_string() && record["completedAt"].is_string());
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn bad_parameters_are_400s_that_say_which(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    for (query, names) in [
        ("?status=in_progress", "status"),
        ("?status=", "status"),
        ("?since=yesterday", "since"),
        ("?since=2026-11-28", "since"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=ten", "limit"),
        ("?cursor=abc", "cursor"),
        ("?cursor=12~not%20an%20id", "cursor"),
        ("?cursor=99999999999999999~a", "cursor"),
    ] {
        let response = app.get(&format!("/api/v1/jobs{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        let body = envelope(response).await;
        assert!(
            body["message"].as_str().unwrap().starts_with(names),
            "{query}: {body}"
        );
        assert_eq!(body["data"], Value::Null);
    }
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn an_unchanged_page_is_a_304(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    finished(&app, "x", JobStatus::Completed, Utc::now()).await;
    let first = app.get("/api/v1/jobs").await;
    assert_eq!(first.headers()["x-progress-source"], "database");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = app.get_with("/api/v1/jobs", "If-None-Match", &etag).await;
    assert_eq!(again.status(), 304);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_index_serves_a_page_from_the_cursor_on(pool: sqlx::PgPool) {
    // With a handful of rows the planner would rather scan the table;
    // forbidding that shows whether the index can serve the query at all.
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT job_id FROM job_progress \
         WHERE status IN ('failed') AND updated_at >= now() - interval '1 day' \
         AND (updated_at, job_id) < (now(), 'x') \
         ORDER BY updated_at DESC, job_id DESC LIMIT 51",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("job_progress_finished_idx"), "{plan}");
    assert!(!plan.contains("Sort"), "the index gives the order: {plan}");
}

support::on_both_stores!(
    pages_follow_the_cursor_newest_first_without_gaps_or_repeats,
    since_leaves_out_what_finished_before_it,
    a_job_finished_by_a_writer_is_listed_with_its_final_counts,
);
