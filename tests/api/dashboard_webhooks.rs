//! The dashboard's Webhooks page in headless Chromium: it asks for a
//! control token, lists the subscriptions with their dead letters, shows a
//! subscription's attempts, and sends a dead delivery again.

use std::time::Duration;

use serde_json::json;
use support::{
    Tokens, browser::Browser, eventually, receiver::Receiver, server_process::ServerProcess,
};

use crate::webhooks::{ARRIVAL, env, webhooks_file};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhooks_page_shows_dead_letters_and_sends_one_again() {
    let receiver = Receiver::start().await;
    receiver.answer(400);
    let (data, tokens) = (tempfile::tempdir().unwrap(), Tokens::new());
    let file = webhooks_file(
        data.path(),
        &[("ops", &receiver.url(), "\"job.failed\"", "")],
    );
    let server = ServerProcess::start_with(
        crate::SERVER_BINARY.as_ref(),
        data.path(),
        &tokens,
        &env(&file),
    )
    .await;
    assert_eq!(server.declare("job-1", json!({"total": 4})).await.0, 201);
    let failed = json!({"errorMessage": "disk full", "successCount": 1});
    assert_eq!(server.fail("job-1", failed).await.0, 200);
    eventually(ARRIVAL, "three refused attempts", || async {
        receiver.received().len() == 3
    })
    .await;

    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/webhooks", server.address)).await;
    browser
        .wait_for(
            WAIT,
            "the page asks for a control token",
            "return !document.getElementById('token-form').hidden \
             && document.getElementById('token-scope').textContent === 'control';",
            json!([]),
        )
        .await;
    browser.type_into("#token", &tokens.control).await;
    browser.click("#token-form button[type=submit]").await;
    browser
        .wait_for(
            WAIT,
            "the subscription is listed with its dead letter",
            "const row = document.querySelector('#webhook-rows tr[data-name=\"ops\"]'); \
             return !!row && row.textContent.includes('http://127.0.0.1/…') \
                 && row.querySelector('[data-label=\"Dead letters\"]').textContent === '1';",
            json!([]),
        )
        .await;

    browser
        .click("#webhook-rows button[data-name=\"ops\"]")
        .await;
    browser
        .wait_for(
            WAIT,
            "its three attempts show",
            "return document.querySelectorAll('#delivery-rows tr').length === 3;",
            json!([]),
        )
        .await;
    receiver.answer(204);
    browser.click("#delivery-rows tr button").await;
    browser
        .wait_for(
            WAIT,
            "the delivery is queued",
            "return document.querySelector('#delivery-rows tr button').textContent === 'queued';",
            json!([]),
        )
        .await;
    eventually(ARRIVAL, "the delivery sent again arrives", || async {
        receiver.received().len() == 4
    })
    .await;
    let bold = browser
        .eval(
            "return document.querySelectorAll('#webhooks b').length;",
            json!([]),
        )
        .await;
    assert_eq!(bold, 0, "text, never markup");
}
