//! Bad input gets a clear 4xx envelope and changes nothing.

use support::{envelope, spawn_app};

#[sqlx::test(migrations = "migrations/postgres")]
async fn invalid_job_ids_are_refused_with_400(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let too_long = "x".repeat(129);
    for bad in [
        "bad%20id",
        "semi%3Bcolon",
        too_long.as_str(),
        "%C3%A9t%C3%A9",
        "a%2Fb",
    ] {
        let response = app.get_progress(bad).await;

        assert_eq!(response.status(), 400, "job id {bad}");
        let body = envelope(response).await;
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("invalid job id"),
            "{bad}: {body}"
        );
    }
    assert_eq!(app.hot.reads(), 0, "nothing reached the store");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_longest_valid_id_is_accepted(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get_progress(&"x".repeat(128)).await;
    assert_eq!(response.status(), 404);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn bad_paging_parameters_are_refused_with_400(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let cases = [
        ("?limit=0", "limit"),
        ("?limit=10001", "limit"),
        ("?limit=abc", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=", "limit"),
        ("?offset=-5", "offset"),
        ("?offset=1.5", "offset"),
        ("?offset=9007199254740992", "offset"),
        ("?offset=12345678901234567890123456789", "offset"),
        ("?limit=1&limit=2", "query"),
    ];
    for (query, word) in cases {
        let response = app.get_active(query).await;

        assert_eq!(response.status(), 400, "{query}");
        let body = envelope(response).await;
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(word), "{query}: {message}");
    }
    assert_eq!(app.get_active("?limit=10000&offset=0").await.status(), 200);
    assert_eq!(
        app.get_active("?offset=9007199254740991").await.status(),
        200,
        "the largest offset openapi.yaml allows"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn unknown_routes_get_a_404_envelope(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    for path in [
        "/nope",
        "/api/v1/nothing",
        "/api/v1/jobs/a/b/progress",
        "/api/v2/jobs/a/progress",
    ] {
        let response = app.get(path).await;

        assert_eq!(response.status(), 404, "{path}");
        let body = envelope(response).await;
        assert!(body["message"].as_str().unwrap().contains("/openapi.yaml"));
    }
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn invalid_schedule_ids_are_refused_with_400(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/api/v1/schedules/no%20pe/progress").await;
    assert_eq!(response.status(), 400);
    let body = envelope(response).await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid schedule id")
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn oversized_headers_get_a_431_envelope(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let response = app
        .client
        .get(format!("{}/api/v1/jobs/x/progress", app.address))
        .header("X-Padding", "a".repeat(20 * 1024))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 431);
    assert!(response.headers().contains_key("x-request-id"));
    let body = envelope(response).await;
    assert!(body["message"].as_str().unwrap().contains("16 KiB"));
    assert_eq!(app.hot.reads(), 0);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_body_sent_to_a_read_only_endpoint_is_refused_unread(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let response = app
        .client
        .put(format!("{}/api/v1/jobs/x/progress", app.address))
        .body(vec![b'x'; 4 * 1024 * 1024])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 405);
    envelope(response).await;
    assert_eq!(app.hot.writes(), 0);
}
