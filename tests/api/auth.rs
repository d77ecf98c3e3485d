//! Tokens: `REQUIRE_READ_TOKEN`, the scopes, `?access_token=` on streams,
//! the tokens file and `job-progress token new`.

use std::process::Command;

use actix_web::{App, HttpResponse, middleware::from_fn, test as actix_test, web};
use job_progress::{
    http::{
        auth::{Write, require},
        tokens::{Scope, new_token},
    },
    write::JobSpec,
};

use support::{TestApp, Tokens, eager, envelope, job, spawn_app_with, tokens_file};

async fn app_requiring_read_tokens(pool: sqlx::PgPool, tokens: &Tokens) -> TestApp {
    let path = tokens.path.clone();
    spawn_app_with(pool, |o| {
        o.settings.access.tokens_file = Some(path);
        o.settings.access.require_read_token = true;
    })
    .await
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn with_read_tokens_required_reads_need_a_known_token_and_health_stays_open(
    pool: sqlx::PgPool,
) {
    let tokens = Tokens::new();
    let app = app_requiring_read_tokens(pool, &tokens).await;

    let none = app.get_active("").await;
    assert_eq!(none.status(), 401);
    assert_eq!(challenge(&none), r#"Bearer realm="job-progress""#);
    assert!(envelope(none).await["data"].is_null());

    let bad = app.get_bearer("/api/v1/jobs/active", "not-a-token").await;
    assert_eq!(bad.status(), 401);
    assert_eq!(
        challenge(&bad),
        r#"Bearer realm="job-progress", error="invalid_token""#
    );
    envelope(bad).await;
    // Another scheme is no bearer token.
    let basic = app
        .get_with("/api/v1/jobs/active", "Authorization", "Basic dTpw")
        .await;
    assert_eq!(basic.status(), 401);

    for token in [&tokens.read, &tokens.write] {
        let ok = app.get_bearer("/api/v1/jobs/active", token).await;
        assert_eq!(ok.status(), 200);
    }
    // The scheme is case-insensitive.
    let lower = app
        .get_with(
            "/api/v1/schedules/active",
            "Authorization",
            &format!("bearer {}", tokens.read),
        )
        .await;
    assert_eq!(lower.status(), 200);

    for open in ["/healthz", "/readyz", "/openapi.yaml"] {
        assert_eq!(app.get(open).await.status(), 200, "{open} is open");
    }
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn by_default_reads_are_open_whatever_the_request_carries(pool: sqlx::PgPool) {
    let tokens = Tokens::new();
    let path = tokens.path.clone();
    let app = spawn_app_with(pool, |o| o.settings.access.tokens_file = Some(path)).await;
    assert_eq!(app.get_active("").await.status(), 200);
    let stale = app.get_bearer("/api/v1/jobs/active", "revoked").await;
    assert_eq!(stale.status(), 200, "an open read ignores credentials");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn streams_take_the_token_from_the_query_and_polling_does_not(pool: sqlx::PgPool) {
    let tokens = Tokens::new();
    let app = app_requiring_read_tokens(pool, &tokens).await;
    let writer = app.writer(eager());
    writer
        .start(job("streamed"), JobSpec::new(10))
        .complete()
        .await
        .unwrap();

    let stream = app
        .get(&format!(
            "/api/v1/jobs/streamed/events?access_token={}",
            tokens.read
        ))
        .await;
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = stream.text().await.unwrap();
    assert!(body.contains("event: end"), "{body}");

    let active = app
        .get(&format!(
            "/api/v1/jobs/active/events?access_token={}",
            tokens.read
        ))
        .await;
    assert_eq!(active.status(), 200);
    drop(active); // never ends by itself

    let without = app.get("/api/v1/jobs/streamed/events").await;
    assert_eq!(without.status(), 401);
    let wrong = app
        .get("/api/v1/jobs/streamed/events?access_token=guess")
        .await;
    assert_eq!(wrong.status(), 401);

    // Polling has headers: the query token is not taken there.
    let polled = app
        .get(&format!(
            "/api/v1/jobs/streamed/progress?access_token={}",
            tokens.read
        ))
        .await;
    assert_eq!(polled.status(), 401);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_route_needing_write_refuses_a_read_token_with_403(pool: sqlx::PgPool) {
    let tokens = Tokens::new();
    let path = tokens.path.clone();
    // The API has no write route yet: this one exists only in this test,
    // over the app's own configured state and the real middleware.
    let app = spawn_app_with(pool, |o| o.settings.access.tokens_file = Some(path)).await;
    let service = actix_test::init_service(
        App::new()
            .app_data(web::Data::new(app.state.clone()))
            .service(
                web::resource("/write")
                    .wrap(from_fn(require::<Write>))
                    .to(HttpResponse::NoContent),
            ),
    )
    .await;
    let call = |token: Option<&str>| {
        let mut request = actix_test::TestRequest::post().uri("/write");
        if let Some(token) = token {
            request = request.insert_header(("Authorization", format!("Bearer {token}")));
        }
        actix_test::call_service(&service, request.to_request())
    };

    let read = call(Some(&tokens.read)).await;
    assert_eq!(read.status(), 403);
    assert_eq!(
        read.headers().get("www-authenticate").unwrap(),
        r#"Bearer realm="job-progress", error="insufficient_scope", scope="write""#
    );
    let body: serde_json::Value = actix_test::read_body_json(read).await;
    assert_eq!(body["statusCode"], 403);
    assert!(body["data"].is_null());

    assert_eq!(call(None).await.status(), 401, "writes are never open");
    assert_eq!(call(Some("guess")).await.status(), 401);
    assert_eq!(call(Some(&tokens.write)).await.status(), 204);
}

/// The server binary, built by cargo for these tests.
fn job_progress() -> Command {
    Command::new(crate::SERVER_BINARY)
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn token_new_prints_a_token_and_the_line_that_admits_it(pool: sqlx::PgPool) {
    let output = job_progress()
        .args(["token", "new", "--scope", "read", "--name", "wallboard"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let [token, line] = stdout.lines().collect::<Vec<_>>()[..] else {
        panic!("two lines: {stdout}");
    };
    assert!(line.starts_with("read ") && line.ends_with(" wallboard"));
    assert!(!line.contains(token), "the file holds the hash only");

    let (_dir, path) = tokens_file(&[line]);
    let app = spawn_app_with(pool, |o| {
        o.settings.access.tokens_file = Some(path);
        o.settings.access.require_read_token = true;
    })
    .await;
    let response = app.get_bearer("/api/v1/jobs/active", token).await;
    assert_eq!(response.status(), 200);
}

#[test]
fn a_malformed_tokens_file_stops_the_server_at_start_naming_the_line() {
    let made = new_token(Scope::Read, "ok").unwrap();
    // Line 5 (after the helper's comment and blank line) holds a token
    // where its hash belongs.
    let pasted = format!("read {} pasted", made.token);
    let (_dir, path) = tokens_file(&[&made.line, "", &pasted]);
    let output = job_progress()
        .args(["serve", "--skip-migrations", "--listen-addr", "127.0.0.1:0"])
        .env("TOKENS_FILE", &path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("line 5"), "{stderr}");
    assert!(!stderr.contains(&made.token), "never the token: {stderr}");

    let output = job_progress()
        .args(["serve", "--skip-migrations", "--listen-addr", "127.0.0.1:0"])
        .env("REQUIRE_READ_TOKEN", "true")
        .env_remove("TOKENS_FILE")
        .output()
        .unwrap();
    assert!(!output.status.success(), "required tokens need a file");
}
