//! The rate limit and CORS.

use std::time::Duration;

use reqwest::{Method, header::HeaderMap};

use job_progress::http::tokens::{Scope, new_token};

use support::{TestApp, envelope, eventually, spawn_app_with, tokens_file};

#[sqlx::test(migrations = "migrations/postgres")]
async fn past_its_burst_a_client_gets_429_with_retry_after_and_later_gets_through(
    pool: sqlx::PgPool,
) {
    let app = spawn_app_with(pool, |o| {
        o.settings.access.rate_limit_per_second = 1;
        o.settings.access.rate_limit_burst = 2;
    })
    .await;

    let first = app.get_active("").await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-ratelimit-limit"], "2");
    assert_eq!(first.headers()["x-ratelimit-remaining"], "1");
    assert_eq!(app.get_progress("unknown").await.status(), 404);

    let refused = app.get_active("").await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry_after, 1);
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(refused.headers()["x-ratelimit-after"], "1");
    assert!(envelope(refused).await["data"].is_null());

    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "health is not limited"
    );
    assert_eq!(app.get("/readyz").await.status(), 200);

    eventually(
        Duration::from_secs(3),
        "the limit lets a request through again",
        || async { app.get_active("").await.status() == 200 },
    )
    .await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_token_has_its_own_bucket_apart_from_its_address(pool: sqlx::PgPool) {
    let made =
        job_progress::http::tokens::new_token(job_progress::http::tokens::Scope::Read, "wallboard")
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    std::fs::write(&path, format!("{}\n", made.line)).unwrap();
    let app = spawn_app_with(pool, |o| {
        o.settings.access.tokens_file = Some(path);
        o.settings.access.rate_limit_per_second = 1;
        o.settings.access.rate_limit_burst = 1;
    })
    .await;
    assert_eq!(app.get_active("").await.status(), 200);
    assert_eq!(app.get_active("").await.status(), 429);
    let with_token = app.get_bearer("/api/v1/jobs/active", &made.token).await;
    assert_eq!(with_token.status(), 200, "the token's bucket is its own");
    let again = app.get_bearer("/api/v1/jobs/active", &made.token).await;
    assert_eq!(again.status(), 429);
}

const DASHBOARD: &str = "https://dash.example.com";

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(
            Method::OPTIONS,
            format!("{}/api/v1/jobs/active", app.address),
        )
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "GET")
        .header(
            "Access-Control-Request-Headers",
            "authorization, last-event-id, if-none-match",
        )
        .send()
        .await
        .unwrap()
}

fn cors_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn cors_answers_allowed_origins_only(pool: sqlx::PgPool) {
    let unused = new_token(Scope::Read, "unused").unwrap();
    let (_dir, path) = tokens_file(&[&unused.line]);
    let app = spawn_app_with(pool, |o| {
        o.settings.access.cors_allowed_origins = vec![DASHBOARD.into()];
        o.settings.access.require_read_token = true;
        o.settings.access.tokens_file = Some(path);
    })
    .await;

    let allowed = preflight(&app, DASHBOARD).await;
    assert_eq!(allowed.status(), 200, "a preflight needs no token");
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], DASHBOARD);
    let allow_headers = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for needed in ["authorization", "last-event-id", "if-none-match"] {
        assert!(allow_headers.contains(needed), "{allow_headers}");
    }

    // Refusals carry the headers too, so the page can read why.
    let refused = app
        .get_with("/api/v1/jobs/active", "Origin", DASHBOARD)
        .await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["access-control-allow-origin"], DASHBOARD);
    let exposed = refused.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for header in [
        "etag",
        "x-progress-source",
        "x-total-count",
        "x-request-id",
        "retry-after",
    ] {
        assert!(exposed.contains(header), "{header} in {exposed}");
    }

    // Another origin is not allowed: no `Access-Control-Allow-Origin`, so
    // the browser keeps the answer from the page.
    let other = preflight(&app, "https://evil.example.com").await;
    assert!(!other.status().is_success());
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    let other = app
        .get_with("/healthz", "Origin", "https://evil.example.com")
        .await;
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn without_allowed_origins_no_cors_header_appears(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |_| {}).await;
    let response = app
        .get_with("/api/v1/jobs/active", "Origin", DASHBOARD)
        .await;
    assert_eq!(response.status(), 200);
    assert!(cors_headers(response.headers()).is_empty());
    let preflight = preflight(&app, DASHBOARD).await;
    assert!(cors_headers(preflight.headers()).is_empty());
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn missing_or_invalid_credentials_are_401_whatever_the_bucket_holds(pool: sqlx::PgPool) {
    let w = support::app_with_tokens(pool, |o| {
        o.settings.access.rate_limit_per_second = 1;
        o.settings.access.rate_limit_burst = 1;
    })
    .await;
    // The address's bucket is empty...
    assert_eq!(w.app.get_active("").await.status(), 200);
    assert_eq!(w.app.get_active("").await.status(), 429);
    // ...and a write without a usable token is still told why.
    let report = support::counts(1, 0);
    for token in [None, Some("guess")] {
        for _ in 0..3 {
            let (status, body) = w
                .send_as(token, "POST", "/api/v1/jobs/x/progress", report.clone())
                .await;
            assert_eq!(status, 401, "{token:?}: {body}");
        }
    }
    let (status, _) = w
        .send_as(
            Some(&w.tokens.read),
            "POST",
            "/api/v1/jobs/x/progress",
            report.clone(),
        )
        .await;
    assert_eq!(status, 403, "a scope refusal comes first too");
    // A valid token is limited in its own bucket.
    let (status, _) = w.report("x", report.clone()).await;
    assert_eq!(status, 404, "an undeclared job, within the limit");
    let (status, _) = w.report("x", report).await;
    assert_eq!(status, 429);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn with_read_tokens_required_a_tokenless_read_is_401_not_429(pool: sqlx::PgPool) {
    let unused = new_token(Scope::Read, "unused").unwrap();
    let (_dir, path) = tokens_file(&[&unused.line]);
    let app = spawn_app_with(pool, |o| {
        o.settings.access.tokens_file = Some(path);
        o.settings.access.require_read_token = true;
        o.settings.access.rate_limit_per_second = 1;
        o.settings.access.rate_limit_burst = 1;
    })
    .await;
    for _ in 0..4 {
        assert_eq!(app.get_active("").await.status(), 401);
        assert_eq!(
            app.get_bearer("/api/v1/jobs/active", "guess")
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        app.get_bearer("/api/v1/jobs/active", &unused.token)
            .await
            .status(),
        200
    );
}
