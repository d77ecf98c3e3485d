//! Webhooks end to end: the real server binary, real receivers (a small
//! HTTP server of the test's own), real faults (a receiver down, a server
//! SIGKILLed, two instances on one PostgreSQL). The signature is checked
//! here with the server's own code; `clients/python/tests/test_webhooks.py`
//! checks it with the Standard Webhooks library a receiver would use.
//! What operators do (the endpoints, reloads, a bad file, refused
//! addresses) is `webhook_admin.rs`, with the helpers here.

use std::{collections::HashMap, path::Path, time::Duration};

use job_progress::notify::Secret;
use serde_json::{Value, json};
use sqlx::PgPool;
use support::{
    Tokens, counts, database_url_for, eventually,
    receiver::{Received, Receiver},
    redis_url,
    server_process::ServerProcess,
};

pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// How long a delivery may take to arrive in these tests.
pub(crate) const ARRIVAL: Duration = Duration::from_secs(30);

/// A subscriptions file in `dir`: one `[[webhook]]` per `(name, url,
/// events, extra lines)`.
pub(crate) fn webhooks_file(dir: &Path, subscriptions: &[(&str, &str, &str, &str)]) -> String {
    let text: String = subscriptions
        .iter()
        .map(|(name, url, events, extra)| {
            format!(
                "[[webhook]]\nname = \"{name}\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n\
                 events = [{events}]\n{extra}\n"
            )
        })
        .collect();
    let path = dir.join("webhooks.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The environment of a server delivering from `file`: private addresses
/// allowed (the receiver is on 127.0.0.1), retries compressed, stalls
/// after a second.
pub(crate) fn env(file: &str) -> Vec<(&'static str, String)> {
    vec![
        ("WEBHOOKS_FILE", file.to_owned()),
        ("WEBHOOKS_ALLOW_PRIVATE", "true".to_owned()),
        ("WEBHOOKS_RETRY_SCALE", "0.002".to_owned()),
        ("STALL_FLOOR_SECS", "1".to_owned()),
        ("STALL_CEILING_SECS", "1".to_owned()),
    ]
}

/// Checks `received`'s Standard Webhooks headers and signature, and returns
/// its event.
fn signed_event(received: &Received) -> Value {
    let id = received.header("webhook-id");
    assert!(id.starts_with("msg_") && id.len() == 36, "webhook-id {id}");
    let timestamp: i64 = received.header("webhook-timestamp").parse().unwrap();
    let expected = Secret::parse(SECRET)
        .unwrap()
        .sign(id, timestamp, &received.body);
    assert_eq!(received.header("webhook-signature"), expected);
    assert_eq!(received.header("content-type"), "application/json");
    received.json()
}

/// `(event type, job id)` of every signed event `receiver` got.
fn events(receiver: &Receiver) -> Vec<(String, String)> {
    receiver
        .received()
        .iter()
        .map(|r| {
            let event = signed_event(r);
            (
                event["type"].as_str().unwrap().to_owned(),
                event["data"]["jobId"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Waits until `receiver` holds every one of `expected`.
pub(crate) async fn await_events(receiver: &Receiver, expected: &[(&str, &str)]) {
    eventually(ARRIVAL, "every event arrives", || async {
        let got = events(receiver);
        expected
            .iter()
            .all(|(t, j)| got.iter().any(|(gt, gj)| gt == t && gj == j))
    })
    .await;
}

/// How often each `(event type, job id)` arrived.
fn tally(receiver: &Receiver) -> HashMap<(String, String), usize> {
    let mut tally = HashMap::new();
    for event in events(receiver) {
        *tally.entry(event).or_default() += 1;
    }
    tally
}

/// `GET path` with the control token: the envelope's `data`.
pub(crate) async fn control_get(
    server: &ServerProcess,
    tokens: &Tokens,
    path: &str,
) -> (u16, Value) {
    server
        .send_as(Some(&tokens.control), "GET", path, Value::Null)
        .await
}

/// Whether no delivery of any subscription is waiting on `server`.
async fn nothing_pending(server: &ServerProcess, tokens: &Tokens) -> bool {
    let (status, body) = control_get(server, tokens, "/api/v1/webhooks").await;
    status == 200
        && body["data"]["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["pending"] == 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_failed_cancelled_started_and_stalled_jobs_each_deliver_one_signed_event() {
    let receiver = Receiver::start().await;
    let (data, tokens) = (tempfile::tempdir().unwrap(), Tokens::new());
    let file = webhooks_file(
        data.path(),
        &[
            (
                "ends",
                &receiver.url(),
                "\"job.completed\", \"job.failed\", \"job.cancelled\"",
                "",
            ),
            (
                "slow-ones",
                &receiver.url(),
                "\"job.started\", \"job.stalled\"",
                "job_id_prefix = \"slow-\"",
            ),
        ],
    );
    let server = ServerProcess::start_with(
        crate::SERVER_BINARY.as_ref(),
        data.path(),
        &tokens,
        &env(&file),
    )
    .await;

    for id in ["done-1", "broken-1", "stopped-1"] {
        assert_eq!(server.declare(id, json!({"total": 10})).await.0, 201);
    }
    let slow = json!({"total": 10, "refreshIntervalMs": 100});
    assert_eq!(server.declare("slow-1", slow).await.0, 201);
    // At once: a job that stalls while preparing and again after this
    // report would stall twice (two episodes).
    assert_eq!(server.report("slow-1", counts(2, 0)).await.0, 200);
    assert_eq!(server.complete("done-1", counts(10, 0)).await.0, 200);
    // A retried completion is acknowledged and announces nothing more.
    assert_eq!(server.complete("done-1", counts(10, 0)).await.0, 200);
    let failed = json!({"errorMessage": "disk full", "successCount": 3});
    assert_eq!(server.fail("broken-1", failed).await.0, 200);
    let (status, body) = server
        .send("POST", "/api/v1/jobs/stopped-1/cancelled", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");

    await_events(
        &receiver,
        &[
            ("job.completed", "done-1"),
            ("job.failed", "broken-1"),
            ("job.cancelled", "stopped-1"),
            ("job.started", "slow-1"),
            ("job.stalled", "slow-1"),
        ],
    )
    .await;
    eventually(ARRIVAL, "every delivery settled", || {
        nothing_pending(&server, &tokens)
    })
    .await;
    let tally = tally(&receiver);
    assert_eq!(tally.len(), 5, "nothing else arrived: {tally:?}");
    assert!(tally.values().all(|n| *n == 1), "each once: {tally:?}");
    let failed = receiver
        .received()
        .iter()
        .map(Received::json)
        .find(|e| e["type"] == "job.failed")
        .unwrap();
    assert_eq!(failed["data"]["errorMessage"], "disk full");
    assert!(failed["timestamp"].as_str().unwrap().ends_with('Z'));

    // Visible to operators, never to a read token.
    let (status, body) = control_get(&server, &tokens, "/api/v1/webhooks").await;
    assert_eq!(status, 200);
    let ends = &body["data"]["webhooks"][0];
    assert_eq!(ends["name"], "ends");
    assert_eq!(ends["url"], "http://127.0.0.1/…", "host only");
    assert_eq!(ends["deadLetters"], 0);
    assert_eq!(ends["lastDelivery"]["statusCode"], 204);
    assert!(!body.to_string().contains("whsec_"), "no secret shown");
    let (status, page) = control_get(&server, &tokens, "/api/v1/webhooks/ends/deliveries").await;
    assert_eq!(status, 200);
    assert_eq!(page["data"]["attempts"].as_array().unwrap().len(), 3);
    let (status, _) = server
        .send_as(Some(&tokens.read), "GET", "/api/v1/webhooks", Value::Null)
        .await;
    assert_eq!(status, 403);

    let metrics = support::http_get(format!("{}/metrics", server.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("job_progress_webhook_deliveries_total{outcome=\"delivered\"} 5"),
        "{metrics}"
    );
    assert!(metrics.contains("job_progress_webhook_outbox_oldest_seconds "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_30_seconds_gets_every_event_once_it_is_back() {
    let mut receiver = Receiver::start().await;
    let (data, tokens) = (tempfile::tempdir().unwrap(), Tokens::new());
    let file = webhooks_file(
        data.path(),
        &[("ops", &receiver.url(), "\"job.completed\"", "")],
    );
    let server = ServerProcess::start_with(
        crate::SERVER_BINARY.as_ref(),
        data.path(),
        &tokens,
        &env(&file),
    )
    .await;
    receiver.stop();

    let ids: Vec<String> = (0..5).map(|n| format!("job-{n}")).collect();
    for id in &ids {
        assert_eq!(server.declare(id, json!({"total": 1})).await.0, 201);
        assert_eq!(server.complete(id, counts(1, 0)).await.0, 200);
    }
    // The receiver's outage, as long as it is: attempts fail meanwhile.
    eventually(ARRIVAL, "failed attempts are kept", || async {
        let (_, page) = control_get(&server, &tokens, "/api/v1/webhooks/ops/deliveries").await;
        page["data"]["attempts"]
            .as_array()
            .is_some_and(|a| a.len() >= 5 && a.iter().all(|a| a["statusCode"].is_null()))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    receiver.restart().await;

    let expected: Vec<(&str, &str)> = ids
        .iter()
        .map(|id| ("job.completed", id.as_str()))
        .collect();
    eventually(Duration::from_secs(60), "every event arrives", || async {
        let got = events(&receiver);
        expected
            .iter()
            .all(|(t, j)| got.iter().any(|(gt, gj)| gt == t && gj == j))
    })
    .await;
    let (_, body) = control_get(&server, &tokens, "/api/v1/webhooks").await;
    assert_eq!(body["data"]["webhooks"][0]["deadLetters"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_between_the_status_change_and_the_delivery_delivers_after_restart() {
    let mut receiver = Receiver::start().await;
    let (data, tokens) = (tempfile::tempdir().unwrap(), Tokens::new());
    let file = webhooks_file(
        data.path(),
        &[("ops", &receiver.url(), "\"job.completed\"", "")],
    );
    let binary: &Path = crate::SERVER_BINARY.as_ref();
    let server = ServerProcess::start_with(binary, data.path(), &tokens, &env(&file)).await;
    // Down, so nothing can be delivered before the kill.
    receiver.stop();
    assert_eq!(server.declare("job-1", json!({"total": 1})).await.0, 201);
    assert_eq!(server.complete("job-1", counts(1, 0)).await.0, 200);
    server.kill().await;
    receiver.restart().await;
    assert!(receiver.received().is_empty());

    let _server = ServerProcess::start_with(binary, data.path(), &tokens, &env(&file)).await;
    await_events(&receiver, &[("job.completed", "job-1")]).await;
}

#[sqlx::test(migrations = false)]
async fn two_instances_on_one_postgres_deliver_each_event_once(pool: PgPool) {
    let receiver = Receiver::start().await;
    let (data, tokens) = (tempfile::tempdir().unwrap(), Tokens::new());
    let file = webhooks_file(
        data.path(),
        &[(
            "ops",
            &receiver.url(),
            "\"job.completed\", \"job.stalled\"",
            "",
        )],
    );
    let mut env = env(&file);
    env.extend([
        ("DATABASE_URL", database_url_for(&pool)),
        ("REDIS_URL", redis_url()),
        ("KEY_PREFIX", format!("test-{}:", uuid::Uuid::new_v4())),
    ]);
    let binary: &Path = crate::SERVER_BINARY.as_ref();
    let first = ServerProcess::start_with(binary, data.path(), &tokens, &env).await;
    let second = ServerProcess::start_with(binary, data.path(), &tokens, &env).await;

    let ids: Vec<String> = (0..20).map(|n| format!("job-{n}")).collect();
    for (n, id) in ids.iter().enumerate() {
        let server = if n % 2 == 0 { &first } else { &second };
        assert_eq!(server.declare(id, json!({"total": 1})).await.0, 201);
        assert_eq!(server.complete(id, counts(1, 0)).await.0, 200);
    }
    // Both instances' stall watches see this one stall.
    let slow = json!({"total": 5, "refreshIntervalMs": 100});
    assert_eq!(first.declare("slow-1", slow).await.0, 201);
    assert_eq!(first.report("slow-1", counts(1, 0)).await.0, 200);

    let mut expected: Vec<(&str, &str)> = ids
        .iter()
        .map(|id| ("job.completed", id.as_str()))
        .collect();
    expected.push(("job.stalled", "slow-1"));
    await_events(&receiver, &expected).await;
    for server in [&first, &second] {
        eventually(ARRIVAL, "every delivery settled", || {
            nothing_pending(server, &tokens)
        })
        .await;
    }
    let tally = tally(&receiver);
    assert_eq!(tally.len(), 21, "{tally:?}");
    assert!(tally.values().all(|n| *n == 1), "each once: {tally:?}");
    let ids: std::collections::HashSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids.len(), 21, "one webhook-id per event");
}
