//! Liveness, readiness and the OpenAPI document.

use job_progress::store::PgArchive;
use std::time::Duration;
use support::{DEAD_POSTGRES, DEAD_REDIS, envelope, spawn_app, spawn_app_with};

fn dead_archive() -> PgArchive {
    PgArchive::connect_lazy(
        DEAD_POSTGRES,
        1,
        Duration::from_millis(300),
        Duration::from_millis(500),
    )
    .unwrap()
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn healthz_answers(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let body = envelope(app.get("/healthz").await).await;
    assert_eq!(body["data"]["status"], "ok");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn readyz_reports_each_store(pool: sqlx::PgPool) {
    let app = spawn_app(pool.clone()).await;
    let body = envelope(app.get("/readyz").await).await;
    assert_eq!(
        body["data"]["hot"],
        serde_json::json!({"store": "redis", "state": "up"})
    );
    assert_eq!(
        body["data"]["archive"],
        serde_json::json!({"store": "postgres", "state": "up"})
    );

    let no_redis = spawn_app_with(pool.clone(), |o| o.redis_url = DEAD_REDIS.into()).await;
    let response = no_redis.get("/readyz").await;
    assert_eq!(response.status(), 200, "one store is enough to serve");
    let body = envelope(response).await;
    assert_eq!(
        body["data"]["hot"],
        serde_json::json!({"store": "redis", "state": "down"})
    );
    assert_eq!(
        body["data"]["archive"],
        serde_json::json!({"store": "postgres", "state": "up"})
    );

    let neither = spawn_app_with(pool, |o| {
        o.redis_url = DEAD_REDIS.into();
        o.archive = Some(dead_archive());
    })
    .await;
    let response = neither.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body = envelope(response).await;
    assert_eq!(
        body["data"]["archive"],
        serde_json::json!({"store": "postgres", "state": "down"})
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_openapi_document_is_served(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/openapi.yaml").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.starts_with("openapi: 3"));
    for path in [
        "/api/v1/jobs/{jobId}/progress",
        "/api/v1/jobs/active",
        "/api/v1/schedules/active",
        "/api/v1/schedules/{scheduleId}/progress",
        "/healthz",
        "/readyz",
    ] {
        assert!(text.contains(path), "{path} is documented");
    }
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_sane_client_request_id_is_kept_and_others_replaced(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let kept = app
        .get_with("/healthz", "X-Request-Id", "lb-42.a:b_c")
        .await;
    assert_eq!(kept.headers()["x-request-id"], "lb-42.a:b_c");

    let replaced = app.get_with("/healthz", "X-Request-Id", "no spaces!").await;
    let id = replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(id, "no spaces!");
    let next = app.get("/healthz").await;
    assert_ne!(
        next.headers()["x-request-id"].to_str().unwrap(),
        id,
        "ids are unique"
    );
}
