//! Read tokens for end users: `POST /api/v1/jobs/{jobId}/read-tokens`,
//! and a token of one job on its reads, its stream, other jobs, lists,
//! writes and `/metrics`; expiry, tampering, key rotation, the rate limit.

use std::time::Duration;

use job_progress::{
    domain::JobId,
    http::{
        job_token::{SigningKeys, unix_now},
        tokens::{MetricsToken, Scope, new_token},
    },
};
use serde_json::{Value, json};
use support::{
    AppWithTokens, Options, Stores, TestApp, Worker, app_with_tokens, declaration, envelope,
    eventually, sse_client::SseStream, tokens_file,
};

const KEY: &str = "first-signing-key-0123456789abcdef";
const OLD_KEY: &str = "older-signing-key-0123456789abcdef";
const LIMIT: Duration = Duration::from_secs(10);

fn keys(raw: &str) -> SigningKeys {
    SigningKeys::parse(raw).unwrap()
}

fn signing(raw: &'static str) -> impl FnOnce(&mut Options) {
    move |o| o.settings.access.token_signing_key = Some(keys(raw))
}

fn job(id: &str) -> JobId {
    JobId::parse(id).unwrap()
}

/// `POST .../read-tokens` with `body` as the app's write token: the status
/// and the envelope.
async fn ask(app: &AppWithTokens, id: &str, body: Value) -> (u16, Value) {
    app.send("POST", &format!("/api/v1/jobs/{id}/read-tokens"), body)
        .await
}

async fn mint(app: &AppWithTokens, id: &str) -> String {
    let (status, body) = ask(app, id, json!({})).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["token"].as_str().unwrap().to_owned()
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn status_of(app: &TestApp, path: &str, token: &str) -> u16 {
    app.get_bearer(path, token).await.status().as_u16()
}

async fn a_read_token_reads_its_job_and_its_stream_and_nothing_else(stores: Stores) {
    let app = app_with_tokens(stores, |o| {
        signing(KEY)(o);
        o.settings.access.require_read_token = true;
    })
    .await;
    for id in ["mine", "theirs"] {
        assert_eq!(app.declare(id, declaration(10)).await.0, 201);
    }
    let (status, body) = ask(&app, "mine", json!({"ttl": 600})).await;
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["token"].as_str().unwrap().to_owned();
    let grant = keys(KEY).verify(&token, unix_now()).unwrap();
    assert_eq!(grant.job.as_str(), "mine");
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(body["data"]["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(expires_at.timestamp() as u64, grant.expires_at);
    assert!((unix_now() + 500..=unix_now() + 600).contains(&grant.expires_at));

    let own = app
        .app
        .get_bearer("/api/v1/jobs/mine/progress", &token)
        .await;
    assert_eq!(own.status(), 200);
    assert_eq!(envelope(own).await["data"]["jobId"], "mine");

    // Its stream, with the token in the URL as EventSource sends it.
    let url = format!(
        "{}/api/v1/jobs/mine/events?access_token={token}",
        app.app.address
    );
    let mut stream = SseStream::open(&url, None).await;
    let snapshot = stream.next_within(LIMIT).await.unwrap();
    assert_eq!(snapshot.json()["jobId"], "mine");
    app.report("mine", json!({"successCount": 4, "failureCount": 0}))
        .await;
    let pushed = stream.next_within(LIMIT).await.unwrap();
    assert_eq!(pushed.event, "progress");
    assert_eq!(pushed.json()["currentSentCount"], 4);

    // The job's other reads.
    for path in ["/api/v1/jobs/mine/logs", "/api/v1/jobs/mine/history"] {
        assert_eq!(status_of(&app.app, path, &token).await, 200, "{path}");
    }

    // Another job, its stream, the lists: 403, naming the read scope.
    for path in [
        "/api/v1/jobs/theirs/progress",
        "/api/v1/jobs/theirs/logs",
        "/api/v1/jobs/theirs/history",
        "/api/v1/jobs",
        "/api/v1/jobs/active",
        "/api/v1/schedules/active",
    ] {
        let refused = app.app.get_bearer(path, &token).await;
        assert_eq!(refused.status(), 403, "{path}");
        assert_eq!(
            challenge(&refused),
            r#"Bearer realm="job-progress", error="insufficient_scope", scope="read""#
        );
        envelope(refused).await;
    }
    let other_stream = app
        .app
        .client
        .get(format!(
            "{}/api/v1/jobs/theirs/events?access_token={token}",
            app.app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(other_stream.status(), 403);
    // Nor does it write, or make tokens.
    let (status, _) = app
        .send_as(
            Some(&token),
            "POST",
            "/api/v1/jobs/mine/complete",
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .send_as(
            Some(&token),
            "POST",
            "/api/v1/jobs/mine/read-tokens",
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let after = app
        .app
        .get_bearer("/api/v1/jobs/mine/progress", &token)
        .await;
    assert_eq!(
        envelope(after).await["data"]["status"],
        "in_progress",
        "unchanged"
    );

    // The job must exist.
    let (status, body) = ask(&app, "nobody", json!({})).await;
    assert_eq!(status, 404, "{body}");
}

async fn expired_tampered_and_unknown_keys_tokens_are_invalid(stores: Stores) {
    let app = app_with_tokens(stores, |o| {
        signing(KEY)(o);
        o.settings.access.require_read_token = true;
    })
    .await;
    assert_eq!(app.declare("j", declaration(10)).await.0, 201);
    let path = "/api/v1/jobs/j/progress";

    let past = keys(KEY).sign(&job("j"), unix_now() - 1);
    let expired = app.app.get_bearer(path, &past).await;
    assert_eq!(expired.status(), 401);
    assert_eq!(
        challenge(&expired),
        r#"Bearer realm="job-progress", error="invalid_token""#
    );

    let good = mint(&app, "j").await;
    assert_eq!(status_of(&app.app, path, &good).await, 200);
    let (signed, tag) = good.rsplit_once('.').unwrap();
    let other_tag = if tag.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{signed}.{other_tag}{}", &tag[1..]);
    assert_eq!(status_of(&app.app, path, &tampered).await, 401);
    let forged = keys("not-this-servers-key-0123456789abcdef").sign(&job("j"), unix_now() + 60);
    assert_eq!(status_of(&app.app, path, &forged).await, 401);
    assert_eq!(status_of(&app.app, path, "jpt1.garbage").await, 401);

    // A 1-second token stops working by itself.
    let (status, body) = ask(&app, "j", json!({"ttl": 1})).await;
    assert_eq!(status, 200, "{body}");
    let short = body["data"]["token"].as_str().unwrap().to_owned();
    eventually(LIMIT, "the 1-second token has expired", || async {
        status_of(&app.app, path, &short).await == 401
    })
    .await;
}

support::on_both_stores!(
    a_read_token_reads_its_job_and_its_stream_and_nothing_else,
    expired_tampered_and_unknown_keys_tokens_are_invalid,
);

#[tokio::test]
async fn a_token_signed_by_a_listed_key_verifies_and_one_by_a_removed_key_does_not() {
    // Rotation: the new key first signs, the old one after it still verifies.
    let app = app_with_tokens(Stores::Embedded, |o| {
        o.settings.access.token_signing_key = Some(keys(&format!("{KEY},{OLD_KEY}")));
        o.settings.access.require_read_token = true;
    })
    .await;
    assert_eq!(app.declare("j", declaration(1)).await.0, 201);
    let path = "/api/v1/jobs/j/progress";
    let later = unix_now() + 600;

    let by_old = keys(OLD_KEY).sign(&job("j"), later);
    assert_eq!(status_of(&app.app, path, &by_old).await, 200);
    let minted = mint(&app, "j").await;
    assert!(
        keys(KEY).verify(&minted, unix_now()).is_ok(),
        "the first key signs"
    );
    assert!(keys(OLD_KEY).verify(&minted, unix_now()).is_err());

    // The old key dropped: its tokens end; the new key's live on.
    let rotated = app_with_tokens(Stores::Embedded, |o| {
        signing(KEY)(o);
        o.settings.access.require_read_token = true;
    })
    .await;
    assert_eq!(rotated.declare("j", declaration(1)).await.0, 201);
    assert_eq!(status_of(&rotated.app, path, &by_old).await, 401);
    assert_eq!(status_of(&rotated.app, path, &minted).await, 200);
}

#[tokio::test]
async fn the_endpoint_needs_a_write_or_control_token_a_sane_ttl_and_the_setting() {
    let control = new_token(Scope::Control, "app-backend").unwrap();
    let write = new_token(Scope::Write, "worker").unwrap();
    let read = new_token(Scope::Read, "reader").unwrap();
    let (_dir, path) = tokens_file(&[&control.line, &write.line, &read.line]);
    let app = Stores::Embedded
        .spawn_with(|o| {
            o.settings.access.tokens_file = Some(path);
            o.settings.access.token_signing_key = Some(keys(KEY));
            o.settings.access.require_read_token = true;
        })
        .await;
    let worker = Worker::new(&app.address, app.client.clone(), &write.token);
    assert_eq!(worker.declare("j", declaration(1)).await.0, 201);
    let endpoint = "/api/v1/jobs/j/read-tokens";

    let (status, body) = worker
        .send_as(Some(&control.token), "POST", endpoint, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let grant = keys(KEY)
        .verify(body["data"]["token"].as_str().unwrap(), unix_now())
        .unwrap();
    assert!(
        (unix_now() + 3500..=unix_now() + 3600).contains(&grant.expires_at),
        "an hour by default"
    );
    // Without a body at all.
    let bare = app
        .client
        .post(format!("{}{endpoint}", app.address))
        .bearer_auth(&control.token)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 200);
    // Control reads, and does not write.
    assert_eq!(
        status_of(&app, "/api/v1/jobs/active", &control.token).await,
        200
    );
    let (status, _) = worker
        .send_as(
            Some(&control.token),
            "POST",
            "/api/v1/jobs/j/complete",
            json!({}),
        )
        .await;
    assert_eq!(status, 403);

    let refused = worker
        .request_as(
            Some(&control.token),
            "PUT",
            "/api/v1/jobs/k",
            declaration(1),
        )
        .await;
    assert_eq!(refused.status(), 403, "control does not write");
    let refused = worker
        .request_as(Some(&read.token), "POST", endpoint, json!({}))
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        challenge(&refused),
        r#"Bearer realm="job-progress", error="insufficient_scope", scope="write control""#
    );
    let (status, _) = worker.send_as(None, "POST", endpoint, json!({})).await;
    assert_eq!(status, 401);

    for bad in [
        json!({"ttl": 86_401}),
        json!({"ttl": 0}),
        json!({"ttl": "1h"}),
        json!({"ttl": -5}),
    ] {
        let (status, body) = worker.send("POST", endpoint, bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["message"].as_str().unwrap().contains("ttl"), "{body}");
    }
    let (status, _) = worker.send("POST", endpoint, json!({"ttl": 86_400})).await;
    assert_eq!(status, 200);

    // Without TOKEN_SIGNING_KEY: 501, naming it.
    let off = app_with_tokens(Stores::Embedded, |_| {}).await;
    assert_eq!(off.declare("j", declaration(1)).await.0, 201);
    let (status, body) = off.send("POST", endpoint, json!({})).await;
    assert_eq!(status, 501);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("TOKEN_SIGNING_KEY"),
        "{body}"
    );
}

#[tokio::test]
async fn on_an_open_server_a_list_is_served_and_another_job_refused() {
    let token = "metrics-scraper-0123456789";
    let app = app_with_tokens(Stores::Embedded, |o| {
        signing(KEY)(o);
        o.settings.access.metrics_token = Some(MetricsToken::parse(token).unwrap());
    })
    .await;
    for id in ["mine", "theirs"] {
        assert_eq!(app.declare(id, declaration(1)).await.0, 201);
    }
    let read = mint(&app, "mine").await;
    assert_eq!(status_of(&app.app, "/api/v1/jobs/active", &read).await, 200);
    assert_eq!(
        status_of(&app.app, "/api/v1/jobs/mine/progress", &read).await,
        200
    );
    assert_eq!(
        status_of(&app.app, "/api/v1/jobs/theirs/progress", &read).await,
        403
    );
    // Without a token, or with another kind, the job is open as before.
    assert_eq!(app.app.get_progress("theirs").await.status(), 200);
    // An expired one is told so on its job's route.
    let past = keys(KEY).sign(&job("mine"), unix_now() - 1);
    assert_eq!(
        status_of(&app.app, "/api/v1/jobs/mine/progress", &past).await,
        401
    );

    let metrics = app.app.get_bearer("/metrics", &read).await;
    assert_eq!(metrics.status(), 403);
    assert_eq!(status_of(&app.app, "/metrics", token).await, 200);
}

#[tokio::test]
async fn every_token_of_one_job_shares_its_jobs_bucket() {
    let app = app_with_tokens(Stores::Embedded, |o| {
        signing(KEY)(o);
        o.settings.access.rate_limit_per_second = 1;
        o.settings.access.rate_limit_burst = 3;
    })
    .await;
    for id in ["a", "b"] {
        assert_eq!(app.declare(id, declaration(1)).await.0, 201);
    }
    let later = unix_now() + 600;
    let (first, second, other) = (
        keys(KEY).sign(&job("a"), later),
        keys(KEY).sign(&job("a"), later + 1),
        keys(KEY).sign(&job("b"), later),
    );
    let path = "/api/v1/jobs/a/progress";
    let mut answered = 0;
    while status_of(&app.app, path, &first).await == 200 {
        answered += 1;
        assert!(answered < 100, "the limit never applied");
    }
    assert_eq!(
        status_of(&app.app, path, &second).await,
        429,
        "the job's bucket is spent"
    );
    assert_eq!(
        status_of(&app.app, "/api/v1/jobs/b/progress", &other).await,
        200
    );
    assert_eq!(
        app.app.get_progress("a").await.status(),
        200,
        "the address's own bucket"
    );
}

#[tokio::test]
async fn token_new_makes_a_control_token_that_asks_for_read_tokens() {
    let output = std::process::Command::new(crate::SERVER_BINARY)
        .args([
            "token",
            "new",
            "--scope",
            "control",
            "--name",
            "app-backend",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let [token, line] = stdout.lines().collect::<Vec<_>>()[..] else {
        panic!("two lines: {stdout}");
    };
    assert!(line.starts_with("control "), "{line}");
    let (_dir, path) = tokens_file(&[line]);
    let app = Stores::Embedded
        .spawn_with(|o| {
            o.settings.access.tokens_file = Some(path);
            signing(KEY)(o);
        })
        .await;
    let backend = Worker::new(&app.address, app.client.clone(), token);
    // It cannot declare the job (no write scope) ...
    assert_eq!(backend.declare("j", declaration(1)).await.0, 403);
    // ... and is told the job must exist before it gets a token for it.
    let (status, _) = backend
        .send("POST", "/api/v1/jobs/j/read-tokens", json!({}))
        .await;
    assert_eq!(status, 404);
}
