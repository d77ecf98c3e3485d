//! Scheduled sends: live counts from Redis, else the checkpoint's.

use std::time::Duration;

use job_progress::{domain::ScheduleId, write::JobSpec};

use support::{eager, envelope, job, spawn_app_with};

async fn add_schedule(pool: &sqlx::PgPool, id: &str, name: &str) {
    sqlx::query("INSERT INTO schedules (id, name, scheduled_at, total_target_count) VALUES ($1, $2, now(), 100)")
        .bind(id)
        .bind(name)
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_running_schedule_shows_live_counts(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::ZERO).await;
    add_schedule(app.pool(), "sched-1", "Black Friday").await;
    add_schedule(app.pool(), "sched-idle", "Not started").await;
    let spec = JobSpec::new(100).schedule(ScheduleId::parse("sched-1").unwrap());
    let handle = app.writer(eager()).start(job("sched-job"), spec);
    handle.record(40, 1).unwrap();
    handle.flush().await;

    let response = app.get("/api/v1/schedules/active").await;

    assert_eq!(response.status(), 200);
    let body = envelope(response).await;
    let items = body["data"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only started schedules: {body}");
    assert_eq!(items[0]["scheduleId"], "sched-1");
    assert_eq!(items[0]["name"], "Black Friday");
    assert_eq!(items[0]["jobId"], "sched-job");
    assert!(items[0]["actualStartAt"].is_string());
    assert_eq!(items[0]["progressSource"], "redis");
    assert_eq!(items[0]["progress"]["currentSentCount"], 41);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn without_redis_a_schedule_shows_its_checkpoint_counts_not_zeros(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::ZERO).await;
    add_schedule(app.pool(), "sched-2", "Newsletter").await;
    let spec = JobSpec::new(100).schedule(ScheduleId::parse("sched-2").unwrap());
    let handle = app.writer(eager()).start(job("sched-job-2"), spec);
    handle.record(70, 5).unwrap();
    handle.flush().await;
    app.delete_key("sched-job-2").await;

    let one = envelope(app.get("/api/v1/schedules/sched-2/progress").await).await;
    assert_eq!(one["data"]["progressSource"], "database");
    assert_eq!(one["data"]["progress"]["currentSentCount"], 75);
    assert_eq!(one["data"]["progress"]["failureCount"], 5);

    let list = envelope(app.get("/api/v1/schedules/active").await).await;
    assert_eq!(list["data"][0]["progress"]["currentSentCount"], 75);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_finished_schedule_leaves_the_active_list(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::ZERO).await;
    add_schedule(app.pool(), "sched-3", "Done soon").await;
    let spec = JobSpec::new(2).schedule(ScheduleId::parse("sched-3").unwrap());
    let handle = app.writer(eager()).start(job("sched-job-3"), spec);
    handle.record(2, 0).unwrap();
    handle.complete().await.unwrap();

    let list = envelope(app.get("/api/v1/schedules/active").await).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let one = envelope(app.get("/api/v1/schedules/sched-3/progress").await).await;
    assert!(one["data"]["actualEndAt"].is_string());
    assert_eq!(one["data"]["progress"]["status"], "completed");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn an_unknown_schedule_is_a_404(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::ZERO).await;
    let response = app.get("/api/v1/schedules/nope/progress").await;
    assert_eq!(response.status(), 404);
    envelope(response).await;
}
