//! Webhooks as operators meet them, with the real server binary: refused
//! addresses, a bad subscriptions file, dead letters sent again, a 410,
//! and SIGHUP. The helpers are `webhooks.rs`'s.

use serde_json::{Value, json};
use support::{Tokens, counts, eventually, receiver::Receiver, server_process::ServerProcess};

use crate::webhooks::{ARRIVAL, await_events, control_get, env, webhooks_file};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_resolving_to_a_private_address_is_refused_without_the_setting() {
    let receiver = Receiver::start().await;
    let (data, tokens) = (tempfile::tempdir().unwrap(), Tokens::new());
    let by_name = format!("http://localhost:{}/hook", receiver.port);
    let file = webhooks_file(
        data.path(),
        &[
            ("by-name", &by_name, "\"job.completed\"", ""),
            ("by-address", &receiver.url(), "\"job.completed\"", ""),
        ],
    );
    let env: Vec<_> = env(&file)
        .into_iter()
        .filter(|(key, _)| *key != "WEBHOOKS_ALLOW_PRIVATE")
        .collect();
    let server =
        ServerProcess::start_with(crate::SERVER_BINARY.as_ref(), data.path(), &tokens, &env).await;
    assert_eq!(server.declare("job-1", json!({"total": 1})).await.0, 201);
    assert_eq!(server.complete("job-1", counts(1, 0)).await.0, 200);

    for name in ["by-name", "by-address"] {
        let path = format!("/api/v1/webhooks/{name}/deliveries");
        eventually(ARRIVAL, "an attempt is kept", || async {
            let (_, page) = control_get(&server, &tokens, &path).await;
            page["data"]["attempts"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .await;
        let (_, page) = control_get(&server, &tokens, &path).await;
        let attempt = &page["data"]["attempts"][0];
        assert!(attempt["statusCode"].is_null(), "{attempt}");
        assert!(
            attempt["response"]
                .as_str()
                .unwrap()
                .contains("loopback, private or link-local"),
            "{attempt}"
        );
    }
    assert!(receiver.received().is_empty(), "no request reached it");
}

#[test]
fn a_bad_subscriptions_file_stops_the_start_naming_the_table_and_key_never_the_secret() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("webhooks.toml");
    std::fs::write(
        &file,
        "[[webhook]]\nname = \"ops\"\nurl = \"https://hooks.example.com/T0/Sekret\"\n\
         secret = \"whsec_NotBase64!!Sekret\"\nevents = [\"job.completed\"]\n",
    )
    .unwrap();
    let output = std::process::Command::new(crate::SERVER_BINARY)
        .arg("serve")
        .env_remove("REDIS_URL")
        .env_remove("DATABASE_URL")
        .env("DATA_DIR", data.path())
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("WEBHOOKS_FILE", &file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("webhook[0] (ops): secret"), "{said}");
    assert!(!said.contains("Sekret"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_delivery_is_sent_again_on_request_and_a_410_disables_the_subscription() {
    let receiver = Receiver::start().await;
    receiver.answer(400);
    let (data, tokens) = (tempfile::tempdir().unwrap(), Tokens::new());
    let file = webhooks_file(
        data.path(),
        &[(
            "ops",
            &receiver.url(),
            "\"job.completed\", \"job.failed\"",
            "",
        )],
    );
    let server = ServerProcess::start_with(
        crate::SERVER_BINARY.as_ref(),
        data.path(),
        &tokens,
        &env(&file),
    )
    .await;
    assert_eq!(server.declare("job-1", json!({"total": 1})).await.0, 201);
    assert_eq!(server.complete("job-1", counts(1, 0)).await.0, 200);

    // A 400 is tried twice more, then given up.
    eventually(ARRIVAL, "a dead letter", || async {
        let (_, body) = control_get(&server, &tokens, "/api/v1/webhooks").await;
        body["data"]["webhooks"][0]["deadLetters"] == 1
    })
    .await;
    assert_eq!(receiver.received().len(), 3, "three attempts");
    let message_id = receiver.received()[0].header("webhook-id").to_owned();
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.header("webhook-id") == message_id)
    );

    receiver.answer(204);
    let retry = format!("/api/v1/webhooks/ops/deliveries/{message_id}/retry");
    let (status, body) = server
        .send_as(Some(&tokens.control), "POST", &retry, Value::Null)
        .await;
    assert_eq!(status, 200, "{body}");
    eventually(ARRIVAL, "the retried delivery arrives", || async {
        receiver.received().len() == 4
    })
    .await;
    let (status, _) = server
        .send_as(Some(&tokens.control), "POST", &retry, Value::Null)
        .await;
    assert_eq!(status, 404, "no longer dead");

    // Bad input names its field; unknown names are 404s.
    for (path, expected) in [
        ("/api/v1/webhooks/ops/deliveries?cursor=0", 400),
        ("/api/v1/webhooks/ops/deliveries?cursor=x", 400),
        ("/api/v1/webhooks/no%20such/deliveries", 400),
        ("/api/v1/webhooks/other/deliveries", 404),
    ] {
        assert_eq!(
            control_get(&server, &tokens, path).await.0,
            expected,
            "{path}"
        );
    }
    let bad_id = "/api/v1/webhooks/ops/deliveries/msg_XYZ/retry";
    let (status, _) = server
        .send_as(Some(&tokens.control), "POST", bad_id, Value::Null)
        .await;
    assert_eq!(status, 400);

    // Gone: the subscription is disabled and gets nothing more.
    receiver.answer(410);
    assert_eq!(server.declare("job-2", json!({"total": 1})).await.0, 201);
    assert_eq!(
        server.fail("job-2", json!({"errorMessage": "x"})).await.0,
        200
    );
    eventually(ARRIVAL, "the subscription is disabled", || async {
        let (_, body) = control_get(&server, &tokens, "/api/v1/webhooks").await;
        body["data"]["webhooks"][0]["disabled"] == true
    })
    .await;
    assert_eq!(receiver.received().len(), 5, "one attempt, answered 410");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rereads_the_subscriptions_and_a_refused_file_keeps_the_old_ones() {
    let receiver = Receiver::start().await;
    let (data, tokens) = (tempfile::tempdir().unwrap(), Tokens::new());
    let file = webhooks_file(
        data.path(),
        &[("first", &receiver.url(), "\"job.completed\"", "")],
    );
    let server = ServerProcess::start_with(
        crate::SERVER_BINARY.as_ref(),
        data.path(),
        &tokens,
        &env(&file),
    )
    .await;
    let names = || async {
        let (_, body) = control_get(&server, &tokens, "/api/v1/webhooks").await;
        body["data"]["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names().await, ["first"]);

    webhooks_file(
        data.path(),
        &[("second", &receiver.url(), "\"job.failed\"", "")],
    );
    server.signal("HUP").await;
    eventually(ARRIVAL, "the new subscriptions", || async {
        names().await == ["second"]
    })
    .await;
    // The new subscription's event is written and delivered.
    assert_eq!(server.declare("job-1", json!({"total": 1})).await.0, 201);
    assert_eq!(
        server.fail("job-1", json!({"errorMessage": "x"})).await.0,
        200
    );
    await_events(&receiver, &[("job.failed", "job-1")]).await;

    std::fs::write(&file, "[[webhook]]\nname = \"third\"\n").unwrap();
    server.signal("HUP").await;
    eventually(ARRIVAL, "the refusal is shown", || async {
        let (_, body) = control_get(&server, &tokens, "/api/v1/webhooks").await;
        body["data"]["reloadRefused"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("webhook[0] (third): url: missing"))
    })
    .await;
    assert_eq!(names().await, ["second"], "the old subscriptions stay");
    webhooks_file(
        data.path(),
        &[("fourth", &receiver.url(), "\"job.failed\"", "")],
    );
    server.signal("HUP").await;
    eventually(ARRIVAL, "the good file after it", || async {
        names().await == ["fourth"]
    })
    .await;
    let (_, body) = control_get(&server, &tokens, "/api/v1/webhooks").await;
    assert!(body["data"]["reloadRefused"].is_null());
}
